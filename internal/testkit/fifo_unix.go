//go:build unix

package testkit

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// Mkfifo replaces path with a FIFO, skipping the test on a file system
// without FIFOs, and opens it for reading and writing when the test ends so
// that a reader blocked on it is released.
func Mkfifo(t testing.TB, path string) {
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

// FIFO is a FIFO that nobody writes, put in place of a file by FIFOAt: a
// reader of the file blocks, as on a hung network file system.
type FIFO struct {
	t      testing.TB
	path   string // the file it replaced
	fifo   string // the FIFO's own name
	prev   []byte
	once   sync.Once
	writer *os.File
}

// FIFOAt puts a FIFO in the place of the file at path the way a writer
// replaces a file (a new name renamed over the old one). The file comes
// back when the test ends, or earlier by Restore.
func FIFOAt(t testing.TB, path string) *FIFO {
	t.Helper()
	f := &FIFO{t: t, path: path, fifo: filepath.Join(t.TempDir(), "blocker"), prev: ReadFile(t, path)}
	if err := syscall.Mkfifo(f.fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".testkit-fifo"
	if err := os.Link(f.fifo, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Restore)
	return f
}

// Hold reports whether a reader has the FIFO open, and if so keeps it
// blocked (now in read) by holding the write end open, writing nothing,
// until Restore. A non-blocking open for writing succeeds only once a
// reader has the FIFO open.
func (f *FIFO) Hold() bool {
	f.t.Helper()
	w, err := os.OpenFile(f.fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ENXIO) {
		return false
	}
	if err != nil {
		f.t.Fatal(err)
	}
	f.writer = w
	return true
}

// Restore puts the file back first, then releases a blocked reader (EOF
// once the write end closes). Only the first call does anything.
func (f *FIFO) Restore() {
	f.once.Do(func() {
		tmp := f.path + ".testkit-fifo"
		if err := os.WriteFile(tmp, f.prev, 0o644); err != nil {
			f.t.Error(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			f.t.Error(err)
		}
		if f.writer != nil {
			f.writer.Close()
		} else if w, err := os.OpenFile(f.fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			// With no reader waiting this fails at once (ENXIO).
			w.Close()
		}
	})
}
