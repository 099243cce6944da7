package model_test

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"

	"github.com/mlservice/mlservice/model"
	"gonum.org/v1/gonum/stat"
)

// TestFitStallIsBounded asks for a gradient far below what float64 can
// resolve: line searches must stall, and Fit must give up after a bounded
// number of passes instead of halving its step sixty times per search.
func TestFitStallIsBounded(t *testing.T) {
	names, X, y := synthetic(20_000, 3)
	_, res, err := model.Fit(context.Background(), names, X, y, nil, model.FitOptions{GradientTolerance: 1e-15})
	if !errors.Is(err, model.ErrNotConverged) {
		t.Fatalf("err %v, want ErrNotConverged", err)
	}
	if res.Evaluations > res.Iterations+15 {
		t.Errorf("%d evaluations for %d iterations: a stalled line search was not cut short", res.Evaluations, res.Iterations)
	}
	if res.GradientMax > 1e-6 {
		t.Errorf("gave up at gradient %g: it should get close before stalling", res.GradientMax)
	}
}

func TestFitRejectsBadInput(t *testing.T) {
	names, X, y := synthetic(100, 1)
	ctx := context.Background()
	oneClass := make([]uint8, len(y))
	cases := map[string]func() error{
		"one class": func() error { _, _, err := model.Fit(ctx, names, X, oneClass, nil, model.FitOptions{}); return err },
		"names":     func() error { _, _, err := model.Fit(ctx, names[:2], X, y, nil, model.FitOptions{}); return err },
		"ragged":    func() error { _, _, err := model.Fit(ctx, names, X, y[:50], nil, model.FitOptions{}); return err },
		"mask": func() error {
			_, _, err := model.Fit(ctx, names, X, y, make([]bool, 3), model.FitOptions{})
			return err
		},
		"C": func() error { _, _, err := model.Fit(ctx, names, X, y, nil, model.FitOptions{C: -1}); return err },
	}
	for name, fit := range cases {
		if err := fit(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := model.Fit(cancelled, names, X, y, nil, model.FitOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// countdownCtx is a context whose Err turns to Canceled after n calls: a
// cancellation that lands deterministically in the middle of a fit.
type countdownCtx struct {
	context.Context
	n, calls atomic.Int64
}

func (c *countdownCtx) Err() error {
	if c.calls.Add(1) > c.n.Load() {
		return context.Canceled
	}
	return nil
}

// Fit honours ctx between evaluations of the loss, not only before it
// starts: cancelled after a few passes, it stops at the next one.
func TestFitCanceledMidway(t *testing.T) {
	names, X, y := synthetic(20_000, 3)
	opts := model.FitOptions{GradientTolerance: 1e-12}
	_, full, err := model.Fit(context.Background(), names, X, y, nil, opts)
	if err != nil && !errors.Is(err, model.ErrNotConverged) {
		t.Fatal(err)
	}
	const n = 4
	ctx := &countdownCtx{Context: context.Background()}
	ctx.n.Store(n)
	m, _, err := model.Fit(ctx, names, X, y, nil, opts)
	if !errors.Is(err, context.Canceled) || m != nil {
		t.Fatalf("Fit = %v, %v; want context.Canceled", m, err)
	}
	// Err is asked before every evaluation: once it says Canceled, Fit stops
	// (and asks once or twice more on its way out).
	if calls := ctx.calls.Load(); calls > n+3 || full.Evaluations <= n+3 {
		t.Errorf("ctx.Err called %d times after %d allowed; a full fit takes %d evaluations", calls, n, full.Evaluations)
	}
	t.Logf("full fit: %d evaluations; cancelled one: ctx.Err called %d times", full.Evaluations, ctx.calls.Load())
}

// TestMaskedMeanVariance: leaving the rows out gives gonum's bits with 0/1
// weights, which the scaler used to pass it.
func TestMaskedMeanVariance(t *testing.T) {
	_, X, _ := synthetic(10_000, 5)
	rows := make([]bool, 10_000)
	weights := make([]float64, len(rows))
	for i := range rows {
		rows[i] = i%7 != 3
		if rows[i] {
			weights[i] = 1
		}
	}
	mean, scale := model.FitScaler(X, rows)
	for j, col := range X {
		m, v := stat.PopMeanVariance(col, weights)
		if math.Float64bits(m) != math.Float64bits(mean[j]) || math.Float64bits(math.Sqrt(v)) != math.Float64bits(scale[j]) {
			t.Errorf("column %d: mean %v scale %v, gonum %v %v", j, mean[j], scale[j], m, math.Sqrt(v))
		}
	}
}
