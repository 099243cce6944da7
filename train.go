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
// service: no class weights, a stratified 80/20 split with seed 42, C = 1.
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
	// Examples is how many self-test rows the metadata keeps (at most one
	// per evaluation row). Zero means DefaultExamples; negative is an error.
	Examples int
	// Workers is how many goroutines fit the model. Zero means GOMAXPROCS;
	// the model is the same bit for bit whatever it is.
	Workers int
}

// Candidate is a trained, evaluated model that is not yet promoted.
type Candidate struct {
	Model *model.Model
	// Metadata is complete but for what Promote fills in: the version id,
	// the model checksum and the promotion decision.
	Metadata Metadata
}

// Train fits a candidate model on ds and scores it, on a stratified split of
// ds or on opts.Eval. The same dataset and options give the same model and
// metrics bit for bit. Train does not modify ds.
func Train(ctx context.Context, ds *Dataset, opts TrainOptions) (*Candidate, error) {
	start := time.Now()
	if err := checkDataset(ds, "training"); err != nil {
		return nil, err
	}
	seed := opts.Seed
	if seed == 0 {
		seed = DefaultSeed
	}
	frac := opts.TestFraction
	if frac == 0 {
		frac = DefaultTestFraction
	}
	if !(frac > 0 && frac < 1) {
		return nil, fmt.Errorf("train: test fraction %v is not between 0 and 1", opts.TestFraction)
	}
	if opts.Examples < 0 {
		return nil, fmt.Errorf("train: examples %d is negative", opts.Examples)
	}
	if opts.Eval != nil {
		if err := checkDataset(opts.Eval, "evaluation"); err != nil {
			return nil, err
		}
	}

	info := DataInfo{SHA256: ds.SHA256, Rows: ds.Len(), ClassCounts: ds.ClassCounts()}
	var trainRows []bool // nil: every row
	if opts.Eval == nil {
		test := stratifiedTestRows(ds.Y, frac, seed)
		trainRows = make([]bool, len(test))
		for i, t := range test {
			trainRows[i] = !t
		}
		info.Split, info.TestFraction, info.Seed = "stratified", frac, seed
	} else {
		info.Split, info.EvalSHA256 = "file", opts.Eval.SHA256
	}

	fitOpts := model.FitOptions{C: opts.C, Balanced: opts.BalancedClassWeight, Workers: opts.Workers}
	m, fit, err := model.Fit(ctx, FeatureNames[:], ds.X[:], ds.Y, trainRows, fitOpts)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}

	// Score the held-out rows (or the evaluation file) in a compact copy.
	evalDS, evalRows := ds, trainRows
	if opts.Eval != nil {
		evalDS, evalRows = opts.Eval, nil
	}
	n := evalDS.Len()
	if evalRows != nil {
		n -= countTrue(evalRows)
	}
	y := make([]uint8, 0, n)
	p := make([]float64, 0, n)
	var v [NumFeatures]float64
	for i := range evalDS.Y {
		if evalRows != nil && evalRows[i] {
			continue // a training row
		}
		for j := range v {
			v[j] = evalDS.X[j][i]
		}
		y = append(y, evalDS.Y[i])
		p = append(p, m.Probability(v[:]))
	}
	metrics, err := model.Evaluate(y, p, nil)
	if err != nil {
		return nil, fmt.Errorf("train: evaluate: %w", err)
	}
	info.EvalRows = len(y)
	info.TrainRows = ds.Len()
	if trainRows != nil {
		info.TrainRows -= len(y)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	nex := opts.Examples
	if nex == 0 {
		nex = DefaultExamples
	}
	nex = min(nex, evalDS.Len())
	examples := make([]Example, 0, nex)
	for k := range nex {
		i := k * evalDS.Len() / nex // spread over the file, each row at most once
		f := evalDS.Row(i)
		v := f.Vector()
		examples = append(examples, Example{Features: f, Probability: m.Probability(v[:])})
	}

	var classWeight *string
	if opts.BalancedClassWeight {
		balanced := "balanced"
		classWeight = &balanced
	}
	c := opts.C
	if c == 0 {
		c = 1
	}
	meta := Metadata{
		SchemaVersion:        SchemaVersion,
		Metric:               Metric{Name: "f1", Value: metrics.F1},
		Metrics:              metrics,
		TrainingDataFile:     baseName(ds.Source),
		TrainedAt:            time.Now().UTC(),
		FeatureSchemaVersion: FeatureSchemaVersion,
		Data:                 info,
		Features:             featureStats(ds),
		Params: Params{
			Model: "logistic_regression", Solver: "lbfgs", C: c, ClassWeight: classWeight,
			GradientTolerance: model.DefaultGradientTolerance, Fit: fit,
			TrainSeconds: time.Since(start).Seconds(),
		},
		ModelFile: modelFile,
		Examples:  examples,
	}
	if opts.Eval != nil {
		meta.EvaluationDataFile = baseName(opts.Eval.Source)
	}
	return &Candidate{Model: m, Metadata: meta}, nil
}

// baseName is the file name metadata records for a data file: never the
// host's path (metadata is served over HTTP); the SHA-256 identifies it.
func baseName(source string) string {
	if source == "" {
		return ""
	}
	return filepath.Base(source)
}

func checkDataset(ds *Dataset, role string) error {
	if ds == nil {
		return fmt.Errorf("train: no %s dataset", role)
	}
	n := len(ds.Y)
	for j, col := range ds.X {
		if len(col) != n {
			return fmt.Errorf("train: %s dataset column %s has %d rows, target has %d", role, FeatureNames[j], len(col), n)
		}
	}
	counts := [2]int{}
	for i, y := range ds.Y {
		if y > 1 {
			return fmt.Errorf("train: %s dataset row %d has target %d", role, i, y)
		}
		counts[y]++
	}
	if counts[0] < MinRowsPerClass || counts[1] < MinRowsPerClass {
		return fmt.Errorf("train: %s dataset needs %d rows of each class, has %v: %w", role, MinRowsPerClass, counts, ErrInvalidData)
	}
	for j, col := range ds.X {
		for i, v := range col {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("train: %s dataset row %d: %s is %v: %w", role, i, FeatureNames[j], v, ErrInvalidData)
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

func countTrue(b []bool) int {
	n := 0
	for _, t := range b {
		if t {
			n++
		}
	}
	return n
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
