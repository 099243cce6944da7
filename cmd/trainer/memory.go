package main

import (
	"bytes"

	"github.com/mlservice/mlservice"
	"io"
	"os"
	"runtime/debug"
)

// bytesPerRow is what one row costs in memory while training: five float64
// features and a label kept by Validate, plus the split mask, the scaler's
// row weights and the scored evaluation rows.
const bytesPerRow = 5*8 + 1 + 1 + 8 + 2

// boundHeap sets the garbage collector for a run over about rows rows; main
// calls it through proc.sizeHeap, as the setting is process-wide.
// The heap is mostly the dataset's pointer-free columns, which cost the
// collector nothing to mark, while decoding makes garbage at a steady rate.
// Collecting at a percentage of a heap that starts empty means many
// collections early and a footprint up to twice the data late. Instead the
// trainer collects only as the heap nears a limit sized from the data:
// 48 MiB plus 1.3 times the rows' memory. Measured on 1M rows: 0.64 s and
// 115 MB peak RSS, against 0.75 s and 105 MB at GOGC=25 and 0.66 s and
// 156 MB at the default. With no estimate (rows 0: a pipe, whose size is
// unknown until it is read) the runtime's defaults stay. GOGC or GOMEMLIMIT
// in the environment win.
func boundHeap(rows float64) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" || rows <= 0 {
		return
	}
	debug.SetMemoryLimit(heapLimit(rows))
	debug.SetGCPercent(-1)
}

// rowBytes is bytesPerRow for a table under schema s (nil: the default):
// 8 bytes per feature (a Dataset holds a category's code as a float64, like
// a number), 12 for the label, the masks and the scored rows.
func rowBytes(s *mlservice.Schema) float64 {
	if s == nil {
		return bytesPerRow
	}
	return 12 + 8*float64(len(s.Features))
}

func heapLimit(rows float64) int64 {
	return 48<<20 + int64(1.3*rows*bytesPerRow)
}

// estimateRows scales the line count of the first 256 KiB of a regular file
// to its size. It reads with ReadAt, which leaves the file's offset alone,
// so nothing is consumed: the input is read once, by validation. A file
// that is not regular (a pipe) gives 0: its start cannot be peeked at.
func (in *input) estimateRows() (float64, error) {
	if in.size <= 0 || in.file == nil {
		return 0, nil
	}
	head := make([]byte, min(256<<10, in.size))
	n, err := in.file.ReadAt(head, in.offset)
	if err != nil && err != io.EOF {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	lines := float64(bytes.Count(head[:n], []byte{'\n'}) + 1)
	return lines / float64(n) * float64(in.size), nil
}
