package fsx_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/fsx"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "CURRENT")
	for _, content := range []string{"one\n", "two, longer\n", ""} {
		if err := fsx.WriteFileAtomic(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != content {
			t.Fatalf("after writing %q: %q, %v", content, got, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("directory holds %v (%v); want CURRENT alone, no temporary file", entries, err)
	}
	// A failed write leaves the file as it was and no temporary file.
	if err := fsx.WriteFileAtomic(filepath.Join(dir, "missing", "x"), []byte("x")); err == nil {
		t.Fatal("a write into a missing directory succeeded")
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := fsx.WriteFileAtomic(filepath.Join(dir, "sub"), []byte("x")); err == nil {
		t.Fatal("renaming a file over a non-empty directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("a failed replacement left %v", entries)
	}
}

func TestWriteFileSyncRefusesExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := fsx.WriteFileSync(path, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := fsx.WriteFileSync(path, []byte("b")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second WriteFileSync: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "a" {
		t.Errorf("file holds %q", got)
	}
	if err := fsx.SyncDir(filepath.Dir(path)); err != nil {
		t.Error(err)
	}
	if err := fsx.SyncDir(filepath.Join(path, "nope")); err == nil {
		t.Error("SyncDir of a missing directory succeeded")
	}
}

// The lock keeps a second holder out, in this process as in another: flock
// and LockFileEx lock per open file, so two opens conflict.
func TestLockFileExcludes(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && runtime.GOOS != "windows" {
		t.Skipf("no file lock on %s", runtime.GOOS)
	}
	path := filepath.Join(t.TempDir(), ".lock")
	ctx := context.Background()
	first, err := fsx.LockFile(ctx, path, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := fsx.LockFile(short, path, time.Hour, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second LockFile while held: %v, want a deadline error", err)
	}

	// A waiter is told once it has waited the notice, and gets the lock
	// once the first holder lets go.
	var told atomic.Int32
	got := make(chan error, 1)
	go func() {
		l, err := fsx.LockFile(ctx, path, 20*time.Millisecond, func() { told.Add(1) })
		if err == nil {
			err = l.Unlock()
		}
		got <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if n := told.Load(); n != 1 {
		t.Errorf("the waiter was told %d times after waiting past the notice, want 1", n)
	}
	select {
	case err := <-got:
		t.Fatalf("the waiter got the lock while it was held: %v", err)
	default:
	}
	if err := first.Unlock(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter did not get the lock after it was released")
	}
}

// Goroutines that each take the lock never hold it at the same time.
func TestLockFileMutualExclusion(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && runtime.GOOS != "windows" {
		t.Skipf("no file lock on %s", runtime.GOOS)
	}
	path := filepath.Join(t.TempDir(), ".lock")
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				l, err := fsx.LockFile(context.Background(), path, time.Hour, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) != 1 {
					overlaps.Add(1)
				}
				time.Sleep(50 * time.Microsecond)
				inside.Add(-1)
				if err := l.Unlock(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("the lock was held twice at once %d times", n)
	}
}

func TestStatStamp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if _, err := fsx.StatStamp(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stamp of a missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := fsx.StatStamp(path)
	if err != nil {
		t.Fatal(err)
	}
	if a.Size != 5 || a.Settled(time.Now(), time.Hour) || !a.Settled(time.Now().Add(2*time.Hour), time.Hour) {
		t.Errorf("stamp %+v: size or Settled wrong", a)
	}
	// A file renamed over it changes the stamp even with the same size and
	// time, by its inode (where the platform has one).
	other := filepath.Join(dir, "g")
	if err := os.WriteFile(other, []byte("54321"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(other, a.ModTime, a.ModTime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	b, err := fsx.StatStamp(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && a == b {
		t.Errorf("a file renamed over another kept the stamp %v", a)
	}
	if a.String() == "" || !strings.Contains(a.String(), "5 ") {
		t.Errorf("String = %q", a.String())
	}
}

func TestReadRegular(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/file", "hello")
	if got, err := fsx.ReadRegular(root, "a/file", 5); err != nil || string(got) != "hello" {
		t.Fatalf("read at the limit: %q, %v", got, err)
	}
	for _, tc := range []struct {
		name, rel string
		limit     int64
		setup     func()
		want      string
		is        error
	}{
		{"missing", "a/none", 10, nil, "a/none is missing: file does not exist", fs.ErrNotExist},
		{"over the limit", "a/file", 4, nil, "a/file is larger than 4 bytes", fsx.ErrTooLarge},
		{"a directory", "a", 10, nil, "a is a directory, not a regular file", nil},
		{"a symbolic link", "a/link", 10, func() {
			if err := os.Symlink(filepath.Join(root, "a", "file"), filepath.Join(root, "a", "link")); err != nil {
				t.Skipf("no symbolic links here: %v", err)
			}
		}, "a/link is a symbolic link, not a regular file", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			_, err := fsx.ReadRegular(root, tc.rel, tc.limit)
			if err == nil || err.Error() != tc.want || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("ReadRegular(%q): %v, want %q", tc.rel, err, tc.want)
			}
			if strings.Contains(err.Error(), root) {
				t.Errorf("the error names the root: %v", err)
			}
		})
	}
}

func TestPathless(t *testing.T) {
	_, err := os.Open(filepath.Join(t.TempDir(), "secret", "host", "path"))
	got := fsx.Pathless(err)
	if !errors.Is(got, fs.ErrNotExist) || strings.Contains(got.Error(), "secret") {
		t.Fatalf("Pathless(%v) = %v", err, got)
	}
	plain := errors.New("plain")
	if fsx.Pathless(plain) != plain {
		t.Error("Pathless changed an error that is no PathError")
	}
}
