package hot

import (
	"math/rand/v2"
	"testing"
)

// scorer stands for model.Model: an interface whose method reads a row.
type scorer interface{ score(row []float64) float64 }

type sum struct{}

func (sum) score(row []float64) float64 {
	z := 0.0
	for _, v := range row {
		z += v
	}
	return z
}

var s scorer = sum{}

//go:noinline
func direct(a, b float64) float64 {
	row := [2]float64{a, b}
	return s.score(row[:])
}

//go:noinline
func hidden(a, b float64) float64 {
	row := [2]float64{a, b}
	return s.score(NoEscape(row[:]))
}

// TestNoEscape: a row handed to an interface method costs an allocation,
// the same row through NoEscape none, and the method sees the same values.
func TestNoEscape(t *testing.T) {
	if got := hidden(1, 2); got != 3 {
		t.Fatalf("hidden(1, 2) = %v", got)
	}
	if n := testing.AllocsPerRun(100, func() { direct(1, 2) }); n != 1 {
		t.Errorf("direct: %v allocations, want 1 (else NoEscape has nothing left to earn)", n)
	}
	if n := testing.AllocsPerRun(100, func() { hidden(1, 2) }); n != 0 {
		t.Errorf("NoEscape: %v allocations, want 0", n)
	}
}

// BenchmarkPredictRow is what NoEscape earns on a row built for one call
// through an interface: the allocation, and its share of garbage collection.
func BenchmarkPredictRow(b *testing.B) {
	b.Run("interface", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			direct(1, 2)
		}
	})
	b.Run("NoEscape", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			hidden(1, 2)
		}
	})
}

// BenchmarkRand is what drift's sampling draw costs a prediction: the
// runtime's generator against math/rand/v2's.
func BenchmarkRand(b *testing.B) {
	var sink uint32
	b.Run("hot.Rand", func(b *testing.B) {
		for b.Loop() {
			sink += Rand()
		}
	})
	b.Run("math/rand/v2", func(b *testing.B) {
		for b.Loop() {
			sink += rand.Uint32()
		}
	})
	if sink == 1 {
		b.Log(sink)
	}
}

// TestRandSpreads: the draw covers its range (a sampling mask of the low
// bits and a shard from the high bits both see every value).
func TestRandSpreads(t *testing.T) {
	var low, high [16]int
	for range 16000 {
		r := Rand()
		low[r&15]++
		high[r>>28]++
	}
	for i := range 16 {
		if low[i] < 800 || high[i] < 800 {
			t.Fatalf("bucket %d: %d low, %d high of 16000 draws", i, low[i], high[i])
		}
	}
}

// TestRow: every width gets n zeros, writable, on the stack up to
// MaxStackRow and on the heap past it (a Row that called f through a
// table of functions let the closure escape: one allocation each).
func TestRow(t *testing.T) {
	for n := range MaxStackRow + 10 {
		var got []float64
		Row(n, func(row []float64) {
			if len(row) != n {
				t.Fatalf("Row(%d): len %d", n, len(row))
			}
			for j := range row {
				if row[j] != 0 {
					t.Fatalf("Row(%d): row[%d] = %v, want 0", n, j, row[j])
				}
				row[j] = float64(j + 1)
			}
			got = append(got[:0], row...) // a copy: the row must not be kept
		})
		if len(got) != n || n > 0 && got[n-1] != float64(n) {
			t.Fatalf("Row(%d): wrote %v", n, got)
		}
		if n == 0 {
			continue
		}
		want := 0.0
		if n > MaxStackRow {
			want = 1
		}
		allocs := testing.AllocsPerRun(20, func() {
			Row(n, func(row []float64) { row[n/2] = s.score(row) })
		})
		if allocs != want {
			t.Errorf("Row(%d): %v allocations, want %v", n, allocs, want)
		}
	}
}

// BenchmarkRow is what Row's sizing earns a 33-value row (the wide table's):
// the array Row picks (40 values) against the 64 of a single stack size.
func BenchmarkRow(b *testing.B) {
	const n = 33
	score := func(row []float64) { row[0] = s.score(row) }
	b.Run("Row", func(b *testing.B) {
		for b.Loop() {
			Row(n, score)
		}
	})
	b.Run("64", func(b *testing.B) {
		for b.Loop() {
			row64(n, score)
		}
	})
}

// row64 is Row with one stack size for every width up to MaxStackRow.
func row64(n int, f func(row []float64)) {
	var a [MaxStackRow]float64
	f(NoEscape(a[:n]))
}
