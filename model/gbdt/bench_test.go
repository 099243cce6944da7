package gbdt_test

import (
	"context"
	"runtime"
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
	b.ReportAllocs()
	var sink float64
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		sink += f.LogOdds(rows[i%64])
	}
	cpu.stop()
	_ = sink
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

// BenchmarkExplain: 100 trees of depth 6 on the churn table.
func BenchmarkExplain(b *testing.B) {
	f, test := benchForest(b, 100)
	rows := make([][]float64, len(test.labels))
	for i := range rows {
		rows[i] = test.row(i, nil)
	}
	out := make([]float64, len(test.features))
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := 0; i < b.N; i++ {
		f.Explain(rows[i%64], out)
	}
	cpu.stop()
}
