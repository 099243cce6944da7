package gbdt

import (
	"fmt"
	"math"
	"slices"
)

// tree is one tree as model.json stores it (and as the trainer and the
// XGBoost reader build it): parallel arrays over nodes, node 0 the root. A
// leaf has Left and Right -1 and its log-odds in Value. An internal node
// sends a row left when its value of Feature is below Threshold (a number)
// or is one of Categories (a category code); a missing value goes left when
// DefaultLeft. Cover is the hessian sum of the training rows that reached
// the node (TreeSHAP weighs paths by it) and Gain the split's loss reduction.
type tree struct {
	Left        []int32   `json:"left"`
	Right       []int32   `json:"right"`
	Feature     []int32   `json:"feature"`
	Threshold   []float64 `json:"threshold"`
	DefaultLeft []bool    `json:"default_left"`
	Categories  [][]int32 `json:"categories,omitempty"` // one per node when any split is categorical
	Value       []float64 `json:"value"`
	Cover       []float64 `json:"cover"`
	Gain        []float64 `json:"gain"`
}

func (t *tree) size() int { return len(t.Left) }

// checkFloat32 refuses, for a float32 forest, a split threshold that
// rounds to −Inf: no value is below it, not even the −Inf the walks give a
// missing value that must go left. (XGBoost's own thresholds are float32.)
func (t *tree) checkFloat32() error {
	for i, v := range t.Threshold {
		if !t.isLeaf(int32(i)) && math.IsInf(float64(float32(v)), -1) {
			return fmt.Errorf("node %d: threshold %v is below float32's range", i, v)
		}
	}
	return nil
}

func (t *tree) isLeaf(i int32) bool { return t.Left[i] < 0 }

// add appends a leaf and returns its index.
func (t *tree) add() int32 {
	t.Left = append(t.Left, -1)
	t.Right = append(t.Right, -1)
	t.Feature = append(t.Feature, -1)
	t.Threshold = append(t.Threshold, 0)
	t.DefaultLeft = append(t.DefaultLeft, false)
	if t.Categories != nil {
		t.Categories = append(t.Categories, nil)
	}
	t.Value = append(t.Value, 0)
	t.Cover = append(t.Cover, 0)
	t.Gain = append(t.Gain, 0)
	return int32(len(t.Left) - 1)
}

// split turns leaf id into the split c and returns its left child; the
// right child is the next index.
func (t *tree) split(id int32, data *binned, c *candidate) int32 {
	l := t.add()
	r := t.add()
	fb := &data.features[c.feature]
	t.Left[id], t.Right[id] = l, r
	t.Feature[id] = int32(c.feature)
	t.DefaultLeft[id] = c.defaultLeft
	t.Gain[id] = c.gain
	if fb.categorical {
		if t.Categories == nil {
			t.Categories = make([][]int32, len(t.Left))
		}
		t.Categories[id] = c.left
	} else {
		t.Threshold[id] = threshold(fb, c.bin)
	}
	return l
}

// check reports the first inconsistency of t against features, naming the
// node: sizes, indices out of range, a node with two parents or none (a
// cycle or an orphan), depth over MaxReadDepth, a value that is not finite,
// a category split on a number feature or the reverse, a level out of range.
// It returns the tree's depth.
func (t *tree) check(features []Feature) (int, error) {
	n := len(t.Left)
	if n == 0 {
		return 0, fmt.Errorf("no nodes")
	}
	for name, l := range map[string]int{"right": len(t.Right), "feature": len(t.Feature),
		"threshold": len(t.Threshold), "default_left": len(t.DefaultLeft), "value": len(t.Value),
		"cover": len(t.Cover), "gain": len(t.Gain)} {
		if l != n {
			return 0, fmt.Errorf("%d %s entries for %d nodes", l, name, n)
		}
	}
	if t.Categories != nil && len(t.Categories) != n {
		return 0, fmt.Errorf("%d categories entries for %d nodes", len(t.Categories), n)
	}
	parents := make([]int32, n)
	for i := range parents {
		parents[i] = -1
	}
	for i := 0; i < n; i++ {
		l, r := t.Left[i], t.Right[i]
		if !finite(t.Value[i]) || !finite(t.Cover[i]) || !finite(t.Gain[i]) || !finite(t.Threshold[i]) {
			return 0, fmt.Errorf("node %d: value, cover, gain and threshold must be finite", i)
		}
		if t.Cover[i] < 0 {
			return 0, fmt.Errorf("node %d: cover %v is negative", i, t.Cover[i])
		}
		if l == -1 && r == -1 {
			if t.Categories != nil && t.Categories[i] != nil {
				return 0, fmt.Errorf("node %d: a leaf has categories", i)
			}
			continue
		}
		for _, c := range []int32{l, r} {
			if c < 1 || int(c) >= n {
				return 0, fmt.Errorf("node %d: child %d out of range 1..%d", i, c, n-1)
			}
			if parents[c] >= 0 {
				return 0, fmt.Errorf("node %d: child %d already has parent %d (a cycle or a shared node)", i, c, parents[c])
			}
			parents[c] = int32(i)
		}
		if l == r {
			return 0, fmt.Errorf("node %d: both children are %d", i, l)
		}
		if !(t.Cover[i] > 0) {
			return 0, fmt.Errorf("node %d: a split node needs a positive cover, got %v", i, t.Cover[i])
		}
		f := t.Feature[i]
		if f < 0 || int(f) >= len(features) {
			return 0, fmt.Errorf("node %d: feature %d out of range 0..%d", i, f, len(features)-1)
		}
		var levels []int32
		if t.Categories != nil {
			levels = t.Categories[i]
		}
		if !features[f].Categorical {
			if levels != nil {
				return 0, fmt.Errorf("node %d: categories on number feature %q", i, features[f].Name)
			}
			continue
		}
		if len(levels) == 0 {
			return 0, fmt.Errorf("node %d: a split on category feature %q lists no categories", i, features[f].Name)
		}
		for k, v := range levels {
			if v < 0 || int(v) >= features[f].Levels || (k > 0 && v <= levels[k-1]) {
				return 0, fmt.Errorf("node %d: categories of %q must be increasing codes in 0..%d, got %v",
					i, features[f].Name, features[f].Levels-1, levels)
			}
		}
	}
	// Every node but the root has one parent; walking down from the root
	// must then reach them all, or some of them form a cycle of their own.
	depth, seen := 0, 0
	type item struct{ node, depth int32 }
	stack := []item{{0, 0}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		seen++
		depth = max(depth, int(it.depth))
		if it.depth > MaxReadDepth {
			return 0, fmt.Errorf("node %d: deeper than %d", it.node, MaxReadDepth)
		}
		if !t.isLeaf(it.node) {
			stack = append(stack, item{t.Left[it.node], it.depth + 1}, item{t.Right[it.node], it.depth + 1})
		}
	}
	if seen != n {
		for i := 1; i < n; i++ {
			if parents[i] < 0 {
				return 0, fmt.Errorf("node %d: no parent (unreachable from the root)", i)
			}
		}
		return 0, fmt.Errorf("%d of %d nodes unreachable from the root (a cycle)", n-seen, n)
	}
	return depth, nil
}

// meanValue is the tree's expected value over the training cover, computed
// bottom-up as XGBoost does, so an imported model's bias matches its own.
func (t *tree) meanValue() float64 {
	var mean func(i int32) float64
	mean = func(i int32) float64 {
		if t.isLeaf(i) {
			return t.Value[i]
		}
		l, r := t.Left[i], t.Right[i]
		return (mean(l)*t.Cover[l] + mean(r)*t.Cover[r]) / t.Cover[i]
	}
	return mean(0)
}

// clone returns a deep copy, so a forest never shares arrays with its caller.
func (t *tree) clone() *tree {
	c := &tree{
		Left: slices.Clone(t.Left), Right: slices.Clone(t.Right), Feature: slices.Clone(t.Feature),
		Threshold: slices.Clone(t.Threshold), DefaultLeft: slices.Clone(t.DefaultLeft),
		Value: slices.Clone(t.Value), Cover: slices.Clone(t.Cover), Gain: slices.Clone(t.Gain),
	}
	if t.Categories != nil {
		c.Categories = make([][]int32, len(t.Categories))
		for i, cats := range t.Categories {
			c.Categories[i] = slices.Clone(cats)
		}
	}
	return c
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
