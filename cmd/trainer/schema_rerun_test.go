package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A day refused as a schema change is skipped when run again, like a
// same-data train, instead of piling up rejected versions; with
// -allow-schema-change it is trained and promoted.
func TestTrainSkipsRefusedSchemaChangeRerun(t *testing.T) {
	art := t.TempDir()
	env := map[string]string{"ARTIFACTS_DIR": art}
	table := filepath.Join(tablesDir, "grunfeld.csv")
	if res := decodeTrain(t, trainer(t, env, "train", "-schema", filepath.Join(tablesDir, "grunfeld.schema.json"), table)); !res.Promoted {
		t.Fatalf("grunfeld: %+v", res)
	}
	declared := filepath.Join(tablesDir, "grunfeld_declared.schema.json")
	refused := decodeTrain(t, trainer(t, env, "train", "-schema", declared, table))
	if refused.Promoted || !strings.Contains(refused.Reason, "schema changed") || !strings.Contains(refused.Reason, `categories appeared: "Ford Motor"`) {
		t.Fatalf("schema change: %+v", refused)
	}
	again := decodeTrain(t, trainer(t, env, "train", "-schema", declared, "-metric", "roc_auc", table))
	if !again.Skipped || again.ModelVersionID != refused.ModelVersionID || !strings.Contains(again.Reason, "already lost") || !strings.Contains(again.Reason, "schema changed") {
		t.Errorf("the refused day again: %+v", again)
	}
	versions, err := os.ReadDir(filepath.Join(art, "models", "versions"))
	if err != nil || len(versions) != 2 {
		t.Errorf("versions after the rerun: %d, %v; want 2", len(versions), err)
	}
	allowed := decodeTrain(t, trainer(t, env, "train", "-schema", declared, "-allow-schema-change", table))
	if allowed.Skipped || !allowed.Promoted {
		t.Errorf("-allow-schema-change: %+v", allowed)
	}
}
