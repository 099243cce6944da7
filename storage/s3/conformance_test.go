//go:build unix

package s3_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/weedtest"
	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/s3"
	"github.com/mlservice/mlservice/storage/storagetest"
)

// TestConformance runs the storage suite against a real SeaweedFS, each
// subtest under its own prefix of one bucket.
func TestConformance(t *testing.T) {
	srv := weedtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var n atomic.Int64
	open := func(t *testing.T) storage.Bucket {
		b, err := s3.Open(ctx, srv.URL("conformance", fmt.Sprintf("run%d/", n.Add(1))))
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
	storagetest.Run(t, open)
}
