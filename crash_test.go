package mlservice_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// crashStats counts what the crash test saw.
type crashStats struct {
	kills, inPromote, inRollback, beforeFirstOp int
	ops                                         int // operations the children completed
	tmpDirs, tmpCurrents                        int // leftovers seen after a kill
	checked                                     int // versions checked
	cleaned                                     int // leftovers removed by the final Promote of a directory
}

// A trainer killed at any instant leaves CURRENT naming a complete version
// that a Store loads, and Versions never lists a half-written one; the next
// Promote clears what it left behind.
func TestCrashDuringPromote(t *testing.T) {
	// The budget bounds the test on a machine too loaded to start 240
	// processes in time; it normally takes a few seconds.
	kills, perDir, budget := 240, 30, 90*time.Second
	if testing.Short() {
		kills, budget = 24, 20*time.Second
	}
	candFile := candidateFile(t)
	root := t.TempDir()

	// Kills land up to about three operations after the child is ready, so
	// that most fall inside a write. How long an operation takes depends on
	// the disk (fsync); the estimate starts from a few promotions here and
	// follows what the children manage.
	calib := filepath.Join(root, "calibrate")
	mlkit.Promote(t, calib, 0)
	var times []time.Duration
	for i := range 5 {
		start := time.Now()
		mlkit.Promote(t, calib, float64(i)/10)
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	op := times[len(times)/2]
	var alive time.Duration // children's time after ready, summed

	var st crashStats
	var dir string
	verified := map[string]bool{}
	begin := time.Now()
	for k := range kills {
		if k%perDir == 0 {
			if dir != "" {
				st.cleaned += checkCleanup(t, dir)
			}
			dir = filepath.Join(root, fmt.Sprintf("artifacts-%d", k/perDir))
			clear(verified)
		}
		delay := time.Duration(rand.Int64N(int64(3*op + 100*time.Microsecond)))
		last, n := killCrashChild(t, dir, candFile, 3, delay)
		st.kills++
		st.ops += n
		alive += delay
		if st.ops >= 10 {
			op = alive / time.Duration(st.ops)
		}
		switch last {
		case markPromote:
			st.inPromote++
		case markRollback:
			st.inRollback++
		case markReady:
			st.beforeFirstOp++
		}
		checkCrashState(t, dir, verified, &st)
		if t.Failed() {
			t.Fatalf("after kill %d (%v into the loop)", k, delay)
		}
		if time.Since(begin) > budget && st.kills >= kills/4 {
			t.Logf("time budget of %v spent after %d of %d kills", budget, st.kills, kills)
			break
		}
	}
	st.cleaned += checkCleanup(t, dir)
	t.Logf("%d kills in %v (an operation takes ~%v here; kills up to 3 of them after ready): %d inside Promote, %d inside Rollback, %d between operations, %d before the first; children completed %d operations; leftovers seen: %d version temp dirs, %d CURRENT temp files; %d leftovers removed by the final Promote of a directory; %d versions checked",
		st.kills, time.Since(begin).Round(time.Millisecond), op.Round(time.Microsecond),
		st.inPromote, st.inRollback, st.kills-st.inPromote-st.inRollback-st.beforeFirstOp, st.beforeFirstOp,
		st.ops, st.tmpDirs, st.tmpCurrents, st.cleaned, st.checked)
	if st.inPromote < st.kills/4 {
		t.Errorf("only %d of %d kills landed inside Promote", st.inPromote, st.kills)
	}
}

// checkCrashState checks the invariants that must hold whenever a writer
// has just died. Versions found complete are remembered in verified: a
// published version never changes.
func checkCrashState(t *testing.T, dir string, verified map[string]bool, st *crashStats) {
	t.Helper()
	published := map[string]bool{}
	for _, name := range testkit.Entries(t, testkit.Models(dir, "versions")) {
		switch {
		case strings.HasPrefix(name, ".tmp-"):
			st.tmpDirs++
		case mlservice.ValidVersionID(name):
			published[name] = true
			if !verified[name] {
				if err := checkVersion(dir, name); err != nil {
					t.Errorf("published version %s is incomplete: %v", name, err)
				}
				verified[name] = true
				st.checked++
			}
		default:
			t.Errorf("unexpected entry %q in versions/", name)
		}
	}
	// A child killed before its first Promote created the layout leaves no
	// models directory at all.
	entries, err := os.ReadDir(testkit.Models(dir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "CURRENT.tmp-") {
			st.tmpCurrents++
		}
	}

	vs := mlkit.Versions(t, dir)
	if len(vs) != len(published) {
		t.Errorf("Versions lists %d versions, versions/ holds %d published", len(vs), len(published))
	}
	for _, v := range vs {
		if !published[v.VersionID] || v.Error != "" || v.Decision == "" {
			t.Errorf("Versions lists %+v", v)
		}
	}
	recordedPromoted := map[string]bool{}
	for _, h := range mlkit.History(t, dir) {
		if !published[h.VersionID] {
			t.Errorf("history names %s, which is not published", h.VersionID)
		}
		if h.Event == mlservice.DecisionPromoted {
			recordedPromoted[h.VersionID] = true
		}
	}
	// Promoted is a fact about CURRENT: only the current version, or one
	// history recorded after CURRENT moved to it, may be listed so.
	for _, v := range vs {
		if v.Decision == mlservice.DecisionPromoted && !v.Current && !recordedPromoted[v.VersionID] {
			t.Errorf("Versions lists %s as promoted; CURRENT does not name it and history has no promotion of it", v.VersionID)
		}
	}

	cur := testkit.Current(t, dir)
	if cur == "" {
		if _, err := os.Stat(testkit.Models(dir, "CURRENT")); err == nil {
			t.Error("CURRENT exists but is empty")
		}
		return
	}
	if !published[cur] {
		t.Errorf("CURRENT names %q, not a published version", cur)
	}
	s, err := mlservice.OpenStore(dir, mlservice.StoreOptions{RefreshInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.Status(); !st.Ready || st.LastError != "" || st.ModelVersionID != cur {
		t.Errorf("CURRENT = %s, a store opened on it: %+v", cur, st)
	}
}

// checkCleanup promotes once more and checks that no leftover of a killed
// writer survives and every version has a recorded decision.
func checkCleanup(t *testing.T, dir string) (leftovers int) {
	t.Helper()
	for _, name := range testkit.Entries(t, testkit.Models(dir, "versions")) {
		if !mlservice.ValidVersionID(name) {
			leftovers++
		}
	}
	if matches, _ := filepath.Glob(testkit.Models(dir, "CURRENT.tmp-*")); len(matches) > 0 {
		leftovers += len(matches)
	}
	d := mlkit.Promote(t, dir, 0.5)
	for _, name := range testkit.Entries(t, testkit.Models(dir, "versions")) {
		if !mlservice.ValidVersionID(name) {
			t.Errorf("versions/%s survived the next Promote", name)
		}
	}
	entries, err := os.ReadDir(testkit.Models(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("%s survived the next Promote", e.Name())
		}
	}
	decided := map[string]bool{}
	for _, h := range mlkit.History(t, dir) {
		if h.Event != mlservice.DecisionRolledBack {
			if decided[h.VersionID] {
				t.Errorf("%s has two decisions", h.VersionID)
			}
			decided[h.VersionID] = true
		}
	}
	for _, v := range mlkit.Versions(t, dir) {
		if !decided[v.VersionID] {
			t.Errorf("%s has no decision in history after recovery", v.VersionID)
		}
		if v.Current != (v.VersionID == testkit.Current(t, dir)) {
			t.Errorf("%+v: wrong current flag", v)
		}
	}
	if !decided[d.VersionID] {
		t.Error("the cleanup promotion was not recorded")
	}
	return leftovers
}
