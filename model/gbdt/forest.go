package gbdt

import (
	"fmt"
	"slices"
	"sync"
)

// Forest is a fitted or imported ensemble of trees for binary log-odds. It
// is immutable once built by Fit, Decode or FromXGBoost: share it freely
// between goroutines.
type Forest struct {
	features []Feature
	base     float64 // log-odds every row starts from
	// float32 marks a forest read from XGBoost: thresholds are compared and
	// leaves summed in float32, as XGBoost predicts.
	float32 bool
	params  Params
	trees   []*tree // the stored form, also walked by Explain

	// The serving form: every tree's split nodes in one array. A child
	// reference ≥ 0 is a split node, < 0 is ^(a leaf's index in leaves).
	roots   []int32
	nodes   []splitNode
	leaves  []float64
	catBits []uint64 // category sets, 64 levels a word

	bias     float64   // base + every tree's expected value
	maxDepth int       // of the deepest tree, for Explain's scratch space
	scratch  sync.Pool // of *shapScratch
}

type splitNode struct {
	threshold   float64 // a number goes left when below it
	feature     int32
	left, right int32
	missing     int32 // the child a missing value goes to
	cat         int32 // -1 for a number; else the first word of the level set in catBits
	catLevels   int32 // levels the set covers; any other code goes right
}

// newForest checks trees against features and compiles the serving form.
// It keeps trees as given: callers pass arrays nobody else holds.
func newForest(features []Feature, base float64, trees []*tree, params Params, float32 bool) (*Forest, error) {
	if err := checkFeatures(features); err != nil {
		return nil, err
	}
	if !finite(base) {
		return nil, fmt.Errorf("base score %v is not finite", base)
	}
	if len(trees) == 0 {
		return nil, fmt.Errorf("no trees")
	}
	if len(trees) > MaxTrees {
		return nil, fmt.Errorf("%d trees, the limit is %d", len(trees), MaxTrees)
	}
	f := &Forest{features: slices.Clone(features), base: base, float32: float32, params: params, trees: trees}
	total := 0
	for i, t := range trees {
		if t == nil {
			return nil, fmt.Errorf("tree %d: null", i)
		}
		depth, err := t.check(features)
		if err != nil {
			return nil, fmt.Errorf("tree %d: %w", i, err)
		}
		if total += t.size(); total > MaxNodes {
			return nil, fmt.Errorf("tree %d: more than %d nodes in the forest", i, MaxNodes)
		}
		f.maxDepth = max(f.maxDepth, depth)
	}
	f.params.Trees = len(trees)
	f.bias = base
	for _, t := range trees {
		f.roots = append(f.roots, f.compile(t, 0))
		f.bias += t.meanValue()
	}
	return f, nil
}

// compile appends the subtree of t at node i to the serving arrays and
// returns its reference.
func (f *Forest) compile(t *tree, i int32) int32 {
	if t.isLeaf(i) {
		f.leaves = append(f.leaves, t.Value[i])
		return ^int32(len(f.leaves) - 1)
	}
	k := int32(len(f.nodes))
	f.nodes = append(f.nodes, splitNode{threshold: t.Threshold[i], feature: t.Feature[i], cat: -1})
	if t.Categories != nil && t.Categories[i] != nil {
		levels := f.features[t.Feature[i]].Levels
		f.nodes[k].cat = int32(len(f.catBits))
		f.nodes[k].catLevels = int32(levels)
		words := make([]uint64, (levels+63)/64)
		for _, c := range t.Categories[i] {
			words[c/64] |= 1 << (c % 64)
		}
		f.catBits = append(f.catBits, words...)
	}
	l := f.compile(t, t.Left[i])
	r := f.compile(t, t.Right[i])
	n := &f.nodes[k]
	n.left, n.right, n.missing = l, r, r
	if t.DefaultLeft[i] {
		n.missing = l
	}
	return k
}

// Family returns "gbdt".
func (f *Forest) Family() string { return Family }

// Features returns the features rows are given in, in order.
func (f *Forest) Features() []Feature { return slices.Clone(f.features) }

// Params returns the settings the forest was trained or imported with.
func (f *Forest) Params() Params { return f.params }

// NumTrees returns the number of trees.
func (f *Forest) NumTrees() int { return len(f.trees) }

// BaseScore returns the log-odds every row starts from before the trees.
func (f *Forest) BaseScore() float64 { return f.base }

// LogOdds returns the log-odds of class 1 for row, one value per feature
// (see the package doc). It allocates nothing, does not keep row, and
// panics if row is shorter than the features.
func (f *Forest) LogOdds(row []float64) float64 {
	if f.float32 {
		return f.logOdds32(row)
	}
	_ = row[len(f.features)-1]
	z := f.base
	nodes := f.nodes
	for _, i := range f.roots {
		for i >= 0 {
			n := &nodes[i]
			x := row[n.feature]
			if n.cat >= 0 {
				i = f.catChild(n, x)
				continue
			}
			next := n.right
			if x < n.threshold {
				next = n.left
			}
			if x != x {
				next = n.missing
			}
			i = next
		}
		z += f.leaves[^i]
	}
	return z
}

// logOdds32 is LogOdds as XGBoost computes it: the value is rounded to
// float32 before the comparison and the sum is kept in float32.
func (f *Forest) logOdds32(row []float64) float64 {
	_ = row[len(f.features)-1]
	z := float32(f.base)
	nodes := f.nodes
	for _, i := range f.roots {
		for i >= 0 {
			n := &nodes[i]
			x := row[n.feature]
			if n.cat >= 0 {
				i = f.catChild(n, x)
				continue
			}
			next := n.right
			if float32(x) < float32(n.threshold) {
				next = n.left
			}
			if x != x {
				next = n.missing
			}
			i = next
		}
		z += float32(f.leaves[^i])
	}
	return float64(z)
}

// catChild sends a category code left when it is in the node's set.
func (f *Forest) catChild(n *splitNode, x float64) int32 {
	if x != x {
		return n.missing
	}
	if x >= 0 && x < float64(n.catLevels) {
		c := int(x)
		if float64(c) == x && f.catBits[int(n.cat)+c/64]&(1<<(c%64)) != 0 {
			return n.left
		}
	}
	return n.right
}

// goesLeft is the split test of LogOdds on the stored form, for Explain.
func (f *Forest) goesLeft(t *tree, i int32, x float64) bool {
	if x != x {
		return t.DefaultLeft[i]
	}
	if t.Categories != nil && t.Categories[i] != nil {
		if x < 0 || x != float64(int32(x)) {
			return false
		}
		_, found := slices.BinarySearch(t.Categories[i], int32(x))
		return found
	}
	if f.float32 {
		return float32(x) < float32(t.Threshold[i])
	}
	return x < t.Threshold[i]
}

// Importance returns each feature's total gain: the loss reduction of every
// split on it, summed over the trees.
func (f *Forest) Importance() []float64 {
	out := make([]float64, len(f.features))
	for _, t := range f.trees {
		for i := range t.Left {
			if !t.isLeaf(int32(i)) {
				out[t.Feature[i]] += t.Gain[i]
			}
		}
	}
	return out
}
