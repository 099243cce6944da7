package mlservice

import "github.com/mlservice/mlservice/internal/fsx"

// Hooks for the black-box tests in package mlservice_test.

// TryLock and UnlockFile let a test hold the artifacts lock the way another
// process would, with the same per-OS call Promote uses.
var (
	TryLock    = fsx.TryLock
	UnlockFile = fsx.Unlock
)

// ThreadCPU is the calling OS thread's CPU time (see threadCPU).
var ThreadCPU = threadCPU

// MaxModelFileSize is the cap on a version's model.json (the other version
// files are held to 1 MiB).
const MaxModelFileSize = maxModelFileSize
