package gbdt

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
	compactMask  = compactSize - 1
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
// of at most compactDepth, or returns nil for another forest. The last
// block is padded with trees of one zero leaf.
func (f *Forest) compactTrees(trees []*tree) ([]compactBlock, int) {
	if !compactWalk || !f.direct || f.mixed {
		return nil, 0
	}
	depth := 0
	for _, t := range trees {
		depth = max(depth, t.depth(0))
	}
	if depth > compactDepth {
		return nil, 0
	}
	out := make([]compactBlock, (len(trees)+blockTrees-1)/blockTrees)
	pad := &tree{Left: []int32{-1}, Right: []int32{-1}, Value: []float64{0}}
	for k := range len(out) * blockTrees {
		t := pad
		if k < len(trees) {
			t = trees[k]
		}
		f.fillCompact(&out[k/blockTrees], k%blockTrees, t, 0, 0, 0, depth)
	}
	return out, depth
}

// fillCompact writes node i of t at position p of tree j, at depth d of depth.
func (f *Forest) fillCompact(c *compactBlock, j int, t *tree, i int32, p, d, depth int) {
	if d == depth {
		c.leaf[j][p-(1<<depth-1)] = t.Value[i]
		return
	}
	nf := len(f.features)
	if t.isLeaf(i) {
		c.column[j][p] = uint8(2 * nf) // −Inf: left, always
		f.fillCompact(c, j, t, i, 2*p+1, d+1, depth)
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
	f.fillCompact(c, j, t, t.Left[i], 2*p+1, d+1, depth)
	f.fillCompact(c, j, t, t.Right[i], 2*p+2, d+1, depth)
}

// depth returns the depth of node i's subtree.
func (t *tree) depth(i int32) int {
	if t.isLeaf(i) {
		return 0
	}
	return 1 + max(t.depth(t.Left[i]), t.depth(t.Right[i]))
}
