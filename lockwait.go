package mlservice

import (
	"context"
	"time"
)

// LockWaitNotice is how long a writer waits for an artifacts directory's
// lock before it calls the function WithLockWait gave it.
const LockWaitNotice = time.Second

type lockWaitKey struct{}

// WithLockWait returns a copy of ctx carrying notify. Promote and Rollback on
// an artifacts directory call notify once, with the lock file's path, when
// they have waited LockWaitNotice for the lock another writer holds; then
// they go on waiting as long as ctx allows. A trainer uses it to say why it
// seems stuck. An object store takes no lock and never calls it.
func WithLockWait(ctx context.Context, notify func(lockPath string)) context.Context {
	return context.WithValue(ctx, lockWaitKey{}, notify)
}

// lockWaitNotify returns the function WithLockWait put in ctx, or nil.
func lockWaitNotify(ctx context.Context) func(string) {
	f, _ := ctx.Value(lockWaitKey{}).(func(string))
	return f
}
