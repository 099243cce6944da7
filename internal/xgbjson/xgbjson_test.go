package xgbjson

import (
	"errors"
	"strings"
	"testing"
)

// tiny is a hand-written model in XGBoost 1.7's layout: one tree, a split on
// feature b at 0.5 (missing goes left), two leaves.
const tiny = `{"learner":{"attributes":{},"feature_names":["a","b"],"feature_types":["float","float"],
"gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"1","size_leaf_vector":"0"},
"tree_info":[0],"trees":[{"base_weights":[0,-0.1,0.2],"categories":[],"categories_nodes":[],
"categories_segments":[],"categories_sizes":[],"default_left":[1,0,0],"id":0,"left_children":[1,-1,-1],
"loss_changes":[3.5,0,0],"parents":[2147483647,0,0],"right_children":[2,-1,-1],
"split_conditions":[0.5,-0.1,0.2],"split_indices":[1,0,0],"split_type":[0,0,0],"sum_hessian":[10,4,6],
"tree_param":{"num_deleted":"0","num_feature":"2","num_nodes":"3","size_leaf_vector":"0"}}]},"name":"gbtree"},
"learner_model_param":{"base_score":"5E-1","boost_from_average":"1","num_class":"0","num_feature":"2","num_target":"1"},
"objective":{"name":"binary:logistic","reg_loss_param":{"scale_pos_weight":"1"}}},"version":[1,7,4]}`

func TestParseTiny(t *testing.T) {
	m, err := Parse([]byte(tiny))
	if err != nil {
		t.Fatal(err)
	}
	tr := m.Trees[0]
	if m.BaseScore != 0.5 || m.NumFeature != 2 || len(m.Trees) != 1 || m.FeatureNames[1] != "b" ||
		tr.SplitIndex[0] != 1 || tr.SplitCondition[2] != 0.2 || !tr.DefaultLeft[0] || tr.SumHessian[1] != 4 {
		t.Errorf("parsed %+v", m)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ old, new, want string }{
		{`"default_left":[1,0,0]`, `"default_left":[2,0,0]`, "not 0 or 1"},
		{`"default_left":[1,0,0]`, `"default_left":[true,false,false]`, ""},
		{`"num_nodes":"3"`, `"num_nodes":"4"`, "num_nodes: 4, but left_children has 3"},
		{`"right_children":[2,-1,-1]`, `"right_children":[1,-1,-1]`, "right_children[0]: 1 is not a node index"},
		{`"split_indices":[1,0,0]`, `"split_indices":[2,0,0]`, "split_indices[0]: feature 2 out of range 0..1"},
		{`"sum_hessian":[10,4,6]`, `"sum_hessian":[0,4,6]`, "sum_hessian[0]: a split node needs a positive weight"},
		{`"sum_hessian":[10,4,6]`, `"sum_hessian":[10,-4,6]`, "sum_hessian[1]"},
		{`"num_trees":"1"`, `"num_trees":"2"`, "num_trees: 2, but 1 trees follow"},
		{`"tree_info":[0]`, `"tree_info":[1]`, "tree_info[0]: class group 1"},
		{`"size_leaf_vector":"0"}}]}`, `"size_leaf_vector":"2"}}]}`, "vector leaves"},
		{`"categories":[]`, `"categories":[1]`, "categorical splits"},
		{`"feature_names":["a","b"]`, `"feature_names":["a","a"]`, `feature_names[1]: "a" also names feature 0`},
		{`"feature_names":["a","b"]`, `"feature_names":["a"]`, "1 names for num_feature 2"},
		{`"base_score":"5E-1"`, `"base_score":"[5E-1]"`, ""},
		{`"base_score":"5E-1"`, `"base_score":"0"`, "base_score"},
		{`"name":"gbtree"`, `"name":"gblinear"`, `"gblinear", only gbtree`},
		{`"trees":[{`, `"trees":[], "x":[{`, "no trees"},
	} {
		if !strings.Contains(tiny, tc.old) {
			t.Fatalf("tiny has no %q", tc.old)
		}
		_, err := Parse([]byte(strings.Replace(tiny, tc.old, tc.new, 1)))
		var e *Error
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.new, err)
		case tc.want != "" && (err == nil || !errors.As(err, &e) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an *Error containing %q", tc.new, err, tc.want)
		}
	}
	if _, err := Parse(make([]byte, MaxBytes+1)); err == nil || !strings.Contains(err.Error(), "the limit is") {
		t.Errorf("an oversized file: %v", err)
	}
}

// FuzzParse checks that no input makes Parse panic, and that a model it
// accepts keeps its promises: consistent sizes and indices in range.
func FuzzParse(f *testing.F) {
	f.Add([]byte(tiny))
	f.Add([]byte(strings.Replace(tiny, `"left_children":[1,-1,-1]`, `"left_children":[2,-1,-1]`, 1)))
	f.Add([]byte(`{"learner":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		if len(m.FeatureNames) != m.NumFeature || !(m.BaseScore > 0 && m.BaseScore < 1) || len(m.Trees) == 0 {
			t.Fatalf("accepted an inconsistent model: %+v", m)
		}
		for _, tr := range m.Trees {
			n := len(tr.Left)
			if len(tr.Right) != n || len(tr.SplitIndex) != n || len(tr.SplitCondition) != n ||
				len(tr.DefaultLeft) != n || len(tr.SumHessian) != n || len(tr.LossChange) != n {
				t.Fatalf("accepted a tree with arrays of different sizes")
			}
			for i := range tr.Left {
				if tr.Left[i] == -1 && tr.Right[i] == -1 {
					continue
				}
				if tr.Left[i] < 1 || int(tr.Left[i]) >= n || tr.Right[i] < 1 || int(tr.Right[i]) >= n ||
					tr.SplitIndex[i] < 0 || int(tr.SplitIndex[i]) >= m.NumFeature {
					t.Fatalf("accepted node %d with an index out of range", i)
				}
			}
		}
	})
}
