package testkit

import (
	"net"
	"os/exec"
	"strconv"
	"testing"

	"github.com/mlservice/mlservice/internal/needtool"
)

// Tool returns the path of a command that Debian's package pkg installs,
// or skips the test loudly (fails it under CI=true, where .ci/run installs
// it): "SKIPPED: no <name> on PATH (apt-get install <pkg>): <untested>".
func Tool(t testing.TB, name, pkg, untested string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		needtool.Missing(t, "SKIPPED: no %s on PATH (apt-get install %s): %s", name, pkg, untested)
	}
	return p
}

// FreePort returns a loopback port nothing listens on at the moment, as a
// string for flags and URLs.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
