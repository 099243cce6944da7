package gbdt_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/model/gbdt"
)

func benchForest(b *testing.B, trees int) (*gbdt.Forest, *table) {
	tb := loadTable(b, "mlc_churn", "train")
	f, err := gbdt.Fit(context.Background(), tb.features, tb.cols, tb.labels, nil,
		gbdt.Options{Trees: trees, NoEarlyStopping: true})
	if err != nil {
		b.Fatal(err)
	}
	return f, loadTable(b, "mlc_churn", "test")
}

// BenchmarkLogOdds: 200 trees of depth 6 trained on the churn table, one
// test row per op, cycling through the rows.
func BenchmarkLogOdds(b *testing.B) {
	f, test := benchForest(b, 200)
	rows := make([][]float64, len(test.labels))
	for i := range rows {
		rows[i] = test.row(i, nil)
	}
	benchLogOdds(b, f, rows)
}

// cpuClock reports the benchmark's CPU time per op (cpu-ns/op) beside the
// wall time: on the shared machine other tenants inflate the wall time.
type cpuClock struct {
	b     *testing.B
	start int64
	ok    bool
}

func startCPU(b *testing.B) cpuClock {
	runtime.LockOSThread()
	start, ok := threadCPU()
	b.ResetTimer()
	return cpuClock{b, start, ok}
}

func (c cpuClock) stop() {
	c.b.StopTimer()
	end, _ := threadCPU()
	runtime.UnlockOSThread()
	if c.ok {
		c.b.ReportMetric(float64(end-c.start)/float64(c.b.N), "cpu-ns/op")
	}
}

// BenchmarkLogOddsNumeric: 200 trees of depth 6 on 100,000 rows of five
// numbers (the benchmark table's distribution); full-depth trees.
func BenchmarkLogOddsNumeric(b *testing.B) {
	features, cols, y := syntheticData(100_000)
	benchFitLogOdds(b, features, cols, y)
}

// BenchmarkLogOddsManyFeatures: 200 trees of depth 6 over 70 numbers, more
// than a direct walk takes, so LogOdds takes the general walk.
func BenchmarkLogOddsManyFeatures(b *testing.B) {
	const n, width = 20_000, 70
	r := rand.New(rand.NewPCG(3, 4))
	features := make([]gbdt.Feature, width)
	cols := make([][]float64, width)
	y := make([]uint8, n)
	for j := range features {
		features[j] = gbdt.Feature{Name: "x" + strconv.Itoa(j)}
		cols[j] = make([]float64, n)
		for i := range cols[j] {
			cols[j][i] = r.NormFloat64()
		}
	}
	for i := range y {
		if cols[0][i]+cols[1][i]*cols[2][i]-cols[3][i] > r.NormFloat64() {
			y[i] = 1
		}
	}
	benchFitLogOdds(b, features, cols, y)
}

// BenchmarkExplain: 100 trees of depth 6 on the churn table.
func BenchmarkExplain(b *testing.B) {
	f, test := benchForest(b, 100)
	rows := make([][]float64, len(test.labels))
	for i := range rows {
		rows[i] = test.row(i, nil)
	}
	out := make([]float64, len(test.features))
	f.Explain(rows[0], out) // builds the leaf tables
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		f.Explain(rows[i%64], out)
	}
	cpu.stop()
}

// fitData is the 1M-row benchmark table: the CSV GBDT_BENCH_CSV names
// (written by `go run ./data/gen -rows 1000000 -file PATH`, the file
// testdata/gbdt/bench_xgb.py times XGBoost on), or else the same number of
// rows drawn here from a similar distribution.
func fitData(b *testing.B, n int) ([]gbdt.Feature, [][]float64, []uint8) {
	if path := os.Getenv("GBDT_BENCH_CSV"); path != "" {
		return readNumericCSV(b, path)
	}
	return syntheticData(n)
}

// syntheticData draws n rows of five numbers and a label.
func syntheticData(n int) ([]gbdt.Feature, [][]float64, []uint8) {
	r := rand.New(rand.NewPCG(1, 2))
	names := []string{"age", "income", "account_balance", "transactions_last_30d", "is_premium"}
	features := make([]gbdt.Feature, len(names))
	cols := make([][]float64, len(names))
	for j, name := range names {
		features[j] = gbdt.Feature{Name: name}
		cols[j] = make([]float64, n)
	}
	y := make([]uint8, n)
	for i := 0; i < n; i++ {
		age := math.Round(18 + 60*r.Float64())
		income := math.Round(100*math.Exp(10.8+0.5*r.NormFloat64())) / 100
		balance := math.Round(100*(8000+6000*r.NormFloat64())) / 100
		tx := math.Round(max(0, 15+6*r.NormFloat64()))
		premium := float64(r.IntN(3) / 2)
		z := -0.03*(age-45) + 0.4*(math.Log(income)-10.8) - 0.0001*(balance-8000) + 0.05*(tx-15) + 0.6*premium
		cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i] = age, income, balance, tx, premium
		if r.Float64() < 1/(1+math.Exp(-z)) {
			y[i] = 1
		}
	}
	return features, cols, y
}

// readNumericCSV reads a CSV of number columns whose last column is a 0/1 target.
func readNumericCSV(b *testing.B, path string) ([]gbdt.Feature, [][]float64, []uint8) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rd := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	rd.ReuseRecord = true
	header, err := rd.Read()
	if err != nil {
		b.Fatal(err)
	}
	d := len(header) - 1
	features := make([]gbdt.Feature, d)
	cols := make([][]float64, d)
	for j := range features {
		features[j] = gbdt.Feature{Name: header[j]}
	}
	var y []uint8
	for line := 2; ; line++ {
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		for j := 0; j < d; j++ {
			v, err := strconv.ParseFloat(rec[j], 64)
			if err != nil {
				b.Fatalf("%s line %d: %v", path, line, err)
			}
			cols[j] = append(cols[j], v)
		}
		y = append(y, uint8(rec[d][0]-'0'))
	}
	return features, cols, y
}

// BenchmarkFit1M: 1M rows × 5 numbers, 200 trees of depth 6, learning
// rate 0.1, no early stopping, on every core. peak-RSS-MB is the process's
// high-water mark, the table's 46 MB included.
func BenchmarkFit1M(b *testing.B) {
	features, cols, y := fitData(b, 1_000_000)
	cpu0, _ := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := gbdt.Fit(context.Background(), features, cols, y, nil,
			gbdt.Options{Trees: 200, MaxDepth: 6, LearningRate: 0.1, NoEarlyStopping: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if cpu1, ok := processCPU(); ok {
		b.ReportMetric(float64(cpu1-cpu0)/1e9/float64(b.N), "cpu-s/op")
	}
	if raw, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				v, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 64)
				b.ReportMetric(v/1024, "peak-RSS-MB")
			}
		}
	}
}

// xgbRows is the imported credit_data model and its golden rows, in the
// caller's feature order.
func xgbRows(b *testing.B) (*gbdt.Forest, [][]float64) {
	model, g := readXGB(b)
	features := callerFeatures(g.Features)
	f, err := gbdt.FromXGBoost(model, features)
	if err != nil {
		b.Fatal(err)
	}
	rows := make([][]float64, len(g.Rows))
	for i, cells := range g.Rows {
		rows[i] = make([]float64, len(features))
		for k, name := range g.Features {
			for j := range features {
				if features[j].Name == name {
					rows[i][j] = math.NaN()
					if cells[k] != nil {
						rows[i][j] = *cells[k]
					}
				}
			}
		}
	}
	return f, rows
}

// BenchmarkExplainXGBoostModel explains the golden rows with the imported
// XGBoost model (100 trees, depth 6): the model and rows bench_xgb.py
// contribs times XGBoost's pred_contribs on. One goroutine.
func BenchmarkExplainXGBoostModel(b *testing.B) {
	f, rows := xgbRows(b)
	out := make([]float64, len(rows[0]))
	f.Explain(rows[0], out) // builds the leaf tables
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		f.Explain(rows[i%len(rows)], out)
	}
	cpu.stop()
}

// BenchmarkExplainXGBoostModelParallel is the same on every core, as
// pred_contribs runs on nthread=2: ns/op is wall time per row.
func BenchmarkExplainXGBoostModelParallel(b *testing.B) {
	f, rows := xgbRows(b)
	f.Explain(rows[0], make([]float64, len(rows[0])))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		out := make([]float64, len(rows[0]))
		for i := 0; pb.Next(); i++ {
			f.Explain(rows[i%len(rows)], out)
		}
	})
}

// BenchmarkLogOddsXGBoostModel predicts the golden rows with the imported
// model (float32 arithmetic, as XGBoost).
func BenchmarkLogOddsXGBoostModel(b *testing.B) {
	f, rows := xgbRows(b)
	benchLogOdds(b, f, rows)
}

// benchFitLogOdds fits 200 trees of depth 6 and predicts its first 64 rows.
func benchFitLogOdds(b *testing.B, features []gbdt.Feature, cols [][]float64, y []uint8) {
	f, err := gbdt.Fit(context.Background(), features, cols, y, nil, gbdt.Options{Trees: 200, NoEarlyStopping: true})
	if err != nil {
		b.Fatal(err)
	}
	rows := make([][]float64, 64)
	for i := range rows {
		for _, c := range cols {
			rows[i] = append(rows[i], c[i])
		}
	}
	benchLogOdds(b, f, rows)
}

// benchLogOdds predicts one of rows per op, cycling through them.
func benchLogOdds(b *testing.B, f *gbdt.Forest, rows [][]float64) {
	b.ReportAllocs()
	var sink float64
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		sink += f.LogOdds(rows[i%len(rows)])
	}
	cpu.stop()
	_ = sink
}
