package mlservice

// Drift: does live traffic still look like the training data? The trainer
// records each feature's training distribution (a Distribution: decile
// edges and the training rows in each bin); a server counts the rows it
// predicts into the same bins (a driftCounter) and compares the two with
// the population stability index (PSI), and the served positive rate with
// the training one.

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// MinDriftRows is how many rows must be counted before PSI is reported.
// With the 12 bins of a decile distribution, PSI between two samples of
// one population is about 11/rows on average (the sampling noise of the
// bins): 0.01 at 1000 rows, far below the 0.1 that reads as a shift.
const MinDriftRows = 1000

// PSIEpsilon is the smallest proportion PSI gives a bin: a bin empty on one
// side (as the below-minimum and above-maximum bins always are in training)
// counts as this share instead of zero, so it adds a large but finite term
// rather than an infinite one, and a bin empty on both sides adds nothing.
const PSIEpsilon = 1e-4

// DriftProfile is what the trainer records of its training rows for drift:
// each feature's distribution and the share of class 1. It is part of a
// version's metadata; a version written before it has none, and a store
// serving it reports drift as unavailable.
type DriftProfile struct {
	PositiveRate float64               `json:"positive_rate"`
	Features     []FeatureDistribution `json:"features"`
}

// FeatureDistribution is one feature's training distribution, named and
// typed as in the schema. Number and binary features have decile bins (a
// 0/1 feature gets the bins 0 and 1, and the two outer bins that stay
// empty). A category feature has no edges: Counts has one count per
// category, in Categories' order, and a last for values outside them
// (those a feature with unknown "ignore" lets through).
type FeatureDistribution struct {
	Name string `json:"name"`
	Type string `json:"type"` // TypeNumber, TypeBinary or TypeCategory
	Distribution
	Categories []string `json:"categories,omitempty"`
}

// newDriftProfile returns the profile of training columns: cols[j] holds
// feature names[j] of every row, types[j] its type, and y the targets.
func newDriftProfile(names, types []string, cols [][]float64, y []uint8) *DriftProfile {
	p := &DriftProfile{Features: make([]FeatureDistribution, len(cols))}
	var wg sync.WaitGroup
	for j, col := range cols { // columns are independent: one goroutine each
		wg.Go(func() {
			p.Features[j] = FeatureDistribution{Name: names[j], Type: types[j], Distribution: NewDistribution(col)}
		})
	}
	wg.Wait()
	pos := 0
	for _, v := range y {
		pos += int(v)
	}
	if len(y) > 0 {
		p.PositiveRate = float64(pos) / float64(len(y))
	}
	return p
}

// Distribution is one number feature's training distribution: the bins are
// cut at the training minimum and the distinct deciles, and Counts holds
// the training rows in each. The first and last bins hold the values below
// the training minimum and above the training maximum, so a feature that
// moves out of its training range shows even when the deciles cannot.
type Distribution struct {
	// Edges are the lower bounds of the in-range bins, ascending and
	// distinct: the training minimum, then each decile above it.
	Edges []float64 `json:"edges"`
	// Max is the training maximum: the upper bound (included) of the last
	// in-range bin.
	Max float64 `json:"max"`
	// Counts has len(Edges)+2 entries: the rows below Edges[0]; then for
	// each i the rows in [Edges[i], Edges[i+1]), the last of these ending
	// at Max included; then the rows above Max. For a column of more than
	// 65,536 rows they are the rows of an evenly strided sample of that many.
	Counts []uint64 `json:"counts"`
}

// NewDistribution returns the distribution of values, a training column of
// finite numbers. Deciles are taken by lower nearest rank, so every edge
// is a value of the column; a column of few distinct values (a 0/1 flag, a
// small count) gets fewer, unequal bins, whose training counts say how
// full each is.
//
// A column longer than edgeSample values is profiled from an evenly
// strided sample of that many: its deciles (within about half a percentile
// of the exact ones) and its counts, which then sum to edgeSample. PSI
// compares proportions, and those of 65,536 rows are within a fraction of
// a percent of the column's. Sorting and binning every row cost a quarter
// of a 1M-row training run. The minimum and maximum are exact.
func NewDistribution(values []float64) Distribution {
	if len(values) == 0 {
		return Distribution{Counts: make([]uint64, 2)}
	}
	sample := sampleOf(values)
	slices.Sort(sample)
	lo, hi := sample[0], sample[len(sample)-1]
	if len(sample) < len(values) {
		lo, hi = values[0], values[0]
		for _, x := range values { // one pass for both; values are finite
			if x < lo {
				lo = x
			}
			if x > hi {
				hi = x
			}
		}
	}
	n := len(sample)
	d := Distribution{Max: hi, Edges: []float64{lo}}
	for k := 1; k < 10; k++ {
		if e := sample[k*(n-1)/10]; e > d.Edges[len(d.Edges)-1] {
			d.Edges = append(d.Edges, e)
		}
	}
	d.Counts = make([]uint64, d.Bins())
	for _, x := range sample {
		d.Counts[d.Bin(x)]++
	}
	return d
}

// edgeSample is how many values NewDistribution sorts at most.
const edgeSample = 1 << 16

// sampleOf returns a copy of values, or of an evenly strided edgeSample of
// them when there are more.
func sampleOf(values []float64) []float64 {
	if len(values) <= edgeSample {
		return slices.Clone(values)
	}
	out := make([]float64, edgeSample)
	step := float64(len(values)) / edgeSample
	for i := range out {
		out[i] = values[int(float64(i)*step)]
	}
	return out
}

// Bins returns the number of bins, len(Edges)+2.
func (d *Distribution) Bins() int { return len(d.Edges) + 2 }

// Bin returns the bin of x: 0 below the training minimum, Bins()-1 above
// the maximum. NaN falls in bin 0 (Predict refuses it before counting).
// It has no data-dependent branch, so values in random order cost no
// mispredictions.
func (d *Distribution) Bin(x float64) int {
	n := 0
	for _, e := range d.Edges {
		if e <= x {
			n++
		}
	}
	if x > d.Max {
		n++
	}
	return n
}

// check reports whether d is well formed: edges finite, ascending and
// distinct, Max finite and not below the last edge, one count per bin.
func (d *Distribution) check() error {
	for i, e := range d.Edges {
		if math.IsNaN(e) || math.IsInf(e, 0) || (i > 0 && e <= d.Edges[i-1]) {
			return fmt.Errorf("edges %v are not finite, ascending and distinct", d.Edges)
		}
	}
	if math.IsNaN(d.Max) || math.IsInf(d.Max, 0) || (len(d.Edges) > 0 && d.Max < d.Edges[len(d.Edges)-1]) {
		return fmt.Errorf("max %v is below the last edge or not finite", d.Max)
	}
	if len(d.Counts) != d.Bins() {
		return fmt.Errorf("%d counts for %d bins", len(d.Counts), d.Bins())
	}
	return nil
}

// PSI returns the population stability index of actual against expected,
// counts of the same bins: Σ (a−e)·ln(a/e) over the bins' proportions,
// each at least PSIEpsilon. 0 means the same shape; by the usual reading
// below 0.1 is stable, 0.1 to 0.25 a moderate shift and above 0.25 a
// large one. It is NaN when either side has no rows or the lengths differ.
func PSI(expected, actual []uint64) float64 {
	if len(expected) != len(actual) {
		return math.NaN()
	}
	var te, ta uint64
	for i := range expected {
		te += expected[i]
		ta += actual[i]
	}
	if te == 0 || ta == 0 {
		return math.NaN()
	}
	psi := 0.0
	for i := range expected {
		e := max(float64(expected[i])/float64(te), PSIEpsilon)
		a := max(float64(actual[i])/float64(ta), PSIEpsilon)
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

// FeatureDrift is one feature's live counts against its training
// distribution.
type FeatureDrift struct {
	Name string `json:"name"`
	Type string `json:"type"` // "number", "binary" or "category"
	// Edges and Max are a number's bins (see Distribution); Categories a
	// category's, one per category and a last for any other value.
	Edges      []float64 `json:"edges,omitempty"`
	Max        float64   `json:"max"`
	Categories []string  `json:"categories,omitempty"`
	Training   []uint64  `json:"training_counts"`
	Live       []uint64  `json:"live_counts"`
	// PSI of Live against Training; nil until MinDriftRows rows are
	// counted.
	PSI *float64 `json:"psi"`
}

// DriftReport is what a driftCounter has counted since it was made: since
// the serving version loaded.
type DriftReport struct {
	ModelVersionID string `json:"model_version_id"`
	// Available is false for a version whose metadata has no drift
	// profile (trained before drift was recorded) or when the store was
	// opened with DisableDrift; Reason says which, and nothing is counted.
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
	// Rows are the rows counted: every row predicted for the first
	// ExactRows, then a random one in SampleEvery (see Sampling).
	Rows      uint64 `json:"rows"`
	Positives uint64 `json:"positives"` // rows predicted as class 1
	// PositiveRate is Positives/Rows; nil before any row.
	PositiveRate         *float64 `json:"positive_rate"`
	TrainingPositiveRate float64  `json:"training_positive_rate"`
	MinRows              int      `json:"min_rows"`     // MinDriftRows
	ExactRows            int      `json:"exact_rows"`   // DriftExactRows
	SampleEvery          int      `json:"sample_every"` // see DriftSampleEvery
	// Sampling says the rule in words: "every row for the first 10000,
	// then 1 in 4 at random".
	Sampling string         `json:"sampling"`
	Features []FeatureDrift `json:"features"`
}

// DriftExactRows is how many predicted rows a version counts one by one
// after it loads; after them it counts one in DriftSampleEvery (more for
// wide tables), drawn at random. Counting a row of the seed's five
// features costs about 23 ns (two atomic adds and five lookups), more than
// the ≤15 ns drift may add to Predict; a draw costs about 1. The draw is
// independent of the row, so the counted rows are a uniform sample of
// those predicted and PSI, built on proportions, needs no scaling: at 3000
// rows PSI has every row, and past 10000 its sampling noise (about
// 11/rows, see MinDriftRows) is already below 0.003.
const (
	DriftExactRows   = 10000
	DriftSampleEvery = 4
)

// sampleEvery returns the sampling rate of a counter of n features:
// DriftSampleEvery, or for wider rows the power of two at or above n/2, so
// that a row costs about as much as the seed's whatever its width (a
// counted row costs about 4 ns a feature; 33 features sample 1 in 16).
func sampleEvery(n int) uint32 {
	k := uint32(DriftSampleEvery)
	for int(k) < n/2 {
		k *= 2
	}
	return k
}

// driftCounter counts predicted rows into the bins of one version's
// training distributions, from any number of goroutines, with no lock.
//
// Counts are kept per shard (a power of two, about one per P), each a flat
// array of atomic counters; a row's shard follows its goroutine (see
// stackShard), so concurrent rows rarely touch the same cache line. To make a row cost few atomic adds, features are
// counted jointly in groups: a group of up to three decile features (with
// the predicted label in the last group) has one counter per combination
// of bins, at most maxGroupCells, and a row adds one to one counter per
// group. Each feature's counts are the marginals of its group, summed when
// a report is made. Memory is fixed when the counter is made: about 16 KiB
// per shard for the seed's five features.
type driftCounter struct {
	names []string
	types []string
	// dists are the training distributions; a category feature's has
	// only Counts, one per category and the unknown bin last.
	dists      []Distribution
	categories [][]string // per feature; nil for numbers
	bins       []int      // per feature
	grids      []gridBins // per number feature, for Observe
	catIx      []catIndex // per category feature, after the numbers
	strides    []int      // per feature: its stride in its group
	// groupEnds[g] is the first feature after group g; the label is in
	// the last group, at labelStride.
	groupEnds   []int
	labelStride int
	baseRate    float64
	groups      []driftGroup
	cells       int // counters per shard
	shards      []driftShard
	mask        uint32
	// exact counts down the rows still counted one by one; at zero or
	// below, rows are sampled. Racing goroutines may take it a little
	// below zero: a few more rows counted, never fewer.
	exact atomic.Int64
	_     [56]byte // exact alone on its cache line: only the first rows write it
	// sampleMask is the sampling rate less one (a power of two).
	sampleMask uint32
}

// maxGroupCells bounds the counters of one group of features: three of 12
// bins (1728). The label doubles the last group's.
const maxGroupCells = 2048

// maxCategoryBins bounds the categories of a feature that drift counts: a
// shard holds at least one counter per category and the label.
const maxCategoryBins = 4096

// maxDriftShards bounds the shards whatever GOMAXPROCS is.
const maxDriftShards = 64

// binCuts is a Distribution compiled for Observe: the lower bound of each
// bin after the first (the edges, then the smallest float above Max),
// padded to 12 with NaN, which no value is at or above. A bin is the count
// of cuts at or below x, twelve independent compares with no branch: about
// 4 ns a feature, where a branch-free binary search took 5.5 (each of its
// steps waits for the last) and Distribution.Bin's loop 6.
type binCuts [maxCutBins - 1]float64

// maxCutBins is the most bins binCuts can hold: a decile distribution has
// at most 12 (10 edges).
const maxCutBins = 13

func newBinCuts(d *Distribution) binCuts {
	var c binCuts
	for i := range c {
		c[i] = math.NaN()
	}
	copy(c[:], d.Edges)
	c[len(d.Edges)] = math.Nextafter(d.Max, math.Inf(1))
	return c
}

// bin returns Distribution.Bin(x).
func (c *binCuts) bin(x float64) int {
	return (b2i(c[0] <= x) + b2i(c[1] <= x) + b2i(c[2] <= x) + b2i(c[3] <= x)) +
		(b2i(c[4] <= x) + b2i(c[5] <= x) + b2i(c[6] <= x) + b2i(c[7] <= x)) +
		(b2i(c[8] <= x) + b2i(c[9] <= x) + b2i(c[10] <= x) + b2i(c[11] <= x))
}

// b2i is 1 for true; the compiler makes it a SETcc, not a branch.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// gridBins is a Distribution compiled for Observe as a lookup table: a
// uniform grid of gridCells cells from the first cut to the last maps x to
// the bin its cell starts in with one multiply and one load, and a compare
// with the next cut moves it on when the cell straddles one (rarely: 10
// edges in 512 cells). About 1 ns a feature where binCuts' twelve compares
// take 4.
type gridBins struct {
	lo, scale float64 // cell = (x-lo)·scale
	top       float64 // gridCells-1
	// table[i] is the bin of the lowest value that can map to cell i:
	// never above the bin of any value in it.
	table [gridCells]uint8
	// cuts[b] is the lower bound of bin b+1 (binCuts), NaN after the last,
	// which stops the walk: no value is at or above NaN.
	cuts [16]float64
}

const gridCells = 512

func newGridBins(d *Distribution) gridBins {
	g := gridBins{top: gridCells - 1}
	bc := newBinCuts(d)
	for i := range g.cuts {
		g.cuts[i] = math.NaN()
	}
	copy(g.cuts[:], bc[:])
	last := bc[len(d.Edges)]
	g.lo = bc[0]
	width := last - g.lo
	g.scale = gridCells / width
	// A grid finer than the floats around it cannot place a value in its
	// cell reliably: then every value starts at cell 0 and walks the cuts.
	ulp := math.Nextafter(max(math.Abs(g.lo), math.Abs(last)), math.Inf(1)) - max(math.Abs(g.lo), math.Abs(last))
	if !(width/gridCells > 1e6*ulp) || math.IsInf(g.scale, 0) || math.IsNaN(g.scale) {
		g.scale = 0
	}
	if g.scale > 0 {
		margin := 1e-3 / g.scale // a thousandth of a cell: far above rounding error
		for i := range g.table {
			g.table[i] = uint8(d.Bin(g.lo + float64(i)/g.scale - margin))
		}
	}
	return g
}

// bin returns Distribution.Bin(x).
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

type driftGroup struct {
	offset  int
	members []driftMember
}

// driftMember is a feature (or, with feature -1, the label) in a group:
// its bin times stride is its part of the cell index.
type driftMember struct {
	feature int
	stride  int
	bins    int
}

type driftShard struct {
	counts []atomic.Uint64
	_      [64 - 24]byte // the slice header alone on its cache line
}

// newDriftCounter returns a counter for rows of len(dists) number
// features, named by names, whose training data had a share baseRate of
// class 1. The distributions must be well formed (see
// Distribution.check).
func newDriftCounter(names []string, dists []Distribution, baseRate float64) (*driftCounter, error) {
	if len(names) != len(dists) {
		return nil, fmt.Errorf("drift counter: %d names for %d distributions", len(names), len(dists))
	}
	fs := make([]FeatureDistribution, len(names))
	for i := range fs {
		fs[i] = FeatureDistribution{Name: names[i], Type: TypeNumber, Distribution: dists[i]}
	}
	return newCounter(fs, baseRate)
}

// newCounter returns a counter for rows of the features fs: the number and
// binary ones first, then the category ones, as a Row holds them.
func newCounter(fs []FeatureDistribution, baseRate float64) (*driftCounter, error) {
	c := &driftCounter{baseRate: baseRate}
	for _, f := range fs {
		d := f.Distribution
		if f.Type != TypeCategory {
			if len(c.catIx) > 0 {
				return nil, fmt.Errorf("drift counter: number feature %s after a category feature", f.Name)
			}
			if err := d.check(); err != nil {
				return nil, fmt.Errorf("drift counter: feature %s: %w", f.Name, err)
			}
			if d.Bins() > maxCutBins {
				return nil, fmt.Errorf("drift counter: feature %s has %d bins, at most %d are counted", f.Name, d.Bins(), maxCutBins)
			}
			c.grids = append(c.grids, newGridBins(&d))
			c.bins = append(c.bins, d.Bins())
		} else {
			if len(d.Counts) != len(f.Categories)+1 || len(d.Edges) != 0 {
				return nil, fmt.Errorf("drift counter: category feature %s: %d counts for %d categories and the unknown bin",
					f.Name, len(d.Counts), len(f.Categories))
			}
			if len(f.Categories) > maxCategoryBins {
				return nil, fmt.Errorf("drift counter: category feature %s has %d categories, at most %d are counted",
					f.Name, len(f.Categories), maxCategoryBins)
			}
			ix := newCatIndex(f.Categories)
			for code, v := range f.Categories {
				if got, _ := ix.lookup(v); got != int32(code) {
					return nil, fmt.Errorf("drift counter: category feature %s lists %q twice", f.Name, v)
				}
			}
			c.catIx = append(c.catIx, ix)
			c.bins = append(c.bins, len(d.Counts))
		}
		c.names = append(c.names, f.Name)
		c.types = append(c.types, f.Type)
		c.dists = append(c.dists, d)
		c.categories = append(c.categories, slices.Clone(f.Categories))
	}
	// Pack features into groups in order, the label last.
	var g *driftGroup
	size := 0
	add := func(feature, bins int) {
		// The label always joins the last group: Observe adds it there.
		if g == nil || (feature >= 0 && size*bins > maxGroupCells) {
			if g != nil {
				c.cells += size
			}
			c.groups = append(c.groups, driftGroup{offset: c.cells})
			g, size = &c.groups[len(c.groups)-1], 1
		}
		g.members = append(g.members, driftMember{feature: feature, stride: size, bins: bins})
		size *= bins
	}
	for i := range c.bins {
		add(i, c.bins[i])
	}
	add(-1, 2)
	c.cells += size
	c.strides = make([]int, len(c.bins))
	for gi, g := range c.groups {
		for _, m := range g.members {
			if m.feature < 0 {
				c.labelStride = m.stride
			} else {
				c.strides[m.feature] = m.stride
			}
		}
		end := len(c.dists)
		if gi+1 < len(c.groups) {
			end = c.groups[gi+1].members[0].feature
		}
		c.groupEnds = append(c.groupEnds, end)
	}
	n := 1
	for n < min(runtime.GOMAXPROCS(0), maxDriftShards) {
		n *= 2
	}
	c.shards = make([]driftShard, n)
	for i := range c.shards {
		c.shards[i].counts = make([]atomic.Uint64, c.cells)
	}
	c.mask = uint32(n - 1)
	c.exact.Store(DriftExactRows)
	c.sampleMask = sampleEvery(len(c.bins)) - 1
	return c, nil
}

// observe counts a predicted row as the sampling rule says: every row for
// the first DriftExactRows, then one in DriftSampleEvery at random.
func (c *driftCounter) observe(x []float64, label int) {
	if c.exact.Load() > 0 {
		c.exact.Add(-1)
	} else if cheaprand()&c.sampleMask != 0 {
		return
	}
	c.Observe(x, label)
}

// observeRow counts a row of a declared schema's table (as Store.PredictRow
// takes it), sampled as observe. The row has passed predictRow, so it has
// the counter's numbers and categories.
func (c *driftCounter) observeRow(r *Row, label int) {
	if c.exact.Load() > 0 {
		c.exact.Add(-1)
	} else if cheaprand()&c.sampleMask != 0 {
		return
	}
	nums, cats := r.Numbers[:len(c.grids)], r.Categories[:len(c.catIx)]
	counts := c.shards[stackShard()&c.mask].counts
	ends := c.groupEnds
	g, cell := 0, 0
	for f := range c.bins {
		if f == ends[g] {
			counts[cell].Add(1)
			g++
			cell = c.groups[g].offset
		}
		var b int
		if f < len(nums) {
			b = c.grids[f].bin(nums[f])
		} else if code, ok := c.catIx[f-len(nums)].lookup(cats[f-len(nums)]); ok {
			b = int(code)
		} else {
			b = c.bins[f] - 1 // the unknown bin
		}
		cell += b * c.strides[f]
	}
	cell += (label & 1) * c.labelStride
	counts[cell].Add(1)
}

// cheaprand is the runtime's per-thread wyrand, about a nanosecond where
// math/rand/v2's Uint32 takes five (its ChaCha8 refills show in a
// profile of Predict). Not for secrets: here it only picks the rows drift
// counts, independently of what is in them. The runtime keeps its
// signature for packages that link to it (go.dev/issue/67401).
//
//go:linkname cheaprand runtime.cheaprand
func cheaprand() uint32

// Observe counts one predicted row: x holds its features in the counter's
// order and label is the predicted class (0 or 1). It takes no lock and
// allocates nothing.
func (c *driftCounter) Observe(x []float64, label int) {
	counts := c.shards[stackShard()&c.mask].counts
	grids := c.grids
	x = x[:len(grids)] // one bounds check for the loop
	strides := c.strides[:len(grids)]
	ends := c.groupEnds
	g := 0
	cell := 0 // the first group's offset
	for f := range grids {
		if f == ends[g] { // features are grouped in order
			counts[cell].Add(1)
			g++
			cell = c.groups[g].offset
		}
		cell += grids[f].bin(x[f]) * strides[f]
	}
	cell += (label & 1) * c.labelStride
	counts[cell].Add(1)
}

// stackShard picks a shard for the calling goroutine from the address of
// its stack: goroutines (a server's connections) spread over the shards, a
// goroutine keeps to one, and it costs no shared state and about a
// nanosecond, where math/rand/v2 takes six. A stack that moves when it
// grows only moves the goroutine to another shard.
//
//go:noinline
func stackShard() uint32 {
	var local byte
	p := uintptr(unsafe.Pointer(&local))
	return uint32(p>>13) ^ uint32(p>>21)
}

// Report sums the shards and returns the counts so far with each
// feature's PSI. Rows counted while it runs may be in some features'
// counts and not yet in others'.
func (c *driftCounter) Report() DriftReport {
	total := make([]uint64, c.cells)
	for i := range c.shards {
		for j := range total {
			total[j] += c.shards[i].counts[j].Load()
		}
	}
	r := DriftReport{Available: true, TrainingPositiveRate: c.baseRate, MinRows: MinDriftRows,
		ExactRows: DriftExactRows, SampleEvery: int(c.sampleMask + 1),
		Sampling: fmt.Sprintf("every row for the first %d, then 1 in %d at random", DriftExactRows, c.sampleMask+1),
		Features: make([]FeatureDrift, len(c.dists))}
	for i := range c.dists {
		d := &c.dists[i]
		r.Features[i] = FeatureDrift{Name: c.names[i], Type: c.types[i], Edges: slices.Clone(d.Edges), Max: d.Max,
			Categories: slices.Clone(c.categories[i]), Training: slices.Clone(d.Counts), Live: make([]uint64, c.bins[i])}
	}
	for _, g := range c.groups {
		size := 1
		for _, m := range g.members {
			size *= m.bins
		}
		for cell := range size {
			n := total[g.offset+cell]
			if n == 0 {
				continue
			}
			for _, m := range g.members {
				bin := cell / m.stride % m.bins
				if m.feature < 0 {
					r.Rows += n
					if bin == 1 {
						r.Positives += n
					}
				} else {
					r.Features[m.feature].Live[bin] += n
				}
			}
		}
	}
	if r.Rows > 0 {
		rate := float64(r.Positives) / float64(r.Rows)
		r.PositiveRate = &rate
	}
	if r.Rows >= MinDriftRows {
		for i := range r.Features {
			psi := PSI(r.Features[i].Training, r.Features[i].Live)
			r.Features[i].PSI = &psi
		}
	}
	return r
}

// newProfileCounter returns a counter for a version's drift profile, or nil
// and why drift is unavailable.
func newProfileCounter(p *DriftProfile) (*driftCounter, string) {
	if p == nil {
		return nil, "this version was trained before drift was recorded: its metadata has no training distributions"
	}
	c, err := newCounter(p.Features, p.PositiveRate)
	if err != nil {
		return nil, "this version's drift profile cannot be counted: " + err.Error()
	}
	return c, ""
}

// Drift reports what the serving version has counted since it loaded, or
// ErrNotReady. A version without a drift profile gives a report with
// Available false and the reason. It sums the counters' shards (a few
// hundred KiB at most): cheap enough per request.
func (s *Store) Drift() (*DriftReport, error) {
	v := s.serving.Load()
	if v == nil {
		return nil, ErrNotReady
	}
	if v.drift == nil {
		reason := v.driftOff
		if s.opts.DisableDrift {
			reason = "drift is turned off (StoreOptions.DisableDrift)"
		}
		return &DriftReport{ModelVersionID: v.id, Reason: reason, MinRows: MinDriftRows,
			TrainingPositiveRate: v.meta.trainingPositiveRate()}, nil
	}
	r := v.drift.Report()
	r.ModelVersionID = v.id
	return &r, nil
}

// trainingPositiveRate is the share of class 1 in the training file.
func (m *Metadata) trainingPositiveRate() float64 {
	if m.Drift != nil {
		return m.Drift.PositiveRate
	}
	if n := m.Data.ClassCounts[0] + m.Data.ClassCounts[1]; n > 0 {
		return float64(m.Data.ClassCounts[1]) / float64(n)
	}
	return 0
}

// observeDrift counts a row predicted by v, unless drift is off for it.
func (v *servingVersion) observeDrift(f *Features, label int) {
	if c := v.drift; c != nil {
		x := [NumFeatures]float64{f.Age, f.Income, f.AccountBalance, f.TransactionsLast30d, f.IsPremium}
		c.observe(x[:], label)
	}
}

// defaultFeatureTypes returns the types of the default schema's features,
// in FeatureNames order.
func defaultFeatureTypes() []string {
	fs := defaultSchema().Features
	types := make([]string, len(fs))
	for i, f := range fs {
		types[i] = f.Type
	}
	return types
}

// clone copies p deeply; nil stays nil.
func (p *DriftProfile) clone() *DriftProfile {
	if p == nil {
		return nil
	}
	c := &DriftProfile{PositiveRate: p.PositiveRate, Features: slices.Clone(p.Features)}
	for i := range c.Features {
		d := &c.Features[i].Distribution
		d.Edges, d.Counts = slices.Clone(d.Edges), slices.Clone(d.Counts)
		c.Features[i].Categories = slices.Clone(c.Features[i].Categories)
	}
	return c
}

// newTableProfile returns the drift profile of a declared schema's table:
// its number and binary features (decile bins), then its category
// features (a count per category and one for other values), as a Row
// orders them.
func newTableProfile(ds *Dataset) *DriftProfile {
	s := ds.Schema
	p := &DriftProfile{}
	k := 0
	for _, f := range s.Features {
		if f.Type != TypeCategory {
			p.Features = append(p.Features, FeatureDistribution{Name: f.Name, Type: f.Type, Distribution: NewDistribution(ds.Num[k])})
			k++
		}
	}
	k = 0
	for _, f := range s.Features {
		if f.Type == TypeCategory {
			counts := make([]uint64, len(f.Categories)+1)
			for _, code := range ds.Cat[k] {
				if code >= 0 && int(code) < len(f.Categories) {
					counts[code]++
				} else {
					counts[len(f.Categories)]++
				}
			}
			p.Features = append(p.Features, FeatureDistribution{Name: f.Name, Type: f.Type,
				Distribution: Distribution{Counts: counts}, Categories: slices.Clone(f.Categories)})
			k++
		}
	}
	pos := 0
	for _, v := range ds.Y {
		pos += int(v)
	}
	if len(ds.Y) > 0 {
		p.PositiveRate = float64(pos) / float64(len(ds.Y))
	}
	return p
}

// tableCounter returns a counter for a declared schema's version, or nil
// and why drift is unavailable: the profile must name the schema's
// features in a Row's order.
func tableCounter(p *DriftProfile, s *Schema) (*driftCounter, string) {
	if p == nil {
		return newProfileCounter(nil)
	}
	var want []string
	for _, cat := range []bool{false, true} {
		for _, f := range s.Features {
			if (f.Type == TypeCategory) == cat {
				want = append(want, f.Name+" "+f.Type)
			}
		}
	}
	var got []string
	for _, f := range p.Features {
		got = append(got, f.Name+" "+f.Type)
	}
	if !slices.Equal(got, want) {
		return nil, fmt.Sprintf("this version's drift profile has features %s, its schema %s",
			truncate(fmt.Sprint(got), 200), truncate(fmt.Sprint(want), 200))
	}
	return newProfileCounter(p)
}

// observeTableDrift counts a row of a declared schema predicted by v.
func (v *servingVersion) observeTableDrift(r *Row, label int) {
	if c := v.drift; c != nil {
		c.observeRow(r, label)
	}
}
