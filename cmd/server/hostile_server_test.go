//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// TestHostileStore runs the real server binary against an artifacts
// directory that misbehaves in the ways a Store must survive.
func TestHostileStore(t *testing.T) {
	bin := testkit.Binary(t, "server")

	// CURRENT replaced by a FIFO that nobody writes: the server's check of
	// CURRENT blocks in a read, as on a hung network file system. The
	// status endpoints and predictions answer from memory regardless.
	t.Run("CURRENT is a FIFO", func(t *testing.T) {
		dir := t.TempDir()
		d := mlkit.PromoteDay(t, dir, "day_01.csv")
		srv := testkit.StartServer(t, bin, &testkit.ServerOptions{Dir: dir}, "-artifacts", dir, "-reload-interval", "10ms")
		if code, body := srv.Get(t, "/ready"); code != http.StatusOK {
			t.Fatalf("/ready before the FIFO: %d %s", code, body)
		}

		// Undone at the end, even on failure: CURRENT a file again first,
		// then the reader released (EOF once the write end closes).
		fifo := testkit.FIFOAt(t, filepath.Join(dir, "models", "CURRENT"))

		// Wait until the server is stuck reading the FIFO: a non-blocking
		// open for writing succeeds only once a reader has it open. Holding
		// the write end open (and writing nothing) keeps that reader blocked,
		// now in read. A server whose reader refuses FIFOs shows the refusal
		// in /ready's last_error instead.
		stuck, refused := false, ""
		for deadline := time.Now().Add(30 * time.Second); !stuck && refused == "" && time.Now().Before(deadline); {
			if fifo.Hold() {
				stuck = true
				break
			}
			_, body := srv.Get(t, "/ready")
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

		code, body := srv.Get(t, "/ready")
		if code != http.StatusOK || !strings.Contains(body, d.VersionID) {
			t.Errorf("/ready with CURRENT a FIFO: %d %s; want 200 still serving %s", code, body, d.VersionID)
		}
		code, body = srv.Get(t, "/metrics")
		if code != http.StatusOK || !strings.Contains(body, "mlservice_model_ready 1") {
			t.Errorf("/metrics with CURRENT a FIFO: %d, mlservice_model_ready 1 missing", code)
		}
		if code, body := srv.Get(t, "/model"); code != http.StatusOK || !strings.Contains(body, d.VersionID) {
			t.Errorf("/model with CURRENT a FIFO: %d %.200s", code, body)
		}
		resp, err := srv.Client.Post(srv.Base+"/predict", "application/json", strings.NewReader(validBody))
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
		resp, err = srv.Client.Get(srv.Base + "/versions")
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
		srv := testkit.StartServer(t, bin, &testkit.ServerOptions{Dir: work}, "-artifacts", "./artifcats", "-reload-interval", "10ms")
		const want = `artifacts directory \"./artifcats\" does not exist` // as JSON spells it
		if !strings.Contains(srv.Log(), want) || !strings.Contains(srv.Log(), `"level":"WARN"`) {
			t.Errorf("no start-up warning naming the directory in the log:\n%s", srv.Log())
		}
		code, body := srv.Get(t, "/ready")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, want) {
			t.Errorf("/ready with a mistyped directory: %d %s; want 503 with reason %s", code, body, want)
		}
		if strings.Contains(body, work) {
			t.Errorf("/ready shows an absolute path the user did not give: %s", body)
		}

		d := mlkit.PromoteDay(t, filepath.Join(work, "artifcats"), "day_01.csv")
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			code, body = srv.Get(t, "/ready")
			if code == http.StatusOK && strings.Contains(body, d.VersionID) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/ready once the directory exists: %d %s", code, body)
			}
		}
	})
}

// End-to-end attacks on the real server binary over 127.0.0.1: what a
// careless or hostile client can do, and what an operator's SIGTERM does
// under load.

// startLive promotes day 1 into a fresh artifacts directory and starts the
// server binary on it with env added.
func startLive(t *testing.T, env ...string) *testkit.Server {
	t.Helper()
	serverBin := testkit.Binary(t, "server")
	artifacts := t.TempDir()
	mlkit.PromoteDay(t, artifacts, "day_01.csv")
	return testkit.StartServer(t, serverBin, &testkit.ServerOptions{Env: env, Wait: 10 * time.Second}, "-artifacts", artifacts)
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
				resp, err := client.Post(ls.Base+"/predict", "application/json", strings.NewReader(validBody))
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
	if err := ls.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stopAt)
	wg.Wait()

	select {
	case <-ls.Exited():
		if err := ls.Err(); err != nil {
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
	if !strings.Contains(ls.Log(), `"msg":"stopped"`) {
		t.Errorf("no graceful stop in the server log:\n%s", ls.Log())
	}
}

// TestHostileRequests: what careless and hostile clients send, against the
// real binary.
func TestHostileRequests(t *testing.T) {
	ls := startLive(t, "ADMIN_TOKEN=s3cret")
	client := &http.Client{Timeout: 10 * time.Second}
	var fiveHundreds []string
	do := func(method, path, contentType, body string, header ...string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(method, ls.Base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 500 {
			fiveHundreds = append(fiveHundreds, fmt.Sprintf("%s %s: %d %s", method, path, resp.StatusCode, b))
		}
		return resp.StatusCode, resp.Header, string(b)
	}

	t.Run("invented methods and paths keep /metrics bounded", func(t *testing.T) {
		for i := range 2000 {
			do(fmt.Sprintf("BREW%d", i), fmt.Sprintf("/pot/%d", i), "", "")
			do(fmt.Sprintf("X-%d", i), "/predict", "", "")
		}
		_, _, metrics := do("GET", "/metrics", "", "")
		var series []string
		for _, line := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(line, "mlservice_http_requests_total{") {
				series = append(series, line)
			}
		}
		for _, want := range []string{
			`mlservice_http_requests_total{code="404",method="other",route="unmatched"} 2000`,
			`mlservice_http_requests_total{code="405",method="other",route="unmatched"} 2000`,
		} {
			if !slices.Contains(series, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if len(series) > 4 || len(metrics) > 64<<10 {
			t.Errorf("%d request series, /metrics %d bytes after 4000 invented requests:\n%s", len(series), len(metrics), strings.Join(series, "\n"))
		}
	})
	t.Run("HEAD on GET routes", func(t *testing.T) {
		for _, path := range []string{"/health", "/ready", "/model", "/versions", "/metrics"} {
			status, h, body := do("HEAD", path, "", "")
			if status != http.StatusOK || body != "" || h.Get("Content-Type") == "" {
				t.Errorf("HEAD %s: %d, Content-Type %q, body %q", path, status, h.Get("Content-Type"), body)
			}
		}
	})
	t.Run("bearer scheme in any case", func(t *testing.T) {
		for auth, want := range map[string]int{"bearer s3cret": 200, "BEARER s3cret": 200, "Bearer S3CRET": 401, "s3cret": 401} {
			if status, _, body := do("POST", "/reload", "", "", "Authorization", auth); status != want {
				t.Errorf("Authorization %q: %d %s, want %d", auth, status, body, want)
			}
		}
	})
	t.Run("form-encoded body", func(t *testing.T) {
		// What curl -d sends without -H 'Content-Type: application/json'.
		status, _, body := do("POST", "/predict", "application/x-www-form-urlencoded", validBody)
		if status != http.StatusUnsupportedMediaType || !strings.Contains(body, "application/json") {
			t.Errorf("%d %s, want 415 saying to send application/json", status, body)
		}
	})
	t.Run("duplicate keys", func(t *testing.T) {
		twice := strings.TrimSuffix(validBody, "}") + `,"age":-5}`
		for path, body := range map[string]string{"/predict": twice, "/predict/batch": `{"instances":[` + validBody + `,` + twice + `]}`} {
			status, _, got := do("POST", path, "application/json", body)
			if status != http.StatusUnprocessableEntity || !strings.Contains(got, `"field":"age","reason":"appears more than once"`) {
				t.Errorf("%s: %d %s, want 422 naming age", path, status, got)
			}
		}
	})
	t.Run("duplicate-key flood", func(t *testing.T) {
		// 800 KB of "age":1: the answer lists the first 100 repeats and
		// counts the rest, instead of 5.8 MB naming every one.
		flood := "{" + strings.Repeat(`"age":1,`, 99_999) + `"age":1}`
		for path, body := range map[string]string{"/predict": flood, "/predict/batch": `{"instances":[` + flood + `]}`} {
			status, _, got := do("POST", path, "application/json", body)
			var e errorBody
			if err := json.Unmarshal([]byte(got), &e); err != nil {
				t.Fatalf("%s: %d %.200s: %v", path, status, got, err)
			}
			if status != http.StatusUnprocessableEntity || len(got) > 32<<10 ||
				len(e.Error.Fields) != mlservice.MaxFieldProblems || e.Error.FieldsOmitted != 99_999-mlservice.MaxFieldProblems {
				t.Errorf("%s: %d, %d bytes, %d fields listed, %d omitted; want 422 listing %d and counting the rest",
					path, status, len(got), len(e.Error.Fields), e.Error.FieldsOmitted, mlservice.MaxFieldProblems)
			}
		}
	})
	t.Run("no 5xx and no error logged for any of it", func(t *testing.T) {
		if len(fiveHundreds) > 0 {
			t.Errorf("server errors for client mistakes: %q", fiveHundreds)
		}
		if strings.Contains(ls.Log(), `"level":"ERROR"`) {
			t.Errorf("the server logged errors:\n%s", ls.Log())
		}
	})
}
