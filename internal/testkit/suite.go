package testkit

import (
	"context"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// RunCases runs each test as a subtest on a fresh subject from newSubject,
// under a context that ends after timeout: the storage and backend
// conformance suites run their cases this way. A subtest is named after
// its function without the "test" prefix (testCompareAndSwap:
// CompareAndSwap), so a name cannot drift from what it runs.
func RunCases[T any](t *testing.T, timeout time.Duration, newSubject func(t *testing.T) T, tests ...func(t *testing.T, ctx context.Context, subject T)) {
	for _, test := range tests {
		full := runtime.FuncForPC(reflect.ValueOf(test).Pointer()).Name()
		name, ok := strings.CutPrefix(full[strings.LastIndexByte(full, '.')+1:], "test")
		if !ok || name == "" {
			t.Fatalf("RunCases: %s is not named testSomething", full)
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			test(t, ctx, newSubject(t))
		})
	}
}
