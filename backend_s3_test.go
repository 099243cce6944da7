//go:build unix

package mlservice_test

import (
	"testing"

	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/objstore"
)

// TestS3BackendConformance runs the backend suite against a real SeaweedFS,
// each case under a prefix of its own.
func TestS3BackendConformance(t *testing.T) {
	srv := mlkit.Weed(t)
	backendSuite(t, func(t *testing.T) storage.Backend {
		_, b := mlkit.OpenS3(t, mlkit.S3URL(t, srv))
		return objstore.New(b)
	})
}
