//go:build unix

package mlservice_test

// Tests of the object-store backend against a real SeaweedFS (`weed server
// -s3` on loopback, see internal/weedtest). They skip, loudly, only when the
// weed binary cannot be built.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/artifactsurl"
	"github.com/mlservice/mlservice/internal/weedtest"
	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/s3"
)

// One weed server serves every S3 test of the package; each test has its
// own prefix.
var (
	s3Once   sync.Once
	s3Srv    *weedtest.Server
	s3SrvDir string // its data, removed by TestMain
	s3SrvErr error
	s3Skip   string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if s3Srv != nil {
		s3Srv.Stop()
	}
	if s3SrvDir != "" {
		os.RemoveAll(s3SrvDir)
	}
	os.Exit(code)
}

// s3Server returns the package's weed server, starting it on first use.
func s3Server(t *testing.T) *weedtest.Server {
	t.Helper()
	s3Once.Do(func() {
		bin, err := weedtest.Binary()
		if err != nil {
			s3Skip = err.Error()
			return
		}
		s3SrvDir, s3SrvErr = os.MkdirTemp("", "mlservice-weed-")
		if s3SrvErr != nil {
			return
		}
		s3Srv, s3SrvErr = weedtest.StartBinary(bin, s3SrvDir)
	})
	if s3Skip != "" {
		t.Skipf("SKIPPING S3 TEST: no SeaweedFS weed binary (%s)", s3Skip)
	}
	if s3SrvErr != nil {
		t.Fatal(s3SrvErr)
	}
	return s3Srv
}

// s3URL returns an artifacts URL under a prefix of its own for t.
func s3URL(t *testing.T, srv *weedtest.Server) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := strings.NewReplacer("/", "-", "#", "-").Replace(t.Name()) + "-" + hex.EncodeToString(b[:])
	return srv.URL("mlservice", prefix)
}

// s3Open opens the artifacts at url and the bucket beneath them, waiting
// until the fresh server takes writes.
func s3Open(t *testing.T, url string) (*mlservice.Artifacts, *s3.Bucket) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var b *s3.Bucket
	err := weedtest.WaitWritable(ctx, func(ctx context.Context) error {
		var err error
		if b, err = s3.Open(ctx, url); err != nil {
			return err
		}
		_, err = b.Put(ctx, "probe", []byte("ok"), storage.Condition{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := artifactsurl.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func s3Promote(t *testing.T, a *mlservice.Artifacts, f1 float64) *mlservice.Decision {
	t.Helper()
	d, err := a.Promote(context.Background(), artWithF1(t, f1))
	if err != nil {
		t.Fatalf("promote f1=%v: %v", f1, err)
	}
	if d.Warning != "" {
		t.Errorf("promote f1=%v: warning %s", f1, d.Warning)
	}
	return d
}

func s3Current(t *testing.T, a *mlservice.Artifacts) string {
	t.Helper()
	id, err := a.CurrentVersion(context.Background())
	if errors.Is(err, mlservice.ErrNoCurrent) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// The engine must honour conditional PUTs, or racing trainers could both
// win: this pins the behaviour the protocol relies on.
func TestS3ConditionalPut(t *testing.T) {
	start := time.Now()
	srv := s3Server(t)
	_, b := s3Open(t, s3URL(t, srv))
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

func waitServing(t *testing.T, st *mlservice.Store, id string, within time.Duration) time.Duration {
	t.Helper()
	took, ok := servingWithin(st, id, within)
	if !ok {
		t.Fatalf("store serves %+v, not %s after %v", st.Status(), id, within)
	}
	return took
}

// servingWithin waits until st serves id, at most within; safe to call
// from any goroutine.
func servingWithin(st *mlservice.Store, id string, within time.Duration) (time.Duration, bool) {
	start := time.Now()
	for {
		if s := st.Status(); s.ModelVersionID == id {
			return time.Since(start), true
		}
		if time.Since(start) > within {
			return time.Since(start), false
		}
		time.Sleep(2 * time.Millisecond)
	}
}
