package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

const validBody = `{"age":42,"income":52000,"account_balance":1800.5,"transactions_last_30d":12,"is_premium":1}`

type testServer struct {
	*server
	h     http.Handler
	store *mlservice.Store
	dir   string
}

func newTestServer(t testing.TB, mutate func(*config)) *testServer {
	t.Helper()
	dir := t.TempDir()
	cfg, err := parseConfig([]string{"-artifacts", dir, "-reload-interval", "10ms"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(&cfg)
	}
	store, err := mlservice.OpenStore(dir, mlservice.StoreOptions{RefreshInterval: cfg.reloadInterval})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s := newServer(cfg, store, slog.New(slog.DiscardHandler))
	return &testServer{server: s, h: s.handler(), store: store, dir: dir}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (ts *testServer) do(t testing.TB, method, path, contentType, body string, header ...string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	ts.h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.Bytes()}
}

// errorJSON decodes the error body every non-2xx answer must have.
func errorJSON(t testing.TB, r response) errorDetail {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	var b errorBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if b.Error.Code == "" || b.Error.Message == "" {
		t.Errorf("error body %s lacks code or message", r.body)
	}
	return b.Error
}

func TestNotReadyThenReadyWithoutRestart(t *testing.T) {
	ts := newTestServer(t, nil)
	r := ts.do(t, "GET", "/ready", "", "")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("/ready before any model: %d %s", r.status, r.body)
	}
	var rr readyResponse
	if err := json.Unmarshal(r.body, &rr); err != nil || rr.Ready || rr.Reason == "" || rr.ModelVersionID != nil {
		t.Fatalf("/ready body %s (%v)", r.body, err)
	}
	if bytes.Contains(r.body, []byte("model_version_id")) {
		t.Errorf("/ready names a model version while none is loaded: %s", r.body)
	}
	r = ts.do(t, "POST", "/predict", "application/json", validBody)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("/predict before any model: %d %s", r.status, r.body)
	}
	if e := errorJSON(t, r); e.Code != "not_ready" {
		t.Errorf("code %q", e.Code)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	for _, path := range []string{"/model"} {
		if r := ts.do(t, "GET", path, "", ""); r.status != http.StatusServiceUnavailable {
			t.Errorf("GET %s before any model: %d", path, r.status)
		}
	}

	d := mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	deadline := time.Now().Add(10 * time.Second) // a give-up bound, not a promise
	for {
		r = ts.do(t, "POST", "/predict", "application/json", validBody)
		if r.status == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r.status != http.StatusOK {
		t.Fatalf("/predict after promotion: %d %s", r.status, r.body)
	}
	var p map[string]any
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	if p["model_version_id"] != d.VersionID {
		t.Errorf("model_version_id %v, promoted %s", p["model_version_id"], d.VersionID)
	}
	if _, ok := p["prediction"].(float64); !ok {
		t.Errorf("prediction missing in %s", r.body)
	}
	if prob, ok := p["probability"].(float64); !ok || prob < 0 || prob > 1 {
		t.Errorf("probability %v", p["probability"])
	}
	if r := ts.do(t, "GET", "/ready", "", ""); r.status != http.StatusOK || !strings.Contains(string(r.body), d.VersionID) {
		t.Errorf("/ready after promotion: %d %s", r.status, r.body)
	}
}

func TestModelAndVersions(t *testing.T) {
	ts := newTestServer(t, nil)
	d1 := mlkit.PromoteDay(t, ts.dir, "day_02.csv")
	d2 := mlkit.PromoteDay(t, ts.dir, "day_03.csv") // scores below day 02: rejected, but listed
	if !d1.Promoted || d2.Promoted {
		t.Fatalf("day 02 promoted %v, day 03 promoted %v; the sample data promises true, false", d1.Promoted, d2.Promoted)
	}
	ts.store.Reload(context.Background())

	r := ts.do(t, "GET", "/model", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("/model %d", r.status)
	}
	var meta mlservice.Metadata
	if err := json.Unmarshal(r.body, &meta); err != nil {
		t.Fatal(err)
	}
	cur := d1.VersionID
	if meta.ModelVersionID != cur || meta.Metric.Name != "f1" || meta.FeatureSchemaVersion == "" {
		t.Errorf("/model gave %+v", meta)
	}

	r = ts.do(t, "GET", "/versions", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("/versions %d", r.status)
	}
	var vs struct {
		Serving  string                  `json:"serving"`
		Versions []mlservice.VersionInfo `json:"versions"`
	}
	if err := json.Unmarshal(r.body, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs.Versions) != 2 || vs.Versions[0].VersionID != d2.VersionID || vs.Versions[1].VersionID != d1.VersionID {
		t.Fatalf("/versions not newest first: %s", r.body)
	}
	if vs.Serving != cur {
		t.Errorf("serving %q, CURRENT %q", vs.Serving, cur)
	}
	if vs.Versions[0].Decision != mlservice.DecisionRejected || vs.Versions[1].Decision != mlservice.DecisionPromoted ||
		vs.Versions[0].Current || !vs.Versions[1].Current {
		t.Errorf("decisions and current flags wrong: %s", r.body)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	ts := newTestServer(t, nil)
	r := ts.do(t, "GET", "/nope", "", "")
	if r.status != 404 || errorJSON(t, r).Code != "not_found" {
		t.Errorf("GET /nope: %d %s", r.status, r.body)
	}
	r = ts.do(t, "GET", "/predict", "", "")
	if r.status != 405 || errorJSON(t, r).Code != "method_not_allowed" {
		t.Errorf("GET /predict: %d %s", r.status, r.body)
	}
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "POST") {
		t.Errorf("405 Allow header %q", allow)
	}
	r = ts.do(t, "GET", "/health", "", "")
	if r.status != 200 || string(bytes.TrimSpace(r.body)) != `{"status":"ok"}` {
		t.Errorf("/health: %d %s", r.status, r.body)
	}
}

// TestHeadOnGetRoutes: HEAD is GET without the body (RFC 9110 §9.3.2).
func TestHeadOnGetRoutes(t *testing.T) {
	ts := newTestServer(t, nil)
	mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	ts.store.Reload(context.Background())
	srv := httptest.NewServer(ts.h)
	defer srv.Close()
	for _, path := range []string{"/health", "/ready", "/model", "/versions", "/metrics"} {
		resp, err := http.Head(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Content-Type") == "" {
			t.Errorf("HEAD %s: %d, Content-Type %q, %d body bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	if r := ts.do(t, "HEAD", "/predict", "", ""); r.status != http.StatusMethodNotAllowed {
		t.Errorf("HEAD /predict: %d, want 405", r.status)
	}
}

// TestDraining: once draining, every answer closes its connection and
// /ready fails, so clients and load balancers move off before the
// listener closes.
func TestDraining(t *testing.T) {
	ts := newTestServer(t, nil)
	mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	ts.store.Reload(context.Background())
	if r := ts.do(t, "POST", "/predict", "application/json", validBody); r.header.Get("Connection") != "" {
		t.Errorf("Connection: %q before draining", r.header.Get("Connection"))
	}
	ts.draining.Store(true)
	r := ts.do(t, "POST", "/predict", "application/json", validBody)
	if r.status != http.StatusOK || r.header.Get("Connection") != "close" {
		t.Errorf("draining /predict: %d, Connection %q; want 200 and close", r.status, r.header.Get("Connection"))
	}
	r = ts.do(t, "GET", "/ready", "", "")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "shutting down") {
		t.Errorf("draining /ready: %d %s", r.status, r.body)
	}
}

// After a rollback GET /versions shows the pin: on the version, as
// "current" and as "pin" with the rollback's time and previous version; an
// unpin takes it away again.
func TestVersionsShowsRollbackPin(t *testing.T) {
	ts := newTestServer(t, nil)
	d1 := mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	d2 := mlkit.PromoteDay(t, ts.dir, "day_02.csv")
	rec, err := mlservice.Rollback(context.Background(), ts.dir, d1.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	type listing struct {
		Versions []mlservice.VersionInfo `json:"versions"`
		Current  mlservice.Current       `json:"current"`
		Pin      *mlservice.RollbackInfo `json:"pin"`
		Error    string                  `json:"current_error"`
	}
	get := func() listing {
		t.Helper()
		r := ts.do(t, "GET", "/versions", "", "")
		var l listing
		if r.status != http.StatusOK || json.Unmarshal(r.body, &l) != nil {
			t.Fatalf("/versions %d %s", r.status, r.body)
		}
		return l
	}
	l := get()
	if l.Current != (mlservice.Current{VersionID: d1.VersionID, Pinned: true}) || l.Pin == nil || l.Pin.VersionID != d1.VersionID ||
		!l.Pin.Time.Equal(rec.Time) || l.Pin.PreviousVersionID != d2.VersionID || l.Error != "" {
		t.Fatalf("/versions after a rollback: current %+v, pin %+v, error %q", l.Current, l.Pin, l.Error)
	}
	for _, v := range l.Versions {
		if v.Pinned != (v.VersionID == d1.VersionID) || (v.RolledBack != nil) != (v.VersionID == d1.VersionID) {
			t.Errorf("%s: pinned %v, rolled back %+v", v.VersionID, v.Pinned, v.RolledBack)
		}
	}
	if _, err := mlservice.Unpin(context.Background(), ts.dir); err != nil {
		t.Fatal(err)
	}
	if l := get(); l.Pin != nil || l.Current.Pinned {
		t.Errorf("/versions after unpin: current %+v, pin %+v", l.Current, l.Pin)
	}
}
