//go:build unix

package main

// Attacks on the real trainer binary's promotion: a SIGKILL at every fsync
// and a full disk at every write, injected with strace. After each, whatever
// the trainer managed to do, "promoted" must be a fact about CURRENT, CURRENT
// must load, and the next trainer must record what happened.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
)

// straceTool returns strace's path, skipping the test when it is missing.
func straceTool(t *testing.T) string {
	t.Helper()
	path := testkit.Tool(t, "strace", "strace", "the trainer's promotion was NOT attacked with faults injected at each fsync and write")
	if out, err := exec.Command(path, "-qq", "-o", "/dev/null", "true").CombinedOutput(); err != nil {
		t.Fatalf("strace cannot trace here (ptrace refused?): %v\n%s", err, out)
	}
	return path
}

type tracedRun struct {
	result
	trace string // strace's log, when traced
}

// runTraced runs the trainer with args, under strace with straceArgs
// unless straceArgs is nil.
func runTraced(t *testing.T, strace, bin string, straceArgs []string, args ...string) tracedRun {
	t.Helper()
	var cmd *exec.Cmd
	log := filepath.Join(t.TempDir(), "strace.log")
	if straceArgs == nil {
		cmd = exec.Command(bin, args...)
	} else {
		all := append([]string{"-f", "-qq", "-y", "-o", log}, straceArgs...)
		cmd = exec.Command(strace, append(append(all, bin), args...)...)
	}
	cmd.Env = append(os.Environ(), "BALANCED_CLASS_WEIGHT=False")
	r := tracedRun{result: testkit.Run(t, cmd)}
	if straceArgs != nil {
		b, _ := os.ReadFile(log)
		r.trace = string(b)
	}
	return r
}

// baseArtifacts returns an artifacts directory where day_01 is current, or an
// empty one, and the versions it holds.
func baseArtifacts(t *testing.T, bin string, empty bool) (string, map[string]bool) {
	t.Helper()
	art := t.TempDir()
	base := map[string]bool{}
	if !empty {
		r := runTraced(t, "", bin, nil, "train", "-artifacts", art, testkit.Data(t, "day_01.csv"))
		if r.Code != 0 {
			t.Fatalf("base train: exit %d\n%s", r.Code, r.Stderr)
		}
		id, err := mlservice.CurrentVersion(art)
		if err != nil {
			t.Fatal(err)
		}
		base[id] = true
	}
	return art, base
}

// binVersions lists versions with the real binary, as an operator would.
func binVersions(t *testing.T, bin, art string) []mlservice.VersionInfo {
	t.Helper()
	r := runTraced(t, "", bin, nil, "versions", "-json", "-artifacts", art)
	var vs []mlservice.VersionInfo
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &vs) != nil {
		t.Fatalf("trainer versions: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	return vs
}

// checkAfterFault checks the state a faulted train of day_02 left in art, then
// lets the next trainer recover and checks what it recorded. It returns a
// description of the outcome.
func checkAfterFault(t *testing.T, bin, art string, base map[string]bool, r tracedRun) string {
	t.Helper()
	cur, err := mlservice.CurrentVersion(art)
	if err != nil && !errors.Is(err, mlservice.ErrNoCurrent) {
		t.Fatalf("CURRENT after the fault: %v", err)
	}
	hist, err := mlservice.ReadHistory(art)
	if err != nil {
		t.Fatalf("history after the fault: %v", err)
	}
	promotedInHistory := map[string]bool{}
	for _, h := range hist {
		if h.Event == mlservice.DecisionPromoted {
			promotedInHistory[h.VersionID] = true
		}
	}
	newID := ""
	for _, v := range binVersions(t, bin, art) {
		if !base[v.VersionID] {
			newID = v.VersionID
		}
		if v.Current != (v.VersionID == cur) || v.Error != "" {
			t.Errorf("Versions lists %+v; CURRENT is %q", v, cur)
		}
		if v.Decision == mlservice.DecisionPromoted && !v.Current && !promotedInHistory[v.VersionID] {
			t.Errorf("Versions lists %s as promoted; CURRENT names %q and history records no promotion of it", v.VersionID, cur)
		}
	}
	if cur != "" {
		if !base[cur] && cur != newID {
			t.Errorf("CURRENT names %s, neither the base nor the new version", cur)
		}
		s, err := mlservice.OpenStore(art, mlservice.StoreOptions{RefreshInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		if st := s.Status(); !st.Ready || st.ModelVersionID != cur {
			t.Errorf("a store on CURRENT %s: %+v", cur, st)
		}
		s.Close()
	}
	moved := newID != "" && cur == newID
	// A promotion that took effect is not reported as a failure of Promote.
	if moved && strings.Contains(r.Stderr, "trainer: promote") {
		t.Errorf("CURRENT moved to %s, yet the trainer reported a failed promotion:\n%s", newID, r.Stderr)
	}
	var out trainResult
	if r.Code == 0 && json.Unmarshal([]byte(r.Stdout), &out) == nil {
		if out.Promoted != moved || out.ModelVersionID != newID {
			t.Errorf("the trainer says %s promoted=%v; CURRENT is %q", out.ModelVersionID, out.Promoted, cur)
		}
		if out.Warning != "" && !strings.Contains(r.Stderr, "warning: ") {
			t.Errorf("a warning in the JSON but not on stderr:\n%s", r.Stderr)
		}
	}

	// The next trainer records what the faulted one could not.
	next := runTraced(t, "", bin, nil, "train", "-artifacts", art, "-seed", "7", testkit.Data(t, "day_03.csv"))
	if next.Code != 0 {
		t.Fatalf("the next train after the fault: exit %d\n%s", next.Code, next.Stderr)
	}
	hist, err = mlservice.ReadHistory(art)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, h := range hist {
		if h.VersionID == newID && h.Event != mlservice.DecisionRolledBack {
			events = append(events, h.Event)
		}
	}
	// day_02 beats day_01 on the same rows, so the faulted trainer meant to
	// promote: its version is promoted exactly when CURRENT names it.
	want := mlservice.DecisionInterrupted
	if moved {
		want = mlservice.DecisionPromoted
	}
	if newID != "" && !slices.Equal(events, []string{want}) {
		t.Errorf("history of %s after recovery: %v, want [%s]", newID, events, want)
	}
	switch {
	case newID == "":
		return "no version published"
	case moved:
		return "published and current"
	default:
		return "published, not current"
	}
}

// tracedCalls trains day2 over day_01 once under strace, tracing only the
// system call name, and returns how many calls of it a clean train makes:
// at least min, or the test ends.
func tracedCalls(t *testing.T, strace, bin, day2, name string, min int) int {
	t.Helper()
	art, _ := baseArtifacts(t, bin, false)
	count := runTraced(t, strace, bin, []string{"-e", "trace=" + name}, "train", "-artifacts", art, day2)
	n := strings.Count(count.trace, name+"(")
	if count.Code != 0 || n < min {
		t.Fatalf("a clean traced train: exit %d, %d %ss\n%s", count.Code, n, name, count.trace)
	}
	return n
}

// killSite names the fsync the trainer was killed in, from strace's log:
// the call left unfinished, with the version id and temporary suffixes
// blanked.
var (
	unfinishedFsync = regexp.MustCompile(`fsync\(\d+<([^>]*)>(?: <unfinished|\) += \?)`)
	randomParts     = regexp.MustCompile(`[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[0-9a-f]{8}|CURRENT\.tmp-[0-9a-f]{8}`)
)

func killSite(trace, art string) string {
	m := unfinishedFsync.FindAllStringSubmatch(trace, -1)
	if len(m) == 0 {
		return "?"
	}
	site := strings.TrimPrefix(m[len(m)-1][1], art+"/")
	return randomParts.ReplaceAllStringFunc(site, func(s string) string {
		if strings.HasPrefix(s, "CURRENT") {
			return "CURRENT.tmp-…"
		}
		return "<id>"
	})
}

// A trainer killed at any fsync of a train (strace injects SIGKILL at the
// Nth fsync of a thread, for every N up to the number a train makes, from an
// empty directory and from one with a current version) never leaves a
// non-current version listed as promoted by trainer versions, CURRENT always
// loads, and the next trainer records the killed one's version as promoted
// exactly when CURRENT names it. Because strace counts per thread and Go
// moves between threads, each round hits a different mix of sites; three
// fixed sites are also hit for certain by filtering on their path.
func TestTrainerKilledAtEveryFsync(t *testing.T) {
	strace := straceTool(t)
	bin := testkit.Binary(t, "trainer")
	day2 := testkit.Data(t, "day_02.csv")

	fsyncs := tracedCalls(t, strace, bin, day2, "fsync", 7)

	sites := map[string]int{}
	attack := func(empty bool, straceArgs func(art string) []string) {
		t.Helper()
		art, base := baseArtifacts(t, bin, empty)
		r := runTraced(t, strace, bin, straceArgs(art), "train", "-artifacts", art, day2)
		if !r.Killed {
			return // this N was past the fsyncs of every thread
		}
		site := killSite(r.trace, art)
		outcome := checkAfterFault(t, bin, art, base, r)
		sites[site+": "+outcome]++
	}
	for round := range 3 {
		for n := 1; n <= fsyncs; n++ {
			attack(round%2 == 1, func(string) []string {
				return []string{"-e", "trace=fsync", "-e", fmt.Sprintf("inject=fsync:signal=SIGKILL:when=%d", n)}
			})
		}
	}
	// The three sites with a fixed path: the version just renamed into
	// place (CURRENT not moved yet), CURRENT just renamed (history not
	// written yet), and history just written.
	for _, rel := range []string{"models/versions", "models", "models/history.jsonl"} {
		attack(false, func(art string) []string {
			return []string{"-P", filepath.Join(art, rel), "-e", "trace=fsync", "-e", "inject=fsync:signal=SIGKILL:when=1"}
		})
	}
	for _, want := range []string{"models/versions: published, not current", "models: published and current"} {
		if sites[want] == 0 {
			t.Errorf("no kill at %q; kills: %v", want, sites)
		}
	}
	t.Logf("%d fsyncs per train; kills by site and outcome: %v", fsyncs, sites)
}

// A full disk at any write of a train (strace fails the Nth write of a
// thread with ENOSPC, for every N, in rounds until the CURRENT write and the
// history append have both been hit) leaves the same invariants, and a
// failed CURRENT write is reported as a failure with CURRENT unchanged. A
// full disk at the history append only, after CURRENT moved, is a success
// with a warning, and the next trainer records the promotion.
func TestTrainerDiskFullAtEveryWrite(t *testing.T) {
	strace := straceTool(t)
	bin := testkit.Binary(t, "trainer")
	day2 := testkit.Data(t, "day_02.csv")

	writes := tracedCalls(t, strace, bin, day2, "write", 6)

	var currentFailed, historyFailed int
	outcomes := map[string]int{}
	for round := 0; round < 8 && (round < 2 || currentFailed == 0 || historyFailed == 0); round++ {
		for n := 1; n <= writes; n++ {
			art, base := baseArtifacts(t, bin, false)
			r := runTraced(t, strace, bin,
				[]string{"-e", "trace=write", "-e", fmt.Sprintf("inject=write:error=ENOSPC:when=%d", n)},
				"train", "-artifacts", art, day2)
			outcomes[checkAfterFault(t, bin, art, base, r)]++
			if strings.Contains(r.Stderr, "update CURRENT") {
				currentFailed++
				if r.Code == 0 {
					t.Errorf("the CURRENT write failed, yet the trainer exited 0:\n%s", r.Stderr)
				}
			}
			if strings.Contains(r.Stderr, "warning: ") && strings.Contains(r.Stderr, "history.jsonl") {
				historyFailed++
			}
		}
	}
	if currentFailed == 0 || historyFailed == 0 {
		t.Errorf("the sweep failed the CURRENT write %d times and the history append %d times; want both", currentFailed, historyFailed)
	}
	t.Logf("%d writes per train; CURRENT write failed %d times, history append %d; outcomes %v", writes, currentFailed, historyFailed, outcomes)

	// Only the history append fails.
	art, base := baseArtifacts(t, bin, false)
	r := runTraced(t, strace, bin,
		[]string{"-P", filepath.Join(art, "models", "history.jsonl"), "-e", "trace=write", "-e", "inject=write:error=ENOSPC"},
		"train", "-artifacts", art, day2)
	var out trainResult
	if err := json.Unmarshal([]byte(r.Stdout), &out); r.Code != 0 || err != nil || !out.Promoted || out.Warning == "" {
		t.Fatalf("history append failing after CURRENT moved: exit %d, %+v\n%s", r.Code, out, r.Stderr)
	}
	if strings.Contains(out.Warning, art) {
		t.Errorf("the warning names a host path: %s", out.Warning)
	}
	if got := checkAfterFault(t, bin, art, base, r); got != "published and current" {
		t.Errorf("outcome %q", got)
	}
}

// Creating history.jsonl is made durable: the models directory is fsynced
// after the file is created, so a power cut cannot lose the file while
// CURRENT survives.
func TestTrainerSyncsDirectoryOfNewHistory(t *testing.T) {
	strace := straceTool(t)
	bin := testkit.Binary(t, "trainer")
	art := t.TempDir()
	r := runTraced(t, strace, bin, []string{"-e", "trace=openat,fsync"}, "train", "-artifacts", art, testkit.Data(t, "day_01.csv"))
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	lines := strings.Split(r.trace, "\n")
	created := slices.IndexFunc(lines, func(l string) bool {
		return strings.Contains(l, "openat(") && strings.Contains(l, "history.jsonl") && strings.Contains(l, "O_CREAT")
	})
	if created < 0 {
		t.Fatalf("no creation of history.jsonl in the trace:\n%s", r.trace)
	}
	models := filepath.Join(art, "models")
	if !slices.ContainsFunc(lines[created:], func(l string) bool { return strings.Contains(l, "fsync(") && strings.Contains(l, "<"+models+">") }) {
		t.Errorf("models/ is not fsynced after history.jsonl is created:\n%s", strings.Join(lines[created:], "\n"))
	}
}
