//go:build !unix && !windows

package fsx

import "os"

// TryLock is a no-op where the platform has no file lock this package
// knows (js, wasip1, plan9): it always succeeds, so two trainers running
// at once on such a platform are not kept apart. One trainer at a time is
// safe: every write is still a rename of a complete file.
func TryLock(*os.File) (bool, error) { return true, nil }

// Unlock is the no-op pair of TryLock.
func Unlock(*os.File) error { return nil }
