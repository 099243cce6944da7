package needtool

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMissing runs TestMissingChild in a child process, with and without
// CI=true: a missing tool skips, or under CI fails the test.
func TestMissing(t *testing.T) {
	if os.Getenv("NEEDTOOL_CHILD") != "" {
		t.Skip("the child's own run of TestMissing")
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
		want     string
	}{
		{"", false, "--- SKIP: TestMissingChild"},
		{"false", false, "--- SKIP: TestMissingChild"},
		{"true", true, "--- FAIL: TestMissingChild"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingChild$", "-test.v")
		cmd.Env = append(os.Environ(), "NEEDTOOL_CHILD=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != tc.wantFail || !strings.Contains(string(out), tc.want) ||
			!strings.Contains(string(out), "no frobnicator on PATH") {
			t.Errorf("CI=%q: error %v, want failure %v and %q with the reason:\n%s", tc.ci, err, tc.wantFail, tc.want, out)
		}
	}
}

func TestMissingChild(t *testing.T) {
	if os.Getenv("NEEDTOOL_CHILD") == "" {
		t.Skip("run by TestMissing in a child process")
	}
	Missing(t, "no frobnicator on PATH")
	t.Error("Missing returned")
}
