package objstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/backendtest"
	"github.com/mlservice/mlservice/storage/memory"
	"github.com/mlservice/mlservice/storage/objstore"
)

func TestConformanceMemory(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) storage.Backend { return objstore.New(memory.New(t.Name())) })
}

// flakyBucket fails every call with err while down is set; a Put whose
// answer is lost (lose) is applied and still fails.
type flakyBucket struct {
	storage.Bucket
	down, lose bool
	err        error
}

func (f *flakyBucket) Head(ctx context.Context, key string) (string, error) {
	if f.down {
		return "", f.err
	}
	return f.Bucket.Head(ctx, key)
}

func (f *flakyBucket) Get(ctx context.Context, key string, limit int64) ([]byte, string, error) {
	if f.down {
		return nil, "", f.err
	}
	return f.Bucket.Get(ctx, key, limit)
}

func (f *flakyBucket) Put(ctx context.Context, key string, data []byte, cond storage.Condition) (string, error) {
	if f.lose {
		if _, err := f.Bucket.Put(ctx, key, data, cond); err != nil {
			return "", err
		}
		return "", f.err
	}
	if f.down {
		return "", f.err
	}
	return f.Bucket.Put(ctx, key, data, cond)
}

// Failures to reach the store are ErrUnreachable, naming the store; answers
// about what is stored are not.
func TestUnreachable(t *testing.T) {
	ctx := context.Background()
	fb := &flakyBucket{Bucket: memory.New(t.Name()), err: errors.New("connection refused")}
	s := objstore.New(fb)
	if _, err := s.StatCurrent(ctx); !errors.Is(err, storage.ErrNotExist) || errors.Is(err, storage.ErrUnreachable) {
		t.Fatalf("StatCurrent of a reachable empty store: %v", err)
	}
	fb.down = true
	for name, err := range map[string]error{
		"StatCurrent": func() error { _, err := s.StatCurrent(ctx); return err }(),
		"ReadCurrent": func() error { _, _, err := s.ReadCurrent(ctx, 64); return err }(),
		"SwapCurrent": s.SwapCurrent(ctx, []byte("x"), ""),
	} {
		if !errors.Is(err, storage.ErrUnreachable) || !strings.Contains(err.Error(), "object store mem://") || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("%s on a store that does not answer: %v, want ErrUnreachable naming the store and the cause", name, err)
		}
	}
	// A stop asked for by the caller is not the store's fault.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	fb.down = false
	if _, _, err := s.ReadCurrent(cancelled, 64); !errors.Is(err, context.Canceled) || errors.Is(err, storage.ErrUnreachable) {
		t.Errorf("ReadCurrent with a cancelled context: %v", err)
	}
}

// A conditional PUT whose answer was lost is settled by reading CURRENT
// back: applied is a success, not an error that would make a writer report
// a promotion that took effect as failed.
func TestSwapCurrentLostAnswer(t *testing.T) {
	ctx := context.Background()
	fb := &flakyBucket{Bucket: memory.New(t.Name()), err: errors.New("connection reset")}
	s := objstore.New(fb)
	fb.lose = true
	if err := s.SwapCurrent(ctx, []byte("one\n"), ""); err != nil {
		t.Fatalf("a swap applied whose answer was lost: %v, want success", err)
	}
	fb.lose = false
	_, tag, err := s.ReadCurrent(ctx, 64)
	if err != nil {
		t.Fatal(err)
	}
	fb.down = true
	if err := s.SwapCurrent(ctx, []byte("two\n"), tag); !errors.Is(err, storage.ErrUnreachable) {
		t.Fatalf("a swap that never reached the store: %v, want ErrUnreachable", err)
	}
}
