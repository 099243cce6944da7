package mlservice_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/mlservice/mlservice"
)

// csvGenSizes are the benchmark sizes, in rows.
var csvGenSizes = []int{10_000, 100_000, 1_000_000}

var csvGenCache struct {
	sync.Mutex
	files map[int][]byte
}

// csvGenFile returns a CSV file of n rows shaped like data/day_01.csv,
// generated once per size and kept for the other benchmarks.
func csvGenFile(n int) []byte {
	csvGenCache.Lock()
	defer csvGenCache.Unlock()
	if data, ok := csvGenCache.files[n]; ok {
		return data
	}
	if csvGenCache.files == nil {
		csvGenCache.files = map[int][]byte{}
	}
	data := csvGenRows(n, 1)
	csvGenCache.files[n] = data
	return data
}

// csvGenRows writes n rows from a fixed-seed stream: age 18–90, log-normal
// income with cents, a balance of about 12% of income that is negative for
// a fifth of the rows, Poisson-like transactions, about a third premium, and
// a target drawn from a logistic model of those, about 35% ones.
func csvGenRows(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0xc5f))
	buf := bytes.NewBuffer(make([]byte, 0, 28*n+80))
	buf.WriteString("age,income,account_balance,transactions_last_30d,is_premium,target\n")
	var line []byte
	for range n {
		age := min(max(math.Round(42+14*r.NormFloat64()), 18), 90)
		income := math.Round(math.Exp(math.Log(50000)+0.5*r.NormFloat64())*100) / 100
		balance := math.Round((0.12*income+7000*r.NormFloat64())*100) / 100
		tx := max(math.Round(15+4*r.NormFloat64()), 0)
		premium := 0.0
		if r.Float64() < 0.33 {
			premium = 1
		}
		z := -0.8 + 0.6*(age-45)/15 + (math.Log(income)-math.Log(50000))/0.55 + 0.7*balance/10000 - 0.9*(tx-15)/4 + 0.8*premium
		target := 0
		if r.Float64() < 1/(1+math.Exp(-z)) {
			target = 1
		}
		line = strconv.AppendFloat(line[:0], age, 'f', -1, 64)
		line = append(line, ',')
		line = strconv.AppendFloat(line, income, 'f', 2, 64)
		line = append(line, ',')
		line = strconv.AppendFloat(line, balance, 'f', 2, 64)
		line = append(line, ',')
		line = strconv.AppendFloat(line, tx, 'f', -1, 64)
		line = append(line, ',', '0'+byte(premium), ',', '0'+byte(target), '\n')
		buf.Write(line)
	}
	return buf.Bytes()
}

// csvGenDataset validates the generated file of n rows.
func csvGenDataset(b *testing.B, n int) *mlservice.Dataset {
	b.Helper()
	ds, err := mlservice.Validate(context.Background(), bytes.NewReader(csvGenFile(n)))
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

func BenchmarkValidate(b *testing.B) {
	for _, n := range csvGenSizes {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			data := csvGenFile(n)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				ds, err := mlservice.Validate(context.Background(), bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				if ds.Len() != n {
					b.Fatalf("Validate read %d rows, want %d", ds.Len(), n)
				}
			}
			reportRows(b, n)
		})
	}
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
	for _, n := range csvGenSizes {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			data := csvGenFile(n)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				ds, err := mlservice.Validate(context.Background(), bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if cand.Metadata.Metrics.Rows == 0 {
					b.Fatal("nothing evaluated")
				}
			}
			reportRows(b, n)
		})
	}
}
