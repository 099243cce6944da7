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
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/model"
)

// The helpers shared by the artifact, store, crash and concurrency tests are
// in internal/testkit and internal/testkit/mlkit.

// checkVersion checks a published version independently of the code under
// test: metadata.json parses and names id, and model.json matches its
// checksum and decodes.
func checkVersion(dir, id string) error {
	metaJSON, err := os.ReadFile(testkit.VersionFile(dir, id, "metadata.json"))
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
	modelJSON, err := os.ReadFile(testkit.VersionFile(dir, id, "model.json"))
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
	cand := mlkit.Trained(t)
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

	modelJSON, err := os.ReadFile(testkit.VersionFile(dir, d.VersionID, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	metaJSON, err := os.ReadFile(testkit.VersionFile(dir, d.VersionID, "metadata.json"))
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
	if got := testkit.Current(t, dir); got != d.VersionID {
		t.Errorf("CURRENT = %q, want %q", got, d.VersionID)
	}
	if b, _ := os.ReadFile(testkit.Models(dir, "CURRENT")); string(b) != d.VersionID+"\n" {
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
		d := mlkit.Promote(t, dir, s.f1)
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
		if got := testkit.Current(t, dir); got != current {
			t.Fatalf("step %d: CURRENT = %q, want %q", i, got, current)
		}
		done = append(done, decided{d.VersionID, s.f1, s.promoted})
	}

	// Every version keeps its directory, rejected ones included.
	var dirs []string
	for _, d := range done {
		dirs = append(dirs, d.id)
		if err := checkVersion(dir, d.id); err != nil {
			t.Errorf("version %s: %v", d.id, err)
		}
	}
	if got := testkit.Entries(t, testkit.Models(dir, "versions")); !slices.Equal(got, dirs) {
		t.Errorf("versions/ holds %v, want %v", got, dirs)
	}

	// One history line per decision, in order, with the right event.
	raw, err := os.ReadFile(testkit.Models(dir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(raw, []byte("\n")); n != len(steps) {
		t.Errorf("history.jsonl has %d lines, want %d", n, len(steps))
	}
	hist := mlkit.History(t, dir)
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
	vs := mlkit.Versions(t, dir)
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
		"NaN f1":   mlkit.WithF1(t, math.NaN()),
		"+Inf f1":  mlkit.WithF1(t, math.Inf(1)),
	} {
		if d, err := mlservice.Promote(context.Background(), dir, c); err == nil {
			t.Errorf("%s: Promote = %+v, want an error", name, d)
		}
	}
	if _, err := os.Stat(testkit.Models(dir, "CURRENT")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused candidate left CURRENT: %v", err)
	}
	if vs := mlkit.Versions(t, dir); len(vs) != 0 {
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
	mlkit.Promote(t, dir, 0.5)
	f, err := os.OpenFile(testkit.Models(dir, ".lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if locked, err := mlservice.TryLock(f); !locked || err != nil {
		t.Fatalf("take the lock: %v, %v", locked, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if d, err := mlservice.Promote(ctx, dir, mlkit.WithF1(t, 0.9)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Promote with the lock held elsewhere = %+v, %v; want a deadline error", d, err)
	}
	if _, err := mlservice.Rollback(ctx, dir, testkit.Current(t, dir)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Rollback with the lock held elsewhere = %v; want a deadline error", err)
	}

	// Released, the lock lets a waiting Promote through.
	done := make(chan error, 1)
	go func() {
		_, err := mlservice.Promote(context.Background(), dir, mlkit.WithF1(t, 0.9))
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
	if n := len(mlkit.History(t, dir)); n != 2 {
		t.Errorf("history has %d records, want 2", n)
	}
}

// Promote treats a current version that fails the checks a Store makes on
// load as no current version: a good candidate replaces it whatever score
// the broken one claims.
func TestPromoteReplacesCorruptCurrent(t *testing.T) {
	dir := t.TempDir()
	mlkit.Promote(t, dir, 0.5)
	broken := mlkit.Promote(t, dir, 0.9)
	mf := testkit.VersionFile(dir, broken.VersionID, "model.json")
	data, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mf, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	d := mlkit.Promote(t, dir, 0.2)
	if !d.Promoted || !strings.Contains(d.Reason, "unreadable") {
		t.Fatalf("promotion over a corrupt current version: promoted=%v, %s", d.Promoted, d.Reason)
	}
	if got := testkit.Current(t, dir); got != d.VersionID {
		t.Errorf("CURRENT = %q, want %q", got, d.VersionID)
	}
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
	first := mlkit.Promote(t, dir, 0.5)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := mlservice.Promote(ctx, dir, mlkit.WithF1(t, 0.9))
	if !errors.Is(err, context.Canceled) || d != nil {
		t.Fatalf("Promote with a cancelled context = %+v, %v; want context.Canceled", d, err)
	}
	if cur := testkit.Current(t, dir); cur != first.VersionID {
		t.Errorf("CURRENT moved to %s", cur)
	}
	if dirs := testkit.Entries(t, testkit.Models(dir, "versions")); len(dirs) != 1 {
		t.Errorf("versions after a stopped Promote: %v; want only %s", dirs, first.VersionID)
	}
	if h := mlkit.History(t, dir); len(h) != 1 {
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
	if _, err := mlservice.Rollback(context.Background(), dir, mlkit.Versions(t, dir)[2].VersionID); err != nil {
		t.Fatal(err)
	}
	if m, _ := mlservice.TrainedAlready(dir, day3, mlservice.TrainOptions{}); m != nil {
		t.Errorf("after a rollback, day 3 is still skipped as %s", m.ModelVersionID)
	}
}
