//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/artifactsurl"
	"github.com/mlservice/mlservice/internal/page"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/internal/weedtest"
	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/s3"
)

// TestS3Replicas runs three real server processes against one SeaweedFS
// (`weed server -s3` on loopback), each following CURRENT at the default
// refresh interval, under load from concurrent keep-alive clients, while
// this process promotes a better candidate every 5 s through the library:
// every promotion is served by all three within 1 s, and no request fails.
// The soak lasts MLSERVICE_S3_SOAK (a Go duration; default 15s, the
// acceptance run uses 60s).
func TestS3Replicas(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server binary against SeaweedFS; skipped with -short")
	}
	soak := 15 * time.Second
	if v := os.Getenv("MLSERVICE_S3_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("MLSERVICE_S3_SOAK=%q: %v", v, err)
		}
		soak = d
	}
	weed := weedtest.Start(t)
	serverBin := testkit.Binary(t, "server")
	url := weed.URL("mlservice", "replicas")
	ctx := context.Background()
	var arts *mlservice.Artifacts
	cand := mlkit.WithF1(t, 0) // no evaluation rows: each promotion compares recorded F1s
	f1 := 0.1
	promote := func() *mlservice.Decision {
		t.Helper()
		c := *cand
		c.Metadata.Metric.Value = f1
		f1 += 0.01
		d, err := arts.Promote(ctx, &c)
		if err != nil || !d.Promoted {
			t.Fatalf("promote: %+v %v", d, err)
		}
		return d
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// A fresh engine grows its first volumes on the first write.
	if err := weedtest.WaitWritable(wctx, func(ctx context.Context) error {
		b, err := s3.Open(ctx, url)
		if err != nil {
			return err
		}
		_, err = b.Put(ctx, "probe", []byte("ok"), storage.Condition{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var err error
	arts, err = artifactsurl.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	first := promote()

	var replicas []*testkit.Server
	for range 3 {
		replicas = append(replicas, testkit.StartServer(t, serverBin, &testkit.ServerOptions{Dir: t.TempDir()}, "-artifacts-url", url))
	}
	for _, r := range replicas {
		if took, ok := r.Serves(first.VersionID, 5*time.Second); !ok {
			t.Fatalf("replica %s does not serve %s after %v:\n%s", r.Base, first.VersionID, took, r.Log())
		}
	}

	// Load: four keep-alive clients per replica.
	stop := make(chan struct{})
	var ok, failed atomic.Int64
	var failMu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for _, r := range replicas {
		for range 4 {
			wg.Go(func() {
				client := &http.Client{Timeout: 2 * time.Second}
				for {
					select {
					case <-stop:
						return
					default:
					}
					resp, err := client.Post(r.Base+"/predict", "application/json", strings.NewReader(validBody))
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							ok.Add(1)
							continue
						}
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					failed.Add(1)
					failMu.Lock()
					if len(failures) < 10 {
						failures = append(failures, r.Base+": "+err.Error())
					}
					failMu.Unlock()
				}
			})
		}
	}

	var lags []time.Duration
	start := time.Now()
	for time.Since(start) < soak {
		time.Sleep(5 * time.Second)
		d := promote()
		promoted := time.Now()
		var worst time.Duration
		for _, r := range replicas {
			if _, ok := r.Serves(d.VersionID, 5*time.Second); !ok {
				t.Errorf("replica %s does not serve %s 5s after its promotion", r.Base, d.VersionID)
			}
			worst = max(worst, time.Since(promoted))
		}
		lags = append(lags, worst)
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("soak %v: %d promotions, each served by all 3 replicas within %v (max %v); %d predictions (%.0f/s), %d failed",
		elapsed.Round(time.Second), len(lags), lags, slicesMax(lags), ok.Load(), float64(ok.Load())/elapsed.Seconds(), failed.Load())
	if failed.Load() != 0 {
		t.Errorf("%d requests failed, first: %v", failed.Load(), failures)
	}
	if m := slicesMax(lags); m > time.Second {
		t.Errorf("a promotion took %v (> 1s) to reach all three replicas", m)
	}
	// Each replica reports the object store on /metrics and /versions.
	for _, r := range replicas {
		code, body := r.Get(t, "/metrics")
		if code != http.StatusOK || !strings.Contains(body, "mlservice_store_errors_total 0") {
			t.Errorf("metrics of %s: %d, no mlservice_store_errors_total 0", r.Base, code)
		}
		code, body = r.Get(t, "/versions")
		var vs struct{ Versions []mlservice.VersionInfo }
		if code != http.StatusOK || json.Unmarshal([]byte(body), &vs) != nil || len(vs.Versions) != len(lags)+1 {
			t.Errorf("versions of %s: %d, %d versions, want %d", r.Base, code, len(vs.Versions), len(lags)+1)
		}
	}
}

func slicesMax(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// TestS3SchemaEndToEnd runs both binaries against SeaweedFS through
// -artifacts-url: the trainer trains a declared-schema table (grunfeld),
// the server serves it (/schema, /predict, /versions, the history page),
// the trainer refuses a schema change without -allow-schema-change and
// writes the report from the object store; the artifacts directory is never
// touched.
func TestS3SchemaEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs both binaries against SeaweedFS; skipped with -short")
	}
	weed := weedtest.Start(t)
	trainerBin, serverBin := testkit.Binaries(t)
	url := weed.URL("mlservice", "schema-e2e")
	mlkit.OpenS3(t, url) // waits until the fresh engine takes writes
	dir := t.TempDir()   // ARTIFACTS_DIR: must stay empty
	tables := "../../testdata/tables/"

	first, _ := runTrainer(t, trainerBin, dir, "train", "-artifacts-url", url, "-schema", tables+"grunfeld.schema.json", tables+"grunfeld.csv")
	if !first.Promoted {
		t.Fatalf("grunfeld not promoted: %+v", first)
	}
	srv := testkit.StartServer(t, serverBin, &testkit.ServerOptions{Dir: t.TempDir()}, "-artifacts-url", url)
	if took, ok := srv.Serves(first.ModelVersionID, 10*time.Second); !ok {
		t.Fatalf("server does not serve %s after %v:\n%s", first.ModelVersionID, took, srv.Log())
	}
	code, body := srv.Get(t, "/schema")
	var sc struct {
		ID     string `json:"model_version_id"`
		FSV    string `json:"feature_schema_version"`
		Schema struct{ Name string }
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &sc) != nil || sc.ID != first.ModelVersionID ||
		sc.Schema.Name != "grunfeld" || !strings.HasPrefix(sc.FSV, "grunfeld@1+sha256:") {
		t.Fatalf("GET /schema: %d %s", code, body)
	}
	resp, err := srv.Client.Post(srv.Base+"/predict", "application/json",
		strings.NewReader(`{"firm":"IBM","year":1950,"value":3000,"capital":200}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /predict under grunfeld: %d", resp.StatusCode)
	}

	// The default five-column schema is a schema change: rejected. (Without
	// -schema the trainer would reuse grunfeld's, the current version's.)
	_, out := runTrainer(t, trainerBin, dir, "train", "-artifacts-url", url, "-schema", "builtin", testkit.Data(t, "day_01.csv"))
	var refused struct {
		ID       string `json:"model_version_id"`
		Promoted bool
		Reason   string
	}
	if err := json.Unmarshal([]byte(out), &refused); err != nil || refused.Promoted || !strings.Contains(refused.Reason, "schema changed") {
		t.Fatalf("a schema change without -allow-schema-change: %s (%v)", out, err)
	}

	code, body = srv.Get(t, "/versions")
	var vs struct {
		Versions []struct {
			ID       string `json:"model_version_id"`
			Decision string
		}
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &vs) != nil || len(vs.Versions) != 2 ||
		vs.Versions[0].ID != refused.ID || vs.Versions[0].Decision != "rejected" || vs.Versions[1].ID != first.ModelVersionID {
		t.Fatalf("GET /versions: %d %s", code, body)
	}
	if code, body := srv.Get(t, page.IndexPath); code != http.StatusOK || !strings.Contains(body, first.ModelVersionID) {
		t.Fatalf("GET /: %d\n%s", code, body)
	}
	if code, body := srv.Get(t, page.VersionPath+first.ModelVersionID); code != http.StatusOK || !strings.Contains(body, "grunfeld") {
		t.Fatalf("GET %s: %d\n%s", page.VersionPath+first.ModelVersionID, code, body)
	}

	report := t.TempDir()
	runTrainer(t, trainerBin, dir, "report", "-artifacts-url", url, "-out", report)
	for _, id := range []string{first.ModelVersionID, refused.ID} {
		if _, err := os.Stat(filepath.Join(report, page.VersionFile(id))); err != nil {
			t.Errorf("report: %v", err)
		}
	}
	if index := testkit.ReadFile(t, filepath.Join(report, "index.html")); !strings.Contains(string(index), refused.ID) {
		t.Errorf("report index.html lacks %s", refused.ID)
	}
	if entries := testkit.Entries(t, dir); len(entries) != 0 {
		t.Errorf("ARTIFACTS_DIR was written: %v", entries)
	}
}
