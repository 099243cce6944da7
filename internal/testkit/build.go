package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mlservice/mlservice/internal/needtool"
)

// binaries are the commands built so far by this test process, by name.
var binaries struct {
	mu    sync.Mutex
	dir   string            // set by Main; "" builds into each test's TempDir
	built map[string]string // name → path, under dir
}

// Main runs a package's tests and then removes the binaries Binary built
// for them: call it from TestMain, and each command is built once per test
// process rather than once per test.
//
//	func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
func Main(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mlservice-testkit-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testkit:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binaries.mu.Lock()
	binaries.dir = dir
	binaries.mu.Unlock()
	return m.Run()
}

// Binary returns the path of the module's command cmd/<name> ("trainer",
// "server", "loadgen"), built from the working tree. MLSERVICE_<NAME>_BIN,
// when set, names another build to run instead (an older commit's, say, to
// see a test fail against it). Without Main, each call builds anew into
// the test's TempDir. A missing go tool skips the test (fails under CI);
// so does -short, since a test that builds a command is a slow one.
func Binary(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("builds and runs cmd/%s; skipped with -short", name)
	}
	if bin := os.Getenv("MLSERVICE_" + strings.ToUpper(name) + "_BIN"); bin != "" {
		return bin
	}
	binaries.mu.Lock()
	defer binaries.mu.Unlock()
	if bin, ok := binaries.built[name]; ok {
		return bin
	}
	dir := binaries.dir
	if dir == "" {
		dir = t.TempDir()
	}
	bin := filepath.Join(dir, name)
	goTool, err := exec.LookPath("go")
	if err != nil {
		needtool.Missing(t, "SKIPPED: building cmd/%s needs the go tool, which is not on PATH", name)
	}
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/"+name)
	cmd.Dir = Root(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, out)
	}
	if binaries.dir != "" {
		if binaries.built == nil {
			binaries.built = map[string]string{}
		}
		binaries.built[name] = bin
	}
	return bin
}

// Binaries returns the trainer and the server, as Binary does.
func Binaries(t testing.TB) (trainer, server string) {
	t.Helper()
	return Binary(t, "trainer"), Binary(t, "server")
}

// BinaryIn is Binary copied into dir (mode 0755), for a test that needs the
// command at a place of its choosing: one another user can run, say.
func BinaryIn(t testing.TB, name, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	if err := os.WriteFile(bin, ReadFile(t, Binary(t, name)), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}
