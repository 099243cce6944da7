package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

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
