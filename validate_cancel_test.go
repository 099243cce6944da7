package mlservice_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
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

// A named pipe (or process substitution) yields exactly what the regular
// file yields: the file is opened and read once.
func TestValidateFileFIFO(t *testing.T) {
	src := filepath.Join("data", "day_01.csv")
	want, err := mlservice.ValidateFile(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// Bigger than one block, to cross block boundaries on a pipe too.
	big := append([]byte(nil), data...)
	body := data[bytes.IndexByte(data, '\n')+1:]
	for len(big) < 3<<20 {
		big = append(big, body...)
	}
	bigPath := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(bigPath, big, 0o600); err != nil {
		t.Fatal(err)
	}
	wantBig, err := mlservice.ValidateFile(context.Background(), bigPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want *mlservice.Dataset
	}{{"day_01", data, want}, {"3 MiB", big, wantBig}} {
		t.Run(tc.name, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "fifo.csv")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			writeErr := make(chan error, 1)
			go func() {
				f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
				if err == nil {
					_, err = f.Write(tc.data)
					f.Close()
				}
				writeErr <- err
			}()
			got, err := mlservice.ValidateFile(context.Background(), fifo)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-writeErr; err != nil {
				t.Fatal(err)
			}
			if got.SHA256 != tc.want.SHA256 || got.Len() != tc.want.Len() {
				t.Fatalf("FIFO: %d rows, sha256 %s; file: %d rows, sha256 %s", got.Len(), got.SHA256, tc.want.Len(), tc.want.SHA256)
			}
			for j := range got.X {
				if !slices.Equal(got.X[j], tc.want.X[j]) {
					t.Errorf("column %s differs", mlservice.FeatureNames[j])
				}
			}
			if !slices.Equal(got.Y, tc.want.Y) {
				t.Errorf("target differs")
			}
		})
	}
}
