package gbdt

import "unsafe"

// The compact form: a direct forest of number splits whose trees are at
// most compactDepth deep is also kept as complete trees of fixed size, node
// i's children at 2i+1 and 2i+2, so that a step computes the next index from
// the comparison alone, with no child index to load. It is walked in
// assembly (walk_amd64.s) where that is built (compactWalk); elsewhere,
// and for forests with category splits or deeper trees, LogOdds walks the
// node array.

const (
	compactDepth = 6
	compactSize  = 1 << compactDepth
)

// compactBlock holds blockTrees trees, tree j's node i at [j][i]. Its
// layout is fixed: walk_amd64.s reads it by offset.
type compactBlock struct {
	// threshold is a split's threshold and column its column of the
	// extended row. A shallower leaf is carried down by splits on the −Inf
	// column, which go left.
	threshold [blockTrees][compactSize]float64
	column    [blockTrees][compactSize]uint8
	leaf      [blockTrees][compactSize]float64 // the leaves at the forest's depth, left to right
}

// compactTrees compiles trees for a direct forest without category splits
// of at most compactDepth, or returns nil for another forest, or where the
// compact form would take over 4 times the node array's memory and over
// 1 MiB (a block is 8,704 bytes whatever the depth: 100,000 stumps would
// take 110 MB). The last block is padded with trees of one zero leaf.
func (f *Forest) compactTrees(trees []*tree) []compactBlock {
	if !compactWalk || !f.direct || f.mixed || f.maxDepth > compactDepth {
		return nil
	}
	n := (len(trees) + blockTrees - 1) / blockTrees
	nodes := 0
	for _, t := range trees {
		nodes += t.size()
	}
	size, nodesSize := n*int(unsafe.Sizeof(compactBlock{})), nodes*int(unsafe.Sizeof(walkNode{}))
	if size > 4*nodesSize && size > 1<<20 {
		return nil
	}
	out := make([]compactBlock, n)
	pad := &tree{Left: []int32{-1}, Right: []int32{-1}, Value: []float64{0}}
	for k := range n * blockTrees {
		t := pad
		if k < len(trees) {
			t = trees[k]
		}
		f.fillCompact(&out[k/blockTrees], k%blockTrees, t, 0, 0, 0)
	}
	return out
}

// fillCompact writes node i of t at position p of tree j, at depth d.
func (f *Forest) fillCompact(c *compactBlock, j int, t *tree, i int32, p, d int) {
	depth := f.maxDepth
	if d == depth {
		c.leaf[j][p-(1<<depth-1)] = t.Value[i]
		return
	}
	nf := len(f.features)
	if t.isLeaf(i) {
		c.column[j][p] = uint8(2 * nf) // −Inf: left, always
		f.fillCompact(c, j, t, i, 2*p+1, d+1)
		return
	}
	column := int(t.Feature[i])
	if !t.DefaultLeft[i] {
		column += nf
	}
	threshold := t.Threshold[i]
	if f.float32 {
		threshold = float64(float32(threshold))
	}
	c.column[j][p], c.threshold[j][p] = uint8(column), threshold
	f.fillCompact(c, j, t, t.Left[i], 2*p+1, d+1)
	f.fillCompact(c, j, t, t.Right[i], 2*p+2, d+1)
}
