package mlservice_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// distinctF1 returns n distinct F1 values in random order.
func distinctF1(n int) []float64 {
	f1 := make([]float64, n)
	for i := range f1 {
		f1[i] = 0.3 + 0.05*float64(i)
	}
	rand.Shuffle(n, func(i, j int) { f1[i], f1[j] = f1[j], f1[i] })
	return f1
}

// checkRace checks the outcome of promotions that raced: every version
// kept, one decision each, and each decision taken against the version the
// one before left current.
func checkRace(t *testing.T, dir string, f1s []float64, decisions []*mlservice.Decision) {
	t.Helper()
	n := len(f1s)
	dirs := testkit.Entries(t, testkit.Models(dir, "versions"))
	if len(dirs) != n {
		t.Errorf("versions/ holds %d entries, want %d: %v", len(dirs), n, dirs)
	}
	for _, id := range dirs {
		if err := checkVersion(dir, id); err != nil {
			t.Errorf("version %s: %v", id, err)
		}
	}
	hist := mlkit.History(t, dir)
	if len(hist) != n {
		t.Fatalf("history has %d records, want %d", len(hist), n)
	}
	byID := map[string]*mlservice.Decision{}
	for _, d := range decisions {
		byID[d.VersionID] = d
	}

	// Replay the decisions in the order they were taken (the lock orders
	// them; the ids, taken under the lock, sort the same way).
	best, bestID := -1.0, ""
	promotions := 0
	for i, h := range hist {
		if i > 0 && !(h.VersionID > hist[i-1].VersionID) {
			t.Errorf("history record %d: id %s does not sort after %s", i, h.VersionID, hist[i-1].VersionID)
		}
		d := byID[h.VersionID]
		if d == nil || h.Metric == nil {
			t.Fatalf("history record %+v matches no decision returned", h)
		}
		f1 := h.Metric.Value
		wantPromoted := bestID == "" || f1 > best
		wantEvent := mlservice.DecisionRejected
		if wantPromoted {
			wantEvent = mlservice.DecisionPromoted
		}
		if h.Event != wantEvent || d.Promoted != wantPromoted {
			t.Errorf("record %d (f1 %v, best so far %v): event %q, Promote said %v", i, f1, best, h.Event, d.Promoted)
		}
		if h.PreviousVersionID != bestID || d.PreviousVersionID != bestID {
			t.Errorf("record %d: decided against %q (Promote said %q), but %q was current", i, h.PreviousVersionID, d.PreviousVersionID, bestID)
		}
		if bestID != "" && (h.PreviousMetric == nil || *h.PreviousMetric != best) {
			t.Errorf("record %d: previous metric %v, want %v", i, h.PreviousMetric, best)
		}
		if h.Event == mlservice.DecisionPromoted && h.PreviousMetric != nil && !(f1 > *h.PreviousMetric) {
			t.Errorf("record %d promoted f1 %v over %v", i, f1, *h.PreviousMetric)
		}
		if wantPromoted {
			best, bestID = f1, h.VersionID
			promotions++
		}
	}
	top := slices.Max(f1s)
	if best != top {
		t.Errorf("the best promoted f1 is %v, want %v", best, top)
	}
	if cur := testkit.Current(t, dir); cur != bestID {
		t.Errorf("CURRENT = %s, want %s (f1 %v)", cur, bestID, top)
	}
	t.Logf("%d candidates, %d promoted in the order the lock let them through", n, promotions)
}

func TestPromoteConcurrentGoroutines(t *testing.T) {
	const n = 12
	dir := t.TempDir()
	f1s := distinctF1(n)
	start := make(chan struct{})
	decisions := make([]*mlservice.Decision, n)
	var wg sync.WaitGroup
	for i, f1 := range f1s {
		c := mlkit.WithF1(t, f1)
		wg.Go(func() {
			<-start
			d, err := mlservice.Promote(context.Background(), dir, c)
			if err != nil {
				t.Errorf("promote f1 %v: %v", f1, err)
				return
			}
			decisions[i] = d
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	checkRace(t, dir, f1s, decisions)
}

func TestPromoteConcurrentProcesses(t *testing.T) {
	const n = 8
	dir := t.TempDir()
	f1s := distinctF1(n)
	decisions := racePromotions(t, dir, f1s)
	checkRace(t, dir, f1s, decisions)
}

// Store.Predict and PredictBatch run from many goroutines while another
// promotes and rolls back as fast as it can and the store follows every
// millisecond: every answer comes from a version that was made current, with
// a probability in [0, 1], and never an error. Run it with -race.
func TestStorePredictDuringSwaps(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	made := map[string]bool{} // versions made current
	var ids []string
	for _, f1 := range []float64{0.1, 0.2, 0.3} {
		d := mlkit.Promote(t, dir, f1)
		made[d.VersionID] = true
		ids = append(ids, d.VersionID)
	}
	s := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: time.Millisecond})
	if !s.Status().Ready {
		t.Fatal("store not ready")
	}

	// Run for at least minDuration and until predictions have come from a
	// few versions: on a loaded 2-core machine, swaps (each a few fsyncs)
	// can be slow enough that a fixed short window sees none.
	minDuration := 400 * time.Millisecond
	if testing.Short() {
		minDuration = 150 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var answered sync.Map // version id → true, from any predictor
	var nAnswered atomic.Int64
	go func() {
		start := time.Now()
		for ctx.Err() == nil {
			if time.Since(start) >= minDuration && nAnswered.Load() >= 3 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { // the trainer and the operator
		f1 := 0.3
		for i := 0; ctx.Err() == nil; i++ {
			if i%3 == 0 {
				f1 += 1e-4
				// A rollback pins CURRENT; lift it so the promotion competes.
				if _, err := mlservice.Unpin(context.Background(), dir); err != nil {
					t.Errorf("unpin: %v", err)
					return
				}
				d, err := mlservice.Promote(context.Background(), dir, mlkit.WithF1(t, f1))
				if err != nil || !d.Promoted {
					t.Errorf("promote: %v", err)
					return
				}
				mu.Lock()
				made[d.VersionID] = true
				ids = append(ids, d.VersionID)
				mu.Unlock()
			} else {
				mu.Lock()
				id := ids[rand.IntN(len(ids))]
				mu.Unlock()
				if _, err := mlservice.Rollback(context.Background(), dir, id); err != nil {
					t.Errorf("rollback: %v", err)
					return
				}
			}
			swaps.Add(1)
		}
	})
	wg.Go(func() { // someone forcing checks and reading status
		for ctx.Err() == nil {
			if _, err := s.Reload(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("reload: %v", err)
			}
			if st := s.Status(); !st.Ready || st.LastError != "" {
				t.Errorf("status: %+v", st)
			}
			if m, raw, err := s.Metadata(); err != nil || len(raw) == 0 || !mlservice.ValidVersionID(m.ModelVersionID) {
				t.Errorf("metadata: %v", err)
			}
			time.Sleep(200 * time.Microsecond)
		}
	})
	seen := make([]map[string]int, 4)
	var predictions atomic.Int64
	rows := make([]mlservice.Features, 32)
	for i := range rows {
		rows[i] = mlkit.Row
		rows[i].Age = float64(18 + i)
	}
	for g := range seen {
		seen[g] = map[string]int{}
		wg.Go(func() {
			var batch []mlservice.Prediction
			var err error
			for n := 0; ctx.Err() == nil; n++ {
				var p mlservice.Prediction
				if p, err = s.Predict(mlkit.Row); err != nil {
					t.Errorf("predict: %v", err)
					return
				}
				if !(p.Probability >= 0 && p.Probability <= 1) || p.Label != map[bool]int{true: 1, false: 0}[p.Probability > 0.5] {
					t.Errorf("prediction %+v", p)
				}
				seen[g][p.ModelVersionID]++
				if _, dup := answered.LoadOrStore(p.ModelVersionID, true); !dup {
					nAnswered.Add(1)
				}
				if n%8 == 0 {
					if batch, err = s.PredictBatch(batch[:0], rows); err != nil {
						t.Errorf("predict batch: %v", err)
						return
					}
					for _, q := range batch {
						if q.ModelVersionID != batch[0].ModelVersionID {
							t.Errorf("one batch answered by %s and %s", batch[0].ModelVersionID, q.ModelVersionID)
							return
						}
						if !(q.Probability >= 0 && q.Probability <= 1) {
							t.Errorf("prediction %+v", q)
						}
					}
					seen[g][batch[0].ModelVersionID]++
				}
				predictions.Add(1)
			}
		})
	}
	wg.Wait()

	distinct := map[string]bool{}
	for _, m := range seen {
		for id := range m {
			if !made[id] {
				t.Errorf("a prediction came from %q, which was never made current", id)
			}
			distinct[id] = true
		}
	}
	st := s.Status()
	t.Logf("%d swaps, %d predictions from %d goroutines, %d distinct versions answered, %d loads", swaps.Load(), predictions.Load(), len(seen), len(distinct), st.Loads)
	if swaps.Load() < 3 || len(distinct) < 3 || st.LoadFailures != 0 {
		t.Errorf("the swaps were not observed: %d swaps, %d versions answered, status %+v", swaps.Load(), len(distinct), st)
	}
	// Once the swapping stops the store settles on CURRENT. (The time it
	// takes is TestStoreFollowsPromotions' subject; 10 s is a give-up bound.)
	mlkit.WaitServing(t, s, testkit.Current(t, dir), 10*time.Second)
}
