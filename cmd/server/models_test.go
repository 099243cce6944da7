package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/memory"
)

// entries returns a root's scan as name → reason to skip ("" to serve).
func entries(t *testing.T, r modelRoot) map[string]string {
	t.Helper()
	es, err := r.scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range es {
		got[e.name] = e.skip
	}
	return got
}

// TestRootScan: a directory or prefix is a model when it holds models/;
// one that does not, or whose name is no URL segment, is skipped with the
// reason; files and objects beside them are ignored.
func TestRootScan(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"churn/models/versions", "notes", "bad name/models", ".hidden/models"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	notArtifacts := "not an artifacts directory: no models/ directory in it (train one with trainer -artifacts " + filepath.Join(dir, "notes") + ")"
	want := map[string]string{"churn": "", "notes": notArtifacts, "bad name": badName, ".hidden": badName}
	if diff := cmp.Diff(want, entries(t, dirRoot(dir))); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}

	b := memory.New("mem")
	ctx := context.Background()
	for _, k := range []string{"churn/models/CURRENT", "churn/models/versions/v/manifest.json", "notes/readme.txt", "bad name/models/CURRENT", "top.txt"} {
		if _, err := b.Put(ctx, k, []byte("x"), storage.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := url.Parse("s3://bucket/root")
	want = map[string]string{"churn": "", "notes": "not artifacts: no models/ under " + b.String() + "notes/", "bad name": badName}
	if diff := cmp.Diff(want, entries(t, &s3Root{b: b, u: *u})); diff != "" {
		t.Errorf("object store (-want +got):\n%s", diff)
	}
}
