//go:build unix

package main

import "syscall"

// writable reports, without writing, why this process could not write file
// path, or create files in it when it is a directory: access(2), which also
// reports a read-only mount (EROFS).
func writable(path string, dir bool) error {
	const wOK, xOK = 0x2, 0x1
	mode := uint32(wOK)
	if dir {
		mode |= xOK
	}
	return syscall.Access(path, mode)
}
