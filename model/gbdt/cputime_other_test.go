//go:build !linux

package gbdt_test

func threadCPU() (ns int64, ok bool) { return 0, false }

func processCPU() (ns int64, ok bool) { return 0, false }
