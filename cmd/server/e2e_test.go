package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/testkit"
)

// TestEndToEnd runs the real binaries on 127.0.0.1: the server starts with
// no model, the trainer promotes day 1, the server becomes ready; under a
// load of concurrent clients the trainer promotes day 2 and a rollback
// returns to day 1, served within 0.5 s (the median of the three; see
// waitFor) with no failed request.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries; skipped with -short")
	}
	trainerBin, serverBin := testkit.Binaries(t)
	artifacts := t.TempDir()

	srv := testkit.StartServer(t, serverBin, nil, "-artifacts", artifacts)
	base := srv.Base
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	get := func(path string) (int, []byte) {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	predict := func() (int, string, error) {
		resp, err := client.Post(base+"/predict", "application/json", strings.NewReader(validBody))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var p struct {
			ID string `json:"model_version_id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, p.ID, err
	}
	// waitFor polls /predict until it answers with id (10 s is a give-up
	// bound, not the promise), then returns how long after CURRENT was
	// written the server loaded it: CURRENT's mtime to /ready's loaded_at,
	// both stamped on this machine's clock, so the time this test's
	// polling and its 16 load goroutines take is not charged to the server.
	var pickups []time.Duration
	waitFor := func(id, what string) {
		t.Helper()
		start := time.Now()
		for {
			if code, got, _ := predict(); code == 200 && got == id {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("server never served %s (%s)", id, what)
			}
			time.Sleep(2 * time.Millisecond)
		}
		fi, err := os.Stat(testkit.Models(artifacts, "CURRENT"))
		if err != nil {
			t.Fatal(err)
		}
		var ready struct {
			ID       string    `json:"model_version_id"`
			LoadedAt time.Time `json:"loaded_at"`
		}
		if code, body := get("/ready"); code != 200 || json.Unmarshal(body, &ready) != nil || ready.ID != id {
			t.Fatalf("/ready after serving %s: %d %s", id, code, body)
		}
		pickup := ready.LoadedAt.Sub(fi.ModTime())
		t.Logf("%s served %v after CURRENT was written (%v after the trainer returned, as this test saw it)",
			what, pickup.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		if pickup > 2*time.Second {
			t.Errorf("%s served %v after CURRENT was written; want ≤ 0.5 s", what, pickup)
		}
		pickups = append(pickups, pickup)
	}

	if code, body := get("/ready"); code != http.StatusServiceUnavailable {
		t.Fatalf("/ready before training: %d %s", code, body)
	}
	if code, _, _ := predict(); code != http.StatusServiceUnavailable {
		t.Fatalf("/predict before training: %d", code)
	}

	day1, _ := runTrainer(t, trainerBin, artifacts, "train", testkit.Data(t, "day_01.csv"))
	if !day1.Promoted {
		t.Fatalf("day 1 not promoted: %+v", day1)
	}
	waitFor(day1.ModelVersionID, "the first promotion")
	if code, body := get("/ready"); code != 200 || !strings.Contains(string(body), day1.ModelVersionID) {
		t.Fatalf("/ready after training: %d %s", code, body)
	}

	// Load: clients predict continuously while versions change.
	var ok, failed atomic.Int64
	var firstFailure atomic.Value
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				code, _, err := predict()
				if err != nil || code != 200 {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("status %d, error %v", code, err))
					continue
				}
				ok.Add(1)
			}
		}()
	}

	time.Sleep(200 * time.Millisecond)
	day2, _ := runTrainer(t, trainerBin, artifacts, "train", testkit.Data(t, "day_02.csv"))
	if !day2.Promoted {
		t.Fatalf("day 2 not promoted: %+v", day2)
	}
	waitFor(day2.ModelVersionID, "the promotion of day 2")

	_, table := runTrainer(t, trainerBin, artifacts, "versions")
	for _, id := range []string{day1.ModelVersionID, day2.ModelVersionID} {
		if !strings.Contains(table, id) {
			t.Errorf("trainer versions lacks %s:\n%s", id, table)
		}
	}
	runTrainer(t, trainerBin, artifacts, "rollback", day1.ModelVersionID)
	waitFor(day1.ModelVersionID, "the rollback")
	// The promise, 0.5 s, is held to the median of the three: one scheduler
	// stall on a loaded CI machine cannot fail it alone (any one sample
	// still fails past 2 s), while a server that does not follow within
	// 0.5 s fails it every run.
	if med := slices.Sorted(slices.Values(pickups))[len(pickups)/2]; med > 500*time.Millisecond {
		t.Errorf("promotions and rollback served after %v: median %v, want ≤ 0.5 s", pickups, med)
	}
	time.Sleep(200 * time.Millisecond)
	stop()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed during promotion and rollback; first: %v", n, n+ok.Load(), firstFailure.Load())
	}
	if ok.Load() < 100 {
		t.Errorf("only %d requests succeeded; the load did not run", ok.Load())
	}
	t.Logf("%d requests under load, %d failed", ok.Load(), failed.Load())

	// Graceful shutdown on SIGTERM.
	if err := srv.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Exited():
		if err := srv.Err(); err != nil {
			t.Errorf("server exited with %v after SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("server did not stop within 10 s of SIGTERM")
	}
	if !strings.Contains(srv.Log(), `"msg":"stopped"`) {
		t.Errorf("no graceful stop in the server log:\n%s", srv.Log())
	}
}
