package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

func ulps(a, b float64) int64 {
	d := int64(math.Float64bits(a)) - int64(math.Float64bits(b))
	return max(d, -d)
}

// TestExpNonPositive holds expNonPositive to math.Exp within 2 ulps over
// the whole range, near 0 where sigmoids live, and at the edges.
func TestExpNonPositive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	off := map[int64]int{}
	for i := range 3_000_000 {
		var x float64
		switch i % 3 {
		case 0:
			x = -r.Float64() * 745
		case 1:
			x = -r.Float64() * 2
		default:
			x = -math.Exp(-r.Float64() * 40) // down to 4e-18
		}
		u := ulps(expNonPositive(x), math.Exp(x))
		if u > 2 {
			t.Fatalf("e^%v = %v, math.Exp says %v: %d ulps apart", x, expNonPositive(x), math.Exp(x), u)
		}
		off[u]++
	}
	if off[0] < 2_000_000 {
		t.Errorf("only %d of 3,000,000 results equal math.Exp's (%v)", off[0], off)
	}
	for _, x := range []float64{0, math.Copysign(0, -1), -1e-300, -700, -700.0000001, -708.5, -745.2, -1e300, math.Inf(-1), math.NaN()} {
		if got, want := expNonPositive(x), math.Exp(x); got != want && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("e^%v = %v, want %v", x, got, want)
		}
	}
}

func TestSigmoid(t *testing.T) {
	for _, tc := range []struct{ z, want float64 }{
		{0, 0.5}, {math.Inf(1), 1}, {math.Inf(-1), 0}, {800, 1}, {-800, math.Exp(-800) / (1 + math.Exp(-800))},
		{2, 1 / (1 + math.Exp(-2))}, {-2, math.Exp(-2) / (1 + math.Exp(-2))},
	} {
		if got := Sigmoid(tc.z); math.Abs(got-tc.want) > 4e-16*tc.want {
			t.Errorf("Sigmoid(%v) = %v, want %v", tc.z, got, tc.want)
		}
	}
	if !math.IsNaN(Sigmoid(math.NaN())) {
		t.Error("Sigmoid(NaN) is not NaN")
	}
	for z := -40.0; z < 40; z += 0.37 {
		if s := Sigmoid(z); !(s >= 0 && s <= 1) || math.Abs(s+Sigmoid(-z)-1) > 1e-15 {
			t.Fatalf("Sigmoid(%v) = %v, Sigmoid(%v) = %v", z, s, -z, Sigmoid(-z))
		}
	}
}

var sigmoidSink float64

// BenchmarkSigmoidLatency: each call's argument depends on the previous
// result, as one prediction's probability depends on its log-odds.
func BenchmarkSigmoidLatency(b *testing.B) {
	for _, tc := range []struct {
		name string
		f    func(float64) float64
	}{
		{"Sigmoid", Sigmoid},
		{"math.Exp", func(z float64) float64 {
			if z >= 0 {
				return 1 / (1 + math.Exp(-z))
			}
			e := math.Exp(z)
			return e / (1 + e)
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			x := 0.5
			for b.Loop() {
				x = tc.f(-x) - 0.2
			}
			sigmoidSink = x
		})
	}
}
