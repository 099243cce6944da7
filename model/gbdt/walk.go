package gbdt

import "math"

// The walks LogOdds chooses between. A direct forest (numbers, categories of
// at most maxDirectLevels levels, at most maxDirect features) is walked
// eight trees at a time with no branch that depends on the data: the row is
// first rewritten into an extended row whose columns make every split a
// plain comparison or a mask test (see Forest.direct), and walked in the
// compact form where it is built (compact.go), else the node array. Other
// forests take the general walk, which tests each node for a category or a
// missing value.

const (
	// maxDirectLevels is the most levels a category may have for a direct
	// walk: its codes, the missing code and the unknown code fit in a mask.
	maxDirectLevels = 62
	missingCode     = 62
	unknownCode     = 63
)

// LogOdds returns the log-odds of class 1 for row, one value per feature
// (see the package doc). It allocates nothing, does not keep row, and
// panics if row is shorter than the features.
func (f *Forest) LogOdds(row []float64) float64 {
	if f.float32 && !f.direct {
		return f.logOdds32(row)
	}
	_ = row[len(f.features)-1]
	if f.direct {
		var ext [extLen]float64 // indexed with &extMask: no bounds checks
		f.extend(row, &ext)
		switch {
		case f.compact != nil:
			return f.walkCompact(&ext)
		case f.float32:
			return float64(walkDirect(f, &ext, float32(f.base)))
		}
		return walkDirect(f, &ext, f.base)
	}
	nodes := f.nodes
	z := f.base
	// Four walks at a time (half a block), so that each tree's next load
	// overlaps the others'. All four take the comparison; a category split
	// or a missing value among them sends the four through slowStep.
	for k := 0; k < len(f.blocks)*2; k++ {
		b := &f.blocks[k/2]
		h := b.roots[k%2*4:]
		i0, i1, i2, i3 := h[0], h[1], h[2], h[3]
		for d := b.depth; d > 0; d-- {
			n0, n1, n2, n3 := &nodes[i0], &nodes[i1], &nodes[i2], &nodes[i3]
			x0, x1, x2, x3 := row[n0.meta>>metaShift], row[n1.meta>>metaShift], row[n2.meta>>metaShift], row[n3.meta>>metaShift]
			i0 = n0.left + right(x0, n0.threshold)&int32(n0.meta&metaSplit)
			i1 = n1.left + right(x1, n1.threshold)&int32(n1.meta&metaSplit)
			i2 = n2.left + right(x2, n2.threshold)&int32(n2.meta&metaSplit)
			i3 = n3.left + right(x3, n3.threshold)&int32(n3.meta&metaSplit)
			if (n0.meta|n1.meta|n2.meta|n3.meta)&metaCategory != 0 || x0 != x0 || x1 != x1 || x2 != x2 || x3 != x3 {
				i0, i1, i2, i3 = f.slowStep(n0, x0), f.slowStep(n1, x1), f.slowStep(n2, x2), f.slowStep(n3, x3)
			}
		}
		z += nodes[i0].threshold
		z += nodes[i1].threshold
		z += nodes[i2].threshold
		z += nodes[i3].threshold
	}
	return z
}

// right is 0 when x < t and 1 otherwise; the compiler makes it a flag
// set, not a branch.
func right(x, t float64) int32 {
	if x < t {
		return 0
	}
	return 1
}

// slowStep handles a missing value and category sets.
func (f *Forest) slowStep(n *walkNode, x float64) int32 {
	split := int32(n.meta & metaSplit)
	if x != x {
		if n.meta&metaMissingLeft != 0 {
			return n.left
		}
		return n.left + split
	}
	if n.meta&metaCategory == 0 {
		return n.left + right(x, n.threshold)&split
	}
	set := f.catBits[int(n.threshold):]
	if x >= 0 && x < float64(set[0]) {
		if c := int(x); float64(c) == x {
			return n.left + 1 - int32(set[1+c/64]>>(c%64)&1)
		}
	}
	return n.left + 1
}

// logOdds32 is LogOdds as XGBoost computes it: the value is rounded to
// float32 before the comparison and the sum is kept in float32.
func (f *Forest) logOdds32(row []float64) float64 {
	_ = row[len(f.features)-1]
	nodes := f.nodes
	z := float32(f.base)
	for k := range f.blocks {
		b := &f.blocks[k]
		for _, i := range b.roots {
			for d := b.depth; d > 0; d-- {
				n := &nodes[i]
				x := row[n.meta>>metaShift]
				switch {
				case n.meta&metaCategory != 0 || x != x:
					i = f.slowStep(n, x)
				case float32(x) < float32(n.threshold):
					i = n.left
				default:
					i = n.left + int32(n.meta&metaSplit)
				}
			}
			z += float32(nodes[i].threshold)
		}
	}
	return float64(z)
}

// extend writes the extended row: a number as is in columns j and d+j, a
// missing number as −Inf in column j (for splits that send it left) and
// +Inf in d+j (right); a category's code in both, missingCode when missing
// and unknownCode for −1 or any other value; −Inf in column 2d, read by
// leaves.
func (f *Forest) extend(row []float64, ext *[extLen]float64) {
	d := len(f.features)
	for j, x := range row[:d] {
		lo, hi := x, x
		if x != x {
			lo, hi = math.Inf(-1), math.Inf(1)
		} else if f.float32 {
			// Thresholds are float32 values, so comparing the rounded
			// value in float64 is XGBoost's float32 comparison.
			lo = float64(float32(x))
			hi = lo
		}
		ext[j], ext[d+j] = lo, hi
	}
	for _, j := range f.catColumns {
		x := row[j]
		code := float64(unknownCode)
		switch {
		case x != x:
			code = missingCode
		case x >= 0 && x < float64(f.features[j].Levels) && x == math.Trunc(x):
			code = x
		}
		ext[j], ext[d+j] = code, code
	}
	ext[2*d] = math.Inf(-1)
}

// walkDirect sums the leaves of a direct forest in S (float32 as XGBoost
// does), eight trees at a time, written out so that each tree's next load
// overlaps the others'. In a forest with category splits each step
// computes both the comparison and the set test and keeps the one the
// node's kind asks for.
func walkDirect[S float32 | float64](f *Forest, ext *[extLen]float64, z S) S {
	nodes, mixed := f.nodes, f.mixed
	for k := range f.blocks {
		b := &f.blocks[k]
		i0, i1, i2, i3 := b.roots[0], b.roots[1], b.roots[2], b.roots[3]
		i4, i5, i6, i7 := b.roots[4], b.roots[5], b.roots[6], b.roots[7]
		for d := b.depth; d > 0; d-- {
			i0 = step(&nodes[i0], ext, mixed)
			i1 = step(&nodes[i1], ext, mixed)
			i2 = step(&nodes[i2], ext, mixed)
			i3 = step(&nodes[i3], ext, mixed)
			i4 = step(&nodes[i4], ext, mixed)
			i5 = step(&nodes[i5], ext, mixed)
			i6 = step(&nodes[i6], ext, mixed)
			i7 = step(&nodes[i7], ext, mixed)
		}
		for _, i := range [blockTrees]int32{i0, i1, i2, i3, i4, i5, i6, i7} {
			z += S(nodes[i].threshold)
		}
	}
	return z
}

// step moves from node n to its child for the extended row ext: by the
// comparison, or in a forest with category splits by the set test where n
// is a category split (both are computed, without a branch on the row).
func step(n *walkNode, ext *[extLen]float64, mixed bool) int32 {
	x := ext[n.meta>>metaShift&extMask]
	byValue := right(x, n.threshold)
	if !mixed {
		return n.left + byValue
	}
	bySet := int32(^math.Float64bits(n.threshold)>>(uint64(x)&63)) & 1
	return n.left + (byValue ^ (byValue^bySet)&int32(n.meta>>2&1))
}
