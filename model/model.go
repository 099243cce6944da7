// Package model is the math behind mlservice: the interface every model
// family implements, logistic regression (a standardizer and an
// L2-regularized logistic regression fitted with gonum's L-BFGS, the pair
// scikit-learn calls a Pipeline; testdata/sklearn holds the golden values
// that prove it), evaluation metrics, and the JSON form a fitted model is
// stored in.
//
// It stands alone: it knows nothing of CSV files, artifacts or serving, and
// it never imports the root package, nor a family's package (such as
// model/gbdt): whoever decodes a model.json picks the family by its
// "family" field (absent: "logistic", as files written before there were
// families).
//
// # Rows
//
// A model reads one row at a time as a []float64 with one value per feature
// of its Layout, in layout order: a number (or a 0/1 binary) as it is, a
// category as its level's code (the level's index in Feature.Levels) as a
// float64, -1 for a value the schema lets through without a level
// ("unknown": "ignore"). NaN is a missing value: a feature whose Missing
// is set may have it (a number's or a category's), and each family deals
// with it its own way (logistic regression imputes, trees learn a default
// direction). Training data comes the
// same way, a column per feature: X[j][i] is feature j of row i. Labels are
// 0 or 1. A nil rows mask means every row; otherwise rows[i] says whether
// row i takes part.
package model

import (
	"math"
	"slices"
)

// Kind is how a model reads a feature's values.
type Kind uint8

const (
	Number   Kind = iota // a number or a 0/1 binary, as is
	Category             // a level's code; -1 for an unknown value to ignore
)

// Feature is one input of a model.
type Feature struct {
	Name   string
	Kind   Kind
	Levels []string // a category's values, in code order; nil for a number
	// Missing says the feature may be NaN (missing) in a row. A logistic
	// model imputes it: a number's training median, a category's own
	// level, encoded as the column name=MissingLevel after its levels.
	Missing bool
}

// MissingLevel names the one-hot column of a missing category value
// (name=NA): a schema never has a category spelled as a missing value, so
// the name cannot clash with a level.
const MissingLevel = "NA"

// Layout is a model's inputs, in row order (a schema's feature order).
type Layout []Feature

// Equal reports whether l and m describe the same rows.
func (l Layout) Equal(m Layout) bool {
	return slices.EqualFunc(l, m, func(a, b Feature) bool {
		return a.Name == b.Name && a.Kind == b.Kind && a.Missing == b.Missing && slices.Equal(a.Levels, b.Levels)
	})
}

// EncodedNames returns the columns of l one-hot encoded: every number
// feature by name, in order, then each category's levels as name=level,
// feature by feature, each category that may be missing followed by its
// name=MissingLevel column. It is the column order of scikit-learn's
// ColumnTransformer with a StandardScaler on the numbers and a
// OneHotEncoder on the categories, and of a logistic model's coefficients.
func (l Layout) EncodedNames() []string {
	var out []string
	for _, f := range l {
		if f.Kind == Number {
			out = append(out, f.Name)
		}
	}
	for _, f := range l {
		if f.Kind == Category {
			for _, v := range f.Levels {
				out = append(out, f.Name+"="+v)
			}
			if f.Missing {
				out = append(out, f.Name+"="+MissingLevel)
			}
		}
	}
	return out
}

// Model is a fitted binary classifier of one family. Promote, the Store and
// the history page use models only through it, whatever their family.
type Model interface {
	// Family names the model's family: "logistic", "gbdt".
	Family() string
	// Layout returns the rows the model reads. The caller must not modify
	// it.
	Layout() Layout
	// LogOdds returns the log-odds of class 1 for row (see the package
	// documentation). It neither retains row nor allocates, and is safe
	// for concurrent use.
	LogOdds(row []float64) float64
	// Explain writes into out[j] feature j's contribution to the row's
	// log-odds and returns the bias: bias + Σ out == LogOdds(row) to
	// rounding. len(out) is len(Layout()).
	Explain(row, out []float64) (bias float64)
	// MarshalJSON returns the model as model.json: its "family" field
	// names the family.
	MarshalJSON() ([]byte, error)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
