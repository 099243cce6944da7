package mlservice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// appendHistory appends raw lines to history.jsonl.
func appendHistory(t *testing.T, dir string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(testkit.Models(dir, "history.jsonl"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l); err != nil {
			t.Fatal(err)
		}
	}
}

// A line that is not a record (bad JSON, no version id, over the cap, a
// duplicate key), anywhere but at the end, is skipped with a warning that
// names it: ReadHistoryLog, the Promote that reads history first, and the
// listing keep working on the records around it.
func TestHistorySkipsBadLines(t *testing.T) {
	over := mlservice.HistoryLineLimit + 1
	for _, tc := range []struct {
		name string
		line string
		want string
	}{
		{"garbage", "not json\n", "history.jsonl line 2 skipped"},
		{"empty line", "\n", "history.jsonl line 2 skipped"},
		{"no version id", `{"event":"promoted"}` + "\n", "history.jsonl line 2 skipped: not a record"},
		{"over the cap", `{"event":"rejected","model_version_id":"20240101T000000.000000Z-00000000","reason":"` +
			strings.Repeat("x", over) + "\"}\n", fmt.Sprintf("history.jsonl line 2 skipped: longer than %d bytes", mlservice.HistoryLineLimit)},
		{"over 1 MiB", `{"reason":"` + strings.Repeat("x", 2<<20) + "\"}\n", "history.jsonl line 2 skipped: longer than"},
		{"duplicate key", `{"time":"2024-01-01T00:00:00Z","event":"rejected","event":"promoted","model_version_id":"20240101T000000.000000Z-00000000"}` + "\n",
			`history.jsonl line 2 skipped: duplicate key "event"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			first := mlkit.Promote(t, dir, 0.5)
			good := `{"time":"2024-01-01T00:00:00Z","event":"rejected","model_version_id":"20240101T000000.000000Z-00000000"}` + "\n"
			appendHistory(t, dir, tc.line, good) // the bad line is not the last one
			log, err := mlservice.ReadHistoryLog(dir)
			if err != nil || len(log.Skipped) != 1 || !strings.Contains(log.Skipped[0], tc.want) {
				t.Fatalf("ReadHistoryLog: %+v, %v; want one warning %q", log, err, tc.want)
			}
			if len(log.Records) != 2 || log.Records[0].VersionID != first.VersionID || log.Records[1].VersionID != "20240101T000000.000000Z-00000000" {
				t.Errorf("records around the bad line: %+v", log.Records)
			}
			d, err := mlservice.Promote(context.Background(), dir, mlkit.WithF1(t, 0.9))
			if err != nil || !d.Promoted || len(d.HistoryWarnings) != 1 || !strings.Contains(d.HistoryWarnings[0], tc.want) {
				t.Fatalf("Promote: %+v, %v; want promoted with the warning %q", d, err, tc.want)
			}
			l, err := mlservice.List(dir)
			if err != nil || len(l.Versions) != 2 || l.Versions[0].VersionID != d.VersionID || l.Versions[0].Decision != mlservice.DecisionPromoted ||
				len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], tc.want) {
				t.Errorf("List: %+v, %v", l, err)
			}
		})
	}
}

// Promote bounds every history record, so no writer can produce a line the
// reader refuses: a long training file name is shortened in the record.
func TestHistoryRecordsAreBounded(t *testing.T) {
	dir := t.TempDir()
	c := mlkit.WithF1(t, 0.5)
	c.Metadata.TrainingDataFile = strings.Repeat("d", 200<<10) + ".csv"
	d, err := mlservice.Promote(context.Background(), dir, c)
	if err != nil {
		t.Fatal(err)
	}
	if d.Warning != "" {
		t.Errorf("warning: %s", d.Warning)
	}
	for i, line := range strings.SplitAfter(string(testkit.ReadFile(t, testkit.Models(dir, "history.jsonl"))), "\n") {
		if len(line) > mlservice.HistoryLineLimit {
			t.Errorf("history line %d has %d bytes", i+1, len(line))
		}
	}
	hist := mlkit.History(t, dir)
	if len(hist) != 1 || hist[0].VersionID != d.VersionID || len(hist[0].TrainingDataFile) >= 200<<10 ||
		!strings.HasPrefix(hist[0].TrainingDataFile, "ddd") {
		t.Errorf("history: %d records, file name of %d bytes", len(hist), len(hist[0].TrainingDataFile))
	}
}

// metadata.json with a duplicate key is refused, naming the key: with
// encoding/json the last one would silently win.
func TestLoadRefusesDuplicateKeys(t *testing.T) {
	dir := t.TempDir()
	mlkit.Promote(t, dir, 0.5)
	d := mlkit.Promote(t, dir, 0.4)
	testkit.EditFile(t, testkit.VersionFile(dir, d.VersionID, "metadata.json"), func(b []byte) []byte {
		return []byte(strings.Replace(string(b), `"schema_version":`, `"model_file": "other.json", "schema_version":`, 1))
	})
	testkit.Reseal(t, testkit.VersionDir(dir, d.VersionID))
	_, err := mlservice.Rollback(context.Background(), dir, d.VersionID)
	if err == nil || !strings.Contains(err.Error(), `duplicate key "model_file"`) {
		t.Fatalf("Rollback to a version whose metadata.json repeats a key: %v", err)
	}
}

// Promote refuses to write a version whose metadata.json is over the cap
// every reader applies: it could never be loaded or listed.
func TestPromoteRefusesOversizeMetadata(t *testing.T) {
	dir := t.TempDir()
	c := mlkit.WithF1(t, 0.5)
	c.Metadata.TrainingDataFile = strings.Repeat("d", 2<<20)
	_, err := mlservice.Promote(context.Background(), dir, c)
	if err == nil || !strings.Contains(err.Error(), "metadata.json would have") {
		t.Fatalf("Promote with a 2 MiB file name: %v", err)
	}
	if vs := mlkit.Versions(t, dir); len(vs) != 0 {
		t.Errorf("versions after the refusal: %+v", vs)
	}
}

// A last line that is a whole record but for its line end is a record for
// ReadHistory, so the next append keeps it (ends it) rather than cutting it
// off as torn.
func TestHistoryKeepsUnendedLastRecord(t *testing.T) {
	dir := t.TempDir()
	first := mlkit.Promote(t, dir, 0.5)
	unended := `{"time":"2024-01-01T00:00:00Z","event":"rejected","model_version_id":"20240101T000000.000000Z-00000000"}`
	appendHistory(t, dir, unended)
	if hist := mlkit.History(t, dir); len(hist) != 2 || hist[1].VersionID != "20240101T000000.000000Z-00000000" {
		t.Fatalf("history before the next append: %+v", hist)
	}
	second := mlkit.Promote(t, dir, 0.6)
	var ids []string
	for _, h := range mlkit.History(t, dir) {
		ids = append(ids, h.VersionID)
	}
	if want := []string{first.VersionID, "20240101T000000.000000Z-00000000", second.VersionID}; strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Errorf("history after the next append: %v, want %v", ids, want)
	}
}

// A torn last line longer than the cap (no line end) does not block the
// next append: it is cut off like any torn line.
func TestHistoryCutsLongTornLastLine(t *testing.T) {
	dir := t.TempDir()
	first := mlkit.Promote(t, dir, 0.5)
	appendHistory(t, dir, `{"reason":"`+strings.Repeat("x", 3*mlservice.HistoryLineLimit))
	second := mlkit.Promote(t, dir, 0.6)
	log, err := mlservice.ReadHistoryLog(dir)
	if err != nil || len(log.Skipped) != 0 || len(log.Records) != 2 || log.Records[0].VersionID != first.VersionID || log.Records[1].VersionID != second.VersionID {
		t.Fatalf("history after the append: %+v, %v", log, err)
	}
}

// Promote (through its recovery step) removes what a writer killed mid-way
// left behind, and Versions never lists it.
func TestPromoteRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	first := mlkit.Promote(t, dir, 0.5)
	tmpDir := testkit.Models(dir, "versions", ".tmp-20240101T000000.000000Z-deadbeef")
	if err := os.Mkdir(tmpDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmpDir, "model.json"), []byte(`{"format":`), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpCurrent := testkit.Models(dir, "CURRENT.tmp-0badf00d")
	if err := os.WriteFile(tmpCurrent, []byte("20240101T0000"), 0o644); err != nil {
		t.Fatal(err)
	}
	if vs := mlkit.Versions(t, dir); len(vs) != 1 || vs[0].VersionID != first.VersionID {
		t.Fatalf("Versions lists %+v", vs)
	}
	if got := testkit.Current(t, dir); got != first.VersionID {
		t.Fatalf("CURRENT = %q", got)
	}

	second := mlkit.Promote(t, dir, 0.4)
	for _, p := range []string{tmpDir, tmpCurrent} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived the next Promote: %v", p, err)
		}
	}
	if got := testkit.Entries(t, testkit.Models(dir, "versions")); !slices.Equal(got, []string{first.VersionID, second.VersionID}) {
		t.Errorf("versions/ holds %v", got)
	}
}

// A version published by a writer that died before appending its decision
// gets one from the next writer, as recover() documents: promoted when
// CURRENT names it, interrupted otherwise (its metadata's comparison is no
// evidence of what happened to CURRENT).
func TestPromoteRecordsUnrecordedVersions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, dir, base, lost string)
		want    string
	}{
		{"died after moving CURRENT", func(t *testing.T, dir, base, lost string) {}, mlservice.DecisionPromoted},
		{"died before moving CURRENT", func(t *testing.T, dir, base, lost string) {
			testkit.WriteCurrent(t, dir, base+"\n")
		}, mlservice.DecisionInterrupted},
		{"unreadable metadata", func(t *testing.T, dir, base, lost string) {
			testkit.WriteCurrent(t, dir, base+"\n")
			if err := os.WriteFile(testkit.VersionFile(dir, lost, "metadata.json"), []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, mlservice.DecisionInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			base := mlkit.Promote(t, dir, 0.5)
			lost := mlkit.Promote(t, dir, 0.7)
			dropHistory(t, dir, lost.VersionID)
			tc.prepare(t, dir, base.VersionID, lost.VersionID)
			checkRecovered(t, dir, lost.VersionID, tc.want)
		})
	}
	t.Run("rejected", func(t *testing.T) {
		dir := t.TempDir()
		mlkit.Promote(t, dir, 0.5)
		lost := mlkit.Promote(t, dir, 0.3)
		dropHistory(t, dir, lost.VersionID)
		checkRecovered(t, dir, lost.VersionID, mlservice.DecisionInterrupted)
	})
}

// dropHistory rewrites history.jsonl without id's records.
func dropHistory(t *testing.T, dir, id string) {
	t.Helper()
	path := testkit.Models(dir, "history.jsonl")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var keep []byte
	for line := range bytes.Lines(data) {
		if !bytes.Contains(line, []byte(id)) {
			keep = append(keep, line...)
		}
	}
	if err := os.WriteFile(path, keep, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkRecovered promotes once more and checks that id got exactly one
// record, with event want, ahead of the new decision.
func checkRecovered(t *testing.T, dir, id, want string) {
	t.Helper()
	next := mlkit.Promote(t, dir, 0.1)
	hist := mlkit.History(t, dir)
	var got []mlservice.HistoryRecord
	for _, h := range hist {
		if h.VersionID == id {
			got = append(got, h)
		}
	}
	if len(got) != 1 || got[0].Event != want || got[0].Reason == "" {
		t.Fatalf("records of %s after recovery: %+v, want one %q", id, got, want)
	}
	if hist[len(hist)-1].VersionID != next.VersionID || hist[len(hist)-2].VersionID != id {
		t.Errorf("the recovered record should come just before the next decision: %+v", hist)
	}
	for _, v := range mlkit.Versions(t, dir) {
		if v.VersionID == id && v.Decision != want {
			t.Errorf("Versions shows %s as %q, want %q", id, v.Decision, want)
		}
	}
	// Recovery happens once.
	mlkit.Promote(t, dir, 0.1)
	n := 0
	for _, h := range mlkit.History(t, dir) {
		if h.VersionID == id {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%s has %d records after a second promotion", id, n)
	}
}

// A crash in the middle of an append leaves a torn last line: ReadHistory
// skips it, and the next append cuts it off (ended by a line end, it would
// be a bad line in the middle, which ReadHistory refuses).
func TestHistoryTornLine(t *testing.T) {
	dir := t.TempDir()
	first := mlkit.Promote(t, dir, 0.5)
	path := testkit.Models(dir, "history.jsonl")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"time":"2024-01-01T00:00:00Z","event":"promoted","model_versi`); err != nil {
		t.Fatal(err)
	}
	f.Close()

	if hist := mlkit.History(t, dir); len(hist) != 1 || hist[0].VersionID != first.VersionID {
		t.Fatalf("history with a torn last line: %+v", hist)
	}
	second := mlkit.Promote(t, dir, 0.6)
	hist := mlkit.History(t, dir)
	if len(hist) != 2 || hist[1].VersionID != second.VersionID || hist[1].Event != mlservice.DecisionPromoted {
		t.Fatalf("history after the next promotion: %+v", hist)
	}
	data, _ := os.ReadFile(path)
	if lines := bytes.Count(data, []byte("\n")); lines != 2 || bytes.Contains(data, []byte("model_versi\n")) {
		t.Errorf("history.jsonl has %d lines, want 2 (the torn one cut off):\n%s", lines, data)
	}
	if vs := mlkit.Versions(t, dir); len(vs) != 2 || !vs[0].Current || vs[0].Decision != mlservice.DecisionPromoted {
		t.Errorf("Versions: %+v", vs)
	}
}

// "Promoted" is a fact about CURRENT: a version whose writer died after
// publishing it but before CURRENT moved is not listed as promoted, whatever
// its metadata hoped, by Versions nor by the record the next writer's
// recovery appends.
func TestVersionsPromotedOnlyWhenCurrentMoved(t *testing.T) {
	dir := t.TempDir()
	base := mlkit.Promote(t, dir, 0.5)
	lost := mlkit.Promote(t, dir, 0.7) // promoted; now undo CURRENT and its record
	dropHistory(t, dir, lost.VersionID)
	testkit.WriteCurrent(t, dir, base.VersionID+"\n")

	for _, v := range mlkit.Versions(t, dir) {
		if v.VersionID == lost.VersionID && (v.Decision == mlservice.DecisionPromoted || v.Current) {
			t.Errorf("Versions lists the version CURRENT never named as %+v", v)
		}
	}
	var meta map[string]any
	if err := json.Unmarshal(testkit.ReadFile(t, testkit.VersionFile(dir, lost.VersionID, "metadata.json")), &meta); err != nil {
		t.Fatal(err)
	}
	if p, _ := meta["promotion"].(map[string]any); p == nil || p["decision"] != nil {
		t.Errorf("metadata.json records a decision, which only CURRENT and history can know: %v", meta["promotion"])
	}
	checkRecovered(t, dir, lost.VersionID, mlservice.DecisionInterrupted)
}
