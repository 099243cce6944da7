package testkit

import (
	"context"
	"testing"
	"time"
)

// Case is one test of a conformance suite on a subject of type T.
type Case[T any] struct {
	Name string
	Test func(t *testing.T, ctx context.Context, subject T)
}

// RunCases runs each case as a subtest on a fresh subject from newSubject,
// under a context that ends after timeout: the storage and backend
// conformance suites run their cases this way.
func RunCases[T any](t *testing.T, timeout time.Duration, newSubject func(t *testing.T) T, cases []Case[T]) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			tc.Test(t, ctx, newSubject(t))
		})
	}
}
