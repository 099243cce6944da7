//go:build !unix

package mlkit

import (
	"testing"

	"github.com/mlservice/mlservice/internal/testkit"
)

// Main is testkit.Main; without unix there is no weed server to stop.
func Main(m *testing.M) int { return testkit.Main(m) }
