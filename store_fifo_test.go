//go:build unix

package mlservice_test

import (
	"context"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// waitStuckOrRefused polls Status (each call bounded) until the store
// either shows a check stuck on the FIFO or has refused it (a reader that
// will not open a FIFO), and returns that status.
func waitStuckOrRefused(t *testing.T, s *mlservice.Store) mlservice.StoreStatus {
	t.Helper()
	var st mlservice.StoreStatus
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !testkit.Within(t, 2*time.Second, "Status", func() { st = s.Status() }) {
			t.FailNow() // the hang this test is about; cleanup unblocks it
		}
		if !st.CheckStartedAt.IsZero() || st.LastError != "" {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the store neither got stuck on nor refused a FIFO CURRENT: %+v", s.Status())
	return st
}

// CURRENT replaced by a FIFO nobody writes: the store's check blocks in
// open (or, with a reader that refuses FIFOs, fails). Either way Status,
// Metadata and Predict answer at once and the last version keeps serving,
// Reload gives up with its context, the store follows CURRENT again once
// it is a file, and Close does not hang.
func TestStoreBlockedCurrentRead(t *testing.T) {
	dir := t.TempDir()
	first := mlkit.Promote(t, dir, 0.5)
	s := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: 10 * time.Millisecond})
	current := testkit.Models(dir, "CURRENT")

	restore := testkit.FIFOAt(t, current).Restore
	st := waitStuckOrRefused(t, s)
	t.Logf("status with CURRENT a FIFO: %+v", st)
	if !st.Ready || st.ModelVersionID != first.VersionID {
		t.Errorf("status with CURRENT a FIFO: %+v; want %s still serving", st, first.VersionID)
	}
	testkit.Within(t, 2*time.Second, "Predict and Metadata", func() {
		if got := mlkit.Serving(t, s); got != first.VersionID {
			t.Errorf("Predict answers with %q, want %s", got, first.VersionID)
		}
		if m, _, err := s.Metadata(); err != nil || m.ModelVersionID != first.VersionID {
			t.Errorf("Metadata = %v, %v", m, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var err error
	testkit.Within(t, 10*time.Second, "Reload with a 200ms context", func() { _, err = s.Reload(ctx) })
	if err == nil {
		t.Error("Reload with CURRENT a FIFO succeeded")
	}

	// A file again: the stuck check is released and the store follows.
	restore()
	second := mlkit.Promote(t, dir, 0.6)
	mlkit.WaitServing(t, s, second.VersionID, 10*time.Second)

	testkit.FIFOAt(t, current)
	waitStuckOrRefused(t, s)
	testkit.Within(t, 2*time.Second, "Close", func() { _ = s.Close() })
}

// OpenStore waits for the first load at most OpenTimeout: with CURRENT a
// FIFO it returns a store that is not ready (or, with a reader that refuses
// FIFOs, one that says why), and Status answers at once.
func TestOpenStoreBlockedCurrent(t *testing.T) {
	dir := t.TempDir()
	mlkit.Promote(t, dir, 0.5)
	testkit.FIFOAt(t, testkit.Models(dir, "CURRENT"))
	var s *mlservice.Store
	if !testkit.Within(t, 10*time.Second, "OpenStore with a 100ms OpenTimeout", func() {
		s = mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1, OpenTimeout: 100 * time.Millisecond})
	}) {
		t.FailNow()
	}
	st := waitStuckOrRefused(t, s)
	if st.Ready || st.Reason == "" {
		t.Errorf("status with CURRENT a FIFO at open: %+v; want not ready, with a reason", st)
	}
	t.Logf("reason: %s", st.Reason)
}
