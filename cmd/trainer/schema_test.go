package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const tablesDir = "../../testdata/tables"

func TestSchemaFlagAndEnv(t *testing.T) {
	art := t.TempDir()
	table := filepath.Join(tablesDir, "grunfeld.csv")
	schema := filepath.Join(tablesDir, "grunfeld.schema.json")

	// SCHEMA_FILE from the environment, on validate.
	r := trainer(t, map[string]string{"SCHEMA_FILE": schema}, "validate", table)
	if r.Code != exitOK || !strings.Contains(r.Stdout, `"feature_schema_version":"grunfeld@1+sha256:`) {
		t.Fatalf("validate: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// Without it, the default contract: grunfeld lacks its columns.
	if r := trainer(t, nil, "validate", table); r.Code != exitInvalid || !strings.Contains(r.Stderr, `column "age"`) {
		t.Errorf("validate without a schema: exit %d\n%s", r.Code, r.Stderr)
	}
	// -schema on train beats the environment.
	res := decodeTrain(t, trainer(t, map[string]string{"ARTIFACTS_DIR": art, "SCHEMA_FILE": "/nonexistent"}, "train", "-schema", schema, table))
	if !res.Promoted || !strings.HasPrefix(res.FeatureSchemaVersion, "grunfeld@1+") {
		t.Errorf("train: %+v", res)
	}
	// Another schema is refused (exit 0, rejected), then allowed.
	declared := filepath.Join(tablesDir, "grunfeld_declared.schema.json")
	res = decodeTrain(t, trainer(t, map[string]string{"ARTIFACTS_DIR": art}, "train", "-schema", declared, table))
	if res.Promoted || !strings.Contains(res.Reason, "schema changed") {
		t.Errorf("schema change: %+v", res)
	}
	res = decodeTrain(t, trainer(t, map[string]string{"ARTIFACTS_DIR": art}, "train", "-schema", declared, "-allow-schema-change", table))
	if !res.Promoted {
		t.Errorf("-allow-schema-change: %+v", res)
	}
}

func TestBadSchemaFile(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.schema.json")
	if err := os.WriteFile(bad, []byte(`{"name":"t","version":"1","target":{"column":"y","positive":"1","negative":"0"},"features":[{"name":"a","type":"number","rules":"gte=0,positive"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := trainer(t, nil, "validate", "-schema", bad, filepath.Join(tablesDir, "grunfeld.csv"))
	if r.Code != exitInvalid || !strings.Contains(r.Stderr, "features[0].rules") {
		t.Errorf("bad schema: exit %d\n%s", r.Code, r.Stderr)
	}
	r = trainer(t, nil, "train", "-schema", filepath.Join(t.TempDir(), "missing.json"), filepath.Join(tablesDir, "grunfeld.csv"))
	if r.Code != exitFailure || !strings.Contains(r.Stderr, "missing.json") {
		t.Errorf("missing schema: exit %d\n%s", r.Code, r.Stderr)
	}
}

func TestSchemaInfer(t *testing.T) {
	r := trainer(t, nil, "schema", "infer", filepath.Join(tablesDir, "grunfeld.csv"))
	if r.Code != exitOK || !strings.Contains(r.Stdout, `"name": "grunfeld"`) || !strings.Contains(r.Stderr, `infer: "firm": category with 11 values`) {
		t.Fatalf("infer: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := trainer(t, nil, "schema", "infer", "-target", "nope", filepath.Join(tablesDir, "grunfeld.csv")); r.Code != exitInvalid {
		t.Errorf("unknown target: exit %d\n%s", r.Code, r.Stderr)
	}
	if r := trainer(t, nil, "schema"); r.Code != exitUsage {
		t.Errorf("schema without infer: exit %d", r.Code)
	}
	if r := trainer(t, nil, "schema", "infer"); r.Code != exitUsage {
		t.Errorf("infer without a file: exit %d", r.Code)
	}
}
