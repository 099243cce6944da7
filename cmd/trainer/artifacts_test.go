//go:build unix

package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/weedtest"
	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/s3"
)

func TestArtifactsURLUsage(t *testing.T) {
	for _, url := range []string{"gs://bucket/x", "s3://bucket/x?endpont=http://127.0.0.1:1"} {
		r := trainer(t, map[string]string{"ARTIFACTS_URL": url}, "versions")
		if r.Code != exitUsage || !strings.Contains(r.Stderr, "-artifacts-url") {
			t.Errorf("ARTIFACTS_URL=%s: exit %d\n%s", url, r.Code, r.Stderr)
		}
	}
}

// TestTrainUnreachableStoreFailsFirst: an object store that does not answer
// fails train before the input is read.
func TestTrainUnreachableStoreFailsFirst(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	in := &unread{}
	var stdout, stderr bytes.Buffer
	env := map[string]string{"ARTIFACTS_URL": "s3://mlservice/x?endpoint=http://127.0.0.1:1&region=us-east-1&use_path_style=true"}
	p := proc{getenv: func(k string) string { return env[k] }, stdin: in, stdout: &stdout, stderr: &stderr}
	code := exitCode(run(context.Background(), []string{"train", "-"}, p), &stderr)
	if code != exitFailure || !strings.Contains(stderr.String(), "artifacts s3://mlservice/x/ cannot be read") {
		t.Errorf("exit %d, want %d saying the store cannot be read:\n%s", code, exitFailure, stderr.String())
	}
	if in.read {
		t.Error("the input was read before the store was checked")
	}
}

// The trainer's commands against a real SeaweedFS: train twice (promoted,
// then the same data skipped), versions, rollback. The flag beats the
// environment, and ARTIFACTS_DIR is not touched.
func TestTrainerOnObjectStore(t *testing.T) {
	srv := weedtest.Start(t)
	url := srv.URL("mlservice", "trainer")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := weedtest.WaitWritable(ctx, func(ctx context.Context) error {
		b, err := s3.Open(ctx, url)
		if err == nil {
			_, err = b.Put(ctx, "probe", []byte("ok"), storage.Condition{})
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := map[string]string{"ARTIFACTS_DIR": dir, "ARTIFACTS_URL": "s3://elsewhere/x?endpoint=http://127.0.0.1:1"}
	first := decodeTrain(t, trainer(t, env, "train", "-artifacts-url", url, filepath.Join(dataDir, "day_01.csv")))
	if !first.Promoted {
		t.Fatalf("first training not promoted: %+v", first)
	}
	second := decodeTrain(t, trainer(t, env, "train", "-artifacts-url", url, filepath.Join(dataDir, "day_02.csv")))
	if !second.Promoted || second.PreviousVersionID == nil || *second.PreviousVersionID != first.ModelVersionID {
		t.Fatalf("second training: %+v", second)
	}
	env["ARTIFACTS_URL"] = url
	if again := decodeTrain(t, trainer(t, env, "train", filepath.Join(dataDir, "day_02.csv"))); !again.Skipped {
		t.Errorf("the same data again was not skipped: %+v", again)
	}
	r := trainer(t, env, "versions")
	if r.Code != exitOK || !strings.Contains(r.Stdout, "* "+second.ModelVersionID) || !strings.Contains(r.Stdout, first.ModelVersionID) {
		t.Fatalf("versions: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = trainer(t, env, "rollback", first.ModelVersionID)
	if r.Code != exitOK || !strings.Contains(r.Stderr, "CURRENT now names "+first.ModelVersionID) {
		t.Fatalf("rollback: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r = trainer(t, env, "rollback", "20990101T000000.000000Z-00000000")
	if r.Code != exitInvalid {
		t.Fatalf("rollback to a missing version: exit %d\n%s", r.Code, r.Stderr)
	}
	// The rollback pinned CURRENT; lift the pin so that training competes.
	if r := trainer(t, env, "unpin"); r.Code != exitOK || !strings.Contains(r.Stdout, `"event":"unpinned"`) {
		t.Fatalf("unpin: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// A declared schema through the object store: a change of schema is
	// refused without -allow-schema-change and promoted with it; the
	// same table again is then skipped (TrainedAlready by schema hash).
	table, schema := filepath.Join(tablesDir, "grunfeld.csv"), filepath.Join(tablesDir, "grunfeld.schema.json")
	refused := decodeTrain(t, trainer(t, env, "train", "-schema", schema, table))
	if refused.Promoted || !strings.Contains(refused.Reason, "schema changed") {
		t.Fatalf("a schema change without the flag: %+v", refused)
	}
	allowed := decodeTrain(t, trainer(t, env, "train", "-schema", schema, "-allow-schema-change", table))
	if !allowed.Promoted || !strings.HasPrefix(allowed.FeatureSchemaVersion, "grunfeld@1+sha256:") {
		t.Fatalf("a schema change with the flag: %+v", allowed)
	}
	if again := decodeTrain(t, trainer(t, env, "train", "-schema", schema, table)); !again.Skipped {
		t.Errorf("the same table again was not skipped: %+v", again)
	}
	// Without -schema: the declared schema the current version recorded.
	r = trainer(t, env, "train", table)
	if again := decodeTrain(t, r); !again.Skipped || again.ModelVersionID != allowed.ModelVersionID ||
		!strings.Contains(r.Stderr, "using grunfeld@1, the schema the current version "+allowed.ModelVersionID) {
		t.Errorf("the same table without -schema: %+v\n%s", again, r.Stderr)
	}
	out := filepath.Join(t.TempDir(), "report")
	r = trainer(t, env, "report", "-out", out)
	if r.Code != exitOK || !strings.Contains(r.Stdout, `"versions":4`) || !strings.Contains(r.Stdout, allowed.ModelVersionID) {
		t.Fatalf("report: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	if entries, _ := filepath.Glob(filepath.Join(dir, "*")); len(entries) != 0 {
		t.Errorf("ARTIFACTS_DIR was written: %v", entries)
	}
}
