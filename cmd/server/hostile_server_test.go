package main

// End-to-end attacks on the real server binary over 127.0.0.1: what a
// careless or hostile client can do, and what an operator's SIGTERM does
// under load.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// liveServer is the server binary running on a trained model.
type liveServer struct {
	cmd  *exec.Cmd
	base string
	mu   sync.Mutex // guards logs
	logs bytes.Buffer
	exit chan error // the process's exit, once
}

// startLive builds the server, promotes day 1 into a fresh artifacts
// directory and starts the binary on it with env added.
func startLive(t *testing.T, env ...string) *liveServer {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the server binary; skipped with -short")
	}
	_, serverBin := buildBinaries(t)
	artifacts := t.TempDir()
	promoteDay(t, artifacts, "day_01.csv")

	ls := &liveServer{exit: make(chan error, 1)}
	ls.cmd = exec.Command(serverBin, "-addr", "127.0.0.1:0", "-artifacts", artifacts)
	ls.cmd.Env = append(append(os.Environ(), "LOG_FORMAT=json", "LOG_LEVEL=info"), env...)
	stderr, err := ls.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ls.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			ls.mu.Lock()
			ls.logs.Write(append(sc.Bytes(), '\n'))
			ls.mu.Unlock()
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
		}
		ls.exit <- ls.cmd.Wait()
	}()
	t.Cleanup(func() { ls.cmd.Process.Kill() })
	select {
	case a := <-addr:
		ls.base = "http://" + a
	case <-time.After(10 * time.Second):
		t.Fatalf("server did not log its address:\n%s", ls.log())
	}
	return ls
}

func (ls *liveServer) log() string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.logs.String()
}

// TestHostileSIGTERMUnderLoad: SIGTERM while 32 keep-alive clients post
// /predict, some back to back and some pausing so that their connections
// sit idle at the moment of the signal. Clients keep sending for 300 ms
// after the signal (a load balancer takes that long to move off) and then
// stop. Every request must succeed, and the server must exit 0.
func TestHostileSIGTERMUnderLoad(t *testing.T) {
	ls := startLive(t)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()

	var sent, failed atomic.Int64
	var firstFailure atomic.Value
	stopAt := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			for {
				select {
				case <-stopAt:
					return
				default:
				}
				sent.Add(1)
				resp, err := client.Post(ls.base+"/predict", "application/json", strings.NewReader(validBody))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				}
				if c%2 == 1 { // half the clients leave their connection idle a while
					time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	if err := ls.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stopAt)
	wg.Wait()

	select {
	case err := <-ls.exit:
		if err != nil {
			t.Errorf("server exited with %v after SIGTERM, want status 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop within 15 s of SIGTERM")
	}
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed across SIGTERM; first: %v", n, sent.Load(), firstFailure.Load())
	}
	if sent.Load() < 1000 {
		t.Errorf("only %d requests sent: the load did not run", sent.Load())
	}
	t.Logf("%d requests across SIGTERM, %d failed", sent.Load(), failed.Load())
	if !strings.Contains(ls.log(), `"msg":"stopped"`) {
		t.Errorf("no graceful stop in the server log:\n%s", ls.log())
	}
}

var _ = errors.Is
var _ = net.Dial
var _ = context.Background
var _ = filepath.Join
