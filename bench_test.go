package mlservice_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
)

// csvGenSizes are the benchmark sizes, in rows.
var csvGenSizes = []int{10_000, 100_000, 1_000_000}

// csvGenDataset validates the generated file of n rows.
func csvGenDataset(b *testing.B, n int) *mlservice.Dataset {
	b.Helper()
	ds, err := mlservice.Validate(context.Background(), bytes.NewReader(testkit.CSV(n)))
	if err != nil {
		b.Fatal(err)
	}
	if ds.Len() != n {
		b.Fatalf("generated %d rows, want %d", ds.Len(), n)
	}
	return ds
}

func reportRows(b *testing.B, rows int) {
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// benchFiles runs op for each benchmark size over the generated file of
// that size, reporting bytes, allocations and rows per second.
func benchFiles(b *testing.B, op func(b *testing.B, n int, data []byte)) {
	for _, n := range csvGenSizes {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			data := testkit.CSV(n)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				op(b, n, data)
			}
			reportRows(b, n)
		})
	}
}

// validate validates data, which must hold n rows.
func validate(b *testing.B, n int, data []byte) *mlservice.Dataset {
	ds, err := mlservice.Validate(context.Background(), bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	if ds.Len() != n {
		b.Fatalf("Validate read %d rows, want %d", ds.Len(), n)
	}
	return ds
}

func BenchmarkValidate(b *testing.B) {
	benchFiles(b, func(b *testing.B, n int, data []byte) { validate(b, n, data) })
}

func BenchmarkTrain(b *testing.B) {
	ctx := context.Background()
	for _, n := range csvGenSizes {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			ds := csvGenDataset(b, n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			reportRows(b, n)
		})
	}
}

// BenchmarkValidateTrain is the trainer's whole path: bytes to a validated
// Dataset to a fitted, evaluated Candidate.
func BenchmarkValidateTrain(b *testing.B) {
	ctx := context.Background()
	benchFiles(b, func(b *testing.B, n int, data []byte) {
		cand, err := mlservice.Train(ctx, validate(b, n, data), mlservice.TrainOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if cand.Metadata.Metrics.Rows == 0 {
			b.Fatal("nothing evaluated")
		}
	})
}
