package gbdt_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/model/gbdt"
)

// small is a valid model.json: a number feature x and a category c of 3
// levels; one tree splitting on x, then on c.
const small = `{"format":"mlservice.gbdt/v1","features":[{"name":"x"},{"name":"c","categorical":true,"levels":3}],
"base_score":-0.5,"params":{"source":"trained","trees":1,"max_depth":2,"early_stopping":false},
"trees":[{"left":[1,-1,3,-1,-1],"right":[2,-1,4,-1,-1],"feature":[0,-1,1,-1,-1],"threshold":[0.5,0,0,0,0],
"default_left":[true,false,false,false,false],"categories":[null,null,[0,2],null,null],
"value":[0,-1,0,0.25,0.75],"cover":[10,4,6,2,4],"gain":[3,0,1,0,0]}]}`

func TestDecodeSmall(t *testing.T) {
	f, err := gbdt.Decode([]byte(small))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		row  []float64
		want float64
	}{
		{[]float64{0, 1}, -1.5},
		{[]float64{math.NaN(), 1}, -1.5}, // missing goes left
		{[]float64{1, 0}, -0.25},         // level 0 is in the set
		{[]float64{1, 2}, -0.25},
		{[]float64{1, 1}, 0.25},
		{[]float64{1, -1}, 0.25},         // ignored value: not in any set
		{[]float64{1, math.NaN()}, 0.25}, // missing goes right there
	} {
		if got := f.LogOdds(tc.row); got != tc.want {
			t.Errorf("LogOdds(%v) = %v, want %v", tc.row, got, tc.want)
		}
	}
	if imp := f.Importance(); imp[0] != 3 || imp[1] != 1 {
		t.Errorf("importance %v, want [3 1]", imp)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct{ name, old, new, want string }{
		{"unknown field", `"base_score"`, `"extra":1,"base_score"`, `unknown field "extra"`},
		{"format", `mlservice.gbdt/v1`, `mlservice.gbdt/v9`, `format "mlservice.gbdt/v9"`},
		{"sizes", `"cover":[10,4,6,2,4]`, `"cover":[10,4,6,2]`, "tree 0: 4 cover entries for 5 nodes"},
		{"child out of range", `"left":[1,-1,3,-1,-1]`, `"left":[1,-1,7,-1,-1]`, "tree 0: node 2: child 7 out of range 1..4"},
		{"cycle", `"left":[1,-1,3,-1,-1]`, `"left":[1,-1,2,-1,-1]`, "tree 0: node 2"},
		{"shared node", `"right":[2,-1,4,-1,-1]`, `"right":[2,-1,1,-1,-1]`, "already has parent"},
		{"orphans", `"left":[1,-1,3,-1,-1],"right":[2,-1,4,-1,-1]`, `"left":[1,-1,3,4,-1],"right":[2,-1,4,3,-1]`, "tree 0: node"},
		{"feature", `"feature":[0,-1,1,-1,-1]`, `"feature":[2,-1,1,-1,-1]`, "node 0: feature 2 out of range 0..1"},
		{"not finite", `"value":[0,-1,0,0.25,0.75]`, `"value":[0,-1e999,0,0.25,0.75]`, "decode gbdt model"},
		{"categories on a number", `"categories":[null,null,[0,2],null,null]`, `"categories":[[1],null,[0,2],null,null]`, `node 0: categories on number feature "x"`},
		{"level out of range", `[0,2]`, `[0,3]`, `node 2: categories of "c" must be increasing codes in 0..2`},
		{"no categories", `[0,2]`, `[]`, `node 2: a split on category feature "c" lists no categories`},
		{"leaf with categories", `"categories":[null,null,[0,2],null,null]`, `"categories":[null,[1],[0,2],null,null]`, "node 1: a leaf has categories"},
		{"zero cover", `"cover":[10,4,6,2,4]`, `"cover":[10,4,0,2,4]`, "node 2: a split node needs a positive cover"},
		{"negative cover", `"cover":[10,4,6,2,4]`, `"cover":[10,-4,6,2,4]`, "node 1: cover -4 is negative"},
		{"duplicate feature", `{"name":"c"`, `{"name":"x"`, `feature "x" appears twice`},
		{"trailing data", `]}]}`, `]}]} {}`, "data after the model object"},
	} {
		if !strings.Contains(small, tc.old) {
			t.Fatalf("%s: small has no %q", tc.name, tc.old)
		}
		_, err := gbdt.Decode([]byte(strings.Replace(small, tc.old, tc.new, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	// A float32 forest's threshold that rounds to −Inf could not send a
	// missing value left.
	below := strings.Replace(strings.Replace(small, `"base_score":-0.5,`, `"base_score":-0.5,"float32":true,`, 1),
		`"threshold":[0.5,`, `"threshold":[-1e39,`, 1)
	if _, err := gbdt.Decode([]byte(below)); err == nil || !strings.Contains(err.Error(), "tree 0: node 0: threshold -1e+39 is below float32's range") {
		t.Errorf("float32 threshold below range: got %v", err)
	}
	noTrees := small[:strings.Index(small, `"trees":[{`)] + `"trees":[]}`
	if _, err := gbdt.Decode([]byte(noTrees)); err == nil || !strings.Contains(err.Error(), "no trees") {
		t.Errorf("no trees: got %v", err)
	}
}

// TestImportedModelRoundTrip stores an imported XGBoost model as
// model.json and reads it back: the float32 arithmetic must survive.
func TestImportedModelRoundTrip(t *testing.T) {
	model, g := readXGB(t)
	features := callerFeatures(g.Features)
	f, err := gbdt.FromXGBoost(model, features)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	again, err := gbdt.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float64, len(features))
	a, b := make([]float64, len(features)), make([]float64, len(features))
	for i := range g.Rows {
		for j := range row {
			row[j] = float64(i*(j+3)%97) * 10
		}
		if f.LogOdds(row) != again.LogOdds(row) || f.Explain(row, a) != again.Explain(row, b) || !equal(a, b) {
			t.Fatalf("row %v: the decoded model predicts or explains differently", row)
		}
	}
	if again.Params().Source != "xgboost" {
		t.Errorf("source %q after the round trip", again.Params().Source)
	}
}
