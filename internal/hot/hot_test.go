package hot

import "testing"

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
