//go:build !linux

package mlservice

func threadCPU() (ns int64, ok bool) { return 0, false }
