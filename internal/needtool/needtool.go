// Package needtool is how a test reports that a tool it drives (the weed
// binary, chromium, prometheus, strace) is missing: it skips, loudly, on a
// developer's machine, and fails under CI=true, where .ci/run has installed
// every such tool and a skip would pass off an untested path as green.
//
// go test -v ./... | grep -A1 -- '--- SKIP' lists what skipped and why.
package needtool

import (
	"fmt"
	"os"
	"testing"
)

// CI reports whether the tests run under CI=true (as .ci/run sets it).
func CI() bool { return os.Getenv("CI") == "true" }

// Missing ends tb because a tool is missing: t.Skip with the reason, or
// t.Fatal under CI=true.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		tb.Fatalf("CI=true, so this test must not skip: %s", msg)
	}
	tb.Skip(msg)
}
