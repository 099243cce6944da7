package gbdt

import (
	"fmt"
	"math"
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

	// The serving form where compact is nil: every tree's nodes in one
	// array, a leaf as a node that leads to itself with its value in
	// threshold, so a walk of exactly a tree's depth ends on its leaf
	// without testing for one.
	// Trees are walked in blocks of blockTrees, interleaved, so that the
	// memory latency of one tree's next node hides behind the others'.
	nodes   []walkNode
	blocks  []block
	catBits []uint64 // per category split: its level count, then its set, 64 levels a word
	// direct marks a forest walked with no test that depends on the row: at
	// most maxDirect features, categories of at most maxDirectLevels levels,
	// and no category split in a float32 forest. A split node's meta
	// then holds its column of the extended row LogOdds builds (the row with
	// missing values as −Inf, then again as +Inf, then one −Inf), chosen so
	// that a missing value goes its default way by the plain comparison;
	// a leaf's holds the last column, so it stays where it is.
	direct bool
	// mixed marks a direct forest with category splits: a category's
	// column of the extended row holds its code (missingCode and
	// unknownCode for the rest) and its split's threshold bits the set.
	mixed      bool
	catColumns []int // the category features
	// compact holds a direct forest of number splits at most compactDepth
	// deep (maxDepth) in the compact form, walked instead of nodes; nil
	// otherwise.
	compact []compactBlock

	bias     float64   // base + every tree's expected value
	maxDepth int       // of the deepest tree, for Explain's scratch space
	scratch  sync.Pool // of *shapScratch

	fastOnce sync.Once   // builds fast on the first Explain
	fast     []*fastTree // per tree: leaf tables, or nil for Algorithm 2
}

// walkNode is 16 bytes, so that 200 trees of depth 6 fit in a core's L2
// cache (24-byte nodes did not, and the walk waited on memory). A split's
// children are adjacent, so the walk picks one by arithmetic instead of a
// branch the processor would mispredict half the time.
type walkNode struct {
	// A split on a number sends a value below threshold left; a category
	// split keeps its set's offset in catBits here; a leaf its value.
	threshold float64
	left      int32  // the left child, the right is left+1; a leaf: itself
	meta      uint32 // feature<<3 | category split<<2 | missing goes left<<1 | is a split
}

const (
	metaSplit       = 1
	metaMissingLeft = 2
	metaCategory    = 4
	metaShift       = 3
)

const (
	blockTrees = 8
	maxDirect  = 63
	extLen     = 2 * (maxDirect + 1) // the extended row's columns
	extMask    = extLen - 1
)

type block struct {
	roots [blockTrees]int32
	depth int32
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
		if float32 {
			if err := t.checkFloat32(); err != nil {
				return nil, fmt.Errorf("tree %d: %w", i, err)
			}
		}
		if total += t.size(); total > MaxNodes {
			return nil, fmt.Errorf("tree %d: more than %d nodes in the forest", i, MaxNodes)
		}
		f.maxDepth = max(f.maxDepth, depth)
	}
	f.params.Trees = len(trees)
	f.bias = base
	f.direct = len(features) <= maxDirect
	for j, feat := range features {
		if feat.Categorical {
			f.direct = f.direct && feat.Levels <= maxDirectLevels
			f.catColumns = append(f.catColumns, j)
		}
	}
	for _, t := range trees {
		f.mixed = f.mixed || t.Categories != nil
	}
	// A float32 walk with category sets is not written.
	f.direct = f.direct && !(float32 && f.mixed)
	for _, t := range trees {
		f.bias += t.meanValue()
	}
	if f.compact = f.compactTrees(trees); f.compact == nil {
		f.compileNodes(trees)
	}
	return f, nil
}

// compileNodes builds the node array and its blocks.
func (f *Forest) compileNodes(trees []*tree) {
	pad := walkNode{} // node 0: the leaf 0 that pads the last block
	if f.direct {
		pad.meta = uint32(2*len(f.features)) << metaShift
	}
	f.nodes = append(f.nodes, pad)
	for k := 0; k < len(trees); k += blockTrees {
		var blk block
		for j := range blockTrees {
			if k+j >= len(trees) {
				continue
			}
			root, depth := f.compile(trees[k+j])
			blk.roots[j] = root
			blk.depth = max(blk.depth, depth)
		}
		f.blocks = append(f.blocks, blk)
	}
}

// compile appends tree t to the serving arrays, level by level so that the
// top levels, which every row visits, share a few cache lines; it returns
// the root's index and the tree's depth.
func (f *Forest) compile(t *tree) (int32, int32) {
	type item struct{ node, at, depth int32 }
	root := int32(len(f.nodes))
	f.nodes = append(f.nodes, walkNode{})
	depth := int32(0)
	queue := []item{{0, root, 0}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		depth = max(depth, it.depth)
		i := it.node
		if t.isLeaf(i) {
			f.nodes[it.at] = walkNode{threshold: t.Value[i], left: it.at}
			if f.direct {
				f.nodes[it.at].meta = uint32(2*len(f.features)) << metaShift
			}
			continue
		}
		column := t.Feature[i]
		if f.direct && !t.DefaultLeft[i] {
			column += int32(len(f.features))
		}
		n := walkNode{threshold: t.Threshold[i], meta: uint32(column)<<metaShift | metaSplit}
		if f.float32 { // compared with values rounded to float32, as XGBoost does
			n.threshold = float64(float32(n.threshold))
		}
		if t.DefaultLeft[i] {
			n.meta |= metaMissingLeft
		}
		if t.Categories != nil && t.Categories[i] != nil && f.direct {
			// The set as a mask over codes, with the missing code's bit
			// set when missing values go left; the column holds the code.
			var mask uint64
			for _, c := range t.Categories[i] {
				mask |= 1 << c
			}
			if t.DefaultLeft[i] {
				mask |= 1 << missingCode
			}
			n.threshold = math.Float64frombits(mask)
			n.meta = uint32(t.Feature[i])<<metaShift | metaSplit | metaCategory
		} else if t.Categories != nil && t.Categories[i] != nil {
			levels := f.features[t.Feature[i]].Levels
			n.threshold = float64(len(f.catBits))
			n.meta |= metaCategory
			words := make([]uint64, 1+(levels+63)/64)
			words[0] = uint64(levels)
			for _, c := range t.Categories[i] {
				words[1+c/64] |= 1 << (c % 64)
			}
			f.catBits = append(f.catBits, words...)
		}
		n.left = int32(len(f.nodes))
		f.nodes = append(f.nodes, walkNode{}, walkNode{})
		f.nodes[it.at] = n
		queue = append(queue, item{t.Left[i], n.left, it.depth + 1}, item{t.Right[i], n.left + 1, it.depth + 1})
	}
	return root, depth
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
