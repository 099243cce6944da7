// Package dir keeps mlservice artifacts in a local directory: the
// storage.Backend of DirArtifacts. Writers take an exclusive flock on
// models/.lock; a version is written into a temporary directory, fsynced
// and renamed into place; CURRENT is replaced by a temporary file, fsync,
// rename and an fsync of its directory; the history is one file,
// models/history.jsonl, appended and fsynced, its torn last line (left by a
// crash in the middle of an append) cut off before the next append. A
// crash at any instant leaves CURRENT naming a complete version.
//
//	models/CURRENT                          the serving version id
//	models/versions/<version_id>/…          a version's files and manifest.json
//	models/history.jsonl                    one JSON line per decision
//	models/.lock                            held while a writer changes any of it
package dir

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mlservice/mlservice/internal/fsx"
	"github.com/mlservice/mlservice/storage"
)

const (
	historyFile = "history.jsonl"
	lockFile    = ".lock"
	tmpPrefix   = ".tmp-" // a version being written, or taken back
)

// racyStampAge is how long after CURRENT last changed its stat stamp is not
// trusted alone; it covers the timestamp granularity of common file systems.
const racyStampAge = 2 * time.Second

// LockWaitNotice is how long a writer waits for the lock before it calls
// the function WithLockWait gave it.
const LockWaitNotice = time.Second

// Dir is the artifacts under one directory.
type Dir struct {
	root string // as given: messages about the directory itself name it so
}

var _ storage.Backend = (*Dir)(nil)

// New returns the artifacts under root. Nothing is created until the first
// Lock.
func New(root string) *Dir { return &Dir{root: root} }

// String returns the directory as given.
func (d *Dir) String() string { return d.root }

func (d *Dir) path(rel string) string { return filepath.Join(d.root, filepath.FromSlash(rel)) }

type lockWaitKey struct{}

// WithLockWait returns a copy of ctx carrying notify: Lock calls it once,
// with the lock file's path, when it has waited LockWaitNotice for the lock
// another writer holds, then goes on waiting as long as ctx allows.
func WithLockWait(ctx context.Context, notify func(lockPath string)) context.Context {
	return context.WithValue(ctx, lockWaitKey{}, notify)
}

// Lock creates the layout if needed, takes the exclusive lock on
// models/.lock (waiting for other writers as long as ctx allows) and removes
// what crashed writers left half-done: temporary version directories and
// CURRENT files.
func (d *Dir) Lock(ctx context.Context) (unlock func(), exclusive bool, err error) {
	models := d.path(storage.ModelsDir)
	if err := os.MkdirAll(filepath.Join(models, storage.VersionsDir), 0o755); err != nil {
		return nil, false, err
	}
	lockPath := filepath.Join(models, lockFile)
	var waiting func()
	if notify, _ := ctx.Value(lockWaitKey{}).(func(string)); notify != nil {
		waiting = func() { notify(lockPath) }
	}
	l, err := fsx.LockFile(ctx, lockPath, LockWaitNotice, waiting)
	if err != nil {
		return nil, false, err
	}
	unlock = func() { _ = l.Unlock() }
	if err := d.tidy(); err != nil {
		unlock()
		return nil, false, err
	}
	return unlock, true, nil
}

// tidy removes the temporary entries of writers that died.
func (d *Dir) tidy() error {
	for _, rel := range []string{storage.ModelsDir, path.Join(storage.ModelsDir, storage.VersionsDir)} {
		entries, err := os.ReadDir(d.path(rel))
		if err != nil {
			return fmt.Errorf("recover: %s: %w", rel, fsx.Pathless(err))
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tmpPrefix) || strings.HasPrefix(e.Name(), storage.CurrentFile+fsx.TmpInfix) {
				if err := os.RemoveAll(filepath.Join(d.path(rel), e.Name())); err != nil {
					return fmt.Errorf("recover: %s: %w", path.Join(rel, e.Name()), fsx.Pathless(err))
				}
			}
		}
	}
	return nil
}

// maxTagged bounds how much of CURRENT its tag hashes; a larger file (never
// one a writer made) is tagged by its stat.
const maxTagged = 4 << 10

// ReadCurrent implements storage.Backend. The tag is a hash of CURRENT's
// content, or of its stat when it is not a small regular file.
func (d *Dir) ReadCurrent(ctx context.Context, limit int64) ([]byte, string, error) {
	data, err := fsx.ReadRegular(d.root, storage.CurrentKey, limit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	return data, d.currentTag(), asStorage(err)
}

func (d *Dir) currentTag() string {
	data, err := fsx.ReadRegular(d.root, storage.CurrentKey, maxTagged)
	switch {
	case err == nil:
		sum := sha256.Sum256(data)
		return "sha256:" + hex.EncodeToString(sum[:16])
	case errors.Is(err, fs.ErrNotExist):
		return ""
	}
	fi, serr := os.Lstat(d.path(storage.CurrentKey))
	if serr != nil {
		return "unreadable: " + serr.Error()
	}
	return fmt.Sprintf("stat: %v %d %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), fsx.Inode(fi))
}

// StatCurrent implements storage.Backend with one stat of CURRENT, settled
// once CURRENT is older than the common timestamp granularity.
func (d *Dir) StatCurrent(ctx context.Context) (storage.Stamp, error) {
	st, err := fsx.StatStamp(d.path(storage.CurrentKey))
	if err != nil {
		if perr := d.problem(err); perr != nil {
			return storage.Stamp{}, perr
		}
		return storage.Stamp{}, fmt.Errorf("%s is missing: %w", storage.CurrentKey, fs.ErrNotExist)
	}
	return storage.Stamp{Value: st.String(), Settled: st.Settled(time.Now(), racyStampAge)}, nil
}

// problem returns what is wrong with the directory itself when CURRENT
// could not be statted (statErr), or nil when the directory is fine and
// CURRENT simply does not exist. The directory is named as given.
func (d *Dir) problem(statErr error) error {
	fi, err := os.Stat(d.root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("artifacts directory %q does not exist", d.root)
	case err != nil:
		return fmt.Errorf("artifacts directory %q: %w", d.root, errors.Unwrap(err))
	case !fi.IsDir():
		return fmt.Errorf("artifacts directory %q is not a directory", d.root)
	case errors.Is(statErr, fs.ErrNotExist):
		return nil
	}
	return fmt.Errorf("artifacts directory %q: %s: %w", d.root, storage.CurrentKey, fsx.Pathless(statErr))
}

// SwapCurrent implements storage.Backend: under Lock nothing else writes
// CURRENT, so comparing its tag and then renaming a new file over it is a
// compare-and-swap.
func (d *Dir) SwapCurrent(ctx context.Context, data []byte, tag string) error {
	if now := d.currentTag(); now != tag {
		return fmt.Errorf("%s changed: %w", storage.CurrentKey, storage.ErrPreconditionFailed)
	}
	if err := fsx.WriteFileAtomic(d.path(storage.CurrentKey), data); err != nil {
		return fsx.Pathless(err)
	}
	return nil
}

// WriteVersion implements storage.Backend: files and the manifest go into
// versions/.tmp-<id>, each fsynced, then the directory is fsynced, renamed
// to versions/<id>, and versions/ fsynced. The rename is the commit.
func (d *Dir) WriteVersion(ctx context.Context, id string, files map[string][]byte, manifest []byte) error {
	versions := d.path(path.Join(storage.ModelsDir, storage.VersionsDir))
	tmp := filepath.Join(versions, tmpPrefix+id)
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("create version directory: %w", fsx.Pathless(err))
	}
	fail := func(err error) error {
		os.RemoveAll(tmp)
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := fsx.WriteFileSync(filepath.Join(tmp, name), files[name]); err != nil {
			return fail(fmt.Errorf("write %s: %w", name, fsx.Pathless(err)))
		}
	}
	if err := fsx.WriteFileSync(filepath.Join(tmp, storage.ManifestFile), manifest); err != nil {
		return fail(fmt.Errorf("write %s: %w", storage.ManifestFile, fsx.Pathless(err)))
	}
	if err := fsx.SyncDir(tmp); err != nil {
		return fail(err)
	}
	final := filepath.Join(versions, id)
	if _, err := os.Lstat(final); err == nil {
		// Written before: take the old one aside first (a rename cannot
		// replace a directory that has files).
		if err := d.RemoveVersion(ctx, id); err != nil {
			return fail(fmt.Errorf("replace version: %w", err))
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return fail(fmt.Errorf("publish version: %w", fsx.Pathless(err)))
	}
	return fsx.SyncDir(versions)
}

// RemoveVersion implements storage.Backend: the version is renamed aside
// first, so a reader never sees it half-deleted, then removed, then
// versions/ fsynced.
func (d *Dir) RemoveVersion(ctx context.Context, id string) error {
	versions := d.path(path.Join(storage.ModelsDir, storage.VersionsDir))
	aside := filepath.Join(versions, tmpPrefix+"removed-"+id)
	if err := os.Rename(filepath.Join(versions, id), aside); err != nil {
		return fsx.Pathless(err)
	}
	if err := os.RemoveAll(aside); err != nil {
		return fsx.Pathless(err)
	}
	return fsx.SyncDir(versions)
}

// Versions implements storage.Backend: every entry of versions/ but the
// temporary ones. A rename publishes a version whole.
func (d *Dir) Versions(ctx context.Context) ([]string, error) {
	rel := path.Join(storage.ModelsDir, storage.VersionsDir)
	entries, err := os.ReadDir(d.path(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, fsx.Pathless(err))
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// VersionFiles implements storage.Backend. A version directory that is a
// symbolic link is refused: what is read must be what was written under
// versions/.
func (d *Dir) VersionFiles(ctx context.Context, id string) ([]string, error) {
	rel := storage.VersionKey(id)
	fi, err := os.Lstat(d.path(rel))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %w", rel, fs.ErrNotExist)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", rel, fsx.Pathless(err))
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, fmt.Errorf("%s is a symbolic link, not a directory", rel)
	case !fi.IsDir():
		return nil, fmt.Errorf("%s is not a directory", rel)
	}
	entries, err := os.ReadDir(d.path(rel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, fsx.Pathless(err))
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// ReadVersionFile implements storage.Backend: regular files only, never
// through a symbolic link, never blocking on a FIFO.
func (d *Dir) ReadVersionFile(ctx context.Context, id, name string, limit int64) ([]byte, error) {
	data, err := fsx.ReadRegular(d.root, storage.VersionKey(id, name), limit)
	return data, asStorage(err)
}

// VersionStamp implements storage.Backend: the names, sizes, modification
// times and inodes of the version's files, so that a change to any of them
// (rewritten in place or renamed over) changes it.
func (d *Dir) VersionStamp(ctx context.Context, id string) string {
	dir := d.path(storage.VersionKey(id))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "error: " + fsx.Pathless(err).Error()
	}
	var b strings.Builder
	for _, e := range entries {
		st, err := fsx.StatStamp(filepath.Join(dir, e.Name()))
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", e.Name(), fsx.Pathless(err))
			continue
		}
		fmt.Fprintf(&b, "%s %s\n", e.Name(), st)
	}
	return b.String()
}

// asStorage makes a file over its limit match storage.ErrTooLarge.
func asStorage(err error) error {
	if errors.Is(err, fsx.ErrTooLarge) {
		return tooLarge{err}
	}
	return err
}

type tooLarge struct{ error }

func (e tooLarge) Unwrap() error        { return e.error }
func (e tooLarge) Is(target error) bool { return target == storage.ErrTooLarge }

// ReadHistory implements storage.Backend: the lines of history.jsonl.
func (d *Dir) ReadHistory(ctx context.Context, limit int) ([]storage.HistoryEntry, error) {
	rel := path.Join(storage.ModelsDir, historyFile)
	f, err := fsx.OpenRegular(d.root, rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var entries []storage.HistoryEntry
	r := bufio.NewReaderSize(f, limit+1)
	for n := 1; ; n++ {
		name := fmt.Sprintf("%s line %d", rel, n)
		line, err := r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			// Drop the rest of the long line; the next one is read as usual.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s: %w", rel, fsx.Pathless(err))
			}
			entries = append(entries, storage.HistoryEntry{Name: name, Err: fmt.Errorf("longer than %d bytes", limit)})
			if errors.Is(err, io.EOF) {
				return entries, nil
			}
			continue
		case errors.Is(err, io.EOF):
			if len(line) > 0 {
				entries = append(entries, storage.HistoryEntry{Name: name, Data: bytes.Clone(line), Torn: true})
			}
			return entries, nil
		case err != nil:
			return nil, fmt.Errorf("%s: %w", rel, fsx.Pathless(err))
		}
		entries = append(entries, storage.HistoryEntry{Name: name, Data: bytes.Clone(line[:len(line)-1])})
	}
}

// AppendHistory implements storage.Backend: one line appended to
// history.jsonl and fsynced, and the models directory too when the file is
// created. A torn last line left by a crash is cut off first: ended by a
// line end it would be a bad line in the middle. key is not needed: the
// file keeps the order.
func (d *Dir) AppendHistory(ctx context.Context, key string, line []byte) error {
	rel := path.Join(storage.ModelsDir, historyFile)
	name := d.path(rel)
	fi, err := os.Lstat(name)
	created := errors.Is(err, fs.ErrNotExist)
	if err == nil {
		err = fsx.CheckRegular(rel, fi)
	}
	if err != nil && !created {
		return fsx.Pathless(err)
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, fsx.Pathless(err))
	}
	defer f.Close()
	if err := cutTornLine(f); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("%s: %w", rel, fsx.Pathless(err))
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", rel, fsx.Pathless(err))
	}
	if created {
		if err := fsx.SyncDir(d.path(storage.ModelsDir)); err != nil {
			return fmt.Errorf("sync %s: %w", storage.ModelsDir, fsx.Pathless(err))
		}
	}
	return nil
}

// cutTornLine truncates f after its last line end, dropping a partial line
// a crashed writer left at the end. A last line that is whole JSON but for
// its line end (a reader takes it as a record) is ended instead.
func cutTornLine(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return fsx.Pathless(err)
	}
	size := st.Size()
	if size == 0 {
		return nil
	}
	tail := make([]byte, min(size, storage.HistoryLineLimit+1))
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return fsx.Pathless(err)
	}
	if tail[len(tail)-1] == '\n' {
		return nil
	}
	end := bytes.LastIndexByte(tail, '\n') + 1 // 0: no line end in the tail
	if end == 0 && int64(len(tail)) < size {
		// A last line over the cap is no record (readers skip it): cut it
		// off after the line end before it, wherever that is.
		at, err := lastLineEnd(f, size-int64(len(tail)))
		if err != nil {
			return err
		}
		return fsx.Pathless(f.Truncate(at))
	}
	// A crash cuts a record short, and no prefix of a JSON object is whole
	// JSON: a tail that is must be a record written but for its line end.
	if last := tail[end:]; len(last) <= storage.HistoryLineLimit && json.Valid(last) {
		_, err := f.Write([]byte{'\n'})
		return fsx.Pathless(err)
	}
	return fsx.Pathless(f.Truncate(size - int64(len(tail)) + int64(end)))
}

// lastLineEnd returns the offset just past the last line end in f's first
// n bytes, 0 if there is none.
func lastLineEnd(f *os.File, n int64) (int64, error) {
	buf := make([]byte, storage.HistoryLineLimit)
	for n > 0 {
		chunk := buf[:min(n, int64(len(buf)))]
		n -= int64(len(chunk))
		if _, err := f.ReadAt(chunk, n); err != nil {
			return 0, fsx.Pathless(err)
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return n + int64(i) + 1, nil
		}
	}
	return 0, nil
}
