package mlservice

import (
	"context"

	"github.com/mlservice/mlservice/storage"
	dirstore "github.com/mlservice/mlservice/storage/dir"
	"github.com/mlservice/mlservice/storage/objstore"
)

// Artifacts is where versions, CURRENT and the history live: a local
// directory (DirArtifacts), an object store (BucketArtifacts), or any other
// storage.Backend (NewArtifacts). Its methods are Promote, Rollback,
// PromoteVersion, Unpin, Versions, List, ReadHistory, ReadVersion,
// CurrentVersion, TrainedAlready and OpenStore, one implementation each over
// the backend, with the same guarantees on every kind: what the backend
// offers (an exclusive lock, a compare-and-swap of CURRENT, a version
// committed whole) is what the protocol needs, and nothing here asks which
// kind it has. On a directory the package-level functions of the same
// names are these methods.
//
// Package github.com/mlservice/mlservice/artifactsurl opens either kind
// from a URL (s3://BUCKET/PREFIX?endpoint=…, or a directory path), linking
// the S3 SDK only into programs that import it.
type Artifacts struct {
	b   storage.Backend
	dir string // the directory DirArtifacts was given; "" for other backends
}

// DirArtifacts returns the artifacts directory dir (see storage/dir: flock,
// fsync and rename). The layout is created by the first Promote.
func DirArtifacts(dir string) *Artifacts { return &Artifacts{b: dirstore.New(dir), dir: dir} }

// BucketArtifacts returns the artifacts stored in b, under the same key
// layout as a directory (see storage/objstore: a version committed by its
// manifest, CURRENT by a conditional PUT). Package storage/s3 provides a
// Bucket for S3 and S3-compatible engines; the engine must honour If-Match
// and If-None-Match on PUT, or racing trainers could both win.
func BucketArtifacts(b storage.Bucket) *Artifacts { return NewArtifacts(objstore.New(b)) }

// NewArtifacts returns the artifacts kept by backend b. storage/backendtest
// is the suite a new backend must pass.
func NewArtifacts(b storage.Backend) *Artifacts { return &Artifacts{b: b} }

// String names the artifacts: the directory, or s3://BUCKET/PREFIX.
func (a *Artifacts) String() string { return a.b.String() }

// Dir returns the directory, or "" when the artifacts are not a directory.
func (a *Artifacts) Dir() string { return a.dir }

// LockWaitNotice is how long a writer waits for an artifacts directory's
// lock before it calls the function WithLockWait gave it.
const LockWaitNotice = dirstore.LockWaitNotice

// WithLockWait returns a copy of ctx carrying notify. Promote and Rollback on
// an artifacts directory call notify once, with the lock file's path, when
// they have waited LockWaitNotice for the lock another writer holds; then
// they go on waiting as long as ctx allows. A trainer uses it to say why it
// seems stuck. An object store takes no lock and never calls it.
func WithLockWait(ctx context.Context, notify func(lockPath string)) context.Context {
	return dirstore.WithLockWait(ctx, notify)
}

// writer is a writer of the artifacts, holding the backend's lock if it has
// one.
type writer struct {
	unlock  func()
	skipped []string // history lines recover skipped (HistoryLog.Skipped)
}

// begin takes the backend's lock, waiting for other writers as long as ctx
// allows. Under an exclusive lock it also records a decision for every
// version a crashed writer left without one (see recover); without one that
// could be another writer's version in progress, so nothing is tidied.
func (a *Artifacts) begin(ctx context.Context) (*writer, error) {
	unlock, exclusive, err := a.b.Lock(ctx)
	if err != nil {
		return nil, err
	}
	w := &writer{unlock: unlock}
	if exclusive {
		if w.skipped, err = a.recover(ctx); err != nil {
			unlock()
			return nil, err
		}
	}
	return w, nil
}

// CurrentVersion returns the id CURRENT names, or ErrNoCurrent.
func (a *Artifacts) CurrentVersion(ctx context.Context) (string, error) {
	c, _, err := a.readCurrent(ctx)
	return c.VersionID, err
}

// CurrentState returns what CURRENT says (its version and pin), or
// ErrNoCurrent.
func (a *Artifacts) CurrentState(ctx context.Context) (Current, error) {
	c, _, err := a.readCurrent(ctx)
	return c, err
}

// CurrentVersion returns the id CURRENT names under artifactsDir, or
// ErrNoCurrent.
func CurrentVersion(artifactsDir string) (string, error) {
	return DirArtifacts(artifactsDir).CurrentVersion(context.Background())
}

// CurrentState returns what CURRENT says under artifactsDir, or
// ErrNoCurrent.
func CurrentState(artifactsDir string) (Current, error) {
	return DirArtifacts(artifactsDir).CurrentState(context.Background())
}
