//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
)

// TestTrainRemembersDeclaredSchema: a train without -schema after one with
// it uses the schema as it was declared (categories still to be learned),
// not the resolved schema.json with the first file's categories frozen in.
func TestTrainRemembersDeclaredSchema(t *testing.T) {
	art := t.TempDir()
	env := map[string]string{"ARTIFACTS_DIR": art}
	table, schema := filepath.Join(tablesDir, "grunfeld.csv"), filepath.Join(tablesDir, "grunfeld.schema.json")
	first := decodeTrain(t, trainer(t, env, "train", "-schema", schema, table))
	if !first.Promoted {
		t.Fatalf("first train: %+v", first)
	}
	meta := readMeta(t, art, first.ModelVersionID)
	if meta.DeclaredSchema == nil || meta.DeclaredSchema.Features[0].Name != "firm" || len(meta.DeclaredSchema.Features[0].Categories) != 0 {
		t.Fatalf("metadata.json's declared_schema: %+v, want grunfeld's firm with no categories", meta.DeclaredSchema)
	}

	// The same file, no -schema: the remembered schema, so it is the same
	// training, skipped, and stderr says which schema was used.
	r := trainer(t, env, "train", table)
	if again := decodeTrain(t, r); !again.Skipped || again.ModelVersionID != first.ModelVersionID {
		t.Errorf("the same table without -schema: %+v\n%s", again, r.Stderr)
	}
	if want := "using grunfeld@1, the schema the current version " + first.ModelVersionID; !strings.Contains(r.Stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, r.Stderr)
	}

	// A new firm: learned again, as the declaration asks. A frozen
	// resolved schema would ignore it (unknown: ignore) and keep 11 firms.
	data, err := os.ReadFile(table)
	if err != nil {
		t.Fatal(err)
	}
	more := filepath.Join(t.TempDir(), "grunfeld_more.csv")
	extra := strings.ReplaceAll(strings.SplitN(string(data), "\n", 2)[1], "General Motors", "Acme")
	if err := os.WriteFile(more, append(data, extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	r = trainer(t, env, "train", "-allow-schema-change", more)
	second := decodeTrain(t, r)
	if !second.Promoted {
		t.Fatalf("the table with a new firm: %+v\n%s", second, r.Stderr)
	}
	resolved, err := mlservice.LoadSchemaFile(filepath.Join(art, "models", "versions", second.ModelVersionID, "schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cats := resolved.Features[0].Categories; len(cats) != 12 || !strings.Contains(strings.Join(cats, ","), "Acme") {
		t.Errorf("firm's categories in the new version: %q, want 12 with Acme learned", cats)
	}
	if m := readMeta(t, art, second.ModelVersionID); m.DeclaredSchema == nil || len(m.DeclaredSchema.Features[0].Categories) != 0 {
		t.Errorf("the new version's declared_schema: %+v, want it passed on unresolved", m.DeclaredSchema)
	}

	// A file of another table fails under the remembered schema, and stderr
	// names where that schema came from and how to leave it.
	day := filepath.Join(dataDir, "day_01.csv")
	r = trainer(t, env, "train", day)
	if r.Code != exitInvalid || !strings.Contains(r.Stderr, "the schema the current version "+second.ModelVersionID) ||
		!strings.Contains(r.Stderr, `column "firm"`) || !strings.Contains(r.Stderr, "-schema builtin") {
		t.Errorf("day_01 under the remembered schema: exit %d\n%s", r.Code, r.Stderr)
	}
	// -schema builtin: the built-in contract, a schema change like any other.
	if res := decodeTrain(t, trainer(t, env, "train", "-schema", "builtin", day)); res.Promoted || !strings.Contains(res.Reason, "schema changed") {
		t.Errorf("-schema builtin after grunfeld: %+v", res)
	}
	res := decodeTrain(t, trainer(t, env, "train", "-schema", "builtin", "-allow-schema-change", day))
	if m := readMeta(t, art, res.ModelVersionID); !res.Promoted || m.DeclaredSchema != nil || res.FeatureSchemaVersion != "" && res.FeatureSchemaVersion != mlservice.FeatureSchemaVersion {
		t.Errorf("-schema builtin -allow-schema-change: %+v, declared %+v", res, m.DeclaredSchema)
	}
	if again := decodeTrain(t, trainer(t, env, "train", day)); !again.Skipped {
		t.Errorf("day_01 without -schema after the built-in contract came back: %+v", again)
	}
}

// TestTrainHeaderMisfitHint: after a version of the built-in
// contract nothing is recorded, and a misfit header says what to do.
func TestTrainHeaderMisfitHint(t *testing.T) {
	art := t.TempDir()
	env := map[string]string{"ARTIFACTS_DIR": art}
	day := decodeTrain(t, trainer(t, env, "train", filepath.Join(dataDir, "day_01.csv")))
	if m := readMeta(t, art, day.ModelVersionID); m.DeclaredSchema != nil {
		t.Errorf("a default-schema version records declared_schema %+v", m.DeclaredSchema)
	}
	table := filepath.Join(tablesDir, "grunfeld.csv")
	for _, cmd := range []string{"train", "validate"} {
		r := trainer(t, env, cmd, table)
		if r.Code != exitInvalid || !strings.Contains(r.Stderr, "pass -schema FILE") ||
			!strings.Contains(r.Stderr, "trainer schema infer "+table) {
			t.Errorf("%s of grunfeld without -schema: exit %d\n%s", cmd, r.Code, r.Stderr)
		}
	}
	// A bad value is not a header problem: no hint.
	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte("age,income,account_balance,transactions_last_30d,is_premium,target\n-1,1,1,1,0,0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := trainer(t, env, "train", bad); r.Code != exitInvalid || strings.Contains(r.Stderr, "schema infer") {
		t.Errorf("a bad value: exit %d, and a header hint?\n%s", r.Code, r.Stderr)
	}
}

// unread is standard input that must not be read.
type unread struct{ read bool }

func (u *unread) Read([]byte) (int, error) { u.read = true; return 0, os.ErrClosed }

// TestTrainChecksArtifactsFirst: an artifacts path train could not write is
// reported before the input is read, naming the path and the flag.
func TestTrainChecksArtifactsFirst(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	modelsFile := filepath.Join(base, "models-file")
	if err := os.MkdirAll(modelsFile, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(modelsFile, "models"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, dir, want string }{
		{"a file as the directory", file, file + " is not a directory"},
		{"a file as models", modelsFile, filepath.Join(modelsFile, "models") + " is not a directory"},
		{"a path through a file", filepath.Join(file, "artifacts"), "not a directory"},
		{"a missing parent under a file", filepath.Join(file, "a", "b"), "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &unread{}
			var stdout, stderr bytes.Buffer
			p := proc{getenv: func(k string) string { return map[string]string{"ARTIFACTS_DIR": tc.dir}[k] }, stdin: in, stdout: &stdout, stderr: &stderr}
			code := exitCode(run(context.Background(), []string{"train", "-"}, p), &stderr)
			if code != exitFailure || !strings.Contains(stderr.String(), tc.want) || !strings.Contains(stderr.String(), "ARTIFACTS_DIR") {
				t.Errorf("exit %d, want %d saying %q:\n%s", code, exitFailure, tc.want, stderr.String())
			}
			if in.read {
				t.Error("the input was read before the artifacts were checked")
			}
		})
	}
	// A fresh directory several levels down is fine: Promote creates it.
	deep := filepath.Join(base, "new", "deeper", "artifacts")
	if res := decodeTrain(t, trainer(t, map[string]string{"ARTIFACTS_DIR": deep}, "train", filepath.Join(dataDir, "day_01.csv"))); !res.Promoted {
		t.Errorf("a fresh nested directory: %+v", res)
	}
}

// TestTrainChecksArtifactsPermission: a directory this user may not write
// into is reported before the input is read. As root, which access(2) lets
// write anywhere, the real binary runs as nobody instead.
func TestTrainChecksArtifactsPermission(t *testing.T) {
	dir, err := os.MkdirTemp("", "mlservice-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755); os.RemoveAll(dir) })
	art := filepath.Join(dir, "artifacts")
	if err := os.Mkdir(art, 0o755); err != nil {
		t.Fatal(err)
	}
	var stderr string
	var code int
	if os.Geteuid() != 0 {
		if err := os.Chmod(art, 0o555); err != nil {
			t.Fatal(err)
		}
		in := &unread{}
		var out, errb bytes.Buffer
		p := proc{getenv: func(k string) string { return map[string]string{"ARTIFACTS_DIR": art}[k] }, stdin: in, stdout: &out, stderr: &errb}
		code = exitCode(run(context.Background(), []string{"train", "-"}, p), &errb)
		stderr = errb.String()
		if in.read {
			t.Error("the input was read before the artifacts were checked")
		}
	} else {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		bin := testkit.BinaryIn(t, "trainer", dir) // in dir: nobody can run it from there
		cmd := exec.Command(bin, "train", "-artifacts", art, "-")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		data, err := os.ReadFile(filepath.Join(dataDir, "day_01.csv"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdin = bytes.NewReader(data)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err = cmd.Run()
		stderr = errb.String()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("run as nobody: %v", err)
		}
		code = cmd.ProcessState.ExitCode()
		if strings.Contains(stderr, "validated") {
			t.Errorf("the input was validated before the artifacts were checked:\n%s", stderr)
		}
	}
	if code != exitFailure || !strings.Contains(stderr, "cannot write into "+art) || !strings.Contains(stderr, "permission denied") {
		t.Errorf("exit %d, want %d saying cannot write into %s:\n%s", code, exitFailure, art, stderr)
	}
}

// TestTrainSaysWhenWaitingForLock: a trainer blocked on the artifacts lock
// says so after a second, then promotes once the lock is released; one that
// gets the lock at once says nothing of it.
func TestTrainSaysWhenWaitingForLock(t *testing.T) {
	art := t.TempDir()
	env := map[string]string{"ARTIFACTS_DIR": art}
	r := trainer(t, env, "train", filepath.Join(dataDir, "day_01.csv"))
	if decodeTrain(t, r); strings.Contains(r.Stderr, "waiting for the artifacts lock") {
		t.Errorf("an uncontended train speaks of waiting:\n%s", r.Stderr)
	}
	lock, err := os.OpenFile(filepath.Join(art, "models", ".lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	p := proc{getenv: func(k string) string { return env[k] }, stdin: strings.NewReader(""), stdout: &stdout, stderr: stderr}
	done := make(chan int, 1)
	start := time.Now()
	go func() {
		done <- exitCode(run(context.Background(), []string{"train", filepath.Join(dataDir, "day_02.csv")}, p), stderr)
	}()
	waitFor(t, "the waiting message", func() bool { return strings.Contains(stderr.String(), "waiting for the artifacts lock") })
	if waited := time.Since(start); waited < mlservice.LockWaitNotice {
		t.Errorf("said it was waiting %v after starting, before the %v notice time", waited, mlservice.LockWaitNotice)
	}
	if !strings.Contains(stderr.String(), filepath.Join(art, "models", ".lock")) {
		t.Errorf("the message does not name the lock file:\n%s", stderr.String())
	}
	select {
	case code := <-done:
		t.Fatalf("train finished (exit %d) while the lock was held:\n%s", code, stderr.String())
	case <-time.After(200 * time.Millisecond):
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d after the lock was released:\n%s", code, stderr.String())
	}
	var res trainResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || !res.Promoted {
		t.Errorf("after the wait: %+v %v\n%s", res, err, stderr.String())
	}
	if n := strings.Count(stderr.String(), "waiting for the artifacts lock"); n != 1 {
		t.Errorf("the waiting message appears %d times, want once", n)
	}
}
