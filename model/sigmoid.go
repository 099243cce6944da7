package model

import "math"

// Sigmoid is the logistic function 1/(1+e^−z), computed without overflow.
func Sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + expNonPositive(-z))
	}
	e := expNonPositive(z)
	return e / (1 + e)
}

// expNonPositive is e^x for x ≤ 0, within 2 ulps of math.Exp (78 % of
// results equal, 21 % one ulp off: TestExpNonPositive). Every prediction
// ends in one, and there math.Exp's latency is what counts: 29 ns on the
// 2-core AMD EPYC of BENCHMARKS.md, a third of Store.Predict's time, where
// this takes about 12 (BenchmarkSigmoidLatency). The method is the usual
// table one: x = (64k + j)·ln2/64 + r with |r| ≤ ln2/128, so e^x is
// 2^k · 2^(j/64) · e^r, the middle factor from a table and e^r from its
// Taylor polynomial of degree 5 (truncation under 0.3 ulp), evaluated in
// two halves so that the chain of dependent operations stays short.
// Arguments below −700, where the result nears the subnormal range, and
// NaN go to math.Exp.
func expNonPositive(x float64) float64 {
	if !(x >= -700) {
		return math.Exp(x)
	}
	const (
		invLn2N = 64 / math.Ln2
		// ln2/64 in two parts; the first has 21 trailing zero bits, so
		// kd·ln2HiN is exact for every kd this range gives.
		ln2HiN = 6.93147180369123816490e-01 / 64
		ln2LoN = 1.90821492927058770002e-10 / 64
		// Adding 1.5·2^52 rounds to an integer held in the low bits.
		shift = 0x1.8p52
	)
	kd := x*invLn2N + shift
	k := int64(math.Float64bits(kd)) - int64(math.Float64bits(shift))
	kd -= shift
	r := x - kd*ln2HiN - kd*ln2LoN
	// 2^(j/64) with k>>6 added to its exponent: no underflow above −700.
	scale := math.Float64frombits(exp2Table[k&63] + uint64(k>>6)<<52)
	r2 := r * r
	q := (1.0/2 + r*(1.0/6)) + r2*(1.0/24+r*(1.0/120))
	return scale + scale*(r+r2*q)
}

// exp2Table holds the bits of 2^(j/64), j = 0..63.
var exp2Table = func() (t [64]uint64) {
	for j := range t {
		t[j] = math.Float64bits(math.Exp2(float64(j) / 64))
	}
	return t
}()
