package mlservice

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mlservice/mlservice/model"
)

// The metrics a PromotionRule may compare, as model.Evaluate computes them
// on the candidate's evaluation rows.
const (
	MetricF1       = "f1"       // higher is better; the default
	MetricROCAUC   = "roc_auc"  // higher is better
	MetricPRAUC    = "pr_auc"   // average precision; higher is better
	MetricLogLoss  = "log_loss" // lower is better
	MetricAccuracy = "accuracy" // higher is better
)

// PromotionMetrics returns the metric names a PromotionRule accepts, the
// default first.
func PromotionMetrics() []string {
	return []string{MetricF1, MetricROCAUC, MetricPRAUC, MetricLogLoss, MetricAccuracy}
}

// PromotionRule is how Promote decides whether a candidate beats the
// current version, both scored on the candidate's evaluation rows. The zero
// value is the default: f1, strictly greater. Every decision records its
// rule (metadata.json's promotion.rule, history's rule), and the
// candidate's metric (metadata.json's metric) is the rule's.
type PromotionRule struct {
	// Metric is the figure compared: one of the Metric… constants. ""
	// means MetricF1.
	Metric string `json:"metric"`
	// MinDelta is how much better than the current version the candidate
	// must be: its gain, candidate − current (current − candidate for
	// log_loss, where lower is better), must be more than MinDelta. Zero
	// (the default) means strictly better: gain > 0 in float64, so an
	// exact tie is rejected. Above zero, a gain within 1e-12 of MinDelta
	// counts as equal to it and is rejected: with MinDelta 0.01, f1 0.61
	// against 0.60 is rejected although 0.61 − 0.60 is 0.010000000000000009
	// in float64, and 0.6101 is promoted. Negative, NaN or infinite is an
	// error.
	MinDelta float64 `json:"min_delta"`
}

// withDefaults checks r and fills in the default metric.
func (r PromotionRule) withDefaults() (PromotionRule, error) {
	if r.Metric == "" {
		r.Metric = MetricF1
	}
	if !slices.Contains(PromotionMetrics(), r.Metric) {
		return r, fmt.Errorf("promotion metric %q is not one of %s", truncate(r.Metric, 80), strings.Join(PromotionMetrics(), ", "))
	}
	if math.IsNaN(r.MinDelta) || math.IsInf(r.MinDelta, 0) || r.MinDelta < 0 {
		return r, fmt.Errorf("promotion min delta %v is not a number zero or above", r.MinDelta)
	}
	return r, nil
}

// lowerIsBetter reports whether a smaller value of r's metric is better.
func (r PromotionRule) lowerIsBetter() bool { return r.Metric == MetricLogLoss }

// value is r's metric among m. r has its defaults.
func (r PromotionRule) value(m Metrics) float64 {
	switch r.Metric {
	case MetricROCAUC:
		return m.ROCAUC
	case MetricPRAUC:
		return m.PRAUC
	case MetricLogLoss:
		return m.LogLoss
	case MetricAccuracy:
		return m.Accuracy
	}
	return m.F1
}

// metric is the candidate's promotion metric: r's, from m.
func (r PromotionRule) metric(m Metrics) Metric {
	r, _ = r.withDefaults() // Train checked r
	return Metric{Name: r.Metric, Value: r.value(m)}
}

// gain is how much better cand is than cur under r: positive when better.
func (r PromotionRule) gain(cand, cur float64) float64 {
	if r.lowerIsBetter() {
		return cur - cand
	}
	return cand - cur
}

// deltaSlack is how close to MinDelta a gain counts as equal to it: float64
// rounding of the subtraction, for metrics no larger than log loss's ~36.
const deltaSlack = 1e-12

// beats reports whether cand wins against cur under r (see MinDelta). A NaN
// on either side never wins.
func (r PromotionRule) beats(cand, cur float64) bool {
	g := r.gain(cand, cur)
	if r.MinDelta == 0 {
		return g > 0
	}
	return g > r.MinDelta+deltaSlack
}

// String names the rule for decisions' reasons:
// "f1, higher is better, strictly" or
// "log_loss, lower is better, by more than 0.01".
func (r PromotionRule) String() string {
	dir := "higher"
	if r.lowerIsBetter() {
		dir = "lower"
	}
	by := "strictly"
	if r.MinDelta != 0 {
		by = "by more than " + strconv.FormatFloat(r.MinDelta, 'g', -1, 64)
	}
	return fmt.Sprintf("%s, %s is better, %s", orDefault(r.Metric, MetricF1), dir, by)
}

// recordedMetric is version metadata m's figure for metric name, as it was
// scored on its own evaluation rows, and whether it has one: a version
// trained before pr_auc was added records 0 for it, which average precision
// never is when a row is positive.
func recordedMetric(m *Metadata, name string) (float64, bool) {
	if m.Metric.Name == name {
		return m.Metric.Value, true
	}
	if m.Metrics.Rows == 0 || (name == MetricPRAUC && m.Metrics.PRAUC == 0) {
		return 0, false
	}
	return PromotionRule{Metric: name}.value(m.Metrics), true
}

// FamilyAuto: the rule that decides promotion also picks the family, on
// rows of the training data held out from both fits.

// autoValidationFraction is the share of the training rows FamilyAuto
// scores the two families on.
const autoValidationFraction = 0.2

// autoMinRowsPerClass is the fewest training rows of each class
// FamilyAuto compares the families on; with fewer it keeps logistic
// regression.
const autoMinRowsPerClass = 10

// fitAuto fits opts.Family's model on the rows of ds that rows selects (nil:
// all). FamilyAuto fits both families on those rows but a stratified
// validation split of them, scores both on it under the rule's metric, and
// fits the better (logistic on a tie) on all the rows.
func fitAuto(ctx context.Context, ds *Dataset, rows []bool, opts TrainOptions) (model.Model, Params, error) {
	if opts.Family != FamilyAuto {
		return fit(ctx, opts.Family, ds, rows, opts)
	}
	var idx []int
	var y []uint8
	for i, l := range ds.Y {
		if rows == nil || rows[i] {
			idx, y = append(idx, i), append(y, l)
		}
	}
	var counts [2]int
	for _, l := range y {
		counts[l]++
	}
	held := stratifiedTestRows(y, autoValidationFraction, opts.Seed+1)
	sub, valid := make([]bool, ds.Len()), make([]bool, ds.Len())
	for k, i := range idx {
		sub[i], valid[i] = !held[k], held[k]
	}
	vset := subset(ds, valid)
	choice := &FamilyChoice{Metric: opts.Rule.Metric, ValidationRows: vset.Len(), Scores: map[string]float64{}, BalancedClassWeight: opts.BalancedClassWeight}
	if min(counts[0], counts[1]) < autoMinRowsPerClass {
		choice.Chosen, choice.ValidationRows = FamilyLogistic, 0
		choice.Reason = fmt.Sprintf("too few training rows to compare the families on held-out ones (%d and %d of the classes, auto needs %d of each): logistic",
			counts[0], counts[1], autoMinRowsPerClass)
	}
	if choice.Chosen == "" {
		for _, family := range []string{FamilyLogistic, FamilyGBDT} {
			m, _, err := fit(ctx, family, ds, sub, opts)
			if err != nil {
				return nil, Params{}, fmt.Errorf("auto: %s: %w", family, err)
			}
			metrics, err := model.Evaluate(vset.Y, scores(m, vset), nil)
			if err != nil {
				return nil, Params{}, fmt.Errorf("auto: score %s: %w", family, err)
			}
			choice.Scores[family] = opts.Rule.value(metrics)
		}
		lg, tr := choice.Scores[FamilyLogistic], choice.Scores[FamilyGBDT]
		choice.Chosen, choice.Reason = FamilyLogistic, "not better than"
		if opts.Rule.gain(tr, lg) > 0 {
			choice.Chosen, choice.Reason = FamilyGBDT, "better than"
		}
		choice.Reason = fmt.Sprintf("gbdt %s %.6f %s logistic %.6f on %d validation rows drawn from the training rows; %s fitted on all %d training rows",
			choice.Metric, tr, choice.Reason, lg, vset.Len(), choice.Chosen, len(idx))
	}
	// fit records the chosen family's settings (class weights only for
	// logistic regression: trees weight no class); auto adds what was asked.
	m, p, err := fit(ctx, choice.Chosen, ds, rows, opts)
	p.Family, p.Auto = FamilyAuto, choice
	p.TreeOptions, p.C = opts.treeSettings(), opts.C
	return m, p, err
}
