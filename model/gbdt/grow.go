package gbdt

import (
	"cmp"
	"math"
	"slices"
)

// Tree growth, one level at a time (XGBoost's depthwise policy): every node of
// a level gets its best split from its gradient histogram, then one pass over
// the rows moves each row to its child and builds the histograms of the
// smaller children; each larger child's histogram is its parent's minus its
// sibling's.

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
	// chunkRows and maxChunks fix how the rows are cut for one histogram
	// pass. The cut depends on the data only, never on the worker count,
	// and chunks are summed in order, so the sums are the same bits on any
	// machine.
	chunkRows = 16384
	maxChunks = 16
	// chunkBytes caps the chunks' private histograms for one pass.
	chunkBytes = 64 << 20
)

type gpair struct{ g, h float64 }

// grower holds what growing a tree needs across rounds.
type grower struct {
	opt    Options
	data   *binned
	grad   []gpair // per row; zero for a row outside this round's sample
	nodeOf []int32 // per row: the tree node it has reached
	free   [][]gpair
}

// node is a tree node of the level being grown.
type node struct {
	id   int32
	g, h float64
	hist []gpair
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

// route sends a row of a split node to a child by its bin of the split feature.
type route struct {
	feature int
	goLeft  []uint8 // by bin: 1 left, 0 right; nil when the node is a leaf
	left    int32   // the left child; the right is left+1
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

// grow builds one tree on the current gradients, leaving each row's leaf in
// nodeOf.
func (g *grower) grow() *tree {
	t := &tree{}
	t.add()
	clear(g.nodeOf)
	root := node{id: 0, hist: g.histogram()}
	g.pass(0, 0, nil, []int32{0}, [][]gpair{root.hist})
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
		lo := level[0].id
		routes := make([]route, len(level))
		var next []node
		var parents []int // level index of each pair's parent in next
		var builds []int32
		var built [][]gpair
		for i := range level {
			n, c := &level[i], &best[i]
			if c.gain <= minSplitGain {
				t.Value[n.id] = -n.g / (n.h + g.opt.Lambda) * g.opt.LearningRate
				g.release(n.hist)
				continue
			}
			l := t.split(n.id, g.data, c)
			r := l + 1
			t.Cover[l], t.Cover[r] = c.hl, n.h-c.hl
			routes[i] = route{feature: c.feature, goLeft: goLeft(&g.data.features[c.feature], c), left: l}
			left := node{id: l, g: c.gl, h: c.hl}
			right := node{id: r, g: n.g - c.gl, h: n.h - c.hl}
			small := l
			if right.h < left.h {
				small = r
			}
			builds = append(builds, small)
			h := g.histogram()
			built = append(built, h)
			if small == l {
				left.hist = h
			} else {
				right.hist = h
			}
			next = append(next, left, right)
			parents = append(parents, i)
		}
		if len(next) == 0 {
			break
		}
		g.pass(lo, next[0].id, routes, builds, built)
		for i := 0; i < len(next); i += 2 {
			l, r := &next[i], &next[i+1]
			parent := level[parents[i/2]].hist
			if l.hist == nil {
				l.hist = parent
				subtract(l.hist, r.hist)
			} else {
				r.hist = parent
				subtract(r.hist, l.hist)
			}
		}
		level = next
	}
	return t
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

// pass routes every row of a split node of the level starting at id lo to
// its child (nextLo is the first id of the next level), and adds each row
// that reaches a node of builds into that node's histogram in out. With
// routes nil every row is in node 0 and builds is {0}.
func (g *grower) pass(lo, nextLo int32, routes []route, builds []int32, out [][]gpair) {
	n := len(g.nodeOf)
	total := g.data.total
	chunks := min(maxChunks, (n+chunkRows-1)/chunkRows, max(1, chunkBytes/(16*total*len(builds))))
	chunks = max(chunks, 1)
	slot := make([]int32, 2*len(builds)+2)
	for i := range slot {
		slot[i] = -1
	}
	for i, id := range builds {
		slot[id-nextLo] = int32(i)
	}
	priv := make([][]gpair, chunks)
	parallel(chunks, g.opt.Workers, func(c int) {
		hists := out
		if chunks > 1 {
			priv[c] = make([]gpair, total*len(builds))
			hists = make([][]gpair, len(builds))
			for i := range hists {
				hists[i] = priv[c][i*total : (i+1)*total]
			}
		}
		g.passRows(c*n/chunks, (c+1)*n/chunks, lo, nextLo, routes, slot, hists)
	})
	if chunks == 1 {
		return
	}
	parallel(len(builds), g.opt.Workers, func(i int) {
		h := out[i]
		for c := range priv {
			p := priv[c][i*total : (i+1)*total]
			for k := range h {
				h[k].g += p[k].g
				h[k].h += p[k].h
			}
		}
	})
}

func (g *grower) passRows(from, to int, lo, nextLo int32, routes []route, slot []int32, hists [][]gpair) {
	w := g.data.width
	bins := g.data.bins
	feats := g.data.features
	offsets := make([]int, len(feats))
	for j := range feats {
		offsets[j] = feats[j].offset
	}
	for r := from; r < to; r++ {
		row := bins[r*w : r*w+w]
		var s int32
		if routes != nil {
			id := g.nodeOf[r]
			if id < lo {
				continue
			}
			rt := &routes[id-lo]
			if rt.goLeft == nil {
				continue
			}
			id = rt.left + 1 - int32(rt.goLeft[row[rt.feature]])
			g.nodeOf[r] = id
			if s = slot[id-nextLo]; s < 0 {
				continue
			}
		}
		p := g.grad[r]
		if p.h == 0 && p.g == 0 {
			continue
		}
		h := hists[s]
		for j, b := range row {
			e := &h[offsets[j]+int(b)]
			e.g += p.g
			e.h += p.h
		}
	}
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
