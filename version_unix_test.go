//go:build unix

package mlservice_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// A FIFO in place of CURRENT, metadata.json or model.json is refused at
// once instead of blocking the reader (a Store's refresh, a trainer's
// Promote) until something writes to it.
func TestReadersRefuseFIFOs(t *testing.T) {
	t.Run("CURRENT", func(t *testing.T) {
		dir := t.TempDir()
		mlkit.Promote(t, dir, 0.5)
		testkit.Mkfifo(t, testkit.Models(dir, "CURRENT"))
		err := testkit.WithinErr(t, 5*time.Second, func() error {
			_, err := mlservice.CurrentVersion(dir)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "models/CURRENT") || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("CurrentVersion with a FIFO for CURRENT: %v", err)
		}
	})
	for _, name := range []string{"metadata.json", "model.json"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			mlkit.Promote(t, dir, 0.5)
			d := mlkit.Promote(t, dir, 0.4) // rejected: a rollback target
			testkit.Mkfifo(t, testkit.VersionFile(dir, d.VersionID, name))
			err := testkit.WithinErr(t, 5*time.Second, func() error {
				_, err := mlservice.Rollback(context.Background(), dir, d.VersionID)
				return err
			})
			if !errors.Is(err, mlservice.ErrCorruptVersion) || !strings.Contains(err.Error(), "not a regular file") {
				t.Fatalf("Rollback to a version whose %s is a FIFO: %v", name, err)
			}
		})
	}
}
