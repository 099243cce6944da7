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
	var wg sync.WaitGroup
	for j, col := range X {
		wg.Go(func() { // the columns are summarized side by side
			var m, v, n float64
			if rows == nil {
				m, v = stat.PopMeanVariance(col, nil)
				n = float64(len(col))
			} else {
				m, v, n = maskedMeanVariance(col, rows)
			}
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

// maskedMeanVariance is gonum's stat.PopMeanVariance of the selected rows
// of x, as it computes it with 0/1 weights (the corrected two-pass
// algorithm): a row of weight 0 adds exactly 0 to each of its sums, so
// leaving it out gives the same bits, without a weight slice of a float64
// a row (8 MB for a million rows).
func maskedMeanVariance(x []float64, rows []bool) (mean, variance, n float64) {
	rows = rows[:len(x)]
	var sum float64
	for i, v := range x {
		if rows[i] {
			sum += v
			n++
		}
	}
	mean = sum / n
	var ss, compensation float64
	for i, v := range x {
		if rows[i] {
			d := v - mean
			ss += d * d
			compensation += d
		}
	}
	return mean, (ss - compensation*compensation/n) / n, n
}
