package mlservice_test

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/model"
)

// metricOf picks a promotion metric out of m, independently of the code
// under test.
func metricOf(t testing.TB, m mlservice.Metrics, name string) float64 {
	t.Helper()
	v, ok := map[string]float64{"f1": m.F1, "roc_auc": m.ROCAUC, "pr_auc": m.PRAUC, "log_loss": m.LogLoss, "accuracy": m.Accuracy}[name]
	if !ok {
		t.Fatalf("no metric %q", name)
	}
	return v
}

// TestPromoteUnderEachRule promotes day 1 under the default rule, then
// decides day 2 under each metric, scored on day 3's rows: the current
// version is re-scored under the candidate's rule on those rows (not its
// recorded f1), the decision goes the rule's direction, and metadata,
// history and the decision name the rule.
func TestPromoteUnderEachRule(t *testing.T) {
	day1, day2, day3 := trainDay(t, "day_01"), trainDay(t, "day_02"), trainDay(t, "day_03")
	current := mustTrain(t, day1, mlservice.TrainOptions{})
	// What the current version scores on day 3, computed here.
	p := make([]float64, day3.Len())
	for i := range p {
		v := day3.Row(i).Vector()
		p[i] = logisticOf(current).Probability(v[:])
	}
	onDay3, err := model.Evaluate(day3.Y, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range mlservice.PromotionMetrics() {
		t.Run(name, func(t *testing.T) {
			a := mlservice.DirArtifacts(t.TempDir())
			if d, err := a.Promote(ctx, current); err != nil || !d.Promoted {
				t.Fatalf("day 1: %+v, %v", d, err)
			}
			cand := mustTrain(t, day2, mlservice.TrainOptions{Rule: mlservice.PromotionRule{Metric: name}, Eval: day3})
			if got, want := cand.Metadata.Metric, (mlservice.Metric{Name: name, Value: metricOf(t, cand.Metadata.Metrics, name)}); got != want {
				t.Fatalf("candidate metric %+v, want %+v", got, want)
			}
			d, err := a.Promote(ctx, cand)
			if err != nil {
				t.Fatal(err)
			}
			want := metricOf(t, onDay3, name)
			if d.PreviousMetric == nil || math.Abs(*d.PreviousMetric-want) > 1e-9 {
				t.Fatalf("previous_metric %v, want the current version's %s on day 3's rows %v", d.PreviousMetric, name, want)
			}
			if stored := metricOf(t, current.Metadata.Metrics, name); d.PreviousMetricStored == nil || *d.PreviousMetricStored != stored {
				t.Errorf("previous_metric_stored %v, want its recorded %s %v", d.PreviousMetricStored, name, stored)
			}
			c := cand.Metadata.Metric.Value
			better := c > want
			dir := "higher"
			if name == "log_loss" {
				better, dir = c < want, "lower"
			}
			t.Logf("%s: %s", name, d.Reason)
			if d.Promoted != better {
				t.Errorf("promoted %v with %s %v against %v (%s is better): %s", d.Promoted, name, c, want, dir, d.Reason)
			}
			rule := mlservice.PromotionRule{Metric: name}
			if d.Rule != rule || !strings.HasPrefix(d.Reason, name+" ") || !strings.Contains(d.Reason, "rule: "+name+", "+dir+" is better, strictly") {
				t.Errorf("decision rule %+v, reason %q", d.Rule, d.Reason)
			}
			meta, _, err := a.ReadVersion(ctx, d.VersionID)
			if err != nil {
				t.Fatal(err)
			}
			if meta.Promotion.Rule != rule || meta.Metric.Name != name {
				t.Errorf("metadata.json: metric %+v, promotion.rule %+v", meta.Metric, meta.Promotion.Rule)
			}
			h, err := a.ReadHistory(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if last := h[len(h)-1]; last.VersionID != d.VersionID || last.Rule == nil || *last.Rule != rule || last.Metric.Name != name {
				t.Errorf("history: %+v", last)
			}
		})
	}
}

// candidateWith is a copy of the trained candidate that promotes on metric
// with value v and the rule's min delta, without evaluation rows: Promote
// compares it with the current version's recorded figure, exactly.
func candidateWith(t testing.TB, metric string, v, delta float64) *mlservice.Candidate {
	c := mlkit.WithF1(t, 0)
	c.Metadata.Metric = mlservice.Metric{Name: metric, Value: v}
	c.Rule = mlservice.PromotionRule{Metric: metric, MinDelta: delta}
	return c
}

// TestPromoteMinDelta pins down what "better" means: at delta 0 strictly
// greater (lower for log_loss), a tie rejected; above 0 the gain must exceed
// the delta, and a gain equal to it in decimal (0.61 against 0.60 by 0.01,
// which float64 makes 0.010000000000000009) is rejected.
func TestPromoteMinDelta(t *testing.T) {
	loss := mlkit.Trained(t).Metadata.Metrics.LogLoss // the current version's recorded log loss
	for _, tc := range []struct {
		name          string
		metric        string
		value, delta  float64
		wantPromotion bool
	}{
		{"f1 tie", "f1", 0.60, 0, false},
		{"f1 one ulp better", "f1", math.Nextafter(0.60, 1), 0, true},
		{"f1 worse", "f1", 0.59, 0, false},
		{"f1 better by the delta", "f1", 0.61, 0.01, false},
		{"f1 better by less than the delta", "f1", 0.605, 0.01, false},
		{"f1 better by more than the delta", "f1", 0.6101, 0.01, true},
		{"log_loss tie", "log_loss", loss, 0, false},
		{"log_loss higher", "log_loss", loss + 0.1, 0, false},
		{"log_loss lower", "log_loss", loss - 1e-6, 0, true},
		{"log_loss lower by the delta", "log_loss", loss - 0.01, 0.01, false},
		{"log_loss lower by more than the delta", "log_loss", loss - 0.0101, 0.01, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cur := mlkit.Promote(t, dir, 0.60)
			d, err := mlservice.Promote(context.Background(), dir, candidateWith(t, tc.metric, tc.value, tc.delta))
			if err != nil {
				t.Fatal(err)
			}
			if d.Promoted != tc.wantPromotion {
				t.Errorf("promoted %v, want %v: %s", d.Promoted, tc.wantPromotion, d.Reason)
			}
			if cid, _ := mlservice.CurrentVersion(dir); (cid == d.VersionID) != tc.wantPromotion || (cid == cur.VersionID) == tc.wantPromotion {
				t.Errorf("CURRENT names %s (new %s, old %s)", cid, d.VersionID, cur.VersionID)
			}
			if tc.delta != 0 && !strings.Contains(d.Reason, "min delta 0.01") {
				t.Errorf("reason does not name the min delta: %s", d.Reason)
			}
			if !strings.Contains(d.Reason, "its recorded "+tc.metric) {
				t.Errorf("reason does not say the recorded %s was compared: %s", tc.metric, d.Reason)
			}
		})
	}
}

// A bad rule is refused by Train and by Promote, and nothing is written.
func TestBadPromotionRules(t *testing.T) {
	day1 := trainDay(t, "day_01")
	bad := map[string]mlservice.PromotionRule{
		"unknown metric":     {Metric: "auc"},
		"negative delta":     {MinDelta: -0.01},
		"NaN delta":          {MinDelta: math.NaN()},
		"infinite delta":     {MinDelta: math.Inf(1)},
		"upper-case metric":  {Metric: "F1"},
		"metric with spaces": {Metric: " f1"},
	}
	dir := t.TempDir()
	for name, rule := range bad {
		if _, err := mlservice.Train(context.Background(), day1, mlservice.TrainOptions{Rule: rule}); err == nil || !strings.Contains(err.Error(), "promotion") {
			t.Errorf("%s: Train error %v, want one naming the promotion rule", name, err)
		}
		if _, err := mlservice.TrainedAlready(dir, day1, mlservice.TrainOptions{Rule: rule}); err == nil {
			t.Errorf("%s: TrainedAlready took the rule", name)
		}
		c := mlkit.WithF1(t, 0.5)
		c.Rule = rule
		if d, err := mlservice.Promote(context.Background(), dir, c); err == nil {
			t.Errorf("%s: Promote = %+v", name, d)
		}
	}
	// A rule changed after Train no longer names the candidate's metric.
	c := mlkit.WithF1(t, 0.5)
	c.Rule.Metric = mlservice.MetricROCAUC
	if _, err := mlservice.Promote(context.Background(), dir, c); err == nil || !strings.Contains(err.Error(), `"f1"`) || !strings.Contains(err.Error(), `"roc_auc"`) {
		t.Errorf("metric f1 under a roc_auc rule: %v", err)
	}
	if vs := mlkit.Versions(t, dir); len(vs) != 0 {
		t.Errorf("refused candidates left versions: %+v", vs)
	}
}

// The rejected-day skip follows the rule: a day that lost under one rule
// is tried again under another, and skipped again under the same.
func TestTrainedAlreadyConsidersRule(t *testing.T) {
	testTrainedAlreadyConsidersRule(t, mlservice.DirArtifacts(t.TempDir()))
}

func testTrainedAlreadyConsidersRule(t *testing.T, a *mlservice.Artifacts) {
	ctx := context.Background()
	day1, day2, day3 := trainDay(t, "day_01"), trainDay(t, "day_02"), trainDay(t, "day_03")
	for _, ds := range []*mlservice.Dataset{day1, day2} {
		if _, err := a.Promote(ctx, mustTrain(t, ds, mlservice.TrainOptions{})); err != nil {
			t.Fatal(err)
		}
	}
	f1 := mlservice.TrainOptions{}
	lost, err := a.Promote(ctx, mustTrain(t, day3, f1))
	if err != nil || lost.Promoted {
		t.Fatalf("day 3 should lose to day 2 on f1: %+v, %v", lost, err)
	}
	skipped := func(opts mlservice.TrainOptions) string {
		t.Helper()
		m, err := a.TrainedAlready(ctx, day3, opts)
		if err != nil {
			t.Fatal(err)
		}
		if m == nil {
			return ""
		}
		return m.ModelVersionID
	}
	if got := skipped(f1); got != lost.VersionID {
		t.Fatalf("under f1 again: skipped as %q, want %s", got, lost.VersionID)
	}
	if got := skipped(mlservice.TrainOptions{Rule: mlservice.PromotionRule{Metric: "f1"}}); got != lost.VersionID {
		t.Errorf(`Metric "f1" is the default rule, yet not skipped (%q)`, got)
	}
	for _, rule := range []mlservice.PromotionRule{{Metric: mlservice.MetricROCAUC}, {Metric: mlservice.MetricLogLoss}, {MinDelta: 0.01}} {
		if got := skipped(mlservice.TrainOptions{Rule: rule}); got != "" {
			t.Errorf("rule %+v: skipped as %s, which lost under f1, strictly", rule, got)
		}
	}
	// Lost under roc_auc with a margin no day can clear, it is skipped
	// under that rule too, and still under f1.
	hard := mlservice.TrainOptions{Rule: mlservice.PromotionRule{Metric: mlservice.MetricROCAUC, MinDelta: 0.5}}
	lostAUC, err := a.Promote(ctx, mustTrain(t, day3, hard))
	if err != nil || lostAUC.Promoted {
		t.Fatalf("day 3 by 0.5 of roc_auc: %+v, %v", lostAUC, err)
	}
	if got := skipped(hard); got != lostAUC.VersionID {
		t.Errorf("under roc_auc by 0.5 again: skipped as %q, want %s", got, lostAUC.VersionID)
	}
	if got := skipped(f1); got != lost.VersionID {
		t.Errorf("under f1: skipped as %q, want %s", got, lost.VersionID)
	}
}

// A day refused as a schema change against the version current now is
// skipped when run again (under any rule: no metric was compared), and
// trained and promoted when the change is allowed.
func TestTrainedAlreadySkipsRefusedSchemaChange(t *testing.T) {
	testTrainedAlreadySkipsRefusedSchemaChange(t, mlservice.DirArtifacts(t.TempDir()))
}

func testTrainedAlreadySkipsRefusedSchemaChange(t *testing.T, a *mlservice.Artifacts) {
	ctx := context.Background()
	if d, err := a.Promote(ctx, mlkit.TableCandidate(t, "grunfeld.csv", "grunfeld.schema.json")); err != nil || !d.Promoted {
		t.Fatalf("grunfeld: %+v, %v", d, err)
	}
	s, err := mlservice.LoadSchemaFile(filepath.Join(tablesDir, "grunfeld_declared.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := mlservice.ValidateTableFile(ctx, filepath.Join(tablesDir, "grunfeld.csv"), s)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := a.TrainedAlready(ctx, ds, mlservice.TrainOptions{}); m != nil || err != nil {
		t.Fatalf("never tried: TrainedAlready = %v, %v", m, err)
	}
	refused, err := a.Promote(ctx, mustTrain(t, ds, mlservice.TrainOptions{}))
	if err != nil || refused.Promoted || !strings.Contains(refused.Reason, "schema changed") {
		t.Fatalf("schema change: %+v, %v", refused, err)
	}
	for _, opts := range []mlservice.TrainOptions{{}, {Rule: mlservice.PromotionRule{Metric: mlservice.MetricPRAUC}}} {
		m, err := a.TrainedAlready(ctx, ds, opts)
		if err != nil || m == nil || m.ModelVersionID != refused.VersionID || !strings.Contains(m.Promotion.Reason, "schema changed") {
			t.Errorf("rerun under %+v: TrainedAlready = %v, %v; want %s", opts.Rule, m, err, refused.VersionID)
		}
	}
	allow := mlservice.TrainOptions{AllowSchemaChange: true}
	if m, err := a.TrainedAlready(ctx, ds, allow); m != nil || err != nil {
		t.Fatalf("with the change allowed: TrainedAlready = %v, %v; want a train", m, err)
	}
	cand := mustTrain(t, ds, allow)
	if !cand.AllowSchemaChange {
		t.Fatal("Train did not carry AllowSchemaChange to the candidate")
	}
	if d, err := a.Promote(ctx, cand); err != nil || !d.Promoted {
		t.Fatalf("allowed schema change: %+v, %v", d, err)
	}
}
