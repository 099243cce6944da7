//go:build unix

package s3_test

import (
	"testing"

	"github.com/mlservice/mlservice/internal/weedtest"
	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/storagetest"
)

// TestConformance runs the storage suite against a real SeaweedFS, each
// subtest under its own prefix of one bucket.
func TestConformance(t *testing.T) {
	open := weedtest.Buckets(t, "conformance")
	storagetest.Run(t, func(t *testing.T) storage.Bucket { return open(t) })
}
