package mlservice_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
)

// endless is a CSV of valid rows that never ends; cancel is called once
// after limit bytes have been read.
type endless struct {
	header bool
	read   atomic.Int64
	limit  int64
	cancel func()
}

func (e *endless) Read(p []byte) (int, error) {
	if !e.header {
		e.header = true
		return copy(p, csvHeader), nil
	}
	n := 0
	for n+len(csvRows) <= len(p) {
		n += copy(p[n:], csvRows)
	}
	if e.read.Add(int64(n)) > e.limit && e.cancel != nil {
		e.cancel()
		e.cancel = nil
	}
	return n, nil
}

func TestValidateCanceled(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ds, err := mlservice.Validate(ctx, strings.NewReader(csvHeader+csvRows))
		if !errors.Is(err, context.Canceled) || ds != nil {
			t.Fatalf("Validate = %v, %v; want context.Canceled", ds, err)
		}
	})
	// An input that never ends: only ctx stops the pipeline (reader and
	// workers alike).
	t.Run("mid-stream", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		r := &endless{limit: 8 << 20, cancel: cancel}
		start := time.Now()
		ds, err := mlservice.Validate(ctx, r)
		if !errors.Is(err, context.Canceled) || ds != nil {
			t.Fatalf("Validate = %v, %v; want context.Canceled", ds, err)
		}
		after := r.read.Load()
		t.Logf("stopped %v after %d bytes, read %d", time.Since(start), r.limit, after)
		if after > r.limit+64<<20 {
			t.Errorf("read %d bytes, more than 64 MiB past the cancellation", after)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := mlservice.Validate(ctx, &endless{limit: 1 << 62})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Validate = %v; want context.DeadlineExceeded", err)
		}
	})
}

// A Read blocked on a pipe that nobody writes to cannot be interrupted;
// Validate still returns once ctx is cancelled, within a generous bound for
// a loaded machine (the figure is logged).
func TestValidateCanceledWhileBlockedOnPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if _, err := io.WriteString(pw, csvHeader+csvRows); err != nil { // then silence, never EOF
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := mlservice.Validate(ctx, pr)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // let it block in Read
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		t.Logf("returned %v after cancel", time.Since(start))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Validate = %v; want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Validate still blocked 5 s after cancel")
	}
}
