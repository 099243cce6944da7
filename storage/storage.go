// Package storage is the seam between mlservice's promotion protocol and
// where artifacts are kept. Backend is that seam: one small interface with
// two implementations, storage/dir (a local directory: flock, fsync,
// rename) and storage/objstore (an object store), in the spirit of
// litestream's ReplicaClient. The root package talks to a Backend and never
// asks which.
//
// Bucket is the object store beneath storage/objstore. An object store has
// no rename and no lock, so the protocol runs over the few operations every
// S3-compatible engine offers: get, head, list, delete, and put —
// unconditional, put-if-absent, or compare-and-swap on an ETag. Package
// storage/s3 implements Bucket over aws-sdk-go-v2 and storage/memory in a
// process's memory; the root package imports neither, so programs that only
// use a directory do not link a cloud SDK. Keys are slash-separated and
// relative to the bucket's prefix.
package storage

import (
	"context"
	"errors"
	"io/fs"
)

// Bucket is an object store under one prefix.
type Bucket interface {
	// Get returns the object's bytes and ETag. A missing object is an error
	// matching fs.ErrNotExist; one larger than limit bytes is ErrTooLarge.
	Get(ctx context.Context, key string, limit int64) (data []byte, etag string, err error)
	// Head returns the object's ETag, or an error matching fs.ErrNotExist.
	Head(ctx context.Context, key string) (etag string, err error)
	// Put stores data under key as one object, visible whole or not at all,
	// and returns its new ETag. With a condition it is refused with
	// ErrPreconditionFailed when the condition does not hold; a conditional
	// Put is sent once (never retried), so ErrPreconditionFailed always
	// means this call wrote nothing.
	Put(ctx context.Context, key string, data []byte, cond Condition) (etag string, err error)
	// Delete removes the object; a missing object is not an error. The
	// protocol uses it only to take back a version its own writer stopped
	// before deciding, never on anything a reader may be serving.
	Delete(ctx context.Context, key string) error
	// List returns every key that starts with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// String names the bucket and prefix for messages, without credentials.
	String() string
}

// Condition makes a Put conditional. The zero value is unconditional.
type Condition struct {
	// IfMatch, when set, replaces the object only if its ETag is this one
	// (an HTTP If-Match header).
	IfMatch string
	// IfNoneMatch creates the object only if there is none (If-None-Match: *).
	IfNoneMatch bool
}

var (
	// ErrPreconditionFailed is returned by a conditional Put that did not
	// write: the object changed (If-Match) or exists (If-None-Match).
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrTooLarge is returned by Get for an object over its limit.
	ErrTooLarge = errors.New("object too large")
	// ErrNotExist is fs.ErrNotExist: a missing object matches it.
	ErrNotExist = fs.ErrNotExist
)
