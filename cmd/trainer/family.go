package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/xgbjson"
	"github.com/mlservice/mlservice/model/gbdt"
)

// familyFlags adds train's -model, -trees, -max-depth, -learning-rate and
// -early-stopping, which default to MODEL, TREES, MAX_DEPTH, LEARNING_RATE
// and EARLY_STOPPING. The returned function, called after parsing, sets
// them in opts, or returns a usage error naming the flag or the variable
// the bad value came from.
func familyFlags(fs *command, getenv func(string) string) (func(opts *mlservice.TrainOptions) error, error) {
	env := func(key string) string { return strings.TrimSpace(getenv(key)) }
	early := true
	if env("EARLY_STOPPING") != "" {
		var err error
		if early, err = envBool(getenv, "EARLY_STOPPING"); err != nil {
			return nil, err
		}
	}
	family := fs.String("model", env("MODEL"), "model `FAMILY`: logistic, gbdt (gradient-boosted trees) or auto (fit both on the training rows, keep the better on a validation split of them) (env MODEL; default logistic)")
	trees := fs.String("trees", env("TREES"), fmt.Sprintf("gbdt and auto: boosting rounds `N`, 1 to %d (env TREES; default %d)", gbdt.MaxTrees, gbdt.DefaultTrees))
	depth := fs.String("max-depth", env("MAX_DEPTH"), fmt.Sprintf("gbdt and auto: tree depth `D`, 1 to %d (env MAX_DEPTH; default %d)", gbdt.MaxDepth, gbdt.DefaultMaxDepth))
	rate := fs.String("learning-rate", env("LEARNING_RATE"), fmt.Sprintf("gbdt and auto: learning rate `R`, above 0 and at most 1 (env LEARNING_RATE; default %g)", gbdt.DefaultLearningRate))
	stopping := fs.Bool("early-stopping", early, "gbdt and auto: hold out 10% of the training rows and stop after 20 rounds without a better log-loss on them (env EARLY_STOPPING: True or False; default true)")
	return func(opts *mlservice.TrainOptions) error {
		source := flagSource(fs)
		switch opts.Family = strings.ToLower(*family); opts.Family {
		case "", mlservice.FamilyLogistic, mlservice.FamilyGBDT, mlservice.FamilyAuto:
		default:
			return fsUsagef(fs, "%s is not a model family: use logistic, gbdt or auto", source("model", "MODEL", *family))
		}
		if opts.Family == mlservice.FamilyGBDT && opts.BalancedClassWeight {
			return fsUsagef(fs, "-balanced (or BALANCED_CLASS_WEIGHT) weights the logistic family's classes; -model gbdt does not weight classes")
		}
		whole := func(name, key, v string, hi int, out *int) error {
			if v == "" {
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > hi {
				return fsUsagef(fs, "%s is out of range: use a whole number from 1 to %d", source(name, key, v), hi)
			}
			*out = n
			return nil
		}
		if err := whole("trees", "TREES", *trees, gbdt.MaxTrees, &opts.Trees); err != nil {
			return err
		}
		if err := whole("max-depth", "MAX_DEPTH", *depth, gbdt.MaxDepth, &opts.MaxDepth); err != nil {
			return err
		}
		if *rate != "" {
			r, err := strconv.ParseFloat(*rate, 64)
			if err != nil || math.IsNaN(r) || !(r > 0 && r <= 1) {
				return fsUsagef(fs, "%s is out of range: use a number above 0 and at most 1, such as 0.1", source("learning-rate", "LEARNING_RATE", *rate))
			}
			opts.LearningRate = r
		}
		opts.NoEarlyStopping = !*stopping
		return nil
	}, nil
}

// runImport is "trainer import": an XGBoost model, scored on the
// evaluation file and promoted as a trained candidate would be.
func runImport(ctx context.Context, args []string, p proc) error {
	fs := newFlagSet("import", "-xgboost MODEL.json -eval FILE [flags]",
		"Reads a model XGBoost saved as JSON (binary:logistic over number features named in\nfeature_names, each a feature of the schema by name), scores it on FILE (- for\nstandard input) and promotes it when it beats the current version under the\npromotion rule on the same rows, as train does a trained candidate (same\nartifacts, checksums and history). A model that is malformed, multi-class, of\nanother objective, with categorical splits, naming a feature the schema lacks or\nover the size limits is refused with what and where, and nothing is written.")
	openArtifacts := artifactsFlags(fs, p.getenv)
	modelFile := fs.String("xgboost", "", "the XGBoost JSON model `FILE` (Booster.save_model) (no env; no default: required)")
	evalFile := fs.String("eval", "", "score on this CSV `FILE` (- for standard input) (no env; no default: required)")
	schemaFile := schemaFlag(fs, p.getenv)
	allowChange := fs.Bool("allow-schema-change", false, "promote even though the schema differs from the current version's, without comparing metrics (no env; default false)")
	promoteRule := ruleFlags(fs, p.getenv)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	rule, err := promoteRule()
	switch {
	case err != nil:
		return err
	case len(pos) != 0:
		return fsUsagef(fs, "import takes no arguments, got %q", pos)
	case *modelFile == "":
		return fsUsagef(fs, "-xgboost MODEL.json is required")
	case *evalFile == "":
		return fsUsagef(fs, "-eval FILE is required: the model is scored on it")
	}
	arts, schema, err := openTarget(ctx, fs, openArtifacts, *schemaFile, p.stderr)
	if err != nil {
		return err
	}
	data, err := readModel(*modelFile)
	if err != nil {
		return err
	}
	eval, err := openInput(ctx, *evalFile, p.stdin)
	if err != nil {
		return err
	}
	defer eval.close()
	start := time.Now()
	ds, err := validateInput(ctx, eval, p.stderr, schema)
	if err != nil {
		return err
	}
	validated := time.Now()
	cand, err := mlservice.ImportXGBoost(ctx, data, *modelFile, ds, mlservice.TrainOptions{Rule: rule, AllowSchemaChange: *allowChange})
	if err != nil {
		return &invalidError{err}
	}
	if !schema.IsDefault() {
		cand.Metadata.DeclaredSchema = schema
	}
	imported := time.Now()
	m := cand.Metadata
	fmt.Fprintf(p.stderr, "imported %s (%d trees): %s %.4f on %d evaluation rows (f1 %.4f, roc_auc %.4f); rule: %s\n",
		m.TrainingDataFile, m.Params.Trees.Trees, m.Metric.Name, m.Metric.Value, m.Data.EvalRows, m.Metrics.F1, m.Metrics.ROCAUC, rule)
	d, err := arts.Promote(lockWait(ctx, p.stderr), cand)
	if err != nil {
		return err
	}
	done := time.Now()
	reportDecision(ctx, p.stderr, d)
	return writeJSON(p.stdout, newTrainResult(d, m, false, timings{
		Validate: validated.Sub(start).Seconds(), Train: imported.Sub(validated).Seconds(),
		Promote: done.Sub(imported).Seconds(), Total: done.Sub(start).Seconds(),
	}))
}

// readModel reads an XGBoost model file, refusing one over xgbjson's size
// limit before reading it.
func readModel(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tooBig := func(n int64) error {
		return &invalidError{fmt.Errorf("%s: %d bytes or more, the limit for an XGBoost model is %d", name, n, xgbjson.MaxBytes)}
	}
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > xgbjson.MaxBytes {
		return nil, tooBig(st.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, xgbjson.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > xgbjson.MaxBytes {
		return nil, tooBig(int64(len(data)))
	}
	return data, nil
}

// reportDecision tells stderr what Promote decided for version d.
func reportDecision(ctx context.Context, stderr io.Writer, d *mlservice.Decision) {
	verdict := "rejected"
	if d.Promoted {
		verdict = "promoted"
	}
	fmt.Fprintf(stderr, "version %s %s: %s\n", d.VersionID, verdict, d.Reason)
	if ctx.Err() != nil {
		// Promote checks for a stop until CURRENT moves; past that the
		// decision is made and recorded, so it is reported, not undone.
		fmt.Fprintf(stderr, "a stop was asked for after the decision took effect: version %s stays %s\n", d.VersionID, verdict)
	}
	if d.Warning != "" {
		fmt.Fprintf(stderr, "warning: %s\n", d.Warning)
	}
	warnAll(stderr, d.HistoryWarnings)
}

// newTrainResult is the JSON result of a train or import decided by d.
func newTrainResult(d *mlservice.Decision, m mlservice.Metadata, balanced bool, seconds timings) trainResult {
	res := trainResult{
		ModelVersionID: d.VersionID, Metric: m.Metric, Promoted: d.Promoted, Reason: d.Reason, Warning: d.Warning, Pinned: d.Pinned,
		PreviousMetric: d.PreviousMetric, PreviousMetricStored: d.PreviousMetricStored, Metrics: m.Metrics, TrainingDataFile: m.TrainingDataFile,
		Rows: m.Data.Rows, TrainRows: m.Data.TrainRows, EvalRows: m.Data.EvalRows, Balanced: balanced && m.Params.ClassWeight != nil, // auto may pick trees
		FeatureSchemaVersion: m.FeatureSchemaVersion, Rule: d.Rule, ModelFamily: m.ModelFamily, Params: &m.Params, Seconds: seconds,
	}
	if d.PreviousVersionID != "" {
		res.PreviousVersionID = &d.PreviousVersionID
	}
	return res
}

// flagSource names where a flag's value came from: the flag, when it was
// set, else its environment variable.
func flagSource(fs *command) func(name, env, v string) string {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return func(name, env, v string) string {
		if set[name] {
			return fmt.Sprintf("-%s %q", name, v)
		}
		return fmt.Sprintf("%s=%q", env, v)
	}
}
