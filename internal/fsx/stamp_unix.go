//go:build unix

package fsx

import (
	"io/fs"
	"syscall"
)

// Inode returns the file's inode number: a CURRENT renamed into place gets
// a new one, which a same-size write within the mtime granularity would
// otherwise hide.
func Inode(fi fs.FileInfo) uint64 {
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(sys.Ino)
	}
	return 0
}
