// Package hot holds the predict path's two tricks that reach under the
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
