package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
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

// TestEndToEndOwnTable walks infer → edit → train → serve with the real
// binaries on a real table no one here wrote (anes96): the trainer drafts a
// schema, the test edits it as a user would (PID is a party code, not a
// quantity: a category), trains, and the server predicts over HTTP; an
// unseen category is a 422 naming it; training under the unedited draft is
// refused as a schema change until -allow-schema-change is given.
func TestEndToEndOwnTable(t *testing.T) {
	trainerBin, serverBin := testkit.Binaries(t)
	artifacts := t.TempDir()
	work := t.TempDir()
	table := filepath.Join(testkit.Root(t), "testdata", "tables", "anes96.csv")

	// infer
	r := trainerRun(t, trainerBin, "schema", "infer", "-target", "vote", table)
	if r.Code != 0 {
		t.Fatalf("schema infer: %v", r)
	}
	draft, notes := r.Stdout, r.Stderr
	if !strings.Contains(notes, `"PID": number`) {
		t.Errorf("infer explains nothing about PID:\n%s", notes)
	}
	draftFile := filepath.Join(work, "draft.schema.json")
	testkit.WriteFile(t, draftFile, draft)

	// edit: PID becomes a category with the codes as declared strings.
	var s map[string]any
	if err := json.Unmarshal([]byte(draft), &s); err != nil {
		t.Fatal(err)
	}
	for _, f := range s["features"].([]any) {
		f := f.(map[string]any)
		if f["name"] == "PID" {
			f["type"] = "category"
			delete(f, "rules")
			f["categories"] = []string{"0", "1", "2", "3", "4", "5", "6"}
		}
	}
	edited, _ := json.MarshalIndent(s, "", "  ")
	schemaFile := filepath.Join(work, "anes96.schema.json")
	testkit.WriteFile(t, schemaFile, string(edited))

	// train
	out, _ := runTrainer(t, trainerBin, artifacts, "train", "-schema", schemaFile, table)
	if !out.Promoted {
		t.Fatalf("first version not promoted: %+v", out)
	}

	// serve
	base := testkit.StartServer(t, serverBin, nil, "-artifacts", artifacts).Base
	client := &http.Client{Timeout: 5 * time.Second}
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := call("GET", "/ready", ""); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server never ready")
		}
		time.Sleep(20 * time.Millisecond)
	}

	row := `{"popul":0,"TVnews":7,"selfLR":7,"ClinLR":1,"DoleLR":6,"PID":"6","age":36,"educ":3,"income":1}`
	code, body := call("POST", "/predict", row)
	if code != http.StatusOK || !strings.Contains(body, `"model_version_id":"`+out.ModelVersionID+`"`) {
		t.Fatalf("predict: %d %s", code, body)
	}
	code, body = call("POST", "/predict", strings.Replace(row, `"PID":"6"`, `"PID":"9"`, 1))
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `"field":"PID"`) || !strings.Contains(body, `\"9\"`) {
		t.Errorf("unseen PID: %d %s", code, body)
	}
	code, body = call("POST", "/predict", strings.Replace(row, `"PID":"6"`, `"PID":6`, 1))
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "must be a string") {
		t.Errorf("PID as a number: %d %s", code, body)
	}
	code, body = call("GET", "/schema", "")
	if code != http.StatusOK || !strings.Contains(body, `"request_json_schema"`) || !strings.Contains(body, "2020-12") {
		t.Errorf("/schema: %d %s", code, body)
	}

	// The unedited draft is another schema: refused, then allowed.
	refused, _ := runTrainer(t, trainerBin, artifacts, "train", "-schema", draftFile, table)
	if refused.Promoted {
		t.Fatalf("a schema change was promoted without -allow-schema-change: %+v", refused)
	}
	_, listing := runTrainer(t, trainerBin, artifacts, "versions", "-json")
	if !strings.Contains(listing, "schema changed") {
		t.Errorf("versions does not show the refusal:\n%s", listing)
	}
	allowed, _ := runTrainer(t, trainerBin, artifacts, "train", "-schema", draftFile, "-allow-schema-change", table)
	if !allowed.Promoted {
		t.Fatalf("-allow-schema-change did not promote: %+v", allowed)
	}
	// The server follows, and now takes PID as a number.
	deadline = time.Now().Add(5 * time.Second)
	for {
		code, body = call("POST", "/predict", strings.Replace(row, `"PID":"6"`, `"PID":6`, 1))
		if code == http.StatusOK && strings.Contains(body, allowed.ModelVersionID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new schema was not served: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
