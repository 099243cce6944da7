package mlservice_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// TestTablesParity trains on every row of each real table under its schema
// and compares with scikit-learn's ColumnTransformer (StandardScaler on
// numbers and binaries, OneHotEncoder on categories) + LogisticRegression
// (testdata/tables/golden.json).
//
// Tolerances, and why: we solve to a gradient of 1e-8, so against
// scikit-learn's exact fit (newton-cholesky, tol 1e-12) the coefficients
// agree to 1e-5 (measured: at most 2.2e-6, on breast_cancer's 30 correlated
// numbers; under 7e-7 on the tables with categories: a gradient of 1e-8 on
// the mean loss leaves that much on these small, ill-conditioned tables), and every
// probability to 1e-6. scikit-learn's DEFAULT fit (lbfgs, tol 1e-4) stops early: on these
// tables it is up to 2.9e-4 from its own exact optimum, so "within 1e-4 of
// the default fit" cannot hold where the default fit itself misses the
// optimum by more; the test allows the default fit's own distance from the
// optimum plus 1e-4 and logs the measured gap per case.
func TestTablesParity(t *testing.T) {
	var g tablesGolden
	readJSON(t, filepath.Join(tablesDir, "golden.json"), &g)
	for _, tc := range g.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			s, err := mlservice.LoadSchemaFile(filepath.Join(tablesDir, tc.Schema))
			if err != nil {
				t.Fatal(err)
			}
			ds, err := mlservice.ValidateTableFile(context.Background(), filepath.Join(tablesDir, tc.CSV), s)
			if err != nil {
				t.Fatal(err)
			}
			if ds.Len() != tc.Rows {
				t.Fatalf("%d rows, golden %d", ds.Len(), tc.Rows)
			}
			rs := ds.Schema
			for _, f := range rs.Features {
				if f.Type == mlservice.TypeCategory && !cmp.Equal(f.Categories, tc.Categories[f.Name]) {
					t.Errorf("%s categories %q, scikit-learn %q", f.Name, f.Categories, tc.Categories[f.Name])
				}
			}
			// Eval = ds: fit on every row, as golden.json's fits are.
			cand, err := mlservice.Train(context.Background(), ds, mlservice.TrainOptions{Eval: ds, BalancedClassWeight: tc.Balanced})
			if err != nil {
				t.Fatal(err)
			}
			m := logisticOf(cand)
			if !cmp.Equal(m.Features, tc.Encoded) {
				t.Errorf("encoded columns %q\nscikit-learn %q", m.Features, tc.Encoded)
			}
			for j, name := range m.Features {
				sc, ok := tc.Scaler[name]
				if !ok {
					if m.Mean[j] != 0 || m.Scale[j] != 1 {
						t.Errorf("%s: one-hot column has mean %v, scale %v", name, m.Mean[j], m.Scale[j])
					}
					continue
				}
				if d := math.Abs(m.Mean[j] - *sc.Mean); d > 1e-9*math.Max(1, math.Abs(*sc.Mean)) {
					t.Errorf("%s mean %v, scikit-learn %v", name, m.Mean[j], *sc.Mean)
				}
				if d := math.Abs(m.Scale[j] - *sc.Scale); d > 1e-9*math.Max(1, math.Abs(*sc.Scale)) {
					t.Errorf("%s scale %v, scikit-learn %v", name, m.Scale[j], *sc.Scale)
				}
			}
			biggest, defaultGap, exactGap, gotGap := 0.0, 0.0, 0.0, 0.0
			for _, c := range tc.Exact.Coef {
				biggest = math.Max(biggest, math.Abs(c))
			}
			coef := map[string]float64{"(intercept)": m.Intercept}
			exact := map[string]float64{"(intercept)": *tc.Exact.Intercept}
			def := map[string]float64{"(intercept)": *tc.DefaultTol.Intercept}
			for j, name := range m.Features {
				coef[name], exact[name], def[name] = m.Coef[j], tc.Exact.Coef[name], tc.DefaultTol.Coef[name]
			}
			for name, c := range coef {
				defaultGap = math.Max(defaultGap, math.Abs(def[name]-exact[name]))
				exactGap = math.Max(exactGap, math.Abs(c-exact[name]))
				gotGap = math.Max(gotGap, math.Abs(c-def[name]))
			}
			for name, c := range coef {
				if d := math.Abs(c - exact[name]); d > 1e-5*math.Max(1, biggest) {
					t.Errorf("%s: coef %.12g, scikit-learn exact %.12g (|diff| %.3g)", name, c, exact[name], d)
				}
				if d := math.Abs(c - def[name]); d > 1e-4+defaultGap {
					t.Errorf("%s: coef %.12g, scikit-learn default %.12g (|diff| %.3g > 1e-4 + its own gap %.3g)", name, c, def[name], d, defaultGap)
				}
			}
			t.Logf("max |coef diff|: vs exact %.2g; vs default %.2g; default vs exact (scikit-learn's own) %.2g; %d iterations",
				exactGap, gotGap, defaultGap, cand.Metadata.Params.Fit.Iterations)

			worst := 0.0
			for i := range ds.Len() {
				p := probability(m.Coef, m.Intercept, m.Mean, m.Scale, encodeRow(ds, i))
				worst = math.Max(worst, math.Abs(p-tc.Probabilities[i]))
			}
			if worst > 1e-6 {
				t.Errorf("probabilities up to %.3g from scikit-learn's exact fit", worst)
			}
			got := cand.Metadata.Metrics
			want := tc.Metrics
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"f1", got.F1, *want.F1}, {"precision", got.Precision, *want.Precision}, {"recall", got.Recall, *want.Recall},
				{"accuracy", got.Accuracy, *want.Accuracy}, {"roc_auc", got.ROCAUC, *want.ROCAUC}, {"log_loss", got.LogLoss, *want.LogLoss}} {
				if math.Abs(c.got-c.want) > 1e-6 {
					t.Errorf("%s %v, scikit-learn %v", c.name, c.got, c.want)
				}
			}
			if got.Confusion != want.Confusion {
				t.Errorf("confusion %v, scikit-learn %v", got.Confusion, want.Confusion)
			}
			if len(tc.Probes) > 0 {
				checkProbes(t, cand, tc)
			}
		})
	}
}

// encodeRow is row i of a table dataset as the model's columns: numbers,
// then one-hot categories.
func encodeRow(ds *mlservice.Dataset, i int) []float64 {
	var x []float64
	for j, f := range ds.Schema.Features {
		if f.Type != mlservice.TypeCategory {
			x = append(x, ds.X[j][i])
		}
	}
	for j, f := range ds.Schema.Features {
		if f.Type != mlservice.TypeCategory {
			continue
		}
		oh := make([]float64, len(f.Categories))
		if c := ds.X[j][i]; c >= 0 {
			oh[int(c)] = 1
		}
		x = append(x, oh...)
	}
	return x
}

func probability(coef []float64, intercept float64, mean, scale, x []float64) float64 {
	z := intercept
	for j := range x {
		z += coef[j] / scale[j] * (x[j] - mean[j])
	}
	return 1 / (1 + math.Exp(-z))
}

// checkProbes serves the candidate from a Store and scores golden.json's
// probes: a row of the table and the same row with a category value the
// table lacks, which a feature with "unknown": "ignore" encodes as zeros.
func checkProbes(t *testing.T, cand *mlservice.Candidate, tc tableCase) {
	t.Helper()
	store := mlkit.Serve(t, cand)
	for i, probe := range tc.Probes {
		var row mlservice.Row
		for _, f := range cand.Schema.Features {
			switch v := probe.Row[f.Name].(type) {
			case float64:
				row.Numbers = append(row.Numbers, v)
			case string:
				row.Categories = append(row.Categories, v)
			default:
				t.Fatalf("probe %d: %s is %T", i, f.Name, v)
			}
		}
		p, err := store.PredictRow(&row)
		if err != nil {
			t.Fatalf("probe %d %v: %v", i, row, err)
		}
		if d := math.Abs(p.Probability - probe.Probability); d > 1e-6 {
			t.Errorf("probe %d %v: probability %v, scikit-learn %v", i, row, p.Probability, probe.Probability)
		}
	}
}
