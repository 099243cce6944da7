package model_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mlservice/mlservice/model"
)

// synthetic returns n rows shaped like the service's data, with labels from
// a known logistic model.
func synthetic(n int, seed uint64) ([]string, [][]float64, []uint8) {
	r := rand.New(rand.NewPCG(seed, 1))
	X := make([][]float64, 5)
	for j := range X {
		X[j] = make([]float64, n)
	}
	y := make([]uint8, n)
	for i := range n {
		X[0][i] = float64(18 + r.IntN(73))
		X[1][i] = math.Round(math.Exp(10.8+0.5*r.NormFloat64())*100) / 100
		X[2][i] = math.Round((2500+6000*r.NormFloat64())*100) / 100
		X[3][i] = float64(r.IntN(40))
		X[4][i] = float64(r.IntN(2))
		z := -0.5 + 0.03*(X[0][i]-50) + 0.9*(math.Log(X[1][i])-10.8) + 0.00012*X[2][i] - 0.05*(X[3][i]-20) + 0.7*X[4][i]
		if r.Float64() < 1/(1+math.Exp(-z)) {
			y[i] = 1
		}
	}
	return []string{"age", "income", "account_balance", "transactions_last_30d", "is_premium"}, X, y
}

func BenchmarkFit(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		names, X, y := synthetic(n, 7)
		rows := make([]bool, n)
		for i := range rows {
			rows[i] = i%5 != 0
		}
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			var res model.FitResult
			for b.Loop() {
				var err error
				_, res, err = model.Fit(context.Background(), names, X, y, rows, model.FitOptions{})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(res.Evaluations), "evals")
		})
	}
}
