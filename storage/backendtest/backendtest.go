// Package backendtest is the conformance suite every storage.Backend
// passes: the contract the promotion protocol relies on, checked the same
// way against a directory, an object store in memory and a real
// S3-compatible engine. The root package's TestBackendConformance checks
// the protocol built on it (promote, serve, race, roll back, pin) on the
// same backends.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/storage"
)

// Run runs the suite. newBackend returns empty artifacts for each subtest.
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend) {
	testkit.RunCases(t, 60*time.Second, newBackend,
		testEmpty, testCompareAndSwap, testTooLargeCurrent, testStampSeesChange,
		testRacingWritersRedecide, testLock, testVersions, testRewriteVersion,
		testRemoveVersion, testHistory, testHistoryLineOverLimit)
}

// ids are valid version ids, in time order.
var ids = []string{"20240101T000000.000000Z-0000000a", "20240101T000001.000000Z-0000000b", "20240102T000000.000000Z-0000000c"}

func lock(t *testing.T, ctx context.Context, b storage.Backend) (unlock func(), exclusive bool) {
	t.Helper()
	unlock, exclusive, err := b.Lock(ctx)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	return unlock, exclusive
}

// wantCurrent fails the test unless CURRENT holds want.
func wantCurrent(t *testing.T, ctx context.Context, b storage.Backend, want string) {
	t.Helper()
	if data, _ := readCurrent(t, ctx, b); string(data) != want {
		t.Fatalf("CURRENT = %q, want %q", data, want)
	}
}

func readCurrent(t *testing.T, ctx context.Context, b storage.Backend) ([]byte, string) {
	t.Helper()
	data, tag, err := b.ReadCurrent(ctx, 1<<10)
	if err != nil {
		t.Fatalf("ReadCurrent: %v", err)
	}
	if tag == "" {
		t.Fatal("ReadCurrent of an existing CURRENT gave no tag")
	}
	return data, tag
}

func swap(t *testing.T, ctx context.Context, b storage.Backend, data, tag string) {
	t.Helper()
	if err := b.SwapCurrent(ctx, []byte(data), tag); err != nil {
		t.Fatalf("SwapCurrent(%q, tag %q): %v", data, tag, err)
	}
}

func testEmpty(t *testing.T, ctx context.Context, b storage.Backend) {
	if b.String() == "" {
		t.Error("String() is empty: messages would not name the artifacts")
	}
	if data, tag, err := b.ReadCurrent(ctx, 64); !errors.Is(err, storage.ErrNotExist) || tag != "" || data != nil {
		t.Errorf("ReadCurrent of empty artifacts = %q, %q, %v; want ErrNotExist and no tag", data, tag, err)
	}
	if _, err := b.StatCurrent(ctx); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("StatCurrent of empty artifacts: %v, want ErrNotExist", err)
	}
	if vs, err := b.Versions(ctx); err != nil || len(vs) != 0 {
		t.Errorf("Versions of empty artifacts = %v, %v", vs, err)
	}
	if _, err := b.VersionFiles(ctx, ids[0]); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("VersionFiles of a missing version: %v, want ErrNotExist", err)
	}
	_, err := b.ReadVersionFile(ctx, ids[0], "model.json", 1<<10)
	if !errors.Is(err, storage.ErrNotExist) || !strings.Contains(err.Error(), storage.VersionKey(ids[0], "model.json")) {
		t.Errorf("ReadVersionFile of a missing version: %v, want ErrNotExist naming the key", err)
	}
	if h, err := b.ReadHistory(ctx, storage.HistoryLineLimit); err != nil || len(h) != 0 {
		t.Errorf("ReadHistory of empty artifacts = %v, %v", h, err)
	}
}

// testCompareAndSwap: create if absent, replace on the tag read, refuse a
// stale tag with nothing written; tags change with the content.
func testCompareAndSwap(t *testing.T, ctx context.Context, b storage.Backend) {
	unlock, _ := lock(t, ctx, b)
	defer unlock()
	swap(t, ctx, b, "one\n", "")
	data, tag1 := readCurrent(t, ctx, b)
	if string(data) != "one\n" {
		t.Fatalf("CURRENT = %q after creating it", data)
	}
	if err := b.SwapCurrent(ctx, []byte("two\n"), ""); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Fatalf("creating an existing CURRENT: %v, want ErrPreconditionFailed", err)
	}
	swap(t, ctx, b, "two\n", tag1)
	data, tag2 := readCurrent(t, ctx, b)
	if string(data) != "two\n" || tag2 == tag1 {
		t.Fatalf("after the swap CURRENT = %q with tag %q (was %q): the tag must change with the content", data, tag2, tag1)
	}
	if err := b.SwapCurrent(ctx, []byte("three\n"), tag1); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Fatalf("a swap on a stale tag: %v, want ErrPreconditionFailed", err)
	}
	if data, tag := readCurrent(t, ctx, b); string(data) != "two\n" || tag != tag2 {
		t.Fatalf("a refused swap changed CURRENT to %q, tag %q", data, tag)
	}
	// The same content written again still swaps on its tag.
	swap(t, ctx, b, "two\n", tag2)
	wantCurrent(t, ctx, b, "two\n")
}

// testTooLargeCurrent: a CURRENT over the reader's limit is refused, and
// its tag still lets a writer replace it.
func testTooLargeCurrent(t *testing.T, ctx context.Context, b storage.Backend) {
	unlock, _ := lock(t, ctx, b)
	defer unlock()
	swap(t, ctx, b, strings.Repeat("x", 200), "")
	_, tag, err := b.ReadCurrent(ctx, 64)
	if !errors.Is(err, storage.ErrTooLarge) || !strings.Contains(err.Error(), storage.CurrentKey) {
		t.Fatalf("ReadCurrent over the limit: %v, want ErrTooLarge naming %s", err, storage.CurrentKey)
	}
	if tag == "" {
		t.Fatal("ReadCurrent over the limit gave no tag: nothing could replace that CURRENT")
	}
	swap(t, ctx, b, "small\n", tag)
	wantCurrent(t, ctx, b, "small\n")
}

// testStampSeesChange: a follower that trusts an equal, settled stamp must
// never miss a change.
func testStampSeesChange(t *testing.T, ctx context.Context, b storage.Backend) {
	unlock, _ := lock(t, ctx, b)
	defer unlock()
	swap(t, ctx, b, "one\n", "")
	before, err := b.StatCurrent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, tag := readCurrent(t, ctx, b)
	swap(t, ctx, b, "two\n", tag) // the same size
	after, err := b.StatCurrent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Value == before.Value && (before.Settled || after.Settled) {
		t.Fatalf("CURRENT changed, its stamp %+v stayed %+v and claims to be settled", after, before)
	}
}

// testRacingWritersRedecide: writers that each read CURRENT, decide and swap, and
// decide again when the swap is refused, lose no update: each increments
// a counter in CURRENT, and the count comes out exact. On a backend whose
// Lock excludes, the lock orders them; on one without, the swap does.
func testRacingWritersRedecide(t *testing.T, ctx context.Context, b storage.Backend) {
	const writers, rounds = 6, 5
	var lost, holders, overlaps atomic.Int64
	var exclusive atomic.Bool
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range rounds {
				unlock, excl, err := b.Lock(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				exclusive.Store(excl)
				if n := holders.Add(1); excl && n > 1 {
					overlaps.Add(1)
				}
				for {
					n := 0
					data, tag, err := b.ReadCurrent(ctx, 64)
					if err == nil {
						n, err = strconv.Atoi(strings.TrimSpace(string(data)))
					} else if errors.Is(err, storage.ErrNotExist) {
						err = nil
					}
					if err != nil {
						t.Error(err)
						break
					}
					time.Sleep(time.Millisecond) // let the others read the same CURRENT
					err = b.SwapCurrent(ctx, []byte(strconv.Itoa(n+1)+"\n"), tag)
					if errors.Is(err, storage.ErrPreconditionFailed) {
						lost.Add(1) // decide again
						continue
					}
					if err != nil {
						t.Error(err)
					}
					break
				}
				holders.Add(-1)
				unlock()
			}
		})
	}
	wg.Wait()
	data, _ := readCurrent(t, ctx, b)
	if got := strings.TrimSpace(string(data)); got != strconv.Itoa(writers*rounds) {
		t.Fatalf("after %d increments by racing writers CURRENT = %s: updates were lost", writers*rounds, got)
	}
	if overlaps.Load() != 0 {
		t.Errorf("an exclusive lock was held by two writers at once %d times", overlaps.Load())
	}
	if !exclusive.Load() && lost.Load() == 0 {
		t.Error("no swap was refused: the writers did not race, so deciding again went untested")
	}
	t.Logf("%d swaps refused and decided again", lost.Load())
}

func testLock(t *testing.T, ctx context.Context, b storage.Backend) {
	unlock, exclusive := lock(t, ctx, b)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	second, _, err := b.Lock(short)
	if exclusive {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a second Lock while an exclusive one is held: %v, want it to wait out its context", err)
		}
	} else if err != nil {
		t.Fatalf("Lock of a backend without a lock: %v", err)
	} else {
		second()
	}
	unlock()
	again, _, err := b.Lock(short)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	again()
}

func versionFiles(tag string) (map[string][]byte, []byte) {
	files := map[string][]byte{
		"metadata.json": []byte(`{"tag":"` + tag + `"}` + "\n"),
		"model.json":    []byte(`{"w":[1,2,3]}` + "\n"),
		"schema.json":   []byte(`{}`),
	}
	return files, []byte(`{"files":"` + tag + `"}` + "\n")
}

// wantVersion checks that version id holds files and manifest, read back
// one by one.
func wantVersion(t *testing.T, ctx context.Context, b storage.Backend, id string, files map[string][]byte, manifest []byte) {
	t.Helper()
	names, err := b.VersionFiles(ctx, id)
	if err != nil {
		t.Fatalf("VersionFiles(%s): %v", id, err)
	}
	slices.Sort(names)
	want := append(slices.Sorted(maps.Keys(files)), storage.ManifestFile)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("VersionFiles(%s) = %v, want %v", id, names, want)
	}
	all := maps.Clone(files)
	all[storage.ManifestFile] = manifest
	for name, data := range all {
		got, err := b.ReadVersionFile(ctx, id, name, 1<<10)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("ReadVersionFile(%s, %s) = %q, %v; want %q", id, name, got, err, data)
		}
	}
}

func testVersions(t *testing.T, ctx context.Context, b storage.Backend) {
	unlock, _ := lock(t, ctx, b)
	defer unlock()
	for i, id := range []string{ids[1], ids[0]} { // out of order: Versions sorts
		files, manifest := versionFiles(strconv.Itoa(i))
		if err := b.WriteVersion(ctx, id, files, manifest); err != nil {
			t.Fatalf("WriteVersion(%s): %v", id, err)
		}
		wantVersion(t, ctx, b, id, files, manifest)
	}
	if vs, err := b.Versions(ctx); err != nil || !slices.Equal(vs, ids[:2]) {
		t.Fatalf("Versions = %v, %v; want %v", vs, err, ids[:2])
	}
	_, err := b.ReadVersionFile(ctx, ids[0], "metadata.json", 5)
	if !errors.Is(err, storage.ErrTooLarge) || !strings.Contains(err.Error(), storage.VersionKey(ids[0], "metadata.json")) {
		t.Errorf("ReadVersionFile over the limit: %v, want ErrTooLarge naming the key", err)
	}
	_, err = b.ReadVersionFile(ctx, ids[0], "other.json", 1<<10)
	if !errors.Is(err, storage.ErrNotExist) || !strings.Contains(err.Error(), storage.VersionKey(ids[0], "other.json")) {
		t.Errorf("ReadVersionFile of a missing file: %v, want ErrNotExist naming the key", err)
	}
	if _, err := b.VersionFiles(ctx, ids[2]); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("VersionFiles of a missing version: %v", err)
	}
}

// testRewriteVersion: a version written again holds the new files only,
// and its stamp changed.
func testRewriteVersion(t *testing.T, ctx context.Context, b storage.Backend) {
	unlock, _ := lock(t, ctx, b)
	defer unlock()
	files, manifest := versionFiles("first")
	if err := b.WriteVersion(ctx, ids[0], files, manifest); err != nil {
		t.Fatal(err)
	}
	stamp := b.VersionStamp(ctx, ids[0])
	if stamp == "" || stamp != b.VersionStamp(ctx, ids[0]) {
		t.Fatalf("VersionStamp of an unchanged version changes: %q", stamp)
	}
	files, manifest = versionFiles("second, longer")
	if err := b.WriteVersion(ctx, ids[0], files, manifest); err != nil {
		t.Fatalf("writing version %s again: %v", ids[0], err)
	}
	wantVersion(t, ctx, b, ids[0], files, manifest)
	if after := b.VersionStamp(ctx, ids[0]); after == stamp {
		t.Errorf("VersionStamp did not change when the version was rewritten: %q", after)
	}
	if vs, err := b.Versions(ctx); err != nil || !slices.Equal(vs, ids[:1]) {
		t.Fatalf("Versions = %v, %v; want %v", vs, err, ids[:1])
	}
}

func testRemoveVersion(t *testing.T, ctx context.Context, b storage.Backend) {
	unlock, _ := lock(t, ctx, b)
	defer unlock()
	for _, id := range ids[:2] {
		files, manifest := versionFiles(id)
		if err := b.WriteVersion(ctx, id, files, manifest); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.RemoveVersion(ctx, ids[0]); err != nil {
		t.Fatalf("RemoveVersion: %v", err)
	}
	if vs, err := b.Versions(ctx); err != nil || !slices.Equal(vs, ids[1:2]) {
		t.Fatalf("Versions after RemoveVersion = %v, %v; want %v", vs, err, ids[1:2])
	}
	if _, err := b.VersionFiles(ctx, ids[0]); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("VersionFiles of a removed version: %v, want ErrNotExist", err)
	}
	files, manifest := versionFiles(ids[1])
	wantVersion(t, ctx, b, ids[1], files, manifest)
}

func historyKey(i int) string {
	return fmt.Sprintf("20240101T0000%02d.000000000Z-%s-promoted", i, ids[0])
}

// testHistory: lines come back whole, in the order of their keys (which
// is the order they were appended), each with a name of its own.
func testHistory(t *testing.T, ctx context.Context, b storage.Backend) {
	unlock, _ := lock(t, ctx, b)
	defer unlock()
	var want []string
	for i := range 5 {
		line := fmt.Sprintf(`{"n":%d,"reason":"a > b"}`, i)
		if err := b.AppendHistory(ctx, historyKey(i), []byte(line)); err != nil {
			t.Fatalf("AppendHistory: %v", err)
		}
		want = append(want, line)
	}
	entries, err := b.ReadHistory(ctx, storage.HistoryLineLimit)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	names := map[string]bool{}
	for _, e := range entries {
		if e.Err != nil || e.Torn || e.Name == "" || names[e.Name] {
			t.Errorf("entry %+v: an error, torn, or a name that is empty or not its own", e)
		}
		names[e.Name] = true
		got = append(got, string(e.Data))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ReadHistory = %q, want %q", got, want)
	}
}

// testHistoryLineOverLimit: a line over the reader's limit is reported as such,
// and the lines around it are read as usual.
func testHistoryLineOverLimit(t *testing.T, ctx context.Context, b storage.Backend) {
	unlock, _ := lock(t, ctx, b)
	defer unlock()
	lines := []string{`{"n":0}`, `{"n":1,"reason":"` + strings.Repeat("x", 200) + `"}`, `{"n":2}`}
	for i, line := range lines {
		if err := b.AppendHistory(ctx, historyKey(i), []byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := b.ReadHistory(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 || entries[1].Err == nil || !strings.Contains(entries[1].Err.Error(), "100 bytes") ||
		string(entries[0].Data) != lines[0] || string(entries[2].Data) != lines[2] || entries[0].Err != nil || entries[2].Err != nil {
		t.Fatalf("ReadHistory with a line over the limit = %+v", entries)
	}
}
