//go:build !unix && !windows

package mlservice

import "os"

// tryLock is a no-op where the platform has no file lock this package
// knows (js, wasip1, plan9): it always succeeds, so two trainers running
// at once on such a platform are not kept apart. One trainer at a time is
// safe: every write is still a rename of a complete file.
func tryLock(*os.File) (bool, error) { return true, nil }

// unlockFile is the no-op pair of tryLock.
func unlockFile(*os.File) error { return nil }
