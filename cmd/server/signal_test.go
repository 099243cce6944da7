//go:build unix

package main

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/testkit"
)

// TestSIGHUPReloads runs the real server with a reload interval too long to
// matter: only SIGHUP can make it pick up the version the trainer promotes,
// and the process must keep serving through the signal (without a handler
// SIGHUP ends it).
func TestSIGHUPReloads(t *testing.T) {
	trainerBin, serverBin := testkit.Binaries(t)
	artifacts := t.TempDir()
	srv := testkit.StartServer(t, serverBin, &testkit.ServerOptions{Env: []string{"SHUTDOWN_GRACE=0"}},
		"-artifacts", artifacts, "-reload-interval", "1h")
	base, log := srv.Base, srv.Log
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

	day1, _ := runTrainer(t, trainerBin, artifacts, "train", testkit.Data(t, "day_01.csv"))
	if !day1.Promoted {
		t.Fatalf("day 1 not promoted: %+v", day1)
	}
	time.Sleep(300 * time.Millisecond)
	if code, body := ready(); code != http.StatusServiceUnavailable {
		t.Fatalf("/ready before SIGHUP: %d %s; the 1h interval should not have picked up %s", code, body, day1.ModelVersionID)
	}

	for i := range 2 { // the second signal: still alive, nothing changed
		if err := srv.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			select {
			case <-srv.Exited():
				t.Fatalf("server exited on SIGHUP %d: %v\n%s", i+1, srv.Err(), log())
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

	if err := srv.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Exited():
		if err := srv.Err(); err != nil {
			t.Errorf("server exited with %v after SIGTERM\n%s", err, log())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop within 10 s of SIGTERM")
	}
}
