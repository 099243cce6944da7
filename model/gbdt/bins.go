package gbdt

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// binSample caps the values sorted to find one feature's quantile cuts: an
// evenly strided sample keeps the cuts within a fraction of a bin of the
// exact quantiles and the sort off the profile at a million rows.
const binSample = 1 << 18

// featureBins maps one feature's values to histogram bins. A number with
// len(cuts) cuts has len(cuts)+1 value bins, bin b holding cuts[b-1] ≤ x <
// cuts[b], then a missing bin. A category has one bin per level, one for
// the ignored value -1, and a missing bin.
type featureBins struct {
	categorical bool
	cuts        []float64
	levels      int
	offset      int // of this feature's first bin in a node histogram
}

// count is the feature's number of bins, missing included.
func (fb *featureBins) count() int {
	if fb.categorical {
		return fb.levels + 2
	}
	return len(fb.cuts) + 2
}

func (fb *featureBins) missingBin() int { return fb.count() - 1 }

// unknownBin is the bin of a category value -1; numbers have none.
func (fb *featureBins) unknownBin() int { return fb.levels }

// bin maps a value to its bin; the value was checked by binColumn.
func (fb *featureBins) bin(x float64) int {
	if x != x {
		return fb.missingBin()
	}
	if fb.categorical {
		if x < 0 {
			return fb.unknownBin()
		}
		return int(x)
	}
	lo, hi := 0, len(fb.cuts) // first cut > x
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if fb.cuts[mid] > x {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// quantileCuts finds at most maxBins-1 cuts between the distinct values of
// sorted, so that each bin holds about len(sorted)/maxBins values and equal
// values share a bin. A cut lies strictly above the value below it and at
// most the value above it, so x < cut puts both where the histogram did.
func quantileCuts(sorted []float64, maxBins int) []float64 {
	type run struct {
		v float64
		n int
	}
	var runs []run
	for i, v := range sorted {
		if i > 0 && v == sorted[i-1] {
			runs[len(runs)-1].n++
			continue
		}
		runs = append(runs, run{v, 1})
	}
	if len(runs) < 2 {
		return nil
	}
	cuts := make([]float64, 0, min(len(runs)-1, maxBins-1))
	if len(runs) <= maxBins {
		for k := 0; k+1 < len(runs); k++ {
			cuts = append(cuts, midpoint(runs[k].v, runs[k+1].v))
		}
		return cuts
	}
	per := float64(len(sorted)) / float64(maxBins)
	acc, next := 0, 1
	for k := 0; k+1 < len(runs) && len(cuts) < maxBins-1; k++ {
		acc += runs[k].n
		if float64(acc) >= float64(next)*per {
			cuts = append(cuts, midpoint(runs[k].v, runs[k+1].v))
			for float64(acc) >= float64(next)*per {
				next++
			}
		}
	}
	return cuts
}

// midpoint returns m with a < m ≤ b for finite a < b.
func midpoint(a, b float64) float64 {
	m := a/2 + b/2
	if m <= a || m > b {
		return b
	}
	return m
}

// binned is the training rows in histogram form, row-major: row i's bin of
// feature j is at i*width+j, in bins8 when every feature has at most 256
// bins (half the memory traffic of a histogram pass) and in bins16
// otherwise. Bin b of feature j adds into a node histogram at
// features[j].offset+b.
type binned struct {
	features []featureBins
	bins8    []uint8
	bins16   []uint16
	// columns8 holds bins8 again feature by feature (feature j's at
	// j*rows), for the passes that read one feature of each row:
	// partitions touch a fifth of the cache lines on a 5-feature table.
	columns8 []uint8
	rows     int
	width    int
	total    int // bins of all features: a node histogram's length
}

// column8 returns feature j's bins, row by row (bins8 tables only).
func (b *binned) column8(j int) []uint8 { return b.columns8[j*b.rows : (j+1)*b.rows] }

// binColumns checks the selected rows of every column and bins them, one
// feature per goroutine. rows lists the selected row numbers of cols.
func binColumns(features []Feature, cols [][]float64, rows []int32, maxBins, workers int) (*binned, error) {
	d := len(features)
	b := &binned{features: make([]featureBins, d), width: d, rows: len(rows)}
	errs := make([]error, d)
	parallel(d, workers, func(j int) {
		errs[j] = b.cutColumn(j, features[j], cols[j], rows, maxBins)
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	wide := false
	for j := range b.features {
		b.features[j].offset = b.total
		b.total += b.features[j].count()
		wide = wide || b.features[j].count() > 256
	}
	if wide {
		b.bins16 = make([]uint16, len(rows)*d)
	} else {
		b.bins8 = make([]uint8, len(rows)*d)
		b.columns8 = make([]uint8, len(rows)*d)
	}
	parallel(d, workers, func(j int) {
		fb := &b.features[j]
		col := cols[j]
		if wide {
			for i, r := range rows {
				b.bins16[i*d+j] = uint16(fb.bin(col[r]))
			}
			return
		}
		column := b.columns8[j*len(rows) : (j+1)*len(rows)]
		for i, r := range rows {
			column[i] = uint8(fb.bin(col[r]))
			b.bins8[i*d+j] = column[i]
		}
	})
	return b, nil
}

// cutColumn checks feature j's values and finds its bins.
func (b *binned) cutColumn(j int, f Feature, col []float64, rows []int32, maxBins int) error {
	fb := &b.features[j]
	if f.Categorical {
		fb.categorical, fb.levels = true, f.Levels
		for _, r := range rows {
			x := col[r]
			if x == x && (x != math.Trunc(x) || x < -1 || x >= float64(f.Levels)) {
				return fmt.Errorf("feature %q, row %d: category code %v is not -1 or 0..%d", f.Name, r, x, f.Levels-1)
			}
		}
		return nil
	}
	step := max(1, len(rows)/binSample)
	sample := make([]float64, 0, len(rows)/step+1)
	for i, r := range rows {
		x := col[r]
		if math.IsInf(x, 0) {
			return fmt.Errorf("feature %q, row %d: value %v is not finite", f.Name, r, x)
		}
		if i%step == 0 && x == x {
			sample = append(sample, x)
		}
	}
	slices.Sort(sample)
	fb.cuts = quantileCuts(sample, maxBins)
	return nil
}

// parallel calls fn(0..n-1) on up to workers goroutines, the caller's
// among them: tasks are pulled one at a time, so when another tenant holds a
// core the caller does the work instead of waiting for a parked goroutine to
// be scheduled. Callers write results by index, so the outcome does not
// depend on the scheduling.
func parallel(n, workers int, fn func(i int)) {
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	work := func() {
		for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
			fn(i)
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Go(work)
	}
	work()
	wg.Wait()
}
