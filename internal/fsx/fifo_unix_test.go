//go:build unix

package fsx_test

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/fsx"
)

// A FIFO in place of a file is refused at once: opening it would wait for
// a writer that never comes.
func TestReadRegularRefusesFIFO(t *testing.T) {
	root := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(root, "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := fsx.ReadRegular(root, "pipe", 10)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "pipe is not a regular file") {
			t.Fatalf("ReadRegular of a FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadRegular blocked on a FIFO")
	}
}
