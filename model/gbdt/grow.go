package gbdt

import (
	"cmp"
	"math"
	"slices"
)

// Tree growth, one level at a time (XGBoost's depthwise policy): every node of
// a level gets its best split from its gradient histogram; each split
// node's rows are partitioned between its children, and the histogram of
// the smaller child is built from its rows while the larger child's is its
// parent's minus its sibling's.

const (
	// minSplitGain is the least loss reduction a split must bring (XGBoost's kRtEps).
	minSplitGain = 1e-6
	// catSmooth damps a category level's gradient ratio toward zero when
	// levels are sorted for a partition split, so a rare level does not
	// jump to an end of the order on a few rows (LightGBM's cat_smooth).
	catSmooth = 10
	// oneHotLevels is the level count up to which a partition split tries
	// each level alone instead (LightGBM's max_cat_to_onehot).
	oneHotLevels = 4
	// catL2 adds to λ while partition splits are scored, and maxCatLeft
	// caps the levels sent left: both against fitting noise with a subset
	// of many levels (LightGBM's cat_l2 and max_cat_threshold).
	catL2      = 10
	maxCatLeft = 32
	// chunkRows fixes how a node's rows are cut for building its histogram
	// in parallel. The cut depends on the data only, never on the worker
	// count, and the chunks are summed in order, so the sums are the same
	// bits on any machine.
	chunkRows = 1 << 15
)

type gpair struct{ g, h float64 }

// gradPair is a row's gradient and hessian, in float32 as XGBoost keeps
// them: half the memory a histogram pass reads; sums stay in float64.
type gradPair struct{ g, h float32 }

// grower holds what growing a tree needs across rounds.
type grower struct {
	opt     Options
	data    *binned
	grad    []gradPair // per row; zero for a row outside this round's sample
	rows    []int32    // row numbers, each node's a contiguous segment
	scratch []int32    // where a segment is partitioned
	leaves  []node     // of the last tree grown above its last level, with their segments of rows
	pred    []float64  // per row; grow adds the last level's leaves itself
	y       []uint8
	valid   []bool // rows held out for early stopping, or nil
	round   uint64
	free    [][]gpair
}

// node is a tree node of the level being grown; rows[start:end] are its rows.
type node struct {
	id         int32
	start, end int
	g, h       float64
	hist       []gpair
}

// candidate is a node's best split.
type candidate struct {
	gain        float64
	feature     int
	bin         int // numeric: the last value bin going left
	defaultLeft bool
	left        []int32 // categorical: the levels going left, sorted
	gl, hl      float64 // the left child's sums, missing rows included when defaultLeft
}

func (g *grower) histogram() []gpair {
	if n := len(g.free); n > 0 {
		h := g.free[n-1]
		g.free = g.free[:n-1]
		clear(h)
		return h
	}
	return make([]gpair, g.data.total)
}

func (g *grower) release(h []gpair) {
	if h != nil {
		g.free = append(g.free, h)
	}
}

// grow builds one tree on the current gradients, leaving its leaves and
// their rows in g.leaves.
func (g *grower) grow() *tree {
	t := &tree{}
	t.add()
	g.leaves = g.leaves[:0]
	for i := range g.rows {
		g.rows[i] = int32(i)
	}
	root := node{id: 0, end: len(g.rows), hist: g.histogram()}
	g.build([]*node{&root}, g.gradients)
	fb := &g.data.features[0]
	for _, p := range root.hist[fb.offset : fb.offset+fb.count()] {
		root.g += p.g
		root.h += p.h
	}
	t.Cover[0] = root.h
	level := []node{root}
	for depth := 0; len(level) > 0; depth++ {
		best := make([]candidate, len(level))
		if depth < g.opt.MaxDepth {
			parallel(len(level), g.opt.Workers, func(i int) { best[i] = g.bestSplit(&level[i]) })
		}
		var next []node
		var splits []int // level index of each pair's parent in next
		for i := range level {
			n, c := &level[i], &best[i]
			if c.gain <= minSplitGain {
				t.Value[n.id] = -n.g / (n.h + g.opt.Lambda) * g.opt.LearningRate
				g.release(n.hist)
				n.hist = nil
				g.leaves = append(g.leaves, *n)
				continue
			}
			l := t.split(n.id, g.data, c)
			t.Cover[l], t.Cover[l+1] = c.hl, n.h-c.hl
			next = append(next, node{id: l, g: c.gl, h: c.hl}, node{id: l + 1, g: n.g - c.gl, h: n.h - c.hl})
			splits = append(splits, i)
		}
		if len(next) == 0 {
			break
		}
		if depth+1 == g.opt.MaxDepth {
			// The children are leaves: add their values to the rows'
			// predictions straight away instead of partitioning the rows.
			for k, i := range splits {
				g.release(level[i].hist)
				for _, c := range next[2*k : 2*k+2] {
					t.Value[c.id] = -c.g / (c.h + g.opt.Lambda) * g.opt.LearningRate
				}
			}
			g.addLastLevel(t, level, best, splits)
			break
		}
		g.partitionAll(level, best, splits, next)
		smaller := make([]*node, len(splits))
		for k := range splits {
			l, r := &next[2*k], &next[2*k+1]
			smaller[k] = l
			if r.h < l.h {
				smaller[k] = r
			}
			smaller[k].hist = g.histogram()
		}
		g.build(smaller, nil)
		for k, i := range splits {
			l, r := &next[2*k], &next[2*k+1]
			if l.hist == nil {
				l.hist = level[i].hist
				subtract(l.hist, r.hist)
			} else {
				r.hist = level[i].hist
				subtract(r.hist, l.hist)
			}
		}
		level = next
	}
	return t
}

// partitionAll reorders the rows of each split node of level so that the
// rows going left come first, and sets the children's segments. Segments
// are cut into chunks of chunkRows: each chunk is partitioned into scratch
// on its own, then the chunks' left rows and right rows are copied back in
// order, so the result is a stable partition whatever ran where.
func (g *grower) partitionAll(level []node, best []candidate, splits []int, next []node) {
	chunks, tables := g.chunkSplits(level, best, splits)
	parallel(len(chunks), g.opt.Workers, func(c int) {
		ch := &chunks[c]
		f := best[splits[ch.split]].feature
		in, out := g.rows[ch.from:ch.to], g.scratch[ch.from:ch.to]
		if g.data.bins8 != nil {
			ch.left = partition(g.data.column8(f), 1, in, out, 0, tables[ch.split])
		} else {
			ch.left = partition(g.data.bins16, g.data.width, in, out, f, tables[ch.split])
		}
	})
	// Where each chunk's rows go: lefts from the node's start, rights after all lefts.
	dst := make([][2]int, len(chunks))
	for c := 0; c < len(chunks); {
		k := chunks[c].split
		n := &level[splits[k]]
		e := c
		lefts := 0
		for ; e < len(chunks) && chunks[e].split == k; e++ {
			lefts += chunks[e].left
		}
		l, r := n.start, n.start+lefts
		for ; c < e; c++ {
			dst[c] = [2]int{l, r}
			l += chunks[c].left
			r += chunks[c].to - chunks[c].from - chunks[c].left
		}
		next[2*k].start, next[2*k].end = n.start, n.start+lefts
		next[2*k+1].start, next[2*k+1].end = n.start+lefts, n.end
	}
	parallel(len(chunks), g.opt.Workers, func(c int) {
		ch := &chunks[c]
		part := g.scratch[ch.from:ch.to]
		copy(g.rows[dst[c][0]:], part[:ch.left])
		copy(g.rows[dst[c][1]:], part[ch.left:])
	})
}

// rowChunk is a run of at most chunkRows rows of one split node.
type rowChunk struct {
	split, from, to int // splits[split]'s rows g.rows[from:to]
	left            int // how many go left, once partitioned
}

// chunkSplits cuts the rows of each split node of level into chunks for
// the workers, and returns beside them each split's goes-left table by bin.
func (g *grower) chunkSplits(level []node, best []candidate, splits []int) ([]rowChunk, [][]uint8) {
	var chunks []rowChunk
	tables := make([][]uint8, len(splits))
	for k, i := range splits {
		n := &level[i]
		tables[k] = goLeft(&g.data.features[best[i].feature], &best[i])
		for from := n.start; from < n.end; from += chunkRows {
			chunks = append(chunks, rowChunk{split: k, from: from, to: min(from+chunkRows, n.end)})
		}
	}
	return chunks, tables
}

// addLastLevel adds to each row of a split node of level the value of the
// leaf its split sends it to.
func (g *grower) addLastLevel(t *tree, level []node, best []candidate, splits []int) {
	chunks, tables := g.chunkSplits(level, best, splits)
	parallel(len(chunks), g.opt.Workers, func(c int) {
		ch := chunks[c]
		i := splits[ch.split]
		l := t.Left[level[i].id]
		values := [2]float64{t.Value[l+1], t.Value[l]} // by goes-left
		rows := g.rows[ch.from:ch.to]
		if g.data.bins8 != nil {
			addLeaves(g.data.column8(best[i].feature), 1, rows, 0, tables[ch.split], values, g.pred)
		} else {
			addLeaves(g.data.bins16, g.data.width, rows, best[i].feature, tables[ch.split], values, g.pred)
		}
	})
}

func addLeaves[B uint8 | uint16](bins []B, width int, rows []int32, feature int, goLeft []uint8, values [2]float64, pred []float64) {
	for _, r := range rows {
		pred[r] += values[goLeft[bins[int(r)*width+feature]]&1]
	}
}

// partition writes rows to out, those whose bin of feature goes left
// first, in order, and returns how many go left. Each row is written to
// both ends and only one end advances, so no branch depends on the data.
func partition[B uint8 | uint16](bins []B, width int, rows, out []int32, feature int, goLeft []uint8) int {
	nl, nr := 0, 0
	last := len(out) - 1
	for _, r := range rows {
		left := int(goLeft[bins[int(r)*width+feature]])
		out[nl] = r
		out[last-nr] = r
		nl += left
		nr += 1 - left
	}
	slices.Reverse(out[nl:]) // the right rows were written from the end
	return nl
}

// build fills the histogram of each node from its rows, cutting them into
// chunks of chunkRows that goroutines sum into private histograms. first,
// when not nil, is called on each chunk's range of rows before it is
// summed (at the root, where rows[i] = i).
func (g *grower) build(nodes []*node, first func(from, to int)) {
	type task struct{ node, from, to int }
	var tasks []task
	for k, n := range nodes {
		for from := n.start; from < n.end; from += chunkRows {
			tasks = append(tasks, task{k, from, min(from+chunkRows, n.end)})
		}
	}
	total := g.data.total
	priv := make([][]gpair, len(tasks))
	parallel(len(tasks), g.opt.Workers, func(i int) {
		tk := tasks[i]
		h := nodes[tk.node].hist
		if tk.from != nodes[tk.node].start {
			priv[i] = make([]gpair, total)
			h = priv[i]
		}
		if first != nil {
			first(tk.from, tk.to)
		}
		if g.data.bins8 != nil {
			accumulate(g.data.bins8, g.data.width, g.data.features, g.rows[tk.from:tk.to], g.grad, h)
		} else {
			accumulate(g.data.bins16, g.data.width, g.data.features, g.rows[tk.from:tk.to], g.grad, h)
		}
	})
	for i, tk := range tasks { // in order: the same sums whatever ran where
		if priv[i] != nil {
			h := nodes[tk.node].hist
			for k, p := range priv[i] {
				h[k].g += p.g
				h[k].h += p.h
			}
		}
	}
}

func accumulate[B uint8 | uint16](bins []B, width int, features []featureBins, rows []int32, grad []gradPair, h []gpair) {
	offsets := make([]int, width)
	for j := range offsets {
		offsets[j] = features[j].offset
	}
	k := 0
	if len(rows) >= 4096 {
		// Rows in pairs, the second of each into its own histogram: on a
		// feature of few values consecutive rows hit the same bin, and each
		// add would wait on the previous one's store.
		h2 := make([]gpair, len(h))
		for ; k+1 < len(rows); k += 2 {
			r0, r1 := int(rows[k]), int(rows[k+1])
			p0, p1 := grad[r0], grad[r1]
			g0, h0, g1, h1 := float64(p0.g), float64(p0.h), float64(p1.g), float64(p1.h)
			row0 := bins[r0*width : r0*width+width]
			row1 := bins[r1*width : r1*width+width]
			for j, off := range offsets {
				e0 := &h[off+int(row0[j])]
				e1 := &h2[off+int(row1[j])]
				e0.g += g0
				e0.h += h0
				e1.g += g1
				e1.h += h1
			}
		}
		for i := range h {
			h[i].g += h2[i].g
			h[i].h += h2[i].h
		}
	}
	for _, r := range rows[k:] {
		p := grad[r]
		pg, ph := float64(p.g), float64(p.h)
		row := bins[int(r)*width : int(r)*width+width]
		for j, b := range row {
			e := &h[offsets[j]+int(b)]
			e.g += pg
			e.h += ph
		}
	}
}

// subtract sets dst to dst−src: a parent's histogram becomes its larger child's.
func subtract(dst, src []gpair) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i].g -= src[i].g
		dst[i].h -= src[i].h
	}
}

// goLeft tabulates which bins of the split feature go left.
func goLeft(fb *featureBins, c *candidate) []uint8 {
	table := make([]uint8, fb.count())
	if fb.categorical {
		for _, level := range c.left {
			table[level] = 1
		}
	} else {
		for b := 0; b <= c.bin; b++ {
			table[b] = 1
		}
	}
	if c.defaultLeft {
		table[fb.missingBin()] = 1
	}
	return table
}

// bestSplit scans every feature's histogram for the split of n that
// reduces the loss most.
func (g *grower) bestSplit(n *node) candidate {
	best := candidate{gain: minSplitGain}
	lambda, mcw := g.opt.Lambda, g.opt.MinChildWeight
	parent := n.g * n.g / (n.h + lambda)
	extra := 0.0 // catL2 while scanning a partition
	try := func(f, bin int, gl, hl float64, defaultLeft bool) bool {
		hr := n.h - hl
		if hl < mcw || hr < mcw {
			return false
		}
		gr := n.g - gl
		gain := gl*gl/(hl+lambda+extra) + gr*gr/(hr+lambda+extra) - parent
		if gain > best.gain {
			best = candidate{gain: gain, feature: f, bin: bin, defaultLeft: defaultLeft, gl: gl, hl: hl}
			return true
		}
		return false
	}
	var order []int32
	for f := range g.data.features {
		fb := &g.data.features[f]
		h := n.hist[fb.offset : fb.offset+fb.count()]
		miss := h[fb.missingBin()]
		if !fb.categorical {
			var gl, hl float64
			last := len(fb.cuts) // the last value bin: all values left, missing right
			for b := 0; b <= last; b++ {
				if h[b].h == 0 && h[b].g == 0 && b < last {
					continue
				}
				gl += h[b].g
				hl += h[b].h
				try(f, b, gl, hl, false)
				if miss.h > 0 && b < last {
					try(f, b, gl+miss.g, hl+miss.h, true)
				}
			}
			continue
		}
		order = order[:0]
		for level := 0; level < fb.levels; level++ {
			if h[level].h > 0 {
				order = append(order, int32(level))
			}
		}
		if len(order) < 2 && miss.h == 0 && h[fb.unknownBin()].h == 0 {
			continue
		}
		if g.opt.Categorical == CategoricalOneHot || len(order) <= oneHotLevels {
			for _, level := range order {
				l := h[level]
				a := try(f, 0, l.g, l.h, false)
				b := miss.h > 0 && try(f, 0, l.g+miss.g, l.h+miss.h, true)
				if a || b {
					best.left = []int32{level}
				}
			}
			continue
		}
		slices.SortStableFunc(order, func(a, b int32) int {
			return cmp.Compare(h[a].g/(h[a].h+catSmooth), h[b].g/(h[b].h+catSmooth))
		})
		var gl, hl float64
		extra = catL2
		for k := 0; k+1 < len(order) && k < maxCatLeft; k++ {
			gl += h[order[k]].g
			hl += h[order[k]].h
			a := try(f, 0, gl, hl, false)
			b := miss.h > 0 && try(f, 0, gl+miss.g, hl+miss.h, true)
			if a || b {
				best.left = slices.Sorted(slices.Values(order[:k+1]))
			}
		}
		extra = 0
	}
	return best
}

// threshold turns a numeric split's last left bin into the value test x < t.
func threshold(fb *featureBins, bin int) float64 {
	if bin < len(fb.cuts) {
		return fb.cuts[bin]
	}
	return math.MaxFloat64
}
