package mlservice_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// fairGolden is testdata/sklearn/fair_golden.json, written by make_golden.py.
type fairGolden struct {
	CurrentF1OnCandidateRows float64 `json:"current_f1_on_candidate_rows"`
	CurrentF1Stored          float64 `json:"current_f1_stored"`
	CandidateF1              float64 `json:"candidate_f1"`
	CandidateEvalRows        int     `json:"candidate_eval_rows"`
}

// Promote compares F1 figures from the same rows: the current version
// (day_01) is re-scored on the rows held out of the candidate's file
// (day_02). scikit-learn fits day_01 on the same training rows and scores
// the same held-out rows independently; the figure Promote compares must
// match its F1 to 1e-6, and both figures are recorded in the decision, the
// metadata and the history.
func TestFairPromotionMatchesScikitLearn(t *testing.T) {
	var golden fairGolden
	if err := json.Unmarshal(testkit.ReadFile(t, "testdata/sklearn/fair_golden.json"), &golden); err != nil {
		t.Fatal(err)
	}
	const tol = 1e-6
	ctx := context.Background()
	dir := t.TempDir()
	cur := mustTrain(t, trainDay(t, "day_01"), mlservice.TrainOptions{})
	first, err := mlservice.Promote(ctx, dir, cur)
	if err != nil || !first.Promoted {
		t.Fatalf("first promotion: %+v, %v", first, err)
	}
	cand := mustTrain(t, trainDay(t, "day_02"), mlservice.TrainOptions{})
	d, err := mlservice.Promote(ctx, dir, cand)
	if err != nil {
		t.Fatal(err)
	}
	f1 := cand.Metadata.Metric.Value
	switch {
	case d.PreviousMetric == nil || d.PreviousMetricStored == nil:
		t.Fatalf("decision lacks a previous metric: %+v", d)
	case math.Abs(*d.PreviousMetric-golden.CurrentF1OnCandidateRows) > tol:
		t.Errorf("current version's F1 on the candidate's rows: %v, scikit-learn %v", *d.PreviousMetric, golden.CurrentF1OnCandidateRows)
	case math.Abs(*d.PreviousMetricStored-golden.CurrentF1Stored) > tol:
		t.Errorf("current version's recorded F1: %v, scikit-learn %v", *d.PreviousMetricStored, golden.CurrentF1Stored)
	case math.Abs(f1-golden.CandidateF1) > tol || cand.Metadata.Data.EvalRows != golden.CandidateEvalRows:
		t.Errorf("candidate F1 %v on %d rows, scikit-learn %v on %d", f1, cand.Metadata.Data.EvalRows, golden.CandidateF1, golden.CandidateEvalRows)
	case d.Promoted != (f1 > golden.CurrentF1OnCandidateRows):
		t.Errorf("promoted = %v with f1 %v against %v on the same rows", d.Promoted, f1, golden.CurrentF1OnCandidateRows)
	case !strings.Contains(d.Reason, "same 1047 evaluation rows"):
		t.Errorf("reason %q does not say the rows were the same", d.Reason)
	}

	p := d.Metadata.Promotion
	if p.PreviousMetric == nil || *p.PreviousMetric != *d.PreviousMetric || p.PreviousMetricStored == nil ||
		*p.PreviousMetricStored != *d.PreviousMetricStored {
		t.Errorf("metadata promotion %+v", p)
	}
	hist := mlkit.History(t, dir)
	h := hist[len(hist)-1]
	if h.VersionID != d.VersionID || h.PreviousMetric == nil || *h.PreviousMetric != *d.PreviousMetric ||
		h.PreviousMetricStored == nil || *h.PreviousMetricStored != *d.PreviousMetricStored {
		t.Errorf("history record %+v", h)
	}
}

// A current version that cannot be loaded cannot be re-scored: the candidate
// is promoted as before, and the reason says why.
func TestFairPromotionUnreadableCurrent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first, err := mlservice.Promote(ctx, dir, mustTrain(t, trainDay(t, "day_01"), mlservice.TrainOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(testkit.VersionFile(dir, first.VersionID, "model.json")); err != nil {
		t.Fatal(err)
	}
	d, err := mlservice.Promote(ctx, dir, mustTrain(t, trainDay(t, "day_02"), mlservice.TrainOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Promoted || !strings.Contains(d.Reason, "unreadable") || d.PreviousVersionID != first.VersionID || d.PreviousMetric != nil {
		t.Errorf("promotion over an unreadable current version: %+v", d)
	}
}
