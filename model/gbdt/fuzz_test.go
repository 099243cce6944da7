package gbdt_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/model/gbdt"
)

// checkForest runs a forest that Decode or FromXGBoost accepted on a few
// rows: nothing may panic, and explanations must add up.
func checkForest(t *testing.T, f *gbdt.Forest) {
	n := len(f.Features())
	out := make([]float64, n)
	for _, v := range []float64{math.NaN(), 0, -1, 1, 2.5, 1e9} {
		row := make([]float64, n)
		for j := range row {
			row[j] = v
		}
		z := f.LogOdds(row)
		sum := f.Explain(row, out)
		for _, c := range out {
			sum += c
		}
		if !math.IsInf(z, 0) && !math.IsNaN(sum) && math.Abs(z) < 1e6 && math.Abs(sum-z) > 1e-6*(1+math.Abs(z)) {
			t.Fatalf("row of %v: bias + Σ contributions = %v, LogOdds %v", v, sum, z)
		}
	}
	f.Importance()
}

func FuzzDecode(f *testing.F) {
	features := []gbdt.Feature{{Name: "x"}, {Name: "c", Categorical: true, Levels: 3}}
	cols := [][]float64{{1, 2, 3, math.NaN(), 5, 6, 7, 8}, {0, 1, 2, 0, 1, 2, math.NaN(), 0}}
	forest, err := gbdt.Fit(context.Background(), features, cols, []uint8{0, 1, 0, 1, 1, 0, 1, 0}, nil,
		gbdt.Options{Trees: 2, MaxDepth: 2, MinChildWeight: 1e-3, NoEarlyStopping: true})
	if err != nil {
		f.Fatal(err)
	}
	seed, err := json.Marshal(forest)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(strings.Replace(string(seed), `"left":[1,`, `"left":[0,`, 1)))
	f.Add([]byte(`{"format":"mlservice.gbdt/v1","features":[{"name":"x"}],"base_score":0,"params":{},` +
		`"trees":[{"left":[1,-1,-1],"right":[2,-1,-1],"feature":[0,-1,-1],"threshold":[0.5,0,0],` +
		`"default_left":[true,false,false],"categories":[null,null,null],"value":[0,-1,1],"cover":[2,1,1],"gain":[1,0,0]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		forest, err := gbdt.Decode(data)
		if err != nil {
			return
		}
		checkForest(t, forest)
		again, err := json.Marshal(forest)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gbdt.Decode(again); err != nil {
			t.Fatalf("a decoded forest does not decode again: %v", err)
		}
	})
}

func FuzzFromXGBoost(f *testing.F) {
	f.Add([]byte(tinyXGB))
	f.Add([]byte(strings.Replace(tinyXGB, `"left_children":[1,-1,-1]`, `"left_children":[2,-1,-1]`, 1)))
	features := []gbdt.Feature{{Name: "b"}, {Name: "z", Categorical: true, Levels: 2}, {Name: "a"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		forest, err := gbdt.FromXGBoost(data, features)
		if err != nil {
			return
		}
		checkForest(t, forest)
	})
}

// tinyXGB is internal/xgbjson's hand-written one-tree model.
const tinyXGB = `{"learner":{"attributes":{},"feature_names":["a","b"],"feature_types":["float","float"],
"gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"1","size_leaf_vector":"0"},
"tree_info":[0],"trees":[{"base_weights":[0,-0.1,0.2],"categories":[],"categories_nodes":[],
"categories_segments":[],"categories_sizes":[],"default_left":[1,0,0],"id":0,"left_children":[1,-1,-1],
"loss_changes":[3.5,0,0],"parents":[2147483647,0,0],"right_children":[2,-1,-1],
"split_conditions":[0.5,-0.1,0.2],"split_indices":[1,0,0],"split_type":[0,0,0],"sum_hessian":[10,4,6],
"tree_param":{"num_deleted":"0","num_feature":"2","num_nodes":"3","size_leaf_vector":"0"}}]},"name":"gbtree"},
"learner_model_param":{"base_score":"5E-1","boost_from_average":"1","num_class":"0","num_feature":"2","num_target":"1"},
"objective":{"name":"binary:logistic","reg_loss_param":{"scale_pos_weight":"1"}}},"version":[1,7,4]}`
