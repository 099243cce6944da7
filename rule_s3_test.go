//go:build unix

package mlservice_test

import (
	"context"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// The object store decides under the candidate's rule and records it, as
// the directory does.
func TestS3PromoteUnderRule(t *testing.T) {
	ctx := context.Background()
	a, _ := mlkit.OpenS3(t, mlkit.S3URL(t, mlkit.Weed(t)))
	day1, day2, day3 := trainDay(t, "day_01"), trainDay(t, "day_02"), trainDay(t, "day_03")
	if d, err := a.Promote(ctx, mustTrain(t, day1, mlservice.TrainOptions{})); err != nil || !d.Promoted {
		t.Fatalf("day 1: %+v, %v", d, err)
	}
	rule := mlservice.PromotionRule{Metric: mlservice.MetricLogLoss, MinDelta: 0.001}
	d, err := a.Promote(ctx, mustTrain(t, day2, mlservice.TrainOptions{Rule: rule, Eval: day3}))
	if err != nil {
		t.Fatal(err)
	}
	// Day 2 scores a higher log loss than day 1 on day 3's rows (see
	// TestPromoteUnderEachRule): rejected under log_loss.
	if d.Promoted || d.Rule != rule || d.PreviousMetric == nil || !(*d.PreviousMetric < d.Metadata.Metric.Value) {
		t.Fatalf("log_loss decision: %+v", d)
	}
	h, err := a.ReadHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last := h[len(h)-1]; last.VersionID != d.VersionID || last.Rule == nil || *last.Rule != rule || last.Metric.Name != "log_loss" {
		t.Errorf("history: %+v", last)
	}
	meta, _, err := a.ReadVersion(ctx, d.VersionID)
	if err != nil || meta.Promotion.Rule != rule {
		t.Errorf("metadata promotion.rule: %+v, %v", meta, err)
	}
}

func TestS3TrainedAlreadyConsidersRule(t *testing.T) {
	a, _ := mlkit.OpenS3(t, mlkit.S3URL(t, mlkit.Weed(t)))
	testTrainedAlreadyConsidersRule(t, a)
}

func TestS3TrainedAlreadySkipsRefusedSchemaChange(t *testing.T) {
	a, _ := mlkit.OpenS3(t, mlkit.S3URL(t, mlkit.Weed(t)))
	testTrainedAlreadySkipsRefusedSchemaChange(t, a)
}
