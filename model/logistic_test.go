package model_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mlservice/mlservice/model"
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
