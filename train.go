package mlservice

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"

	"github.com/mlservice/mlservice/internal/trees"
	"github.com/mlservice/mlservice/model"
	"github.com/mlservice/mlservice/model/gbdt"
)

// Defaults used by Train when an option is left zero.
const (
	DefaultSeed         = 42
	DefaultTestFraction = 0.2
	DefaultExamples     = 8
)

// TrainOptions configures Train. The zero value trains like the seed
// service: no class weights, a stratified 80/20 split with seed 42, C = 1,
// and a candidate that Promote compares by F1, strictly greater.
type TrainOptions struct {
	// BalancedClassWeight weights each class by n/(2·n_class), so the
	// minority class counts as much as the majority (BALANCED_CLASS_WEIGHT).
	BalancedClassWeight bool
	// Seed drives the stratified split. Zero means DefaultSeed.
	Seed uint64
	// TestFraction is the share of each class held out for evaluation.
	// Zero means DefaultTestFraction.
	TestFraction float64
	// Eval, when set, is scored instead of a held-out split, and the model
	// trains on every row of the dataset.
	Eval *Dataset
	// C is the inverse L2 regularization strength. Zero means 1.
	C float64
	// Examples is how many self-test rows the metadata keeps, spread over
	// the scored file (ds, or Eval when set), at most one per row. Zero
	// means DefaultExamples; negative is an error.
	Examples int
	// Workers is how many goroutines fit the model. Zero means GOMAXPROCS;
	// the model is the same bit for bit whatever it is.
	Workers int
	// Rule is how Promote will compare the candidate with the current
	// version; the zero value compares F1, strictly greater. Train records
	// the rule's metric as Metadata.Metric and sets Candidate.Rule; a bad
	// rule is an error.
	Rule PromotionRule
	// AllowSchemaChange sets Candidate.AllowSchemaChange. TrainedAlready
	// reads it: a day refused as a schema change is not skipped when the
	// change is now allowed.
	AllowSchemaChange bool

	// Family is the model family to fit: FamilyLogistic (the default),
	// FamilyGBDT, or FamilyAuto to fit both and keep the better (see
	// FamilyChoice).
	Family string
	// Trees, MaxDepth and LearningRate set a trees fit: zero means 200, 6
	// and 0.1; trees < 1, a depth outside 1..16 or a rate outside (0, 1]
	// is an error naming the option.
	Trees        int
	MaxDepth     int
	LearningRate float64
	// NoEarlyStopping turns off a trees fit's early stopping, on by
	// default: 10% of the training rows held out, stopping after 20 rounds
	// without a better log-loss on them.
	NoEarlyStopping bool
}

// The model families TrainOptions.Family names.
const (
	FamilyLogistic = model.FamilyLogistic
	FamilyGBDT     = gbdt.Family
	FamilyAuto     = "auto"
)

// Candidate is a trained, evaluated model that is not yet promoted.
type Candidate struct {
	// Model is the fitted model; Metadata.ModelFamily names its family.
	Model model.Model
	// Schema is the table the model was trained on, resolved (learned
	// categories filled in); nil means DefaultSchema. Promote stores it in
	// the version as schema.json.
	Schema *Schema
	// AllowSchemaChange lets Promote make the candidate current although
	// its schema differs from the current version's (then without a metric
	// comparison). Without it such a candidate is rejected: clients of the
	// API would break silently. Train copies TrainOptions.AllowSchemaChange.
	AllowSchemaChange bool
	// Rule is how Promote compares the candidate with the current version
	// (the zero value: F1, strictly greater); Train copies
	// TrainOptions.Rule. Metadata.Metric must be the rule's metric.
	Rule PromotionRule
	// Metadata is complete but for what Promote fills in: the version id,
	// the model checksum and the comparison with the current version.
	Metadata Metadata
	// eval holds the rows the candidate was scored on, so that Promote can
	// score the current version on the same rows. It is not encoded: a
	// Candidate built by hand or decoded from JSON has none, and Promote
	// then compares with the current version's recorded figure.
	eval *Dataset
}

// Train fits a candidate model on ds and scores it, on a stratified split of
// ds or on opts.Eval. The same dataset and options give the same model and
// metrics bit for bit. Train does not modify ds. A problem with ds or
// opts.Eval matches ErrInvalidData; a bad option does not.
func Train(ctx context.Context, ds *Dataset, opts TrainOptions) (*Candidate, error) {
	start := time.Now()
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if err := checkDataset(ds, nil, "training"); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	s := ds.schema()
	if opts.Eval != nil {
		if err := checkDataset(opts.Eval, s, "evaluation"); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	// The parts of metadata.json that grow with the schema are known before
	// the fit: a schema too big to store is refused before the work.
	features, drift := featureStats(ds), newDriftProfile(ds)
	if err := checkVersionSize(s, features, drift); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}

	trainRows, eval, info := split(ds, opts)
	m, fitted, err := fitAuto(ctx, ds, trainRows, opts)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	fitted.TrainSeconds = time.Since(start).Seconds()
	c, err := newCandidate(ctx, m, fitted, ds, eval, info, features, drift, opts)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return c, nil
}

// newCandidate scores m, fitted on ds (under its schema), on eval and makes
// it a candidate: its self-test examples come from opts.Eval, or ds.
func newCandidate(ctx context.Context, m model.Model, fitted Params, ds, eval *Dataset, info DataInfo,
	features []FeatureStats, drift *DriftProfile, opts TrainOptions) (*Candidate, error) {
	metrics, err := model.Evaluate(eval.Y, scores(m, eval), nil)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	scored := ds // the file the examples come from
	if opts.Eval != nil {
		scored = opts.Eval
	}
	meta := Metadata{
		SchemaVersion:        SchemaVersion,
		ModelFamily:          m.Family(),
		Metric:               opts.Rule.metric(metrics),
		Metrics:              metrics,
		TrainingDataFile:     baseName(ds.Source),
		TrainedAt:            time.Now().UTC(),
		FeatureSchemaVersion: ds.schema().ID(),
		Data:                 info,
		Features:             features,
		Params:               fitted,
		ModelFile:            modelFile,
		Examples:             examples(m, scored, opts.Examples),
		Importance:           importance(m, eval),
		Drift:                drift,
	}
	if opts.Eval != nil {
		meta.EvaluationDataFile = baseName(opts.Eval.Source)
	}
	c := &Candidate{Model: m, Metadata: meta, eval: eval, Rule: opts.Rule, AllowSchemaChange: opts.AllowSchemaChange}
	if ds.Schema != nil && !ds.Schema.IsDefault() {
		c.Schema = ds.Schema.clone()
	}
	return c, nil
}

// UnmarshalJSON decodes a candidate (as encoding/json writes one): its
// model by the family model.json names, for rows of its schema. Its
// evaluation rows are not encoded, so Promote compares it by recorded
// figures.
func (c *Candidate) UnmarshalJSON(data []byte) error {
	type plain Candidate // the same fields, without this method
	var raw struct {
		plain
		Model json.RawMessage
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*c = Candidate(raw.plain)
	if len(raw.Model) == 0 || string(raw.Model) == "null" {
		return nil
	}
	m, err := decodeModel(raw.Model, c.schema(), c.Metadata.ModelFamily)
	if err != nil {
		return fmt.Errorf("decode candidate model: %w", err)
	}
	c.Model = m
	return nil
}

// schema returns the candidate's schema: Schema, or DefaultSchema.
func (c *Candidate) schema() *Schema {
	if c.Schema == nil {
		return defaultSchema()
	}
	return c.Schema
}

// checkModel checks that the candidate's model reads rows of its schema
// (resolved) and is of the family its metadata names.
func (c *Candidate) checkModel() error {
	if c == nil || c.Model == nil {
		return errors.New("no candidate")
	}
	s := c.schema()
	if !s.Resolved() || !c.Model.Layout().Equal(s.layout()) {
		return fmt.Errorf("the model's columns are not schema %s's encoding", s.ID())
	}
	if f := c.Metadata.ModelFamily; f != "" && f != c.Model.Family() {
		return fmt.Errorf("the model is a %s model, its metadata says %s", c.Model.Family(), truncate(f, 40))
	}
	return nil
}

// withDefaults checks opts and fills in the documented defaults.
func (opts TrainOptions) withDefaults() (TrainOptions, error) {
	if opts.Seed == 0 {
		opts.Seed = DefaultSeed
	}
	if opts.TestFraction == 0 {
		opts.TestFraction = DefaultTestFraction
	}
	if !(opts.TestFraction > 0 && opts.TestFraction < 1) {
		return opts, fmt.Errorf("test fraction %v is not between 0 and 1", opts.TestFraction)
	}
	if opts.Examples < 0 {
		return opts, fmt.Errorf("examples %d is negative", opts.Examples)
	}
	if opts.Examples == 0 {
		opts.Examples = DefaultExamples
	}
	if opts.C == 0 {
		opts.C = 1
	}
	rule, err := opts.Rule.withDefaults()
	if err != nil {
		return opts, err
	}
	opts.Rule = rule
	switch opts.Family {
	case "":
		opts.Family = FamilyLogistic
	case FamilyLogistic, FamilyAuto:
	case FamilyGBDT:
		if opts.BalancedClassWeight {
			return opts, errors.New("balanced class weights are for the logistic family; gbdt does not weight classes")
		}
	default:
		return opts, fmt.Errorf("family %q is not %q, %q or %q", truncate(opts.Family, 40), FamilyLogistic, FamilyGBDT, FamilyAuto)
	}
	if opts.Family != FamilyLogistic {
		if err := opts.treeOptions().Check(); err != nil {
			return opts, err
		}
		opts.Trees = cmp.Or(opts.Trees, gbdt.DefaultTrees)
		opts.MaxDepth = cmp.Or(opts.MaxDepth, gbdt.DefaultMaxDepth)
		opts.LearningRate = cmp.Or(opts.LearningRate, gbdt.DefaultLearningRate)
	}
	return opts, nil
}

// treeOptions are opts' settings for gbdt.Fit.
func (opts TrainOptions) treeOptions() gbdt.Options {
	return gbdt.Options{Trees: opts.Trees, MaxDepth: opts.MaxDepth, LearningRate: opts.LearningRate,
		NoEarlyStopping: opts.NoEarlyStopping, Seed: opts.Seed, Workers: opts.Workers}
}

// treeSettings are opts' tree settings (defaulted) as metadata records them.
func (opts TrainOptions) treeSettings() *TreeOptions {
	return &TreeOptions{opts.Trees, opts.MaxDepth, opts.LearningRate, !opts.NoEarlyStopping}
}

// fit fits one family's model on the rows of ds that rows selects.
func fit(ctx context.Context, family string, ds *Dataset, rows []bool, opts TrainOptions) (model.Model, Params, error) {
	layout := ds.schema().layout()
	if family == FamilyGBDT {
		m, err := trees.Fit(ctx, layout, ds.X, ds.Y, rows, opts.treeOptions())
		if err != nil {
			return nil, Params{}, err
		}
		tp := m.Params()
		return m, Params{Model: FamilyGBDT, Solver: "histogram", Family: family, Trees: &tp,
			TreeOptions: opts.treeSettings()}, nil
	}
	m, res, err := model.FitLogistic(ctx, layout, ds.X, ds.Y, rows,
		model.FitOptions{C: opts.C, Balanced: opts.BalancedClassWeight, Workers: opts.Workers})
	return m, Params{Model: "logistic_regression", Solver: "lbfgs", C: opts.C, ClassWeight: balancedWeight(opts),
		GradientTolerance: model.DefaultGradientTolerance, Fit: res, Family: family}, err
}

func balancedWeight(opts TrainOptions) *string {
	if !opts.BalancedClassWeight {
		return nil
	}
	balanced := "balanced"
	return &balanced
}

// split chooses the rows to fit on (nil: all of ds) and returns the
// evaluation rows: a stratified share of ds held out, or opts.Eval.
func split(ds *Dataset, opts TrainOptions) (trainRows []bool, eval *Dataset, info DataInfo) {
	info = DataInfo{SHA256: ds.SHA256, Rows: ds.Len(), ClassCounts: ds.ClassCounts()}
	if opts.Eval != nil {
		info.Split, info.EvalSHA256 = "file", opts.Eval.SHA256
		info.TrainRows, info.EvalRows = ds.Len(), opts.Eval.Len()
		return nil, opts.Eval, info
	}
	test := stratifiedTestRows(ds.Y, opts.TestFraction, opts.Seed)
	trainRows = make([]bool, len(test))
	for i, t := range test {
		trainRows[i] = !t
	}
	eval = subset(ds, test)
	info.Split, info.TestFraction, info.Seed = "stratified", opts.TestFraction, opts.Seed
	info.TrainRows, info.EvalRows = ds.Len()-eval.Len(), eval.Len()
	return trainRows, eval, info
}

// subset returns the rows of ds that rows selects.
func subset(ds *Dataset, rows []bool) *Dataset {
	out := &Dataset{Source: ds.Source, SHA256: ds.SHA256, Schema: ds.Schema, X: make([][]float64, len(ds.X))}
	for i, t := range rows {
		if t {
			out.Y = append(out.Y, ds.Y[i])
		}
	}
	for j, col := range ds.X {
		out.X[j] = make([]float64, 0, len(out.Y))
		for i, t := range rows {
			if t {
				out.X[j] = append(out.X[j], col[i])
			}
		}
	}
	return out
}

// scores returns m's probability for every row of ds.
func scores(m model.Model, ds *Dataset) []float64 {
	p := make([]float64, ds.Len())
	row := make([]float64, len(ds.X))
	for i := range p {
		for j, col := range ds.X {
			row[j] = col[i]
		}
		p[i] = model.Sigmoid(m.LogOdds(row))
	}
	return p
}

// examples picks up to n self-test rows spread over ds, each at most once,
// with the probabilities m gives them; a row with an ignored unknown
// category is passed over (its value is not kept).
func examples(m model.Model, ds *Dataset, n int) []Example {
	s := ds.schema()
	n = min(n, ds.Len())
	out := make([]Example, 0, n)
	row := make([]float64, len(ds.X))
	for k := range n {
		i := k * ds.Len() / n
		for ; i < ds.Len() && hasUnknown(s, ds, i); i++ {
		}
		if i == ds.Len() {
			break
		}
		for j, col := range ds.X {
			row[j] = col[i]
		}
		ex := Example{Probability: model.Sigmoid(m.LogOdds(row))}
		if ds.Schema == nil || ds.Schema.IsDefault() {
			ex.Features = ds.Row(i)
		} else {
			ex.Values = map[string]any{}
			for j, f := range s.Features {
				switch {
				case math.IsNaN(row[j]): // missing: null
					ex.Values[f.Name] = nil
				case f.Type == TypeCategory:
					ex.Values[f.Name] = f.Categories[int(row[j])]
				default:
					ex.Values[f.Name] = row[j]
				}
			}
		}
		out = append(out, ex)
	}
	return out
}

// hasUnknown reports whether row i has a category value the schema ignored.
func hasUnknown(s *Schema, ds *Dataset, i int) bool {
	for j, f := range s.Features {
		if f.Type == TypeCategory && ds.X[j][i] < 0 {
			return true
		}
	}
	return false
}

// baseName is the file name metadata records for a data file: never the
// host's path (metadata is served over HTTP); the SHA-256 identifies it.
func baseName(source string) string {
	if source == "" {
		return ""
	}
	return filepath.Base(source)
}

// checkDataset reports the first problem of ds that Validate would not let
// through (a Dataset may be built by hand), under schema s (nil: its own);
// every one matches ErrInvalidData.
func checkDataset(ds *Dataset, s *Schema, role string) error {
	if ds == nil {
		return fmt.Errorf("no %s dataset: %w", role, ErrInvalidData)
	}
	if s != nil && ds.schema().Hash() != s.Hash() {
		return fmt.Errorf("%s dataset is not under schema %s: %w", role, s.ID(), ErrInvalidData)
	}
	s = ds.schema()
	if !s.Resolved() {
		return fmt.Errorf("schema %s has a category feature without categories: %w", s.ID(), ErrInvalidData)
	}
	n := len(ds.Y)
	for j, f := range s.Features {
		var col []float64
		if j < len(ds.X) {
			col = ds.X[j]
		}
		if len(col) != n {
			return fmt.Errorf("%s dataset column %s has %d rows, target has %d: %w", role, f.Name, len(col), n, ErrInvalidData)
		}
	}
	if len(ds.X) > len(s.Features) {
		return fmt.Errorf("%s dataset has %d columns, schema %s %d features: %w", role, len(ds.X), s.ID(), len(s.Features), ErrInvalidData)
	}
	counts := [2]int{}
	for i, y := range ds.Y {
		if y > 1 {
			return fmt.Errorf("%s dataset row %d has target %d: %w", role, i, y, ErrInvalidData)
		}
		counts[y]++
	}
	if counts[0] < MinRowsPerClass || counts[1] < MinRowsPerClass {
		return fmt.Errorf("%s dataset needs %d rows of each class, has %v: %w", role, MinRowsPerClass, counts, ErrInvalidData)
	}
	for j, f := range s.Features {
		levels := float64(len(f.Categories))
		for i, v := range ds.X[j] {
			switch {
			case f.Missing && math.IsNaN(v):
			case f.Type != TypeCategory && (math.IsNaN(v) || math.IsInf(v, 0)):
				return fmt.Errorf("%s dataset row %d: %s is %v: %w", role, i, f.Name, v, ErrInvalidData)
			case f.Type == TypeCategory && !(v == -1 || v >= 0 && v < levels && v == math.Trunc(v)):
				return fmt.Errorf("%s dataset row %d: %s has code %v of %d categories: %w", role, i, f.Name, v, len(f.Categories), ErrInvalidData)
			}
		}
	}
	return nil
}

// stratifiedTestRows marks round(frac·n_c) rows of each class c (at least one
// and at most n_c−1) as test rows. Selection sampling draws a uniformly random
// subset of exactly that size in one pass over the rows, in file order, so the
// split depends on nothing but the labels and the seed.
func stratifiedTestRows(y []uint8, frac float64, seed uint64) []bool {
	var count [2]int
	for _, c := range y {
		count[c]++
	}
	var need, left [2]uint64
	for c, n := range count {
		k := int(math.Round(frac * float64(n)))
		need[c] = uint64(min(max(k, 1), n-1))
		left[c] = uint64(n)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6d6c73657276)) // "mlserv"
	test := make([]bool, len(y))
	for i, c := range y {
		if rng.Uint64N(left[c]) < need[c] {
			test[i] = true
			need[c]--
		}
		left[c]--
	}
	return test
}

// featureStats summarizes each number and binary feature of ds.
func featureStats(ds *Dataset) []FeatureStats {
	s := ds.schema()
	out := make([]FeatureStats, len(s.Features))
	var wg sync.WaitGroup
	for j, f := range s.Features {
		if f.Type == TypeCategory {
			continue
		}
		col := ds.X[j]
		wg.Go(func() {
			if f.Missing { // over the values there are
				col = slices.DeleteFunc(slices.Clone(col), math.IsNaN)
			}
			out[j] = FeatureStats{Name: f.Name}
			if len(col) > 0 {
				mean, std := stat.PopMeanStdDev(col, nil)
				out[j] = FeatureStats{Name: f.Name, Mean: mean, Std: std, Min: floats.Min(col), Max: floats.Max(col)}
			}
		})
	}
	wg.Wait()
	return slices.DeleteFunc(out, func(f FeatureStats) bool { return f.Name == "" })
}
