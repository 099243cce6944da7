//go:build unix

package weedtest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/s3"
)

// Buckets starts a weed server for tb (Start) and returns a function that
// opens bucket under a fresh prefix at each call ("run1/", "run2/", …),
// once the server takes writes: what a conformance suite needs, one clean
// bucket per subtest.
func Buckets(tb testing.TB, bucket string) func(t *testing.T) *s3.Bucket {
	tb.Helper()
	srv := Start(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	tb.Cleanup(cancel)
	var n atomic.Int64
	open := func(t *testing.T) *s3.Bucket {
		b, err := s3.Open(ctx, srv.URL(bucket, fmt.Sprintf("run%d/", n.Add(1))))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b, err := s3.Open(ctx, srv.URL(bucket, "probe/"))
	if err == nil {
		err = WaitWritable(ctx, func(ctx context.Context) error {
			_, err := b.Put(ctx, "probe", []byte("x"), storage.Condition{})
			return err
		})
	}
	if err != nil {
		tb.Fatal(err)
	}
	return open
}
