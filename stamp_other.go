//go:build !unix

package mlservice

import "io/fs"

// inode is always 0 where os.Stat does not report an inode number (on
// Windows it would take opening the file). The stamp is then mtime and
// size alone; the racy-stamp re-read in Store.refresh still catches a
// change made within the mtime granularity.
func inode(fs.FileInfo) uint64 { return 0 }
