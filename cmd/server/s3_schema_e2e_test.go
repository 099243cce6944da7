//go:build unix

package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/page"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/internal/weedtest"
)

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
