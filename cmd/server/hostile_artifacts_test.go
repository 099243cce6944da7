//go:build unix

package main

// End-to-end attacks on the artifacts directory with the real trainer and
// server binaries: files edited behind the trainer's back, a symlinked
// version, a damaged history.jsonl, duplicate JSON keys; and what the
// binaries disclose and decide on ordinary reruns.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// haBinaries builds the trainer and server, or takes them from
// MLSERVICE_TRAINER_BIN and MLSERVICE_SERVER_BIN (both set) to run the
// attacks against another build, for instance an older commit's.
func haBinaries(t *testing.T) (trainer, server string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binaries; skipped with -short")
	}
	trainer, server = os.Getenv("MLSERVICE_TRAINER_BIN"), os.Getenv("MLSERVICE_SERVER_BIN")
	if trainer != "" && server != "" {
		return trainer, server
	}
	return buildBinaries(t)
}

// haRun is one finished run of the trainer.
type haRun struct {
	code           int
	stdout, stderr string
}

func (r haRun) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// haTrainer runs the trainer binary with args and returns how it ended.
func haTrainer(t *testing.T, bin string, args ...string) haRun {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "BALANCED_CLASS_WEIGHT=False")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := haRun{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("trainer %v: %v", args, err)
	}
	return r
}

// haTrainResult is the part of `trainer train`'s JSON these attacks read.
type haTrainResult struct {
	ModelVersionID       string `json:"model_version_id"`
	Skipped              bool   `json:"skipped"`
	Promoted             bool   `json:"promoted"`
	Metric               struct{ Value float64 }
	PreviousMetric       *float64 `json:"previous_metric"`
	PreviousMetricStored *float64 `json:"previous_metric_stored"`
	TrainingDataFile     string   `json:"training_data_file"`
}

// haTrain trains data into artifacts and fails the test unless it exits 0.
func haTrain(t *testing.T, bin, artifacts, data string) haTrainResult {
	t.Helper()
	r := haTrainer(t, bin, "train", "-artifacts", artifacts, data)
	if r.code != 0 {
		t.Fatalf("trainer train %s: %v", data, r)
	}
	var out haTrainResult
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("trainer train stdout: %v\n%s", err, r.stdout)
	}
	return out
}

func haData(t *testing.T, day string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("../../data", day))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// haTwoVersions trains day 1 and day 2 (both promoted) into a fresh
// artifacts directory, then rolls back to day 1: v1 is current and v2 is a
// complete version that a hostile edit can make CURRENT name.
func haTwoVersions(t *testing.T, trainer string) (dir, v1, v2 string) {
	t.Helper()
	dir = t.TempDir()
	r1 := haTrain(t, trainer, dir, haData(t, "day_01.csv"))
	r2 := haTrain(t, trainer, dir, haData(t, "day_02.csv"))
	if !r1.Promoted || !r2.Promoted {
		t.Fatalf("day 1 then day 2 should both be promoted: %+v %+v", r1, r2)
	}
	if r := haTrainer(t, trainer, "rollback", "-artifacts", dir, r1.ModelVersionID); r.code != 0 {
		t.Fatalf("rollback to day 1: %v", r)
	}
	return dir, r1.ModelVersionID, r2.ModelVersionID
}

func haVersionDir(dir, id string) string { return filepath.Join(dir, "models", "versions", id) }

// haSetCurrent points CURRENT at id the way the trainer does: a new file
// renamed over the old one.
func haSetCurrent(t *testing.T, dir, id string) {
	t.Helper()
	current := filepath.Join(dir, "models", "CURRENT")
	if err := os.WriteFile(current+".attack", []byte(id+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(current+".attack", current); err != nil {
		t.Fatal(err)
	}
}

func haCurrent(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "models", "CURRENT"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// haEdit rewrites a file with edit, which must change it.
func haEdit(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	nb := edit(b)
	if bytes.Equal(b, nb) {
		t.Fatalf("the edit left %s unchanged", path)
	}
	if err := os.WriteFile(path, nb, 0o644); err != nil {
		t.Fatal(err)
	}
}

// haEditMetric sets the top-level metric.value of metadata.json to 0.99,
// keeping the rest of the file as it is.
var haMetricValue = regexp.MustCompile(`("metric":\s*\{[^{}]*"value":\s*)[-0-9.eE+]+`)

func haEditMetric(b []byte) []byte { return haMetricValue.ReplaceAll(b, []byte("${1}0.99")) }

// haReseal rewrites manifest.json to match the files as they are now, as an
// attacker who knows the format would; without a manifest it does nothing.
func haReseal(t *testing.T, versionDir string) {
	t.Helper()
	path := filepath.Join(versionDir, "manifest.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	} else if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	files, _ := m["files"].([]any)
	for _, f := range files {
		entry := f.(map[string]any)
		content, err := os.ReadFile(filepath.Join(versionDir, entry["name"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(content)
		entry["size"], entry["sha256"] = len(content), hex.EncodeToString(sum[:])
	}
	if b, err = json.MarshalIndent(m, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// haServe starts the server on dir (hsStart, hostile_store_test.go) and
// waits until it serves want.
func haServe(t *testing.T, bin, dir, want string) *hsServer {
	t.Helper()
	srv := hsStart(t, bin, dir, "-artifacts", dir, "-reload-interval", "10ms")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		code, body := srv.get(t, "/ready")
		if code == http.StatusOK && strings.Contains(body, want) {
			return srv
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never served %s: /ready %d %s", want, code, body)
		}
	}
}

// haRefuses points CURRENT at bad and checks that the server refuses it,
// saying why (every string in why) in /ready, and keeps serving good.
func haRefuses(t *testing.T, srv *hsServer, dir, good, bad string, why ...string) {
	t.Helper()
	haSetCurrent(t, dir, bad)
	var r struct {
		Ready     bool   `json:"ready"`
		ID        string `json:"model_version_id"`
		LastError string `json:"last_error"`
	}
	var code int
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		code, body = srv.get(t, "/ready")
		r.LastError = ""
		_ = json.Unmarshal([]byte(body), &r)
		if strings.Contains(r.LastError, bad) || r.ID == bad || time.Now().After(deadline) {
			break
		}
	}
	if code != http.StatusOK || !r.Ready || r.ID != good {
		t.Errorf("/ready with CURRENT naming the damaged %s: %d %s; want 200 still serving %s", bad, code, body, good)
	}
	for _, w := range why {
		if !strings.Contains(r.LastError, w) {
			t.Errorf("/ready's last_error does not say %q: %q", w, r.LastError)
		}
	}
	resp, err := srv.client.Post(srv.base+"/predict", "application/json", strings.NewReader(validBody))
	if err != nil {
		t.Fatalf("/predict: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), good) {
		t.Errorf("/predict with CURRENT naming the damaged %s: %d %s; want 200 from %s", bad, resp.StatusCode, b, good)
	}
	haSetCurrent(t, dir, good)
}

// haListed is the part of an entry of `trainer versions -json` read here.
type haListed struct {
	ID    string `json:"model_version_id"`
	Error string `json:"error"`
}

// haTrainerRefuses checks that `trainer versions` (table and JSON) lists bad
// with an error saying every string in why, and that `trainer rollback` to it
// exits 1 leaving CURRENT alone.
func haTrainerRefuses(t *testing.T, trainer, dir, bad string, why ...string) {
	t.Helper()
	before := haCurrent(t, dir)
	r := haTrainer(t, trainer, "versions", "-artifacts", dir)
	line := ""
	for l := range strings.Lines(r.stdout) {
		if f := strings.Fields(strings.TrimPrefix(l, "*")); len(f) > 0 && f[0] == bad { // its row, not a note naming it
			line = l
		}
	}
	if r.code != 0 || !strings.Contains(line, "unreadable") {
		t.Errorf("trainer versions: want exit 0 and %s listed unreadable; %v", bad, r)
	}
	r = haTrainer(t, trainer, "versions", "-json", "-artifacts", dir)
	var list []haListed
	if err := json.Unmarshal([]byte(r.stdout), &list); r.code != 0 || err != nil {
		t.Errorf("trainer versions -json: %v (%v)", err, r)
	}
	i := slices.IndexFunc(list, func(v haListed) bool { return v.ID == bad })
	if i < 0 {
		t.Errorf("trainer versions -json does not list %s: %s", bad, r.stdout)
	} else {
		for _, w := range why {
			if !strings.Contains(list[i].Error, w) {
				t.Errorf("trainer versions -json: %s's error does not say %q: %q", bad, w, list[i].Error)
			}
		}
	}
	r = haTrainer(t, trainer, "rollback", "-artifacts", dir, bad)
	if r.code != 1 {
		t.Errorf("trainer rollback to the damaged %s: want exit 1; %v", bad, r)
	}
	if got := haCurrent(t, dir); got != before {
		t.Errorf("a refused rollback moved CURRENT from %s to %s", before, got)
		haSetCurrent(t, dir, before) // so that the server's checks still count
	}
}

// haListing is every name under models/ (but the lock file), to show that a
// failed run left nothing behind.
func haListing(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	root := filepath.Join(dir, "models")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel != ".lock" {
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// haSplice replaces line n (1-based) of history.jsonl with lines; n one past
// the end appends them.
func haSplice(t *testing.T, dir string, n int, lines ...string) {
	t.Helper()
	haEdit(t, filepath.Join(dir, "models", "history.jsonl"), func(b []byte) []byte {
		all := strings.SplitAfter(string(b), "\n")
		if all[len(all)-1] == "" {
			all = all[:len(all)-1]
		}
		if n > len(all)+1 {
			t.Fatalf("history.jsonl has %d lines, cannot replace line %d", len(all), n)
		}
		end := min(n, len(all))
		return []byte(strings.Join(slices.Concat(all[:n-1], lines, all[end:]), ""))
	})
}

func TestHostileArtifacts(t *testing.T) {
	trainer, server := haBinaries(t)

	// A version that CURRENT comes to name, damaged after it was written:
	// `trainer versions` lists it with an error, `trainer rollback` to it
	// exits 1, and the server refuses it, saying why in /ready, while the
	// previous version keeps serving.
	for _, tc := range []struct {
		name                 string
		damage               func(t *testing.T, version string)
		trainerWhy, loadWhy  string
		resealedStillRefused bool
	}{
		// An edit to metadata.json changes no model, so only a checksum
		// over every file of the version can notice it.
		{name: "metric edited in metadata.json", trainerWhy: "metadata.json", loadWhy: "metadata.json",
			damage: func(t *testing.T, v string) { haEdit(t, filepath.Join(v, "metadata.json"), haEditMetric) }},
		// Resealed, metadata.json's model checksum and then the self-test
		// still disagree with the model.
		{name: "coefficient edited in model.json", trainerWhy: "model.json", loadWhy: "model.json", resealedStillRefused: true,
			damage: func(t *testing.T, v string) {
				haEdit(t, filepath.Join(v, "model.json"), func(b []byte) []byte {
					return regexp.MustCompile(`("intercept":\s*)-?`).ReplaceAll(b, []byte("${1}7"))
				})
			}},
		// A symlink to an intact copy kept outside the artifacts directory.
		{name: "version directory is a symlink", trainerWhy: "not a directory", loadWhy: "symbolic link",
			damage: func(t *testing.T, v string) {
				elsewhere := filepath.Join(t.TempDir(), filepath.Base(v))
				if err := os.Rename(v, elsewhere); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(elsewhere, v); err != nil {
					t.Fatal(err)
				}
			}},
		// metric.value given twice, the manifest resealed so that the
		// checksum passes: which value counts would be the JSON decoder's
		// whim, so the version is refused, naming the key.
		{name: "duplicate key in metadata.json", trainerWhy: `duplicate key "metric.value"`, loadWhy: `duplicate key "metric.value"`,
			damage: func(t *testing.T, v string) {
				haEdit(t, filepath.Join(v, "metadata.json"), func(b []byte) []byte {
					return regexp.MustCompile(`"metric":\s*\{`).ReplaceAll(b, []byte(`"metric": {"value": 0.99, `))
				})
				haReseal(t, v)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, v1, v2 := haTwoVersions(t, trainer)
			tc.damage(t, haVersionDir(dir, v2))
			haTrainerRefuses(t, trainer, dir, v2, tc.trainerWhy)
			srv := haServe(t, server, dir, v1)
			haRefuses(t, srv, dir, v1, v2, tc.loadWhy)
			if tc.resealedStillRefused {
				haReseal(t, haVersionDir(dir, v2))
				haRefuses(t, srv, dir, v1, v2, tc.loadWhy)
			}
		})
	}

	// history.jsonl is where "promoted" comes from: a line the trainer did
	// not write (bad JSON, a key twice, over the 64 KiB cap) anywhere but at
	// the end is skipped with a warning naming the line, so that one damaged
	// line does not stop `trainer versions`, `trainer train` or GET
	// /versions; what it said counts for nothing.
	for _, tc := range []struct {
		name, line string
		why        []string
	}{
		{"history: bad line in the middle", `{"event":"promoted", garbage}` + "\n", []string{"history.jsonl line 2 skipped"}},
		{"history: duplicate key", `{"event":"rejected","event":"promoted"}` + "\n", []string{"history.jsonl line 2 skipped", `duplicate key "event"`}},
		{"history: line over the cap", `{"event":"rejected","reason":"` + strings.Repeat("x", 70<<10) + `"}` + "\n", []string{"history.jsonl line 2 skipped", "65536 bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, v1, v2 := haTwoVersions(t, trainer)
			haSplice(t, dir, 2, tc.line) // replaces day 2's promotion

			r := haTrainer(t, trainer, "versions", "-artifacts", dir)
			if r.code != 0 || !strings.Contains(r.stdout, v2) {
				t.Errorf("trainer versions on a damaged history.jsonl: %v", r)
			}
			r2 := haTrainer(t, trainer, "train", "-artifacts", dir, haData(t, "day_03.csv"))
			if r2.code != 0 {
				t.Errorf("trainer train on a damaged history.jsonl: %v", r2)
			}
			for _, w := range tc.why {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("trainer versions does not say %q: %q", w, r.stderr)
				}
				if !strings.Contains(r2.stderr, w) {
					t.Errorf("trainer train does not say %q: %q", w, r2.stderr)
				}
			}

			srv := haServe(t, server, dir, v1)
			code, body := srv.get(t, "/versions")
			if code != http.StatusOK || !strings.Contains(body, v2) {
				t.Errorf("GET /versions on a damaged history.jsonl: %d %.300s", code, body)
			}
			for _, w := range tc.why {
				if !strings.Contains(body, strings.ReplaceAll(w, `"`, `\"`)) {
					t.Errorf("GET /versions does not say %q: %.300s", w, body)
				}
			}
		})
	}

	// A crash in the middle of an append leaves a torn last line: skipped,
	// and the next append does not glue its line onto it.
	t.Run("history: torn last line", func(t *testing.T) {
		dir, _, v2 := haTwoVersions(t, trainer)
		history := filepath.Join(dir, "models", "history.jsonl")
		f, err := os.OpenFile(history, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(`{"time":"2026-11-27T09:14:19Z","event":"prom`); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if r := haTrainer(t, trainer, "versions", "-artifacts", dir); r.code != 0 || !strings.Contains(r.stdout, v2) {
			t.Errorf("trainer versions with a torn last line: %v", r)
		}
		haTrain(t, trainer, dir, haData(t, "day_03.csv"))
		if r := haTrainer(t, trainer, "versions", "-artifacts", dir); r.code != 0 {
			t.Errorf("trainer versions after an append to a torn history.jsonl: %v", r)
		}
	})

	// Nothing the server answers names a path on the host: not the
	// artifacts directory, not where the training data lay. The data file
	// is known by its base name and SHA-256.
	t.Run("no host paths in /model, /versions, /ready", func(t *testing.T) {
		dataDir := filepath.Join(t.TempDir(), "secret-inbox")
		if err := os.Mkdir(dataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(haData(t, "day_01.csv"))
		if err != nil {
			t.Fatal(err)
		}
		dataFile := filepath.Join(dataDir, "day_01.csv")
		if err := os.WriteFile(dataFile, data, 0o644); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		out := haTrain(t, trainer, dir, dataFile)
		if out.TrainingDataFile != "day_01.csv" || strings.Contains(out.TrainingDataFile, "/") {
			t.Errorf("trainer train: training_data_file %q, want the base name", out.TrainingDataFile)
		}
		srv := haServe(t, server, dir, out.ModelVersionID)
		for _, path := range []string{"/model", "/versions", "/ready"} {
			code, body := srv.get(t, path)
			if code != http.StatusOK {
				t.Errorf("GET %s: %d %.200s", path, code, body)
			}
			for _, secret := range []string{dir, dataDir, filepath.Dir(dir)} {
				if strings.Contains(body, secret) {
					t.Errorf("GET %s discloses %s: %.500s", path, secret, body)
				}
			}
		}
		_, body := srv.get(t, "/model")
		var meta struct {
			File string `json:"training_data_file"`
			Data struct {
				SHA256 string `json:"sha256"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &meta); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if meta.File != "day_01.csv" || meta.Data.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("/model: training_data_file %q, data.sha256 %q; want day_01.csv and %x", meta.File, meta.Data.SHA256, sum)
		}
	})

	// Training again on the data the current version was trained on adds
	// nothing; training on new data compares both versions on the new
	// evaluation rows and reports the current one's recorded F1 beside it.
	t.Run("rerun skipped, fair promotion", func(t *testing.T) {
		dir := t.TempDir()
		day1 := haTrain(t, trainer, dir, haData(t, "day_01.csv"))
		before := haListing(t, dir)
		again := haTrain(t, trainer, dir, haData(t, "day_01.csv"))
		if !again.Skipped || again.Promoted {
			t.Errorf("day 1 again: skipped %v, promoted %v; want skipped and not promoted", again.Skipped, again.Promoted)
		}
		if after := haListing(t, dir); !slices.Equal(before, after) {
			t.Errorf("a skipped run changed models/:\nbefore %q\nafter  %q", before, after)
		}

		day2 := haTrain(t, trainer, dir, haData(t, "day_02.csv"))
		if day2.PreviousMetric == nil || day2.PreviousMetricStored == nil {
			t.Fatalf("day 2: previous_metric or previous_metric_stored missing; want both")
		}
		if *day2.PreviousMetricStored != day1.Metric.Value {
			t.Errorf("day 2: previous_metric_stored %v, day 1 recorded %v", *day2.PreviousMetricStored, day1.Metric.Value)
		}
		if *day2.PreviousMetric == *day2.PreviousMetricStored {
			t.Errorf("day 2: previous_metric %v equals the stored figure: day 1 was not re-scored on day 2's rows", *day2.PreviousMetric)
		}
		if day2.Promoted != (day2.Metric.Value > *day2.PreviousMetric) {
			t.Errorf("day 2: promoted %v with f1 %v against re-scored %v", day2.Promoted, day2.Metric.Value, *day2.PreviousMetric)
		}
		// Both figures are recorded where the decision is read later.
		history, err := os.ReadFile(filepath.Join(dir, "models", "history.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		meta, err := os.ReadFile(filepath.Join(haVersionDir(dir, day2.ModelVersionID), "metadata.json"))
		if err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string][]byte{"history.jsonl": history, "metadata.json": meta} {
			for _, key := range []string{`"previous_metric"`, `"previous_metric_stored"`} {
				if !bytes.Contains(b, []byte(key)) {
					t.Errorf("%s does not record %s", name, key)
				}
			}
		}
	})

	// A named pipe nobody has opened for writing yet (the producer not yet
	// started, or dead) blocks the trainer in open(2), before any read:
	// issue #9 wants SIGTERM to end it within a second at any stage.
	t.Run("SIGTERM while opening a FIFO nobody writes", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "day.csv")
		if err := syscall.Mkfifo(fifo, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(trainer, "train", "-artifacts", t.TempDir(), fifo)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		time.Sleep(300 * time.Millisecond) // into open(2)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		sent := time.Now()
		// The trainer answers in milliseconds; the bound leaves room for a
		// loaded CI machine and still fails a trainer stuck in open(2).
		select {
		case <-done:
			t.Logf("exited %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
		case <-time.After(2 * time.Second):
			t.Errorf("the trainer still runs 2 s after SIGTERM, blocked opening a FIFO")
			if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close() // let open(2) return
			}
			<-done
		}
		if code := cmd.ProcessState.ExitCode(); code != 143 || !strings.Contains(stderr.String(), "interrupted by SIGTERM") {
			t.Errorf("exit %d, want 143 with \"interrupted by SIGTERM\": %s", code, stderr.String())
		}
	})

	t.Run("trainer train -h", func(t *testing.T) {
		r := haTrainer(t, trainer, "train", "-h")
		if r.code != 0 {
			t.Errorf("trainer train -h: %v", r)
		}
		help := r.stdout + r.stderr
		for _, flag := range []string{"-artifacts", "-balanced", "-eval", "-seed"} {
			i := strings.Index(help, "\n  "+flag)
			if i < 0 {
				t.Errorf("trainer train -h has no entry for %s:\n%s", flag, help)
				continue
			}
			entry, _, _ := strings.Cut(help[i+3:], "\n  -")
			if !strings.Contains(entry, "default") {
				t.Errorf("trainer train -h: %s gives no default: %q", flag, entry)
			}
		}
		for _, env := range []string{"ARTIFACTS_DIR", "BALANCED_CLASS_WEIGHT"} {
			if !strings.Contains(help, env) {
				t.Errorf("trainer train -h does not name %s:\n%s", env, help)
			}
		}
	})
}
