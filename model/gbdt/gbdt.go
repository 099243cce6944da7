// Package gbdt is gradient-boosted decision trees for binary log-loss: a
// histogram trainer, a compiled serving form, exact TreeSHAP explanations,
// and a reader for XGBoost's JSON models.
//
// It is pure math and stands alone, like package model: it knows nothing of
// CSV files, schemas or artifacts. A row is one float64 per feature, in the
// order of the []Feature the forest was built with:
//
//   - a number as is; NaN is a missing value;
//   - a category as its level code 0..Levels-1 stored as a float64; -1 is a
//     value the schema ignores (it goes wherever "not this level" goes, as an
//     all-zero one-hot row would); NaN is a missing value.
//
// Missing values follow the default direction each split learned (XGBoost's
// rule). Training data is passed column by column: cols[j][i] is feature j of
// row i, labels are 0 or 1, and a nil mask means every row.
//
// LogOdds walks eight trees at a time without a branch that depends on the
// row. On amd64 a forest whose splits all compare numbers and whose trees
// are at most 6 deep is walked in assembly (walk_amd64.s; BENCHMARKS.md has
// its figures); the build tag purego leaves the assembly out, and every walk
// is held bit for bit to the plain reading of the stored trees in the tests.
//
// # Sketch
//
//	forest, err := gbdt.Fit(ctx, features, cols, labels, nil, gbdt.Options{})
//	z := forest.LogOdds(row)              // log-odds of class 1
//	bias := forest.Explain(row, contribs) // bias + Σ contribs == z
//	data, err := json.Marshal(forest)
//	again, err := gbdt.Decode(data)
package gbdt

import (
	"errors"
	"fmt"
	"math"
	"runtime"
)

// Family is what Forest.Family returns.
const Family = "gbdt"

// The defaults an Options field's zero value stands for.
const (
	DefaultTrees              = 200
	DefaultMaxDepth           = 6
	DefaultLearningRate       = 0.1
	DefaultLambda             = 1.0
	DefaultMinChildWeight     = 1.0
	DefaultMaxBins            = 255
	DefaultPatience           = 20
	DefaultValidationFraction = 0.1
	// DefaultCategorical is the category split measured best on the public
	// tables (testdata/gbdt/README.md has the figures).
	DefaultCategorical = CategoricalPartition
)

// Limits on what Fit accepts and Decode and FromXGBoost read.
const (
	MaxTrees    = 100_000
	MaxDepth    = 16 // for training; a decoded or imported tree may be up to MaxReadDepth deep
	MaxBins     = 255
	MaxLevels   = 65_000 // levels of one categorical feature
	MaxFeatures = 1 << 20
	// MaxReadDepth bounds a decoded or imported tree's depth, which sizes
	// TreeSHAP's scratch space.
	MaxReadDepth = 64
	// MaxNodes bounds the nodes of one decoded or imported forest, all trees together.
	MaxNodes = 1 << 24
)

// Category split kinds (Options.Categorical).
const (
	// CategoricalPartition sends any subset of levels left: levels are
	// sorted by gradient over hessian and the best prefix is taken
	// (LightGBM's method). Levels ≤ 4 try each level alone instead.
	CategoricalPartition = "partition"
	// CategoricalOneHot sends one level left and every other level right,
	// as trees over one-hot columns do.
	CategoricalOneHot = "onehot"
)

// Feature describes one column of a row.
type Feature struct {
	Name        string `json:"name"`
	Categorical bool   `json:"categorical,omitempty"`
	Levels      int    `json:"levels,omitempty"` // category codes are 0..Levels-1
}

// Options for Fit. The zero value of each field means its documented default.
type Options struct {
	Trees          int     // boosting rounds; 0 means DefaultTrees
	MaxDepth       int     // 1..16; 0 means DefaultMaxDepth
	LearningRate   float64 // (0, 1]; 0 means DefaultLearningRate
	Lambda         float64 // L2 penalty on leaf weights; 0 means DefaultLambda (a tiny value for none)
	MinChildWeight float64 // least hessian sum in a child; 0 means DefaultMinChildWeight
	Subsample      float64 // fraction of rows drawn per tree, (0, 1]; 0 means 1 (all)
	MaxBins        int     // 2..255 bins per numeric feature, plus one for missing; 0 means DefaultMaxBins
	Categorical    string  // CategoricalPartition or CategoricalOneHot; "" means DefaultCategorical

	// NoEarlyStopping turns early stopping off. When on (the default), a
	// stratified ValidationFraction of the training rows is held out, and
	// training stops after Patience rounds without a better validation
	// log-loss, keeping the trees up to the best round.
	NoEarlyStopping    bool
	Patience           int     // rounds; 0 means DefaultPatience
	ValidationFraction float64 // (0, 0.5]; 0 means DefaultValidationFraction

	Seed    uint64 // seeds the validation split and subsampling
	Workers int    // goroutines; 0 means GOMAXPROCS. The result does not depend on it.
}

// Params is the description of a forest recorded in metadata.json: the
// settings it was trained with and what early stopping did. An imported
// forest carries the settings its file states and Source "xgboost".
type Params struct {
	Source             string  `json:"source"` // "trained" or "xgboost"
	Trees              int     `json:"trees"`  // trees kept
	MaxDepth           int     `json:"max_depth"`
	LearningRate       float64 `json:"learning_rate,omitempty"`
	Lambda             float64 `json:"lambda,omitempty"`
	MinChildWeight     float64 `json:"min_child_weight,omitempty"`
	Subsample          float64 `json:"subsample,omitempty"`
	MaxBins            int     `json:"max_bins,omitempty"`
	Categorical        string  `json:"categorical,omitempty"`
	EarlyStopping      bool    `json:"early_stopping"`
	Patience           int     `json:"patience,omitempty"`
	ValidationRows     int     `json:"validation_rows,omitempty"`
	RoundsTrained      int     `json:"rounds_trained,omitempty"`
	BestIteration      int     `json:"best_iteration,omitempty"` // 1-based round kept last
	BestValidationLoss float64 `json:"best_validation_loss,omitempty"`
	Seed               uint64  `json:"seed,omitempty"`
}

// Errors Fit returns (wrapped with detail).
var (
	// ErrNoRows is returned when the mask leaves no row to train on.
	ErrNoRows = errors.New("gbdt: no rows to train on")
	// ErrOneClass is returned when every training row has the same label.
	ErrOneClass = errors.New("gbdt: the training rows hold one class only")
)

// OptionError names an option that is out of range.
type OptionError struct {
	Option string // the option's name as in Params' JSON: "trees", "max_depth", …
	Value  any
	Reason string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("gbdt: option %s = %v: %s", e.Option, e.Value, e.Reason)
}

// Check returns an *OptionError naming the first option out of range, or
// nil: what Fit would say of o before looking at any data.
func (o Options) Check() error {
	_, err := o.withDefaults()
	return err
}

// withDefaults fills zero fields and checks ranges, naming the option at fault.
func (o Options) withDefaults() (Options, error) {
	bad := func(name string, v any, why string) (Options, error) {
		return o, &OptionError{Option: name, Value: v, Reason: why}
	}
	if o.Trees == 0 {
		o.Trees = DefaultTrees
	}
	if o.Trees < 1 || o.Trees > MaxTrees {
		return bad("trees", o.Trees, fmt.Sprintf("must be between 1 and %d", MaxTrees))
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxDepth < 1 || o.MaxDepth > MaxDepth {
		return bad("max_depth", o.MaxDepth, fmt.Sprintf("must be between 1 and %d", MaxDepth))
	}
	if o.LearningRate == 0 {
		o.LearningRate = DefaultLearningRate
	}
	if !(o.LearningRate > 0 && o.LearningRate <= 1) {
		return bad("learning_rate", o.LearningRate, "must be in (0, 1]")
	}
	if o.Lambda == 0 {
		o.Lambda = DefaultLambda
	}
	if !(o.Lambda >= 0) || math.IsInf(o.Lambda, 0) {
		return bad("lambda", o.Lambda, "must be finite and ≥ 0")
	}
	if o.MinChildWeight == 0 {
		o.MinChildWeight = DefaultMinChildWeight
	}
	if !(o.MinChildWeight >= 0) || math.IsInf(o.MinChildWeight, 0) {
		return bad("min_child_weight", o.MinChildWeight, "must be finite and ≥ 0")
	}
	if o.Subsample == 0 {
		o.Subsample = 1
	}
	if !(o.Subsample > 0 && o.Subsample <= 1) {
		return bad("subsample", o.Subsample, "must be in (0, 1]")
	}
	if o.MaxBins == 0 {
		o.MaxBins = DefaultMaxBins
	}
	if o.MaxBins < 2 || o.MaxBins > MaxBins {
		return bad("max_bins", o.MaxBins, fmt.Sprintf("must be between 2 and %d", MaxBins))
	}
	if o.Categorical == "" {
		o.Categorical = DefaultCategorical
	}
	if o.Categorical != CategoricalPartition && o.Categorical != CategoricalOneHot {
		return bad("categorical", o.Categorical, fmt.Sprintf("must be %q or %q", CategoricalPartition, CategoricalOneHot))
	}
	if o.Patience == 0 {
		o.Patience = DefaultPatience
	}
	if o.Patience < 1 {
		return bad("patience", o.Patience, "must be ≥ 1")
	}
	if o.ValidationFraction == 0 {
		o.ValidationFraction = DefaultValidationFraction
	}
	if !(o.ValidationFraction > 0 && o.ValidationFraction <= 0.5) {
		return bad("validation_fraction", o.ValidationFraction, "must be in (0, 0.5]")
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Workers < 1 {
		return bad("workers", o.Workers, "must be ≥ 1")
	}
	return o, nil
}

// checkFeatures reports the first feature description that cannot be used.
func checkFeatures(features []Feature) error {
	if len(features) == 0 {
		return errors.New("no features")
	}
	if len(features) > MaxFeatures {
		return fmt.Errorf("%d features, the limit is %d", len(features), MaxFeatures)
	}
	seen := make(map[string]int, len(features))
	for j, f := range features {
		if f.Name == "" {
			return fmt.Errorf("feature %d has no name", j)
		}
		if k, ok := seen[f.Name]; ok {
			return fmt.Errorf("feature %q appears twice (%d and %d)", f.Name, k, j)
		}
		seen[f.Name] = j
		if f.Categorical && (f.Levels < 1 || f.Levels > MaxLevels) {
			return fmt.Errorf("feature %q: %d levels, want 1..%d", f.Name, f.Levels, MaxLevels)
		}
		if !f.Categorical && f.Levels != 0 {
			return fmt.Errorf("feature %q: a number feature has no levels (got %d)", f.Name, f.Levels)
		}
	}
	return nil
}
