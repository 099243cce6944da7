package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// An in-process run must not touch the process-wide collector settings
// (it used to turn collection off for every later test in the process).
func TestRunLeavesGCAlone(t *testing.T) {
	gcPercent := debug.SetGCPercent(100)
	debug.SetGCPercent(gcPercent)
	limit := debug.SetMemoryLimit(-1)
	day := filepath.Join(dataDir, "day_01.csv")
	for _, args := range [][]string{
		{"validate", day},
		{"train", "-artifacts", t.TempDir(), day},
		{"train", "-artifacts", t.TempDir(), "-eval", filepath.Join(dataDir, "day_02.csv"), day},
	} {
		if r := trainer(t, nil, args...); r.Code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, r.Code, r.Stderr)
		}
		now := debug.SetGCPercent(gcPercent)
		if now != gcPercent || debug.SetMemoryLimit(-1) != limit {
			t.Fatalf("%v changed GC percent %d → %d or the memory limit", args, gcPercent, now)
		}
	}
}

// "-" reads standard input and gives what the file gives; the data file is
// recorded as "stdin".
func TestStdinInput(t *testing.T) {
	day := filepath.Join(dataDir, "day_01.csv")
	data, err := os.ReadFile(day)
	if err != nil {
		t.Fatal(err)
	}
	type validated struct {
		Valid       bool   `json:"valid"`
		File        string `json:"file"`
		Rows        int    `json:"rows"`
		ClassCounts [2]int `json:"class_counts"`
		SHA256      string `json:"sha256"`
	}
	decode := func(r result) validated {
		t.Helper()
		if r.Code != exitOK {
			t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
		}
		var v validated
		if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	fromFile := decode(trainer(t, nil, "validate", day))
	fromStdin := decode(trainerStdin(t, nil, string(data), "validate", "-"))
	if fromStdin.File != "stdin" {
		t.Errorf("file %q, want stdin", fromStdin.File)
	}
	fromStdin.File = fromFile.File
	if fromStdin != fromFile {
		t.Errorf("stdin gives %+v, the file %+v", fromStdin, fromFile)
	}

	res := decodeTrain(t, trainerStdin(t, nil, string(data), "train", "-artifacts", t.TempDir(), "-"))
	if res.TrainingDataFile != "stdin" || res.Rows != fromFile.Rows {
		t.Errorf("train -: training_data_file %q, %d rows; want stdin, %d", res.TrainingDataFile, res.Rows, fromFile.Rows)
	}
	res = decodeTrain(t, trainerStdin(t, nil, string(data), "train", "-artifacts", t.TempDir(), "-eval", "-", filepath.Join(dataDir, "day_02.csv")))
	if res.EvalRows != fromFile.Rows {
		t.Errorf("train -eval -: %d evaluation rows, want %d", res.EvalRows, fromFile.Rows)
	}

	r := trainerStdin(t, nil, string(data), "train", "-artifacts", t.TempDir(), "-eval", "-", "-")
	if r.Code != exitUsage || !strings.Contains(r.Stderr, "only one input can be standard input") {
		t.Errorf("train -eval - -: exit %d\n%s", r.Code, r.Stderr)
	}
	// Invalid data on stdin names stdin's "-" and the line.
	r = trainerStdin(t, nil, string(data)+"1e200,1,1,1,0,1\n", "validate", "-")
	if r.Code != exitInvalid || !strings.Contains(r.Stderr, "invalid data in -") {
		t.Errorf("bad stdin: exit %d\n%s", r.Code, r.Stderr)
	}
}

// Each command's -h lists its usage line and every flag with its
// environment variable (or "no env") and default, and exits 0; a usage
// error exits 2 with the command's own help.
func TestCommandHelp(t *testing.T) {
	for _, cmd := range []string{"train", "import", "validate", "versions", "rollback", "promote", "unpin", "report"} {
		t.Run(cmd, func(t *testing.T) {
			for _, h := range []string{"-h", "-help", "--help"} {
				r := trainer(t, nil, cmd, h)
				if r.Code != exitOK {
					t.Fatalf("%s %s: exit %d\n%s", cmd, h, r.Code, r.Stderr)
				}
				if !strings.HasPrefix(r.Stderr, "usage: trainer "+cmd+" ") {
					t.Errorf("%s %s: help does not start with its usage line:\n%s", cmd, h, r.Stderr)
				}
				if r.Stdout != "" {
					t.Errorf("%s %s printed on stdout: %q", cmd, h, r.Stdout)
				}
			}
			r := trainer(t, nil, cmd, "-h")
			// Every flag is listed, with its env var (or "no env") and default.
			var listed []string
			for _, entry := range strings.Split(r.Stderr, "\n  -")[1:] {
				name, _, _ := strings.Cut(entry, " ")
				name, _, _ = strings.Cut(name, "\n")
				listed = append(listed, name)
				if !strings.Contains(entry, "env") || !strings.Contains(entry, "default") {
					t.Errorf("-%s: help %q names no env var or default", name, entry)
				}
			}
			want := map[string][]string{
				"train": {"allow-schema-change", "artifacts", "artifacts-url", "balanced", "early-stopping", "eval", "learning-rate", "max-depth",
					"metric", "min-delta", "model", "schema", "seed", "trees"},
				"import":   {"allow-schema-change", "artifacts", "artifacts-url", "eval", "metric", "min-delta", "schema", "xgboost"},
				"validate": {"schema"},
				"versions": {"artifacts", "artifacts-url", "json"},
				"rollback": {"allow-schema-change", "artifacts", "artifacts-url"},
				"promote":  {"allow-schema-change", "artifacts", "artifacts-url"},
				"unpin":    {"artifacts", "artifacts-url"},
				"report":   {"artifacts", "artifacts-url", "out"},
			}[cmd]
			if !slices.Equal(listed, want) {
				t.Errorf("help lists flags %q, want %q:\n%s", listed, want, r.Stderr)
			}

			r = trainer(t, nil, cmd, "-no-such-flag")
			if r.Code != exitUsage || !strings.Contains(r.Stderr, "usage: trainer "+cmd) {
				t.Errorf("%s -no-such-flag: exit %d\n%s", cmd, r.Code, r.Stderr)
			}
		})
	}
}

func TestExitCodeInterrupted(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
		name string
	}{{syscall.SIGINT, 130, "SIGINT"}, {syscall.SIGTERM, 143, "SIGTERM"}} {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(&signalError{tc.sig})
		err := interrupted(ctx, errors.New("validate: context canceled"))
		var stderr strings.Builder
		if code := exitCode(err, &stderr); code != tc.code {
			t.Errorf("%s: exit %d, want %d", tc.name, code, tc.code)
		}
		if want := "trainer: interrupted by " + tc.name + ": validate: context canceled\n"; stderr.String() != want {
			t.Errorf("%s: stderr %q, want %q", tc.name, stderr.String(), want)
		}
		// A run that finished despite the signal keeps its success.
		if err := interrupted(ctx, nil); err != nil {
			t.Errorf("interrupted(ctx, nil) = %v", err)
		}
	}
	// Cancelled for another reason: an ordinary failure.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code := exitCode(interrupted(ctx, context.Canceled), &strings.Builder{}); code != exitFailure {
		t.Errorf("cancelled without a signal: exit %d, want %d", code, exitFailure)
	}
}
