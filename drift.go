package mlservice

// Drift: does live traffic still look like the training data? The trainer
// records each feature's training distribution (a Distribution: decile
// edges and the training rows in each bin, or a count per category); a
// server counts the rows it predicts into the same bins (internal/
// driftcount) and compares the two with the population stability index
// (PSI), and the served positive rate with the training one.

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/mlservice/mlservice/internal/driftcount"
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

// newDriftProfile returns the drift profile of ds's rows, in the order a
// Row holds the features (the numbers, then the categories): decile bins
// for numbers and binaries, a count per category and one for other values
// for categories.
func newDriftProfile(ds *Dataset) *DriftProfile {
	s := ds.schema()
	cols := columnsOf(s)
	order := append(slices.Clone(cols.nums), cols.cats...)
	p := &DriftProfile{Features: make([]FeatureDistribution, len(order))}
	var wg sync.WaitGroup
	for k, j := range order {
		f, col := s.Features[j], ds.X[j]
		p.Features[k] = FeatureDistribution{Name: f.Name, Type: f.Type}
		if f.Type == TypeCategory {
			counts := make([]uint64, len(f.Categories)+1)
			for _, code := range col {
				if code >= 0 && int(code) < len(f.Categories) {
					counts[int(code)]++
				} else {
					counts[len(f.Categories)]++
				}
			}
			p.Features[k].Distribution = Distribution{Counts: counts}
			p.Features[k].Categories = slices.Clone(f.Categories)
			continue
		}
		wg.Go(func() { p.Features[k].Distribution = NewDistribution(col) }) // columns are independent
	}
	wg.Wait()
	pos := 0
	for _, v := range ds.Y {
		pos += int(v)
	}
	if len(ds.Y) > 0 {
		p.PositiveRate = float64(pos) / float64(len(ds.Y))
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
// finite numbers or NaN (missing: counted in bin 0, where Predict counts
// it, and left out of the edges). Deciles are taken by lower nearest rank,
// so every edge is a value of the column; a column of few distinct values
// (a 0/1 flag, a small count) gets fewer, unequal bins, whose training
// counts say how full each is.
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
	all := sampleOf(values)
	slices.Sort(all) // missing values (NaN) first
	k := slices.IndexFunc(all, func(x float64) bool { return !math.IsNaN(x) })
	if k < 0 { // every value missing: all in bin 0
		return Distribution{Edges: []float64{0}, Counts: []uint64{uint64(len(all)), 0, 0}}
	}
	sample := all[k:]
	lo, hi := sample[0], sample[len(sample)-1]
	if len(all) < len(values) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, x := range values { // one pass for both; NaN passes neither
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
	for _, x := range all { // a missing value in bin 0, as Predict counts it
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
func sampleEvery(n int) int {
	k := DriftSampleEvery
	for k < n/2 {
		k *= 2
	}
	return k
}

// driftCounter counts the rows a version predicts, in schema order, into
// the bins of its drift profile; reports list the features as a Row does.
type driftCounter struct {
	c        *driftcount.Counter
	features []FeatureDistribution // the profile's, in schema order
	order    []int                 // the features as a Row orders them
	baseRate float64
}

// observe counts a predicted row as the sampling rule says: every row for
// the first DriftExactRows, then one in sampleEvery at random. It takes no
// lock and allocates nothing.
func (d *driftCounter) observe(row []float64, label int) { d.c.Observe(row, label) }

// newDriftCounter returns a counter for a version's drift profile and its
// schema (compiled), or nil and why drift is unavailable. The profile's
// features are matched to the schema's by name: versions that recorded the
// numbers first and the categories after still count.
func newDriftCounter(p *DriftProfile, cols *columns) (*driftCounter, string) {
	if p == nil {
		return nil, "this version was trained before drift was recorded: its metadata has no training distributions"
	}
	byName := map[string]*FeatureDistribution{}
	var got, want []string
	for i := range p.Features {
		f := &p.Features[i]
		byName[f.Name] = f
		got = append(got, f.Name+" "+f.Type)
	}
	d := &driftCounter{baseRate: p.PositiveRate, order: append(slices.Clone(cols.nums), cols.cats...)}
	var counted []driftcount.Feature
	for _, f := range cols.schema.Features {
		want = append(want, f.Name+" "+f.Type)
		fd, ok := byName[f.Name]
		if !ok || fd.Type != f.Type {
			continue
		}
		if f.Type == TypeCategory {
			if len(fd.Counts) != len(f.Categories)+1 || len(fd.Edges) != 0 || !slices.Equal(fd.Categories, f.Categories) {
				return nil, fmt.Sprintf("this version's drift profile cannot be counted: category feature %s: %d counts for %d categories and the unknown bin, or other categories",
					f.Name, len(fd.Counts), len(f.Categories))
			}
			counted = append(counted, driftcount.Feature{Levels: len(f.Categories)})
		} else {
			if err := fd.check(); err != nil {
				return nil, fmt.Sprintf("this version's drift profile cannot be counted: feature %s: %v", f.Name, err)
			}
			counted = append(counted, driftcount.Feature{Edges: fd.Edges, Max: fd.Max})
		}
		d.features = append(d.features, *fd)
	}
	if len(d.features) != len(cols.schema.Features) || len(p.Features) != len(d.features) {
		return nil, fmt.Sprintf("this version's drift profile has features %s, its schema %s",
			truncate(fmt.Sprint(got), 200), truncate(fmt.Sprint(want), 200))
	}
	c, err := driftcount.New(counted, DriftExactRows, sampleEvery(len(counted)))
	if err != nil {
		return nil, "this version's drift profile cannot be counted: " + err.Error()
	}
	d.c = c
	return d, ""
}

// Report returns the counts so far with each feature's PSI. Rows counted
// while it runs may be in some features' counts and not yet in others'.
func (d *driftCounter) Report() DriftReport {
	live, rows, positives := d.c.Counts()
	every := d.c.SampleEvery()
	r := DriftReport{Available: true, TrainingPositiveRate: d.baseRate, MinRows: MinDriftRows,
		ExactRows: DriftExactRows, SampleEvery: every, Rows: rows, Positives: positives,
		Sampling: fmt.Sprintf("every row for the first %d, then 1 in %d at random", DriftExactRows, every),
		Features: make([]FeatureDrift, len(d.features))}
	for k, i := range d.order {
		f := &d.features[i]
		r.Features[k] = FeatureDrift{Name: f.Name, Type: f.Type, Edges: slices.Clone(f.Edges), Max: f.Max,
			Categories: slices.Clone(f.Categories), Training: slices.Clone(f.Counts), Live: live[i]}
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
