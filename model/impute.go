package model

import (
	"math"
	"slices"
)

// imputeColumns returns X with the features of layout that may be missing
// imputed, as scikit-learn's SimpleImputer does ahead of the encoder: a
// number's NaN becomes the median of its training rows (those rows
// selects; 0 when all of them are missing), a category's NaN the code of
// its missing level, len(Levels). The columns it changes are copies; the
// others are X's. impute holds each number's median, by name.
func imputeColumns(layout Layout, X [][]float64, rows []bool) (out [][]float64, impute map[string]float64) {
	out = X
	for j, f := range layout {
		if !f.Missing || j >= len(X) {
			continue
		}
		if impute == nil {
			out, impute = slices.Clone(X), map[string]float64{}
		}
		fill := float64(len(f.Levels))
		if f.Kind == Number {
			fill = median(X[j], rows)
			impute[f.Name] = fill
		}
		col := slices.Clone(X[j])
		for i, v := range col {
			if v != v {
				col[i] = fill
			}
		}
		out[j] = col
	}
	if len(impute) == 0 {
		impute = nil
	}
	return out, impute
}

// missingLevels is how many one-hot columns a category has beyond its
// levels: 1 (name=MissingLevel) when it may be missing.
func missingLevels(f Feature) int {
	if f.Missing {
		return 1
	}
	return 0
}

// median returns the median of the values of col that rows selects (nil:
// all) and are not NaN, the mean of the middle two for an even count, as
// numpy's median; 0 when there is none.
func median(col []float64, rows []bool) float64 {
	var vals []float64
	for i, v := range col {
		if !math.IsNaN(v) && (rows == nil || i < len(rows) && rows[i]) {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return 0
	}
	slices.Sort(vals)
	n := len(vals)
	if n%2 == 1 {
		return vals[n/2]
	}
	return (vals[n/2-1] + vals[n/2]) / 2
}
