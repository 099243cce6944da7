// Package model is the math behind mlservice: a standardizer, an L2-regularized
// logistic regression fitted with gonum's L-BFGS, evaluation metrics, and the
// JSON form a fitted model is stored in.
//
// It stands alone: it knows nothing of CSV files, artifacts or serving, and it
// never imports the root package. The fitted model is the one scikit-learn's
// Pipeline(StandardScaler(), LogisticRegression()) computes on the same rows;
// testdata/sklearn holds the golden values that prove it.
//
// Data is passed column by column: X[j][i] is feature j of row i. Labels are
// 0 or 1. A nil rows mask means every row; otherwise rows[i] says whether row
// i takes part.
package model

import (
	"errors"
	"fmt"
	"math"
)

// Model is a fitted standardizer followed by a logistic regression, the pair
// scikit-learn calls a Pipeline. Coefficients live in standardized space:
//
//	z = Intercept + Σ Coef[j]·(x[j]−Mean[j])/Scale[j],  P(class 1) = 1/(1+e^−z)
//
// A Model is immutable once built by Fit or Decode; share it freely between
// goroutines.
type Model struct {
	Features  []string  // feature names, in the order rows are given
	Mean      []float64 // per-feature mean of the training rows
	Scale     []float64 // per-feature population standard deviation (1 for a constant feature)
	Coef      []float64 // weights in standardized space
	Intercept float64
}

// Validate reports whether m is internally consistent: one mean, scale and
// coefficient per feature, every number finite, every scale positive.
func (m *Model) Validate() error {
	d := len(m.Features)
	if d == 0 {
		return errors.New("model has no features")
	}
	if len(m.Mean) != d || len(m.Scale) != d || len(m.Coef) != d {
		return fmt.Errorf("model has %d features but %d means, %d scales and %d coefficients",
			d, len(m.Mean), len(m.Scale), len(m.Coef))
	}
	seen := make(map[string]bool, d)
	for j, name := range m.Features {
		if name == "" {
			return fmt.Errorf("feature %d has no name", j)
		}
		if seen[name] {
			return fmt.Errorf("feature %q appears twice", name)
		}
		seen[name] = true
		if !finite(m.Mean[j]) || !finite(m.Coef[j]) {
			return fmt.Errorf("feature %q: mean and coefficient must be finite", name)
		}
		if !finite(m.Scale[j]) || m.Scale[j] <= 0 {
			return fmt.Errorf("feature %q: scale %v must be finite and positive", name, m.Scale[j])
		}
	}
	if !finite(m.Intercept) {
		return errors.New("intercept must be finite")
	}
	return nil
}

// Decision returns the log-odds z of class 1 for one row of len(m.Features)
// values, computed in this order:
//
//	z = Intercept;  z += (Coef[j]/Scale[j]) · (x[j]−Mean[j])  for j = 0, 1, …
//
// A caller that precomputes Coef[j]/Scale[j] and keeps the order gets the
// same bits without a division per feature. It allocates nothing.
func (m *Model) Decision(x []float64) float64 {
	mean, scale, coef := m.Mean[:len(x)], m.Scale[:len(x)], m.Coef[:len(x)]
	z := m.Intercept
	for j, v := range x {
		z += coef[j] / scale[j] * (v - mean[j])
	}
	return z
}

// Probability returns P(class 1) for one row. It allocates nothing.
func (m *Model) Probability(x []float64) float64 {
	return Sigmoid(m.Decision(x))
}

// Predict returns the class (1 when the probability exceeds 0.5, the rule
// scikit-learn's predict uses) and the probability of class 1.
func (m *Model) Predict(x []float64) (class int, probability float64) {
	z := m.Decision(x)
	if z > 0 {
		class = 1
	}
	return class, Sigmoid(z)
}

// Sigmoid is the logistic function 1/(1+e^−z), computed without overflow.
func Sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
