//go:build unix

// Package weedtest runs a real SeaweedFS server (`weed server -s3`) on
// loopback for tests that claim S3 behaviour. There is no fake S3: a test
// that cannot get the real binary skips, loudly.
//
// The binary is $MLSERVICE_WEED, else the one docker/seaweedfs/build.sh
// caches for the version docker/seaweedfs/go.mod pins, else it is built
// there (several minutes cold; .ci/run builds it before the tests).
package weedtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/needtool"
)

// Credentials the server accepts; Start exports them as the standard AWS
// variables so the SDK's default chain finds them.
const (
	AccessKey = "mlservice-test"
	SecretKey = "mlservice-test-secret"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// repoDir is the module's root, found from this file's path.
func repoDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Binary returns the path of the weed binary, building it if needed.
func Binary() (string, error) {
	binOnce.Do(func() {
		if p := os.Getenv("MLSERVICE_WEED"); p != "" {
			binPath = p
			return
		}
		// A cold build takes about ten minutes, past go test's default
		// timeout: tests use a cached binary and skip without one, unless
		// MLSERVICE_WEED_BUILD=1 lets them build it. .ci/run builds it first.
		script := filepath.Join(repoDir(), "docker", "seaweedfs", "build.sh")
		var stderr bytes.Buffer
		cmd := exec.Command("bash", script)
		if os.Getenv("MLSERVICE_WEED_BUILD") == "" {
			cmd.Env = append(os.Environ(), "WEED_NO_BUILD=1")
		}
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			binErr = fmt.Errorf("%s: %v: %s", script, err, strings.TrimSpace(stderr.String()))
			return
		}
		binPath = strings.TrimSpace(string(out))
	})
	return binPath, binErr
}

// Server is a running weed server with its S3 gateway.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT, the S3 gateway
	Dir      string // its data directory
	cmd      *exec.Cmd
	ports    []int
	log      *bytes.Buffer
	done     chan struct{}
	mu       sync.Mutex
}

// URL returns an artifacts URL for bucket and prefix on this server.
func (s *Server) URL(bucket, prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&region=us-east-1&use_path_style=true&create_bucket=true", bucket, prefix, s.Endpoint)
}

// Start runs a weed server for tb, stopped when tb's cleanup runs. It
// skips tb when the binary cannot be had.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		needtool.Missing(tb, "SKIPPING S3 TEST: no SeaweedFS weed binary (%v)", err)
	}
	s, err := StartBinary(bin, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Stop() })
	return s
}

// StartBinary runs bin as a weed server with its data in dir, and waits
// until its S3 gateway answers. The caller must Stop it.
func StartBinary(bin, dir string) (*Server, error) {
	os.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	os.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(cfg, []byte(`{"identities":[{"name":"mlservice","credentials":[{"accessKey":"`+AccessKey+
		`","secretKey":"`+SecretKey+`"}],"actions":["Admin","Read","Write","List","Tagging"]}]}`), 0o600); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		ports, err := freePorts(4)
		if err != nil {
			return nil, err
		}
		s, err := run(bin, data, cfg, ports)
		if err == nil || attempt == 3 {
			return s, err
		}
	}
}

func run(bin, data, cfg string, ports []int) (*Server, error) {
	args := []string{"server",
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=" + data,
		fmt.Sprintf("-master.port=%d", ports[0]), fmt.Sprintf("-volume.port=%d", ports[1]),
		"-master.volumeSizeLimitMB=64", "-volume.max=16", "-master.telemetry=false",
		"-filer", fmt.Sprintf("-filer.port=%d", ports[2]),
		"-s3", fmt.Sprintf("-s3.port=%d", ports[3]), "-s3.config=" + cfg,
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		fmt.Sprintf("-filer.localSocket=%s", filepath.Join(data, "filer.sock")),
		fmt.Sprintf("-s3.localSocket=%s", filepath.Join(data, "s3.sock")),
	}
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", ports[3]), Dir: filepath.Dir(data),
		ports: ports, log: &bytes.Buffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w := &lockedWriter{mu: &s.mu, w: s.log}
	s.cmd.Stdout, s.cmd.Stderr = w, w
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start weed: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("weed server exited at start:\n%s", s.Log())
		default:
		}
		if ready(s.Endpoint) {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("weed server not answering on %s after 60s:\n%s", s.Endpoint, s.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ready reports whether the S3 gateway answers a ListBuckets (any status:
// an unsigned request is refused, but answered).
func ready(endpoint string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(endpoint + "/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < 500
}

// Log returns what the server printed.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Stop kills the server's process group and waits for it.
func (s *Server) Stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
	// weed puts its local gRPC sockets in /tmp whatever -dir says, named
	// by service and gRPC port (each port + 10000).
	for _, p := range s.ports {
		socks, _ := filepath.Glob(fmt.Sprintf("/tmp/seaweedfs-*-grpc-%d.sock", p+10000))
		for _, f := range socks {
			os.Remove(f)
		}
	}
}

// Pause stops the server's processes (SIGSTOP) so that it accepts
// connections but answers nothing, like a paused container; Resume
// continues them.
func (s *Server) Pause() error  { return syscall.Kill(-s.cmd.Process.Pid, syscall.SIGSTOP) }
func (s *Server) Resume() error { return syscall.Kill(-s.cmd.Process.Pid, syscall.SIGCONT) }

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 4<<20 {
		return len(p), nil
	}
	return l.w.Write(p)
}

// freePorts returns n free loopback ports p each with p+10000 free too
// (weed listens for gRPC on each port + 10000).
func freePorts(n int) ([]int, error) {
	var out []int
	var hold []net.Listener
	defer func() {
		for _, l := range hold {
			l.Close()
		}
	}()
	for tries := 0; len(out) < n && tries < 200; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		if p+10000 > 65535 {
			l.Close()
			continue
		}
		g, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+10000))
		if err != nil {
			l.Close()
			continue
		}
		hold = append(hold, l, g)
		out = append(out, p)
	}
	if len(out) < n {
		return nil, errors.New("no free port pairs (p, p+10000) on loopback")
	}
	return out, nil
}

// WaitWritable waits until a PUT through put succeeds: a fresh server
// grows its first volumes on the first write.
func WaitWritable(ctx context.Context, put func(context.Context) error) error {
	var err error
	for ctx.Err() == nil {
		if err = put(ctx); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("object store not writable: %v", err)
}
