package gbdt_test

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/mlservice/mlservice/model/gbdt"
)

// The public tables of testdata/tables/<name>/ (see testdata/gbdt/README.md):
// a committed train/test split and features.json naming each column's type
// and levels. The root package's CSV pipeline is being rebuilt, so this test
// reads them with a small reader of its own.

type tableMeta struct {
	Target   string `json:"target"`
	Positive string `json:"positive"`
	Features []struct {
		Name   string   `json:"name"`
		Type   string   `json:"type"`
		Levels []string `json:"levels"`
	} `json:"features"`
}

type table struct {
	features []gbdt.Feature
	cols     [][]float64 // by feature
	labels   []uint8
}

func (t *table) row(i int, buf []float64) []float64 {
	buf = buf[:0]
	for _, c := range t.cols {
		buf = append(buf, c[i])
	}
	return buf
}

func loadTable(t testing.TB, name, part string) *table {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "tables", name)
	raw, err := os.ReadFile(filepath.Join(dir, "features.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta tableMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatalf("%s/features.json: %v", name, err)
	}
	f, err := os.Open(filepath.Join(dir, part+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s/%s.csv: %v", name, part, err)
	}
	col := map[string]int{}
	for i, h := range records[0] {
		col[h] = i
	}
	tb := &table{}
	for _, mf := range meta.Features {
		feat := gbdt.Feature{Name: mf.Name, Categorical: mf.Type == "category", Levels: len(mf.Levels)}
		tb.features = append(tb.features, feat)
		k, ok := col[mf.Name]
		if !ok {
			t.Fatalf("%s/%s.csv has no column %q", name, part, mf.Name)
		}
		values := make([]float64, 0, len(records)-1)
		for line, rec := range records[1:] {
			cell := rec[k]
			switch {
			case cell == "":
				values = append(values, math.NaN())
			case feat.Categorical:
				code := slices.Index(mf.Levels, cell)
				values = append(values, float64(code)) // -1 when unknown
			default:
				v, err := strconv.ParseFloat(cell, 64)
				if err != nil {
					t.Fatalf("%s/%s.csv line %d column %q: %v", name, part, line+2, mf.Name, err)
				}
				values = append(values, v)
			}
		}
		tb.cols = append(tb.cols, values)
	}
	target := col[meta.Target]
	for _, rec := range records[1:] {
		var l uint8
		if rec[target] == meta.Positive {
			l = 1
		}
		tb.labels = append(tb.labels, l)
	}
	return tb
}

// scores returns F1 at probability 0.5 and ROC AUC (ties averaged).
func scores(labels []uint8, z []float64) (f1, auc float64) {
	var tp, fp, fn float64
	for i, l := range labels {
		hit := z[i] >= 0
		switch {
		case hit && l == 1:
			tp++
		case hit:
			fp++
		case l == 1:
			fn++
		}
	}
	f1 = 2 * tp / (2*tp + fp + fn)
	idx := make([]int, len(z))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(z[a], z[b]) })
	var rankSum, pos float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && z[idx[j]] == z[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2
		for k := i; k < j; k++ {
			if labels[idx[k]] == 1 {
				rankSum += avg
				pos++
			}
		}
		i = j
	}
	neg := float64(len(z)) - pos
	auc = (rankSum - pos*(pos+1)/2) / (pos * neg)
	return f1, auc
}

type metric struct {
	F1     float64 `json:"f1"`
	ROCAUC float64 `json:"roc_auc"`
}

type golden struct {
	Tables map[string]struct {
		XGBoost  metric `json:"xgboost_hist"`
		Logistic metric `json:"logistic"`
		Winner   string `json:"winner"`
	} `json:"tables"`
}

func readGolden(t testing.TB) golden {
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "gbdt", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func fitAndScore(t testing.TB, name string, opts gbdt.Options) (f1, auc float64, forest *gbdt.Forest) {
	train := loadTable(t, name, "train")
	test := loadTable(t, name, "test")
	forest, err := gbdt.Fit(context.Background(), train.features, train.cols, train.labels, nil, opts)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	z := make([]float64, len(test.labels))
	var buf []float64
	for i := range z {
		buf = test.row(i, buf)
		z[i] = forest.LogOdds(buf)
	}
	f1, auc = scores(test.labels, z)
	return f1, auc, forest
}

// TestAccuracyAgainstXGBoost trains with XGBoost's hyperparameters (200
// trees, depth 6, learning rate 0.1, λ 1, min child weight 1, no early
// stopping) and compares test F1 and ROC AUC with XGBoost-hist's on the
// same split, from golden.json.
func TestAccuracyAgainstXGBoost(t *testing.T) {
	g := readGolden(t)
	cases := []struct {
		table   string
		f1, auc float64 // allowed shortfall; 0: measured only
		winner  string  // by test F1, trees here against golden.json's logistic regression
	}{
		{"mlc_churn", 0.02, 0.01, "gbdt"},
		{"credit_data", 0.03, 0.015, ""}, // the table with missing cells; the two tie on F1
		{"attrition", 0, 0, "logistic"},
	}
	for _, tc := range cases {
		for _, cat := range []string{gbdt.CategoricalPartition, gbdt.CategoricalOneHot, "defaults"} {
			t.Run(tc.table+"/"+cat, func(t *testing.T) {
				want := g.Tables[tc.table].XGBoost
				opts := gbdt.Options{NoEarlyStopping: true, Categorical: cat}
				if cat == "defaults" {
					opts = gbdt.Options{} // early stopping on
				}
				f1, auc, forest := fitAndScore(t, tc.table, opts)
				t.Logf("F1 %.4f (xgboost %.4f), ROC AUC %.4f (xgboost %.4f), %d trees",
					f1, want.F1, auc, want.ROCAUC, forest.NumTrees())
				if cat != gbdt.DefaultCategorical {
					return // measured, not held to the bar
				}
				lr := g.Tables[tc.table].Logistic
				winner := "gbdt"
				if lr.F1 > f1 {
					winner = "logistic"
				}
				t.Logf("logistic regression F1 %.4f, ROC AUC %.4f: %s wins on F1", lr.F1, lr.ROCAUC, winner)
				if tc.winner != "" && winner != tc.winner {
					t.Errorf("%s wins on F1, want %s", winner, tc.winner)
				}
				if tc.f1 == 0 {
					return
				}
				if f1 < want.F1-tc.f1 {
					t.Errorf("F1 %.4f, more than %.3f below XGBoost's %.4f", f1, tc.f1, want.F1)
				}
				if auc < want.ROCAUC-tc.auc {
					t.Errorf("ROC AUC %.4f, more than %.3f below XGBoost's %.4f", auc, tc.auc, want.ROCAUC)
				}
			})
		}
	}
}
