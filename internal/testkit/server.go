package testkit

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a server binary running on 127.0.0.1, started by StartServer.
type Server struct {
	Base   string       // "http://127.0.0.1:PORT"
	Cmd    *exec.Cmd    // the process, to signal it
	Client *http.Client // a client with a 2 s timeout

	exited chan struct{}
	err    error // the process's exit, once exited is closed

	mu   sync.Mutex // guards logs
	logs strings.Builder
}

// ServerOptions are how StartServer runs the binary; the zero value runs it
// in the test's working directory with the test's environment.
type ServerOptions struct {
	Dir  string        // the working directory; "" is the test's
	Env  []string      // added to the environment (after LOG_FORMAT=json, LOG_LEVEL=info)
	Wait time.Duration // how long to wait for the address; 0 is 30 s
}

// StartServer runs bin with "-addr 127.0.0.1:0" and args, logging JSON, and
// returns once it logs the address it listens on ({"msg":"listening",
// "addr":…}). The process is killed when the test ends.
func StartServer(t testing.TB, bin string, opts *ServerOptions, args ...string) *Server {
	t.Helper()
	if opts == nil {
		opts = &ServerOptions{}
	}
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Dir = opts.Dir
	cmd.Env = append(append(os.Environ(), "LOG_FORMAT=json", "LOG_LEVEL=info"), opts.Env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{Cmd: cmd, Client: &http.Client{Timeout: 2 * time.Second}, exited: make(chan struct{})}
	t.Cleanup(func() { cmd.Process.Kill(); <-s.exited })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.logs.Write(append(sc.Bytes(), '\n'))
			s.mu.Unlock()
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				select {
				case addr <- line.Addr:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		s.err = cmd.Wait()
		close(s.exited)
	}()
	wait := opts.Wait
	if wait == 0 {
		wait = 30 * time.Second
	}
	select {
	case a := <-addr:
		s.Base = "http://" + a
	case <-time.After(wait):
		t.Fatalf("server did not log its address within %v:\n%s", wait, s.Log())
	}
	return s
}

// Log returns what the server has logged so far, one JSON object a line.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// Exited is closed once the process has ended; Err then says how.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Err is the process's exit (nil for status 0); valid once Exited is closed.
func (s *Server) Err() error {
	<-s.exited
	return s.err
}

// Get fetches path with s.Client and returns the status and body; an error
// is reported on t (not fatal) and returns 0, "". A server that hangs fails
// by the client's timeout.
func (s *Server) Get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := s.Client.Get(s.Base + path)
	if err != nil {
		t.Errorf("GET %s: %v", path, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Serves polls /ready (every 5 ms, at most within) until its body names
// id, and returns how long that took and whether it did. Safe to call from
// any goroutine.
func (s *Server) Serves(id string, within time.Duration) (time.Duration, bool) {
	return Poll(within, 5*time.Millisecond, func() bool {
		resp, err := s.Client.Get(s.Base + "/ready")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(body), id)
	})
}
