// Package hot holds the predict path's three tricks that reach under the
// language, each earned by the benchmark beside it (hot_test.go); nothing
// else in the module imports unsafe or links to the runtime.
//
// NoEscape: a model is called through an interface (model.Model), and Go's
// escape analysis cannot see what an interface method does with a slice: it
// assumes the worst, so a row built on the caller's stack moves to the heap,
// one allocation a prediction. Every implementation promises not to retain
// the row (model.Model's contract), so NoEscape hides the slice from the
// analysis, as the runtime's own noescape does.
//
// Row: a row built for one prediction lives on the stack, and Go zeroes
// a stack array whole, about 0.15 ns a value. A 33-feature row in one
// 64-value array size paid for 31 values it never used (BenchmarkRow: 18
// against 22 ns); Row sizes the array to the row, rounded up to 8 values,
// which took the wide table's BenchmarkStorePredictRowWide from 101 to
// 90-95 ns. Generic code is the one way to name eight array sizes without
// writing eight copies of the call.
//
// Rand: drift counts one predicted row in a few, drawn at random on every
// prediction; the runtime's per-thread generator costs a third of
// math/rand/v2's Uint32 (BenchmarkRand: 3.4 against 10 ns on a loaded
// 2-core machine), whose draw alone would be a fifth of the 15 ns drift may
// add to a prediction.
package hot

import (
	"unsafe"
)

// NoEscape returns s. The compiler no longer knows that the result refers
// to s's array, so passing it to a function that does not retain it (an
// interface method whose contract says so) leaves the array where it is.
// Passing it to anything that does retain it is a bug: the array may live
// on a stack that is gone.
//
// One expression, so that no instruction holds the address as a bare
// uintptr: the escape analysis drops unsafe.Add's length operand, while
// the garbage collector and checkptr (on under -race) still see the
// pointer it came from.
func NoEscape(s []float64) []float64 {
	return unsafe.Slice((*float64)(unsafe.Add(nil, uintptr(unsafe.Pointer(unsafe.SliceData(s))))), len(s))
}

// Rand returns a uniformly distributed uint32 from the runtime's
// per-thread wyrand: fast, and not for secrets. The runtime keeps this
// function's signature for the packages that link to it
// (go.dev/issue/67401).
//
//go:linkname Rand runtime.cheaprand
func Rand() uint32

// MaxStackRow is the widest row Row builds on the stack.
const MaxStackRow = 64

// Row calls f with a row of n zeros that f must not retain (as NoEscape's
// result): on the stack in an array of n rounded up to 8 values, up to
// MaxStackRow, else on the heap.
func Row(n int, f func(row []float64)) {
	switch (n + 7) / 8 {
	case 0, 1:
		stackRow[[8]float64](n, f)
	case 2:
		stackRow[[16]float64](n, f)
	case 3:
		stackRow[[24]float64](n, f)
	case 4:
		stackRow[[32]float64](n, f)
	case 5:
		stackRow[[40]float64](n, f)
	case 6:
		stackRow[[48]float64](n, f)
	case 7:
		stackRow[[56]float64](n, f)
	case 8:
		stackRow[[64]float64](n, f)
	default:
		f(make([]float64, n))
	}
}

// stackRow calls f with the first n values of a zeroed A, an array of
// float64: each array type is a shape of its own, so each instance has a
// stack frame of its size.
func stackRow[A any](n int, f func([]float64)) {
	var a A
	f(NoEscape(unsafe.Slice((*float64)(unsafe.Pointer(&a)), unsafe.Sizeof(a)/8)[:n]))
}
