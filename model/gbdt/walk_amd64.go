//go:build !purego

package gbdt

import "unsafe"

// compactWalk: the compact form is built and walked here, in assembly
// (walk_amd64.s): five instructions a step where the compiled Go walk of
// the node array takes about twelve. BenchmarkLogOddsNumeric shows the
// gain (BENCHMARKS.md); build with -tags purego to leave it out.
const compactWalk = true

// walkCompact is LogOdds's walk of the compact form.
func (f *Forest) walkCompact(ext *[extLen]float64) float64 {
	return walkCompactAsm(&f.compact[0], len(f.compact), f.maxDepth, 1<<f.maxDepth-1, ext, f.base, f.float32)
}

// walkCompactAsm adds to z the leaves the extended row ext reaches in n
// blocks of trees depth deep whose first leaf is node first, in float64,
// or when sum32 in float32 (z rounded first) as XGBoost does.
//
//go:noescape
func walkCompactAsm(blocks *compactBlock, n, depth, first int, ext *[extLen]float64, z float64, sum32 bool) float64

// walk_amd64.s reads the blocks by these offsets: if the layout moves, one
// of these uintptr constants goes negative and the build fails.
const (
	_ = unsafe.Offsetof(compactBlock{}.column) - 4096
	_ = 4096 - unsafe.Offsetof(compactBlock{}.column)
	_ = unsafe.Offsetof(compactBlock{}.leaf) - 4608
	_ = 4608 - unsafe.Offsetof(compactBlock{}.leaf)
	_ = unsafe.Sizeof(compactBlock{}) - 8704
	_ = 8704 - unsafe.Sizeof(compactBlock{})
	_ = 0 - unsafe.Offsetof(compactBlock{}.threshold)
	_ = uint(extLen - 128)
	_ = uint(128 - extLen)
)
