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

	"github.com/mlservice/mlservice/internal/testkit"
)

// twoVersions trains day 1 and day 2 (both promoted) into a fresh
// artifacts directory, then rolls back to day 1: v1 is current and v2 is a
// complete version that a hostile edit can make CURRENT name.
func twoVersions(t *testing.T, trainer string) (dir, v1, v2 string) {
	t.Helper()
	dir = t.TempDir()
	r1 := train(t, trainer, dir, testkit.Data(t, "day_01.csv"))
	r2 := train(t, trainer, dir, testkit.Data(t, "day_02.csv"))
	if !r1.Promoted || !r2.Promoted {
		t.Fatalf("day 1 then day 2 should both be promoted: %+v %+v", r1, r2)
	}
	if r := trainerRun(t, trainer, "rollback", "-artifacts", dir, r1.ModelVersionID); r.Code != 0 {
		t.Fatalf("rollback to day 1: %v", r)
	}
	return dir, r1.ModelVersionID, r2.ModelVersionID
}

// editMetric sets the top-level metric.value of metadata.json to 0.99,
// keeping the rest of the file as it is.
var metricValue = regexp.MustCompile(`("metric":\s*\{[^{}]*"value":\s*)[-0-9.eE+]+`)

func editMetric(b []byte) []byte { return metricValue.ReplaceAll(b, []byte("${1}0.99")) }

// serve starts the server on dir and waits until it serves want.
func serve(t *testing.T, bin, dir, want string) *testkit.Server {
	t.Helper()
	srv := testkit.StartServer(t, bin, &testkit.ServerOptions{Dir: dir}, "-artifacts", dir, "-reload-interval", "10ms")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		code, body := srv.Get(t, "/ready")
		if code == http.StatusOK && strings.Contains(body, want) {
			return srv
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never served %s: /ready %d %s", want, code, body)
		}
	}
}

// refuses points CURRENT at bad and checks that the server refuses it,
// saying why (every string in why) in /ready, and keeps serving good.
func refuses(t *testing.T, srv *testkit.Server, dir, good, bad string, why ...string) {
	t.Helper()
	testkit.WriteCurrent(t, dir, bad+"\n")
	var r struct {
		Ready     bool   `json:"ready"`
		ID        string `json:"model_version_id"`
		LastError string `json:"last_error"`
	}
	var code int
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		code, body = srv.Get(t, "/ready")
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
	resp, err := srv.Client.Post(srv.Base+"/predict", "application/json", strings.NewReader(validBody))
	if err != nil {
		t.Fatalf("/predict: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), good) {
		t.Errorf("/predict with CURRENT naming the damaged %s: %d %s; want 200 from %s", bad, resp.StatusCode, b, good)
	}
	testkit.WriteCurrent(t, dir, good+"\n")
}

// listed is the part of an entry of `trainer versions -json` read here.
type listed struct {
	ID    string `json:"model_version_id"`
	Error string `json:"error"`
}

// trainerRefuses checks that `trainer versions` (table and JSON) lists bad
// with an error saying every string in why, and that `trainer rollback` to it
// exits 1 leaving CURRENT alone.
func trainerRefuses(t *testing.T, trainer, dir, bad string, why ...string) {
	t.Helper()
	before := strings.TrimSpace(string(testkit.ReadFile(t, testkit.Models(dir, "CURRENT"))))
	r := trainerRun(t, trainer, "versions", "-artifacts", dir)
	line := ""
	for l := range strings.Lines(r.Stdout) {
		if f := strings.Fields(strings.TrimPrefix(l, "*")); len(f) > 0 && f[0] == bad { // its row, not a note naming it
			line = l
		}
	}
	if r.Code != 0 || !strings.Contains(line, "unreadable") {
		t.Errorf("trainer versions: want exit 0 and %s listed unreadable; %v", bad, r)
	}
	r = trainerRun(t, trainer, "versions", "-json", "-artifacts", dir)
	var list []listed
	if err := json.Unmarshal([]byte(r.Stdout), &list); r.Code != 0 || err != nil {
		t.Errorf("trainer versions -json: %v (%v)", err, r)
	}
	i := slices.IndexFunc(list, func(v listed) bool { return v.ID == bad })
	if i < 0 {
		t.Errorf("trainer versions -json does not list %s: %s", bad, r.Stdout)
	} else {
		for _, w := range why {
			if !strings.Contains(list[i].Error, w) {
				t.Errorf("trainer versions -json: %s's error does not say %q: %q", bad, w, list[i].Error)
			}
		}
	}
	r = trainerRun(t, trainer, "rollback", "-artifacts", dir, bad)
	if r.Code != 1 {
		t.Errorf("trainer rollback to the damaged %s: want exit 1; %v", bad, r)
	}
	if got := strings.TrimSpace(string(testkit.ReadFile(t, testkit.Models(dir, "CURRENT")))); got != before {
		t.Errorf("a refused rollback moved CURRENT from %s to %s", before, got)
		testkit.WriteCurrent(t, dir, before+"\n") // so that the server's checks still count
	}
}

// listing is every name under models/ (but the lock file), to show that a
// failed run left nothing behind.
func listing(t *testing.T, dir string) []string {
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

// splice replaces line n (1-based) of history.jsonl with lines; n one past
// the end appends them.
func splice(t *testing.T, dir string, n int, lines ...string) {
	t.Helper()
	testkit.EditFile(t, filepath.Join(dir, "models", "history.jsonl"), func(b []byte) []byte {
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
	trainer, server := testkit.Binaries(t)

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
			damage: func(t *testing.T, v string) { testkit.EditFile(t, filepath.Join(v, "metadata.json"), editMetric) }},
		// Resealed, metadata.json's model checksum and then the self-test
		// still disagree with the model.
		{name: "coefficient edited in model.json", trainerWhy: "model.json", loadWhy: "model.json", resealedStillRefused: true,
			damage: func(t *testing.T, v string) {
				testkit.EditFile(t, filepath.Join(v, "model.json"), func(b []byte) []byte {
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
				testkit.EditFile(t, filepath.Join(v, "metadata.json"), func(b []byte) []byte {
					return regexp.MustCompile(`"metric":\s*\{`).ReplaceAll(b, []byte(`"metric": {"value": 0.99, `))
				})
				testkit.Reseal(t, v)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, v1, v2 := twoVersions(t, trainer)
			tc.damage(t, testkit.VersionDir(dir, v2))
			trainerRefuses(t, trainer, dir, v2, tc.trainerWhy)
			srv := serve(t, server, dir, v1)
			refuses(t, srv, dir, v1, v2, tc.loadWhy)
			if tc.resealedStillRefused {
				testkit.Reseal(t, testkit.VersionDir(dir, v2))
				refuses(t, srv, dir, v1, v2, tc.loadWhy)
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
			dir, v1, v2 := twoVersions(t, trainer)
			splice(t, dir, 2, tc.line) // replaces day 2's promotion

			r := trainerRun(t, trainer, "versions", "-artifacts", dir)
			if r.Code != 0 || !strings.Contains(r.Stdout, v2) {
				t.Errorf("trainer versions on a damaged history.jsonl: %v", r)
			}
			r2 := trainerRun(t, trainer, "train", "-artifacts", dir, testkit.Data(t, "day_03.csv"))
			if r2.Code != 0 {
				t.Errorf("trainer train on a damaged history.jsonl: %v", r2)
			}
			for _, w := range tc.why {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("trainer versions does not say %q: %q", w, r.Stderr)
				}
				if !strings.Contains(r2.Stderr, w) {
					t.Errorf("trainer train does not say %q: %q", w, r2.Stderr)
				}
			}

			srv := serve(t, server, dir, v1)
			code, body := srv.Get(t, "/versions")
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
		dir, _, v2 := twoVersions(t, trainer)
		history := filepath.Join(dir, "models", "history.jsonl")
		f, err := os.OpenFile(history, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(`{"time":"2026-11-27T09:14:19Z","event":"prom`); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if r := trainerRun(t, trainer, "versions", "-artifacts", dir); r.Code != 0 || !strings.Contains(r.Stdout, v2) {
			t.Errorf("trainer versions with a torn last line: %v", r)
		}
		train(t, trainer, dir, testkit.Data(t, "day_03.csv"))
		if r := trainerRun(t, trainer, "versions", "-artifacts", dir); r.Code != 0 {
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
		data, err := os.ReadFile(testkit.Data(t, "day_01.csv"))
		if err != nil {
			t.Fatal(err)
		}
		dataFile := filepath.Join(dataDir, "day_01.csv")
		if err := os.WriteFile(dataFile, data, 0o644); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		out := train(t, trainer, dir, dataFile)
		if out.TrainingDataFile != "day_01.csv" || strings.Contains(out.TrainingDataFile, "/") {
			t.Errorf("trainer train: training_data_file %q, want the base name", out.TrainingDataFile)
		}
		srv := serve(t, server, dir, out.ModelVersionID)
		for _, path := range []string{"/model", "/versions", "/ready"} {
			code, body := srv.Get(t, path)
			if code != http.StatusOK {
				t.Errorf("GET %s: %d %.200s", path, code, body)
			}
			for _, secret := range []string{dir, dataDir, filepath.Dir(dir)} {
				if strings.Contains(body, secret) {
					t.Errorf("GET %s discloses %s: %.500s", path, secret, body)
				}
			}
		}
		_, body := srv.Get(t, "/model")
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
		day1 := train(t, trainer, dir, testkit.Data(t, "day_01.csv"))
		before := listing(t, dir)
		again := train(t, trainer, dir, testkit.Data(t, "day_01.csv"))
		if !again.Skipped || again.Promoted {
			t.Errorf("day 1 again: skipped %v, promoted %v; want skipped and not promoted", again.Skipped, again.Promoted)
		}
		if after := listing(t, dir); !slices.Equal(before, after) {
			t.Errorf("a skipped run changed models/:\nbefore %q\nafter  %q", before, after)
		}

		day2 := train(t, trainer, dir, testkit.Data(t, "day_02.csv"))
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
		meta, err := os.ReadFile(filepath.Join(testkit.VersionDir(dir, day2.ModelVersionID), "metadata.json"))
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
		r := trainerRun(t, trainer, "train", "-h")
		if r.Code != 0 {
			t.Errorf("trainer train -h: %v", r)
		}
		help := r.Stdout + r.Stderr
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
