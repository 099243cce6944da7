//go:build unix

package mlservice_test

import "testing"

// TestS3BackendConformance runs the backend suite against a real SeaweedFS.
func TestS3BackendConformance(t *testing.T) {
	a, _ := s3Open(t, s3URL(t, s3Server(t)))
	backendSuite(t, a)
}
