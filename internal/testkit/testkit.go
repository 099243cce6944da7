// Package testkit is the one test harness of the module (in the spirit of
// bbolt's internal/btesting): waiting with a deadline, editing and
// resealing a version on disk, building the binaries once per test process,
// running them and the test binary itself as child processes, starting the
// server and waiting for its address, loopback ports, tools and data files.
//
// It imports no package of the module but needtool, so that every package's
// tests, the root package's white-box tests included, can use it. What needs
// the root package (trained candidates, stores, artifacts by URL) is in
// testkit/mlkit.
package testkit

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Within runs f and reports an error on t if it has not returned within
// limit: "<what> did not return within <limit>". The bound is a give-up
// bound, there to catch a call that waits on a blocked read and would never
// return, not a measure of speed.
func Within(t testing.TB, limit time.Duration, what string, f func()) bool {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		t.Errorf("%s did not return within %v", what, limit)
		return false
	}
}

// WithinErr runs f and returns its error, or ends the test if f has not
// returned within limit.
func WithinErr(t testing.TB, limit time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("still blocked after %v", limit)
		return nil
	}
}

// Poll calls cond every interval until it reports true or limit has passed,
// and returns how long it waited and whether cond held. Safe to call from
// any goroutine: it touches no testing.T.
func Poll(limit, interval time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > limit {
			return time.Since(start), false
		}
		time.Sleep(interval)
	}
}

var root struct {
	once sync.Once
	dir  string
	err  error
}

// Root returns the module's root directory: the nearest directory above the
// working directory (a package's, under go test) that holds go.mod.
func Root(t testing.TB) string {
	t.Helper()
	root.once.Do(func() {
		dir, err := os.Getwd()
		for err == nil {
			if _, serr := os.Stat(filepath.Join(dir, "go.mod")); serr == nil {
				root.dir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				err = errors.New("no go.mod above the working directory")
			}
			dir = parent
		}
		root.err = err
	})
	if root.err != nil {
		t.Fatalf("find the module root: %v", root.err)
	}
	return root.dir
}

// Data returns the absolute path of a file under the module's data/
// directory, such as "day_01.csv".
func Data(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(Root(t), "data", name)
}
