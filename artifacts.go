package mlservice

import (
	"context"
	"fmt"

	"github.com/mlservice/mlservice/storage"
)

// Artifacts is where versions, CURRENT and the history live: a local
// directory (DirArtifacts) or an object store (BucketArtifacts). Its methods
// are Promote, Rollback, Versions, ReadHistory, CurrentVersion,
// TrainedAlready and OpenStore over either kind, with the same guarantees.
// On a directory they are those functions exactly: flock, rename and fsync.
// On an object store a version is committed by writing its manifest last,
// and CURRENT moves by a conditional PUT (see objstore.go).
//
// Package github.com/mlservice/mlservice/artifactsurl opens either kind
// from a URL (s3://BUCKET/PREFIX?endpoint=…, or a directory path), linking
// the S3 SDK only into programs that import it.
type Artifacts struct {
	dir    string           // set for a directory
	bucket *bucketArtifacts // set for an object store
}

// DirArtifacts returns the artifacts directory dir. The layout is created
// by the first Promote.
func DirArtifacts(dir string) *Artifacts { return &Artifacts{dir: dir} }

// BucketArtifacts returns the artifacts stored in b, under the same key
// layout as a directory. Package storage/s3 provides a Bucket for S3 and
// S3-compatible engines; the engine must honour If-Match and
// If-None-Match on PUT, or racing trainers could both win.
func BucketArtifacts(b storage.Bucket) *Artifacts {
	return &Artifacts{bucket: &bucketArtifacts{b: b}}
}

// String names the artifacts: the directory, or s3://BUCKET/PREFIX.
func (a *Artifacts) String() string {
	if a.bucket != nil {
		return a.bucket.b.String()
	}
	return a.dir
}

// Dir returns the directory, or "" for an object store.
func (a *Artifacts) Dir() string { return a.dir }

// Promote is Promote over these artifacts, with the same decision (the
// rule's comparison on the candidate's rows, the schema-change guard) and the
// same files (model.json, metadata.json, schema.json, manifest.json). On an
// object store the version's objects are written, then its manifest, then
// CURRENT by a conditional PUT; a writer that loses the race for CURRENT
// reads it again and decides again (rewriting the version's objects only if
// the comparison changed). As on a directory, a stop (ctx ended) before the
// version is written writes nothing, and one after it is written but before
// CURRENT moves deletes it again, manifest first; if that deletion fails the
// version is listed as interrupted, never as promoted. An error means
// CURRENT does not name the version.
func (a *Artifacts) Promote(ctx context.Context, c *Candidate) (*Decision, error) {
	if a.bucket != nil {
		return a.bucket.promote(ctx, c)
	}
	return Promote(ctx, a.dir, c)
}

// Rollback is Rollback over these artifacts: it pins the version. On an
// object store CURRENT and its pin change in one conditional PUT, so a
// trainer racing it either finishes before (and the rollback replaces its
// promotion) or reads the pin and is rejected.
func (a *Artifacts) Rollback(ctx context.Context, versionID string, opts ...MoveOptions) (*HistoryRecord, error) {
	if a.bucket != nil {
		rec, err := a.bucket.move(ctx, versionID, DecisionRolledBack, moveOptions(opts))
		if err != nil {
			return nil, fmt.Errorf("rollback: %w", err)
		}
		return rec, nil
	}
	return Rollback(ctx, a.dir, versionID, opts...)
}

// Versions is Versions over these artifacts. On an object store a version
// without its manifest (still being written, or its writer died) is not
// listed.
func (a *Artifacts) Versions(ctx context.Context) ([]VersionInfo, error) {
	l, err := a.List(ctx)
	if err != nil {
		return nil, err
	}
	return l.Versions, nil
}

// List is List over these artifacts.
func (a *Artifacts) List(ctx context.Context) (*Listing, error) {
	if a.bucket != nil {
		return a.bucket.list(ctx)
	}
	return List(a.dir)
}

// ReadHistory is ReadHistory over these artifacts: every recorded decision,
// oldest first (on an object store, in key order: by the time CURRENT was
// read for the decision). Objects that are not records are skipped.
func (a *Artifacts) ReadHistory(ctx context.Context) ([]HistoryRecord, error) {
	log, err := a.ReadHistoryLog(ctx)
	if err != nil {
		return nil, err
	}
	return log.Records, nil
}

// ReadHistoryLog is ReadHistoryLog over these artifacts.
func (a *Artifacts) ReadHistoryLog(ctx context.Context) (*HistoryLog, error) {
	if a.bucket != nil {
		return a.bucket.history(ctx)
	}
	return ReadHistoryLog(a.dir)
}

// CurrentVersion returns the id CURRENT names, or ErrNoCurrent.
func (a *Artifacts) CurrentVersion(ctx context.Context) (string, error) {
	c, err := a.CurrentState(ctx)
	return c.VersionID, err
}

// CurrentState returns what CURRENT says (its version and pin), or
// ErrNoCurrent.
func (a *Artifacts) CurrentState(ctx context.Context) (Current, error) {
	if a.bucket != nil {
		c, _, err := a.bucket.readCurrentState(ctx)
		return c, err
	}
	return CurrentState(a.dir)
}

// TrainedAlready is TrainedAlready over these artifacts.
func (a *Artifacts) TrainedAlready(ctx context.Context, ds *Dataset, opts TrainOptions) (*Metadata, error) {
	if a.bucket != nil {
		return a.bucket.trainedAlready(ctx, ds, opts)
	}
	return TrainedAlready(a.dir, ds, opts)
}

// OpenStore is OpenStore over these artifacts. On an object store each
// refresh is one HEAD of CURRENT, and a GET of it and the version's objects
// only when its ETag changed. When the store cannot be reached the Store
// keeps serving what it has, says so in Status (LastError, StoreErrors),
// backs off up to RetryInterval, and follows again once it answers.
func (a *Artifacts) OpenStore(opts StoreOptions) (*Store, error) {
	if a.bucket != nil {
		return openBucketStore(a.bucket, opts)
	}
	return OpenStore(a.dir, opts)
}
