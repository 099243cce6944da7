package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mlservice/mlservice"
)

// trainResult is the one JSON object train prints on stdout.
type trainResult struct {
	ModelVersionID       string            `json:"model_version_id"`
	Skipped              bool              `json:"skipped"` // nothing trained: the current version (ModelVersionID) has the same data and parameters
	Metric               mlservice.Metric  `json:"metric"`
	Promoted             bool              `json:"promoted"`
	Reason               string            `json:"reason"`
	Warning              string            `json:"warning,omitempty"` // the decision took effect but is not in history yet
	PreviousVersionID    *string           `json:"previous_version_id"`
	PreviousMetric       *float64          `json:"previous_metric"`        // on this candidate's evaluation rows
	PreviousMetricStored *float64          `json:"previous_metric_stored"` // as recorded with the previous version
	Metrics              mlservice.Metrics `json:"metrics"`
	TrainingDataFile     string            `json:"training_data_file"`
	Rows                 int               `json:"rows"`
	TrainRows            int               `json:"train_rows"`
	EvalRows             int               `json:"eval_rows"`
	Balanced             bool              `json:"balanced"`
	Seconds              timings           `json:"seconds"`
}

type timings struct {
	Validate float64 `json:"validate"`
	Train    float64 `json:"train"`
	Promote  float64 `json:"promote"`
	Total    float64 `json:"total"`
}

func runTrain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train")
	openArtifacts := artifactsFlags(fs, getenv)
	balancedDefault, err := envBool(getenv, "BALANCED_CLASS_WEIGHT")
	if err != nil {
		return err
	}
	balanced := fs.Bool("balanced", balancedDefault, "weight classes by n/(2·n_class) (BALANCED_CLASS_WEIGHT)")
	evalFile := fs.String("eval", "", "score on this CSV file instead of a stratified 80/20 split")
	seed := fs.Uint64("seed", mlservice.DefaultSeed, "seed of the stratified split")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("train takes one CSV file, got %d arguments", len(pos))
	}
	if *seed == 0 {
		return usagef("-seed must be positive")
	}
	if *evalFile != "" {
		boundHeap(getenv, pos[0], *evalFile)
	} else {
		boundHeap(getenv, pos[0])
	}

	arts, err := openArtifacts(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	ds, err := validateFile(pos[0], stderr)
	if err != nil {
		return err
	}
	opts := mlservice.TrainOptions{BalancedClassWeight: *balanced, Seed: *seed}
	if *evalFile != "" {
		if opts.Eval, err = validateFile(*evalFile, stderr); err != nil {
			return err
		}
	}
	validated := time.Now()
	if same, err := arts.TrainedAlready(ctx, ds, opts); err != nil {
		return err
	} else if same != nil {
		took := validated.Sub(start).Seconds()
		return writeSkipped(stdout, stderr, same, *balanced, timings{Validate: took, Total: took})
	}

	fmt.Fprintf(stderr, "training on %d rows (balanced class weights: %v)\n", ds.Len(), *balanced)
	cand, err := mlservice.Train(ctx, ds, opts)
	if err != nil {
		return err
	}
	trained := time.Now()
	m := cand.Metadata
	fmt.Fprintf(stderr, "trained in %.3fs: f1 %.4f on %d evaluation rows (precision %.4f, recall %.4f, roc_auc %.4f)\n",
		trained.Sub(validated).Seconds(), m.Metrics.F1, m.Data.EvalRows, m.Metrics.Precision, m.Metrics.Recall, m.Metrics.ROCAUC)

	d, err := arts.Promote(ctx, cand)
	if err != nil {
		return err
	}
	done := time.Now()
	verdict := "rejected"
	if d.Promoted {
		verdict = "promoted"
	}
	fmt.Fprintf(stderr, "version %s %s: %s\n", d.VersionID, verdict, d.Reason)
	if d.Warning != "" {
		fmt.Fprintf(stderr, "warning: %s\n", d.Warning)
	}

	res := trainResult{
		ModelVersionID: d.VersionID, Metric: m.Metric, Promoted: d.Promoted, Reason: d.Reason, Warning: d.Warning,
		PreviousMetric: d.PreviousMetric, PreviousMetricStored: d.PreviousMetricStored, Metrics: m.Metrics, TrainingDataFile: m.TrainingDataFile,
		Rows: m.Data.Rows, TrainRows: m.Data.TrainRows, EvalRows: m.Data.EvalRows, Balanced: *balanced,
		Seconds: timings{
			Validate: validated.Sub(start).Seconds(), Train: trained.Sub(validated).Seconds(),
			Promote: done.Sub(trained).Seconds(), Total: done.Sub(start).Seconds(),
		},
	}
	if d.PreviousVersionID != "" {
		res.PreviousVersionID = &d.PreviousVersionID
	}
	return writeJSON(stdout, res)
}

// writeSkipped reports a train that was not needed: meta is the current
// version's, trained on the same data with the same parameters.
func writeSkipped(stdout, stderr io.Writer, meta *mlservice.Metadata, balanced bool, seconds timings) error {
	reason := fmt.Sprintf("the current version %s was trained on the same data (sha256 %s) with the same parameters",
		meta.ModelVersionID, meta.Data.SHA256)
	fmt.Fprintf(stderr, "skipped: %s\n", reason)
	return writeJSON(stdout, trainResult{
		ModelVersionID: meta.ModelVersionID, Skipped: true, Metric: meta.Metric, Reason: reason,
		Metrics: meta.Metrics, TrainingDataFile: meta.TrainingDataFile, Rows: meta.Data.Rows,
		TrainRows: meta.Data.TrainRows, EvalRows: meta.Data.EvalRows, Balanced: balanced, Seconds: seconds,
	})
}

// validateFile validates path, printing progress, and marks contract
// violations as invalid data.
func validateFile(path string, stderr io.Writer) (*mlservice.Dataset, error) {
	start := time.Now()
	ds, err := mlservice.ValidateFile(path)
	if errors.Is(err, mlservice.ErrInvalidData) {
		return nil, &invalidError{err}
	}
	if err != nil {
		return nil, err
	}
	c := ds.ClassCounts()
	fmt.Fprintf(stderr, "validated %s: %d rows (%d of class 0, %d of class 1) in %.3fs\n",
		path, ds.Len(), c[0], c[1], time.Since(start).Seconds())
	return ds, nil
}

func runValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("validate takes one CSV file, got %d arguments", len(pos))
	}
	boundHeap(os.Getenv, pos[0])
	ds, err := validateFile(pos[0], stderr)
	if err != nil {
		return err
	}
	return writeJSON(stdout, map[string]any{
		"valid": true, "file": ds.Source, "rows": ds.Len(), "class_counts": ds.ClassCounts(), "sha256": ds.SHA256,
	})
}

func runVersions(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlagSet("versions")
	openArtifacts := artifactsFlags(fs, getenv)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("versions takes no arguments")
	}
	arts, err := openArtifacts(ctx)
	if err != nil {
		return err
	}
	vs, err := arts.Versions(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		if vs == nil {
			vs = []mlservice.VersionInfo{}
		}
		return writeJSON(stdout, vs)
	}
	if len(vs) == 0 {
		_, err := fmt.Fprintf(stdout, "no versions in %s\n", arts)
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  VERSION\tTRAINED AT\tF1\tDECISION\tDATA FILE")
	for _, v := range vs {
		mark := " "
		if v.Current {
			mark = "*"
		}
		if v.Error != "" {
			fmt.Fprintf(tw, "%s %s\t-\t-\tunreadable\t%s\n", mark, v.VersionID, v.Error)
			continue
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%.4f\t%s\t%s\n", mark, v.VersionID,
			v.TrainedAt.UTC().Format(time.DateTime), v.Metric.Value, v.Decision, v.TrainingDataFile)
	}
	fmt.Fprintln(tw, "(* current)")
	return tw.Flush()
}

func runRollback(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rollback")
	openArtifacts := artifactsFlags(fs, getenv)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("rollback takes one version id")
	}
	if !mlservice.ValidVersionID(pos[0]) {
		return usagef("%q is not a version id (see trainer versions)", pos[0])
	}
	arts, err := openArtifacts(ctx)
	if err != nil {
		return err
	}
	rec, err := arts.Rollback(ctx, pos[0])
	if errors.Is(err, mlservice.ErrVersionNotFound) || errors.Is(err, mlservice.ErrCorruptVersion) {
		return &invalidError{err}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "CURRENT now names %s (was %s)\n", rec.VersionID, orNone(rec.PreviousVersionID))
	return writeJSON(stdout, rec)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by exitCode
	return fs
}

// parse parses flags that may come before or after the positional
// arguments ("train data.csv -eval x.csv" works too).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// envBool reads a boolean the way the seed's ml-service.env writes them.
func envBool(getenv func(string) string, key string) (bool, error) {
	v := strings.TrimSpace(getenv(key))
	switch strings.ToLower(v) {
	case "":
		return false, nil
	case "true", "1", "yes", "y", "on":
		return true, nil
	case "false", "0", "no", "n", "off":
		return false, nil
	}
	if b, err := strconv.ParseBool(v); err == nil {
		return b, nil
	}
	return false, usagef("%s=%q is not a boolean (use True or False)", key, v)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
