package mlservice

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewDistribution(t *testing.T) {
	seq := make([]float64, 100)
	for i := range seq {
		seq[len(seq)-1-i] = float64(i + 1) // 100..1: order does not matter
	}
	for _, tc := range []struct {
		name   string
		values []float64
		want   Distribution
	}{
		{"1 to 100", seq, Distribution{Edges: []float64{1, 10, 20, 30, 40, 50, 60, 70, 80, 90}, Max: 100,
			Counts: []uint64{0, 9, 10, 10, 10, 10, 10, 10, 10, 10, 11, 0}}},
		{"a 0/1 flag", []float64{1, 0, 0, 1, 0}, Distribution{Edges: []float64{0, 1}, Max: 1, Counts: []uint64{0, 3, 2, 0}}},
		{"constant", []float64{7, 7, 7}, Distribution{Edges: []float64{7}, Max: 7, Counts: []uint64{0, 3, 0}}},
		{"one value", []float64{-2.5}, Distribution{Edges: []float64{-2.5}, Max: -2.5, Counts: []uint64{0, 1, 0}}},
		{"empty", nil, Distribution{Counts: []uint64{0, 0}}},
		// Missing values (NaN) fall in bin 0, as Predict counts them.
		{"a flag with missing values", []float64{1, math.NaN(), 0, 1, math.NaN()}, Distribution{Edges: []float64{0, 1}, Max: 1, Counts: []uint64{2, 1, 2, 0}}},
		{"all missing", []float64{math.NaN(), math.NaN()}, Distribution{Edges: []float64{0}, Counts: []uint64{2, 0, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := NewDistribution(tc.values)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if err := got.check(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestDistributionBin(t *testing.T) {
	d := Distribution{Edges: []float64{0, 1, 5}, Max: 9, Counts: make([]uint64, 5)}
	for _, tc := range []struct {
		x    float64
		want int
	}{
		{-1, 0}, {math.Inf(-1), 0}, {math.NaN(), 0},
		{0, 1}, {0.999, 1}, {1, 2}, {4.9, 2}, {5, 3}, {9, 3},
		{9.0000001, 4}, {math.Inf(1), 4},
	} {
		if got := d.Bin(tc.x); got != tc.want {
			t.Errorf("Bin(%v) = %d, want %d", tc.x, got, tc.want)
		}
	}
}

func TestPSI(t *testing.T) {
	const tol = 1e-12
	same := PSI([]uint64{10, 20, 30}, []uint64{100, 200, 300})
	if math.Abs(same) > tol {
		t.Errorf("PSI of one shape = %v, want 0", same)
	}
	// Two bins, 50/50 against 80/20: 0.3·ln(1.6) + 0.3·ln(2.5).
	want := 0.3*math.Log(1.6) + 0.3*math.Log(2.5)
	if got := PSI([]uint64{50, 50}, []uint64{80, 20}); math.Abs(got-want) > tol {
		t.Errorf("PSI = %v, want %v", got, want)
	}
	// An empty bin counts as PSIEpsilon: finite.
	want = (0.5-1)*math.Log(0.5/1) + (0.5-PSIEpsilon)*math.Log(0.5/PSIEpsilon)
	if got := PSI([]uint64{10, 0, 0}, []uint64{5, 5, 0}); math.Abs(got-want) > tol {
		t.Errorf("PSI with an empty bin = %v, want %v", got, want)
	}
	for _, bad := range [][2][]uint64{{{1, 2}, {1}}, {{0, 0}, {1, 1}}, {{1, 1}, {0, 0}}, {nil, nil}} {
		if got := PSI(bad[0], bad[1]); !math.IsNaN(got) {
			t.Errorf("PSI(%v, %v) = %v, want NaN", bad[0], bad[1], got)
		}
	}
}

// profileOf returns the training distributions of a dataset's features and
// its share of class 1.
func profileOf(ds *Dataset) ([]Distribution, float64) {
	dists := make([]Distribution, NumFeatures)
	for j := range dists {
		dists[j] = NewDistribution(ds.X[j])
	}
	return dists, float64(ds.ClassCounts()[1]) / float64(ds.Len())
}

// newTestCounter is a drift counter for number features named names with
// the training distributions dists, as a version of such a schema makes.
func newTestCounter(names []string, dists []Distribution, base float64) (*driftCounter, error) {
	if len(names) != len(dists) {
		return nil, fmt.Errorf("%d names for %d distributions", len(names), len(dists))
	}
	s := &Schema{Name: "t", Version: "1", Target: SchemaTarget{Column: "y", Positive: "1", Negative: "0"}}
	p := &DriftProfile{PositiveRate: base}
	for i, name := range names {
		s.Features = append(s.Features, FeatureSpec{Name: name, Type: TypeNumber})
		p.Features = append(p.Features, FeatureDistribution{Name: name, Type: TypeNumber, Distribution: dists[i]})
	}
	c, why := newDriftCounter(p, compileColumns(s))
	if c == nil {
		return nil, errors.New(why)
	}
	return c, nil
}

// count counts a row whatever the sampling rule says.
func (d *driftCounter) count(row []float64, label int) { d.c.Count(row, label) }

func loadDay(t testing.TB, day string) *Dataset {
	t.Helper()
	ds, err := ValidateFile(context.Background(), "data/"+day)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// The acceptance test of drift: day 1 is the training distribution; 3000
// served rows of day 2 with age shifted by 40 years give age a PSI over
// 0.25 and every other feature under 0.1, and unshifted rows of day 2 and
// day 1 stay under 0.1 everywhere.
func TestDriftShiftedAge(t *testing.T) {
	train := loadDay(t, "day_01.csv")
	dists, base := profileOf(train)
	const rows = 3000
	for _, tc := range []struct {
		name     string
		traffic  *Dataset
		ageShift float64
	}{
		{"day 2, age + 40", loadDay(t, "day_02.csv"), 40},
		{"day 1 rows, age + 40", train, 40},
		{"day 2 as is", loadDay(t, "day_02.csv"), 0},
		{"day 1 rows as is", train, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := newTestCounter(FeatureNames[:], dists, base)
			if err != nil {
				t.Fatal(err)
			}
			positives := uint64(0)
			for i := range rows {
				// Spread over the file: the first rows of a day are no
				// different, but a sample should not depend on it.
				f := tc.traffic.Row(i * tc.traffic.Len() / rows)
				f.Age += tc.ageShift
				v := f.Vector()
				label := int(tc.traffic.Y[i*tc.traffic.Len()/rows])
				positives += uint64(label)
				c.count(v[:], label)
			}
			r := c.Report()
			if r.Rows != rows || r.Positives != positives || r.PositiveRate == nil || *r.PositiveRate != float64(positives)/rows {
				t.Fatalf("rows %d, positives %d (rate %v), want %d and %d", r.Rows, r.Positives, r.PositiveRate, rows, positives)
			}
			if r.TrainingPositiveRate != base {
				t.Errorf("training positive rate %v, want %v", r.TrainingPositiveRate, base)
			}
			for _, f := range r.Features {
				if f.PSI == nil {
					t.Fatalf("%s: no PSI after %d rows", f.Name, rows)
				}
				psi := *f.PSI
				t.Logf("%-22s PSI %.4f", f.Name, psi)
				shifted := f.Name == "age" && tc.ageShift != 0
				if shifted && !(psi > 0.25) {
					t.Errorf("%s shifted by %v: PSI %.4f, want > 0.25", f.Name, tc.ageShift, psi)
				}
				if !shifted && !(psi < 0.1) {
					t.Errorf("%s unshifted: PSI %.4f, want < 0.1", f.Name, psi)
				}
			}
		})
	}
}

func TestDriftReportBeforeMinRows(t *testing.T) {
	dists, base := profileOf(loadDay(t, "day_01.csv"))
	c, err := newTestCounter(FeatureNames[:], dists, base)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Report()
	if r.Rows != 0 || r.PositiveRate != nil || r.MinRows != MinDriftRows {
		t.Errorf("empty report: %+v", r)
	}
	for range MinDriftRows - 1 {
		c.count([]float64{40, 50000, 1000, 10, 1}, 1)
	}
	for _, f := range c.Report().Features {
		if f.PSI != nil {
			t.Errorf("%s has a PSI below %d rows", f.Name, MinDriftRows)
		}
	}
}

// Rows counted from many goroutines at once are all counted, in every
// feature (run with -race).
func TestDriftCounterConcurrent(t *testing.T) {
	train := loadDay(t, "day_01.csv")
	dists, base := profileOf(train)
	c, err := newTestCounter(FeatureNames[:], dists, base)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				f := train.Row((w*each + i) % train.Len())
				v := f.Vector()
				c.count(v[:], i&1)
			}
		})
	}
	stop := make(chan struct{})
	go func() { // reports while rows are counted
		for {
			select {
			case <-stop:
				return
			default:
				c.Report()
			}
		}
	}()
	wg.Wait()
	close(stop)
	r := c.Report()
	if r.Rows != workers*each || r.Positives != workers*each/2 {
		t.Fatalf("rows %d positives %d, want %d and %d", r.Rows, r.Positives, workers*each, workers*each/2)
	}
	for _, f := range r.Features {
		sum := uint64(0)
		for _, n := range f.Live {
			sum += n
		}
		if sum != r.Rows {
			t.Errorf("%s: %d rows in its bins, want %d", f.Name, sum, r.Rows)
		}
	}
}

func TestDriftCounterRefusesBadDistributions(t *testing.T) {
	for _, d := range []Distribution{
		{Edges: []float64{2, 1}, Max: 3, Counts: make([]uint64, 4)},
		{Edges: []float64{1, 2}, Max: 1.5, Counts: make([]uint64, 4)},
		{Edges: []float64{1, math.NaN()}, Max: 3, Counts: make([]uint64, 4)},
		{Edges: []float64{1, 2}, Max: 3, Counts: make([]uint64, 3)},
	} {
		if _, err := newTestCounter([]string{"x"}, []Distribution{d}, 0.5); err == nil {
			t.Errorf("%+v accepted", d)
		}
	}
	if _, err := newTestCounter([]string{"x", "y"}, []Distribution{NewDistribution([]float64{1})}, 0.5); err == nil {
		t.Error("two names for one distribution accepted")
	}
}

// BenchmarkDriftObserve is the cost drift adds to a predicted row: binning
// the seed's five features and counting them (two atomic adds).
func BenchmarkDriftObserve(b *testing.B) {
	train := loadDay(b, "day_01.csv")
	dists, base := profileOf(train)
	c, err := newTestCounter(FeatureNames[:], dists, base)
	if err != nil {
		b.Fatal(err)
	}
	rows := make([][NumFeatures]float64, train.Len())
	for i := range rows {
		rows[i] = train.Row(i).Vector()
	}
	b.Run("serial", func(b *testing.B) {
		// Also report the thread's CPU time per row (Linux): on a shared
		// machine wall time counts the time other processes ran.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cpu0, ok := threadCPU()
		i := 0
		for range b.N {
			c.count(rows[i][:], i&1)
			if i++; i == len(rows) {
				i = 0
			}
		}
		if cpu1, _ := threadCPU(); ok {
			b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				c.count(rows[i][:], i&1)
				if i++; i == len(rows) {
					i = 0
				}
			}
		})
	})
}

// The counter bins every value of the training files, values around each
// edge and Max, and the extremes as Distribution.Bin does.
func TestCounterBinsAsDistribution(t *testing.T) {
	ds := loadDay(t, "day_01.csv")
	dists, base := profileOf(ds)
	c, err := newTestCounter(FeatureNames[:], dists, base)
	if err != nil {
		t.Fatal(err)
	}
	for j := range NumFeatures {
		d := dists[j]
		xs := append([]float64{math.Inf(-1), math.Inf(1), -math.MaxFloat64, math.MaxFloat64, d.Max,
			math.Nextafter(d.Max, math.Inf(1)), math.Nextafter(d.Max, math.Inf(-1))}, ds.X[j][:2000]...)
		for _, e := range d.Edges {
			xs = append(xs, e, math.Nextafter(e, math.Inf(1)), math.Nextafter(e, math.Inf(-1)))
		}
		want := make([]uint64, d.Bins())
		row := []float64{40, 50000, 1000, 10, 1}
		before := c.Report().Features[j].Live
		for _, x := range xs {
			row[j] = x
			c.count(row, 0)
			want[d.Bin(x)]++
		}
		after := c.Report().Features[j].Live
		for b := range want {
			if got := after[b] - before[b]; got != want[b] {
				t.Fatalf("%s: bin %d counted %d values, Bin puts %d there", FeatureNames[j], b, got, want[b])
			}
		}
	}
}

// A long column takes its deciles and counts from a sample: each edge must
// sit within a percentile of the exact decile's rank, each bin's share
// within half a percent of the whole column's, and the minimum and the
// maximum stay exact.
func TestNewDistributionSampledEdges(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := make([]float64, 1_000_003)
	for i := range values {
		values[i] = r.NormFloat64()*1000 + float64(i%7)
	}
	d := NewDistribution(values)
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	n := len(sorted)
	if d.Edges[0] != sorted[0] || d.Max != sorted[n-1] {
		t.Errorf("min %v max %v, want %v %v", d.Edges[0], d.Max, sorted[0], sorted[n-1])
	}
	if len(d.Edges) != 10 {
		t.Fatalf("%d edges, want 10", len(d.Edges))
	}
	for k := 1; k < 10; k++ {
		rank, _ := slices.BinarySearch(sorted, d.Edges[k])
		if want := k * (n - 1) / 10; math.Abs(float64(rank-want)) > 0.01*float64(n) {
			t.Errorf("edge %d at rank %d, the exact decile is at %d", k, rank, want)
		}
	}
	exact := make([]float64, d.Bins())
	for _, x := range values {
		exact[d.Bin(x)]++
	}
	var total uint64
	for _, c := range d.Counts {
		total += c
	}
	for b, c := range d.Counts {
		got, want := float64(c)/float64(total), exact[b]/float64(n)
		if math.Abs(got-want) > 0.005 {
			t.Errorf("bin %d holds %.4f of the sample and %.4f of the column", b, got, want)
		}
	}
}

// TestNewDistributionSampledMissing: a sampled column with missing values
// keeps its exact minimum and maximum (NaN never wins either) and counts
// about its share of NaN in bin 0.
func TestNewDistributionSampledMissing(t *testing.T) {
	values := make([]float64, 300_001)
	for i := range values {
		values[i] = float64(i%1000) - 500
		if i%4 == 0 {
			values[i] = math.NaN()
		}
	}
	values[0], values[7] = math.NaN(), -900 // the minimum, once, where the sample skips it
	d := NewDistribution(values)
	if err := d.check(); err != nil || d.Edges[0] != -900 || d.Max != 499 {
		t.Fatalf("edges %v max %v: %v", d.Edges, d.Max, err)
	}
	var total uint64
	for _, c := range d.Counts {
		total += c
	}
	if share := float64(d.Counts[0]) / float64(total); math.Abs(share-0.25) > 0.01 {
		t.Errorf("bin 0 holds %.3f of the sample, a quarter is missing", share)
	}
}
