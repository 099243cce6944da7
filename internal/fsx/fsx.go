// Package fsx holds the file-system mechanisms the artifacts directory is
// built on: an exclusive lock between processes, fsync of files and
// directories, an atomic replacement of a file, reads that refuse anything
// but a regular file, and a stat stamp that notices a file renamed over
// another. It knows nothing of models or versions.
//
// The lock and the inode number are per operating system (lock_*.go,
// stamp_*.go); everything else is portable.
package fsx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// TmpInfix marks the temporary files WriteFileAtomic leaves behind when it
// dies before its rename: path + TmpInfix + random hex.
const TmpInfix = ".tmp-"

// WriteFileSync creates path (which must not exist) with data and fsyncs it.
func WriteFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteFileAtomic replaces path with data: a temporary file in the same
// directory, fsync, rename over path, fsync of the directory. A reader sees
// the old file or the new one, whole; a crash leaves one of them and perhaps
// the temporary file.
func WriteFileAtomic(path string, data []byte) error {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	tmp := path + TmpInfix + hex.EncodeToString(b[:])
	if err := WriteFileSync(tmp, data); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs the directory path, making the entries created, renamed
// or removed in it durable.
func SyncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// Lock is an exclusive lock on a file, held until Unlock.
type Lock struct{ f *os.File }

// LockFile takes an exclusive lock on the file at path, creating it if
// needed, and waits for the process holding it as long as ctx allows. If it
// has waited notice and waiting is not nil, it calls waiting once, then goes
// on waiting.
func LockFile(ctx context.Context, path string, notice time.Duration, waiting func()) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	start := time.Now()
	for {
		locked, err := TryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", filepath.Base(path), err)
		}
		if locked {
			return &Lock{f: f}, nil
		}
		if waiting != nil && time.Since(start) >= notice {
			waiting()
			waiting = nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Unlock releases the lock and closes its file.
func (l *Lock) Unlock() error {
	err := Unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Stamp is what a stat says of a file, enough to notice most changes
// without reading it: its size, modification time and inode number. Two
// writes within the file system's timestamp granularity that leave the same
// size and reuse a freed inode give equal stamps, so an equal stamp on a
// young file proves nothing (see Settled).
type Stamp struct {
	ModTime time.Time
	Size    int64
	Inode   uint64 // 0 where the platform reports none (Windows)
}

// StatStamp returns the stamp of the file at path.
func StatStamp(path string) (Stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Stamp{}, err
	}
	return Stamp{ModTime: fi.ModTime(), Size: fi.Size(), Inode: Inode(fi)}, nil
}

// String renders the stamp for comparison and messages.
func (s Stamp) String() string {
	return fmt.Sprintf("%d %d %d", s.Size, s.ModTime.UnixNano(), s.Inode)
}

// Settled reports whether the file last changed more than granularity
// before now: only then does an unchanged stamp mean an unchanged file
// (git's "racily clean" rule).
func (s Stamp) Settled(now time.Time, granularity time.Duration) bool {
	return now.Sub(s.ModTime) >= granularity
}

// ReadRegular reads rel, a slash-separated path under root, refusing
// anything but a regular file (a symbolic link, a FIFO, a device, a
// directory) and a file larger than limit bytes. A FIFO never blocks it: the
// type is checked before opening, and the open itself does not wait for a
// writer. Errors name rel, never root, and match fs.ErrNotExist when the
// file is missing.
func ReadRegular(root, rel string, limit int64) ([]byte, error) {
	f, err := OpenRegular(root, rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, Pathless(err))
	}
	if int64(len(data)) > limit {
		return nil, &tooLargeError{rel, limit}
	}
	return data, nil
}

// ErrTooLarge matches the error ReadRegular returns for a file over its
// limit.
var ErrTooLarge = errors.New("file too large")

type tooLargeError struct {
	rel   string
	limit int64
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %d bytes", e.rel, e.limit)
}
func (e *tooLargeError) Is(target error) bool { return target == ErrTooLarge }

// openTries bounds OpenRegular's retries; only a writer replacing the file
// in a tight loop could outrun it.
const openTries = 8

// OpenRegular opens rel for reading, with ReadRegular's checks but the size.
func OpenRegular(root, rel string) (*os.File, error) {
	// Files are replaced by rename while readers open them, so a file that
	// changed between Lstat and open is looked at again: each rename puts a
	// complete file in place, and a few tries always find one settled.
	for try := 0; ; try++ {
		f, changed, err := openRegularOnce(root, rel)
		if !changed || try == openTries-1 {
			return f, err
		}
	}
}

func openRegularOnce(root, rel string) (f *os.File, changed bool, err error) {
	name := filepath.Join(root, filepath.FromSlash(rel))
	before, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("%s is missing: %w", rel, fs.ErrNotExist)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", rel, Pathless(err))
	}
	if err := CheckRegular(rel, before); err != nil {
		return nil, false, err
	}
	f, err = os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, fmt.Errorf("%s changed while it was opened: %w", rel, fs.ErrNotExist)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", rel, Pathless(err))
	}
	// Something may have replaced the file between Lstat and open.
	if after, err := f.Stat(); err != nil || !os.SameFile(before, after) {
		f.Close()
		return nil, true, fmt.Errorf("%s changed while it was opened", rel)
	}
	return f, false, nil
}

// CheckRegular refuses anything but a regular file, naming what rel is.
func CheckRegular(rel string, fi fs.FileInfo) error {
	m := fi.Mode()
	switch {
	case m.IsRegular():
		return nil
	case m&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link, not a regular file", rel)
	case m.IsDir():
		return fmt.Errorf("%s is a directory, not a regular file", rel)
	default:
		return fmt.Errorf("%s is not a regular file (mode %v)", rel, m.Type())
	}
}

// Pathless drops the host path from a *fs.PathError, keeping its cause (so
// errors.Is still sees fs.ErrNotExist and the like): errors that name paths
// relative to a root must not leak the root through a wrapped PathError.
func Pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
