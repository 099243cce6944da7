//go:build unix

package mlservice_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
)

// artFIFOAt replaces path with a FIFO that nobody writes: opening it for
// reading blocks, as a read from a hung network file system would. restore
// puts path's previous content back as a regular file, then opens the FIFO
// for writing (through a second link) to release any reader stuck in open.
// It also runs at cleanup, so a failing test does not leave a reader stuck.
func artFIFOAt(t *testing.T, path string) (restore func()) {
	t.Helper()
	prev, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "blocker")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".art-fifo"
	if err := os.Link(fifo, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	restore = func() {
		once.Do(func() {
			if err := os.WriteFile(tmp, prev, 0o644); err != nil {
				t.Error(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Error(err)
			}
			// Non-blocking: with no reader waiting it fails at once (ENXIO).
			if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		})
	}
	t.Cleanup(restore)
	return restore
}

// artWaitStuckOrRefused polls Status (each call bounded) until the store
// either shows a check stuck on the FIFO or has refused it (a reader that
// will not open a FIFO), and returns that status.
func artWaitStuckOrRefused(t *testing.T, s *mlservice.Store) mlservice.StoreStatus {
	t.Helper()
	var st mlservice.StoreStatus
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !artWithin(t, 2*time.Second, "Status", func() { st = s.Status() }) {
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
	first := artPromote(t, dir, 0.5)
	s := artOpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: 10 * time.Millisecond})
	current := artModels(dir, "CURRENT")

	restore := artFIFOAt(t, current)
	st := artWaitStuckOrRefused(t, s)
	t.Logf("status with CURRENT a FIFO: %+v", st)
	if !st.Ready || st.ModelVersionID != first.VersionID {
		t.Errorf("status with CURRENT a FIFO: %+v; want %s still serving", st, first.VersionID)
	}
	artWithin(t, 2*time.Second, "Predict and Metadata", func() {
		if got := artServing(t, s); got != first.VersionID {
			t.Errorf("Predict answers with %q, want %s", got, first.VersionID)
		}
		if m, _, err := s.Metadata(); err != nil || m.ModelVersionID != first.VersionID {
			t.Errorf("Metadata = %v, %v", m, err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var err error
	artWithin(t, 10*time.Second, "Reload with a 200ms context", func() { _, err = s.Reload(ctx) })
	if err == nil {
		t.Error("Reload with CURRENT a FIFO succeeded")
	}

	// A file again: the stuck check is released and the store follows.
	restore()
	second := artPromote(t, dir, 0.6)
	artWaitServing(t, s, second.VersionID, 10*time.Second)

	artFIFOAt(t, current)
	artWaitStuckOrRefused(t, s)
	artWithin(t, 2*time.Second, "Close", func() { _ = s.Close() })
}

// OpenStore waits for the first load at most OpenTimeout: with CURRENT a
// FIFO it returns a store that is not ready (or, with a reader that refuses
// FIFOs, one that says why), and Status answers at once.
func TestOpenStoreBlockedCurrent(t *testing.T) {
	dir := t.TempDir()
	artPromote(t, dir, 0.5)
	artFIFOAt(t, artModels(dir, "CURRENT"))
	var s *mlservice.Store
	if !artWithin(t, 10*time.Second, "OpenStore with a 100ms OpenTimeout", func() {
		s = artOpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1, OpenTimeout: 100 * time.Millisecond})
	}) {
		t.FailNow()
	}
	st := artWaitStuckOrRefused(t, s)
	if st.Ready || st.Reason == "" {
		t.Errorf("status with CURRENT a FIFO at open: %+v; want not ready, with a reason", st)
	}
	t.Logf("reason: %s", st.Reason)
}
