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
	"syscall"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// The crash and multi-process tests re-run this test binary as a child
// process (the groupcache TestHTTPPool pattern): TestArtChild does the
// child's work when artChildEnv is set and is skipped otherwise.
const (
	artChildEnv = "MLSERVICE_ART_CHILD" // "crash" or "promote"
	artDirEnv   = "MLSERVICE_ART_DIR"   // the artifacts directory
	artCandEnv  = "MLSERVICE_ART_CAND"  // a JSON-encoded Candidate
	artF1Env    = "MLSERVICE_ART_F1"    // "promote": the candidate's F1
	artSeedEnv  = "MLSERVICE_ART_SEED"  // "crash": seeds the child's choices
)

// Markers the crash child writes to fd 3.
const (
	artMarkReady    = 'r' // the candidate is loaded; the loop starts
	artMarkPromote  = 'P' // a Promote begins
	artMarkRollback = 'R' // a Rollback begins
	artMarkDone     = 'D' // the operation returned
)

// TestArtChild is not a test of its own: it is the body of the child
// processes started by TestCrashDuringPromote and
// TestPromoteConcurrentProcesses.
func TestArtChild(t *testing.T) {
	mode := os.Getenv(artChildEnv)
	if mode == "" {
		t.Skip("runs only as a child process of the crash and concurrency tests")
	}
	data, err := os.ReadFile(os.Getenv(artCandEnv))
	if err != nil {
		t.Fatal(err)
	}
	var cand mlservice.Candidate
	if err := json.Unmarshal(data, &cand); err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv(artDirEnv)
	switch mode {
	case "crash":
		artCrashChild(t, dir, &cand)
	case "promote":
		artPromoteChild(t, dir, &cand)
	default:
		t.Fatalf("unknown child mode %q", mode)
	}
}

// artCrashChild promotes and rolls back in a loop until it is killed,
// reporting each step on fd 3. It stops on its own after a minute, in case
// its parent is gone.
func artCrashChild(t *testing.T, dir string, cand *mlservice.Candidate) {
	markers := os.NewFile(3, "markers")
	var seed uint64
	fmt.Sscan(os.Getenv(artSeedEnv), &seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	mark := func(b byte) {
		if _, err := markers.Write([]byte{b}); err != nil {
			os.Exit(3) // the parent is gone
		}
	}
	ctx := context.Background()
	var mine []string // versions this child published and saw promoted
	mark(artMarkReady)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		if len(mine) > 0 && rng.IntN(3) == 0 {
			mark(artMarkRollback)
			if _, err := mlservice.Rollback(ctx, dir, mine[rng.IntN(len(mine))]); err != nil {
				t.Fatalf("rollback: %v", err)
			}
		} else {
			c := *cand
			c.Metadata.Metric.Value = rng.Float64()
			mark(artMarkPromote)
			d, err := mlservice.Promote(ctx, dir, &c)
			if err != nil {
				t.Fatalf("promote: %v", err)
			}
			if d.Promoted {
				mine = append(mine, d.VersionID)
			}
		}
		mark(artMarkDone)
	}
}

// artPromoteChild says "ready", waits for its parent to close stdin, promotes
// one candidate and prints the decision.
func artPromoteChild(t *testing.T, dir string, cand *mlservice.Candidate) {
	if _, err := fmt.Sscan(os.Getenv(artF1Env), &cand.Metadata.Metric.Value); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	d, err := mlservice.Promote(context.Background(), dir, cand)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal(d)
	fmt.Printf("ARTDECISION %s\n", line)
}

// artCandidateFile writes the trained candidate where children can read it.
func artCandidateFile(t *testing.T) string {
	t.Helper()
	data, err := json.Marshal(mlkit.Trained(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "candidate.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// artChild returns a command that runs TestArtChild in mode.
func artChild(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestArtChild$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), append([]string{artChildEnv + "=" + mode}, env...)...)
	return cmd
}

// artCrashStats counts what the crash test saw.
type artCrashStats struct {
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
	candFile := artCandidateFile(t)
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

	var st artCrashStats
	var dir string
	verified := map[string]bool{}
	begin := time.Now()
	for k := range kills {
		if k%perDir == 0 {
			if dir != "" {
				st.cleaned += artCheckCleanup(t, dir)
			}
			dir = filepath.Join(root, fmt.Sprintf("artifacts-%d", k/perDir))
			clear(verified)
		}
		delay := time.Duration(rand.Int64N(int64(3*op + 100*time.Microsecond)))
		last, n := artKillChild(t, dir, candFile, delay)
		st.kills++
		st.ops += n
		alive += delay
		if st.ops >= 10 {
			op = alive / time.Duration(st.ops)
		}
		switch last {
		case artMarkPromote:
			st.inPromote++
		case artMarkRollback:
			st.inRollback++
		case artMarkReady:
			st.beforeFirstOp++
		}
		artCheckCrashState(t, dir, verified, &st)
		if t.Failed() {
			t.Fatalf("after kill %d (%v into the loop)", k, delay)
		}
		if time.Since(begin) > budget && st.kills >= kills/4 {
			t.Logf("time budget of %v spent after %d of %d kills", budget, st.kills, kills)
			break
		}
	}
	st.cleaned += artCheckCleanup(t, dir)
	t.Logf("%d kills in %v (an operation takes ~%v here; kills up to 3 of them after ready): %d inside Promote, %d inside Rollback, %d between operations, %d before the first; children completed %d operations; leftovers seen: %d version temp dirs, %d CURRENT temp files; %d leftovers removed by the final Promote of a directory; %d versions checked",
		st.kills, time.Since(begin).Round(time.Millisecond), op.Round(time.Microsecond),
		st.inPromote, st.inRollback, st.kills-st.inPromote-st.inRollback-st.beforeFirstOp, st.beforeFirstOp,
		st.ops, st.tmpDirs, st.tmpCurrents, st.cleaned, st.checked)
	if st.inPromote < st.kills/4 {
		t.Errorf("only %d of %d kills landed inside Promote", st.inPromote, st.kills)
	}
}

// artKillChild starts a crash child, SIGKILLs it delay after it is ready and
// returns the last step it began or finished and how many it completed.
func artKillChild(t *testing.T, dir, candFile string, delay time.Duration) (last byte, done int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := artChild(t, "crash", artDirEnv+"="+dir, artCandEnv+"="+candFile,
		fmt.Sprintf("%s=%d", artSeedEnv, rand.Uint64()))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ready := make(chan bool, 1)
	rest := make(chan []byte, 1)
	go func() {
		br := bufio.NewReader(r)
		b, err := br.ReadByte()
		ready <- err == nil && b == artMarkReady
		data, _ := io.ReadAll(br)
		rest <- data
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("crash child did not get ready:\n%s", out.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("crash child not ready after 30s:\n%s", out.String())
	}
	time.Sleep(delay)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("crash child ended with %v before it was killed:\n%s", err, out.String())
	}
	markers := <-rest
	last = artMarkReady
	if len(markers) > 0 {
		last = markers[len(markers)-1]
	}
	return last, strings.Count(string(markers), string(rune(artMarkDone)))
}

// artCheckCrashState checks the invariants that must hold whenever a writer
// has just died. Versions found complete are remembered in verified: a
// published version never changes.
func artCheckCrashState(t *testing.T, dir string, verified map[string]bool, st *artCrashStats) {
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

// artCheckCleanup promotes once more and checks that no leftover of a killed
// writer survives and every version has a recorded decision.
func artCheckCleanup(t *testing.T, dir string) (leftovers int) {
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
