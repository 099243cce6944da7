package mlservice_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/artifactsurl"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// The crash and multi-process tests re-run this test binary as a child
// process (testkit.Child): TestChild does the child's work when childEnv is
// set and is skipped otherwise. Its artifacts are a directory or an s3://
// URL (artifactsurl), so one child serves the directory and the object
// store alike.
const (
	childEnv         = "MLSERVICE_CHILD"           // "crash" or "promote"
	childArtifactEnv = "MLSERVICE_CHILD_ARTIFACTS" // a directory or an artifacts URL
	childCandEnv     = "MLSERVICE_CHILD_CAND"      // a JSON-encoded Candidate
	childF1Env       = "MLSERVICE_CHILD_F1"        // "promote": the candidate's F1
	childSeedEnv     = "MLSERVICE_CHILD_SEED"      // "crash": seeds the child's choices
	childRollbackEnv = "MLSERVICE_CHILD_ROLLBACK"  // "crash": one step in this many rolls back
)

// Markers the crash child writes to fd 3.
const (
	markReady    = 'r' // the candidate is loaded; the loop starts
	markPromote  = 'P' // a Promote begins
	markRollback = 'R' // a Rollback begins
	markDone     = 'D' // the operation returned
)

// TestChild is not a test of its own: it is the body of the child processes
// started by the crash and concurrent-process tests.
func TestChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("runs only as a child process of the crash and concurrency tests")
	}
	data, err := os.ReadFile(os.Getenv(childCandEnv))
	if err != nil {
		t.Fatal(err)
	}
	var cand mlservice.Candidate
	if err := json.Unmarshal(data, &cand); err != nil {
		t.Fatal(err)
	}
	a, err := artifactsurl.Open(context.Background(), os.Getenv(childArtifactEnv))
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case "crash":
		crashLoop(t, a, &cand)
	case "promote":
		promoteOnce(t, a, &cand)
	default:
		t.Fatalf("unknown child mode %q", mode)
	}
}

// crashLoop promotes and rolls back in a loop until it is killed,
// reporting each step on fd 3. It stops on its own after a minute, in case
// its parent is gone.
func crashLoop(t *testing.T, a *mlservice.Artifacts, cand *mlservice.Candidate) {
	var seed uint64
	var rollbackOneIn int
	fmt.Sscan(os.Getenv(childSeedEnv), &seed)
	if _, err := fmt.Sscan(os.Getenv(childRollbackEnv), &rollbackOneIn); err != nil || rollbackOneIn < 1 {
		t.Fatalf("%s=%q", childRollbackEnv, os.Getenv(childRollbackEnv))
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	mark := testkit.Markers()
	ctx := context.Background()
	var mine []string // versions this child published and saw promoted
	mark(markReady)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		if len(mine) > 0 && rng.IntN(rollbackOneIn) == 0 {
			mark(markRollback)
			if _, err := a.Rollback(ctx, mine[rng.IntN(len(mine))]); err != nil {
				t.Fatalf("rollback: %v", err)
			}
		} else {
			c := *cand
			c.Metadata.Metric.Value = rng.Float64()
			mark(markPromote)
			d, err := a.Promote(ctx, &c)
			if err != nil {
				t.Fatalf("promote: %v", err)
			}
			if d.Promoted {
				mine = append(mine, d.VersionID)
			}
		}
		mark(markDone)
	}
}

// promoteOnce says "ready", waits for its parent to close stdin, promotes
// one candidate and prints the decision.
func promoteOnce(t *testing.T, a *mlservice.Artifacts, cand *mlservice.Candidate) {
	if _, err := fmt.Sscan(os.Getenv(childF1Env), &cand.Metadata.Metric.Value); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	d, err := a.Promote(context.Background(), cand)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal(d)
	fmt.Printf("DECISION %s\n", line)
}

// candidateFile writes the trained candidate where children can read it.
func candidateFile(t *testing.T) string {
	t.Helper()
	data, err := json.Marshal(mlkit.Trained(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "candidate.json")
	testkit.WriteFile(t, path, string(data))
	return path
}

// killCrashChild starts a crash child on artifacts, SIGKILLs it delay after
// it is ready and returns the last step it began or finished and how many
// it completed.
func killCrashChild(t *testing.T, artifacts, candFile string, rollbackOneIn int, delay time.Duration) (last byte, done int) {
	t.Helper()
	cmd := testkit.Child(t, "TestChild", childEnv+"=crash", childArtifactEnv+"="+artifacts, childCandEnv+"="+candFile,
		fmt.Sprintf("%s=%d", childSeedEnv, rand.Uint64()), fmt.Sprintf("%s=%d", childRollbackEnv, rollbackOneIn))
	markers := testkit.KillAfterReady(t, cmd, markReady, delay)
	last = markReady
	if len(markers) > 0 {
		last = markers[len(markers)-1]
	}
	return last, strings.Count(string(markers), string(rune(markDone)))
}

// racePromotions starts one promote child on artifacts for each F1, lets
// them all go at once when every one is ready, and returns their decisions
// in the order of f1s.
func racePromotions(t *testing.T, artifacts string, f1s []float64) []*mlservice.Decision {
	t.Helper()
	candFile := candidateFile(t)
	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		lines chan string
		out   strings.Builder
	}
	children := make([]*child, len(f1s))
	for i, f1 := range f1s {
		c := &child{cmd: testkit.Child(t, "TestChild", childEnv+"=promote", childArtifactEnv+"="+artifacts,
			childCandEnv+"="+candFile, fmt.Sprintf("%s=%v", childF1Env, f1)), lines: make(chan string, 16)}
		var err error
		if c.stdin, err = c.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		stdout, err := c.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		c.cmd.Stderr = &c.out
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c.stdin.Close()
			c.cmd.Process.Kill()
			c.cmd.Wait()
		})
		go func() {
			defer close(c.lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				c.lines <- sc.Text()
			}
		}()
		children[i] = c
	}
	timeout := time.After(60 * time.Second)
	await := func(c *child, prefix string) string {
		t.Helper()
		for {
			select {
			case line, ok := <-c.lines:
				if !ok {
					c.cmd.Wait()
					t.Fatalf("child ended before saying %q:\n%s", prefix, c.out.String())
				}
				if strings.HasPrefix(line, prefix) {
					return strings.TrimPrefix(line, prefix)
				}
			case <-timeout:
				t.Fatalf("child did not say %q in time:\n%s", prefix, c.out.String())
			}
		}
	}
	for _, c := range children {
		await(c, "ready")
	}
	for _, c := range children { // each child waits on its stdin: go
		c.stdin.Close()
	}
	decisions := make([]*mlservice.Decision, len(f1s))
	for i, c := range children {
		var d mlservice.Decision
		if err := json.Unmarshal([]byte(await(c, "DECISION ")), &d); err != nil {
			t.Fatal(err)
		}
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child: %v\n%s", err, c.out.String())
		}
		decisions[i] = &d
	}
	return decisions
}

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
