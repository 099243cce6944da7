// Package trees makes a gradient-boosted forest (model/gbdt) a model.Model
// over a schema's layout: package model does not import model/gbdt, and
// model/gbdt knows nothing of layouts, so the root package meets the two
// here. A category's level names live in the layout; the forest knows only
// how many levels it has.
package trees

import (
	"context"
	"fmt"
	"slices"

	"github.com/mlservice/mlservice/model"
	"github.com/mlservice/mlservice/model/gbdt"
)

// Model is a forest reading rows of a layout. Family, LogOdds, Explain and
// MarshalJSON are the forest's.
type Model struct {
	*gbdt.Forest
	layout model.Layout
}

var _ model.Model = (*Model)(nil)

// Layout returns the rows the model reads.
func (m *Model) Layout() model.Layout { return m.layout }

// Features returns the forest features of layout l, in order: a number as
// a number, a category with its level count.
func Features(l model.Layout) []gbdt.Feature {
	out := make([]gbdt.Feature, len(l))
	for j, f := range l {
		out[j] = gbdt.Feature{Name: f.Name}
		if f.Kind == model.Category {
			out[j].Categorical, out[j].Levels = true, len(f.Levels)
		}
	}
	return out
}

// Wrap returns f as a model of layout l, or why f does not read l's rows.
func Wrap(f *gbdt.Forest, l model.Layout) (*Model, error) {
	want, have := Features(l), f.Features()
	if len(want) != len(have) {
		return nil, fmt.Errorf("the forest reads %d features, the schema has %d", len(have), len(want))
	}
	for j := range want {
		if want[j] != have[j] {
			return nil, fmt.Errorf("the forest's feature %d is %s, the schema's is %s", j, describe(have[j]), describe(want[j]))
		}
	}
	return &Model{Forest: f, layout: slices.Clip(l)}, nil
}

func describe(f gbdt.Feature) string {
	if f.Categorical {
		return fmt.Sprintf("%q (a category of %d levels)", f.Name, f.Levels)
	}
	return fmt.Sprintf("%q (a number)", f.Name)
}

// Decode reads a model.json of family gbdt for rows of l.
func Decode(data []byte, l model.Layout) (*Model, error) {
	f, err := gbdt.Decode(data)
	if err != nil {
		return nil, err
	}
	return Wrap(f, l)
}

// Fit trains a forest on the rows of x (a column per feature of l) that
// mask selects (nil: all).
func Fit(ctx context.Context, l model.Layout, x [][]float64, y []uint8, mask []bool, opts gbdt.Options) (*Model, error) {
	f, err := gbdt.Fit(ctx, Features(l), x, y, mask, opts)
	if err != nil {
		return nil, err
	}
	return Wrap(f, l)
}

// Import reads an XGBoost JSON model whose feature_names are features of l
// (numbers), by name (gbdt.FromXGBoost).
func Import(data []byte, l model.Layout) (*Model, error) {
	f, err := gbdt.FromXGBoost(data, Features(l))
	if err != nil {
		return nil, err
	}
	return Wrap(f, l)
}

// Forest returns m's forest when m is a trees model.
func Forest(m model.Model) (*gbdt.Forest, bool) {
	t, ok := m.(*Model)
	if !ok {
		return nil, false
	}
	return t.Forest, true
}
