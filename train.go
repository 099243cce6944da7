package mlservice

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"

	"github.com/mlservice/mlservice/model"
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
}

// Candidate is a trained, evaluated model that is not yet promoted.
type Candidate struct {
	Model *model.Model
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
	if ds != nil && ds.isTable() {
		return trainTable(ctx, ds, opts, start)
	}
	if err := checkDataset(ds, "training"); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if opts.Eval != nil {
		if err := checkDataset(opts.Eval, "evaluation"); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}

	trainRows, eval, info := split(ds, opts)
	m, fit, err := model.Fit(ctx, FeatureNames[:], ds.X[:], ds.Y, trainRows,
		model.FitOptions{C: opts.C, Balanced: opts.BalancedClassWeight, Workers: opts.Workers})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	metrics, err := score(m, eval)
	if err != nil {
		return nil, fmt.Errorf("train: evaluate: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}

	scored := ds // the file the examples come from
	if opts.Eval != nil {
		scored = opts.Eval
	}
	meta := Metadata{
		SchemaVersion:        SchemaVersion,
		Metric:               opts.Rule.metric(metrics),
		Metrics:              metrics,
		TrainingDataFile:     baseName(ds.Source),
		TrainedAt:            time.Now().UTC(),
		FeatureSchemaVersion: FeatureSchemaVersion,
		Data:                 info,
		Features:             featureStats(ds),
		Params:               params(opts, fit, time.Since(start)),
		ModelFile:            modelFile,
		Examples:             examples(m, scored, opts.Examples),
		Drift:                newDriftProfile(FeatureNames[:], defaultFeatureTypes(), ds.X[:], ds.Y),
	}
	if opts.Eval != nil {
		meta.EvaluationDataFile = baseName(opts.Eval.Source)
	}
	return &Candidate{Model: m, Metadata: meta, eval: eval, Rule: opts.Rule, AllowSchemaChange: opts.AllowSchemaChange}, nil
}

// schema returns the candidate's schema: Schema, or DefaultSchema.
func (c *Candidate) schema() *Schema {
	if c.Schema == nil {
		return defaultSchema()
	}
	return c.Schema
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
	return opts, nil
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
	eval = &Dataset{Source: ds.Source, SHA256: ds.SHA256}
	for i, t := range test {
		trainRows[i] = !t
		if t {
			for j := range eval.X {
				eval.X[j] = append(eval.X[j], ds.X[j][i])
			}
			eval.Y = append(eval.Y, ds.Y[i])
		}
	}
	info.Split, info.TestFraction, info.Seed = "stratified", opts.TestFraction, opts.Seed
	info.TrainRows, info.EvalRows = ds.Len()-eval.Len(), eval.Len()
	return trainRows, eval, info
}

// score evaluates m on every row of eval.
func score(m *model.Model, eval *Dataset) (Metrics, error) {
	p := make([]float64, eval.Len())
	for i := range p {
		v := eval.Row(i).Vector()
		p[i] = m.Probability(v[:])
	}
	return model.Evaluate(eval.Y, p, nil)
}

// examples picks n self-test rows spread over ds, each at most once, with
// the probabilities m gives them.
func examples(m *model.Model, ds *Dataset, n int) []Example {
	n = min(n, ds.Len())
	out := make([]Example, 0, n)
	for k := range n {
		f := ds.Row(k * ds.Len() / n)
		v := f.Vector()
		out = append(out, Example{Features: f, Probability: m.Probability(v[:])})
	}
	return out
}

func params(opts TrainOptions, fit model.FitResult, took time.Duration) Params {
	p := Params{Model: "logistic_regression", Solver: "lbfgs", C: opts.C,
		GradientTolerance: model.DefaultGradientTolerance, Fit: fit, TrainSeconds: took.Seconds()}
	if opts.BalancedClassWeight {
		balanced := "balanced"
		p.ClassWeight = &balanced
	}
	return p
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
// through (a Dataset may be built by hand); every one matches ErrInvalidData.
func checkDataset(ds *Dataset, role string) error {
	if ds == nil {
		return fmt.Errorf("no %s dataset: %w", role, ErrInvalidData)
	}
	n := len(ds.Y)
	for j, col := range ds.X {
		if len(col) != n {
			return fmt.Errorf("%s dataset column %s has %d rows, target has %d: %w", role, FeatureNames[j], len(col), n, ErrInvalidData)
		}
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
	for j, col := range ds.X {
		for i, v := range col {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s dataset row %d: %s is %v: %w", role, i, FeatureNames[j], v, ErrInvalidData)
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

func featureStats(ds *Dataset) []FeatureStats {
	out := make([]FeatureStats, NumFeatures)
	var wg sync.WaitGroup
	for j, col := range ds.X {
		wg.Go(func() {
			mean, std := stat.PopMeanStdDev(col, nil)
			out[j] = FeatureStats{Name: FeatureNames[j], Mean: mean, Std: std, Min: floats.Min(col), Max: floats.Max(col)}
		})
	}
	wg.Wait()
	return out
}
