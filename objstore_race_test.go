//go:build unix

package mlservice_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/storage/s3"
)

// Trainer processes finishing at once against one object store: CURRENT
// ends on the best F1, every decision is recorded once, and the history
// replays: each promotion was decided against the version the promotion
// before it left current.
func TestS3RacingTrainers(t *testing.T) {
	const n = 8
	srv := mlkit.Weed(t)
	url := mlkit.S3URL(t, srv)
	a, _ := mlkit.OpenS3(t, url)
	for round := range 2 {
		f1s := distinctF1(n)
		if round == 1 {
			for i := range f1s {
				f1s[i] += 1 // all above round 0's, so that round 1 races over a CURRENT
			}
		}
		decisions := map[string]*mlservice.Decision{}
		for _, d := range racePromotions(t, url, f1s) {
			decisions[d.VersionID] = d
		}
		checkReplay(t, a, decisions, slices.Max(f1s))
	}
}

// checkReplay replays the whole history in key order and checks it
// against CURRENT, the versions listed and the decisions returned.
func checkReplay(t *testing.T, a *mlservice.Artifacts, decisions map[string]*mlservice.Decision, best float64) {
	t.Helper()
	ctx := context.Background()
	hist, err := a.ReadHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	promotedEver := map[string]float64{}
	cur, curF1 := "", -1.0
	promotions := 0
	for i, h := range hist {
		if seen[h.VersionID] {
			t.Errorf("record %d: a second decision for %s", i, h.VersionID)
		}
		seen[h.VersionID] = true
		f1 := h.Metric.Value
		switch h.Event {
		case mlservice.DecisionPromoted:
			if h.PreviousVersionID != cur {
				t.Errorf("record %d: promoted %s (f1 %v) over %q, but %q was current", i, h.VersionID, f1, h.PreviousVersionID, cur)
			}
			if cur != "" && !(f1 > curF1) {
				t.Errorf("record %d: promoted f1 %v over current f1 %v", i, f1, curF1)
			}
			cur, curF1 = h.VersionID, f1
			promotedEver[cur] = f1
			promotions++
		case mlservice.DecisionRejected:
			prevF1, ok := promotedEver[h.PreviousVersionID]
			if !ok {
				t.Errorf("record %d: rejected %s against %q, which was never promoted before it", i, h.VersionID, h.PreviousVersionID)
			} else if f1 > prevF1 {
				t.Errorf("record %d: rejected f1 %v against f1 %v", i, f1, prevF1)
			}
		default:
			t.Errorf("record %d: event %q", i, h.Event)
		}
	}
	for id, d := range decisions {
		if !seen[id] {
			t.Errorf("decision for %s (promoted %v) has no history record", id, d.Promoted)
		}
	}
	if got := mlkit.Current(t, a); got != cur {
		t.Errorf("CURRENT = %s, the replay ends on %s", got, cur)
	}
	if curF1 != best {
		t.Errorf("CURRENT has f1 %v, the best is %v", curF1, best)
	}
	vs, err := a.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != len(hist) {
		t.Errorf("%d versions listed, %d decisions recorded", len(vs), len(hist))
	}
	for _, v := range vs {
		if v.Error != "" || v.Decision == mlservice.DecisionInterrupted {
			t.Errorf("version %s: %s %s", v.VersionID, v.Decision, v.Error)
		}
	}
	t.Logf("%d decisions recorded, %d promotions replay in order; CURRENT %s has the best f1 %v", len(hist), promotions, cur, best)
}

// A trainer SIGKILLed at any point never leaves an incomplete version
// loaded or listed as promoted: CURRENT always names a committed version a
// Store loads, and every version listed is complete.
func TestS3CrashDuringPromote(t *testing.T) {
	// A fresh prefix every perPrefix kills keeps each check's listing short.
	kills, perPrefix, budget := 60, 15, 150*time.Second
	if testing.Short() {
		kills = 12
	}
	srv := mlkit.Weed(t)
	var url string
	var a *mlservice.Artifacts
	var b *s3.Bucket
	candFile := candidateFile(t)
	ctx := context.Background()
	begin := time.Now()
	var inPromote, inRollback, ops, incomplete, checks int
	for k := range kills {
		if k%perPrefix == 0 {
			url = mlkit.S3URL(t, srv)
			a, b = mlkit.OpenS3(t, url)
		}
		// An operation takes some tens of milliseconds on a loaded engine;
		// kill within the first few.
		last, n := killCrashChild(t, url, candFile, 4, time.Duration(rand.Int64N(int64(150*time.Millisecond))))
		switch last {
		case markPromote:
			inPromote++
		case markRollback:
			inRollback++
		}
		ops += n

		// CURRENT names a committed version that loads.
		if cur := mlkit.Current(t, a); cur != "" {
			st, err := a.OpenStore(mlservice.StoreOptions{RefreshInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			s := st.Status()
			st.Close()
			if !s.Ready || s.ModelVersionID != cur {
				t.Fatalf("after kill %d: CURRENT %s, store %+v", k, cur, s)
			}
		}
		// Every listed version is complete; none listed without a manifest.
		vs, err := a.Versions(ctx)
		if err != nil {
			t.Fatalf("after kill %d: versions: %v", k, err)
		}
		listed := map[string]bool{}
		for _, v := range vs {
			listed[v.VersionID] = true
			if v.Error != "" {
				t.Fatalf("after kill %d: version %s (%s) listed with error %s", k, v.VersionID, v.Decision, v.Error)
			}
			checks++
		}
		keys, err := b.List(ctx, "models/versions/")
		if err != nil {
			t.Fatal(err)
		}
		hasManifest := map[string]bool{}
		ids := map[string]bool{}
		for _, key := range keys {
			parts := strings.Split(key, "/")
			ids[parts[2]] = true
			if parts[3] == "manifest.json" {
				hasManifest[parts[2]] = true
			}
		}
		incomplete = 0
		for id := range ids {
			if !hasManifest[id] {
				incomplete++
				if listed[id] {
					t.Fatalf("after kill %d: incomplete version %s is listed", k, id)
				}
			}
		}
		if time.Since(begin) > budget && k >= 50 {
			kills = k + 1
			break
		}
	}
	t.Logf("%d SIGKILLs in %v: %d inside Promote, %d inside Rollback; children completed %d operations; %d incomplete versions left by kills (never listed or loaded); %d listed versions checked",
		kills, time.Since(begin).Round(time.Millisecond), inPromote, inRollback, ops, incomplete, checks)
	if inPromote < kills/4 {
		t.Errorf("only %d of %d kills landed inside Promote", inPromote, kills)
	}
}
