package mlservice

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/model/gbdt"
)

func internalCandidate(t *testing.T, f1 float64) *Candidate {
	t.Helper()
	ds, err := ValidateFile(context.Background(), "data/day_01.csv")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Train(context.Background(), ds, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Metadata.Metric.Value = f1
	return c
}

// promotedStore promotes a candidate of F1 0.5 into a fresh artifacts
// directory and opens a store on it with opts, closed when the test ends.
func promotedStore(t *testing.T, opts StoreOptions) (dir string, c *Candidate, first *Decision, s *Store) {
	t.Helper()
	dir = t.TempDir()
	c = internalCandidate(t, 0.5)
	first, err := Promote(context.Background(), dir, c)
	if err != nil {
		t.Fatal(err)
	}
	if s, err = OpenStore(dir, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return dir, c, first, s
}

// CURRENT is always a file of the same size renamed into place; on ext4 the
// inode freed by one write is handed to the next but one, and mtime has a
// coarse granularity, so two writes in quick succession can leave the stat
// stamp exactly as the store last saw it. The store must not trust an
// unchanged stamp on a young CURRENT.
func TestStoreRefreshDistrustsYoungStamp(t *testing.T) {
	dir, c, first, s := promotedStore(t, StoreOptions{RefreshInterval: -1})
	if v := s.serving.Load(); v == nil || v.id != first.VersionID {
		t.Fatal("store did not load the first version")
	}

	c.Metadata.Metric.Value = 0.6
	second, err := Promote(context.Background(), dir, c)
	if err != nil {
		t.Fatal(err)
	}
	current := filepath.Join(dir, modelsDir, currentFile)

	// Pretend the stat stamp did not change (same inode, size and mtime).
	s.mu.Lock()
	s.stamp, _ = s.a.b.StatCurrent(context.Background())
	s.mu.Unlock()
	if changed, err := s.refresh(context.Background(), false); !changed || err != nil {
		t.Fatalf("refresh with an unchanged but young stamp = %v, %v; want the new version", changed, err)
	}
	if v := s.serving.Load(); v.id != second.VersionID {
		t.Fatalf("serving %s, want %s", v.id, second.VersionID)
	}

	// Re-reading a young CURRENT that did not change is not a change, and a
	// refused version is not reloaded or counted again on every check.
	for range 3 {
		if changed, err := s.refresh(context.Background(), false); changed || err != nil {
			t.Fatalf("refresh = %v, %v", changed, err)
		}
	}
	if err := os.WriteFile(current, []byte("20000101T000000.000000Z-00000000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.refresh(context.Background(), false); err == nil {
		t.Fatal("a missing version was not refused")
	}
	for range 3 {
		_, _ = s.refresh(context.Background(), false)
	}
	if st := s.Status(); st.LoadFailures != 1 || st.Loads != 2 || st.ModelVersionID != second.VersionID || st.LastError == "" {
		t.Fatalf("status: %+v", st)
	}

	// An old CURRENT is trusted on its stamp: one stat, no read.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(current, old, old); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.stamp, _ = s.a.b.StatCurrent(context.Background())
	s.mu.Unlock()
	if err := os.WriteFile(current, []byte(first.VersionID+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(current, old, old); err != nil {
		t.Fatal(err)
	}
	if changed, _ := s.refresh(context.Background(), false); changed {
		t.Fatal("an old CURRENT with an unchanged stamp was read")
	}
}

// A load that blocks (a hung network file system, a FIFO, a huge file) must
// not hang Status, Metadata or Close, and Reload gives up with its context.
func TestStoreStalledLoad(t *testing.T) {
	dir, c, first, s := promotedStore(t, StoreOptions{RefreshInterval: -1})

	// Stall every load until release is closed.
	release := make(chan struct{})
	stalled := make(chan struct{}, 1)
	s.load = func(ctx context.Context, id string) (*servingVersion, error) {
		stalled <- struct{}{}
		<-release
		return s.a.loadVersion(ctx, id)
	}
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()

	c.Metadata.Metric.Value = 0.6
	second, err := Promote(context.Background(), dir, c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var reloadErr error
	testkit.Within(t, 10*time.Second, "Reload with a 100ms context", func() { _, reloadErr = s.Reload(ctx) })
	if !errors.Is(reloadErr, context.DeadlineExceeded) || !strings.Contains(reloadErr.Error(), "still running") {
		t.Errorf("Reload during a stalled load = %v, want a deadline error saying a check is still running", reloadErr)
	}
	select { // the abandoned Reload's load is the one stalled
	case <-stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("the Reload's load never started")
	}

	const limit = 2 * time.Second
	var st StoreStatus
	testkit.Within(t, limit, "Status", func() { st = s.Status() })
	if !st.Ready || st.ModelVersionID != first.VersionID || st.LastError != "" {
		t.Errorf("Status during a stalled load: %+v", st)
	}
	testkit.Within(t, limit, "Metadata", func() {
		if m, _, err := s.Metadata(); err != nil || m.ModelVersionID != first.VersionID {
			t.Errorf("Metadata during a stalled load = %v, %v", m, err)
		}
	})
	// A check running for over slowCheck is shown as stuck.
	deadline := time.Now().Add(10 * time.Second)
	for st.CheckStartedAt.IsZero() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		testkit.Within(t, limit, "Status", func() { st = s.Status() })
	}
	if st.CheckStartedAt.IsZero() {
		t.Errorf("Status does not show the stalled check: %+v", st)
	}

	// A second Reload waits its turn behind the stalled load, and gives up
	// with its own context.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	testkit.Within(t, 10*time.Second, "a second Reload", func() { _, reloadErr = s.Reload(ctx2) })
	if !errors.Is(reloadErr, context.DeadlineExceeded) {
		t.Errorf("second Reload = %v, want a deadline error", reloadErr)
	}
	select {
	case <-stalled:
		t.Error("a second load ran alongside the stalled one")
	default:
	}

	// Released, the abandoned load completes in the background, and the
	// next Reload finds the version serving.
	unblock()
	changed, err := s.Reload(context.Background())
	if err != nil || s.Status().ModelVersionID != second.VersionID {
		t.Fatalf("after the stall: Reload = %v, %v; status %+v", changed, err, s.Status())
	}
	if st := s.Status(); !st.CheckStartedAt.IsZero() || st.Loads != 2 {
		t.Errorf("status after the stall: %+v", st)
	}
}

// Close does not wait for a load stuck in a read; what that load finds when
// the read returns is discarded.
func TestStoreCloseDuringStalledLoad(t *testing.T) {
	dir, c, first, s := promotedStore(t, StoreOptions{RefreshInterval: 5 * time.Millisecond})
	release := make(chan struct{})
	finished := make(chan struct{})
	stalled := make(chan struct{})
	s.mu.Lock() // s.load is read by checks, which take s.mu first
	var once sync.Once
	s.load = func(ctx context.Context, id string) (*servingVersion, error) {
		once.Do(func() { close(stalled) })
		<-release
		defer close(finished)
		return s.a.loadVersion(ctx, id)
	}
	s.mu.Unlock()
	c.Metadata.Metric.Value = 0.6
	if _, err := Promote(context.Background(), dir, c); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("the background refresh did not start loading the new version")
	}
	if !testkit.Within(t, 2*time.Second, "Close", func() { _ = s.Close() }) {
		close(release)
		return
	}
	close(release)
	<-finished
	// The load returned after Close: it must not be swapped in. Reload
	// after Close is refused, so only Status can see it.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		busy := !s.checkingSince.IsZero()
		s.mu.Unlock()
		if !busy {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if st := s.Status(); st.ModelVersionID != first.VersionID || st.Loads != 1 {
		t.Errorf("a load finished after Close was swapped in: %+v", st)
	}
}

// cloneMetadata must copy every slice, map and pointer in Metadata. This
// lists them by reflection, so a field added later without a copy in
// cloneMetadata fails here rather than leaking the live snapshot.
func TestCloneMetadataSharesNothing(t *testing.T) {
	copied := []string{"DeclaredSchema", "DeclaredSchema[].Features", "DeclaredSchema[].Features[].Categories", "Features", "Params.ClassWeight", "Params.TreeOptions", "Params.Trees", "Params.Auto", "Params.Auto[].Scores", "Examples", "Examples[].Values", "Importance", "Promotion.PreviousMetric", "Promotion.PreviousMetricStored",
		"Drift", "Drift[].Features", "Drift[].Features[].Distribution.Edges", "Drift[].Features[].Distribution.Counts", "Drift[].Features[].Categories"} // in field order
	var refs []string
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		switch typ.Kind() {
		case reflect.Struct:
			if typ == reflect.TypeFor[time.Time]() {
				return // a value; its *Location is shared by design
			}
			for f := range typ.Fields() {
				walk(f.Type, strings.TrimPrefix(path+"."+f.Name, "."))
			}
		case reflect.Array:
			walk(typ.Elem(), path+"[]")
		case reflect.Slice, reflect.Pointer:
			refs = append(refs, path)
			walk(typ.Elem(), path+"[]")
		case reflect.Map, reflect.Interface, reflect.Chan, reflect.Func:
			refs = append(refs, path)
		}
	}
	walk(reflect.TypeFor[Metadata](), "")
	if diff := cmp.Diff(copied, refs); diff != "" {
		t.Errorf("Metadata's reference fields changed; copy the new ones in cloneMetadata and list them here (-copied +found):\n%s", diff)
	}

	// And the copies are real: nothing in the clone aliases the original.
	w, p, ps := "balanced", 0.5, 0.4
	m := &Metadata{Features: []FeatureStats{{Name: "age"}}, Examples: []Example{{Probability: 0.5}}, Importance: []FeatureImportance{{Name: "age"}},
		Params: Params{ClassWeight: &w, TreeOptions: &TreeOptions{Trees: 1}, Trees: &gbdt.Params{Trees: 1}, Auto: &FamilyChoice{Scores: map[string]float64{"gbdt": 1}}}, Promotion: Promotion{PreviousMetric: &p, PreviousMetricStored: &ps},
		DeclaredSchema: &Schema{Name: "t", Features: []FeatureSpec{{Name: "c", Type: TypeCategory, Categories: []string{"a"}}}}}
	c := cloneMetadata(m)
	if &c.Features[0] == &m.Features[0] || &c.Examples[0] == &m.Examples[0] || &c.Importance[0] == &m.Importance[0] || c.DeclaredSchema == m.DeclaredSchema ||
		&c.DeclaredSchema.Features[0] == &m.DeclaredSchema.Features[0] ||
		&c.DeclaredSchema.Features[0].Categories[0] == &m.DeclaredSchema.Features[0].Categories[0] ||
		c.Params.ClassWeight == m.Params.ClassWeight || c.Params.TreeOptions == m.Params.TreeOptions || c.Params.Trees == m.Params.Trees ||
		c.Params.Auto == m.Params.Auto || reflect.ValueOf(c.Params.Auto.Scores).UnsafePointer() == reflect.ValueOf(m.Params.Auto.Scores).UnsafePointer() || c.Promotion.PreviousMetric == m.Promotion.PreviousMetric ||
		c.Promotion.PreviousMetricStored == m.Promotion.PreviousMetricStored {
		t.Error("the clone shares memory with the original")
	}
	if diff := cmp.Diff(m, c); diff != "" {
		t.Errorf("the clone differs (-original +clone):\n%s", diff)
	}
}
