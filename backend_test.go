package mlservice_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/storage"
	dirstore "github.com/mlservice/mlservice/storage/dir"
	"github.com/mlservice/mlservice/storage/memory"
	"github.com/mlservice/mlservice/storage/objstore"
)

// The backend conformance suite: what Artifacts and a following Store
// promise, run against every backend. The directory and the in-memory
// bucket run everywhere; SeaweedFS runs in backend_s3_test.go. (What each
// backend promises the protocol is storage/backendtest's.)
func TestBackendConformance(t *testing.T) {
	t.Run("directory", func(t *testing.T) {
		backendSuite(t, func(t *testing.T) storage.Backend { return dirstore.New(t.TempDir()) })
	})
	t.Run("memory", func(t *testing.T) {
		backendSuite(t, func(t *testing.T) storage.Backend { return objstore.New(memory.New(t.Name())) })
	})
}

// backendSuite runs the protocol's cases, each on fresh artifacts from
// newBackend.
func backendSuite(t *testing.T, newBackend func(t *testing.T) storage.Backend) {
	t.Run("Cycle", func(t *testing.T) { backendCycle(t, mlservice.NewArtifacts(newBackend(t))) })
	t.Run("LoserDecidesAgain", func(t *testing.T) { backendLoser(t, newBackend(t)) })
}

// backendCycle promotes, serves, ties, rolls back, pins, unpins and races
// writers on one set of artifacts.
func backendCycle(t *testing.T, a *mlservice.Artifacts) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	promote := func(f1 float64) *mlservice.Decision {
		t.Helper()
		d, err := a.Promote(ctx, mlkit.WithF1(t, f1))
		if err != nil {
			t.Fatalf("promote f1=%v: %v", f1, err)
		}
		if d.Warning != "" {
			t.Errorf("promote f1=%v: warning %s", f1, d.Warning)
		}
		return d
	}
	if _, err := a.CurrentVersion(ctx); !errors.Is(err, mlservice.ErrNoCurrent) {
		t.Fatalf("CurrentVersion of an empty backend: %v, want ErrNoCurrent", err)
	}
	st, err := a.OpenStore(mlservice.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if s := st.Status(); s.Ready || s.LastError != "" {
		t.Fatalf("store on an empty backend: %+v", s)
	}
	if _, err := st.Predict(mlservice.Features{Age: 40}); !errors.Is(err, mlservice.ErrNotReady) {
		t.Fatalf("predict before any version: %v, want ErrNotReady", err)
	}

	d1 := promote(0.5)
	if !d1.Promoted || d1.Reason != "no version is current" || d1.PreviousVersionID != "" {
		t.Fatalf("first promote: %+v", d1)
	}
	backendServing(t, st, d1.VersionID)
	d2 := promote(0.4)
	if d2.Promoted || d2.PreviousVersionID != d1.VersionID {
		t.Fatalf("worse candidate: %+v", d2)
	}
	tie := promote(0.5)
	if tie.Promoted {
		t.Fatalf("a tie was promoted: %+v", tie)
	}
	d3 := promote(0.6)
	if !d3.Promoted || d3.PreviousVersionID != d1.VersionID {
		t.Fatalf("better candidate: %+v", d3)
	}
	backendServing(t, st, d3.VersionID)
	if id, err := a.CurrentVersion(ctx); err != nil || id != d3.VersionID {
		t.Fatalf("CurrentVersion = %q, %v; want %s", id, err, d3.VersionID)
	}
	p, err := st.Predict(mlservice.Features{Age: 40, Income: 50000, AccountBalance: 1000, TransactionsLast30d: 10})
	if err != nil || p.ModelVersionID != d3.VersionID || p.Probability <= 0 || p.Probability >= 1 {
		t.Fatalf("predict: %+v %v", p, err)
	}

	vs, err := a.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		if v.Error != "" {
			t.Errorf("version %s: %s", v.VersionID, v.Error)
		}
		got = append(got, fmt.Sprintf("%s %s %v", v.VersionID, v.Decision, v.Current))
	}
	want := []string{d3.VersionID + " promoted true", tie.VersionID + " rejected false",
		d2.VersionID + " rejected false", d1.VersionID + " promoted false"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Versions, newest first (-want +got):\n%s", diff)
	}
	meta, m, err := a.ReadVersion(ctx, d2.VersionID)
	if err != nil || meta.ModelVersionID != d2.VersionID || m == nil || meta.Metric.Value != 0.4 {
		t.Fatalf("ReadVersion(%s): %+v %v %v", d2.VersionID, meta, m, err)
	}
	if _, _, err := a.ReadVersion(ctx, "20990101T000000.000000Z-00000000"); !errors.Is(err, mlservice.ErrVersionNotFound) {
		t.Fatalf("ReadVersion of a missing version: %v, want ErrVersionNotFound", err)
	}

	rec, err := a.Rollback(ctx, d1.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.PreviousVersionID != d3.VersionID || rec.Event != mlservice.DecisionRolledBack || rec.VersionID != d1.VersionID {
		t.Fatalf("rollback record: %+v", rec)
	}
	backendServing(t, st, d1.VersionID)
	if _, err := a.Rollback(ctx, "20990101T000000.000000Z-00000000"); !errors.Is(err, mlservice.ErrVersionNotFound) {
		t.Fatalf("rollback to a missing version: %v, want ErrVersionNotFound", err)
	}
	h, err := a.ReadHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, r := range h {
		events = append(events, r.Event+" "+r.VersionID)
	}
	wantEvents := []string{"promoted " + d1.VersionID, "rejected " + d2.VersionID, "rejected " + tie.VersionID,
		"promoted " + d3.VersionID, "rolled_back " + d1.VersionID}
	if diff := cmp.Diff(wantEvents, events); diff != "" {
		t.Fatalf("history (-want +got):\n%s", diff)
	}

	// The rollback pinned d1: a better candidate is rejected until Unpin.
	pinned := promote(0.7)
	if pinned.Promoted || !pinned.Pinned || !strings.HasPrefix(pinned.Reason, "pinned by rollback to "+d1.VersionID) {
		t.Fatalf("a candidate after a rollback: %+v, want rejected as pinned to %s", pinned, d1.VersionID)
	}
	unpin, err := a.Unpin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if unpin.VersionID != d1.VersionID {
		t.Fatalf("unpin record: %+v", unpin)
	}
	if id, err := a.CurrentVersion(ctx); err != nil || id != d1.VersionID {
		t.Fatalf("Unpin moved CURRENT: %q, %v", id, err)
	}
	wantEvents = append(wantEvents, "rejected "+pinned.VersionID, unpin.Event+" "+d1.VersionID)

	// Racing writers: each decision is taken against the version current
	// at its commit, so the best candidate ends up current whatever the
	// order, and no decision is lost.
	rivals := []float64{0.61, 0.66, 0.62, 0.65, 0.63, 0.64}
	decisions := make([]*mlservice.Decision, len(rivals))
	var wg sync.WaitGroup
	for i, f1 := range rivals {
		wg.Go(func() { decisions[i] = promote(f1) })
	}
	wg.Wait()
	best := decisions[slices.Index(rivals, slices.Max(rivals))]
	if !best.Promoted {
		t.Fatalf("the best of the racing candidates was not promoted: %+v", best)
	}
	if id, err := a.CurrentVersion(ctx); err != nil || id != best.VersionID {
		t.Fatalf("after the race CURRENT = %q, %v; want the best, %s", id, err, best.VersionID)
	}
	backendServing(t, st, best.VersionID)
	h, err = a.ReadHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != len(wantEvents)+len(rivals) {
		t.Fatalf("history has %d records after %d racing promotions, want %d", len(h), len(rivals), len(wantEvents)+len(rivals))
	}
	if sv, err := st.Versions(ctx); err != nil || len(sv) != len(rivals)+5 {
		t.Fatalf("Store.Versions: %d versions, %v; want %d", len(sv), err, len(rivals)+5)
	}

	// A real candidate, with its evaluation rows: the current version is
	// re-scored on them, on every backend.
	real, err := a.Promote(ctx, mlkit.Trained(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(real.Reason, "on the same") {
		t.Fatalf("fair promotion: reason %q, want the current version re-scored on the same rows", real.Reason)
	}
	if m, err := a.TrainedAlready(ctx, nil, mlservice.TrainOptions{}); err != nil || m != nil {
		t.Fatalf("TrainedAlready without data: %v %v", m, err)
	}
	for _, d := range decisions {
		if d.Promoted && d.PreviousMetric != nil && *d.PreviousMetric >= d.Metadata.Metric.Value {
			t.Errorf("%s promoted with F1 %v over a current version's %v", d.VersionID, d.Metadata.Metric.Value, *d.PreviousMetric)
		}
		if !d.Promoted && !strings.Contains(strings.ToLower(d.Reason), "f1") {
			t.Errorf("%s rejected without saying why in terms of F1: %q", d.VersionID, d.Reason)
		}
	}
}

// backendServing waits until st serves id.
func backendServing(t *testing.T, st *mlservice.Store, id string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if st.Status().ModelVersionID == id {
			return
		}
	}
	t.Fatalf("store serves %+v, not %s after 5s", st.Status(), id)
}

// rivalBackend lets a rival writer move CURRENT between a writer's read of
// it and its compare-and-swap, once: what a trainer racing on an object
// store does, and what the lock rules out on a directory unless a writer
// bypasses it, as the rival here does.
type rivalBackend struct {
	storage.Backend
	once  sync.Once
	rival func()
}

func (r *rivalBackend) SwapCurrent(ctx context.Context, data []byte, tag string) error {
	r.once.Do(r.rival)
	return r.Backend.SwapCurrent(ctx, data, tag)
}

// A writer whose swap of CURRENT is refused, because a rival moved it since
// the writer read it, decides again against the version current now: a
// candidate that beat the old version but not the rival's is rejected,
// compared with the rival's, and its files (rewritten) and its one history
// record say so.
func backendLoser(t *testing.T, b storage.Backend) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := mlservice.NewArtifacts(b)
	promote := func(a *mlservice.Artifacts, f1 float64) *mlservice.Decision {
		t.Helper()
		d, err := a.Promote(ctx, mlkit.WithF1(t, f1))
		if err != nil {
			t.Fatalf("promote f1=%v: %v", f1, err)
		}
		return d
	}
	old, better := promote(a, 0.5), promote(a, 0.8)
	if _, err := a.PromoteVersion(ctx, old.VersionID); err != nil { // current again, unpinned
		t.Fatal(err)
	}
	rivalMoved := false
	rb := &rivalBackend{Backend: b, rival: func() {
		_, tag, err := b.ReadCurrent(ctx, 64)
		if err == nil {
			err = b.SwapCurrent(ctx, []byte(better.VersionID+"\n"), tag)
		}
		if err != nil {
			t.Errorf("the rival's swap: %v", err)
		}
		rivalMoved = true
	}}
	d := promote(mlservice.NewArtifacts(rb), 0.6)
	if !rivalMoved {
		t.Fatal("the candidate was decided without a swap of CURRENT")
	}
	if d.Promoted || d.PreviousVersionID != better.VersionID || !strings.Contains(d.Reason, "f1 0.600000 <= current 0.800000") {
		t.Fatalf("a candidate that lost the race to a better version: %+v; want rejected against %s", d, better.VersionID)
	}
	if id, err := a.CurrentVersion(ctx); err != nil || id != better.VersionID {
		t.Fatalf("CURRENT = %s, %v; want the rival's %s", id, err, better.VersionID)
	}
	meta, _, err := a.ReadVersion(ctx, d.VersionID)
	if err != nil || meta.Promotion.PreviousVersionID != better.VersionID || meta.Promotion.Wins {
		t.Fatalf("the loser's metadata records %+v (%v); want its comparison with %s", meta.Promotion, err, better.VersionID)
	}
	h, err := a.ReadHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, r := range h {
		if r.VersionID == d.VersionID {
			events = append(events, r.Event)
		}
	}
	if !slices.Equal(events, []string{mlservice.DecisionRejected}) {
		t.Fatalf("history of the loser: %v, want one rejection", events)
	}
}
