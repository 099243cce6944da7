package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
)

const dataDir = "../../data"

// TestMain builds the trainer binary once for the tests that run it
// (testkit.Binary), and removes it at the end.
func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// result is how a run of the trainer, in-process or the binary, ended.
type result = testkit.Result

// trainer runs the command in-process as main would, with env as its only
// environment and an empty standard input. The garbage collector is left
// alone: its settings are process-wide.
func trainer(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return trainerStdin(t, env, "", args...)
}

// trainerStdin is trainer with stdin as standard input.
func trainerStdin(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	p := proc{getenv: func(k string) string { return env[k] }, stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr}
	err := run(context.Background(), args, p)
	code := exitCode(err, &stderr)
	return result{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

func decodeTrain(t *testing.T, r result) trainResult {
	t.Helper()
	if r.Code != exitOK {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	var res trainResult
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("stdout is not one train result: %v\n%s", err, r.Stdout)
	}
	if dec.More() {
		t.Fatalf("stdout has more than one JSON value:\n%s", r.Stdout)
	}
	return res
}

func TestTrainPromotesThenRejects(t *testing.T) {
	art := t.TempDir()
	env := map[string]string{"ARTIFACTS_DIR": art}
	first := decodeTrain(t, trainer(t, env, "train", filepath.Join(dataDir, "day_02.csv")))
	if !first.Promoted || first.PreviousVersionID != nil || first.PreviousMetric != nil {
		t.Errorf("first training: %+v", first)
	}
	if first.Metric.Name != "f1" || first.Metric.Value != first.Metrics.F1 || first.Rows != first.TrainRows+first.EvalRows {
		t.Errorf("result fields inconsistent: %+v", first)
	}
	if !mlservice.ValidVersionID(first.ModelVersionID) {
		t.Errorf("version id %q", first.ModelVersionID)
	}
	// Day 03 scores below day 02 (data/README.md).
	r := trainer(t, env, "train", filepath.Join(dataDir, "day_03.csv"))
	second := decodeTrain(t, r)
	// previous_metric is day 02's model on day 03's evaluation rows (checked
	// against scikit-learn in the library's fair-promotion test);
	// previous_metric_stored is the F1 recorded with it.
	if second.Promoted || second.PreviousVersionID == nil || *second.PreviousVersionID != first.ModelVersionID ||
		second.PreviousMetric == nil || second.Metric.Value > *second.PreviousMetric ||
		second.PreviousMetricStored == nil || *second.PreviousMetricStored != first.Metric.Value {
		t.Errorf("second training: %+v", second)
	}
	for _, want := range []string{"validated", "trained", "rejected"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("progress on stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	if cur, _ := mlservice.CurrentVersion(art); cur != first.ModelVersionID {
		t.Errorf("CURRENT %s, want %s", cur, first.ModelVersionID)
	}
}

func TestTrainBalancedFromEnvAndFlag(t *testing.T) {
	day := filepath.Join(dataDir, "day_01.csv")
	for _, tc := range []struct {
		env  string
		args []string
		want bool
	}{
		{"True", nil, true},
		{"true", nil, true},
		{"1", nil, true},
		{"False", nil, false},
		{"", nil, false},
		{"True", []string{"-balanced=false"}, false}, // the flag wins
		{"False", []string{"-balanced"}, true},
	} {
		env := map[string]string{"ARTIFACTS_DIR": t.TempDir(), "BALANCED_CLASS_WEIGHT": tc.env}
		res := decodeTrain(t, trainer(t, env, append(append([]string{"train"}, tc.args...), day)...))
		if res.Balanced != tc.want {
			t.Errorf("BALANCED_CLASS_WEIGHT=%q %v: balanced %v, want %v", tc.env, tc.args, res.Balanced, tc.want)
		}
		meta := readMeta(t, env["ARTIFACTS_DIR"], res.ModelVersionID)
		if got := meta.Params.ClassWeight != nil; got != tc.want {
			t.Errorf("metadata class_weight %v, want balanced=%v", meta.Params.ClassWeight, tc.want)
		}
	}
}

func readMeta(t *testing.T, art, id string) mlservice.Metadata {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(art, "models", "versions", id, "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m mlservice.Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTrainEvalFileAndFlagOrder(t *testing.T) {
	art := t.TempDir()
	// Flags after the file work too.
	res := decodeTrain(t, trainer(t, nil, "train", filepath.Join(dataDir, "day_04.csv"),
		"-eval", filepath.Join(dataDir, "day_05.csv"), "-artifacts", art))
	meta := readMeta(t, art, res.ModelVersionID)
	day5, err := mlservice.ValidateFile(context.Background(), filepath.Join(dataDir, "day_05.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if res.EvalRows != day5.Len() || meta.Data.Split != "file" || meta.EvaluationDataFile != "day_05.csv" ||
		meta.Data.EvalSHA256 != day5.SHA256 {
		t.Errorf("eval rows %d (want %d), split %q, evaluation file %q", res.EvalRows, day5.Len(), meta.Data.Split, meta.EvaluationDataFile)
	}
}

func TestTrainInvalidData(t *testing.T) {
	art := t.TempDir()
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("age,income,account_balance,transactions_last_30d,is_premium,target\n"+
		"30,1000,5,2,0,1\n-4,1000,5,2,0,0\nNA,1000,5,2,0,1\n30,1000,5,2,3,0\n"), 0o644)
	r := trainer(t, map[string]string{"ARTIFACTS_DIR": art}, "train", bad)
	if r.Code != exitInvalid {
		t.Fatalf("exit %d, want %d\n%s", r.Code, exitInvalid, r.Stderr)
	}
	if r.Stdout != "" {
		t.Errorf("stdout for invalid data: %q", r.Stdout)
	}
	for _, want := range []string{`line 3, column "age", value "-4"`, `line 4, column "age", value "NA"`, `line 5, column "is_premium", value "3"`, "gte=0", "binary", "required"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	if vs, _ := mlservice.Versions(art); len(vs) != 0 {
		t.Errorf("invalid data left %d versions", len(vs))
	}
	if r := trainer(t, nil, "validate", bad); r.Code != exitInvalid {
		t.Errorf("validate exit %d", r.Code)
	}
	if r := trainer(t, nil, "train", "-artifacts", art, "-eval", bad, filepath.Join(dataDir, "day_01.csv")); r.Code != exitInvalid {
		t.Errorf("invalid eval file: exit %d", r.Code)
	}
}

func TestUsage(t *testing.T) {
	day := filepath.Join(dataDir, "day_01.csv")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		say  string // in stderr, when set
	}{
		{"no command", nil, nil, exitUsage, ""},
		{"unknown command", nil, []string{"fly"}, exitUsage, ""},
		{"train without file", nil, []string{"train"}, exitUsage, ""},
		{"train two files", nil, []string{"train", day, day}, exitUsage, ""},
		{"unknown flag", nil, []string{"train", "-fast", day}, exitUsage, ""},
		{"bad seed", nil, []string{"train", "-seed", "x", day}, exitUsage, ""},
		{"zero seed", nil, []string{"train", "-seed", "0", day}, exitUsage, ""},
		{"bad env bool", map[string]string{"BALANCED_CLASS_WEIGHT": "maybe"}, []string{"train", day}, exitUsage, ""},
		{"rollback bad id", nil, []string{"rollback", "../../etc"}, exitUsage, ""},
		{"versions extra arg", nil, []string{"versions", "x"}, exitUsage, `versions takes no arguments, got ["x"]`},
		{"unpin extra arg", nil, []string{"unpin", "x", "y"}, exitUsage, `unpin takes no arguments, got ["x" "y"]`},
		{"report extra arg", nil, []string{"report", "x"}, exitUsage, `report takes no arguments, got ["x"]`},
		{"help", nil, []string{"help"}, exitOK, ""},
		{"missing file", map[string]string{"ARTIFACTS_DIR": t.TempDir()}, []string{"train", "no-such.csv"}, exitFailure, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := trainer(t, tc.env, tc.args...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", r.Code, tc.code, r.Stderr)
			}
			if tc.code == exitUsage && !strings.Contains(r.Stderr, "usage:") {
				t.Errorf("usage error without usage text:\n%s", r.Stderr)
			}
			if !strings.Contains(r.Stderr, tc.say) {
				t.Errorf("stderr does not say %q:\n%s", tc.say, r.Stderr)
			}
		})
	}
}

func TestValidateCommand(t *testing.T) {
	r := trainer(t, nil, "validate", filepath.Join(dataDir, "day_01.csv"))
	if r.Code != exitOK {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	var out struct {
		Valid       bool   `json:"valid"`
		Rows        int    `json:"rows"`
		ClassCounts [2]int `json:"class_counts"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatal(err)
	}
	if !out.Valid || out.Rows == 0 || out.ClassCounts[0]+out.ClassCounts[1] != out.Rows {
		t.Errorf("validate output %s", r.Stdout)
	}
}

func TestVersionsAndRollback(t *testing.T) {
	art := t.TempDir()
	env := map[string]string{"ARTIFACTS_DIR": art}
	r := trainer(t, env, "versions")
	if r.Code != exitOK || !strings.Contains(r.Stdout, "no versions") {
		t.Fatalf("versions on an empty dir: %d %q", r.Code, r.Stdout)
	}
	v1 := decodeTrain(t, trainer(t, env, "train", filepath.Join(dataDir, "day_01.csv")))
	v2 := decodeTrain(t, trainer(t, env, "train", filepath.Join(dataDir, "day_02.csv")))
	v3 := decodeTrain(t, trainer(t, env, "train", filepath.Join(dataDir, "day_03.csv")))
	if !v1.Promoted || !v2.Promoted || v3.Promoted {
		t.Fatalf("promotions %v %v %v, want true true false", v1.Promoted, v2.Promoted, v3.Promoted)
	}

	r = trainer(t, env, "versions")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 5 { // header, three versions, legend
		t.Fatalf("versions table:\n%s", r.Stdout)
	}
	for _, h := range []string{"VERSION", "TRAINED AT", "METRIC", "DECISION", "DATA FILE"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("header lacks %q: %q", h, lines[0])
		}
	}
	for i, want := range []struct {
		res      trainResult
		current  bool
		decision string
	}{{v3, false, "rejected"}, {v2, true, "promoted"}, {v1, false, "promoted"}} {
		line := lines[i+1]
		if !strings.Contains(line, want.res.ModelVersionID) || !strings.Contains(line, want.decision) ||
			strings.HasPrefix(line, "*") != want.current || !strings.Contains(line, "day_0") {
			t.Errorf("row %d %q: want %s, %s, current %v", i, line, want.res.ModelVersionID, want.decision, want.current)
		}
	}
	r = trainer(t, env, "versions", "-json")
	var listed []mlservice.VersionInfo
	if err := json.Unmarshal([]byte(r.Stdout), &listed); err != nil || len(listed) != 3 {
		t.Fatalf("versions -json: %v %s", err, r.Stdout)
	}

	r = trainer(t, env, "rollback", v1.ModelVersionID)
	if r.Code != exitOK {
		t.Fatalf("rollback exit %d: %s", r.Code, r.Stderr)
	}
	if cur, _ := mlservice.CurrentVersion(art); cur != v1.ModelVersionID {
		t.Errorf("after rollback CURRENT is %s, want %s", cur, v1.ModelVersionID)
	}
	missing := "20200101T000000.000000Z-00000000"
	if r := trainer(t, env, "rollback", missing); r.Code != exitInvalid || !strings.Contains(r.Stderr, "not found") {
		t.Errorf("rollback to a missing version: exit %d %s", r.Code, r.Stderr)
	}
	if cur, _ := mlservice.CurrentVersion(art); cur != v1.ModelVersionID {
		t.Errorf("a failed rollback moved CURRENT to %s", cur)
	}
}

func TestEstimateRows(t *testing.T) {
	for _, tc := range []struct{ body string }{
		{"age,income,account_balance,transactions_last_30d,is_premium,target\n" + strings.Repeat("41,52000.10,-1200.55,12,1,0\n", 50000)},
		{"h\n" + strings.Repeat("1\n", 10)},
		{""},
	} {
		path := filepath.Join(t.TempDir(), "f.csv")
		if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		in, err := openInput(t.Context(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := in.estimateRows()
		if err != nil {
			t.Fatal(err)
		}
		want := float64(strings.Count(tc.body, "\n"))
		if want > 0 && (got < 0.9*want || got > 1.1*want+1) {
			t.Errorf("estimateRows of %d lines = %.0f", int(want), got)
		}
		// The estimate consumed nothing: validation reads every byte.
		rest, err := io.ReadAll(in.r)
		if err != nil || string(rest) != tc.body {
			t.Errorf("after estimateRows the input reads %d bytes (%v), want all %d", len(rest), err, len(tc.body))
		}
		in.close()
	}
	if _, err := openInput(t.Context(), filepath.Join(t.TempDir(), "missing.csv"), nil); err == nil {
		t.Error("a missing file gave no error")
	}
	// A pipe has no estimate, and is not read by asking for one.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	in, err := openInput(t.Context(), "-", pr)
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := in.estimateRows(); rows != 0 || err != nil {
		t.Errorf("estimateRows of a pipe = %v, %v; want 0, nil", rows, err)
	}
	// 1M rows: the limit leaves room for the data and stays near it.
	if l := heapLimit(1e6); l < int64(1e6*bytesPerRow) || l > 150<<20 {
		t.Errorf("heapLimit(1M rows) = %d MiB", l>>20)
	}
}

// Training again on the file the current version was trained on, with the
// same parameters, adds no version (make run reruns train day_01 each time):
// exit 0, a note on stderr, and "skipped": true with the current version id.
// Another file, seed or class weighting still trains.
func TestTrainRerunSkips(t *testing.T) {
	art := t.TempDir()
	env := map[string]string{"ARTIFACTS_DIR": art}
	day1 := filepath.Join(dataDir, "day_01.csv")
	first := decodeTrain(t, trainer(t, env, "train", day1))
	r := trainer(t, env, "train", day1)
	again := decodeTrain(t, r)
	if !again.Skipped || again.Promoted || again.ModelVersionID != first.ModelVersionID || !strings.Contains(r.Stderr, "skipped") {
		t.Errorf("rerun: %+v\n%s", again, r.Stderr)
	}
	vs, err := mlservice.Versions(art)
	if err != nil || len(vs) != 1 {
		t.Fatalf("versions after a rerun: %d, %v", len(vs), err)
	}
	for _, args := range [][]string{{"-seed", "7", day1}, {"-balanced", day1}, {"-eval", filepath.Join(dataDir, "day_02.csv"), day1}} {
		if res := decodeTrain(t, trainer(t, env, append([]string{"train"}, args...)...)); res.Skipped {
			t.Errorf("train %v skipped: %+v", args, res)
		}
	}
}

// A CURRENT that cannot be read leaves no version marked current; versions
// still lists them, and then fails, naming CURRENT, rather than pass for a
// store where nothing was promoted.
func TestVersionsUnreadableCurrent(t *testing.T) {
	art := t.TempDir()
	env := map[string]string{"ARTIFACTS_DIR": art}
	if r := trainer(t, env, "train", "../../data/day_01.csv"); r.Code != exitOK {
		t.Fatalf("train: exit %d\n%s", r.Code, r.Stderr)
	}
	if err := os.WriteFile(filepath.Join(art, "models", "CURRENT"), bytes.Repeat([]byte("a"), 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"versions"}, {"versions", "-json"}} {
		r := trainer(t, env, args...)
		if r.Code == exitOK || !strings.Contains(r.Stderr, "CURRENT") || !strings.Contains(r.Stdout, "day_01.csv") {
			t.Errorf("%v with an oversized CURRENT: exit %d, stdout %q, stderr %q; want the list, then an error naming CURRENT",
				args, r.Code, r.Stdout, r.Stderr)
		}
	}
}

// runBin runs the trainer with ARTIFACTS_DIR=artifacts and stdin, killing
// it after a minute (a trainer that lost a pipe's data may wait forever).
func runBin(t *testing.T, bin, artifacts string, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "ARTIFACTS_DIR="+artifacts)
	cmd.Stdin = stdin
	return testkit.Run(t, cmd)
}
