package gbdt

import (
	"fmt"
	"math"
	"strings"

	"github.com/mlservice/mlservice/internal/xgbjson"
)

// FromXGBoost reads a model XGBoost saved as JSON (binary:logistic, a
// gbtree booster, number features named in feature_names) and returns a
// forest over features, the caller's: each of the model's feature names
// must be one of them, a number feature; features the model does not name
// get no splits and zero contributions. Predictions follow XGBoost's: a
// value is rounded to float32 before each comparison (x < split_condition
// goes left, a missing value the default way), and the sum starts at the
// log-odds of base_score and adds leaves in float32.
//
// Anything else is refused with what and where (internal/xgbjson lists the
// limits: 256 MiB, 100,000 trees, 2^20 nodes a tree, 2^24 in all; and trees
// at most MaxReadDepth deep), and nothing is returned.
func FromXGBoost(data []byte, features []Feature) (*Forest, error) {
	if err := checkFeatures(features); err != nil {
		return nil, fmt.Errorf("import xgboost model: %w", err)
	}
	m, err := xgbjson.Parse(data)
	if err != nil {
		return nil, err // xgbjson says "xgboost model: …" and where
	}
	byName := make(map[string]int, len(features))
	for j, f := range features {
		byName[f.Name] = j
	}
	column := make([]int32, m.NumFeature)
	for k, name := range m.FeatureNames {
		j, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("import xgboost model: learner.feature_names[%d]: %q is not one of the %d features (%s)",
				k, name, len(features), featureList(features))
		}
		if features[j].Categorical {
			return nil, fmt.Errorf("import xgboost model: learner.feature_names[%d]: %q is a category feature; the model splits it as a number", k, name)
		}
		column[k] = int32(j)
	}
	trees := make([]*tree, len(m.Trees))
	depth := 0
	for i := range m.Trees {
		t, d, err := convertTree(&m.Trees[i], column)
		if err != nil {
			return nil, fmt.Errorf("import xgboost model: learner.gradient_booster.model.trees[%d]: %w", i, err)
		}
		trees[i], depth = t, max(depth, d)
	}
	// XGBoost's ProbToMargin, in float32 as XGBoost computes it.
	base := float32(-math.Log(float64(float32(1)/m.BaseScore - 1)))
	params := Params{Source: "xgboost", MaxDepth: depth}
	f, err := newForest(features, float64(base), trees, params, true)
	if err != nil {
		return nil, fmt.Errorf("import xgboost model: %w", err)
	}
	return f, nil
}

// convertTree copies the nodes reachable from the root in preorder, so a
// deleted node XGBoost left in the arrays drops out, and a node reached
// twice (a cycle or a shared subtree) is an error.
func convertTree(x *xgbjson.Tree, column []int32) (*tree, int, error) {
	t := &tree{}
	seen := make([]bool, len(x.Left))
	maxDepth := 0
	var copyNode func(i int32, depth int) (int32, error)
	copyNode = func(i int32, depth int) (int32, error) {
		if seen[i] {
			return 0, fmt.Errorf("node %d is reached twice (a cycle or a shared node)", i)
		}
		if depth > MaxReadDepth {
			return 0, fmt.Errorf("node %d is deeper than %d", i, MaxReadDepth)
		}
		seen[i] = true
		maxDepth = max(maxDepth, depth)
		k := t.add()
		t.Cover[k] = float64(x.SumHessian[i])
		if x.Left[i] < 0 {
			t.Value[k] = float64(x.SplitCondition[i])
			return k, nil
		}
		t.Feature[k] = column[x.SplitIndex[i]]
		t.Threshold[k] = float64(x.SplitCondition[i])
		t.DefaultLeft[k] = x.DefaultLeft[i]
		t.Gain[k] = float64(x.LossChange[i])
		l, err := copyNode(x.Left[i], depth+1)
		if err != nil {
			return 0, err
		}
		r, err := copyNode(x.Right[i], depth+1)
		if err != nil {
			return 0, err
		}
		t.Left[k], t.Right[k] = l, r
		return k, nil
	}
	if _, err := copyNode(0, 0); err != nil {
		return nil, 0, err
	}
	return t, maxDepth, nil
}

func featureList(features []Feature) string {
	names := make([]string, 0, min(len(features), 10))
	for _, f := range features[:min(len(features), 10)] {
		names = append(names, fmt.Sprintf("%q", f.Name))
	}
	if len(features) > 10 {
		names = append(names, "…")
	}
	return strings.Join(names, ", ")
}
