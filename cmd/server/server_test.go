package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

func TestPredictMatchesLibrary(t *testing.T) {
	ts := newTestServer(t, nil)
	mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	if _, err := ts.store.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	f, err := mlservice.DecodeFeatures([]byte(validBody))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ts.store.Predict(f)
	if err != nil {
		t.Fatal(err)
	}
	r := ts.do(t, "POST", "/predict", "application/json; charset=utf-8", validBody)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var got mlservice.Prediction
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("HTTP prediction differs from Store.Predict (-want +got):\n%s", diff)
	}
}

func TestPredictErrors(t *testing.T) {
	ts := newTestServer(t, nil)
	mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	if _, err := ts.store.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := []string{"age", "income", "account_balance", "transactions_last_30d", "is_premium"}
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		code        string
		fields      []string // the fields the error must list, in order
	}{
		{"malformed JSON", "application/json", `{"age": 42,`, 400, "malformed_json", nil},
		{"not JSON at all", "application/json", `age=42`, 400, "malformed_json", nil},
		{"empty body", "application/json", ``, 400, "malformed_json", nil},
		{"array body", "application/json", `[` + validBody + `]`, 422, "invalid_features", []string{"body"}},
		{"string body", "application/json", `"hello"`, 422, "invalid_features", []string{"body"}},
		{"null body", "application/json", `null`, 422, "invalid_features", []string{"body"}},
		{"empty object", "application/json", `{}`, 422, "invalid_features", all},
		{"missing is_premium", "application/json", `{"age":42,"income":52000,"account_balance":1,"transactions_last_30d":1}`, 422, "invalid_features", []string{"is_premium"}},
		{"null age", "application/json", `{"age":null,"income":52000,"account_balance":1,"transactions_last_30d":1,"is_premium":0}`, 422, "invalid_features", []string{"age"}},
		{"wrong types", "application/json", `{"age":"42","income":true,"account_balance":[1],"transactions_last_30d":{},"is_premium":"yes"}`, 422, "invalid_features", all},
		{"NaN as a string", "application/json", `{"age":"NaN","income":52000,"account_balance":1,"transactions_last_30d":1,"is_premium":0}`, 422, "invalid_features", []string{"age"}},
		{"NaN literal", "application/json", `{"age":NaN,"income":52000,"account_balance":1,"transactions_last_30d":1,"is_premium":0}`, 400, "malformed_json", nil},
		{"overflowing number", "application/json", `{"age":1e999,"income":52000,"account_balance":1,"transactions_last_30d":1,"is_premium":0}`, 422, "invalid_features", []string{"age"}},
		{"negative age and transactions", "application/json", `{"age":-1,"income":52000,"account_balance":1,"transactions_last_30d":-3,"is_premium":0}`, 422, "invalid_features", []string{"age", "transactions_last_30d"}},
		{"is_premium 2", "application/json", `{"age":1,"income":52000,"account_balance":1,"transactions_last_30d":3,"is_premium":2}`, 422, "invalid_features", []string{"is_premium"}},
		{"is_premium 0.5", "application/json", `{"age":1,"income":52000,"account_balance":1,"transactions_last_30d":3,"is_premium":0.5}`, 422, "invalid_features", []string{"is_premium"}},
		{"duplicate key", "application/json", strings.TrimSuffix(validBody, "}") + `,"age":7}`, 422, "invalid_features", []string{"age"}},
		{"text/plain", "text/plain", validBody, 415, "unsupported_media_type", nil},
		{"form", "application/x-www-form-urlencoded", validBody, 415, "unsupported_media_type", nil},
		{"bad media type", "application/json; charset", validBody, 415, "unsupported_media_type", nil},
		{"3 MB body", "application/json", `{"age":1,"pad":"` + strings.Repeat("x", 3<<20) + `"}`, 413, "body_too_large", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, "POST", "/predict", tc.contentType, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, truncateBody(r.body))
			}
			e := errorJSON(t, r)
			if e.Code != tc.code {
				t.Errorf("code %q, want %q", e.Code, tc.code)
			}
			var fields []string
			for _, f := range e.Fields {
				fields = append(fields, f.Field)
				if f.Reason == "" {
					t.Errorf("field %s has no reason", f.Field)
				}
			}
			if diff := cmp.Diff(tc.fields, fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func truncateBody(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func TestMissingContentTypeIsJSON(t *testing.T) {
	ts := newTestServer(t, nil)
	mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	ts.store.Reload(context.Background())
	if r := ts.do(t, "POST", "/predict", "", validBody); r.status != http.StatusOK {
		t.Fatalf("no Content-Type: %d %s", r.status, r.body)
	}
}

func TestPredictBatch(t *testing.T) {
	ts := newTestServer(t, func(c *config) { c.maxBatch = 3 })
	d := mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	ts.store.Reload(context.Background())

	r := ts.do(t, "POST", "/predict/batch", "application/json", `{"instances":[`+validBody+`,`+strings.Replace(validBody, `"is_premium":1`, `"is_premium":0`, 1)+`]}`)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var br batchResponse
	if err := json.Unmarshal(r.body, &br); err != nil {
		t.Fatal(err)
	}
	if br.ModelVersionID != d.VersionID || len(br.Predictions) != 2 {
		t.Fatalf("batch response %s", r.body)
	}
	single := ts.do(t, "POST", "/predict", "application/json", validBody)
	var sp mlservice.Prediction
	json.Unmarshal(single.body, &sp)
	if br.Predictions[0].Probability != sp.Probability || br.Predictions[0].Prediction != sp.Label {
		t.Errorf("batch row 0 %+v differs from single prediction %+v", br.Predictions[0], sp)
	}

	for _, tc := range []struct {
		name, body string
		status     int
		fields     []string // "row field"
	}{
		{"too many rows", `{"instances":[` + strings.Repeat(validBody+",", 3) + validBody + `]}`, 422, []string{"0 instances"}},
		{"empty", `{"instances":[]}`, 422, []string{"0 instances"}},
		{"missing instances", `{}`, 422, []string{"0 instances"}},
		{"instances not an array", `{"instances":{"age":1}}`, 422, []string{"0 instances"}},
		{"bad rows listed", `{"instances":[` + validBody + `,{"age":-1,"income":1,"account_balance":1,"transactions_last_30d":1,"is_premium":1},{"is_premium":3,"age":1,"income":1,"account_balance":1,"transactions_last_30d":1}]}`, 422, []string{"1 age", "2 is_premium"}},
		{"malformed", `{"instances":[`, 400, nil},
		{"array body", `[]`, 422, []string{"0 body"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, "POST", "/predict/batch", "application/json", tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			var fields []string
			for _, f := range errorJSON(t, r).Fields {
				fields = append(fields, fmt.Sprintf("%d %s", f.Row, f.Field))
			}
			if diff := cmp.Diff(tc.fields, fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReloadAuth(t *testing.T) {
	ts := newTestServer(t, func(c *config) { c.adminToken = "s3cret" })
	// Before any model, an authorized reload says not ready.
	if r := ts.do(t, "POST", "/reload", "", "", "Authorization", "Bearer s3cret"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("reload before any model: %d %s", r.status, r.body)
	}
	d := mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"no token", "", 401},
		{"wrong token", "Bearer nope", 401},
		{"basic auth", "Basic czNjcmV0", 401},
		{"token prefix", "Bearer s3cre", 401},
		{"right token", "Bearer s3cret", 200},
		{"scheme in lower case", "bearer s3cret", 200},
		{"scheme in upper case", "BEARER s3cret", 200},
		{"token case matters", "Bearer S3CRET", 401},
		{"no space", "Bearers3cret", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h []string
			if tc.auth != "" {
				h = []string{"Authorization", tc.auth}
			}
			r := ts.do(t, "POST", "/reload", "", "", h...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 401 {
				if e := errorJSON(t, r); e.Code != "unauthorized" {
					t.Errorf("code %q", e.Code)
				}
				if r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				return
			}
			var body map[string]any
			json.Unmarshal(r.body, &body)
			if body["model_version_id"] != d.VersionID {
				t.Errorf("reload body %s", r.body)
			}
		})
	}
}

func TestReloadWithoutTokenConfigured(t *testing.T) {
	ts := newTestServer(t, func(c *config) { c.reloadInterval = time.Hour })
	// The refresher is effectively off: only /reload can pick the version up.
	ts.store.Close()
	store, err := mlservice.OpenStore(ts.dir, mlservice.StoreOptions{RefreshInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	s := newServer(ts.cfg, store, slog.New(slog.DiscardHandler))
	ts.h, ts.store = s.handler(), store
	d := mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	r := ts.do(t, "POST", "/reload", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var body struct {
		ID      string `json:"model_version_id"`
		Changed bool   `json:"changed"`
	}
	json.Unmarshal(r.body, &body)
	if body.ID != d.VersionID || !body.Changed {
		t.Errorf("first reload %s", r.body)
	}
	r = ts.do(t, "POST", "/reload", "", "")
	json.Unmarshal(r.body, &body)
	if body.Changed {
		t.Errorf("second reload says changed: %s", r.body)
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

func TestMetrics(t *testing.T) {
	ts := newTestServer(t, nil)
	d := mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	ts.store.Reload(context.Background())
	ts.do(t, "POST", "/predict", "application/json", validBody)
	ts.do(t, "POST", "/predict", "application/json", `{`)
	r := ts.do(t, "GET", "/metrics", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("/metrics %d", r.status)
	}
	text := string(r.body)
	for _, want := range []string{
		`mlservice_http_requests_total{code="200",method="POST",route="/predict"} 1`,
		`mlservice_http_requests_total{code="400",method="POST",route="/predict"} 1`,
		`mlservice_http_request_duration_seconds_count{route="/predict"} 2`,
		`mlservice_model_info{model_version_id="` + d.VersionID + `"} 1`,
		`mlservice_model_ready 1`,
		`mlservice_model_loads_total 1`,
		`mlservice_model_load_failures_total 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
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

func TestParseConfig(t *testing.T) {
	env := map[string]string{"ADDR": ":9000", "ARTIFACTS_DIR": "/a", "RELOAD_INTERVAL": "250ms", "ADMIN_TOKEN": "t", "LOG_LEVEL": "debug", "MAX_BATCH": "7"}
	getenv := func(k string) string { return env[k] }
	c, err := parseConfig(nil, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != ":9000" || c.artifacts != "/a" || c.reloadInterval != 250*time.Millisecond || c.adminToken != "t" ||
		c.logLevel != slog.LevelDebug || c.maxBatch != 7 || c.maxBody != 1<<20 {
		t.Errorf("from env: %+v", c)
	}
	c, err = parseConfig([]string{"-addr", "127.0.0.1:1", "-artifacts", "/b", "-reload-interval", "1s"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "127.0.0.1:1" || c.artifacts != "/b" || c.reloadInterval != time.Second {
		t.Errorf("flags must beat env: %+v", c)
	}
	env["RELOAD_INTERVAL"] = "0.5"
	if c, err := parseConfig(nil, getenv, io.Discard); err != nil || c.reloadInterval != 500*time.Millisecond {
		t.Errorf("RELOAD_INTERVAL=0.5: %v %v", c.reloadInterval, err)
	}
	for _, bad := range [][]string{{"-log-level", "loud"}, {"-reload-interval", "0s"}, {"-max-body", "0"}, {"extra"}, {"-nope"}, {"-log-format", "xml"}} {
		if _, err := parseConfig(bad, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("parseConfig(%q) accepted", bad)
		}
	}
	env["MAX_BATCH"] = "many"
	if _, err := parseConfig(nil, getenv, io.Discard); err == nil {
		t.Error("MAX_BATCH=many accepted")
	}
}

// TestParseConfigDurations: the reload interval has a floor, and a duration
// too long to represent is called that, not malformed or negative.
func TestParseConfigDurations(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string // in the error; "" for none
	}{
		{name: "interval at the floor", env: map[string]string{"RELOAD_INTERVAL": "10ms"}},
		{name: "interval below the floor", env: map[string]string{"RELOAD_INTERVAL": "5ms"}, want: "at least 10ms"},
		{name: "flag below the floor", args: []string{"-reload-interval", "1ns"}, want: "at least 10ms"},
		{name: "bare seconds below the floor", env: map[string]string{"RELOAD_INTERVAL": "0.001"}, want: "at least 10ms"},
		{name: "grace overflows in seconds", env: map[string]string{"SHUTDOWN_GRACE": "1e12"}, want: "SHUTDOWN_GRACE=\"1e12\" is too long"},
		{name: "grace overflows in hours", env: map[string]string{"SHUTDOWN_GRACE": "9999999999h"}, want: "SHUTDOWN_GRACE=\"9999999999h\" is too long"},
		{name: "grace flag overflows", args: []string{"-shutdown-grace", "9999999999h"}, want: "is too long"},
		{name: "interval overflows", env: map[string]string{"RELOAD_INTERVAL": "1e400"}, want: "is too long"},
		{name: "grace malformed", env: map[string]string{"SHUTDOWN_GRACE": "soon"}, want: "is not a duration"},
		{name: "grace NaN", env: map[string]string{"SHUTDOWN_GRACE": "NaN"}, want: "is not a duration"},
		{name: "grace negative", env: map[string]string{"SHUTDOWN_GRACE": "-1s"}, want: "must not be negative"},
		{name: "grace long but fine", env: map[string]string{"SHUTDOWN_GRACE": "2562047h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			var uerr *usageError
			if !errors.As(err, &uerr) {
				t.Errorf("%v is not a usage error (exit 2)", err)
			}
		})
	}
}

// FuzzPredictHandler posts arbitrary bodies: a client's bad input must never
// get a 5xx or crash the server.
func FuzzPredictHandler(f *testing.F) {
	for _, seed := range []string{validBody, `{`, `[]`, `null`, `{"age":"x"}`, `{"instances":[` + validBody + `]}`, "\x00\xff", `{"age":1e999}`} {
		f.Add([]byte(seed), "application/json", false)
	}
	f.Add([]byte(validBody), "text/plain", true)
	ts := newTestServer(f, nil)
	mlkit.PromoteDay(f, ts.dir, "day_01.csv")
	ts.store.Reload(context.Background())
	f.Fuzz(func(t *testing.T, body []byte, contentType string, batch bool) {
		path := "/predict"
		if batch {
			path = "/predict/batch"
		}
		r := ts.do(t, "POST", path, contentType, string(body))
		switch r.status {
		case 200:
			if !json.Valid(r.body) {
				t.Fatalf("200 with invalid JSON %q", r.body)
			}
		case 400, 413, 415, 422:
			errorJSON(t, r)
		default:
			t.Fatalf("status %d for body %q content type %q: %s", r.status, body, contentType, r.body)
		}
	})
}

// TestMetricLabelsBounded: invented methods and paths must not mint new
// series; each would cost memory for the life of the process.
func TestMetricLabelsBounded(t *testing.T) {
	ts := newTestServer(t, nil)
	for i := range 300 {
		ts.do(t, fmt.Sprintf("M%d", i), fmt.Sprintf("/x%d", i), "", "")
		ts.do(t, fmt.Sprintf("P%d", i), "/predict", "", "")
	}
	r := ts.do(t, "GET", "/metrics", "", "")
	var series []string
	for _, line := range strings.Split(string(r.body), "\n") {
		if strings.HasPrefix(line, "mlservice_http_requests_total{") {
			series = append(series, line)
		}
	}
	want := []string{
		`mlservice_http_requests_total{code="404",method="other",route="unmatched"} 300`,
		`mlservice_http_requests_total{code="405",method="other",route="unmatched"} 300`,
	}
	if diff := cmp.Diff(want, series); diff != "" {
		t.Errorf("request series (-want +got):\n%s", diff)
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

// TestAccessLogLevels: at the default level every failed request shows up,
// the expected 503 before the first model as a warning, only real faults as
// errors, and successes in a summary line counting requests by route.
func TestAccessLogLevels(t *testing.T) {
	ts := newTestServer(t, nil)
	var logs bytes.Buffer
	s := newServer(ts.cfg, ts.store, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	h := s.handler()
	do := func(method, path, body string) string {
		logs.Reset()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		h.ServeHTTP(httptest.NewRecorder(), req)
		return logs.String()
	}
	for _, tc := range []struct {
		method, path, body string
		status             float64
		level              string
	}{
		{"POST", "/predict", validBody, 503, "WARN"},
		{"POST", "/predict", `{`, 400, "INFO"},
		{"GET", "/nope", "", 404, "INFO"},
	} {
		out := do(tc.method, tc.path, tc.body)
		var line map[string]any
		if err := json.Unmarshal([]byte(out), &line); err != nil {
			t.Fatalf("%s %s: want one log line, got %q", tc.method, tc.path, out)
		}
		if line["msg"] != "request" || line["status"] != tc.status || line["level"] != tc.level || line["path"] != tc.path {
			t.Errorf("%s %s: log line %v, want msg request, status %v at %s", tc.method, tc.path, line, tc.status, tc.level)
		}
	}
	if got := levelFor(http.StatusInternalServerError); got != slog.LevelError {
		t.Errorf("500 logged at %v, want ERROR", got)
	}
	if out := do("GET", "/health", ""); out != "" {
		t.Errorf("a success logged one by one at info: %s", out)
	}
	do("GET", "/health", "")

	logs.Reset()
	s.logSummary()
	var summary struct {
		Level, Msg string
		Total      int
		ByRoute    map[string]int `json:"by_route"`
	}
	if err := json.Unmarshal(logs.Bytes(), &summary); err != nil {
		t.Fatalf("summary %q: %v", logs.String(), err)
	}
	want := map[string]int{"/predict": 2, "unmatched": 1, "/health": 2}
	if summary.Level != "INFO" || summary.Total != 5 || !cmp.Equal(summary.ByRoute, want) {
		t.Errorf("summary %s, want 5 requests at INFO by route %v", logs.String(), want)
	}
	logs.Reset()
	if s.logSummary(); logs.Len() != 0 {
		t.Errorf("a summary with nothing to count: %s", logs.String())
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
