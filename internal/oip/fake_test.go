package oip_test

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/mlservice/mlservice/internal/oip"
	"github.com/mlservice/mlservice/internal/tabular"
)

// The model side of the tests: two models with a made-up linear score,
// standing in for the library's Store. Everything between a client and
// this (transport, codec, status mapping) is the real code.

var mixedFeatures = []tabular.Feature{
	{Name: "age", Type: tabular.FeatureNumber},
	{Name: "income", Type: tabular.FeatureNumber},
	{Name: "premium", Type: tabular.FeatureBinary},
	{Name: "plan", Type: tabular.FeatureCategory},
}

var numericFeatures = []tabular.Feature{
	{Name: "x0", Type: tabular.FeatureNumber},
	{Name: "x1", Type: tabular.FeatureNumber},
	{Name: "x2", Type: tabular.FeatureNumber},
}

var planWeight = map[string]float64{"basic": -0.5, "plus": 0.25, "pro": 1}

// fakeProbability is the fake model's answer for one row of cells.
func fakeProbability(cells []tabular.Cell) (float64, error) {
	z := -1.0
	for j, c := range cells {
		switch {
		case c.Kind == tabular.Null:
			return 0, fmt.Errorf("%w: feature %d: required (missing or null)", oip.ErrInvalidInput, j)
		case c.Kind == tabular.String:
			w, ok := planWeight[c.Str]
			if !ok {
				return 0, fmt.Errorf("%w: unknown category %q", oip.ErrInvalidInput, c.Str)
			}
			z += w
		case c.Kind == tabular.Number:
			z += c.Num * (0.01 + 0.001*float64(j))
		default:
			return 0, fmt.Errorf("%w: feature %d: must be a number", oip.ErrInvalidInput, j)
		}
	}
	return 1 / (1 + math.Exp(-z)), nil
}

type fakeModel struct {
	info      oip.ModelInfo
	predicted *atomic.Int64 // rows predicted, across copies
}

func (m fakeModel) Info() oip.ModelInfo { return m.info }

func (m fakeModel) Predict(ctx context.Context, t *tabular.Table, probs []float64, labels []int64) error {
	if len(probs) != t.Rows || len(labels) != t.Rows || len(t.Columns) != len(m.info.Features) {
		return fmt.Errorf("fake: %d rows, %d probs, %d labels, %d columns", t.Rows, len(probs), len(labels), len(t.Columns))
	}
	row := make([]tabular.Cell, len(t.Columns))
	for i := range t.Rows {
		for j := range t.Columns {
			if t.Columns[j].Len() != t.Rows {
				return fmt.Errorf("fake: column %d has %d cells for %d rows", j, t.Columns[j].Len(), t.Rows)
			}
			row[j] = t.Columns[j].At(i)
		}
		p, err := fakeProbability(row)
		if err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
		probs[i] = p
		labels[i] = 0
		if p >= 0.5 {
			labels[i] = 1
		}
	}
	if m.predicted != nil {
		m.predicted.Add(int64(t.Rows))
	}
	return nil
}

type fakeBackend struct {
	ready     atomic.Bool
	predicted atomic.Int64
}

func newFakeBackend() *fakeBackend {
	b := &fakeBackend{}
	b.ready.Store(true)
	return b
}

func (b *fakeBackend) Ready() bool { return b.ready.Load() }

func (b *fakeBackend) Model(_ context.Context, name, version string) (oip.Model, error) {
	var info oip.ModelInfo
	switch name {
	case "churn":
		info = oip.ModelInfo{Name: name, Version: "v2", Versions: []string{"v2", "v1"}, Platform: "mlservice_fake", Features: mixedFeatures}
	case "numeric":
		info = oip.ModelInfo{Name: name, Version: "v1", Versions: []string{"v1"}, Features: numericFeatures}
	case "panics":
		return panicModel{}, nil
	case "loading":
		return nil, fmt.Errorf("model %q: %w: no version loaded yet", name, oip.ErrModelNotReady)
	default:
		return nil, fmt.Errorf("model %q: %w", name, oip.ErrModelNotFound)
	}
	if version != "" {
		found := false
		for _, v := range info.Versions {
			found = found || v == version
		}
		if !found {
			return nil, fmt.Errorf("model %q version %q: %w", name, version, oip.ErrModelNotFound)
		}
		info.Version = version
	}
	if !b.ready.Load() {
		return nil, fmt.Errorf("model %q: %w", name, oip.ErrModelNotReady)
	}
	return fakeModel{info: info, predicted: &b.predicted}, nil
}

// panicModel stands for a bug on the model side.
type panicModel struct{}

func (panicModel) Info() oip.ModelInfo {
	return oip.ModelInfo{Name: "panics", Version: "v1", Features: mixedFeatures}
}

func (panicModel) Predict(context.Context, *tabular.Table, []float64, []int64) error {
	panic("a bug in the model")
}

// cellsOf returns a table's rows as cells, for comparisons.
func cellsOf(t *tabular.Table) [][]tabular.Cell {
	out := make([][]tabular.Cell, t.Rows)
	for i := range out {
		out[i] = make([]tabular.Cell, len(t.Columns))
		for j := range t.Columns {
			out[i][j] = t.Columns[j].At(i)
		}
	}
	return out
}

func num(v float64) tabular.Cell { return tabular.Cell{Kind: tabular.Number, Num: v} }
func str(s string) tabular.Cell  { return tabular.Cell{Kind: tabular.String, Str: s} }
