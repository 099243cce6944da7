package mlservice_test

import (
	"os"
	"testing"

	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// TestMain stops the SeaweedFS server the S3 tests share, once they are done.
func TestMain(m *testing.M) { os.Exit(mlkit.Main(m)) }
