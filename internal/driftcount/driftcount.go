// Package driftcount counts the rows a server predicts into the bins of
// their features' training distributions, from any number of goroutines,
// with no lock and no allocation.
//
// Counts are kept per shard (a power of two, about one per P), each a flat
// array of atomic counters; a counted row picks its shard at random, so
// concurrent rows rarely touch the same cache line. The draw is the
// runtime's (internal/hot.Rand). To make a row cost few
// atomic adds, features are counted jointly in groups: a group of up to
// three decile features (with the predicted label in the last group) has one
// counter per combination of bins, at most maxGroupCells, and a row adds one
// to one counter per group. Each feature's counts are the marginals of its
// group, summed when Counts is called. Memory is fixed by New: about 16 KiB
// per shard for five features of twelve bins.
package driftcount

import (
	"fmt"
	"math"
	"runtime"
	"sync/atomic"

	"github.com/mlservice/mlservice/internal/hot"
)

// Feature is one counted feature: a number's bins, cut at Edges with the
// last in-range bin ending at Max (one bin below Edges[0] and one above Max
// besides), or a category's Levels codes and one bin for anything else.
type Feature struct {
	Edges  []float64 // ascending, distinct, finite; nil for a category
	Max    float64
	Levels int // a category's codes; 0 for a number
}

// Bins returns how many bins f counts into.
func (f *Feature) Bins() int {
	if f.Edges == nil {
		return f.Levels + 1
	}
	return len(f.Edges) + 2
}

// Limits on what a Counter counts.
const (
	// MaxNumberBins is the most bins of a number (ten edges: deciles).
	MaxNumberBins = 13
	// MaxLevels is the most codes of a category: a shard holds a counter
	// per code and label at least.
	MaxLevels = 4096
	// maxGroupCells bounds the counters of one group of features: three of
	// 12 bins (1728). The label doubles the last group's.
	maxGroupCells = 2048
	// maxShards bounds the shards whatever GOMAXPROCS is.
	maxShards = 64
)

// Counter counts rows. See the package documentation.
type Counter struct {
	features []Feature
	bins     []int      // per feature
	grids    []gridBins // per feature; unused for a category
	strides  []int      // per feature: its stride in its group
	// groupEnds[g] is the first feature after group g; the label is in the
	// last group, at labelStride.
	groupEnds   []int
	groupOffset []int
	labelStride int
	cells       int // counters per shard
	shards      []shard
	mask        uint32
	// exact counts down the rows still counted one by one; at zero or
	// below, rows are sampled. Racing goroutines may take it a little
	// below zero: a few more rows counted, never fewer.
	exact atomic.Int64
	_     [56]byte // exact alone on its cache line: only the first rows write it
	// sampleMask is the sampling rate less one (a power of two).
	sampleMask uint32
}

type shard struct {
	counts []atomic.Uint64
	_      [64 - 24]byte // the slice header alone on its cache line
}

// New returns a counter of features that counts every row for its first
// exactRows and then one in sampleEvery (rounded up to a power of two),
// drawn at random. Edges must be ascending, distinct and finite.
func New(features []Feature, exactRows int, sampleEvery int) (*Counter, error) {
	c := &Counter{features: features}
	for j := range features {
		f := &features[j]
		switch {
		case f.Edges == nil && (f.Levels < 0 || f.Levels > MaxLevels):
			return nil, fmt.Errorf("feature %d has %d levels, at most %d are counted", j, f.Levels, MaxLevels)
		case f.Edges != nil && f.Bins() > MaxNumberBins:
			return nil, fmt.Errorf("feature %d has %d bins, at most %d are counted", j, f.Bins(), MaxNumberBins)
		}
		c.bins = append(c.bins, f.Bins())
		g := gridBins{scale: -1}
		if f.Edges != nil {
			g = newGridBins(f)
		}
		c.grids = append(c.grids, g)
	}
	c.group()
	n := 1
	for n < min(runtime.GOMAXPROCS(0), maxShards) {
		n *= 2
	}
	c.shards = make([]shard, n)
	for i := range c.shards {
		c.shards[i].counts = make([]atomic.Uint64, c.cells)
	}
	c.mask = uint32(n - 1)
	c.exact.Store(int64(exactRows))
	k := uint32(1)
	for int(k) < sampleEvery {
		k *= 2
	}
	c.sampleMask = k - 1
	return c, nil
}

// group packs the features into groups in order, the label last.
func (c *Counter) group() {
	type member struct{ feature, stride, bins int }
	var groups [][]member
	size := 0
	add := func(feature, bins int) {
		// The label always joins the last group: Count adds it there.
		if len(groups) == 0 || (feature >= 0 && size*bins > maxGroupCells) {
			if len(groups) > 0 {
				c.groupOffset = append(c.groupOffset, c.cells)
				c.cells += size
			}
			groups = append(groups, nil)
			size = 1
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], member{feature, size, bins})
		size *= bins
	}
	for j, b := range c.bins {
		add(j, b)
	}
	add(-1, 2)
	c.groupOffset = append(c.groupOffset, c.cells)
	c.cells += size
	c.strides = make([]int, len(c.bins))
	for gi, g := range groups {
		for _, m := range g {
			if m.feature < 0 {
				c.labelStride = m.stride
			} else {
				c.strides[m.feature] = m.stride
			}
		}
		end := len(c.bins)
		if gi+1 < len(groups) {
			end = groups[gi+1][0].feature
		}
		c.groupEnds = append(c.groupEnds, end)
	}
}

// SampleEvery returns the sampling rate after the exact rows.
func (c *Counter) SampleEvery() int { return int(c.sampleMask + 1) }

// Observe counts a predicted row as the sampling rule says: every row for
// the first exactRows, then one in SampleEvery at random. row holds the
// features in order (a category's code as a number; anything but a code
// counts in its last bin) and label is the predicted class, 0 or 1. It
// takes no lock and allocates nothing.
func (c *Counter) Observe(row []float64, label int) {
	r := hot.Rand() // the sampling draw, and the shard
	if c.exact.Load() > 0 {
		c.exact.Add(-1)
	} else if r&c.sampleMask != 0 {
		return
	}
	c.count(row, label, r>>16)
}

// Count counts a row whatever the sampling rule says.
func (c *Counter) Count(row []float64, label int) { c.count(row, label, hot.Rand()) }

func (c *Counter) count(row []float64, label int, pick uint32) {
	counts := c.shards[pick&c.mask].counts
	grids := c.grids
	row = row[:len(grids)] // one bounds check for the loop
	strides := c.strides[:len(grids)]
	bins := c.bins[:len(grids)]
	ends := c.groupEnds
	g, cell := 0, 0 // the first group's offset is 0
	for f := range grids {
		if f == ends[g] { // features are grouped in order
			counts[cell].Add(1)
			g++
			cell = c.groupOffset[g]
		}
		var b int
		if grids[f].scale >= 0 { // a number
			b = grids[f].bin(row[f])
		} else if x := row[f]; x >= 0 && x < float64(bins[f]-1) {
			b = int(x)
		} else {
			b = bins[f] - 1 // a category's other values
		}
		cell += b * strides[f]
	}
	cell += (label & 1) * c.labelStride
	counts[cell].Add(1)
}

// Counts sums the shards: each feature's count per bin, the rows counted
// and those predicted as class 1. Rows counted while it runs may be in
// some features' counts and not yet in others'.
func (c *Counter) Counts() (live [][]uint64, rows, positives uint64) {
	total := make([]uint64, c.cells)
	for i := range c.shards {
		for j := range total {
			total[j] += c.shards[i].counts[j].Load()
		}
	}
	live = make([][]uint64, len(c.bins))
	for j, b := range c.bins {
		live[j] = make([]uint64, b)
	}
	for g, end := range c.groupEnds {
		start := 0
		if g > 0 {
			start = c.groupEnds[g-1]
		}
		size := 1
		for f := start; f < end; f++ {
			size *= c.bins[f]
		}
		if g == len(c.groupEnds)-1 {
			size *= 2 // the label
		}
		for cell := range size {
			n := total[c.groupOffset[g]+cell]
			if n == 0 {
				continue
			}
			for f := start; f < end; f++ {
				live[f][cell/c.strides[f]%c.bins[f]] += n
			}
			if g == len(c.groupEnds)-1 {
				rows += n
				if cell/c.labelStride%2 == 1 {
					positives += n
				}
			}
		}
	}
	return live, rows, positives
}

// gridBins maps a number to its bin with a lookup table: a uniform grid of
// gridCells cells from the first cut to the last gives the bin its cell
// starts in with one multiply and one load, and a compare with the next
// cut moves it on when the cell straddles one (rarely: 10 edges in 512
// cells). About 1 ns a feature where twelve compares take 4 and a binary
// search 5.5 (each step waits for the last).
type gridBins struct {
	lo, scale float64 // cell = (x-lo)·scale; scale < 0 marks a category
	top       float64 // gridCells-1
	// table[i] is the bin of the lowest value that can map to cell i:
	// never above the bin of any value in it.
	table [gridCells]uint8
	// cuts[b] is the lower bound of bin b+1: the edges, then the smallest
	// float above Max; NaN after the last, which stops the walk (no value
	// is at or above NaN).
	cuts [16]float64
}

const gridCells = 512

func newGridBins(f *Feature) gridBins {
	g := gridBins{top: gridCells - 1}
	for i := range g.cuts {
		g.cuts[i] = math.NaN()
	}
	copy(g.cuts[:], f.Edges)
	last := math.Nextafter(f.Max, math.Inf(1))
	g.cuts[len(f.Edges)] = last
	g.lo = g.cuts[0]
	width := last - g.lo
	g.scale = gridCells / width
	// A grid finer than the floats around it cannot place a value in its
	// cell reliably: then every value starts at cell 0 and walks the cuts.
	top := max(math.Abs(g.lo), math.Abs(last))
	ulp := math.Nextafter(top, math.Inf(1)) - top
	if !(width/gridCells > 1e6*ulp) || math.IsInf(g.scale, 0) || math.IsNaN(g.scale) {
		g.scale = 0
	}
	if g.scale > 0 {
		margin := 1e-3 / g.scale // a thousandth of a cell: far above rounding error
		for i := range g.table {
			g.table[i] = uint8(Bin(f.Edges, f.Max, g.lo+float64(i)/g.scale-margin))
		}
	}
	return g
}

// bin returns Bin(x) for the grid's feature.
func (g *gridBins) bin(x float64) int {
	t := (x - g.lo) * g.scale
	if !(t >= 0) { // below the grid, or NaN
		t = 0
	}
	if t > g.top {
		t = g.top
	}
	b := int(g.table[int(t)&(gridCells-1)])
	for x >= g.cuts[b&15] {
		b++
	}
	return b
}

// Bin returns the bin of x among edges and max: 0 below edges[0], one per
// edge, len(edges)+1 above max; NaN falls in bin 0. It has no
// data-dependent branch, so values in random order cost no mispredictions.
func Bin(edges []float64, max, x float64) int {
	n := 0
	for _, e := range edges {
		if e <= x {
			n++
		}
	}
	if x > max {
		n++
	}
	return n
}
