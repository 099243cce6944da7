// Package memory is a storage.Bucket held in a process's memory: objects,
// ETags and the conditional Put that the promotion protocol commits with,
// as an S3-compatible engine gives them. It makes the object-store protocol
// testable in milliseconds, and serves a program that wants the protocol
// without an engine (nothing survives the process).
package memory

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mlservice/mlservice/storage"
)

var _ storage.Bucket = (*Bucket)(nil)

// Bucket is an in-memory object store. The zero value is not usable; call New.
type Bucket struct {
	name string

	// guards objects
	mu      sync.Mutex
	objects map[string]object
}

type object struct {
	data []byte
	etag string
}

// New returns an empty bucket; name is what String reports, for messages.
func New(name string) *Bucket {
	return &Bucket{name: "mem://" + name + "/", objects: make(map[string]object)}
}

// etag is S3's for a single-part upload: the quoted MD5 of the bytes, so two
// puts of the same bytes have the same ETag, as on a real engine.
func etag(data []byte) string {
	sum := md5.Sum(data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// Get implements storage.Bucket.
func (b *Bucket) Get(ctx context.Context, key string, limit int64) ([]byte, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	b.mu.Lock()
	o, ok := b.objects[key]
	b.mu.Unlock()
	if !ok {
		return nil, "", fmt.Errorf("get %s%s: %w", b.name, key, storage.ErrNotExist)
	}
	if int64(len(o.data)) > limit {
		return nil, "", fmt.Errorf("get %s: %d bytes, the limit is %d: %w", key, len(o.data), limit, storage.ErrTooLarge)
	}
	return slices.Clone(o.data), o.etag, nil
}

// Head implements storage.Bucket.
func (b *Bucket) Head(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	b.mu.Lock()
	o, ok := b.objects[key]
	b.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("head %s%s: %w", b.name, key, storage.ErrNotExist)
	}
	return o.etag, nil
}

// Put implements storage.Bucket. The condition is checked and the object
// replaced under one lock: the compare-and-swap S3 does per key.
func (b *Bucket) Put(ctx context.Context, key string, data []byte, cond storage.Condition) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	o := object{data: slices.Clone(data), etag: etag(data)}
	b.mu.Lock()
	defer b.mu.Unlock()
	old, exists := b.objects[key]
	switch {
	case cond.IfNoneMatch && exists:
		return "", fmt.Errorf("put %s%s: exists: %w", b.name, key, storage.ErrPreconditionFailed)
	case cond.IfMatch != "" && !exists:
		return "", fmt.Errorf("put %s%s: no object to match %s: %w", b.name, key, cond.IfMatch, storage.ErrPreconditionFailed)
	case cond.IfMatch != "" && old.etag != cond.IfMatch:
		return "", fmt.Errorf("put %s%s: ETag is %s, not %s: %w", b.name, key, old.etag, cond.IfMatch, storage.ErrPreconditionFailed)
	}
	b.objects[key] = o
	return o.etag, nil
}

// Delete implements storage.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.objects, key)
	b.mu.Unlock()
	return nil
}

// List implements storage.Bucket.
func (b *Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	var keys []string
	for k := range b.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	b.mu.Unlock()
	slices.Sort(keys)
	return keys, nil
}

// String implements storage.Bucket.
func (b *Bucket) String() string { return b.name }
