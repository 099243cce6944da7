// Package mlkit is the part of the test kit that needs the root package:
// a candidate trained once per test process, promotions with a chosen
// metric, stores closed at the end of the test, waiting for a store to
// serve a version, and (on unix) artifacts in a shared SeaweedFS.
//
// The root package's white-box tests (package mlservice) cannot import it;
// its black-box tests and the commands' tests can.
package mlkit

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
)

// Row is a typical row of the built-in contract.
var Row = mlservice.Features{Age: 42, Income: 52000, AccountBalance: 1800, TransactionsLast30d: 12, IsPremium: 1}

var trained struct {
	once sync.Once
	cand *mlservice.Candidate
	err  error
}

// Trained returns the candidate trained on data/day_01.csv with the default
// options, trained once per test process and shared: do not modify it.
func Trained(t testing.TB) *mlservice.Candidate {
	t.Helper()
	path := testkit.Data(t, "day_01.csv")
	trained.once.Do(func() {
		ds, err := mlservice.ValidateFile(context.Background(), path)
		if err != nil {
			trained.err = err
			return
		}
		trained.cand, trained.err = mlservice.Train(context.Background(), ds, mlservice.TrainOptions{})
	})
	if trained.err != nil {
		t.Fatalf("train day_01: %v", trained.err)
	}
	return trained.cand
}

// WithF1 returns a copy of the trained candidate whose promotion metric is
// f1, so that ties and orders can be tested exactly. The copy carries no
// evaluation rows, so Promote compares it with the current version's
// recorded F1 (with rows, it would re-score the same model). The model is
// shared: it is immutable and Promote does not modify it.
func WithF1(t testing.TB, f1 float64) *mlservice.Candidate {
	t.Helper()
	base := Trained(t)
	c := mlservice.Candidate{Model: base.Model, Metadata: base.Metadata}
	c.Metadata.Metric.Value = f1
	return &c
}

// Promote promotes WithF1(f1) into the artifacts directory dir.
func Promote(t testing.TB, dir string, f1 float64) *mlservice.Decision {
	t.Helper()
	d, err := mlservice.Promote(context.Background(), dir, WithF1(t, f1))
	if err != nil {
		t.Fatalf("promote f1=%v: %v", f1, err)
	}
	return d
}

// PromoteTo promotes WithF1(f1) into a, and reports a warning as an error.
func PromoteTo(t testing.TB, a *mlservice.Artifacts, f1 float64) *mlservice.Decision {
	t.Helper()
	d, err := a.Promote(context.Background(), WithF1(t, f1))
	if err != nil {
		t.Fatalf("promote f1=%v: %v", f1, err)
	}
	if d.Warning != "" {
		t.Errorf("promote f1=%v: warning %s", f1, d.Warning)
	}
	return d
}

// PromoteDay validates and trains the data file day ("day_01.csv") with
// the default options and promotes it into the artifacts directory dir.
func PromoteDay(t testing.TB, dir, day string) *mlservice.Decision {
	t.Helper()
	ds, err := mlservice.ValidateFile(context.Background(), testkit.Data(t, day))
	if err != nil {
		t.Fatal(err)
	}
	c, err := mlservice.Train(context.Background(), ds, mlservice.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := mlservice.Promote(context.Background(), dir, c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Current returns the version a names current, "" when none is.
func Current(t testing.TB, a *mlservice.Artifacts) string {
	t.Helper()
	id, err := a.CurrentVersion(context.Background())
	if errors.Is(err, mlservice.ErrNoCurrent) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// OpenStore opens a store on the artifacts directory dir, closed when the
// test ends.
func OpenStore(t testing.TB, dir string, opts mlservice.StoreOptions) *mlservice.Store {
	t.Helper()
	s, err := mlservice.OpenStore(dir, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Serving returns the version id Predict(Row) answers with, "" when the
// store is not ready.
func Serving(t testing.TB, s *mlservice.Store) string {
	t.Helper()
	p, err := s.Predict(Row)
	if errors.Is(err, mlservice.ErrNotReady) {
		return ""
	}
	if err != nil {
		t.Fatalf("predict: %v", err)
	}
	return p.ModelVersionID
}

// WaitServing polls until the store's status names id and Predict answers
// with it, and returns how long that took; the test ends after limit.
func WaitServing(t testing.TB, s *mlservice.Store, id string, limit time.Duration) time.Duration {
	t.Helper()
	took, ok := testkit.Poll(limit, time.Millisecond, func() bool {
		st := s.Status()
		return st.Ready && st.ModelVersionID == id
	})
	if !ok {
		t.Fatalf("store still serves %q (%+v) %v after %s became current", Serving(t, s), s.Status(), limit, id)
	}
	if got := Serving(t, s); got != id {
		t.Fatalf("Status says %s, Predict answers with %s", id, got)
	}
	return took
}

// ServingWithin waits until st's status names id, at most within, and
// returns how long that took and whether it did. Safe to call from any
// goroutine.
func ServingWithin(st *mlservice.Store, id string, within time.Duration) (time.Duration, bool) {
	return testkit.Poll(within, 2*time.Millisecond, func() bool { return st.Status().ModelVersionID == id })
}

// History reads the artifacts directory's decision history.
func History(t testing.TB, dir string) []mlservice.HistoryRecord {
	t.Helper()
	return readDir(t, "read history", mlservice.ReadHistory, dir)
}

// Versions lists the artifacts directory's versions.
func Versions(t testing.TB, dir string) []mlservice.VersionInfo {
	t.Helper()
	return readDir(t, "versions", mlservice.Versions, dir)
}

// readDir returns read(dir), failing the test with what on an error.
func readDir[T any](t testing.TB, what string, read func(string) (T, error), dir string) T {
	t.Helper()
	v, err := read(dir)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// TableCandidate validates the table csvName of testdata/tables under the
// schema file schemaName there, and trains it with the default options.
func TableCandidate(t testing.TB, csvName, schemaName string) *mlservice.Candidate {
	t.Helper()
	ctx := context.Background()
	tables := filepath.Join(testkit.Root(t), "testdata", "tables")
	s, err := mlservice.LoadSchemaFile(filepath.Join(tables, schemaName))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := mlservice.ValidateTableFile(ctx, filepath.Join(tables, csvName), s)
	if err != nil {
		t.Fatal(err)
	}
	cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cand
}

// PromoteTable promotes TableCandidate(csvName, schemaName) into the
// artifacts directory dir, allowing a change of schema if allow.
func PromoteTable(t testing.TB, dir, csvName, schemaName string, allow bool) *mlservice.Decision {
	t.Helper()
	cand := TableCandidate(t, csvName, schemaName)
	cand.AllowSchemaChange = allow
	d, err := mlservice.Promote(context.Background(), dir, cand)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Serve promotes cand into a fresh artifacts directory and opens a store on
// it that does not follow CURRENT, closed when the test ends.
func Serve(t testing.TB, cand *mlservice.Candidate) *mlservice.Store {
	t.Helper()
	dir := t.TempDir()
	if _, err := mlservice.Promote(context.Background(), dir, cand); err != nil {
		t.Fatal(err)
	}
	return OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
}
