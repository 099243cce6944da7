package model_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mlservice/mlservice/model"
)

// golden is testdata/sklearn/golden.json, written by make_golden.py.
type golden struct {
	SklearnVersion string   `json:"sklearn_version"`
	Features       []string `json:"features"`
	Cases          []struct {
		Name          string        `json:"name"`
		CSV           string        `json:"csv"`
		Balanced      bool          `json:"balanced"`
		Rows          int           `json:"rows"`
		DefaultTol    fitted        `json:"default_tol"`
		Exact         fitted        `json:"exact"`
		Probabilities []float64     `json:"probabilities"`
		Metrics       goldenMetrics `json:"metrics"`
	} `json:"cases"`
	// MetricCases are labels and probabilities scored by scikit-learn
	// alone: tied scores, probabilities of exactly 0 and 1.
	MetricCases []struct {
		Name          string        `json:"name"`
		Labels        []uint8       `json:"labels"`
		Probabilities []float64     `json:"probabilities"`
		Metrics       goldenMetrics `json:"metrics"`
	} `json:"metric_cases"`
}

type goldenMetrics struct {
	F1        float64   `json:"f1"`
	Precision float64   `json:"precision"`
	Recall    float64   `json:"recall"`
	Accuracy  float64   `json:"accuracy"`
	ROCAUC    float64   `json:"roc_auc"`
	PRAUC     float64   `json:"pr_auc"`
	LogLoss   float64   `json:"log_loss"`
	Confusion [2][2]int `json:"confusion_matrix"`
}

type fitted struct {
	Mean      []float64 `json:"mean"`
	Scale     []float64 `json:"scale"`
	Coef      []float64 `json:"coef"`
	Intercept float64   `json:"intercept"`
}

const goldenDir = "../testdata/sklearn"

func loadGolden(t testing.TB) golden {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(goldenDir, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("golden.json has no cases")
	}
	return g
}

// readColumns reads a contract CSV without the root package (model must not
// import it): feature columns in g.Features order, then labels.
func readColumns(t testing.TB, path string, features []string) ([][]float64, []uint8) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]int{}
	for i, name := range records[0] {
		index[name] = i
	}
	X := make([][]float64, len(features))
	var y []uint8
	for _, rec := range records[1:] {
		for j, name := range features {
			v, err := strconv.ParseFloat(rec[index[name]], 64)
			if err != nil {
				t.Fatal(err)
			}
			X[j] = append(X[j], v)
		}
		label, err := strconv.Atoi(rec[index["target"]])
		if err != nil {
			t.Fatal(err)
		}
		y = append(y, uint8(label))
	}
	return X, y
}

func within(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); !(d <= tol) {
			t.Errorf("%s[%d] = %.12g, scikit-learn %.12g (|diff| %.3g > %.0e)", what, i, got[i], want[i], d, tol)
		}
	}
}

// TestSklearnParity fits every golden case and compares with scikit-learn:
// coefficients and intercept to 1e-4 of its default fit and 1e-7 of its exact
// fit, probabilities and metrics to 1e-6.
func TestSklearnParity(t *testing.T) {
	g := loadGolden(t)
	for _, tc := range g.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			X, y := readColumns(t, filepath.Join(goldenDir, tc.CSV), g.Features)
			if len(y) != tc.Rows {
				t.Fatalf("read %d rows, golden has %d", len(y), tc.Rows)
			}
			m, res, err := model.Fit(context.Background(), g.Features, X, y, nil, model.FitOptions{Balanced: tc.Balanced})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d iterations, %d evaluations, gradient %.2g, status %s",
				tc.Name, res.Iterations, res.Evaluations, res.GradientMax, res.Status)
			within(t, "mean", m.Mean, tc.Exact.Mean, 1e-9*maxAbs(tc.Exact.Mean))
			within(t, "scale", m.Scale, tc.Exact.Scale, 1e-9*maxAbs(tc.Exact.Scale))
			for _, ref := range []struct {
				name string
				fit  fitted
				tol  float64
			}{{"default fit", tc.DefaultTol, 1e-4}, {"exact fit", tc.Exact, 1e-7}} {
				within(t, ref.name+" coef", m.Coef, ref.fit.Coef, ref.tol)
				within(t, ref.name+" intercept", []float64{m.Intercept}, []float64{ref.fit.Intercept}, ref.tol)
			}

			p := make([]float64, len(y))
			row := make([]float64, len(X))
			for i := range y {
				for j := range X {
					row[j] = X[j][i]
				}
				p[i] = m.Probability(row)
			}
			within(t, "probability", p, tc.Probabilities, 1e-6)

			compareMetrics(t, y, p, tc.Metrics, 1e-6)
		})
	}
}

// TestSklearnMetrics scores scikit-learn's own probabilities: Evaluate must
// reproduce its metrics to rounding.
func TestSklearnMetrics(t *testing.T) {
	g := loadGolden(t)
	for _, tc := range g.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			_, y := readColumns(t, filepath.Join(goldenDir, tc.CSV), g.Features)
			compareMetrics(t, y, tc.Probabilities, tc.Metrics, 1e-12)
		})
	}
}

func compareMetrics(t *testing.T, y []uint8, p []float64, want goldenMetrics, tol float64) {
	t.Helper()
	got, err := model.Evaluate(y, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "metrics [f1 precision recall accuracy roc_auc pr_auc log_loss]",
		[]float64{got.F1, got.Precision, got.Recall, got.Accuracy, got.ROCAUC, got.PRAUC, got.LogLoss},
		[]float64{want.F1, want.Precision, want.Recall, want.Accuracy, want.ROCAUC, want.PRAUC, want.LogLoss}, tol)
	if got.Confusion != want.Confusion {
		t.Errorf("confusion matrix %v, scikit-learn %v", got.Confusion, want.Confusion)
	}
	if got.Rows != len(y) {
		t.Errorf("metrics over %d rows, want %d", got.Rows, len(y))
	}
}

// TestSklearnMetricCases scores the golden label and probability lists
// whose tied scores and 0 or 1 probabilities test the promotion metrics
// where they are easiest to get wrong: each tie is one cutoff of the ROC and
// precision-recall curves, and log loss clips.
func TestSklearnMetricCases(t *testing.T) {
	g := loadGolden(t)
	if len(g.MetricCases) == 0 {
		t.Fatal("golden.json has no metric_cases")
	}
	for _, tc := range g.MetricCases {
		t.Run(tc.Name, func(t *testing.T) {
			compareMetrics(t, tc.Labels, tc.Probabilities, tc.Metrics, 1e-12)
		})
	}
}

// TestSklearnInference loads scikit-learn's own fitted parameters into a
// Model: prediction alone must agree with predict_proba to rounding.
func TestSklearnInference(t *testing.T) {
	g := loadGolden(t)
	for _, tc := range g.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			X, _ := readColumns(t, filepath.Join(goldenDir, tc.CSV), g.Features)
			m := &model.Logistic{Features: g.Features, Mean: tc.Exact.Mean, Scale: tc.Exact.Scale,
				Coef: tc.Exact.Coef, Intercept: tc.Exact.Intercept}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			p := make([]float64, tc.Rows)
			row := make([]float64, len(X))
			for i := range p {
				for j := range X {
					row[j] = X[j][i]
				}
				p[i] = m.Probability(row)
			}
			within(t, "probability", p, tc.Probabilities, 1e-12)
		})
	}
}

func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, math.Abs(x))
	}
	return m
}
