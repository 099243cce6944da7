//go:build !unix

package fsx

import "io/fs"

// Inode is always 0 where os.Stat does not report an inode number (on
// Windows it would take opening the file). The stamp is then mtime and
// size alone; a reader that re-reads a file whose stamp is not Settled still
// catches a change made within the mtime granularity.
func Inode(fs.FileInfo) uint64 { return 0 }
