package mlservice_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// benchStore promotes the trained candidate into a fresh directory and
// opens a store on it. Background refresh is off: the allocation count of a
// benchmark is process-wide, and the refresher's stat would be charged to
// Predict. BenchmarkStorePredictDuringSwaps measures with it on.
func benchStore(b *testing.B) (*mlservice.Store, string) {
	b.Helper()
	dir := b.TempDir()
	mlkit.Promote(b, dir, 0.5)
	s := mlkit.OpenStore(b, dir, mlservice.StoreOptions{RefreshInterval: -1})
	if !s.Status().Ready {
		b.Fatal("store not ready")
	}
	return s, dir
}

// benchRows returns n valid rows taken from the candidate's examples.
func benchRows(b *testing.B, n int) []mlservice.Features {
	ex := mlkit.Trained(b).Metadata.Examples
	rows := make([]mlservice.Features, n)
	for i := range rows {
		rows[i] = ex[i%len(ex)].Features
	}
	return rows
}

// BenchmarkStorePredict is the hot path: one row, no lock, no allocation.
func BenchmarkStorePredict(b *testing.B) {
	s, _ := benchStore(b)
	b.ReportAllocs()
	benchPredict(b, s)
}

// benchPredict predicts one of eight rows per op and reports the thread's
// CPU time per op (Linux) beside the wall time.
func benchPredict(b *testing.B, s *mlservice.Store) {
	rows := benchRows(b, 8)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0, ok := mlservice.ThreadCPU()
	var sink float64
	i := 0
	for b.Loop() {
		p, err := s.Predict(rows[i&7])
		if err != nil {
			b.Fatal(err)
		}
		sink += p.Probability
		i++
	}
	if cpu1, _ := mlservice.ThreadCPU(); ok {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
	if sink < 0 {
		b.Fatal(sink)
	}
}

// BenchmarkStorePredictDrift is Predict with drift counting and without
// (StoreOptions.DisableDrift): the difference is what drift costs a row.
// Each reports the thread's CPU time per row (Linux), which other
// processes on a shared machine do not inflate; run with -count and
// alternate, and compare medians. The first DriftExactRows rows of a
// store are counted one by one; b.N is millions, so this measures the
// sampled steady state.
func BenchmarkStorePredictDrift(b *testing.B) {
	for _, off := range []bool{false, true} {
		name := "drift=on"
		if off {
			name = "drift=off"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			mlkit.Promote(b, dir, 0.5)
			s := mlkit.OpenStore(b, dir, mlservice.StoreOptions{RefreshInterval: -1, DisableDrift: off})
			benchPredict(b, s)
		})
	}
}

func BenchmarkStorePredictBatch(b *testing.B) {
	for _, n := range []int{1, 16, 256, 4096} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			s, _ := benchStore(b)
			rows := benchRows(b, n)
			dst := make([]mlservice.Prediction, 0, n)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = s.PredictBatch(dst[:0], rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/row")
		})
	}
}

// BenchmarkStorePredictDuringSwaps predicts from parallel goroutines while
// another goroutine rolls CURRENT back and forth between two versions every
// millisecond (or as fast as the disk's fsync allows) and the store follows
// every millisecond.
func BenchmarkStorePredictDuringSwaps(b *testing.B) {
	dir := b.TempDir()
	ids := []string{mlkit.Promote(b, dir, 0.5).VersionID, mlkit.Promote(b, dir, 0.6).VersionID}
	s := mlkit.OpenStore(b, dir, mlservice.StoreOptions{RefreshInterval: time.Millisecond})
	rows := benchRows(b, 8)

	stop := make(chan struct{})
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if _, err := mlservice.Rollback(context.Background(), dir, ids[i%2]); err != nil {
				b.Error(err)
				return
			}
			swaps.Add(1)
		}
	})
	loads := s.Status().Loads
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Predict(rows[i&7]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(swaps.Load()), "swaps")
	b.ReportMetric(float64(s.Status().Loads-loads), "loads")
}

// BenchmarkStoreMetadata is what GET /model and each /metrics scrape pay
// for Metadata handing out a copy rather than the live snapshot.
func BenchmarkStoreMetadata(b *testing.B) {
	s, _ := benchStore(b)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		m, raw, err := s.Metadata()
		if err != nil {
			b.Fatal(err)
		}
		n += len(raw) + len(m.Examples)
	}
	if n == 0 {
		b.Fatal("empty metadata")
	}
}

// BenchmarkStoreStatus is what GET /ready, /metrics and /reload pay per call.
func BenchmarkStoreStatus(b *testing.B) {
	s, _ := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		if !s.Status().Ready {
			b.Fatal("not ready")
		}
	}
}
