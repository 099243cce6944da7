//go:build unix

package mlservice_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/storage"
)

// The rollback's pin on SeaweedFS: CURRENT and the pin in one object,
// moved by conditional PUTs, with the directory's behaviour.
func TestS3RollbackPins(t *testing.T) {
	a, b := mlkit.OpenS3(t, mlkit.S3URL(t, mlkit.Weed(t)))
	pinScenario(t, a, func() string {
		data, _, err := b.Get(context.Background(), "models/CURRENT", 1<<10)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	})
}

// Trainers racing a rollback on the object store never promote past the
// pin: a trainer that read CURRENT before the rollback loses its
// compare-and-swap, reads the pin and is rejected.
func TestS3RollbackPinRace(t *testing.T) {
	a, _ := mlkit.OpenS3(t, mlkit.S3URL(t, mlkit.Weed(t)))
	pinRace(t, a)
}

// A history object that is not a record is skipped with a warning naming
// its key; promotion and the listing keep working.
func TestS3HistoryBadObjectSkipped(t *testing.T) {
	ctx := context.Background()
	a, b := mlkit.OpenS3(t, mlkit.S3URL(t, mlkit.Weed(t)))
	first := mlkit.PromoteTo(t, a, 0.5)
	bad := "models/history/20240101T000000.000000000Z-bad.json"
	if _, err := b.Put(ctx, bad, []byte(`{"event":"promoted", garbage}`+"\n"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	log, err := a.ReadHistoryLog(ctx)
	if err != nil || len(log.Records) != 1 || len(log.Skipped) != 1 || !strings.Contains(log.Skipped[0], bad+" skipped") {
		t.Fatalf("ReadHistoryLog = %+v, %v", log, err)
	}
	d := mlkit.PromoteTo(t, a, 0.9)
	l, err := a.List(ctx)
	if err != nil || len(l.Versions) != 2 || l.Versions[0].VersionID != d.VersionID || l.Versions[1].VersionID != first.VersionID ||
		l.Versions[1].Decision != mlservice.DecisionPromoted || len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], bad) {
		t.Errorf("List = %+v, %v", l, err)
	}
	if _, err := a.Rollback(ctx, first.VersionID); err != nil {
		t.Errorf("Rollback with a bad history object: %v", err)
	}
}
