package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
)

// -metric and -min-delta (or PROMOTE_METRIC and PROMOTE_MIN_DELTA) choose
// the rule; the result and the history name it; a flag beats the variable.
func TestTrainPromotionRuleFlagsAndEnv(t *testing.T) {
	art := t.TempDir()
	day := func(n string) string { return filepath.Join(dataDir, "day_"+n+".csv") }
	env := map[string]string{"ARTIFACTS_DIR": art, "PROMOTE_METRIC": "log_loss", "PROMOTE_MIN_DELTA": "0.5"}
	first := decodeTrain(t, trainer(t, env, "train", day("01")))
	if !first.Promoted || first.Metric.Name != "log_loss" || first.Rule != (mlservice.PromotionRule{Metric: "log_loss", MinDelta: 0.5}) {
		t.Fatalf("from the environment: %+v", first)
	}
	if first.Metric.Value != first.Metrics.LogLoss {
		t.Errorf("metric %+v is not metrics.log_loss %v", first.Metric, first.Metrics.LogLoss)
	}
	// No day beats another's log loss by 0.5.
	second := decodeTrain(t, trainer(t, env, "train", day("02")))
	if second.Promoted || !strings.Contains(second.Reason, "min delta 0.5") || !strings.Contains(second.Reason, "rule: log_loss, lower is better, by more than 0.5") {
		t.Errorf("log_loss by 0.5: %+v", second)
	}
	// The same day under the rule it lost by is skipped; under another
	// rule it is trained again.
	again := decodeTrain(t, trainer(t, env, "train", day("02")))
	if !again.Skipped || again.ModelVersionID != second.ModelVersionID || again.Rule.Metric != "log_loss" || !strings.Contains(again.Reason, "already lost") {
		t.Errorf("day 2 again under the rule it lost by: %+v", again)
	}
	// Flags beat the environment.
	third := decodeTrain(t, trainer(t, env, "train", "-metric", "ROC_AUC", "-min-delta", "0", day("02")))
	if third.Skipped || third.Metric.Name != "roc_auc" || third.Rule != (mlservice.PromotionRule{Metric: "roc_auc"}) || !strings.HasPrefix(third.Reason, "roc_auc ") {
		t.Errorf("-metric ROC_AUC -min-delta 0: %+v", third)
	}
	h, err := mlservice.ReadHistory(art)
	if err != nil || len(h) != 3 || h[2].Rule == nil || h[2].Rule.Metric != "roc_auc" || h[1].Rule == nil || h[1].Rule.MinDelta != 0.5 {
		t.Errorf("history rules: %+v, %v", h, err)
	}
}

// A bad metric or min delta is a usage error naming the flag or variable it
// came from, before anything is read or written.
func TestTrainBadPromotionRule(t *testing.T) {
	day := filepath.Join(dataDir, "day_01.csv")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"flag metric", nil, []string{"-metric", "auc"}, `-metric "auc" is not a promotion metric: use one of f1, roc_auc, pr_auc, log_loss, accuracy`},
		{"env metric", map[string]string{"PROMOTE_METRIC": "precision"}, nil, `PROMOTE_METRIC="precision" is not a promotion metric`},
		{"flag delta negative", nil, []string{"-min-delta", "-0.1"}, `-min-delta "-0.1" is not a min delta`},
		{"flag delta NaN", nil, []string{"-min-delta", "NaN"}, `-min-delta "NaN" is not a min delta`},
		{"flag delta Inf", nil, []string{"-min-delta", "+Inf"}, `-min-delta "+Inf" is not a min delta`},
		{"flag delta text", nil, []string{"-min-delta", "1%"}, `-min-delta "1%" is not a min delta`},
		{"env delta", map[string]string{"PROMOTE_MIN_DELTA": "-1"}, nil, `PROMOTE_MIN_DELTA="-1" is not a min delta`},
		{"env wrong, flag right", map[string]string{"PROMOTE_METRIC": "auc"}, []string{"-metric", "f1", "-min-delta", "x"}, `-min-delta "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			art := filepath.Join(t.TempDir(), "artifacts")
			env := map[string]string{"ARTIFACTS_DIR": art}
			for k, v := range tc.env {
				env[k] = v
			}
			r := trainer(t, env, append(append([]string{"train"}, tc.args...), day)...)
			if r.Code != exitUsage || !strings.Contains(r.Stderr, tc.want) || !strings.Contains(r.Stderr, "usage: trainer train") {
				t.Errorf("exit %d, want %d with %q:\n%s", r.Code, exitUsage, tc.want, r.Stderr)
			}
			if r.Stdout != "" {
				t.Errorf("stdout %q", r.Stdout)
			}
			if _, err := os.Stat(art); !os.IsNotExist(err) {
				t.Errorf("artifacts written: %v", err)
			}
		})
	}
}
