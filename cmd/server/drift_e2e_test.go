package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
)

// driftRows is how many shifted rows the drift tests send.
const driftRows = 3000

// postShiftedRows sends driftRows rows of day 2, spread over the file, with
// age + 40, to /predict/batch in batches of 500.
func postShiftedRows(t *testing.T, client *http.Client, base string) {
	t.Helper()
	f, err := os.Open("../../data/day_02.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header, recs := recs[0], recs[1:]
	var rows []map[string]float64
	for i := range driftRows {
		rec := recs[i*len(recs)/driftRows]
		row := map[string]float64{}
		for j, name := range header[:mlservice.NumFeatures] {
			v, err := strconv.ParseFloat(rec[j], 64)
			if err != nil {
				t.Fatal(err)
			}
			row[name] = v
		}
		row["age"] += 40
		rows = append(rows, row)
	}
	for start := 0; start < len(rows); start += 500 {
		body, _ := json.Marshal(map[string]any{"instances": rows[start:min(start+500, len(rows))]})
		resp, err := client.Post(base+"/predict/batch", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /predict/batch: %d %s", resp.StatusCode, msg)
		}
	}
}

// The drift acceptance test over HTTP against the real binaries: the
// trainer trains day 1, the server predicts 3000 rows of day 2 with age +
// 40, and GET /drift, /metrics and the page show age's PSI over 0.25 and
// every other feature's under 0.1.
func TestDriftEndToEnd(t *testing.T) {
	trainerBin, serverBin := testkit.Binaries(t)
	artifacts := t.TempDir()
	trained, _ := runTrainer(t, trainerBin, artifacts, "train", testkit.Data(t, "day_01.csv"))
	base := testkit.StartServer(t, serverBin, nil, "-artifacts", artifacts).Base
	client := &http.Client{Timeout: 10 * time.Second}

	get := func(path string) string {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	var before mlservice.DriftReport
	if err := json.Unmarshal([]byte(get("/drift")), &before); err != nil {
		t.Fatal(err)
	}
	if !before.Available || before.Rows != 0 || before.ModelVersionID != trained.ModelVersionID {
		t.Fatalf("GET /drift before any row: %+v", before)
	}
	get("/") // a cached index without drift rows must not stay

	postShiftedRows(t, client, base)

	var r mlservice.DriftReport
	if err := json.Unmarshal([]byte(get("/drift")), &r); err != nil {
		t.Fatal(err)
	}
	if r.Rows != driftRows || r.PositiveRate == nil || r.ModelVersionID != trained.ModelVersionID {
		t.Fatalf("GET /drift: %d rows, positive rate %v, version %s", r.Rows, r.PositiveRate, r.ModelVersionID)
	}
	metrics := get("/metrics")
	for _, f := range r.Features {
		if f.PSI == nil {
			t.Fatalf("%s: no PSI", f.Name)
		}
		t.Logf("%-22s PSI %.4f", f.Name, *f.PSI)
		if shifted := f.Name == "age"; shifted && !(*f.PSI > 0.25) || !shifted && !(*f.PSI < 0.1) {
			t.Errorf("%s: PSI %.4f", f.Name, *f.PSI)
		}
		if !strings.Contains(metrics, fmt.Sprintf("mlservice_feature_drift_psi{feature=%q} ", f.Name)) {
			t.Errorf("/metrics lacks %s's PSI", f.Name)
		}
	}
	for _, want := range []string{"mlservice_positive_rate ", "mlservice_training_positive_rate ", fmt.Sprintf("mlservice_drift_rows %d\n", driftRows)} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	time.Sleep(driftTTL) // the index's drift is at most this old
	if index := get("/"); !strings.Contains(index, "largest drift") || !strings.Contains(index, "(age, large)") {
		t.Errorf("the index does not show age's drift")
	}
	if vp := get("/ui/versions/" + trained.ModelVersionID); !strings.Contains(vp, `id="drift"`) {
		t.Errorf("the serving version's page does not show drift")
	}
}
