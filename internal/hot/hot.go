// Package hot holds the one unsafe trick of the predict path, earned by
// BenchmarkPredictRow beside it.
//
// A model is called through an interface (model.Model), and Go's escape
// analysis cannot see what an interface method does with a slice: it
// assumes the worst, so a row built on the caller's stack moves to the heap,
// one allocation a prediction. Every implementation promises not to retain
// the row (model.Model's contract), so NoEscape hides the slice from the
// analysis, as the runtime's own noescape does.
package hot

import "unsafe"

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
