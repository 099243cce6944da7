//go:build unix

package mlservice_test

// Tests of the object-store backend against a real SeaweedFS (`weed server
// -s3` on loopback, see internal/weedtest). They skip, loudly, only when the
// weed binary cannot be built.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/storage"
)

// The engine must honour conditional PUTs, or racing trainers could both
// win: this pins the behaviour the protocol relies on.
func TestS3ConditionalPut(t *testing.T) {
	start := time.Now()
	srv := mlkit.Weed(t)
	_, b := mlkit.OpenS3(t, mlkit.S3URL(t, srv))
	t.Logf("engine up and writable in %v", time.Since(start).Round(time.Millisecond))
	ctx := context.Background()
	e1, err := b.Put(ctx, "k", []byte("one"), storage.Condition{IfNoneMatch: true})
	if err != nil {
		t.Fatalf("create with If-None-Match: %v", err)
	}
	if _, err := b.Put(ctx, "k", []byte("two"), storage.Condition{IfNoneMatch: true}); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Fatalf("second create with If-None-Match: %v, want precondition failed", err)
	}
	e2, err := b.Put(ctx, "k", []byte("two"), storage.Condition{IfMatch: e1})
	if err != nil {
		t.Fatalf("replace with If-Match on the current ETag: %v", err)
	}
	if _, err := b.Put(ctx, "k", []byte("three"), storage.Condition{IfMatch: e1}); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Fatalf("replace with a stale If-Match: %v, want precondition failed", err)
	}
	data, etag, err := b.Get(ctx, "k", 100)
	if err != nil || string(data) != "two" || etag != e2 {
		t.Fatalf("get = %q %q %v, want \"two\" %q", data, etag, err, e2)
	}
	if h, err := b.Head(ctx, "k"); err != nil || h != e2 {
		t.Fatalf("head = %q %v, want %q", h, err, e2)
	}
	if _, err := b.Head(ctx, "missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("head of a missing key: %v", err)
	}
	if _, _, err := b.Get(ctx, "k", 2); !errors.Is(err, storage.ErrTooLarge) {
		t.Fatalf("get over the limit: %v", err)
	}
	// Racing creates and swaps: exactly one of each round wins. Every
	// write has content of its own: an ETag is the content's MD5, so a
	// swap back to earlier content would make an old ETag match again
	// (a compare-and-swap on the value, which is what CURRENT needs).
	for round := range 4 {
		key := fmt.Sprintf("race-%d", round)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				if _, err := b.Put(ctx, key, []byte{byte(i)}, storage.Condition{IfNoneMatch: true}); err == nil {
					wins.Add(1)
				} else if !errors.Is(err, storage.ErrPreconditionFailed) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d of 8 racing If-None-Match creates won", round, wins.Load())
		}
		_, etag, err := b.Get(ctx, key, 10)
		if err != nil {
			t.Fatal(err)
		}
		wins.Store(0)
		for i := range 8 {
			wg.Go(func() {
				if _, err := b.Put(ctx, key, []byte{byte(100 + i)}, storage.Condition{IfMatch: etag}); err == nil {
					wins.Add(1)
				} else if !errors.Is(err, storage.ErrPreconditionFailed) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d of 8 racing If-Match swaps won", round, wins.Load())
		}
	}
	t.Logf("4 rounds of 8 racing creates and 8 racing swaps: one winner each, in %v in all", time.Since(start).Round(time.Millisecond))
}
