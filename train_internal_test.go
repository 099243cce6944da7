package mlservice

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mlservice/mlservice/model"
)

// splitLabels returns n0 zeros and n1 ones, interleaved.
func splitLabels(n0, n1 int) []uint8 {
	n := n0 + n1
	y := make([]uint8, 0, n)
	for i := 0; len(y) < n; i++ {
		if i%2 == 1 && n1 > 0 || n0 == 0 {
			y = append(y, 1)
			n1--
		} else {
			y = append(y, 0)
			n0--
		}
	}
	return y
}

func TestStratifiedTestRowsCounts(t *testing.T) {
	tests := []struct {
		n0, n1 int
		frac   float64
		want   [2]int
	}{
		{3251, 1726, 0.2, [2]int{650, 345}}, // day_01's classes: round(650.2), round(345.2)
		{100, 100, 0.2, [2]int{20, 20}},
		{5, 7, 0.5, [2]int{3, 4}}, // halves round away from zero: 2.5 → 3, 3.5 → 4
		{2, 2, 0.2, [2]int{1, 1}}, // round(0.4) = 0, clamped up to 1
		{2, 3, 0.9, [2]int{1, 2}}, // round(1.8) = 2, clamped down to 1; round(2.7) = 3, clamped to 2
		{2, 1000, 0.01, [2]int{1, 10}},
		{1000, 2, 0.999, [2]int{999, 1}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d+%d at %g", tc.n0, tc.n1, tc.frac), func(t *testing.T) {
			y := splitLabels(tc.n0, tc.n1)
			for _, seed := range []uint64{0, 1, 42, math.MaxUint64} {
				test := stratifiedTestRows(y, tc.frac, seed)
				if len(test) != len(y) {
					t.Fatalf("mask of %d rows for %d", len(test), len(y))
				}
				var got [2]int
				for i, isTest := range test {
					if isTest {
						got[y[i]]++
					}
				}
				if got != tc.want {
					t.Errorf("seed %d: test rows per class %v, want %v", seed, got, tc.want)
				}
			}
		})
	}
}

func TestStratifiedTestRowsSeeds(t *testing.T) {
	y := splitLabels(300, 200)
	a, b := stratifiedTestRows(y, 0.2, 42), stratifiedTestRows(y, 0.2, 42)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave two different splits")
	}
	seen := map[string]uint64{}
	for seed := range uint64(50) {
		key := fmt.Sprint(stratifiedTestRows(y, 0.2, seed))
		if other, dup := seen[key]; dup {
			t.Errorf("seeds %d and %d give the same split", other, seed)
		}
		seen[key] = seed
	}
}

// TestStratifiedTestRowsUniform: over many seeds every row is held out about
// frac of the time, whatever its position: the split favours no part of the
// file. The seeds are fixed, so this is deterministic; the bound is 5σ.
func TestStratifiedTestRowsUniform(t *testing.T) {
	const seeds = 4000
	y := splitLabels(10, 30)
	hits := make([]int, len(y))
	for seed := range uint64(seeds) {
		for i, isTest := range stratifiedTestRows(y, 0.3, seed) {
			if isTest {
				hits[i]++
			}
		}
	}
	for i, h := range hits {
		// Each class holds out exactly round(0.3·n_c) rows: 3 of 10, 9 of 30.
		p := 0.3
		mean, sd := seeds*p, math.Sqrt(seeds*p*(1-p))
		if math.Abs(float64(h)-mean) > 5*sd {
			t.Errorf("row %d (class %d) held out %d times of %d, want %.0f ± %.0f", i, y[i], h, seeds, mean, 5*sd)
		}
	}
}

// TestTrainUsesSplit: Train's model is model.Fit on the rows the split keeps
// for training, and its metrics are model.Evaluate over the rows it holds
// out.
func TestTrainUsesSplit(t *testing.T) {
	ds, err := ValidateFile(context.Background(), "data/day_01.csv")
	if err != nil {
		t.Fatal(err)
	}
	bitwise := cmp.Options{
		cmp.Comparer(func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }),
		cmpopts.IgnoreUnexported(model.Logistic{}),
	}
	for _, tc := range []struct {
		seed     uint64
		frac     float64
		balanced bool
	}{{DefaultSeed, DefaultTestFraction, false}, {DefaultSeed, DefaultTestFraction, true}, {7, 0.3, false}} {
		t.Run(fmt.Sprintf("seed %d, %g, balanced %v", tc.seed, tc.frac, tc.balanced), func(t *testing.T) {
			cand, err := Train(context.Background(), ds, TrainOptions{Seed: tc.seed, TestFraction: tc.frac, BalancedClassWeight: tc.balanced})
			if err != nil {
				t.Fatal(err)
			}
			test := stratifiedTestRows(ds.Y, tc.frac, tc.seed)
			train := make([]bool, len(test))
			for i, isTest := range test {
				train[i] = !isTest
			}
			m, fit, err := model.Fit(context.Background(), FeatureNames[:], ds.X[:], ds.Y, train, model.FitOptions{Balanced: tc.balanced})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(m, cand.Model, bitwise); diff != "" {
				t.Errorf("model (-Fit on the training rows +Train):\n%s", diff)
			}
			if diff := cmp.Diff(fit, cand.Metadata.Params.Fit, bitwise); diff != "" {
				t.Errorf("fit result (-Fit +Train):\n%s", diff)
			}
			p := make([]float64, len(test))
			for i := range p {
				v := ds.Row(i).Vector()
				p[i] = m.Probability(v[:])
			}
			want, err := model.Evaluate(ds.Y, p, test)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, cand.Metadata.Metrics, bitwise); diff != "" {
				t.Errorf("metrics (-Evaluate over the held-out rows +Train):\n%s", diff)
			}
		})
	}
}
