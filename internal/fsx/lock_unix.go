//go:build unix

package fsx

import (
	"errors"
	"os"
	"syscall"
)

// TryLock takes an exclusive advisory lock on f without waiting. It reports
// false, with no error, when another process holds the lock (or the call was
// interrupted): the caller waits and tries again.
func TryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR) {
		return false, nil
	}
	return err == nil, err
}

// Unlock releases the lock TryLock took.
func Unlock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
