package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/testkit"
)

// promQuery is one instant query of Prometheus's HTTP API, and what its
// single sample must satisfy.
type promQuery struct {
	expr string
	ok   func(v float64) bool
	want string
}

// TestMetricsScrapedByPrometheus starts the real server and Debian's
// prometheus scraping it every second on 127.0.0.1, and asks Prometheus's
// HTTP API for the target's health, the request counters and the model
// gauges, drift's among them after 3000 rows with age shifted; promtool
// check metrics lints the exposition.
func TestMetricsScrapedByPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and starts Prometheus; skipped with -short")
	}
	const untested = "/metrics was NOT checked by a real Prometheus"
	prom := testkit.Tool(t, "prometheus", "prometheus", untested)
	promtool := testkit.Tool(t, "promtool", "prometheus", untested)
	trainerBin, serverBin := testkit.Binaries(t)
	artifacts := t.TempDir()
	trained, _ := runTrainer(t, trainerBin, artifacts, "train", testkit.Data(t, "day_01.csv"))
	base := testkit.StartServer(t, serverBin, nil, "-artifacts", artifacts).Base
	client := &http.Client{Timeout: 5 * time.Second}

	const predictions = 7
	for range predictions {
		resp, err := client.Post(base+"/predict", "application/json", strings.NewReader(validBody))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /predict: %d", resp.StatusCode)
		}
	}
	postShiftedRows(t, client, base)
	for _, path := range []string{"/", "/ui/versions/" + trained.ModelVersionID} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	// promtool lints what the server exposes.
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposition, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = bytes.NewReader(exposition)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// Prometheus scrapes the server every second.
	dir := t.TempDir()
	target := strings.TrimPrefix(base, "http://")
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: mlservice
    static_configs:
      - targets: [%q]
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := "127.0.0.1:" + testkit.FreePort(t)
	var promLog bytes.Buffer
	cmd := exec.Command(prom,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr,
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = &promLog, &promLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", promLog.String())
		}
	})

	query := func(expr string) ([]float64, error) {
		resp, err := client.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(expr))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var body struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				ResultType string `json:"resultType"`
				Result     []struct {
					Value [2]any `json:"value"` // [time, "value"]
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return nil, fmt.Errorf("decode answer to %s: %w", expr, err)
		}
		if body.Status != "success" {
			return nil, fmt.Errorf("query %s: %s", expr, body.Error)
		}
		var out []float64
		for _, r := range body.Data.Result {
			s, _ := r.Value[1].(string)
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("query %s: value %v", expr, r.Value[1])
			}
			out = append(out, v)
		}
		return out, nil
	}
	// Wait for a successful scrape.
	deadline := time.Now().Add(60 * time.Second)
	for {
		v, err := query(`up{job="mlservice"}`)
		if err == nil && len(v) == 1 && v[0] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never scraped the server up: %v %v", v, err)
		}
		time.Sleep(250 * time.Millisecond)
	}

	eq := func(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
	atLeast := func(want float64) func(float64) bool { return func(v float64) bool { return v >= want } }
	above := func(x float64) func(float64) bool { return func(v float64) bool { return v > x } }
	below := func(x float64) func(float64) bool { return func(v float64) bool { return v < x } }
	// The training rate as the server reports it, to the bit.
	resp, err = client.Get(base + "/drift")
	if err != nil {
		t.Fatal(err)
	}
	var drift struct {
		TrainingPositiveRate float64 `json:"training_positive_rate"`
	}
	err = json.NewDecoder(resp.Body).Decode(&drift)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	trainingRate := drift.TrainingPositiveRate
	for _, q := range []promQuery{
		{`up{job="mlservice"}`, eq(1), "1"},
		{`mlservice_http_requests_total{job="mlservice",route="/predict",method="POST",code="200"}`, eq(predictions), strconv.Itoa(predictions)},
		{`mlservice_http_requests_total{job="mlservice",route="/",method="GET",code="200"}`, atLeast(1), ">= 1"},
		{`mlservice_http_requests_total{job="mlservice",route="/metrics",method="GET",code="200"}`, atLeast(1), ">= 1"},
		{`mlservice_model_ready{job="mlservice"}`, eq(1), "1"},
		{`mlservice_model_info{job="mlservice",model_version_id="` + trained.ModelVersionID + `"}`, eq(1), "1"},
		{`mlservice_http_request_duration_seconds_count{job="mlservice",route="/predict"}`, eq(predictions), strconv.Itoa(predictions)},
		{`mlservice_drift_rows{job="mlservice"}`, eq(predictions + driftRows), strconv.Itoa(predictions + driftRows)},
		{`mlservice_feature_drift_psi{job="mlservice",feature="age"}`, above(0.25), "> 0.25"},
		{`mlservice_feature_drift_psi{job="mlservice",feature="income"}`, below(0.1), "< 0.1"},
		{`mlservice_feature_drift_psi{job="mlservice",feature="account_balance"}`, below(0.1), "< 0.1"},
		{`mlservice_feature_drift_psi{job="mlservice",feature="transactions_last_30d"}`, below(0.1), "< 0.1"},
		{`mlservice_feature_drift_psi{job="mlservice",feature="is_premium"}`, below(0.1), "< 0.1"},
		{`count(mlservice_feature_drift_psi{job="mlservice"} > 0.25)`, eq(1), "1 (age alone)"},
		{`mlservice_positive_rate{job="mlservice"}`, func(v float64) bool { return v > 0 && v < 1 }, "in (0, 1)"},
		{`mlservice_training_positive_rate{job="mlservice"}`, eq(trainingRate), fmt.Sprint(trainingRate)},
	} {
		v, err := query(q.expr)
		switch {
		case err != nil:
			t.Errorf("%v", err)
		case len(v) != 1:
			t.Errorf("%s: %d samples, want 1", q.expr, len(v))
		case !q.ok(v[0]):
			t.Errorf("%s = %v, want %s", q.expr, v[0], q.want)
		}
	}
}
