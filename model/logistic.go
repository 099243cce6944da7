package model

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// FamilyLogistic is the Family of a *Logistic.
const FamilyLogistic = "logistic"

// Logistic is a fitted standardizer followed by a logistic regression.
// Its parameters are over the encoded columns (Layout.EncodedNames: the
// numbers, then each category's one-hot levels), in standardized space:
//
//	z = Intercept + Σ Coef[j]·(x[j]−Mean[j])/Scale[j],  P(class 1) = 1/(1+e^−z)
//
// One-hot columns are not standardized: their Mean is 0 and Scale 1.
// A number feature that may be missing (Feature.Missing) reads NaN as its
// Impute value, the training median; a category that may be missing has a
// column of its own for NaN, name=MissingLevel.
// A Logistic made by FitLogistic or DecodeLogistic is immutable; share it
// freely between goroutines.
type Logistic struct {
	Features  []string  // the encoded columns' names
	Mean      []float64 // per column: the mean of the training rows
	Scale     []float64 // per column: the population standard deviation (1 for a constant column)
	Coef      []float64 // weights in standardized space
	Intercept float64
	// Impute holds, by name, the value each number feature that may be
	// missing takes for NaN: the median of its training rows.
	Impute map[string]float64

	layout Layout
	// w is the model compiled for LogOdds, held in the struct (not behind a
	// pointer: one load less on the predict path); compiled is false in a
	// Logistic built by hand.
	w        logisticWeights
	compiled bool
}

// logisticWeights is a Logistic compiled for rows: each number's weight
// divided by its scale once, each category's one-hot weights by level.
type logisticWeights struct {
	// fast: LogOdds may take its fast path (a compiled model whose numbers
	// are the row's first features, none imputed).
	fast     bool
	dense    bool  // the numbers are the row's first features, in order
	numIndex []int // per number: its index in the row
	weight   []float64
	mean     []float64
	impute   []float64 // per number: the value NaN reads as (NaN: none); nil when none is imputed
	imputed  bool      // some number is imputed
	// The first serialNumbers weights and means again, in arrays.
	weight8, mean8 [serialNumbers]float64
	cats           []catWeights
	intercept      float64 // with every category's constant term
}

type catWeights struct {
	index  int       // in the row
	level  []float64 // per level: the one-hot column's weight
	offset float64   // Σ −weight·mean over the levels: 0 for a fitted model
	// missing is the weight of the name=MissingLevel column (NaN's); 0 for a
	// category that may not be missing, whose NaN is no level at all.
	missing float64
}

// NewLogistic returns the logistic model of layout with the given
// parameters over its encoded columns, checked by Validate.
func NewLogistic(layout Layout, features []string, mean, scale, coef []float64, intercept float64) (*Logistic, error) {
	return NewLogisticImputed(layout, features, mean, scale, coef, intercept, nil)
}

// NewLogisticImputed is NewLogistic for a layout with number features that
// may be missing: impute holds the value of each such feature, by name,
// and nothing else.
func NewLogisticImputed(layout Layout, features []string, mean, scale, coef []float64, intercept float64, impute map[string]float64) (*Logistic, error) {
	m := &Logistic{Features: features, Mean: mean, Scale: scale, Coef: coef, Intercept: intercept, Impute: impute, layout: layout}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	names := layout.EncodedNames()
	if !slicesEqual(features, names) {
		return nil, fmt.Errorf("model columns %s are not the layout's encoding %s", clip(features), clip(names))
	}
	n := 0
	for _, f := range layout {
		if f.Kind != Number || !f.Missing {
			continue
		}
		if _, ok := impute[f.Name]; !ok {
			return nil, fmt.Errorf("feature %q may be missing but the model has no value to impute for it", f.Name)
		}
		n++
	}
	if n != len(impute) {
		return nil, fmt.Errorf("the model imputes %d features, the layout has %d number features that may be missing", len(impute), n)
	}
	m.w, m.compiled = *m.compile(), true
	return m, nil
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// clip shows a list of names in at most about 200 bytes.
func clip(names []string) string {
	s := fmt.Sprint(names)
	if len(s) > 200 {
		s = s[:200] + "…]"
	}
	return s
}

// Family returns FamilyLogistic.
func (m *Logistic) Family() string { return FamilyLogistic }

// Layout returns the model's inputs. A Logistic built by hand has the
// layout its Features spell: names with "=" are a category's levels.
func (m *Logistic) Layout() Layout {
	if m.layout == nil {
		return layoutOfNames(m.Features, m.Impute)
	}
	return m.layout
}

// layoutOfNames reads a layout from encoded column names: numbers first,
// then name=level columns grouped by name. Feature names never hold "="
// (a schema refuses them), so the split is unambiguous.
// A number named in impute may be missing, and so may a category with a
// name=MissingLevel column.
func layoutOfNames(names []string, impute map[string]float64) Layout {
	var l Layout
	for _, n := range names {
		name, level, cat := strings.Cut(n, "=")
		if !cat {
			_, missing := impute[n]
			l = append(l, Feature{Name: n, Kind: Number, Missing: missing})
			continue
		}
		k := len(l) - 1
		if k < 0 || l[k].Kind != Category || l[k].Name != name {
			l = append(l, Feature{Name: name, Kind: Category})
			k++
		}
		if level == MissingLevel {
			l[k].Missing = true
		} else {
			l[k].Levels = append(l[k].Levels, level)
		}
	}
	return l
}

func (m *Logistic) compile() *logisticWeights {
	layout := m.Layout()
	w := &logisticWeights{dense: true, intercept: m.Intercept}
	col := 0
	for i, f := range layout {
		if f.Kind != Number {
			continue
		}
		w.dense = w.dense && i == len(w.numIndex)
		w.numIndex = append(w.numIndex, i)
		w.weight = append(w.weight, m.Coef[col]/m.Scale[col])
		w.mean = append(w.mean, m.Mean[col])
		col++
	}
	for j, i := range w.numIndex {
		imp, ok := m.Impute[layout[i].Name]
		if !ok || !layout[i].Missing {
			continue
		}
		if w.impute == nil {
			w.impute = make([]float64, len(w.numIndex))
			for k := range w.impute {
				w.impute[k] = math.NaN()
			}
		}
		w.impute[j], w.imputed = imp, true
	}
	w.fast = w.dense && !w.imputed
	copy(w.weight8[:], w.weight)
	copy(w.mean8[:], w.mean)
	for i, f := range layout {
		if f.Kind != Category {
			continue
		}
		c := catWeights{index: i}
		for range f.Levels {
			wt := m.Coef[col] / m.Scale[col]
			c.level = append(c.level, wt)
			c.offset -= wt * m.Mean[col]
			col++
		}
		if f.Missing {
			c.missing = m.Coef[col] / m.Scale[col]
			c.offset -= c.missing * m.Mean[col]
			col++
		}
		w.intercept += c.offset
		w.cats = append(w.cats, c)
	}
	return w
}

func (m *Logistic) weights() *logisticWeights {
	if m.compiled {
		return &m.w
	}
	return m.compile() // a Logistic built by hand: compiled on each call
}

// serialNumbers is how many numbers LogOdds sums one after the other, in
// Decision's order (and bits); beyond it, four interleaved sums run about
// four times as fast (BenchmarkLogOdds).
const serialNumbers = 8

// LogOdds returns the log-odds of class 1 for row. With up to
// serialNumbers numbers and no category, it computes exactly what Decision
// does, in the same order. It allocates nothing (for a Logistic made by
// FitLogistic, NewLogistic or DecodeLogistic).
func (m *Logistic) LogOdds(row []float64) float64 {
	w := &m.w
	if !w.fast {
		return m.logOdds(row)
	}
	var z float64
	if n := len(w.weight); n <= serialNumbers {
		// Arrays indexed j&7: no bounds check in the loop.
		z = w.intercept
		for j, v := range row[:n] {
			z += w.weight8[j&7] * (v - w.mean8[j&7])
		}
	} else {
		z = w.intercept + sum4(w.weight, w.mean, row[:n])
	}
	return z + w.categories(row)
}

// categories sums the row's category terms: its level's weight, the
// missing level's for NaN, nothing for an ignored unknown value (-1).
func (w *logisticWeights) categories(row []float64) float64 {
	var z float64
	for k := range w.cats {
		c := &w.cats[k]
		if code := row[c.index]; code >= 0 && code < float64(len(c.level)) {
			z += c.level[int(code)]
		} else if code != code {
			z += c.missing
		}
	}
	return z
}

// logOdds is LogOdds for any model.
func (m *Logistic) logOdds(row []float64) float64 {
	w := m.weights()
	n := len(w.weight)
	weight, mean := w.weight[:n], w.mean[:n]
	var z float64
	switch {
	case w.imputed:
		z = w.intercept
		for j, i := range w.numIndex[:n] {
			v := row[i]
			if v != v {
				v = w.impute[j]
			}
			z += weight[j] * (v - mean[j])
		}
	case w.dense && n <= serialNumbers:
		z = w.intercept
		for j, v := range row[:n] {
			z += weight[j] * (v - mean[j])
		}
	case w.dense:
		z = w.intercept + sum4(weight, mean, row[:n])
	default:
		var z0, z1 float64
		idx := w.numIndex[:n]
		j := 0
		for ; j+1 < n; j += 2 {
			z0 += weight[j] * (row[idx[j]] - mean[j])
			z1 += weight[j+1] * (row[idx[j+1]] - mean[j+1])
		}
		if j < n {
			z0 += weight[j] * (row[idx[j]] - mean[j])
		}
		z = w.intercept + (z0 + z1)
	}
	return z + w.categories(row)
}

// sum4 is Σ weight[j]·(x[j]−mean[j]) in four running sums (j mod 4), added
// at the end.
func sum4(weight, mean, x []float64) float64 {
	var z0, z1, z2, z3 float64
	n := len(weight)
	mean, x = mean[:n], x[:n]
	j := 0
	for ; j+3 < n; j += 4 {
		z0 += weight[j] * (x[j] - mean[j])
		z1 += weight[j+1] * (x[j+1] - mean[j+1])
		z2 += weight[j+2] * (x[j+2] - mean[j+2])
		z3 += weight[j+3] * (x[j+3] - mean[j+3])
	}
	for ; j < n; j++ {
		z0 += weight[j] * (x[j] - mean[j])
	}
	return (z0 + z1) + (z2 + z3)
}

// Explain writes each feature's contribution to the row's log-odds into
// out: a number's coefficient times its standardized value, a category's
// one-hot terms summed (its level's weight, 0 for an unknown value). The
// bias is the intercept.
func (m *Logistic) Explain(row, out []float64) (bias float64) {
	w := m.weights()
	for j, i := range w.numIndex {
		v := row[i]
		if v != v && w.imputed {
			v = w.impute[j]
		}
		out[i] = w.weight[j] * (v - w.mean[j])
	}
	for k := range w.cats {
		c := &w.cats[k]
		out[c.index] = c.offset
		if code := row[c.index]; code >= 0 && code < float64(len(c.level)) {
			out[c.index] += c.level[int(code)]
		} else if code != code {
			out[c.index] += c.missing
		}
	}
	return m.Intercept
}

// Validate reports whether m is internally consistent: one mean, scale and
// coefficient per column, every number finite, every scale positive.
func (m *Logistic) Validate() error {
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
	for name, v := range m.Impute {
		if !seen[name] || strings.Contains(name, "=") {
			return fmt.Errorf("impute names %q, which is not a number column", name)
		}
		if !finite(v) {
			return fmt.Errorf("feature %q: imputed value %v must be finite", name, v)
		}
	}
	return nil
}

// Decision returns the log-odds z of class 1 for one row of encoded
// columns (len(m.Features) values: one-hot columns as 0 or 1), computed in
// this order:
//
//	z = Intercept;  z += (Coef[j]/Scale[j]) · (x[j]−Mean[j])  for j = 0, 1, …
//
// It allocates nothing.
func (m *Logistic) Decision(x []float64) float64 {
	mean, scale, coef := m.Mean[:len(x)], m.Scale[:len(x)], m.Coef[:len(x)]
	z := m.Intercept
	for j, v := range x {
		z += coef[j] / scale[j] * (v - mean[j])
	}
	return z
}

// Probability returns P(class 1) for one row of encoded columns.
func (m *Logistic) Probability(x []float64) float64 {
	return Sigmoid(m.Decision(x))
}
