//go:build !amd64 || purego

package gbdt

// compactWalk is false: the compact form is walked only in assembly.
const compactWalk = false

// walkCompact is never called here: compactTrees builds no compact form
// when compactWalk is false.
func (f *Forest) walkCompact(*[extLen]float64) float64 {
	panic("gbdt: no compact walk on this platform")
}
