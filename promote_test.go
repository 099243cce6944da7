package mlservice_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/model"
)

// Helpers shared by the artifact, store, crash and concurrency tests carry an
// "art" prefix.

var (
	artOnce sync.Once
	artCand *mlservice.Candidate
	artErr  error
)

// artTrained returns a candidate trained on data/day_01.csv, trained once per
// test binary. Callers must not modify it; artWithF1 returns a copy.
func artTrained(tb testing.TB) *mlservice.Candidate {
	tb.Helper()
	artOnce.Do(func() {
		ds, err := mlservice.ValidateFile(context.Background(), "data/day_01.csv")
		if err != nil {
			artErr = err
			return
		}
		artCand, artErr = mlservice.Train(context.Background(), ds, mlservice.TrainOptions{})
	})
	if artErr != nil {
		tb.Fatalf("train day_01: %v", artErr)
	}
	return artCand
}

// artWithF1 returns a copy of the trained candidate whose promotion metric is
// f1, so that ties and orders can be tested exactly. The copy carries no
// evaluation rows, so Promote compares it with the current version's
// recorded F1 (with rows, it would re-score the same model). The model is
// shared: it is immutable and Promote does not modify it.
func artWithF1(tb testing.TB, f1 float64) *mlservice.Candidate {
	tb.Helper()
	base := artTrained(tb)
	c := mlservice.Candidate{Model: base.Model, Metadata: base.Metadata}
	c.Metadata.Metric.Value = f1
	return &c
}

func artPromote(tb testing.TB, dir string, f1 float64) *mlservice.Decision {
	tb.Helper()
	d, err := mlservice.Promote(context.Background(), dir, artWithF1(tb, f1))
	if err != nil {
		tb.Fatalf("promote f1=%v: %v", f1, err)
	}
	return d
}

func artModels(dir string, elem ...string) string {
	return filepath.Join(append([]string{dir, "models"}, elem...)...)
}

func artVersionFile(dir, id, name string) string {
	return artModels(dir, "versions", id, name)
}

// artCurrent returns CURRENT's first line (the version id; a pin follows
// it), "" if absent.
func artCurrent(tb testing.TB, dir string) string {
	tb.Helper()
	id, _ := artCurrentPin(tb, dir)
	return id
}

// artCurrentPin returns CURRENT's first line and the rest, both without
// line ends: the rest is "pinned" while a rollback pins the version.
func artCurrentPin(tb testing.TB, dir string) (id, rest string) {
	tb.Helper()
	b, err := os.ReadFile(artModels(dir, "CURRENT"))
	if errors.Is(err, os.ErrNotExist) {
		return "", ""
	}
	if err != nil {
		tb.Fatal(err)
	}
	id, rest, _ = strings.Cut(strings.TrimSuffix(string(b), "\n"), "\n")
	return id, rest
}

// artWriteCurrent replaces CURRENT the way a writer does (temp file, rename),
// with arbitrary content.
func artWriteCurrent(tb testing.TB, dir, content string) {
	tb.Helper()
	tmp := artModels(dir, "art-current-tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, artModels(dir, "CURRENT")); err != nil {
		tb.Fatal(err)
	}
}

func artHistory(tb testing.TB, dir string) []mlservice.HistoryRecord {
	tb.Helper()
	h, err := mlservice.ReadHistory(dir)
	if err != nil {
		tb.Fatalf("read history: %v", err)
	}
	return h
}

func artVersions(tb testing.TB, dir string) []mlservice.VersionInfo {
	tb.Helper()
	v, err := mlservice.Versions(dir)
	if err != nil {
		tb.Fatalf("versions: %v", err)
	}
	return v
}

// artVersionDirs lists the entries of models/versions, temporary ones
// included; none if it does not exist yet.
func artVersionDirs(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir(artModels(dir, "versions"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// artCheckVersion checks a published version independently of the code under
// test: metadata.json parses and names id, and model.json matches its
// checksum and decodes.
func artCheckVersion(dir, id string) error {
	metaJSON, err := os.ReadFile(artVersionFile(dir, id, "metadata.json"))
	if err != nil {
		return err
	}
	var meta mlservice.Metadata
	if err := json.Unmarshal(metaJSON, &meta); err != nil {
		return err
	}
	if meta.ModelVersionID != id {
		return errors.New("metadata names " + meta.ModelVersionID)
	}
	modelJSON, err := os.ReadFile(artVersionFile(dir, id, "model.json"))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(modelJSON)
	if hex.EncodeToString(sum[:]) != meta.ModelSHA256 {
		return errors.New("model.json fails its checksum")
	}
	var m model.Logistic
	return json.Unmarshal(modelJSON, &m)
}

func TestPromoteWritesVersion(t *testing.T) {
	dir := t.TempDir()
	cand := artTrained(t)
	d, err := mlservice.Promote(context.Background(), dir, cand)
	if err != nil {
		t.Fatal(err)
	}
	if !mlservice.ValidVersionID(d.VersionID) {
		t.Fatalf("version id %q does not match the pattern", d.VersionID)
	}
	if !d.Promoted || d.Reason != "no version is current" || d.PreviousVersionID != "" || d.PreviousMetric != nil {
		t.Fatalf("first promotion: promoted=%v reason=%q previous=%q %v", d.Promoted, d.Reason, d.PreviousVersionID, d.PreviousMetric)
	}

	modelJSON, err := os.ReadFile(artVersionFile(dir, d.VersionID, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	metaJSON, err := os.ReadFile(artVersionFile(dir, d.VersionID, "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}

	// The fields DESIGN.md lists, by their JSON names.
	var raw map[string]any
	if err := json.Unmarshal(metaJSON, &raw); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"model_version_id", "metric.name", "metric.value", "training_data_file", "trained_at",
		"feature_schema_version", "schema_version",
		"metrics.f1", "metrics.precision", "metrics.recall", "metrics.accuracy", "metrics.roc_auc",
		"metrics.log_loss", "metrics.confusion_matrix", "metrics.rows",
		"data.sha256", "data.rows", "data.class_counts", "data.train_rows", "data.eval_rows", "data.split",
		"params.model", "params.solver", "params.C", "params.class_weight", "params.fit.iterations",
		"features", "model_file", "model_sha256", "examples",
		"promotion.wins", "promotion.reason",
	} {
		v := any(raw)
		for _, key := range strings.Split(path, ".") {
			obj, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("metadata.json: %s: %q is not inside an object", path, key)
			}
			if v, ok = obj[key]; !ok {
				t.Fatalf("metadata.json lacks %s", path)
			}
		}
	}

	var meta mlservice.Metadata
	if err := json.Unmarshal(metaJSON, &meta); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(meta, d.Metadata) {
		t.Errorf("metadata.json differs from Decision.Metadata:\nfile:     %+v\ndecision: %+v", meta, d.Metadata)
	}
	sum := sha256.Sum256(modelJSON)
	want := cand.Metadata
	switch {
	case meta.ModelVersionID != d.VersionID:
		t.Errorf("model_version_id = %q, want %q", meta.ModelVersionID, d.VersionID)
	case meta.ModelSHA256 != hex.EncodeToString(sum[:]):
		t.Errorf("model_sha256 = %s, sha256(model.json) = %x", meta.ModelSHA256, sum)
	case meta.ModelFile != "model.json":
		t.Errorf("model_file = %q", meta.ModelFile)
	case meta.SchemaVersion != mlservice.SchemaVersion || meta.FeatureSchemaVersion != mlservice.FeatureSchemaVersion:
		t.Errorf("schema versions %q, %q", meta.SchemaVersion, meta.FeatureSchemaVersion)
	case meta.Metric.Name != "f1" || meta.Metric.Value != meta.Metrics.F1 || meta.Metric != want.Metric:
		t.Errorf("metric %+v, metrics.f1 %v, candidate %+v", meta.Metric, meta.Metrics.F1, want.Metric)
	case filepath.Base(meta.TrainingDataFile) != "day_01.csv":
		t.Errorf("training_data_file = %q", meta.TrainingDataFile)
	case !meta.TrainedAt.Equal(want.TrainedAt) || meta.TrainedAt.IsZero():
		t.Errorf("trained_at = %v, candidate %v", meta.TrainedAt, want.TrainedAt)
	case meta.Data.Rows == 0 || meta.Data.ClassCounts[0]+meta.Data.ClassCounts[1] != meta.Data.Rows ||
		meta.Data.TrainRows+meta.Data.EvalRows != meta.Data.Rows:
		t.Errorf("data %+v", meta.Data)
	case !reflect.DeepEqual(meta.Metrics, want.Metrics) || !reflect.DeepEqual(meta.Params, want.Params):
		t.Errorf("metrics or params changed on the way to disk: %+v %+v", meta.Metrics, meta.Params)
	case len(meta.Features) != mlservice.NumFeatures || !reflect.DeepEqual(meta.Features, want.Features):
		t.Errorf("features %+v", meta.Features)
	case len(meta.Examples) == 0 || !reflect.DeepEqual(meta.Examples, want.Examples):
		t.Errorf("examples %+v", meta.Examples)
	case !meta.Promotion.Wins || meta.Promotion.Reason != d.Reason ||
		meta.Promotion.PreviousVersionID != "" || meta.Promotion.PreviousMetric != nil:
		t.Errorf("promotion %+v", meta.Promotion)
	}
	for j, fs := range meta.Features {
		if fs.Name != mlservice.FeatureNames[j] || !(fs.Min <= fs.Mean && fs.Mean <= fs.Max) || fs.Std < 0 {
			t.Errorf("feature stats %d: %+v", j, fs)
		}
	}

	// model.json is the model itself: it decodes to the same numbers.
	var m model.Logistic
	if err := json.Unmarshal(modelJSON, &m); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&m, cand.Model) {
		t.Errorf("model.json decodes to %+v, want %+v", m, cand.Model)
	}
	if got := artCurrent(t, dir); got != d.VersionID {
		t.Errorf("CURRENT = %q, want %q", got, d.VersionID)
	}
	if b, _ := os.ReadFile(artModels(dir, "CURRENT")); string(b) != d.VersionID+"\n" {
		t.Errorf("CURRENT holds %q, want one line", b)
	}
}

func TestPromotePolicy(t *testing.T) {
	dir := t.TempDir()
	steps := []struct {
		f1       float64
		promoted bool
	}{
		{0, true},                     // the first promotion wins whatever its score
		{0.5, true},                   // strictly greater
		{0.5, false},                  // a tie is not an improvement
		{0.4999999999999999, false},   // lower, by one ulp
		{0.5000000000000001, true},    // higher, by one ulp
		{0.1, false},                  // lower
		{math.Nextafter(1, 0), true},  // higher
		{math.Nextafter(1, 0), false}, // tie again
		{1, true},                     // higher
	}
	type decided struct {
		id       string
		f1       float64
		promoted bool
	}
	var done []decided
	current, currentF1 := "", 0.0
	for i, s := range steps {
		d := artPromote(t, dir, s.f1)
		if d.Promoted != s.promoted {
			t.Fatalf("step %d: f1 %v against current %v: promoted = %v, want %v (%s)", i, s.f1, currentF1, d.Promoted, s.promoted, d.Reason)
		}
		if d.Reason == "" {
			t.Errorf("step %d: no reason", i)
		}
		if i > 0 {
			if d.PreviousVersionID != current || d.PreviousMetric == nil || *d.PreviousMetric != currentF1 {
				t.Errorf("step %d: previous %q %v, want %q %v", i, d.PreviousVersionID, d.PreviousMetric, current, currentF1)
			}
			if d.Metadata.Promotion.PreviousVersionID != current || *d.Metadata.Promotion.PreviousMetric != currentF1 {
				t.Errorf("step %d: metadata promotion %+v", i, d.Metadata.Promotion)
			}
		}
		if s.promoted {
			current, currentF1 = d.VersionID, s.f1
		}
		if d.Metadata.Promotion.Wins != s.promoted {
			t.Errorf("step %d: metadata says wins=%v, want %v", i, d.Metadata.Promotion.Wins, s.promoted)
		}
		if got := artCurrent(t, dir); got != current {
			t.Fatalf("step %d: CURRENT = %q, want %q", i, got, current)
		}
		done = append(done, decided{d.VersionID, s.f1, s.promoted})
	}

	// Every version keeps its directory, rejected ones included.
	var dirs []string
	for _, d := range done {
		dirs = append(dirs, d.id)
		if err := artCheckVersion(dir, d.id); err != nil {
			t.Errorf("version %s: %v", d.id, err)
		}
	}
	if got := artVersionDirs(t, dir); !slices.Equal(got, dirs) {
		t.Errorf("versions/ holds %v, want %v", got, dirs)
	}

	// One history line per decision, in order, with the right event.
	raw, err := os.ReadFile(artModels(dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(raw, []byte("\n")); n != len(steps) {
		t.Errorf("history.jsonl has %d lines, want %d", n, len(steps))
	}
	hist := artHistory(t, dir)
	if len(hist) != len(steps) {
		t.Fatalf("history has %d records, want %d", len(hist), len(steps))
	}
	for i, h := range hist {
		want := mlservice.DecisionRejected
		if done[i].promoted {
			want = mlservice.DecisionPromoted
		}
		if h.VersionID != done[i].id || h.Event != want || h.Metric == nil || h.Metric.Value != done[i].f1 ||
			h.Reason == "" || h.Time.IsZero() || filepath.Base(h.TrainingDataFile) != "day_01.csv" {
			t.Errorf("history[%d] = %+v, want %s %s f1 %v", i, h, want, done[i].id, done[i].f1)
		}
	}

	// Versions: newest first, each with its decision, one current.
	vs := artVersions(t, dir)
	if len(vs) != len(done) {
		t.Fatalf("Versions lists %d, want %d", len(vs), len(done))
	}
	for i, v := range vs {
		d := done[len(done)-1-i]
		want := mlservice.DecisionRejected
		if d.promoted {
			want = mlservice.DecisionPromoted
		}
		if v.VersionID != d.id || v.Decision != want || v.Metric.Value != d.f1 || v.Current != (d.id == current) ||
			v.Error != "" || v.Reason == "" || v.TrainedAt.IsZero() {
			t.Errorf("Versions[%d] = %+v, want %s %s current=%v", i, v, d.id, want, d.id == current)
		}
		if i > 0 && !(vs[i-1].VersionID > v.VersionID) {
			t.Errorf("Versions not newest first at %d: %s then %s", i, vs[i-1].VersionID, v.VersionID)
		}
	}
	if cur, err := mlservice.CurrentVersion(dir); err != nil || cur != current {
		t.Errorf("CurrentVersion = %q, %v; want %q", cur, err, current)
	}
}

func TestPromoteRefusesBadCandidates(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]*mlservice.Candidate{
		"nil":      nil,
		"no model": {},
		"NaN f1":   artWithF1(t, math.NaN()),
		"+Inf f1":  artWithF1(t, math.Inf(1)),
	} {
		if d, err := mlservice.Promote(context.Background(), dir, c); err == nil {
			t.Errorf("%s: Promote = %+v, want an error", name, d)
		}
	}
	if _, err := os.Stat(artModels(dir, "CURRENT")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused candidate left CURRENT: %v", err)
	}
	if vs := artVersions(t, dir); len(vs) != 0 {
		t.Errorf("a refused candidate left versions: %+v", vs)
	}
	if _, err := mlservice.CurrentVersion(dir); !errors.Is(err, mlservice.ErrNoCurrent) {
		t.Errorf("CurrentVersion = %v, want ErrNoCurrent", err)
	}
}

// Promote waits for the cross-process lock on models/.lock, as long as its
// context allows.
func TestPromoteWaitsForLock(t *testing.T) {
	dir := t.TempDir()
	artPromote(t, dir, 0.5)
	f, err := os.OpenFile(artModels(dir, ".lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if locked, err := mlservice.TryLock(f); !locked || err != nil {
		t.Fatalf("take the lock: %v, %v", locked, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if d, err := mlservice.Promote(ctx, dir, artWithF1(t, 0.9)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Promote with the lock held elsewhere = %+v, %v; want a deadline error", d, err)
	}
	if _, err := mlservice.Rollback(ctx, dir, artCurrent(t, dir)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Rollback with the lock held elsewhere = %v; want a deadline error", err)
	}

	// Released, the lock lets a waiting Promote through.
	done := make(chan error, 1)
	go func() {
		_, err := mlservice.Promote(context.Background(), dir, artWithF1(t, 0.9))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Promote finished while the lock was held: %v", err)
	default:
	}
	_ = mlservice.UnlockFile(f)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second): // a give-up bound: a Promote is a few fsyncs
		t.Fatal("Promote still waiting after the lock was released")
	}
	if n := len(artHistory(t, dir)); n != 2 {
		t.Errorf("history has %d records, want 2", n)
	}
}

func TestRollback(t *testing.T) {
	dir := t.TempDir()
	a := artPromote(t, dir, 0.5)
	b := artPromote(t, dir, 0.6)
	r := artPromote(t, dir, 0.1) // rejected
	if !a.Promoted || !b.Promoted || r.Promoted {
		t.Fatal("setup: unexpected decisions")
	}

	rec, err := mlservice.Rollback(context.Background(), dir, a.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	if got := artCurrent(t, dir); got != a.VersionID {
		t.Fatalf("after rollback CURRENT = %q, want %q", got, a.VersionID)
	}
	hist := artHistory(t, dir)
	last := hist[len(hist)-1]
	if len(hist) != 4 || last.Event != mlservice.DecisionRolledBack || last.VersionID != a.VersionID ||
		last.PreviousVersionID != b.VersionID || last.PreviousMetric == nil || *last.PreviousMetric != 0.6 ||
		last.Metric == nil || last.Metric.Value != 0.5 || last.Reason == "" {
		t.Fatalf("history after rollback: %d records, last %+v", len(hist), last)
	}
	if !reflect.DeepEqual(*rec, last) {
		t.Errorf("Rollback returned %+v, history holds %+v", *rec, last)
	}
	vs := artVersions(t, dir)
	for _, v := range vs {
		if v.Current != (v.VersionID == a.VersionID) {
			t.Errorf("after rollback %s current = %v", v.VersionID, v.Current)
		}
		if v.VersionID == a.VersionID && v.Decision != mlservice.DecisionPromoted {
			t.Errorf("rolled-back-to version shows decision %q, want its promotion", v.Decision)
		}
	}

	// Once unpinned, a promotion competes with the version rolled back to.
	if _, err := mlservice.Unpin(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if d := artPromote(t, dir, 0.55); !d.Promoted || d.PreviousVersionID != a.VersionID {
		t.Errorf("after rollback, f1 0.55 against 0.5: %+v", d)
	}

	// Any complete version may be made current, a rejected one too.
	if _, err := mlservice.Rollback(context.Background(), dir, r.VersionID); err != nil {
		t.Fatal(err)
	}
	if got := artCurrent(t, dir); got != r.VersionID {
		t.Fatalf("CURRENT = %q, want %q", got, r.VersionID)
	}

	// Refusals leave CURRENT and history alone.
	missing := "20000101T000000.000000Z-00000000"
	corrupt := b.VersionID
	mf := artVersionFile(dir, corrupt, "model.json")
	data, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(mf, data, 0o644); err != nil {
		t.Fatal(err)
	}
	before := len(artHistory(t, dir))
	for _, tc := range []struct {
		id   string
		want error
	}{
		{"../../etc", mlservice.ErrBadVersionID},
		{"", mlservice.ErrBadVersionID},
		{"garbage", mlservice.ErrBadVersionID},
		{a.VersionID + "\n", mlservice.ErrBadVersionID},
		{a.VersionID + "/../" + b.VersionID, mlservice.ErrBadVersionID},
		{missing, mlservice.ErrVersionNotFound},
		{corrupt, mlservice.ErrCorruptVersion},
	} {
		if _, err := mlservice.Rollback(context.Background(), dir, tc.id); !errors.Is(err, tc.want) {
			t.Errorf("Rollback(%q) = %v, want %v", tc.id, err, tc.want)
		}
		if got := artCurrent(t, dir); got != r.VersionID {
			t.Fatalf("a refused rollback to %q moved CURRENT to %q", tc.id, got)
		}
	}
	if after := len(artHistory(t, dir)); after != before {
		t.Errorf("refused rollbacks added %d history records", after-before)
	}
}

func TestValidVersionID(t *testing.T) {
	dir := t.TempDir()
	for range 3 {
		id := artPromote(t, dir, 0.5).VersionID
		if !mlservice.ValidVersionID(id) {
			t.Errorf("generated id %q is refused", id)
		}
	}
	good := "20240229T235959.123456Z-0123abcd"
	if !mlservice.ValidVersionID(good) {
		t.Fatalf("%q is refused", good)
	}
	for _, id := range []string{
		"", "..", "../../etc", "/etc/passwd", "versions/" + good, good + "/..", "../" + good,
		good + "\n", "\n" + good, " " + good, good + " ", good + "\x00", good + "/", good + "x",
		"20240229T235959.123456Z-0123ABCD", // upper-case hex
		"20240229T235959.123456Z-0123abc",  // 7 hex digits
		"20240229T235959.123456Z-0123abcde",
		"20240229T235959.123456-0123abcd",  // no Z
		"20240229T235959123456Z-0123abcd",  // no dot
		"20240229T235959.123Z-0123abcd",    // milliseconds
		"20240229 235959.123456Z-0123abcd", // no T
		"2024-02-29T23:59:59.123456Z-0123abcd",
		"20240229T235959.123456Z_0123abcd",
		"２0240229T235959.123456Z-0123abcd", // a full-width digit
		"20240229T235959.123456Z-0123abcg",
	} {
		if mlservice.ValidVersionID(id) {
			t.Errorf("ValidVersionID(%q) = true", id)
		}
	}
}

// Promote (through its recovery step) removes what a writer killed mid-way
// left behind, and Versions never lists it.
func TestPromoteRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	first := artPromote(t, dir, 0.5)
	tmpDir := artModels(dir, "versions", ".tmp-20240101T000000.000000Z-deadbeef")
	if err := os.Mkdir(tmpDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmpDir, "model.json"), []byte(`{"format":`), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpCurrent := artModels(dir, "CURRENT.tmp-0badf00d")
	if err := os.WriteFile(tmpCurrent, []byte("20240101T0000"), 0o644); err != nil {
		t.Fatal(err)
	}
	if vs := artVersions(t, dir); len(vs) != 1 || vs[0].VersionID != first.VersionID {
		t.Fatalf("Versions lists %+v", vs)
	}
	if got := artCurrent(t, dir); got != first.VersionID {
		t.Fatalf("CURRENT = %q", got)
	}

	second := artPromote(t, dir, 0.4)
	for _, p := range []string{tmpDir, tmpCurrent} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived the next Promote: %v", p, err)
		}
	}
	if got := artVersionDirs(t, dir); !slices.Equal(got, []string{first.VersionID, second.VersionID}) {
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
			artWriteCurrent(t, dir, base+"\n")
		}, mlservice.DecisionInterrupted},
		{"unreadable metadata", func(t *testing.T, dir, base, lost string) {
			artWriteCurrent(t, dir, base+"\n")
			if err := os.WriteFile(artVersionFile(dir, lost, "metadata.json"), []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, mlservice.DecisionInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			base := artPromote(t, dir, 0.5)
			lost := artPromote(t, dir, 0.7)
			artDropHistory(t, dir, lost.VersionID)
			tc.prepare(t, dir, base.VersionID, lost.VersionID)
			artCheckRecovered(t, dir, lost.VersionID, tc.want)
		})
	}
	t.Run("rejected", func(t *testing.T) {
		dir := t.TempDir()
		artPromote(t, dir, 0.5)
		lost := artPromote(t, dir, 0.3)
		artDropHistory(t, dir, lost.VersionID)
		artCheckRecovered(t, dir, lost.VersionID, mlservice.DecisionInterrupted)
	})
}

// artDropHistory rewrites history.jsonl without id's records.
func artDropHistory(t *testing.T, dir, id string) {
	t.Helper()
	path := artModels(dir, "history.jsonl")
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

// artCheckRecovered promotes once more and checks that id got exactly one
// record, with event want, ahead of the new decision.
func artCheckRecovered(t *testing.T, dir, id, want string) {
	t.Helper()
	next := artPromote(t, dir, 0.1)
	hist := artHistory(t, dir)
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
	for _, v := range artVersions(t, dir) {
		if v.VersionID == id && v.Decision != want {
			t.Errorf("Versions shows %s as %q, want %q", id, v.Decision, want)
		}
	}
	// Recovery happens once.
	artPromote(t, dir, 0.1)
	n := 0
	for _, h := range artHistory(t, dir) {
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
	first := artPromote(t, dir, 0.5)
	path := artModels(dir, "history.jsonl")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"time":"2024-01-01T00:00:00Z","event":"promoted","model_versi`); err != nil {
		t.Fatal(err)
	}
	f.Close()

	if hist := artHistory(t, dir); len(hist) != 1 || hist[0].VersionID != first.VersionID {
		t.Fatalf("history with a torn last line: %+v", hist)
	}
	second := artPromote(t, dir, 0.6)
	hist := artHistory(t, dir)
	if len(hist) != 2 || hist[1].VersionID != second.VersionID || hist[1].Event != mlservice.DecisionPromoted {
		t.Fatalf("history after the next promotion: %+v", hist)
	}
	data, _ := os.ReadFile(path)
	if lines := bytes.Count(data, []byte("\n")); lines != 2 || bytes.Contains(data, []byte("model_versi\n")) {
		t.Errorf("history.jsonl has %d lines, want 2 (the torn one cut off):\n%s", lines, data)
	}
	if vs := artVersions(t, dir); len(vs) != 2 || !vs[0].Current || vs[0].Decision != mlservice.DecisionPromoted {
		t.Errorf("Versions: %+v", vs)
	}
}

// Promote treats a current version that fails the checks a Store makes on
// load as no current version: a good candidate replaces it whatever score
// the broken one claims.
func TestPromoteReplacesCorruptCurrent(t *testing.T) {
	dir := t.TempDir()
	artPromote(t, dir, 0.5)
	broken := artPromote(t, dir, 0.9)
	mf := artVersionFile(dir, broken.VersionID, "model.json")
	data, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mf, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	d := artPromote(t, dir, 0.2)
	if !d.Promoted || !strings.Contains(d.Reason, "unreadable") {
		t.Fatalf("promotion over a corrupt current version: promoted=%v, %s", d.Promoted, d.Reason)
	}
	if got := artCurrent(t, dir); got != d.VersionID {
		t.Errorf("CURRENT = %q, want %q", got, d.VersionID)
	}
}

// "Promoted" is a fact about CURRENT: a version whose writer died after
// publishing it but before CURRENT moved is not listed as promoted, whatever
// its metadata hoped, by Versions nor by the record the next writer's
// recovery appends.
func TestVersionsPromotedOnlyWhenCurrentMoved(t *testing.T) {
	dir := t.TempDir()
	base := artPromote(t, dir, 0.5)
	lost := artPromote(t, dir, 0.7) // promoted; now undo CURRENT and its record
	artDropHistory(t, dir, lost.VersionID)
	artWriteCurrent(t, dir, base.VersionID+"\n")

	for _, v := range artVersions(t, dir) {
		if v.VersionID == lost.VersionID && (v.Decision == mlservice.DecisionPromoted || v.Current) {
			t.Errorf("Versions lists the version CURRENT never named as %+v", v)
		}
	}
	var meta map[string]any
	if err := json.Unmarshal(artReadFile(t, artVersionFile(dir, lost.VersionID, "metadata.json")), &meta); err != nil {
		t.Fatal(err)
	}
	if p, _ := meta["promotion"].(map[string]any); p == nil || p["decision"] != nil {
		t.Errorf("metadata.json records a decision, which only CURRENT and history can know: %v", meta["promotion"])
	}
	artCheckRecovered(t, dir, lost.VersionID, mlservice.DecisionInterrupted)
}

func artReadFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TrainedAlready names the current version only when ds and opts would train
// it again: same data, class weighting, C and split (or evaluation file).
func TestTrainedAlready(t *testing.T) {
	dir := t.TempDir()
	day1, day2 := trainDay(t, "day_01"), trainDay(t, "day_02")
	check := func(name string, ds *mlservice.Dataset, opts mlservice.TrainOptions, want string) {
		t.Helper()
		m, err := mlservice.TrainedAlready(dir, ds, opts)
		got := ""
		if m != nil {
			got = m.ModelVersionID
		}
		if err != nil || got != want {
			t.Errorf("%s: TrainedAlready = %q, %v; want %q", name, got, err, want)
		}
	}
	check("no version yet", day1, mlservice.TrainOptions{}, "")
	d, err := mlservice.Promote(context.Background(), dir, mustTrain(t, day1, mlservice.TrainOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	check("same data and options", day1, mlservice.TrainOptions{}, d.VersionID)
	check("defaults spelled out", day1, mlservice.TrainOptions{Seed: 42, TestFraction: 0.2, C: 1}, d.VersionID)
	check("other data", day2, mlservice.TrainOptions{}, "")
	check("balanced", day1, mlservice.TrainOptions{BalancedClassWeight: true}, "")
	check("other seed", day1, mlservice.TrainOptions{Seed: 7}, "")
	check("other C", day1, mlservice.TrainOptions{C: 0.5}, "")
	check("evaluation file", day1, mlservice.TrainOptions{Eval: day2}, "")
	byHand := *day1
	byHand.SHA256 = ""
	check("rows without a hash", &byHand, mlservice.TrainOptions{}, "")

	e, err := mlservice.Promote(context.Background(), dir, mustTrain(t, day1, mlservice.TrainOptions{Eval: day2}))
	if err != nil || !e.Promoted {
		t.Fatalf("promote with an evaluation file: %+v, %v", e, err)
	}
	check("same evaluation file", day1, mlservice.TrainOptions{Eval: day2}, e.VersionID)
	check("split instead of the file", day1, mlservice.TrainOptions{}, "")
	if _, err := mlservice.TrainedAlready(dir, day1, mlservice.TrainOptions{TestFraction: 2}); err == nil {
		t.Error("TrainedAlready accepted a test fraction of 2")
	}
}

// A trainer stopped (SIGINT, SIGTERM) before CURRENT moves leaves nothing
// behind: a cancelled context promotes nothing and writes no version.
func TestPromoteStoppedLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	first := artPromote(t, dir, 0.5)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := mlservice.Promote(ctx, dir, artWithF1(t, 0.9))
	if !errors.Is(err, context.Canceled) || d != nil {
		t.Fatalf("Promote with a cancelled context = %+v, %v; want context.Canceled", d, err)
	}
	if cur := artCurrent(t, dir); cur != first.VersionID {
		t.Errorf("CURRENT moved to %s", cur)
	}
	if dirs := artVersionDirs(t, dir); len(dirs) != 1 {
		t.Errorf("versions after a stopped Promote: %v; want only %s", dirs, first.VersionID)
	}
	if h := artHistory(t, dir); len(h) != 1 {
		t.Errorf("history after a stopped Promote: %+v; want one record", h)
	}
}

// A day already tried and rejected against the version current now would be
// rejected again: TrainedAlready names the rejected version, so reruns do not
// pile up copies; once CURRENT moves, the day is worth trying again.
func TestTrainedAlreadyRejectedRerun(t *testing.T) {
	dir := t.TempDir()
	day1, day2, day3 := trainDay(t, "day_01"), trainDay(t, "day_02"), trainDay(t, "day_03")
	for _, ds := range []*mlservice.Dataset{day1, day2} {
		if _, err := mlservice.Promote(context.Background(), dir, mustTrain(t, ds, mlservice.TrainOptions{})); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := mlservice.TrainedAlready(dir, day3, mlservice.TrainOptions{}); m != nil || err != nil {
		t.Fatalf("day 3 never tried: TrainedAlready = %v, %v", m, err)
	}
	r, err := mlservice.Promote(context.Background(), dir, mustTrain(t, day3, mlservice.TrainOptions{}))
	if err != nil || r.Promoted {
		t.Fatalf("day 3 should lose to day 2: %+v, %v", r, err)
	}
	m, err := mlservice.TrainedAlready(dir, day3, mlservice.TrainOptions{})
	if err != nil || m == nil || m.ModelVersionID != r.VersionID {
		t.Fatalf("day 3 rejected against the current version: TrainedAlready = %v, %v; want %s", m, err, r.VersionID)
	}
	if m, _ := mlservice.TrainedAlready(dir, day3, mlservice.TrainOptions{BalancedClassWeight: true}); m != nil {
		t.Errorf("other settings matched the rejected version %s", m.ModelVersionID)
	}
	// Another version becomes current: day 3 meets a new opponent.
	if _, err := mlservice.Rollback(context.Background(), dir, artVersions(t, dir)[2].VersionID); err != nil {
		t.Fatal(err)
	}
	if m, _ := mlservice.TrainedAlready(dir, day3, mlservice.TrainOptions{}); m != nil {
		t.Errorf("after a rollback, day 3 is still skipped as %s", m.ModelVersionID)
	}
}
