package mlservice_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
)

// wideTable is testdata/tables/bench_wide.py's table (30 numbers, 3
// categories of 20), written by it as WIDE_CSV, or /tmp/hgolden/wide100k.csv.
func wideTable(b *testing.B) string {
	b.Helper()
	path := os.Getenv("WIDE_CSV")
	if path == "" {
		path = "/tmp/hgolden/wide100k.csv"
	}
	if _, err := os.Stat(path); err != nil {
		b.Skipf("no wide table (%v): write one with python3 testdata/tables/bench_wide.py --write %s --rows 100000", err, path)
	}
	return path
}

func wideSchema(b *testing.B) *mlservice.Schema {
	b.Helper()
	s, err := mlservice.LoadSchemaFile(filepath.Join(tablesDir, "bench_wide.schema.json"))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkStorePredictRowWide: in-process predict on the wide table's
// model, one row at a time (30 numbers, 3 category lookups), no allocation,
// with drift counted (drift=on) and without (drift=off), each with the
// thread's CPU time per row.
func BenchmarkStorePredictRowWide(b *testing.B) {
	path := wideTable(b)
	ctx := context.Background()
	ds, err := mlservice.ValidateTableFile(ctx, path, wideSchema(b))
	if err != nil {
		b.Fatal(err)
	}
	cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if _, err := mlservice.Promote(ctx, dir, cand); err != nil {
		b.Fatal(err)
	}
	rows := make([]mlservice.Row, 8)
	for i := range rows {
		r := &rows[i]
		*r = datasetRow(ds, i)
	}
	for _, off := range []bool{false, true} {
		name := "drift=on"
		if off {
			name = "drift=off"
		}
		b.Run(name, func(b *testing.B) {
			s, err := mlservice.OpenStore(dir, mlservice.StoreOptions{RefreshInterval: -1, DisableDrift: off})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0, ok := mlservice.ThreadCPU()
			var sink float64
			i := 0
			for b.Loop() {
				p, err := s.PredictRow(&rows[i&7])
				if err != nil {
					b.Fatal(err)
				}
				sink += p.Probability
				i++
			}
			if cpu1, _ := mlservice.ThreadCPU(); ok {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
			}
			if sink < 0 {
				b.Fatal(sink)
			}
		})
	}
}

// BenchmarkTrainWide: validate and train the wide table end to end (the
// figure bench_wide.py --time measures for scikit-learn).
func BenchmarkTrainWide(b *testing.B) {
	path := wideTable(b)
	s := wideSchema(b)
	ctx := context.Background()
	for b.Loop() {
		start := time.Now()
		ds, err := mlservice.ValidateTableFile(ctx, path, s)
		if err != nil {
			b.Fatal(err)
		}
		validated := time.Since(start)
		cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{Eval: ds})
		if err != nil {
			b.Fatal(err)
		}
		fit := cand.Metadata.Params.Fit
		b.ReportMetric(validated.Seconds(), "validate-s")
		b.ReportMetric(float64(fit.Iterations), "iterations")
		b.Log(fmt.Sprintf("%d rows: validate %.2fs, total %.2fs, %d iterations, gradient %.2g, converged %v",
			ds.Len(), validated.Seconds(), time.Since(start).Seconds(), fit.Iterations, fit.GradientMax, fit.Converged))
	}
}
