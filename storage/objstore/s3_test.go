//go:build unix

package objstore_test

import (
	"testing"

	"github.com/mlservice/mlservice/internal/weedtest"
	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/backendtest"
	"github.com/mlservice/mlservice/storage/objstore"
)

// TestConformanceSeaweedFS runs the backend suite against a real SeaweedFS,
// each subtest under its own prefix of one bucket.
func TestConformanceSeaweedFS(t *testing.T) {
	open := weedtest.Buckets(t, "backend")
	backendtest.Run(t, func(t *testing.T) storage.Backend { return objstore.New(open(t)) })
}
