// Package xgbjson reads XGBoost's JSON model format (the file
// Booster.save_model("model.json") writes, XGBoost 1.x and 2.x) for a
// binary:logistic tree booster, and refuses everything else with what is
// wrong and where: malformed JSON, another objective, several classes or
// targets, a linear or dart booster, categorical splits, arrays whose sizes
// disagree, child or feature indices out of range, and files over the limits.
//
// It checks the file's structure only; turning the trees into a forest
// (and finding cycles while walking them) is model/gbdt's FromXGBoost.
package xgbjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Limits on what Parse reads.
const (
	MaxBytes        = 256 << 20 // the whole file
	MaxTrees        = 100_000
	MaxNodesPerTree = 1 << 20
	MaxNodes        = 1 << 24 // all trees together
	MaxFeatures     = 1 << 20
)

// Model is what a binary:logistic gbtree model holds that prediction and
// explanation need.
type Model struct {
	Version      []int
	FeatureNames []string
	NumFeature   int
	BaseScore    float32 // a probability; its log-odds start every row's sum
	Trees        []Tree
}

// Tree is one tree's parallel arrays, indexed by node; node 0 is the root. A
// leaf has Left -1 and its value in SplitCondition.
type Tree struct {
	Left, Right    []int32
	SplitIndex     []int32
	SplitCondition []float32
	DefaultLeft    []bool
	SumHessian     []float32
	LossChange     []float32
}

// Error says what is wrong with a model file and where, as a JSON path.
type Error struct {
	Path string // e.g. learner.gradient_booster.model.trees[3].left_children[7]
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return "xgboost model: " + e.Msg
	}
	return fmt.Sprintf("xgboost model: %s: %s", e.Path, e.Msg)
}

func fail(path, format string, args ...any) error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
}

type rawFile struct {
	Version []int       `json:"version"`
	Learner *rawLearner `json:"learner"`
}

type rawLearner struct {
	FeatureNames []string          `json:"feature_names"`
	FeatureTypes []string          `json:"feature_types"`
	Booster      *rawBooster       `json:"gradient_booster"`
	Param        map[string]string `json:"learner_model_param"`
	Objective    *struct {
		Name string `json:"name"`
	} `json:"objective"`
}

type rawBooster struct {
	Name  string      `json:"name"`
	Model *rawGBTrees `json:"model"`
}

type rawGBTrees struct {
	Param    map[string]string `json:"gbtree_model_param"`
	TreeInfo []int             `json:"tree_info"`
	Trees    []rawTree         `json:"trees"`
}

type rawTree struct {
	TreeParam          map[string]string `json:"tree_param"`
	Left               []int32           `json:"left_children"`
	Right              []int32           `json:"right_children"`
	SplitIndices       []int32           `json:"split_indices"`
	SplitConditions    []float32         `json:"split_conditions"`
	DefaultLeft        flags             `json:"default_left"`
	SumHessian         []float32         `json:"sum_hessian"`
	LossChanges        []float32         `json:"loss_changes"`
	SplitType          []int             `json:"split_type"`
	Categories         []int             `json:"categories"`
	CategoriesNodes    []int             `json:"categories_nodes"`
	CategoriesSegments []int             `json:"categories_segments"`
	CategoriesSizes    []int             `json:"categories_sizes"`
}

// flags reads default_left, written as 0/1 numbers (or booleans by some versions).
type flags []bool

func (f *flags) UnmarshalJSON(data []byte) error {
	var nums []int
	if err := json.Unmarshal(data, &nums); err == nil {
		*f = make([]bool, len(nums))
		for i, n := range nums {
			if n != 0 && n != 1 {
				return fmt.Errorf("default_left[%d] is %d, not 0 or 1", i, n)
			}
			(*f)[i] = n == 1
		}
		return nil
	}
	var bools []bool
	if err := json.Unmarshal(data, &bools); err != nil {
		return errors.New("default_left is not an array of 0/1 or booleans")
	}
	*f = bools
	return nil
}

// Parse reads an XGBoost JSON model and checks its structure.
func Parse(data []byte) (*Model, error) {
	if len(data) > MaxBytes {
		return nil, fail("", "%d bytes, the limit is %d", len(data), MaxBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw rawFile
	if err := dec.Decode(&raw); err != nil {
		return nil, fail("", "not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fail("", "data after the model object")
	}
	l := raw.Learner
	if l == nil {
		return nil, fail("learner", "missing (is this an XGBoost JSON model? UBJSON and the old binary format are not read)")
	}
	m := &Model{Version: raw.Version}
	if l.Objective == nil || l.Objective.Name != "binary:logistic" {
		name := "none"
		if l.Objective != nil {
			name = strconv.Quote(l.Objective.Name)
		}
		return nil, fail("learner.objective.name", "%s, only binary:logistic is read", name)
	}
	if err := m.readParams(l); err != nil {
		return nil, err
	}
	b := l.Booster
	if b == nil || b.Name != "gbtree" {
		name := "none"
		if b != nil {
			name = strconv.Quote(b.Name)
		}
		return nil, fail("learner.gradient_booster.name", "%s, only gbtree is read", name)
	}
	if b.Model == nil {
		return nil, fail("learner.gradient_booster.model", "missing")
	}
	return m, m.readTrees(b.Model)
}

func (m *Model) readParams(l *rawLearner) error {
	const at = "learner.learner_model_param"
	p := l.Param
	if p == nil {
		return fail(at, "missing")
	}
	for _, key := range []string{"num_class", "num_target"} {
		if v, ok := p[key]; ok && v != "0" && v != "1" {
			return fail(at+"."+key, "%s: only binary models (one class, one target) are read", v)
		}
	}
	n, err := strconv.Atoi(p["num_feature"])
	if err != nil || n < 1 || n > MaxFeatures {
		return fail(at+".num_feature", "%q is not a count in 1..%d", p["num_feature"], MaxFeatures)
	}
	m.NumFeature = n
	s := strings.TrimSuffix(strings.TrimPrefix(p["base_score"], "["), "]")
	bs, err := strconv.ParseFloat(s, 32)
	if err != nil || !(bs > 0 && bs < 1) {
		return fail(at+".base_score", "%q is not a probability strictly between 0 and 1", p["base_score"])
	}
	m.BaseScore = float32(bs)
	if len(l.FeatureNames) == 0 {
		return fail("learner.feature_names", "missing: the model must name its features to be mapped to the schema's")
	}
	if len(l.FeatureNames) != n {
		return fail("learner.feature_names", "%d names for num_feature %d", len(l.FeatureNames), n)
	}
	seen := map[string]int{}
	for i, name := range l.FeatureNames {
		if k, ok := seen[name]; ok {
			return fail(fmt.Sprintf("learner.feature_names[%d]", i), "%q also names feature %d", name, k)
		}
		seen[name] = i
	}
	for i, t := range l.FeatureTypes {
		if t == "c" {
			return fail(fmt.Sprintf("learner.feature_types[%d]", i), "feature %q is categorical; categorical features are not read", l.FeatureNames[i])
		}
	}
	m.FeatureNames = l.FeatureNames
	return nil
}

func (m *Model) readTrees(g *rawGBTrees) error {
	const at = "learner.gradient_booster.model"
	if v := g.Param["size_leaf_vector"]; v != "" && v != "0" {
		return fail(at+".gbtree_model_param.size_leaf_vector", "%s: vector leaves (several targets) are not read", v)
	}
	if len(g.Trees) == 0 {
		return fail(at+".trees", "no trees")
	}
	if len(g.Trees) > MaxTrees {
		return fail(at+".trees", "%d trees, the limit is %d", len(g.Trees), MaxTrees)
	}
	if v, ok := g.Param["num_trees"]; ok && v != strconv.Itoa(len(g.Trees)) {
		return fail(at+".gbtree_model_param.num_trees", "%s, but %d trees follow", v, len(g.Trees))
	}
	if g.TreeInfo != nil && len(g.TreeInfo) != len(g.Trees) {
		return fail(at+".tree_info", "%d entries for %d trees", len(g.TreeInfo), len(g.Trees))
	}
	for i, group := range g.TreeInfo {
		if group != 0 {
			return fail(fmt.Sprintf("%s.tree_info[%d]", at, i), "class group %d: only binary models are read", group)
		}
	}
	total := 0
	m.Trees = make([]Tree, len(g.Trees))
	for i := range g.Trees {
		path := fmt.Sprintf("%s.trees[%d]", at, i)
		t, err := m.readTree(path, &g.Trees[i])
		if err != nil {
			return err
		}
		if total += len(t.Left); total > MaxNodes {
			return fail(path, "more than %d nodes in the model", MaxNodes)
		}
		m.Trees[i] = t
	}
	return nil
}

func (m *Model) readTree(path string, r *rawTree) (Tree, error) {
	n := len(r.Left)
	if n == 0 {
		return Tree{}, fail(path+".left_children", "no nodes")
	}
	if n > MaxNodesPerTree {
		return Tree{}, fail(path, "%d nodes, the limit is %d", n, MaxNodesPerTree)
	}
	if v, ok := r.TreeParam["num_nodes"]; ok && v != strconv.Itoa(n) {
		return Tree{}, fail(path+".tree_param.num_nodes", "%s, but left_children has %d entries", v, n)
	}
	if v := r.TreeParam["size_leaf_vector"]; v != "" && v != "0" {
		return Tree{}, fail(path+".tree_param.size_leaf_vector", "%s: vector leaves are not read", v)
	}
	for _, a := range []struct {
		name string
		len  int
	}{
		{"right_children", len(r.Right)}, {"split_indices", len(r.SplitIndices)},
		{"split_conditions", len(r.SplitConditions)}, {"default_left", len(r.DefaultLeft)},
		{"sum_hessian", len(r.SumHessian)}, {"loss_changes", len(r.LossChanges)},
	} {
		if a.len != n {
			return Tree{}, fail(path+"."+a.name, "%d entries for %d nodes", a.len, n)
		}
	}
	if len(r.Categories)+len(r.CategoriesNodes)+len(r.CategoriesSegments)+len(r.CategoriesSizes) > 0 {
		return Tree{}, fail(path+".categories", "categorical splits are not read")
	}
	for i, st := range r.SplitType {
		if st != 0 {
			return Tree{}, fail(fmt.Sprintf("%s.split_type[%d]", path, i), "%d: categorical splits are not read", st)
		}
	}
	for i := 0; i < n; i++ {
		at := func(field string) string { return fmt.Sprintf("%s.%s[%d]", path, field, i) }
		l, rt := r.Left[i], r.Right[i]
		if math.IsNaN(float64(r.SplitConditions[i])) || math.IsInf(float64(r.SplitConditions[i]), 0) {
			return Tree{}, fail(at("split_conditions"), "not finite")
		}
		if g := float64(r.LossChanges[i]); math.IsNaN(g) || math.IsInf(g, 0) {
			return Tree{}, fail(at("loss_changes"), "not finite")
		}
		if h := float64(r.SumHessian[i]); !(h >= 0) || math.IsInf(h, 0) {
			return Tree{}, fail(at("sum_hessian"), "%v is not a finite, non-negative weight", h)
		}
		if l == -1 && rt == -1 {
			continue
		}
		if l < 1 || int(l) >= n || l == int32(i) {
			return Tree{}, fail(at("left_children"), "%d is not a node index in 1..%d", l, n-1)
		}
		if rt < 1 || int(rt) >= n || rt == int32(i) || rt == l {
			return Tree{}, fail(at("right_children"), "%d is not a node index in 1..%d other than the left child", rt, n-1)
		}
		if f := r.SplitIndices[i]; f < 0 || int(f) >= m.NumFeature {
			return Tree{}, fail(at("split_indices"), "feature %d out of range 0..%d", f, m.NumFeature-1)
		}
		if !(r.SumHessian[i] > 0) {
			return Tree{}, fail(at("sum_hessian"), "a split node needs a positive weight, got %v", r.SumHessian[i])
		}
	}
	return Tree{
		Left: r.Left, Right: r.Right, SplitIndex: r.SplitIndices, SplitCondition: r.SplitConditions,
		DefaultLeft: r.DefaultLeft, SumHessian: r.SumHessian, LossChange: r.LossChanges,
	}, nil
}
