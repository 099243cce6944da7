package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
)

// decodeRecord decodes a rollback, promote or unpin's stdout.
func decodeRecord(t *testing.T, r result) mlservice.HistoryRecord {
	t.Helper()
	if r.Code != exitOK {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	var rec mlservice.HistoryRecord
	if err := json.Unmarshal([]byte(r.Stdout), &rec); err != nil {
		t.Fatalf("stdout is not a history record: %v\n%s", err, r.Stdout)
	}
	return rec
}

// versionsRow returns the line of `trainer versions` for id.
func versionsRow(t *testing.T, out, id string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, id) && !strings.HasPrefix(line, "(") {
			return line
		}
	}
	t.Fatalf("no row for %s in\n%s", id, out)
	return ""
}

// A rollback sticks: the next better training run is rejected, the listing
// shows the rollback and the pin, and unpin or promote lift it.
func TestRollbackPinUnpinPromote(t *testing.T) {
	art := t.TempDir()
	env := map[string]string{"ARTIFACTS_DIR": art}
	v1 := decodeTrain(t, trainer(t, env, "train", filepath.Join(dataDir, "day_01.csv")))
	v2 := decodeTrain(t, trainer(t, env, "train", filepath.Join(dataDir, "day_02.csv")))
	if !v1.Promoted || !v2.Promoted {
		t.Fatal("setup: day 2 should beat day 1")
	}
	r := trainer(t, env, "rollback", v1.ModelVersionID)
	rec := decodeRecord(t, r)
	if !rec.Pinned || rec.Event != mlservice.DecisionRolledBack || !strings.Contains(r.Stderr, "pinned") {
		t.Fatalf("rollback: %+v\n%s", rec, r.Stderr)
	}

	// Day 2 beat day 1 once; under the pin it is recorded as rejected.
	again := decodeTrain(t, trainer(t, env, "train", filepath.Join(dataDir, "day_02.csv")))
	if again.Promoted || !again.Pinned || !strings.HasPrefix(again.Reason, "pinned by rollback to "+v1.ModelVersionID) {
		t.Fatalf("train under the pin: %+v", again)
	}
	if c, err := mlservice.CurrentState(art); err != nil || c != (mlservice.Current{VersionID: v1.ModelVersionID, Pinned: true}) {
		t.Fatalf("CURRENT after the pinned train: %+v, %v", c, err)
	}

	r = trainer(t, env, "versions")
	if r.Code != exitOK {
		t.Fatalf("versions: exit %d\n%s", r.Code, r.Stderr)
	}
	row := versionsRow(t, r.Stdout, v1.ModelVersionID)
	if !strings.HasPrefix(row, "*") || !strings.Contains(row, "pinned") || !strings.Contains(row, "rolled back to") {
		t.Errorf("the row of the version rolled back to: %q", row)
	}
	if row := versionsRow(t, r.Stdout, again.ModelVersionID); !strings.Contains(row, "rejected") {
		t.Errorf("the pinned rejection's row: %q", row)
	}
	if !strings.Contains(r.Stdout, "pinned to "+v1.ModelVersionID+" by a rollback from "+v2.ModelVersionID) {
		t.Errorf("the listing does not say CURRENT is pinned:\n%s", r.Stdout)
	}
	r = trainer(t, env, "versions", "-json")
	var listed []mlservice.VersionInfo
	if err := json.Unmarshal([]byte(r.Stdout), &listed); err != nil {
		t.Fatal(err)
	}
	for _, v := range listed {
		if v.Pinned != (v.VersionID == v1.ModelVersionID) || (v.RolledBack != nil) != (v.VersionID == v1.ModelVersionID) {
			t.Errorf("versions -json: %s pinned %v, rolled back %+v", v.VersionID, v.Pinned, v.RolledBack)
		}
	}

	u := decodeRecord(t, trainer(t, env, "unpin"))
	if u.Event != mlservice.DecisionUnpinned || u.VersionID != v1.ModelVersionID {
		t.Errorf("unpin: %+v", u)
	}
	if r := trainer(t, env, "unpin"); r.Code != exitOK || strings.TrimSpace(r.Stdout) != `{"pinned":false}` {
		t.Errorf("unpin with nothing pinned: exit %d %q", r.Code, r.Stdout)
	}
	if r := trainer(t, env, "versions"); strings.Contains(r.Stdout, "pinned") {
		t.Errorf("versions after unpin still shows a pin:\n%s", r.Stdout)
	}

	// promote moves CURRENT without a pin, lifting one.
	decodeRecord(t, trainer(t, env, "rollback", v1.ModelVersionID))
	p := decodeRecord(t, trainer(t, env, "promote", v2.ModelVersionID))
	if p.Event != mlservice.DecisionPromoted || p.Pinned || p.PreviousVersionID != v1.ModelVersionID {
		t.Errorf("promote: %+v", p)
	}
	if c, _ := mlservice.CurrentState(art); c != (mlservice.Current{VersionID: v2.ModelVersionID}) {
		t.Errorf("CURRENT after promote: %+v", c)
	}

	for _, cmd := range []string{"unpin", "promote", "rollback"} {
		r := trainer(t, env, cmd, "-h")
		if r.Code != exitOK || !strings.Contains(r.Stderr, "usage: trainer "+cmd) || !strings.Contains(r.Stderr, "pin") {
			t.Errorf("%s -h: exit %d\n%s", cmd, r.Code, r.Stderr)
		}
	}
	if r := trainer(t, env, "promote"); r.Code != exitUsage {
		t.Errorf("promote without a version: exit %d", r.Code)
	}
}

// A rollback to a version of another schema warns and needs
// -allow-schema-change, as training does.
func TestRollbackSchemaChange(t *testing.T) {
	art := t.TempDir()
	env := map[string]string{"ARTIFACTS_DIR": art}
	v1 := decodeTrain(t, trainer(t, env, "train", filepath.Join(dataDir, "day_01.csv")))
	tbl := decodeTrain(t, trainer(t, env, "train", "-schema", filepath.Join(tablesDir, "grunfeld.schema.json"),
		"-allow-schema-change", filepath.Join(tablesDir, "grunfeld.csv")))
	if !tbl.Promoted {
		t.Fatal("setup: the table version was not promoted")
	}
	for _, cmd := range []string{"rollback", "promote"} {
		r := trainer(t, env, cmd, v1.ModelVersionID)
		if r.Code != exitInvalid || !strings.Contains(r.Stderr, "warning: ") || !strings.Contains(r.Stderr, "-allow-schema-change") {
			t.Errorf("%s to another schema: exit %d\n%s", cmd, r.Code, r.Stderr)
		}
		if cur, _ := mlservice.CurrentVersion(art); cur != tbl.ModelVersionID {
			t.Fatalf("a refused %s moved CURRENT to %s", cmd, cur)
		}
	}
	r := trainer(t, env, "rollback", "-allow-schema-change", v1.ModelVersionID)
	if rec := decodeRecord(t, r); !rec.SchemaChanged || !strings.Contains(r.Stderr, "warning: the schema changed") {
		t.Errorf("allowed rollback: %+v\n%s", rec, r.Stderr)
	}
	if cur, _ := mlservice.CurrentVersion(art); cur != v1.ModelVersionID {
		t.Errorf("after the allowed rollback CURRENT is %s", cur)
	}
}

// trainer versions prints the list, then exits 1 when CURRENT names a
// version that is missing or corrupt (3 stays for a CURRENT it cannot read).
func TestVersionsCurrentMissingOrCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, art, id string)
		want   string
	}{
		{"missing", func(t *testing.T, art, id string) {
			testkit.WriteFile(t, testkit.Models(art, "CURRENT"), "20200101T000000.000000Z-00000000\n")
		}, "does not exist"},
		{"corrupt", func(t *testing.T, art, id string) {
			testkit.EditFile(t, testkit.VersionFile(art, id, "model.json"), func(b []byte) []byte {
				b[len(b)/2] ^= 1
				return b
			})
		}, "cannot be read"},
		{"fails its self-test", func(t *testing.T, art, id string) {
			// Only metadata.json's example changes, and the manifest is
			// resealed: the listing reads it, a Store would refuse it.
			dir := testkit.VersionDir(art, id)
			var meta map[string]any
			if err := json.Unmarshal(testkit.ReadFile(t, filepath.Join(dir, "metadata.json")), &meta); err != nil {
				t.Fatal(err)
			}
			ex := meta["examples"].([]any)[0].(map[string]any)
			ex["probability"] = ex["probability"].(float64) + 1e-3
			out, _ := json.MarshalIndent(meta, "", "  ")
			testkit.WriteFile(t, filepath.Join(dir, "metadata.json"), string(out)+"\n")
			testkit.Reseal(t, dir)
		}, "self-test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			art := t.TempDir()
			env := map[string]string{"ARTIFACTS_DIR": art}
			v1 := decodeTrain(t, trainer(t, env, "train", filepath.Join(dataDir, "day_01.csv")))
			tc.damage(t, art, v1.ModelVersionID)
			r := trainer(t, env, "versions")
			if r.Code != exitInvalid || !strings.Contains(r.Stdout, "day_01.csv") && tc.name != "corrupt" ||
				!strings.Contains(r.Stdout, v1.ModelVersionID) || !strings.Contains(r.Stdout, "problem: CURRENT names") ||
				!strings.Contains(r.Stdout, tc.want) || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("versions: exit %d\nstdout %s\nstderr %s", r.Code, r.Stdout, r.Stderr)
			}
			if r := trainer(t, env, "versions", "-json"); r.Code != exitInvalid || !strings.Contains(r.Stdout, v1.ModelVersionID) {
				t.Errorf("versions -json: exit %d\n%s", r.Code, r.Stdout)
			}
		})
	}
}

// One bad line in history.jsonl is skipped with a warning naming it:
// train, rollback and versions keep working.
func TestHistoryBadLineSkipped(t *testing.T) {
	art := t.TempDir()
	env := map[string]string{"ARTIFACTS_DIR": art}
	v1 := decodeTrain(t, trainer(t, env, "train", filepath.Join(dataDir, "day_01.csv")))
	f, err := os.OpenFile(filepath.Join(art, "models", "history.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"event":"promoted", garbage}` + "\n")
	f.Close()
	const want = "warning: models/history.jsonl line 2 skipped"
	r := trainer(t, env, "train", filepath.Join(dataDir, "day_02.csv"))
	if res := decodeTrain(t, r); !res.Promoted || !strings.Contains(r.Stderr, want) {
		t.Errorf("train: %+v\n%s", res, r.Stderr)
	}
	if r := trainer(t, env, "rollback", v1.ModelVersionID); r.Code != exitOK || !strings.Contains(r.Stderr, want) {
		t.Errorf("rollback: exit %d\n%s", r.Code, r.Stderr)
	}
	if r := trainer(t, env, "versions"); r.Code != exitOK || !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stdout, "day_02.csv") {
		t.Errorf("versions: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
}

// report -out inside the artifacts directory is refused, however it is
// spelled, and writes nothing.
func TestReportOutInsideArtifacts(t *testing.T) {
	art := t.TempDir()
	env := map[string]string{"ARTIFACTS_DIR": art}
	v1 := decodeTrain(t, trainer(t, env, "train", filepath.Join(dataDir, "day_01.csv")))
	outside := t.TempDir()
	link := filepath.Join(outside, "link")
	if err := os.Symlink(filepath.Join(art, "models"), link); err != nil {
		t.Fatal(err)
	}
	before := testkit.Tree(t, art)
	for _, out := range []string{
		art,
		filepath.Join(art, "models", "versions", v1.ModelVersionID),
		filepath.Join(art, "models", "new"),
		filepath.Join(outside, "x", "..", "..", filepath.Base(outside), "link", "report"), // .. through a missing directory
		link,
		filepath.Join(link, "report"),
		art + "/./models/../models/versions",
	} {
		r := trainer(t, env, "report", "-out", out)
		if r.Code != exitUsage || !strings.Contains(r.Stderr, "inside the artifacts directory") {
			t.Errorf("report -out %s: exit %d\n%s", out, r.Code, r.Stderr)
		}
	}
	if after := testkit.Tree(t, art); !slices.Equal(before, after) {
		t.Errorf("refused reports changed the artifacts:\nbefore %q\nafter  %q", before, after)
	}
	// Beside it, and through a link's "..", is outside: allowed.
	for _, out := range []string{filepath.Join(outside, "report"), filepath.Join(link, "..", "..", "sibling")} {
		if r := trainer(t, env, "report", "-out", out); r.Code != exitOK {
			t.Errorf("report -out %s: exit %d\n%s", out, r.Code, r.Stderr)
		}
	}
}
