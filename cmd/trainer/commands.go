package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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
	Metric               mlservice.Metric  `json:"metric"`  // the rule's metric
	Promoted             bool              `json:"promoted"`
	Reason               string            `json:"reason"`
	Warning              string            `json:"warning,omitempty"` // the decision took effect but is not in history yet
	Pinned               bool              `json:"pinned,omitempty"`  // rejected because a rollback pinned the current version
	PreviousVersionID    *string           `json:"previous_version_id"`
	PreviousMetric       *float64          `json:"previous_metric"`        // on this candidate's evaluation rows
	PreviousMetricStored *float64          `json:"previous_metric_stored"` // as recorded with the previous version
	Metrics              mlservice.Metrics `json:"metrics"`
	TrainingDataFile     string            `json:"training_data_file"`
	Rows                 int               `json:"rows"`
	TrainRows            int               `json:"train_rows"`
	EvalRows             int               `json:"eval_rows"`
	Balanced             bool              `json:"balanced"`
	FeatureSchemaVersion string            `json:"feature_schema_version,omitempty"`
	Seconds              timings           `json:"seconds"`

	Rule mlservice.PromotionRule `json:"rule"` // the promotion rule in force

	ModelFamily string            `json:"model_family,omitempty"` // "logistic" or "gbdt"
	Params      *mlservice.Params `json:"params,omitempty"`       // the family asked for, its settings, the auto choice
}

type timings struct {
	Validate float64 `json:"validate"`
	Train    float64 `json:"train"`
	Promote  float64 `json:"promote"`
	Total    float64 `json:"total"`
}

func runTrain(ctx context.Context, args []string, p proc) error {
	getenv, stdout, stderr := p.getenv, p.stdout, p.stderr
	fs := newFlagSet("train", "[flags] DATA.csv",
		"Validates DATA.csv (- for standard input), trains a candidate and promotes it\nwhen it beats the current version under the promotion rule (-metric,\n-min-delta; by default F1, strictly greater), both scored on the\ncandidate's evaluation rows. The artifacts are checked first: a path it could\nnot write fails before DATA.csv is read. Without -schema, the schema the\ncurrent version was declared with is used (and named on stderr).")
	openArtifacts := artifactsFlags(fs, getenv)
	balancedDefault, err := envBool(getenv, "BALANCED_CLASS_WEIGHT")
	if err != nil {
		return err
	}
	balanced := fs.Bool("balanced", balancedDefault, "weight classes by n/(2·n_class) (env BALANCED_CLASS_WEIGHT: True or False; default false)")
	evalFile := fs.String("eval", "", "score on this CSV `FILE` (- for standard input) instead of a stratified 80/20 split (no env; default: the split)")
	seed := fs.Uint64("seed", mlservice.DefaultSeed, fmt.Sprintf("seed `N` of the stratified split, positive (no env; default %d)", mlservice.DefaultSeed))
	schemaFile := schemaFlag(fs, getenv)
	allowChange := fs.Bool("allow-schema-change", false, "promote even though the schema differs from the current version's, without comparing metrics (no env; default false: such a candidate is rejected, and a rerun of the same day is skipped)")
	promoteRule := ruleFlags(fs, getenv)
	family, err := familyFlags(fs, getenv)
	if err != nil {
		return err
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	rule, err := promoteRule()
	if err != nil {
		return err
	}
	opts := mlservice.TrainOptions{BalancedClassWeight: *balanced, Seed: *seed, Rule: rule, AllowSchemaChange: *allowChange}
	if err := family(&opts); err != nil {
		return err
	}
	if len(pos) != 1 {
		return fsUsagef(fs, "train takes one CSV file, got %d arguments", len(pos))
	}
	if *seed == 0 {
		return fsUsagef(fs, "-seed must be positive")
	}
	if pos[0] == "-" && *evalFile == "-" {
		return fsUsagef(fs, "only one input can be standard input (-)")
	}
	// The artifacts first: an unusable path fails before a long read, and
	// without -schema the current version's declared schema is the table.
	arts, schema, err := openTarget(ctx, fs, openArtifacts, *schemaFile, stderr)
	if err != nil {
		return err
	}
	train, err := openInput(ctx, pos[0], p.stdin)
	if err != nil {
		return err
	}
	defer train.close()
	inputs := []*input{train}
	var eval *input
	if *evalFile != "" {
		if eval, err = openInput(ctx, *evalFile, p.stdin); err != nil {
			return err
		}
		defer eval.close()
		inputs = append(inputs, eval)
	}
	if err := p.boundHeap(schema, inputs...); err != nil {
		return err
	}

	start := time.Now()
	ds, err := validateInput(ctx, train, stderr, schema)
	if err != nil {
		return err
	}
	if eval != nil {
		// Under the training file's resolved schema: its learned categories.
		if opts.Eval, err = validateInput(ctx, eval, stderr, ds.Schema); err != nil {
			return err
		}
	}
	validated := time.Now()
	if same, err := arts.TrainedAlready(ctx, ds, opts); err != nil {
		return err
	} else if same != nil {
		took := validated.Sub(start).Seconds()
		return writeSkipped(stdout, stderr, same, *balanced, rule, timings{Validate: took, Total: took})
	}

	fmt.Fprintf(stderr, "training %s on %d rows (balanced class weights: %v)\n", cmp.Or(opts.Family, "logistic"), ds.Len(), *balanced)
	cand, err := mlservice.Train(ctx, ds, opts)
	if err != nil {
		return err
	}
	if !schema.IsDefault() {
		cand.Metadata.DeclaredSchema = schema // what the next train without -schema uses
	}
	trained := time.Now()
	m := cand.Metadata
	fmt.Fprintf(stderr, "trained in %.3fs: %s %.4f on %d evaluation rows (f1 %.4f, precision %.4f, recall %.4f, roc_auc %.4f); rule: %s\n",
		trained.Sub(validated).Seconds(), m.Metric.Name, m.Metric.Value, m.Data.EvalRows, m.Metrics.F1, m.Metrics.Precision, m.Metrics.Recall, m.Metrics.ROCAUC, rule)

	d, err := arts.Promote(lockWait(ctx, stderr), cand)
	if err != nil {
		return err
	}
	done := time.Now()
	reportDecision(ctx, stderr, d)
	return writeJSON(stdout, newTrainResult(d, m, *balanced, timings{
		Validate: validated.Sub(start).Seconds(), Train: trained.Sub(validated).Seconds(),
		Promote: done.Sub(trained).Seconds(), Total: done.Sub(start).Seconds(),
	}))
}

// writeSkipped reports a train that was not needed: meta is the current
// version's, trained on the same data with the same parameters.
func writeSkipped(stdout, stderr io.Writer, meta *mlservice.Metadata, balanced bool, rule mlservice.PromotionRule, seconds timings) error {
	reason := fmt.Sprintf("the current version %s was trained on the same data (sha256 %s) with the same parameters",
		meta.ModelVersionID, meta.Data.SHA256)
	if p := meta.Promotion; !p.Wins && p.PreviousVersionID != "" && p.PreviousVersionID != meta.ModelVersionID {
		reason = fmt.Sprintf("version %s was trained on the same data (sha256 %s) with the same parameters and already lost to the current version %s: %s",
			meta.ModelVersionID, meta.Data.SHA256, p.PreviousVersionID, p.Reason)
	}
	fmt.Fprintf(stderr, "skipped: %s\n", reason)
	return writeJSON(stdout, trainResult{
		ModelVersionID: meta.ModelVersionID, Skipped: true, Metric: meta.Metric, Reason: reason,
		Metrics: meta.Metrics, TrainingDataFile: meta.TrainingDataFile, Rows: meta.Data.Rows,
		TrainRows: meta.Data.TrainRows, EvalRows: meta.Data.EvalRows, Balanced: balanced, Seconds: seconds, Rule: rule,
		ModelFamily: meta.ModelFamily, Params: &meta.Params,
	})
}

// boundHeap sizes the garbage collector for the rows of the inputs, when
// main asked for it and their sizes are known.
func (p proc) boundHeap(schema *mlservice.Schema, inputs ...*input) error {
	if p.sizeHeap == nil {
		return nil
	}
	total := 0.0
	for _, in := range inputs {
		rows, err := in.estimateRows()
		if err != nil {
			return fmt.Errorf("read %s: %w", in.name, err)
		}
		if rows == 0 {
			return nil // a pipe: no estimate, keep the runtime's defaults
		}
		total += rows
	}
	// sizeHeap counts rows of the default schema's size; a wider table's
	// rows count for more.
	p.sizeHeap(total * rowBytes(schema) / bytesPerRow)
	return nil
}

// validateInput validates in, printing progress, and marks contract
// violations as invalid data.
func validateInput(ctx context.Context, in *input, stderr io.Writer, schema *mlservice.Schema) (*mlservice.Dataset, error) {
	start := time.Now()
	ds, err := mlservice.ValidateTable(ctx, in.r, schema)
	if errors.Is(err, mlservice.ErrInvalidData) {
		var verr *mlservice.ValidationError
		if errors.As(err, &verr) {
			verr.Source = in.name
			if schema.IsDefault() && headerMisfit(verr) {
				err = fmt.Errorf("%w\nthe header does not fit the built-in contract (%s and %s): for a table of your own pass -schema FILE, or draft one with: trainer schema infer %s",
					err, strings.Join(mlservice.FeatureNames[:], ", "), mlservice.TargetColumn, in.name)
			}
		}
		return nil, &invalidError{err}
	}
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("validating %s: %w", in.name, ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.name, err)
	}
	ds.Source = in.source
	c := ds.ClassCounts()
	fmt.Fprintf(stderr, "validated %s: %d rows (%d of class 0, %d of class 1) in %.3fs\n",
		in.name, ds.Len(), c[0], c[1], time.Since(start).Seconds())
	return ds, nil
}

// headerMisfit reports whether verr says the header lacks a column.
func headerMisfit(verr *mlservice.ValidationError) bool {
	for _, p := range verr.Problems {
		if p.Line == 1 && p.Rule == "missing column" {
			return true
		}
	}
	return false
}

func runValidate(ctx context.Context, args []string, p proc) error {
	fs := newFlagSet("validate", "[-schema FILE] DATA.csv",
		"Checks DATA.csv (- for standard input) against the data contract and prints\nits row and class counts and SHA-256; writes nothing.")
	schemaFile := schemaFlag(fs, p.getenv)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fsUsagef(fs, "validate takes one CSV file, got %d arguments", len(pos))
	}
	schema, err := loadSchema(*schemaFile)
	if err != nil {
		return err
	}
	in, err := openInput(ctx, pos[0], p.stdin)
	if err != nil {
		return err
	}
	defer in.close()
	if err := p.boundHeap(schema, in); err != nil {
		return err
	}
	ds, err := validateInput(ctx, in, p.stderr, schema)
	if err != nil {
		return err
	}
	out := map[string]any{
		"valid": true, "file": ds.Source, "rows": ds.Len(), "class_counts": ds.ClassCounts(), "sha256": ds.SHA256,
	}
	if ds.Schema != nil {
		out["feature_schema_version"] = ds.Schema.ID()
	}
	return writeJSON(p.stdout, out)
}

func runVersions(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("versions", "[flags]", "Lists every version, newest first, with its promotion metric and decision; * marks\nCURRENT, and a pin set by a rollback is shown. Exits 1 after the list when CURRENT\nnames a missing or corrupt version, 3 when CURRENT cannot be read.")
	openArtifacts := artifactsFlags(fs, getenv)
	asJSON := fs.Bool("json", false, "print JSON instead of a table: every version with current, pinned and rolled_back (no env; default false)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	arts, err := openArtifacts(ctx)
	if err != nil {
		return err
	}
	l, err := arts.List(ctx)
	if err != nil {
		return err
	}
	warnAll(stderr, l.Warnings)
	// The listing marks no version current when CURRENT cannot be read, and
	// a CURRENT naming a missing or corrupt version serves nothing; neither
	// may pass for "all is well". Print the list, then fail.
	var curErr error
	switch {
	case errors.Is(l.CurrentErr, mlservice.ErrVersionNotFound) || errors.Is(l.CurrentErr, mlservice.ErrCorruptVersion):
		curErr = &invalidError{l.CurrentErr}
	case l.CurrentErr != nil:
		curErr = fmt.Errorf("no version is marked current: %w", l.CurrentErr)
	}
	if *asJSON {
		vs := l.Versions
		if vs == nil {
			vs = []mlservice.VersionInfo{}
		}
		if err := writeJSON(stdout, vs); err != nil {
			return err
		}
		return curErr
	}
	if len(l.Versions) == 0 {
		if _, err := fmt.Fprintf(stdout, "no versions in %s\n", arts); err != nil {
			return err
		}
		if l.CurrentErr != nil {
			fmt.Fprintf(stdout, "problem: %v\n", l.CurrentErr)
		}
		return curErr
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  VERSION\tTRAINED AT\tMETRIC\tDECISION\tDATA FILE\tNOTE")
	for _, v := range l.Versions {
		mark := " "
		if v.Current {
			mark = "*"
		}
		if v.Error != "" {
			fmt.Fprintf(tw, "%s %s\t-\t-\tunreadable\t%s\t%s\n", mark, v.VersionID, v.Error, versionNote(v))
			continue
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s %.4f\t%s\t%s\t%s\n", mark, v.VersionID,
			v.TrainedAt.UTC().Format(time.DateTime), v.Metric.Name, v.Metric.Value, v.Decision, v.TrainingDataFile, versionNote(v))
	}
	legend := "(* current)"
	if p := l.Pin; p != nil {
		from := ""
		if p.PreviousVersionID != "" {
			from = " from " + p.PreviousVersionID
		}
		legend = fmt.Sprintf("(* current; pinned to %s by a rollback%s: training runs are rejected until trainer unpin)", p.VersionID, from)
	}
	fmt.Fprintln(tw, legend)
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.CurrentErr != nil {
		fmt.Fprintf(stdout, "problem: %v\n", l.CurrentErr)
	}
	return curErr
}

// versionNote says what the DECISION column does not: the pin, the time of
// the last rollback to the version. (No other id: a row names one version.)
func versionNote(v mlservice.VersionInfo) string {
	var notes []string
	if v.Pinned {
		notes = append(notes, "pinned")
	}
	if rb := v.RolledBack; rb != nil {
		n := "rolled back to"
		if !rb.Time.IsZero() {
			n += " " + rb.Time.UTC().Format(time.DateTime)
		}
		notes = append(notes, n)
	}
	return strings.Join(notes, "; ")
}

// warnAll prints each warning on stderr.
func warnAll(stderr io.Writer, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
}

func runRollback(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runMove(ctx, "rollback", args, getenv, stdout, stderr)
}

func runPromote(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runMove(ctx, "promote", args, getenv, stdout, stderr)
}

// runMove is rollback (CURRENT moves to the version and is pinned there) and
// promote (CURRENT moves to it unpinned).
func runMove(ctx context.Context, name string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	doc := "Points CURRENT at an earlier complete version and pins it there: training runs are\nrecorded as rejected (\"pinned by rollback to VERSION_ID\") until trainer unpin,\ntrainer promote, or a rollback to another version. Records the rollback."
	if name == "promote" {
		doc = "Points CURRENT at a complete version (a rejected one too) without a pin and without\ncomparing F1, lifting a pin: later training runs compete with it. Records the promotion."
	}
	fs := newFlagSet(name, "[flags] VERSION_ID", doc)
	openArtifacts := artifactsFlags(fs, getenv)
	allowChange := fs.Bool("allow-schema-change", false, "move even though the version's schema differs from the current version's: clients of the API break (no env; default false: refused, exit 1)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fsUsagef(fs, "%s takes one version id", name)
	}
	if !mlservice.ValidVersionID(pos[0]) {
		return fsUsagef(fs, "%q is not a version id (see trainer versions)", pos[0])
	}
	arts, err := openArtifacts(ctx)
	if err != nil {
		return err
	}
	move := arts.Rollback
	if name == "promote" {
		move = arts.PromoteVersion
	}
	rec, err := move(lockWait(ctx, stderr), pos[0], mlservice.MoveOptions{AllowSchemaChange: *allowChange})
	if errors.Is(err, mlservice.ErrSchemaChange) {
		fmt.Fprintf(stderr, "warning: version %s has another schema than the current version: clients of the API would break\n", pos[0])
	}
	if errors.Is(err, mlservice.ErrVersionNotFound) || errors.Is(err, mlservice.ErrCorruptVersion) || errors.Is(err, mlservice.ErrSchemaChange) {
		return &invalidError{err}
	}
	if err != nil {
		return err
	}
	warnAll(stderr, rec.Warnings)
	if rec.SchemaChanged {
		fmt.Fprintf(stderr, "warning: the schema changed (allowed): %s\n", rec.Reason)
	}
	pin := "not pinned: training runs compete with it"
	if rec.Pinned {
		pin = "pinned: training runs are rejected until trainer unpin"
	}
	fmt.Fprintf(stderr, "CURRENT now names %s (was %s), %s\n", rec.VersionID, orNone(rec.PreviousVersionID), pin)
	return writeJSON(stdout, rec)
}

func runUnpin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("unpin", "[flags]", "Lifts the pin a rollback put on the current version: CURRENT stays where it is, and\ntraining runs compete with it again. Records the unpin; with nothing pinned, changes\nnothing and prints {\"pinned\":false}.")
	openArtifacts := artifactsFlags(fs, getenv)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	arts, err := openArtifacts(ctx)
	if err != nil {
		return err
	}
	rec, err := arts.Unpin(ctx)
	if err != nil {
		return err
	}
	if rec == nil {
		fmt.Fprintln(stderr, "CURRENT is not pinned: nothing changed")
		return writeJSON(stdout, map[string]bool{"pinned": false})
	}
	warnAll(stderr, rec.Warnings)
	fmt.Fprintf(stderr, "unpinned %s: training runs compete with it again\n", rec.VersionID)
	return writeJSON(stdout, rec)
}

// lockWait makes a wait of over a second for the artifacts lock visible.
func lockWait(ctx context.Context, stderr io.Writer) context.Context {
	return mlservice.WithLockWait(ctx, func(lock string) {
		fmt.Fprintf(stderr, "waiting for the artifacts lock %s: another trainer or a rollback is writing (SIGINT to give up)\n", lock)
	})
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// command is a subcommand's flag set and its help: the usage line, what the
// command does, and every flag with its environment variable and default,
// which each flag's usage string states.
type command struct {
	*flag.FlagSet
	synopsis, doc string
}

func newFlagSet(name, synopsis, doc string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by exitCode
	fs.Usage = func() {}
	return &command{FlagSet: fs, synopsis: synopsis, doc: doc}
}

// help is the command's -h text.
func (c *command) help() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: trainer %s %s\n\n%s\n", c.Name(), c.synopsis, c.doc)
	first := true
	c.VisitAll(func(f *flag.Flag) {
		if first {
			b.WriteString("\nflags:\n")
			first = false
		}
		value, text := flag.UnquoteUsage(f)
		fmt.Fprintf(&b, "  -%s", f.Name)
		if value != "" {
			fmt.Fprintf(&b, " %s", value)
		}
		fmt.Fprintf(&b, "\n    \t%s\n", text)
	})
	b.WriteString("\nexit status: 0 done, 1 invalid data, 2 usage, 3 other failure, 130/143 interrupted\n")
	return b.String()
}

// fsUsagef is a usage error that shows the command's help.
func fsUsagef(fs *command, format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...), usage: fs.help()}
}

// parseNoArgs is parse for a command that takes flags only.
func parseNoArgs(fs *command, args []string) error {
	pos, err := parse(fs, args)
	if err == nil && len(pos) != 0 {
		err = fsUsagef(fs, "%s takes no arguments, got %q", fs.Name(), pos)
	}
	return err
}

// parse parses flags that may come before or after the positional
// arguments ("train data.csv -eval x.csv" works too). A lone "-" is a
// positional argument: standard input.
func parse(fs *command, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &helpError{fs.help()}
			}
			return nil, fsUsagef(fs, "%s: %v", fs.Name(), err)
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
