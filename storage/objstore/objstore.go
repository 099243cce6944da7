// Package objstore keeps mlservice artifacts in an object store: the
// storage.Backend of BucketArtifacts, over any storage.Bucket (storage/s3,
// storage/memory). An object store has no rename and no lock, so:
//
//   - a version's objects are written first and its manifest (size and
//     SHA-256 of each) last: a version without a manifest is incomplete, is
//     never listed and never read whole;
//   - CURRENT moves by a conditional PUT, If-Match on the ETag read when
//     deciding, or If-None-Match: * when there was none; a writer whose PUT
//     is refused lost a race and decides again;
//   - each decision is its own history object (there is no append), its
//     key sortable by the time CURRENT was read for it;
//   - a follower HEADs CURRENT and compares ETags.
//
// The key layout under the bucket's prefix is the directory's:
//
//	models/CURRENT                                    the serving version id
//	models/versions/<version_id>/…                    a version's objects, manifest.json last
//	models/history/<time>-<version_id>-<event>.json   one object per decision
//
// Errors that are no answer about what is stored (a network failure, a
// timeout, a 5xx) match storage.ErrUnreachable.
package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/mlservice/mlservice/storage"
)

const historyDir = "history" // models/history/

// Store is the artifacts in one bucket.
type Store struct {
	b storage.Bucket
}

var _ storage.Backend = (*Store)(nil)

// New returns the artifacts in b, under the same key layout as a
// directory. b must honour If-Match and If-None-Match on PUT, or racing
// writers could both win.
func New(b storage.Bucket) *Store { return &Store{b: b} }

// String names the bucket and prefix.
func (s *Store) String() string { return s.b.String() }

// classify returns err as is when the store answered about the object
// (missing, too large, precondition) or the caller stopped, and marks it
// unreachable otherwise, naming the store.
func (s *Store) classify(err error) error {
	if err == nil || errors.Is(err, storage.ErrNotExist) || errors.Is(err, storage.ErrTooLarge) ||
		errors.Is(err, storage.ErrPreconditionFailed) || errors.Is(err, context.Canceled) ||
		errors.Is(err, storage.ErrUnreachable) {
		return err
	}
	return storage.Unreachable(fmt.Errorf("object store %s: %w", s.b, err))
}

// Lock implements storage.Backend: an object store has no lock, and needs
// none, since every write of CURRENT is a conditional PUT.
func (s *Store) Lock(ctx context.Context) (unlock func(), exclusive bool, err error) {
	return func() {}, false, nil
}

// ReadCurrent implements storage.Backend; the tag is CURRENT's ETag.
func (s *Store) ReadCurrent(ctx context.Context, limit int64) ([]byte, string, error) {
	key := storage.CurrentKey
	data, etag, err := s.b.Get(ctx, key, limit)
	switch {
	case errors.Is(err, storage.ErrNotExist):
		return nil, "", fmt.Errorf("%s is missing: %w", key, storage.ErrNotExist)
	case errors.Is(err, storage.ErrTooLarge):
		// Its ETag still lets a writer replace it.
		etag, herr := s.b.Head(ctx, key)
		if herr != nil {
			return nil, "", s.classify(herr)
		}
		return nil, etag, fmt.Errorf("%s is larger than %d bytes: %w", key, limit, storage.ErrTooLarge)
	case err != nil:
		return nil, "", s.classify(err)
	case etag == "":
		return nil, "", storage.Unreachable(fmt.Errorf("object store %s gave %s no ETag", s.b, key))
	}
	return data, etag, nil
}

// StatCurrent implements storage.Backend with one HEAD: an ETag is exact,
// so the stamp is always settled.
func (s *Store) StatCurrent(ctx context.Context) (storage.Stamp, error) {
	etag, err := s.b.Head(ctx, storage.CurrentKey)
	if errors.Is(err, storage.ErrNotExist) {
		return storage.Stamp{}, fmt.Errorf("%s is missing: %w", storage.CurrentKey, storage.ErrNotExist)
	}
	if err != nil {
		return storage.Stamp{}, s.classify(err)
	}
	return storage.Stamp{Value: etag, Settled: true}, nil
}

// SwapCurrent implements storage.Backend with a conditional PUT. A PUT
// whose answer was lost may or may not have been applied: CURRENT is read
// back to tell.
func (s *Store) SwapCurrent(ctx context.Context, data []byte, tag string) error {
	cond := storage.Condition{IfMatch: tag, IfNoneMatch: tag == ""}
	_, err := s.b.Put(ctx, storage.CurrentKey, data, cond)
	if err == nil || errors.Is(err, storage.ErrPreconditionFailed) {
		return err
	}
	if errors.Is(err, storage.ErrNotExist) && tag != "" {
		// Some engines answer If-Match on a missing object with 404.
		return fmt.Errorf("%s is gone: %w", storage.CurrentKey, storage.ErrPreconditionFailed)
	}
	if now, _, rerr := s.b.Get(ctx, storage.CurrentKey, int64(len(data))); rerr == nil && string(now) == string(data) {
		return nil
	}
	return s.classify(err)
}

// WriteVersion implements storage.Backend: the files, then the manifest,
// the commit.
func (s *Store) WriteVersion(ctx context.Context, id string, files map[string][]byte, manifest []byte) error {
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if _, err := s.b.Put(ctx, storage.VersionKey(id, name), files[name], storage.Condition{}); err != nil {
			return fmt.Errorf("write %s: %w", name, s.classify(err))
		}
	}
	if _, err := s.b.Put(ctx, storage.VersionKey(id, storage.ManifestFile), manifest, storage.Condition{}); err != nil {
		return fmt.Errorf("write %s: %w", storage.ManifestFile, s.classify(err))
	}
	return nil
}

// RemoveVersion implements storage.Backend: the manifest first (the
// version is then incomplete: not listed, never read), then the rest.
func (s *Store) RemoveVersion(ctx context.Context, id string) error {
	if err := s.b.Delete(ctx, storage.VersionKey(id, storage.ManifestFile)); err != nil {
		return s.classify(err)
	}
	keys, err := s.b.List(ctx, storage.VersionKey(id)+"/")
	if err != nil {
		return s.classify(err)
	}
	for _, k := range keys {
		if err := s.b.Delete(ctx, k); err != nil {
			return s.classify(err)
		}
	}
	return nil
}

// Versions implements storage.Backend: the committed versions, those with
// a manifest, from one LIST.
func (s *Store) Versions(ctx context.Context) ([]string, error) {
	prefix := path.Join(storage.ModelsDir, storage.VersionsDir) + "/"
	keys, err := s.b.List(ctx, prefix)
	if err != nil {
		return nil, s.classify(err)
	}
	var ids []string
	for _, k := range keys {
		if id, name, ok := strings.Cut(strings.TrimPrefix(k, prefix), "/"); ok && name == storage.ManifestFile {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// VersionFiles implements storage.Backend: the keys under the version,
// from one LIST; none at all is a version that does not exist.
func (s *Store) VersionFiles(ctx context.Context, id string) ([]string, error) {
	prefix := storage.VersionKey(id) + "/"
	keys, err := s.b.List(ctx, prefix)
	if err != nil {
		return nil, s.classify(err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: %w", storage.VersionKey(id), storage.ErrNotExist)
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = strings.TrimPrefix(k, prefix)
	}
	return names, nil
}

// ReadVersionFile implements storage.Backend.
func (s *Store) ReadVersionFile(ctx context.Context, id, name string, limit int64) ([]byte, error) {
	key := storage.VersionKey(id, name)
	data, _, err := s.b.Get(ctx, key, limit)
	switch {
	case errors.Is(err, storage.ErrNotExist):
		return nil, fmt.Errorf("%s is missing: %w", key, storage.ErrNotExist)
	case errors.Is(err, storage.ErrTooLarge):
		return nil, fmt.Errorf("%s is larger than %d bytes: %w", key, limit, storage.ErrTooLarge)
	}
	return data, s.classify(err)
}

// VersionStamp implements storage.Backend: the version's keys and their
// ETags, one LIST and a HEAD each.
func (s *Store) VersionStamp(ctx context.Context, id string) string {
	keys, err := s.b.List(ctx, storage.VersionKey(id)+"/")
	if err != nil {
		return "error: " + err.Error()
	}
	var sb strings.Builder
	for _, k := range keys {
		etag, err := s.b.Head(ctx, k)
		if err != nil {
			etag = "error: " + err.Error()
		}
		sb.WriteString(k + " " + etag + "\n")
	}
	return sb.String()
}

// AppendHistory implements storage.Backend: one object under key, created
// only if there is none (a record is never replaced).
func (s *Store) AppendHistory(ctx context.Context, key string, line []byte) error {
	k := path.Join(storage.ModelsDir, historyDir, key+".json")
	if _, err := s.b.Put(ctx, k, append(line[:len(line):len(line)], '\n'), storage.Condition{IfNoneMatch: true}); err != nil {
		return s.classify(err)
	}
	return nil
}

// ReadHistory implements storage.Backend: every history object in key
// order, one LIST and a GET each.
func (s *Store) ReadHistory(ctx context.Context, limit int) ([]storage.HistoryEntry, error) {
	keys, err := s.b.List(ctx, path.Join(storage.ModelsDir, historyDir)+"/")
	if err != nil {
		return nil, s.classify(err)
	}
	entries := make([]storage.HistoryEntry, 0, len(keys))
	for _, k := range keys {
		data, _, err := s.b.Get(ctx, k, int64(limit)+1)
		switch {
		case errors.Is(err, storage.ErrNotExist):
			continue
		case errors.Is(err, storage.ErrTooLarge):
			entries = append(entries, storage.HistoryEntry{Name: k, Err: fmt.Errorf("larger than %d bytes", limit)})
			continue
		case err != nil:
			return nil, s.classify(err)
		}
		entries = append(entries, storage.HistoryEntry{Name: k, Data: bytes.TrimSuffix(data, []byte("\n"))})
	}
	return entries, nil
}
