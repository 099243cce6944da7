package mlservice_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
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
