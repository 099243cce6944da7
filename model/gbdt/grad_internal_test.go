package gbdt

import "testing"

// BenchmarkGradients is the log-loss gradient pass over 1M rows on one
// goroutine (math.Exp is most of it).
func BenchmarkGradients(b *testing.B) {
	n := 1_000_000
	g := &grower{opt: Options{Workers: 1, Subsample: 1}, grad: make([]gradPair, n),
		pred: make([]float64, n), y: make([]uint8, n)}
	for i := range g.pred {
		g.pred[i] = float64(i%7) - 3
		g.y[i] = uint8(i % 2)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.gradients(0, n)
	}
}
