package model

import (
	"math"

	"gonum.org/v1/gonum/stat"
)

// FitScaler returns the per-column mean and population standard deviation of
// the selected rows, as scikit-learn's StandardScaler computes them. A column
// that is constant (to within rounding) gets scale 1, so it standardizes to 0
// instead of dividing by zero.
func FitScaler(X [][]float64, rows []bool) (mean, scale []float64) {
	mean = make([]float64, len(X))
	scale = make([]float64, len(X))
	var buf []float64
	for j, col := range X {
		vals := col
		if rows != nil {
			// gonum's stat wants the values side by side; one column at a
			// time keeps the copy to a single column of the training rows.
			if buf == nil {
				buf = make([]float64, 0, countSelected(rows))
			}
			buf = buf[:0]
			for i, v := range col {
				if rows[i] {
					buf = append(buf, v)
				}
			}
			vals = buf
		}
		m, v := stat.PopMeanVariance(vals, nil)
		mean[j] = m
		scale[j] = math.Sqrt(v)
		if isConstant(v, m, float64(len(vals))) {
			scale[j] = 1
		}
	}
	return mean, scale
}

// isConstant mirrors scikit-learn's _is_constant_feature: a variance within
// the rounding error of its own computation is treated as zero.
func isConstant(variance, mean, n float64) bool {
	const eps = 0x1p-52
	bound := n*eps*variance + (n*mean*eps)*(n*mean*eps)
	return variance <= bound
}

func countSelected(rows []bool) int {
	n := 0
	for _, r := range rows {
		if r {
			n++
		}
	}
	return n
}
