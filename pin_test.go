package mlservice_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// pinScenario drives a rollback, its pin, unpin and promote-by-hand over a
// (either backend); raw returns CURRENT's bytes.
func pinScenario(t *testing.T, a *mlservice.Artifacts, raw func() string) {
	ctx := context.Background()
	promote := func(f1 float64) *mlservice.Decision {
		t.Helper()
		d, err := a.Promote(ctx, mlkit.WithF1(t, f1))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	history := func() []mlservice.HistoryRecord {
		t.Helper()
		h, err := a.ReadHistory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	list := func() *mlservice.Listing {
		t.Helper()
		l, err := a.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	p1, p2 := promote(0.5), promote(0.6)
	if !p1.Promoted || !p2.Promoted {
		t.Fatal("setup: unexpected decisions")
	}

	rec, err := a.Rollback(ctx, p1.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Pinned || rec.Event != mlservice.DecisionRolledBack || rec.PreviousVersionID != p2.VersionID {
		t.Errorf("rollback record %+v", rec)
	}
	if got, want := raw(), p1.VersionID+"\npinned\n"; got != want {
		t.Fatalf("CURRENT after a rollback = %q, want %q", got, want)
	}
	if c, err := a.CurrentState(ctx); err != nil || c != (mlservice.Current{VersionID: p1.VersionID, Pinned: true}) {
		t.Errorf("CurrentState = %+v, %v", c, err)
	}

	// A better candidate is recorded as rejected: the pin holds.
	d := promote(0.9)
	if d.Promoted || !d.Pinned || d.PreviousVersionID != p1.VersionID || !strings.HasPrefix(d.Reason, "pinned by rollback to "+p1.VersionID) {
		t.Fatalf("a promotion past the pin: %+v", d)
	}
	if got := raw(); got != p1.VersionID+"\npinned\n" {
		t.Fatalf("a pinned rejection rewrote CURRENT: %q", got)
	}
	if meta, _, err := a.ReadVersion(ctx, d.VersionID); err != nil || !meta.Promotion.Wins {
		t.Errorf("the pinned candidate beat the current one, its metadata says wins=%v (%v)", meta.Promotion.Wins, err)
	}
	h := history()
	if last := h[len(h)-1]; last.Event != mlservice.DecisionRejected || last.VersionID != d.VersionID || !strings.HasPrefix(last.Reason, "pinned by rollback to ") {
		t.Errorf("history records the pinned rejection as %+v", last)
	}
	if rb := h[len(h)-2]; rb.Event != mlservice.DecisionRolledBack || !rb.Pinned {
		t.Errorf("history records the rollback as %+v", rb)
	}

	l := list()
	if l.CurrentErr != nil || l.Current != (mlservice.Current{VersionID: p1.VersionID, Pinned: true}) ||
		l.Pin == nil || l.Pin.VersionID != p1.VersionID || !l.Pin.Time.Equal(rec.Time) || l.Pin.PreviousVersionID != p2.VersionID {
		t.Fatalf("listing: current %+v, pin %+v, error %v", l.Current, l.Pin, l.CurrentErr)
	}
	for _, v := range l.Versions {
		isP1 := v.VersionID == p1.VersionID
		if v.Pinned != isP1 || v.Current != isP1 || (v.RolledBack != nil) != isP1 {
			t.Errorf("listing of %s: current %v, pinned %v, rolled back %+v", v.VersionID, v.Current, v.Pinned, v.RolledBack)
		}
		if isP1 && v.Decision != mlservice.DecisionPromoted {
			t.Errorf("the version rolled back to shows decision %q, want its promotion", v.Decision)
		}
		if v.VersionID == d.VersionID && (v.Decision != mlservice.DecisionRejected || !strings.Contains(v.Reason, "pinned by rollback")) {
			t.Errorf("the pinned rejection is listed as %s: %s", v.Decision, v.Reason)
		}
	}

	// Unpin lifts it, once; CURRENT is then exactly what it was before pins.
	u, err := a.Unpin(ctx)
	if err != nil || u == nil || u.Event != mlservice.DecisionUnpinned || u.VersionID != p1.VersionID {
		t.Fatalf("Unpin = %+v, %v", u, err)
	}
	if got := raw(); got != p1.VersionID+"\n" {
		t.Fatalf("CURRENT after unpin = %q", got)
	}
	n := len(history())
	if u, err := a.Unpin(ctx); u != nil || err != nil {
		t.Errorf("Unpin with nothing pinned = %+v, %v; want nil, nil", u, err)
	}
	if len(history()) != n {
		t.Error("an Unpin that changed nothing was recorded")
	}
	if l := list(); l.Pin != nil || l.Current.Pinned {
		t.Errorf("listing after unpin: pin %+v, current %+v", l.Pin, l.Current)
	}
	if d := promote(0.9); !d.Promoted || d.Pinned {
		t.Fatalf("after unpin, f1 0.9 against 0.5: %+v", d)
	}

	// PromoteVersion moves CURRENT unpinned, lifting a pin.
	if _, err := a.Rollback(ctx, p2.VersionID); err != nil {
		t.Fatal(err)
	}
	pv, err := a.PromoteVersion(ctx, p1.VersionID)
	if err != nil || pv.Event != mlservice.DecisionPromoted || pv.Pinned || !strings.Contains(pv.Reason, "by hand") ||
		!strings.Contains(pv.Reason, "the pin on "+p2.VersionID+" is lifted") {
		t.Fatalf("PromoteVersion = %+v, %v", pv, err)
	}
	if got := raw(); got != p1.VersionID+"\n" {
		t.Fatalf("CURRENT after PromoteVersion = %q", got)
	}
	if d := promote(0.55); !d.Promoted || d.PreviousVersionID != p1.VersionID {
		t.Errorf("after PromoteVersion, f1 0.55 against 0.5: %+v", d)
	}

	// Refusals change nothing.
	before, n := raw(), len(history())
	for _, tc := range []struct {
		id   string
		want error
	}{
		{"../../etc", mlservice.ErrBadVersionID},
		{"20000101T000000.000000Z-00000000", mlservice.ErrVersionNotFound},
	} {
		if _, err := a.Rollback(ctx, tc.id); !errors.Is(err, tc.want) {
			t.Errorf("Rollback(%q) = %v, want %v", tc.id, err, tc.want)
		}
		if _, err := a.PromoteVersion(ctx, tc.id); !errors.Is(err, tc.want) {
			t.Errorf("PromoteVersion(%q) = %v, want %v", tc.id, err, tc.want)
		}
	}
	if raw() != before || len(history()) != n {
		t.Errorf("refused moves changed CURRENT (%q, was %q) or history", raw(), before)
	}

	// A version of another schema needs AllowSchemaChange, as training does.
	cand := mlkit.TableCandidate(t, "grunfeld.csv", "grunfeld.schema.json")
	cand.AllowSchemaChange = true
	tbl, err := a.Promote(ctx, cand)
	if err != nil || !tbl.Promoted {
		t.Fatalf("promote a table version = %+v, %v", tbl, err)
	}
	before, n = raw(), len(history())
	for name, move := range map[string]func(string, ...mlservice.MoveOptions) (*mlservice.HistoryRecord, error){
		"Rollback": func(id string, o ...mlservice.MoveOptions) (*mlservice.HistoryRecord, error) {
			return a.Rollback(ctx, id, o...)
		},
		"PromoteVersion": func(id string, o ...mlservice.MoveOptions) (*mlservice.HistoryRecord, error) {
			return a.PromoteVersion(ctx, id, o...)
		},
	} {
		_, err := move(p1.VersionID)
		if !errors.Is(err, mlservice.ErrSchemaChange) || !strings.Contains(err.Error(), "allow-schema-change") ||
			!strings.Contains(err.Error(), "grunfeld") {
			t.Errorf("%s to a version of another schema = %v, want ErrSchemaChange naming both", name, err)
		}
	}
	if raw() != before || len(history()) != n {
		t.Errorf("refused schema changes moved CURRENT (%q, was %q) or were recorded", raw(), before)
	}
	rb, err := a.Rollback(ctx, p1.VersionID, mlservice.MoveOptions{AllowSchemaChange: true})
	if err != nil || !strings.Contains(rb.Reason, "schema changed") || !rb.Pinned {
		t.Fatalf("Rollback with AllowSchemaChange = %+v, %v", rb, err)
	}
	if got := raw(); got != p1.VersionID+"\npinned\n" {
		t.Errorf("CURRENT after the allowed rollback = %q", got)
	}
}

func TestRollbackPins(t *testing.T) {
	dir := t.TempDir()
	pinScenario(t, mlservice.DirArtifacts(dir), func() string { return string(testkit.ReadFile(t, testkit.Models(dir, "CURRENT"))) })
}

// pinRace promotes ever better candidates from several goroutines while a
// rollback lands among them: once Rollback has returned, CURRENT stays on the
// version it pinned, and every later decision is a pinned rejection.
func pinRace(t *testing.T, a *mlservice.Artifacts) {
	ctx := context.Background()
	base, err := a.Promote(ctx, mlkit.WithF1(t, 0.1))
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 6
	pinned := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var after []*mlservice.Decision // decided by a Promote begun after the rollback returned
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				started := i >= each/2 // the first half races the rollback
				if i == each/2 {
					<-pinned
				}
				d, err := a.Promote(ctx, mlkit.WithF1(t, 0.2+float64(w*each+i)/100))
				if err != nil {
					t.Error(err)
					return
				}
				if started {
					mu.Lock()
					after = append(after, d)
					mu.Unlock()
				}
			}
		})
	}
	rec, err := a.Rollback(ctx, base.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	close(pinned)
	wg.Wait()
	if c, err := a.CurrentState(ctx); err != nil || c != (mlservice.Current{VersionID: base.VersionID, Pinned: true}) {
		t.Fatalf("after the race CURRENT says %+v (%v); the rollback pinned %s", c, err, rec.VersionID)
	}
	if len(after) != workers*each/2 {
		t.Fatalf("%d decisions after the rollback, want %d", len(after), workers*each/2)
	}
	for _, d := range after {
		if d.Promoted || !d.Pinned {
			t.Errorf("decided after the pin: %+v", d)
		}
	}
}

func TestRollbackPinRace(t *testing.T) {
	pinRace(t, mlservice.DirArtifacts(t.TempDir()))
}

// A day that lost only to the pin is trained again once the pin is lifted:
// it is not skipped as already rejected against the current version.
func TestPinnedRejectionTrainsAgainAfterUnpin(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	day1, day2 := trainDay(t, "day_01"), trainDay(t, "day_02")
	first, err := mlservice.Promote(ctx, dir, mustTrain(t, day1, mlservice.TrainOptions{}))
	if err != nil || !first.Promoted {
		t.Fatalf("day 1: %+v, %v", first, err)
	}
	if _, err := mlservice.Rollback(ctx, dir, first.VersionID); err != nil {
		t.Fatal(err)
	}
	d, err := mlservice.Promote(ctx, dir, mustTrain(t, day2, mlservice.TrainOptions{}))
	if err != nil || d.Promoted || !d.Pinned {
		t.Fatalf("day 2 under the pin: %+v, %v", d, err)
	}
	if _, err := mlservice.Unpin(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if m, err := mlservice.TrainedAlready(dir, day2, mlservice.TrainOptions{}); m != nil || err != nil {
		t.Fatalf("after unpin, day 2 (which beat day 1 but met the pin) is skipped as %v (%v)", m.ModelVersionID, err)
	}
	if d, err := mlservice.Promote(ctx, dir, mustTrain(t, day2, mlservice.TrainOptions{})); err != nil || !d.Promoted {
		t.Errorf("day 2 after unpin: %+v, %v", d, err)
	}
}

func TestRollback(t *testing.T) {
	dir := t.TempDir()
	a := mlkit.Promote(t, dir, 0.5)
	b := mlkit.Promote(t, dir, 0.6)
	r := mlkit.Promote(t, dir, 0.1) // rejected
	if !a.Promoted || !b.Promoted || r.Promoted {
		t.Fatal("setup: unexpected decisions")
	}

	rec, err := mlservice.Rollback(context.Background(), dir, a.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	if got := testkit.Current(t, dir); got != a.VersionID {
		t.Fatalf("after rollback CURRENT = %q, want %q", got, a.VersionID)
	}
	hist := mlkit.History(t, dir)
	last := hist[len(hist)-1]
	if len(hist) != 4 || last.Event != mlservice.DecisionRolledBack || last.VersionID != a.VersionID ||
		last.PreviousVersionID != b.VersionID || last.PreviousMetric == nil || *last.PreviousMetric != 0.6 ||
		last.Metric == nil || last.Metric.Value != 0.5 || last.Reason == "" {
		t.Fatalf("history after rollback: %d records, last %+v", len(hist), last)
	}
	if !reflect.DeepEqual(*rec, last) {
		t.Errorf("Rollback returned %+v, history holds %+v", *rec, last)
	}
	vs := mlkit.Versions(t, dir)
	for _, v := range vs {
		if v.Current != (v.VersionID == a.VersionID) {
			t.Errorf("after rollback %s current = %v", v.VersionID, v.Current)
		}
		if v.VersionID == a.VersionID && v.Decision != mlservice.DecisionPromoted {
			t.Errorf("rolled-back-to version shows decision %q, want its promotion", v.Decision)
		}
	}

	// Once unpinned, a promotion competes with the version rolled back to.
	if _, err := mlservice.Unpin(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if d := mlkit.Promote(t, dir, 0.55); !d.Promoted || d.PreviousVersionID != a.VersionID {
		t.Errorf("after rollback, f1 0.55 against 0.5: %+v", d)
	}

	// Any complete version may be made current, a rejected one too.
	if _, err := mlservice.Rollback(context.Background(), dir, r.VersionID); err != nil {
		t.Fatal(err)
	}
	if got := testkit.Current(t, dir); got != r.VersionID {
		t.Fatalf("CURRENT = %q, want %q", got, r.VersionID)
	}

	// Refusals leave CURRENT and history alone.
	missing := "20000101T000000.000000Z-00000000"
	corrupt := b.VersionID
	mf := testkit.VersionFile(dir, corrupt, "model.json")
	data, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(mf, data, 0o644); err != nil {
		t.Fatal(err)
	}
	before := len(mlkit.History(t, dir))
	for _, tc := range []struct {
		id   string
		want error
	}{
		{"../../etc", mlservice.ErrBadVersionID},
		{"", mlservice.ErrBadVersionID},
		{"garbage", mlservice.ErrBadVersionID},
		{a.VersionID + "\n", mlservice.ErrBadVersionID},
		{a.VersionID + "/../" + b.VersionID, mlservice.ErrBadVersionID},
		{missing, mlservice.ErrVersionNotFound},
		{corrupt, mlservice.ErrCorruptVersion},
	} {
		if _, err := mlservice.Rollback(context.Background(), dir, tc.id); !errors.Is(err, tc.want) {
			t.Errorf("Rollback(%q) = %v, want %v", tc.id, err, tc.want)
		}
		if got := testkit.Current(t, dir); got != r.VersionID {
			t.Fatalf("a refused rollback to %q moved CURRENT to %q", tc.id, got)
		}
	}
	if after := len(mlkit.History(t, dir)); after != before {
		t.Errorf("refused rollbacks added %d history records", after-before)
	}
}
