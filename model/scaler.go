package model

import (
	"math"
	"sync"

	"gonum.org/v1/gonum/stat"
)

// FitScaler returns the per-column mean and population standard deviation of
// the selected rows, as scikit-learn's StandardScaler computes them. A column
// that is constant (to within rounding) gets scale 1, so it standardizes to 0
// instead of dividing by zero.
func FitScaler(X [][]float64, rows []bool) (mean, scale []float64) {
	mean = make([]float64, len(X))
	scale = make([]float64, len(X))
	// The mask becomes 0/1 weights for gonum: a weight of 0 adds exactly 0,
	// so the sums are those over the selected rows alone, bit for bit, and
	// the columns can be summarized side by side without copying them.
	var weights []float64
	n := float64(len(X[0]))
	if rows != nil {
		weights = make([]float64, len(rows))
		n = 0
		for i, r := range rows {
			if r {
				weights[i] = 1
				n++
			}
		}
	}
	var wg sync.WaitGroup
	for j, col := range X {
		wg.Go(func() {
			m, v := stat.PopMeanVariance(col, weights)
			mean[j] = m
			scale[j] = math.Sqrt(v)
			if isConstant(v, m, n) {
				scale[j] = 1
			}
		})
	}
	wg.Wait()
	return mean, scale
}

// isConstant mirrors scikit-learn's _is_constant_feature: a variance within
// the rounding error of its own computation is treated as zero.
func isConstant(variance, mean, n float64) bool {
	const eps = 0x1p-52
	bound := n*eps*variance + (n*mean*eps)*(n*mean*eps)
	return variance <= bound
}
