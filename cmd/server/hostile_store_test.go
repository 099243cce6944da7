//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hsServer is the real server binary running on 127.0.0.1 for a hostile test.
type hsServer struct {
	base   string
	mu     sync.Mutex
	logs   strings.Builder
	client *http.Client
}

func (s *hsServer) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// hsStart runs bin in workDir with args, and returns once it logs the
// address it listens on.
func hsStart(t *testing.T, bin, workDir string, args ...string) *hsServer {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "LOG_FORMAT=json", "LOG_LEVEL=info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s := &hsServer{client: &http.Client{Timeout: 2 * time.Second}}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.logs.Write(append(sc.Bytes(), '\n'))
			s.mu.Unlock()
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
		}
	}()
	select {
	case a := <-addr:
		s.base = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not log its address:\n%s", s.log())
	}
	return s
}

// get answers within the client's 2 s timeout, generous for a handler that
// reads only memory, or fails the test: that is the hang these tests are for.
func (s *hsServer) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := s.client.Get(s.base + path)
	if err != nil {
		t.Errorf("GET %s: %v", path, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHostileStore runs the real server binary against an artifacts
// directory that misbehaves in the ways a Store must survive.
func TestHostileStore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the hostile store tests build the server and need the go tool, which is not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "server")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// CURRENT replaced by a FIFO that nobody writes: the server's check of
	// CURRENT blocks in a read, as on a hung network file system. The
	// status endpoints and predictions answer from memory regardless.
	t.Run("CURRENT is a FIFO", func(t *testing.T) {
		dir := t.TempDir()
		d := promoteDay(t, dir, "day_01.csv")
		srv := hsStart(t, bin, dir, "-artifacts", dir, "-reload-interval", "10ms")
		if code, body := srv.get(t, "/ready"); code != http.StatusOK {
			t.Fatalf("/ready before the FIFO: %d %s", code, body)
		}

		current := filepath.Join(dir, "models", "CURRENT")
		fifo := filepath.Join(t.TempDir(), "blocker")
		if err := syscall.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(fifo, current+".tmp"); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(current+".tmp", current); err != nil {
			t.Fatal(err)
		}
		// Undo at the end, even on failure: CURRENT a file again first, then
		// release the reader (EOF once the write end closes).
		var writer *os.File
		t.Cleanup(func() {
			_ = os.WriteFile(current+".tmp", []byte(d.VersionID+"\n"), 0o644)
			_ = os.Rename(current+".tmp", current)
			if writer != nil {
				writer.Close()
			} else if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
		})

		// Wait until the server is stuck reading the FIFO: a non-blocking
		// open for writing succeeds only once a reader has it open. Holding
		// the write end open (and writing nothing) keeps that reader blocked,
		// now in read. A server whose reader refuses FIFOs shows the refusal
		// in /ready's last_error instead.
		stuck, refused := false, ""
		for deadline := time.Now().Add(30 * time.Second); !stuck && refused == "" && time.Now().Before(deadline); {
			if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				writer, stuck = w, true
				break
			} else if !errors.Is(err, syscall.ENXIO) {
				t.Fatal(err)
			}
			_, body := srv.get(t, "/ready")
			var r struct {
				LastError string `json:"last_error"`
			}
			_ = json.Unmarshal([]byte(body), &r)
			refused = r.LastError
			time.Sleep(5 * time.Millisecond)
		}
		if !stuck && refused == "" {
			t.Fatal("the server neither read the FIFO CURRENT nor refused it")
		}
		t.Logf("server stuck on the FIFO: %v; refused it: %q", stuck, refused)
		// Let the reload interval pass many times over, so that every later
		// check would have queued behind the stuck one.
		time.Sleep(200 * time.Millisecond)

		code, body := srv.get(t, "/ready")
		if code != http.StatusOK || !strings.Contains(body, d.VersionID) {
			t.Errorf("/ready with CURRENT a FIFO: %d %s; want 200 still serving %s", code, body, d.VersionID)
		}
		code, body = srv.get(t, "/metrics")
		if code != http.StatusOK || !strings.Contains(body, "mlservice_model_ready 1") {
			t.Errorf("/metrics with CURRENT a FIFO: %d, mlservice_model_ready 1 missing", code)
		}
		if code, body := srv.get(t, "/model"); code != http.StatusOK || !strings.Contains(body, d.VersionID) {
			t.Errorf("/model with CURRENT a FIFO: %d %.200s", code, body)
		}
		resp, err := srv.client.Post(srv.base+"/predict", "application/json", strings.NewReader(validBody))
		if err != nil {
			t.Errorf("/predict with CURRENT a FIFO: %v", err)
		} else {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), d.VersionID) {
				t.Errorf("/predict with CURRENT a FIFO: %d %s", resp.StatusCode, b)
			}
		}

		// /versions lists the artifacts directory itself and reads CURRENT
		// to mark the current version; the reader refuses a FIFO at once.
		resp, err = srv.client.Get(srv.base + "/versions")
		if err != nil {
			t.Errorf("/versions with CURRENT a FIFO: %v", err)
		} else {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), d.VersionID) {
				t.Errorf("/versions with CURRENT a FIFO: %d %.300s; want 200 listing %s", resp.StatusCode, b, d.VersionID)
			}
		}
	})

	// A mistyped -artifacts: the server says so at start-up and in /ready,
	// naming the path as given, and follows the directory once it exists.
	t.Run("mistyped artifacts directory", func(t *testing.T) {
		work := t.TempDir()
		srv := hsStart(t, bin, work, "-artifacts", "./artifcats", "-reload-interval", "10ms")
		const want = `artifacts directory \"./artifcats\" does not exist` // as JSON spells it
		if !strings.Contains(srv.log(), want) || !strings.Contains(srv.log(), `"level":"WARN"`) {
			t.Errorf("no start-up warning naming the directory in the log:\n%s", srv.log())
		}
		code, body := srv.get(t, "/ready")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, want) {
			t.Errorf("/ready with a mistyped directory: %d %s; want 503 with reason %s", code, body, want)
		}
		if strings.Contains(body, work) {
			t.Errorf("/ready shows an absolute path the user did not give: %s", body)
		}

		d := promoteDay(t, filepath.Join(work, "artifcats"), "day_01.csv")
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			code, body = srv.get(t, "/ready")
			if code == http.StatusOK && strings.Contains(body, d.VersionID) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/ready once the directory exists: %d %s", code, body)
			}
		}
	})
}
