//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/testkit"
)

// Attacks on the real trainer binary: inputs that are not regular files,
// signals mid-run, finite values too large to train on.

// feedFIFO makes a named pipe in dir and writes data into it from a
// goroutine; the returned channel yields the writer's error.
func feedFIFO(t *testing.T, dir string, data []byte) (string, <-chan error) {
	t.Helper()
	fifo := filepath.Join(dir, fmt.Sprintf("fifo_%d", time.Now().UnixNano()))
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.Write(data)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		done <- err
	}()
	return fifo, done
}

// sameValidation compares two "trainer validate" runs but for the input's
// name, which differs by construction.
func sameValidation(t *testing.T, what string, got, want result) {
	t.Helper()
	if got.Code != exitOK || want.Code != exitOK {
		t.Fatalf("%s: exit %d (regular file: %d)\n%s\n%s", what, got.Code, want.Code, got.Stderr, want.Stderr)
	}
	decode := func(s string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("%s: stdout %q: %v", what, s, err)
		}
		delete(m, "file")
		return m
	}
	g, w := decode(got.Stdout), decode(want.Stdout)
	if fmt.Sprint(g) != fmt.Sprint(w) {
		t.Errorf("%s gives %v, the regular file %v", what, g, w)
	}
}

func TestHostileInput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the trainer binary; skipped with -short")
	}
	dir := t.TempDir()
	bin := testkit.Binary(t, "trainer")
	// Bigger than the 256 KiB the trainer once read ahead from a second
	// open of the same path, and than one 1 MiB validation block.
	big := filepath.Join(dir, "big.csv")
	testkit.WriteFile(t, big, string(testkit.Repeat(testkit.ReadFile(t, testkit.Data(t, "day_01.csv")), 3<<20)))
	bigData, err := os.ReadFile(big)
	if err != nil {
		t.Fatal(err)
	}
	want := runBin(t, bin, t.TempDir(), nil, "validate", big)
	if want.Code != exitOK {
		t.Fatalf("validate %s: exit %d\n%s", big, want.Code, want.Stderr)
	}

	t.Run("named pipe", func(t *testing.T) {
		fifo, written := feedFIFO(t, dir, bigData)
		got := runBin(t, bin, t.TempDir(), nil, "validate", fifo)
		if err := <-written; err != nil {
			t.Fatalf("writer: %v", err)
		}
		sameValidation(t, "validate FIFO", got, want)
	})

	t.Run("process substitution", func(t *testing.T) {
		bash, err := exec.LookPath("bash")
		if err != nil {
			t.Skip("no bash for <(…)")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bash, "-c", `exec "$0" validate <(cat "$1")`, bin, big)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		sameValidation(t, "validate <(cat file)", result{Code: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String()}, want)
	})

	t.Run("stdin", func(t *testing.T) {
		f, err := os.Open(big)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		// A regular file redirected (< big.csv) and a pipe (… | trainer).
		sameValidation(t, "validate - < file", runBin(t, bin, t.TempDir(), f, "validate", "-"), want)
		sameValidation(t, "… | validate -", runBin(t, bin, t.TempDir(), bytes.NewReader(bigData), "validate", "-"), want)

		art := t.TempDir()
		r := runBin(t, bin, art, bytes.NewReader(bigData), "train", "-")
		var res struct {
			Promoted bool   `json:"promoted"`
			File     string `json:"training_data_file"`
		}
		if r.Code != exitOK || json.Unmarshal([]byte(r.Stdout), &res) != nil || !res.Promoted || res.File != "stdin" {
			t.Errorf("train -: exit %d, %+v\n%s\n%s", r.Code, res, r.Stdout, r.Stderr)
		}
		r = runBin(t, bin, art, bytes.NewReader(bigData), "train", "-eval", "-", "-")
		if r.Code != exitUsage || !strings.Contains(r.Stderr, "standard input") {
			t.Errorf("train -eval - -: exit %d, want %d\n%s", r.Code, exitUsage, r.Stderr)
		}
	})

	t.Run("1e200", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(dataDir, "day_01.csv"))
		if err != nil {
			t.Fatal(err)
		}
		header := strings.Split(strings.TrimSpace(string(data[:bytes.IndexByte(data, '\n')])), ",")
		for col, name := range header {
			if name == "is_premium" || name == "target" {
				continue
			}
			lines := strings.SplitAfter(string(data), "\n")
			cells := strings.Split(strings.TrimSpace(lines[6]), ",") // file line 7
			cells[col] = "1e200"
			lines[6] = strings.Join(cells, ",") + "\n"
			path := filepath.Join(t.TempDir(), name+".csv")
			if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
				t.Fatal(err)
			}
			art := t.TempDir()
			r := runBin(t, bin, art, nil, "train", path)
			wantMsg := fmt.Sprintf(`line 7, column %q, value "1e200": magnitude must be <= 1e+15`, name)
			if r.Code != exitInvalid || !strings.Contains(r.Stderr, wantMsg) || !strings.Contains(r.Stderr, "(maxabs)") {
				t.Errorf("%s=1e200: exit %d, want %d and %q:\n%s", name, r.Code, exitInvalid, wantMsg, r.Stderr)
			}
			if r.Stdout != "" {
				t.Errorf("%s=1e200: stdout %q", name, r.Stdout)
			}
			assertNoArtifacts(t, art)
		}
	})

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		name := signalName(sig)
		t.Run(name+" mid-validation", func(t *testing.T) {
			// A pipe fed slowly: the trainer is provably mid-validation once
			// it has taken more than a pipe's buffer (64 KiB) of the data.
			fifo := filepath.Join(t.TempDir(), "slow.csv")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			var fed atomic.Int64
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
				if err != nil {
					return
				}
				defer f.Close()
				n, _ := f.Write(bigData[:1<<20])
				fed.Add(int64(n))
				row := []byte("41,52000.10,-1200.55,12,1,0\n")
				for {
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
					}
					n, err := f.Write(row)
					fed.Add(int64(n))
					if err != nil {
						return // the trainer is gone
					}
				}
			}()
			art := t.TempDir()
			cmd, stderr := startBin(t, bin, art, "train", fifo)
			waitFor(t, "the trainer to read 1 MiB of the pipe", func() bool { return fed.Load() >= 1<<20 })
			time.Sleep(100 * time.Millisecond)
			checkInterrupted(t, cmd, stderr, sig, "validate")
			assertNoArtifacts(t, art)
		})
	}

	// A big regular file: the reader and the decoding workers must notice.
	// 80 MiB takes about a second to validate on two cores; the signal comes
	// 100 ms in, and the absence of the "validated" line proves it landed
	// mid-validation.
	t.Run("SIGINT validating a big file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "huge.csv")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		body := bigData[bytes.IndexByte(bigData, '\n')+1:]
		_, err = f.Write(bigData)
		for i := 0; err == nil && i < 80<<20/len(body); i++ {
			_, err = f.Write(body)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		art := t.TempDir()
		cmd, stderr := startBin(t, bin, art, "train", path)
		// Not a fixed delay: under load a race-built binary may not have
		// installed its signal handler 100 ms in. Once it has the file
		// open, it has (the handler comes first), and it is validating.
		waitFor(t, "the trainer to open "+path, func() bool { return hasOpen(cmd.Process.Pid, path) })
		time.Sleep(20 * time.Millisecond)
		checkInterrupted(t, cmd, stderr, syscall.SIGINT, "validate")
		if strings.Contains(stderr.String(), "validated") {
			t.Errorf("validation finished before the signal; the test proves nothing:\n%s", stderr.String())
		}
		assertNoArtifacts(t, art)
	})

	t.Run("SIGTERM waiting for the lock", func(t *testing.T) {
		art := t.TempDir()
		models := filepath.Join(art, "models")
		if err := os.MkdirAll(filepath.Join(models, "versions"), 0o755); err != nil {
			t.Fatal(err)
		}
		lock, err := os.OpenFile(filepath.Join(models, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		cmd, stderr := startBin(t, bin, art, "train", filepath.Join(dataDir, "day_01.csv"))
		waitFor(t, "training to finish", func() bool { return strings.Contains(stderr.String(), "trained in") })
		time.Sleep(100 * time.Millisecond) // now it polls for the lock
		checkInterrupted(t, cmd, stderr, syscall.SIGTERM, "lock")
		assertNoArtifacts(t, art)
	})
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startBin(t *testing.T, bin, artifacts string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "ARTIFACTS_DIR="+artifacts)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, stderr
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkInterrupted sends sig to cmd and checks it exits 128+sig with the
// interruption on stderr, within 5 s: the target is 1 s, the margin is for a
// loaded CI machine. The measured time is logged.
func checkInterrupted(t *testing.T, cmd *exec.Cmd, stderr *syncBuffer, sig syscall.Signal, stage string) {
	t.Helper()
	start := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5 s after %s\n%s", signalName(sig), stderr.String())
	}
	took := time.Since(start)
	t.Logf("exited %v after %s (stage: %s)", took, signalName(sig), stage)
	if code := cmd.ProcessState.ExitCode(); code != 128+int(sig) {
		t.Errorf("exit %d, want %d\n%s", code, 128+int(sig), stderr.String())
	}
	want := "trainer: interrupted by " + signalName(sig) + ": "
	if !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "context canceled") {
		t.Errorf("stderr does not say %q … context canceled:\n%s", want, stderr.String())
	}
}

// assertNoArtifacts checks that no version, complete or partial, and no
// temporary file was written under artifacts.
func assertNoArtifacts(t *testing.T, artifacts string) {
	t.Helper()
	err := filepath.WalkDir(artifacts, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(artifacts, path)
		switch rel {
		case ".", "models", filepath.Join("models", "versions"), filepath.Join("models", ".lock"):
			return nil
		}
		t.Errorf("left behind: %s", rel)
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// hasOpen reports whether process pid has path open (Linux's /proc; false
// elsewhere, where waitFor then times out and says so).
func hasOpen(pid int, path string) bool {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && target == path {
			return true
		}
	}
	return false
}
