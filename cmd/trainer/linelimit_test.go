//go:build unix

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/testkit"
)

// TestDevZero: a file with no line end (/dev/zero) is refused at
// MaxLineBytes by validate, validate -schema and schema infer, quickly,
// instead of being read forever.
func TestDevZero(t *testing.T) {
	bin := testkit.Binary(t, "trainer")
	for _, args := range [][]string{
		{"validate", "/dev/zero"},
		{"validate", "-schema", "../../testdata/tables/grunfeld.schema.json", "/dev/zero"},
		{"schema", "infer", "/dev/zero"},
	} {
		start := time.Now()
		r := runBin(t, bin, t.TempDir(), nil, args...)
		if r.Code != exitInvalid || !strings.Contains(r.Stderr, "MaxLineBytes") || time.Since(start) > 30*time.Second {
			t.Errorf("trainer %s: exit %d after %v, want %d naming MaxLineBytes\n%s", strings.Join(args, " "), r.Code, time.Since(start), exitInvalid, r.Stderr)
		}
	}
}
