//go:build unix

package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// TestHostileStore runs the real server binary against an artifacts
// directory that misbehaves in the ways a Store must survive.
func TestHostileStore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary; skipped with -short")
	}
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
