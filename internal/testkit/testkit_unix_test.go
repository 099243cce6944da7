//go:build unix

package testkit

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestChildMarkers runs TestChildMarkersChild as a child process that marks
// ready and then one step a millisecond: KillAfterReady returns the steps
// marked before its kill.
func TestChildMarkers(t *testing.T) {
	if os.Getenv("TESTKIT_CHILD") != "" {
		t.Skip("the child's own run")
	}
	cmd := Child(t, "TestChildMarkersChild", "TESTKIT_CHILD=1")
	marks := KillAfterReady(t, cmd, 'r', 100*time.Millisecond)
	if len(marks) == 0 || strings.Trim(string(marks), "s") != "" {
		t.Errorf("markers after ready: %q; want some steps", marks)
	}
}

func TestChildMarkersChild(t *testing.T) {
	if os.Getenv("TESTKIT_CHILD") == "" {
		t.Skip("runs only as TestChildMarkers' child process")
	}
	mark := Markers()
	mark('r')
	for range 60_000 { // a minute, should the parent be gone
		mark('s')
		time.Sleep(time.Millisecond)
	}
}

// TestRun runs TestRunChild, not a shell: the compose test image has none.
func TestRun(t *testing.T) {
	r := Run(t, Child(t, "TestRunChild", "TESTKIT_RUN=exit"))
	if r.Code != 3 || r.Killed || !strings.HasPrefix(r.Stdout, "out\n") || r.Stderr != "err\n" {
		t.Errorf("Run = %+v", r)
	}
	if r := Run(t, Child(t, "TestRunChild", "TESTKIT_RUN=kill")); !r.Killed || r.Code != -1 {
		t.Errorf("Run of a killed process = %+v", r)
	}
}

func TestRunChild(t *testing.T) {
	switch os.Getenv("TESTKIT_RUN") {
	case "exit":
		os.Stdout.WriteString("out\n")
		os.Stderr.WriteString("err\n")
		os.Exit(3)
	case "kill":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
	default:
		t.Skip("runs only as TestRun's child process")
	}
}

func TestFIFOAt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "CURRENT")
	WriteFile(t, path, "v1\n")
	f := FIFOAt(t, path)
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("%s is not a FIFO: %v %v", path, fi, err)
	}
	if f.Hold() {
		t.Error("Hold with no reader succeeded")
	}
	read := make(chan error, 1)
	go func() { _, err := os.ReadFile(path); read <- err }()
	if _, ok := Poll(5*time.Second, time.Millisecond, f.Hold); !ok {
		t.Fatal("Hold never saw the reader")
	}
	select {
	case err := <-read:
		t.Fatalf("the reader returned while held: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	f.Restore()
	if err := <-read; err != nil {
		t.Errorf("the released reader: %v", err)
	}
	if got := string(ReadFile(t, path)); got != "v1\n" {
		t.Errorf("restored file holds %q", got)
	}
}
