//go:build unix

package main

import (
	"bufio"
	"encoding/json"
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

// TestSIGHUPReloads runs the real server with a reload interval too long to
// matter: only SIGHUP can make it pick up the version the trainer promotes,
// and the process must keep serving through the signal (without a handler
// SIGHUP ends it).
func TestSIGHUPReloads(t *testing.T) {
	trainerBin, serverBin := haBinaries(t)
	artifacts := t.TempDir()
	srv := exec.Command(serverBin, "-addr", "127.0.0.1:0", "-artifacts", artifacts, "-reload-interval", "1h")
	srv.Env = append(os.Environ(), "LOG_FORMAT=json", "LOG_LEVEL=info", "SHUTDOWN_GRACE=0")
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() { srv.Process.Kill(); <-exited })
	var mu sync.Mutex
	var logs strings.Builder
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			logs.Write(append(sc.Bytes(), '\n'))
			mu.Unlock()
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
		}
		exited <- srv.Wait()
	}()
	log := func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not log its address:\n%s", log())
	}
	client := &http.Client{Timeout: 2 * time.Second}
	ready := func() (int, string) {
		resp, err := client.Get(base + "/ready")
		if err != nil {
			t.Fatalf("GET /ready: %v\n%s", err, log())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	day1, _ := runTrainer(t, trainerBin, artifacts, "train", filepath.Join("..", "..", "data", "day_01.csv"))
	if !day1.Promoted {
		t.Fatalf("day 1 not promoted: %+v", day1)
	}
	time.Sleep(300 * time.Millisecond)
	if code, body := ready(); code != http.StatusServiceUnavailable {
		t.Fatalf("/ready before SIGHUP: %d %s; the 1h interval should not have picked up %s", code, body, day1.ModelVersionID)
	}

	for i := range 2 { // the second signal: still alive, nothing changed
		if err := srv.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			select {
			case err := <-exited:
				t.Fatalf("server exited on SIGHUP %d: %v\n%s", i+1, err, log())
			default:
			}
			code, body := ready()
			if code == http.StatusOK && strings.Contains(body, day1.ModelVersionID) && strings.Count(log(), `"msg":"SIGHUP: reloaded"`) > i {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after SIGHUP %d: /ready %d %s\n%s", i+1, code, body, log())
			}
		}
	}

	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Errorf("server exited with %v after SIGTERM\n%s", err, log())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop within 10 s of SIGTERM")
	}
}
