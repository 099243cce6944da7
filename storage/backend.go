package storage

import (
	"context"
	"errors"
	"path"
)

// Backend is where one set of artifacts lives: CURRENT, the versions and
// the history of decisions. It is the seam between mlservice's promotion
// protocol, which decides what to write, and a kind of storage, which knows
// how to write it durably. Two implementations exist, each in its own
// package: storage/dir (a local directory: flock, fsync, rename) and
// storage/objstore (any Bucket: conditional PUTs, a manifest as the commit).
// The root package talks to this interface only and never asks which one it
// has; the differences are properties stated here: whether Lock excludes,
// what a change stamp is worth, and which errors mean "not reachable".
//
// Keys and names in errors are slash-separated and relative to the
// artifacts (models/CURRENT, models/versions/ID/model.json), never a host
// path. Every method is safe for concurrent use.
//
// backendtest.Run is the conformance suite every implementation passes.
type Backend interface {
	// String names the artifacts for messages (a directory as given,
	// s3://BUCKET/PREFIX), without credentials.
	String() string

	// Lock keeps other writers out until unlock is called, waiting for the
	// one that holds it as long as ctx allows. exclusive is false for a
	// backend without a lock (an object store): then unlock does nothing,
	// SwapCurrent alone orders writers, and a writer must not tidy up what
	// may be another writer's work in progress.
	Lock(ctx context.Context) (unlock func(), exclusive bool, err error)

	// ReadCurrent returns CURRENT's bytes and its tag, the token
	// SwapCurrent compares. A missing CURRENT is an error matching
	// ErrNotExist, with tag "". One larger than limit bytes is ErrTooLarge,
	// and its tag is returned all the same, so that a writer can replace
	// it.
	ReadCurrent(ctx context.Context, limit int64) (data []byte, tag string, err error)
	// StatCurrent returns CURRENT's change stamp without reading it: the
	// cheap check a following reader makes many times a second. A missing
	// CURRENT is an error matching ErrNotExist; any other error means the
	// artifacts cannot be looked at (a missing directory, an unreachable
	// store) and names why.
	StatCurrent(ctx context.Context) (Stamp, error)
	// SwapCurrent replaces CURRENT with data if its tag is still tag, or
	// creates it if tag is "" and there is none: a compare-and-swap, atomic
	// against every writer that holds Lock (and against every writer, on a
	// backend whose Lock is not exclusive). It returns
	// ErrPreconditionFailed, having written nothing, when CURRENT changed.
	// After any other error CURRENT may or may not have been replaced.
	// Readers see the old CURRENT or the new one, whole.
	SwapCurrent(ctx context.Context, data []byte, tag string) error

	// WriteVersion publishes version id: files, then manifest (its
	// ManifestFile, the commit) last. Until the commit no listing shows
	// the version and no read finds it complete; after it, all of it is
	// durable. Writing a version again replaces it (a writer whose
	// decision changed before any reader was told of the version).
	WriteVersion(ctx context.Context, id string, files map[string][]byte, manifest []byte) error
	// RemoveVersion takes back a version its writer published but had not
	// decided about, commit first, so that no reader sees it half-removed.
	RemoveVersion(ctx context.Context, id string) error
	// Versions returns the names of the published versions, sorted. A
	// name may not be a valid version id (the caller checks), and a
	// version it names may still fail to read.
	Versions(ctx context.Context) ([]string, error)
	// VersionFiles returns the names of the files version id holds, its
	// manifest included. A version that does not exist is an error
	// matching ErrNotExist.
	VersionFiles(ctx context.Context, id string) ([]string, error)
	// ReadVersionFile returns file name of version id. A missing file
	// matches ErrNotExist, one over limit bytes ErrTooLarge.
	ReadVersionFile(ctx context.Context, id, name string, limit int64) ([]byte, error)
	// VersionStamp sums up version id's files cheaply (names, sizes and
	// times, or ETags), so that a repair of any of them changes it. A
	// failure gives a stamp of its own.
	VersionStamp(ctx context.Context, id string) string

	// AppendHistory records one decision, line (one JSON record without a
	// line end, at most HistoryLineLimit bytes). key is unique to the
	// record and sorts by its time; a backend without append keeps each
	// record under its key.
	AppendHistory(ctx context.Context, key string, line []byte) error
	// ReadHistory returns every recorded line, oldest first, at most limit
	// bytes each.
	ReadHistory(ctx context.Context, limit int) ([]HistoryEntry, error)
}

// Stamp is CURRENT's change stamp: a directory's size, modification time
// and inode, an object store's ETag. Different stamps mean CURRENT may have
// changed; equal ones mean it has not only when Settled.
type Stamp struct {
	Value string
	// Settled is false while an equal stamp proves nothing: a file younger
	// than the file system's timestamp granularity, rewritten with the
	// same size into a recycled inode, keeps its stamp. A reader then
	// reads CURRENT itself.
	Settled bool
}

// HistoryEntry is one line of history as stored.
type HistoryEntry struct {
	// Name is where the line is, for a warning about it:
	// "models/history.jsonl line 3", or an object's key.
	Name string
	Data []byte // without its line end
	// Err is set when the line could not be read whole (over the limit).
	Err error
	// Torn is set on a last line without its line end: a crash in the
	// middle of an append leaves one, so if it is not a whole record it
	// is dropped without a warning (the next append cuts it off).
	Torn bool
}

// The layout every backend keeps under its root, with the names errors
// and warnings give.
const (
	ModelsDir    = "models"
	VersionsDir  = "versions"
	CurrentFile  = "CURRENT"
	ManifestFile = "manifest.json" // a version's commit, written last
	// HistoryLineLimit caps one history line, in bytes without its line
	// end.
	HistoryLineLimit = 64 << 10
)

// CurrentKey is CURRENT's key.
var CurrentKey = path.Join(ModelsDir, CurrentFile)

// VersionKey returns the key of a version (no names) or of one of its
// files.
func VersionKey(id string, name ...string) string {
	return path.Join(append([]string{ModelsDir, VersionsDir, id}, name...)...)
}

// ErrUnreachable matches the errors of a backend that could not be reached
// (a network failure, a timeout, a 5xx) as opposed to an answer about what
// is stored. A reader keeps serving what it has, counts them and backs off.
var ErrUnreachable = errors.New("unreachable")

// Unreachable marks err as ErrUnreachable, keeping its text and chain.
func Unreachable(err error) error {
	if err == nil || errors.Is(err, ErrUnreachable) {
		return err
	}
	return &unreachableError{err}
}

type unreachableError struct{ err error }

func (e *unreachableError) Error() string        { return e.err.Error() }
func (e *unreachableError) Unwrap() error        { return e.err }
func (e *unreachableError) Is(target error) bool { return target == ErrUnreachable }
