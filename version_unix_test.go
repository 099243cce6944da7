//go:build unix

package mlservice_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
)

// artWithin runs f and fails the test if it has not returned within limit:
// a reader that opens a FIFO blocks until a writer shows up.
func errWithin(t *testing.T, limit time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("still blocked after %v", limit)
		return nil
	}
}

// artMkfifo replaces path with a FIFO, and opens it for reading and writing
// at cleanup so that a reader blocked on it is released.
func artMkfifo(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("this file system has no FIFOs: %v", err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
			f.Close()
		}
	})
}

// A FIFO in place of CURRENT, metadata.json or model.json is refused at
// once instead of blocking the reader (a Store's refresh, a trainer's
// Promote) until something writes to it.
func TestReadersRefuseFIFOs(t *testing.T) {
	t.Run("CURRENT", func(t *testing.T) {
		dir := t.TempDir()
		artPromote(t, dir, 0.5)
		artMkfifo(t, artModels(dir, "CURRENT"))
		err := errWithin(t, 5*time.Second, func() error {
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
			artPromote(t, dir, 0.5)
			d := artPromote(t, dir, 0.4) // rejected: a rollback target
			artMkfifo(t, artVersionFile(dir, d.VersionID, name))
			err := errWithin(t, 5*time.Second, func() error {
				_, err := mlservice.Rollback(context.Background(), dir, d.VersionID)
				return err
			})
			if !errors.Is(err, mlservice.ErrCorruptVersion) || !strings.Contains(err.Error(), "not a regular file") {
				t.Fatalf("Rollback to a version whose %s is a FIFO: %v", name, err)
			}
		})
	}
}
