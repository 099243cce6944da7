//go:build unix

package objstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/weedtest"
	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/backendtest"
	"github.com/mlservice/mlservice/storage/objstore"
	"github.com/mlservice/mlservice/storage/s3"
)

// TestConformanceSeaweedFS runs the backend suite against a real SeaweedFS,
// each subtest under its own prefix of one bucket.
func TestConformanceSeaweedFS(t *testing.T) {
	srv := weedtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var n atomic.Int64
	open := func(t *testing.T) *s3.Bucket {
		b, err := s3.Open(ctx, srv.URL("backend", fmt.Sprintf("run%d/", n.Add(1))))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	probe := open(t)
	if err := weedtest.WaitWritable(ctx, func(ctx context.Context) error {
		_, err := probe.Put(ctx, "probe", []byte("x"), storage.Condition{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, func(t *testing.T) storage.Backend { return objstore.New(open(t)) })
}
