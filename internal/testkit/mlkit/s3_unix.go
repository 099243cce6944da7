//go:build unix

package mlkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/artifactsurl"
	"github.com/mlservice/mlservice/internal/needtool"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/weedtest"
	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/s3"
)

// One weed server serves every S3 test of a test process; each test has
// its own prefix.
var weed struct {
	once sync.Once
	srv  *weedtest.Server
	dir  string // its data
	err  error
	skip string
}

// Main is testkit.Main (the package's tests, binaries built once), then
// stops the shared weed server if a test started one and removes its data.
// Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(mlkit.Main(m)) }
func Main(m *testing.M) int {
	code := testkit.Main(m)
	if weed.srv != nil {
		weed.srv.Stop()
	}
	if weed.dir != "" {
		os.RemoveAll(weed.dir)
	}
	return code
}

// Weed returns the test process's weed server, starting it on first use;
// without the weed binary it skips loudly (fails under CI=true). Only a
// package whose TestMain calls Main may use it.
func Weed(t testing.TB) *weedtest.Server {
	t.Helper()
	weed.once.Do(func() {
		bin, err := weedtest.Binary()
		if err != nil {
			weed.skip = err.Error()
			return
		}
		if weed.dir, weed.err = os.MkdirTemp("", "mlservice-weed-"); weed.err != nil {
			return
		}
		weed.srv, weed.err = weedtest.StartBinary(bin, weed.dir)
	})
	if weed.skip != "" {
		needtool.Missing(t, "SKIPPING S3 TEST: no SeaweedFS weed binary (%s)", weed.skip)
	}
	if weed.err != nil {
		t.Fatal(weed.err)
	}
	return weed.srv
}

// S3URL returns an artifacts URL on srv under a prefix of the test's own.
func S3URL(t testing.TB, srv *weedtest.Server) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := strings.NewReplacer("/", "-", "#", "-").Replace(t.Name()) + "-" + hex.EncodeToString(b[:])
	return srv.URL("mlservice", prefix)
}

// OpenS3 opens the artifacts at url and the bucket beneath them, waiting
// (at most a minute) until a fresh server takes writes.
func OpenS3(t testing.TB, url string) (*mlservice.Artifacts, *s3.Bucket) {
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
