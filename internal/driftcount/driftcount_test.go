package driftcount

import (
	"math"
	"math/rand/v2"
	"testing"
)

func testFeatures() []Feature {
	return []Feature{
		{Edges: []float64{18, 30, 40, 50, 60, 70}, Max: 90},
		{Edges: []float64{0, 1}, Max: 1},
		{Levels: 3},
		{Edges: []float64{-1e6, -5, 0, 5, 1e6}, Max: 1e7},
		{Levels: 20},
	}
}

// TestCountsAreMarginals: rows counted one by one come out as each
// feature's bin counts, and the labels as rows and positives.
func TestCountsAreMarginals(t *testing.T) {
	fs := testFeatures()
	c, err := New(fs, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	want := make([][]uint64, len(fs))
	for j := range fs {
		want[j] = make([]uint64, fs[j].Bins())
	}
	var pos uint64
	const rows = 5000
	for i := range rows {
		row := []float64{r.NormFloat64()*20 + 45, float64(r.IntN(2)), float64(r.IntN(5)) - 1, r.NormFloat64() * 10, float64(r.IntN(22))}
		if i%97 == 0 {
			row[2], row[4] = math.NaN(), -1
		}
		label := r.IntN(2)
		pos += uint64(label)
		c.Count(row, label)
		for j, f := range fs {
			if f.Edges != nil {
				want[j][Bin(f.Edges, f.Max, row[j])]++
			} else if x := row[j]; x >= 0 && int(x) < f.Levels {
				want[j][int(x)]++
			} else {
				want[j][f.Levels]++
			}
		}
	}
	live, n, p := c.Counts()
	if n != rows || p != pos {
		t.Fatalf("rows %d positives %d, want %d %d", n, p, rows, pos)
	}
	for j := range fs {
		for b := range want[j] {
			if live[j][b] != want[j][b] {
				t.Fatalf("feature %d bin %d: %d, want %d", j, b, live[j][b], want[j][b])
			}
		}
	}
}

// Every row is counted for the first exact rows, then about one in
// SampleEvery. (drift_internal_test.go counts from many goroutines.)
func TestObserveSamples(t *testing.T) {
	c, err := New(testFeatures(), 1000, 4)
	if err != nil {
		t.Fatal(err)
	}
	row := []float64{40, 1, 2, 0, 7}
	for range 1000 {
		c.Observe(row, 1)
	}
	if _, rows, positives := c.Counts(); rows != 1000 || positives != 1000 {
		t.Fatalf("%d rows and %d positives counted of the first 1000", rows, positives)
	}
	for range 39000 {
		c.Observe(row, 0)
	}
	_, rows, _ := c.Counts()
	if sampled := float64(rows - 1000); math.Abs(sampled-39000/4) > 0.05*39000/4 {
		t.Errorf("%v of 39000 rows sampled, want about %d", sampled, 39000/4)
	}
}

// The grid's bin is Bin's for values around every edge and Max, the
// extremes, and random values.
func TestGridAgreesWithBin(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, f := range []Feature{
		{Edges: []float64{18, 30, 40, 50, 60, 70}, Max: 90},
		{Edges: []float64{0, 1}, Max: 1},
		{Edges: []float64{7}, Max: 7},
		{Edges: []float64{-1e300, 0, 1e300}, Max: 1.5e300},
		{Edges: []float64{1, 1 + 1e-15, 1 + 2e-15}, Max: 1 + 3e-15},
	} {
		g := newGridBins(&f)
		xs := []float64{math.Inf(-1), math.Inf(1), math.NaN(), -math.MaxFloat64, math.MaxFloat64, f.Max,
			math.Nextafter(f.Max, math.Inf(1)), math.Nextafter(f.Max, math.Inf(-1))}
		for _, e := range f.Edges {
			xs = append(xs, e, math.Nextafter(e, math.Inf(1)), math.Nextafter(e, math.Inf(-1)))
		}
		for range 10000 {
			xs = append(xs, f.Edges[0]+(f.Max-f.Edges[0])*(r.Float64()*1.2-0.1))
		}
		for _, x := range xs {
			if got, want := g.bin(x), Bin(f.Edges, f.Max, x); got != want {
				t.Fatalf("%+v: bin(%v) = %d, Bin %d", f, x, got, want)
			}
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for _, fs := range [][]Feature{
		{{Levels: MaxLevels + 1}},
		{{Edges: make([]float64, MaxNumberBins), Max: 1}},
	} {
		if _, err := New(fs, 0, 1); err == nil {
			t.Errorf("%v accepted", fs)
		}
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	c, err := New(testFeatures(), 10, 4)
	if err != nil {
		t.Fatal(err)
	}
	row := []float64{40, 1, 2, 3, 4}
	if n := testing.AllocsPerRun(1000, func() { c.Observe(row, 1) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// BenchmarkObserve is what counting costs a predicted row, sampled as a
// server samples: after the exact rows, one in four.
func BenchmarkObserve(b *testing.B) {
	fs := []Feature{
		{Edges: []float64{18, 30, 35, 40, 45, 50, 55, 60, 70}, Max: 90},
		{Edges: []float64{1e4, 2e4, 3e4, 4e4, 5e4, 6e4, 7e4, 8e4, 9e4}, Max: 1e6},
		{Edges: []float64{-1e4, -5e3, 0, 5e3, 1e4, 2e4, 3e4}, Max: 1e5},
		{Edges: []float64{0, 5, 10, 12, 15, 18, 20, 25}, Max: 40},
		{Edges: []float64{0, 1}, Max: 1},
	}
	rows := make([][]float64, 64)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range rows {
		rows[i] = []float64{18 + 60*r.Float64(), 1e5 * r.Float64(), 2e4 * r.NormFloat64(), 40 * r.Float64(), float64(r.IntN(2))}
	}
	for _, every := range []int{1, 4} {
		c, err := New(fs, 0, every)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(map[int]string{1: "every row", 4: "1 in 4"}[every], func(b *testing.B) {
			i := 0
			for b.Loop() {
				c.Observe(rows[i&63], i&1)
				i++
			}
		})
	}
}
