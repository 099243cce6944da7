// Package storagetest is the conformance suite every storage.Bucket passes:
// the operations and the conditional writes the promotion protocol relies
// on, checked the same way against the in-memory bucket and a real
// S3-compatible engine.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/storage"
)

// Run runs the suite. newBucket returns an empty bucket for each subtest
// (a fresh prefix on a shared engine will do).
func Run(t *testing.T, newBucket func(t *testing.T) storage.Bucket) {
	testkit.RunCases(t, 30*time.Second, newBucket,
		testMissing, testPutGetHead, testLimit, testIfNoneMatch, testIfMatch,
		testIfMatchMissing, testRacingCompareAndSwap, testRacingCreate, testDelete, testList)
}

func mustPut(t *testing.T, ctx context.Context, b storage.Bucket, key string, data []byte, cond storage.Condition) string {
	t.Helper()
	etag, err := b.Put(ctx, key, data, cond)
	if err != nil {
		t.Fatalf("Put(%q, %+v): %v", key, cond, err)
	}
	if etag == "" {
		t.Fatalf("Put(%q) returned an empty ETag", key)
	}
	return etag
}

// wantObject checks that key holds data with ETag etag (any ETag if empty).
func wantObject(t *testing.T, ctx context.Context, b storage.Bucket, key string, data []byte, etag string) {
	t.Helper()
	got, gotTag, err := b.Get(ctx, key, 1<<20)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("Get(%q) = %q, want %q", key, got, data)
	}
	if etag != "" && gotTag != etag {
		t.Fatalf("Get(%q) ETag = %s, want %s", key, gotTag, etag)
	}
}

func testMissing(t *testing.T, ctx context.Context, b storage.Bucket) {
	if _, _, err := b.Get(ctx, "nothing/here", 10); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("Get of a missing key: %v, want ErrNotExist", err)
	}
	if _, err := b.Head(ctx, "nothing/here"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("Head of a missing key: %v, want ErrNotExist", err)
	}
	if b.String() == "" {
		t.Fatal("String() is empty: messages would not name the bucket")
	}
}

func testPutGetHead(t *testing.T, ctx context.Context, b storage.Bucket) {
	data := []byte(`{"a":1}`)
	etag := mustPut(t, ctx, b, "v/1/model.json", data, storage.Condition{})
	wantObject(t, ctx, b, "v/1/model.json", data, etag)
	if head, err := b.Head(ctx, "v/1/model.json"); err != nil || head != etag {
		t.Fatalf("Head = %q, %v; want %s", head, err, etag)
	}
	// An unconditional Put replaces; other bytes get another ETag.
	etag2 := mustPut(t, ctx, b, "v/1/model.json", []byte(`{"a":2}`), storage.Condition{})
	if etag2 == etag {
		t.Fatalf("two different objects share ETag %s", etag)
	}
	wantObject(t, ctx, b, "v/1/model.json", []byte(`{"a":2}`), etag2)
	// The empty object is an object.
	mustPut(t, ctx, b, "empty", nil, storage.Condition{})
	wantObject(t, ctx, b, "empty", nil, "")
	// What Get returns is the caller's: changing it changes nothing stored.
	got, _, err := b.Get(ctx, "v/1/model.json", 100)
	if err != nil {
		t.Fatal(err)
	}
	got[0] = 'X'
	wantObject(t, ctx, b, "v/1/model.json", []byte(`{"a":2}`), etag2)
}

func testLimit(t *testing.T, ctx context.Context, b storage.Bucket) {
	mustPut(t, ctx, b, "big", bytes.Repeat([]byte("x"), 100), storage.Condition{})
	if _, _, err := b.Get(ctx, "big", 99); !errors.Is(err, storage.ErrTooLarge) {
		t.Fatalf("Get over the limit: %v, want ErrTooLarge", err)
	}
	if data, _, err := b.Get(ctx, "big", 100); err != nil || len(data) != 100 {
		t.Fatalf("Get at exactly the limit: %d bytes, %v", len(data), err)
	}
}

func testIfNoneMatch(t *testing.T, ctx context.Context, b storage.Bucket) {
	create := storage.Condition{IfNoneMatch: true}
	etag := mustPut(t, ctx, b, "CURRENT", []byte("a"), create)
	if _, err := b.Put(ctx, "CURRENT", []byte("b"), create); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Fatalf("second create: %v, want ErrPreconditionFailed", err)
	}
	wantObject(t, ctx, b, "CURRENT", []byte("a"), etag)
}

func testIfMatch(t *testing.T, ctx context.Context, b storage.Bucket) {
	etag := mustPut(t, ctx, b, "CURRENT", []byte("a"), storage.Condition{})
	etag2 := mustPut(t, ctx, b, "CURRENT", []byte("b"), storage.Condition{IfMatch: etag})
	wantObject(t, ctx, b, "CURRENT", []byte("b"), etag2)
	// The ETag it replaced is stale now.
	if _, err := b.Put(ctx, "CURRENT", []byte("c"), storage.Condition{IfMatch: etag}); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Fatalf("Put with a stale ETag: %v, want ErrPreconditionFailed", err)
	}
	wantObject(t, ctx, b, "CURRENT", []byte("b"), etag2)
}

// testIfMatchMissing: engines answer a compare-and-swap on a missing key
// with 412 or 404; either way nothing may be created.
func testIfMatchMissing(t *testing.T, ctx context.Context, b storage.Bucket) {
	etag := mustPut(t, ctx, b, "other", []byte("a"), storage.Condition{})
	_, err := b.Put(ctx, "CURRENT", []byte("a"), storage.Condition{IfMatch: etag})
	if !errors.Is(err, storage.ErrPreconditionFailed) && !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("IfMatch on a missing key: %v, want ErrPreconditionFailed or ErrNotExist", err)
	}
	if _, err := b.Head(ctx, "CURRENT"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("a refused IfMatch created the object: Head = %v", err)
	}
}

// testRacingCompareAndSwap: writers that read the same ETag race to replace it; one
// wins, the others are told, and the object is the winner's.
func testRacingCompareAndSwap(t *testing.T, ctx context.Context, b storage.Bucket) {
	etag := mustPut(t, ctx, b, "CURRENT", []byte("start"), storage.Condition{})
	won := race(t, 8, func(i int) error {
		_, err := b.Put(ctx, "CURRENT", []byte(fmt.Sprintf("writer %d", i)), storage.Condition{IfMatch: etag})
		return err
	})
	wantObject(t, ctx, b, "CURRENT", []byte(fmt.Sprintf("writer %d", won)), "")
}

func testRacingCreate(t *testing.T, ctx context.Context, b storage.Bucket) {
	won := race(t, 8, func(i int) error {
		_, err := b.Put(ctx, "history/0001", []byte(fmt.Sprintf("writer %d", i)), storage.Condition{IfNoneMatch: true})
		return err
	})
	wantObject(t, ctx, b, "history/0001", []byte(fmt.Sprintf("writer %d", won)), "")
}

// race runs put for n writers at once and returns the one that succeeded;
// every other must have failed with ErrPreconditionFailed.
func race(t *testing.T, n int, put func(i int) error) int {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = put(i)
		}()
	}
	close(start)
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("writers %d and %d both won a conditional put", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, storage.ErrPreconditionFailed):
			t.Fatalf("writer %d: %v, want success or ErrPreconditionFailed", i, err)
		}
	}
	if won < 0 {
		t.Fatalf("no writer of %d won: %v", n, errs)
	}
	return won
}

func testDelete(t *testing.T, ctx context.Context, b storage.Bucket) {
	mustPut(t, ctx, b, "v/2/model.json", []byte("m"), storage.Condition{})
	if err := b.Delete(ctx, "v/2/model.json"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Get(ctx, "v/2/model.json", 10); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("Get after Delete: %v, want ErrNotExist", err)
	}
	if err := b.Delete(ctx, "v/2/model.json"); err != nil {
		t.Fatalf("Delete of a missing key: %v, want nil", err)
	}
	// After a delete the key can be created again.
	mustPut(t, ctx, b, "v/2/model.json", []byte("n"), storage.Condition{IfNoneMatch: true})
}

func testList(t *testing.T, ctx context.Context, b storage.Bucket) {
	if keys, err := b.List(ctx, ""); err != nil || len(keys) != 0 {
		t.Fatalf("List of an empty bucket = %q, %v", keys, err)
	}
	want := []string{"versions/a/manifest.json", "versions/a/model.json", "versions/b/model.json"}
	for _, k := range []string{"versions/b/model.json", "CURRENT", "versions/a/model.json", "versionsX", "versions/a/manifest.json"} {
		mustPut(t, ctx, b, k, []byte(k), storage.Condition{})
	}
	keys, err := b.List(ctx, "versions/")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("List(versions/) = %q, want %q (sorted, nested keys included, relative to the bucket's prefix)", keys, want)
	}
	all, err := b.List(ctx, "")
	if err != nil || len(all) != 5 || !slices.IsSorted(all) {
		t.Fatalf("List(\"\") = %q, %v; want the 5 keys sorted", all, err)
	}
}
