package gbdt_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/model/gbdt"
)

// xgbGolden is testdata/gbdt/xgb_credit_golden.json: rows of credit_data's
// test split (null = missing), with XGBoost 1.7's predict_proba and
// pred_contribs (one column per model feature, then the bias) for them.
type xgbGolden struct {
	Model    string       `json:"model"`
	Features []string     `json:"features"`
	Rows     [][]*float64 `json:"rows"`
	Proba    []float64    `json:"proba"`
	Contribs [][]float64  `json:"contribs"`
}

func readXGB(t testing.TB) (model []byte, g xgbGolden) {
	dir := filepath.Join("..", "..", "testdata", "gbdt")
	raw, err := os.ReadFile(filepath.Join(dir, "xgb_credit_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	model, err = os.ReadFile(filepath.Join(dir, g.Model))
	if err != nil {
		t.Fatal(err)
	}
	return model, g
}

// callerFeatures lists the model's features in another order, with a
// category feature the model does not use among them, as a schema would.
func callerFeatures(names []string) []gbdt.Feature {
	var out []gbdt.Feature
	for i := len(names) - 1; i >= 0; i-- {
		out = append(out, gbdt.Feature{Name: names[i]})
		if i == 4 {
			out = append(out, gbdt.Feature{Name: "Home", Categorical: true, Levels: 6})
		}
	}
	return out
}

func TestFromXGBoostMatchesXGBoost(t *testing.T) {
	model, g := readXGB(t)
	features := callerFeatures(g.Features)
	f, err := gbdt.FromXGBoost(model, features)
	if err != nil {
		t.Fatal(err)
	}
	if p := f.Params(); p.Source != "xgboost" || p.Trees != 100 || p.MaxDepth != 6 {
		t.Errorf("params %+v, want source xgboost, 100 trees of depth 6", p)
	}
	row := make([]float64, len(features))
	out := make([]float64, len(features))
	var worstP, worstC float64
	missing := 0
	for i, cells := range g.Rows {
		for k, name := range g.Features {
			j := slices.IndexFunc(features, func(f gbdt.Feature) bool { return f.Name == name })
			row[j] = math.NaN()
			if cells[k] != nil {
				row[j] = *cells[k]
			} else {
				missing++
			}
		}
		row[slices.IndexFunc(features, func(f gbdt.Feature) bool { return f.Name == "Home" })] = 2
		z := f.LogOdds(row)
		p := 1 / (1 + math.Exp(-z))
		worstP = max(worstP, math.Abs(p-g.Proba[i]))
		if d := math.Abs(p - g.Proba[i]); d > 2e-6 {
			t.Errorf("row %d: probability %.9f, XGBoost %.9f (off by %.2g)", i, p, g.Proba[i], d)
		}
		bias := f.Explain(row, out)
		want := g.Contribs[i]
		worstC = max(worstC, math.Abs(bias-want[len(want)-1]))
		if d := math.Abs(bias - want[len(want)-1]); d > 1e-4 {
			t.Errorf("row %d: bias %v, XGBoost %v", i, bias, want[len(want)-1])
		}
		for k, name := range g.Features {
			j := slices.IndexFunc(features, func(f gbdt.Feature) bool { return f.Name == name })
			worstC = max(worstC, math.Abs(out[j]-want[k]))
			if d := math.Abs(out[j] - want[k]); d > 1e-4 {
				t.Errorf("row %d, %s: contribution %v, XGBoost %v", i, name, out[j], want[k])
			}
		}
		if home := out[slices.IndexFunc(features, func(f gbdt.Feature) bool { return f.Name == "Home" })]; home != 0 {
			t.Errorf("row %d: the feature the model does not use contributes %v", i, home)
		}
	}
	if missing == 0 {
		t.Error("no golden row has a missing value: default directions are untested")
	}
	t.Logf("%d rows (%d missing cells): worst probability difference %.2g, worst contribution difference %.2g",
		len(g.Rows), missing, worstP, worstC)
}

func TestFromXGBoostRefuses(t *testing.T) {
	model, g := readXGB(t)
	features := callerFeatures(g.Features)
	edit := func(fn func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(model, &m); err != nil {
			t.Fatal(err)
		}
		fn(m)
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	learner := func(m map[string]any) map[string]any { return m["learner"].(map[string]any) }
	tree := func(m map[string]any, i int) map[string]any {
		gb := learner(m)["gradient_booster"].(map[string]any)["model"].(map[string]any)
		return gb["trees"].([]any)[i].(map[string]any)
	}
	for _, tc := range []struct {
		name     string
		data     []byte
		features []gbdt.Feature
		want     string
	}{
		{"malformed", model[:len(model)/2], features, "not valid JSON"},
		{"not a model", []byte(`{"a": 1}`), features, "learner: missing"},
		{"objective", edit(func(m map[string]any) {
			learner(m)["objective"].(map[string]any)["name"] = "reg:squarederror"
		}), features, `learner.objective.name: "reg:squarederror"`},
		{"multiclass", edit(func(m map[string]any) {
			learner(m)["learner_model_param"].(map[string]any)["num_class"] = "3"
		}), features, "num_class: 3"},
		{"targets", edit(func(m map[string]any) {
			learner(m)["learner_model_param"].(map[string]any)["num_target"] = "2"
		}), features, "num_target: 2"},
		{"dart", edit(func(m map[string]any) {
			learner(m)["gradient_booster"].(map[string]any)["name"] = "dart"
		}), features, `gradient_booster.name: "dart"`},
		{"categorical split", edit(func(m map[string]any) {
			tree(m, 3)["split_type"].([]any)[0] = 1
		}), features, "trees[3].split_type[0]: 1: categorical"},
		{"categorical feature", edit(func(m map[string]any) {
			learner(m)["feature_types"].([]any)[2] = "c"
		}), features, "feature_types[2]"},
		{"unknown feature", model, features[1:], `"Price" is not one of`},
		{"category in the schema", model, append([]gbdt.Feature{{Name: "Seniority", Categorical: true, Levels: 3}}, features[:len(features)-1]...), "is a category feature"},
		{"child out of range", edit(func(m map[string]any) {
			tree(m, 5)["left_children"].([]any)[0] = 10000
		}), features, "trees[5].left_children[0]: 10000 is not a node index"},
		{"cycle", edit(func(m map[string]any) {
			tree(m, 2)["left_children"].([]any)[1] = 1
		}), features, "trees[2].left_children[1]"},
		{"ancestor", edit(func(m map[string]any) {
			tree(m, 0)["left_children"].([]any)[3] = 1
		}), features, "trees[0]: node 1 is reached twice"},
		{"shared node", edit(func(m map[string]any) {
			l := tree(m, 2)["left_children"].([]any)
			l[2] = l[1]
		}), features, "trees[2]: node"},
		{"sizes", edit(func(m map[string]any) {
			t := tree(m, 7)
			t["sum_hessian"] = t["sum_hessian"].([]any)[1:]
		}), features, "trees[7].sum_hessian: "},
		{"feature index", edit(func(m map[string]any) {
			tree(m, 0)["split_indices"].([]any)[0] = 9
		}), features, "trees[0].split_indices[0]: feature 9 out of range"},
		{"leaf value", edit(func(m map[string]any) {
			tree(m, 0)["split_conditions"].([]any)[114] = 1e300
		}), features, "not valid JSON"},
		{"no names", edit(func(m map[string]any) { delete(learner(m), "feature_names") }), features, "feature_names: missing"},
		{"base score", edit(func(m map[string]any) {
			learner(m)["learner_model_param"].(map[string]any)["base_score"] = "1.5"
		}), features, "base_score"},
		{"trailing data", append(append([]byte{}, model...), []byte(" {}")...), features, "data after"},
	} {
		_, err := gbdt.FromXGBoost(tc.data, tc.features)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
