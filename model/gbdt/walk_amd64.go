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
	first := 1<<f.compactDepth - 1
	z := f.base
	if f.float32 {
		z = float64(float32(z))
	}
	return walkCompactAsm(&f.compact[0], len(f.compact), f.compactDepth, first, ext, z, f.float32)
}

// walkCompactAsm adds to z the leaves the extended row ext reaches in n
// blocks, in float64, or when sum32 in float32 as XGBoost does.
//
//go:noescape
func walkCompactAsm(blocks *compactBlock, n, depth, first int, ext *[extLen]float64, z float64, sum32 bool) float64

// walk_amd64.s reads the blocks by these offsets: the build fails here if
// the layout moves (a negative constant does not convert to uint).
const (
	_ = uint(unsafe.Offsetof(compactBlock{}.column) - 4096)
	_ = uint(4096 - unsafe.Offsetof(compactBlock{}.column))
	_ = uint(unsafe.Offsetof(compactBlock{}.leaf) - 4608)
	_ = uint(4608 - unsafe.Offsetof(compactBlock{}.leaf))
	_ = uint(unsafe.Sizeof(compactBlock{}) - 8704)
	_ = uint(8704 - unsafe.Sizeof(compactBlock{}))
	_ = uint(unsafe.Offsetof(compactBlock{}.threshold))
	_ = uint(0 - unsafe.Offsetof(compactBlock{}.threshold))
	_ = uint(extLen - 128)
	_ = uint(128 - extLen)
)
