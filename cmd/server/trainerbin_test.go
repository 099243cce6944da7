package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/mlservice/mlservice/internal/testkit"
)

// TestMain builds the trainer and server binaries once for the package's
// end-to-end tests (testkit.Binaries), and removes them at the end.
func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// trainOutput is the part of `trainer train`'s JSON these tests read.
type trainOutput struct {
	ModelVersionID       string `json:"model_version_id"`
	Skipped              bool   `json:"skipped"`
	Promoted             bool   `json:"promoted"`
	Metric               struct{ Value float64 }
	PreviousMetric       *float64 `json:"previous_metric"`
	PreviousMetricStored *float64 `json:"previous_metric_stored"`
	TrainingDataFile     string   `json:"training_data_file"`
}

// trainerRun runs the trainer binary with args (and unbalanced class
// weights, as in the Python reference) and env added to its environment,
// and returns how it ended.
func trainerRun(t *testing.T, bin string, args ...string) testkit.Result {
	t.Helper()
	return trainerEnv(t, bin, nil, args...)
}

func trainerEnv(t *testing.T, bin string, env []string, args ...string) testkit.Result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "BALANCED_CLASS_WEIGHT=False"), env...)
	return testkit.Run(t, cmd)
}

// runTrainer runs the trainer with ARTIFACTS_DIR=artifacts, fails the test
// unless it exits 0, and returns its stdout, decoded when the command is
// train.
func runTrainer(t *testing.T, bin, artifacts string, args ...string) (trainOutput, string) {
	t.Helper()
	r := trainerEnv(t, bin, []string{"ARTIFACTS_DIR=" + artifacts}, args...)
	if r.Code != 0 {
		t.Fatalf("trainer %v: %v", args, r)
	}
	var out trainOutput
	if args[0] == "train" {
		if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
			t.Fatalf("trainer stdout %q: %v", r.Stdout, err)
		}
	}
	return out, r.Stdout
}

// train trains the data file into artifacts and fails the test unless the
// trainer exits 0.
func train(t *testing.T, bin, artifacts, data string) trainOutput {
	t.Helper()
	out, _ := runTrainer(t, bin, artifacts, "train", data)
	return out
}
