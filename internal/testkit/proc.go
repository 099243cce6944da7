package testkit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Result is how a finished process ended and what it wrote.
type Result struct {
	Code           int  // exit code; -1 when a signal ended it
	Killed         bool // SIGKILL ended it
	Stdout, Stderr string
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
}

// Run runs cmd to its end, capturing its output, and returns how it ended.
// An exit code other than 0 is a result, not a failure; a command that
// cannot run ends the test.
func Run(t testing.TB, cmd *exec.Cmd) Result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
		r.Killed = signaled(exit, syscall.SIGKILL)
	case err != nil:
		t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return r
}

func signaled(exit *exec.ExitError, sig syscall.Signal) bool {
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// Child returns a command that runs this test binary again with only the
// test named test, and env added to the environment: the groupcache
// TestHTTPPool pattern for crash and multi-process tests. The child test
// tells that it is one by an environment variable its parent sets, and
// skips otherwise.
func Child(t testing.TB, test string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^"+test+"$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// Markers is the child's side of the marker protocol: one byte written to
// fd 3 per step, so that the parent knows where a kill landed. A child
// whose parent is gone exits.
func Markers() func(byte) {
	markers := os.NewFile(3, "markers")
	return func(b byte) {
		if _, err := markers.Write([]byte{b}); err != nil {
			os.Exit(3) // the parent is gone
		}
	}
}

// KillAfterReady starts cmd with a pipe on its fd 3, waits (at most 30 s)
// for the child to write the marker ready there, lets it run for delay,
// SIGKILLs it and returns every marker it wrote after ready. The test ends
// if the child is not ready in time or exits before the kill.
func KillAfterReady(t testing.TB, cmd *exec.Cmd, ready byte, delay time.Duration) []byte {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	isReady := make(chan bool, 1)
	rest := make(chan []byte, 1)
	go func() {
		br := bufio.NewReader(r)
		b, err := br.ReadByte()
		isReady <- err == nil && b == ready
		data, _ := io.ReadAll(br)
		rest <- data
	}()
	select {
	case ok := <-isReady:
		if !ok {
			cmd.Wait()
			t.Fatalf("child did not get ready:\n%s", out.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child not ready after 30s:\n%s", out.String())
	}
	time.Sleep(delay)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if exit := (*exec.ExitError)(nil); !errors.As(err, &exit) || !signaled(exit, syscall.SIGKILL) {
		t.Fatalf("child ended with %v before it was killed:\n%s", err, out.String())
	}
	return <-rest
}
