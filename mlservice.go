// Package mlservice trains a binary classifier from daily CSV files, promotes
// a new model version only when it scores better (by default a better F1),
// and serves predictions from whichever version is current, in the same
// process.
//
// The HTTP server and the trainer command in cmd/ are thin wrappers around
// this package; a Go program that imports it gets the same behaviour without
// either of them.
//
// # Data flow
//
// Data moves one way:
//
//	CSV → Validate → Dataset → Train → Candidate → Promote → versions/ + CURRENT → Store → Predict
//
// Validate enforces the data contract and returns every problem it finds,
// with line and column, in one *ValidationError. Train splits the rows
// (stratified 80/20, fixed seed), standardizes them, fits an L2 logistic
// regression with gonum's L-BFGS (or gradient-boosted trees, or the better of
// the two: TrainOptions.Family) and scores the held-out rows. Promote writes
// the version durably under $ARTIFACTS_DIR/models/versions and moves CURRENT
// to it only when it beats the current version on the same rows under its
// PromotionRule, by default F1 strictly greater (the current version is
// re-scored on the candidate's evaluation rows). A Store
// serves the version CURRENT names and follows it as it moves.
//
// # Training and promoting
//
//	ds, err := mlservice.ValidateFile(ctx, "data/day_01.csv")
//	if err != nil {
//		return err // a *ValidationError lists the bad lines
//	}
//	cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
//	if err != nil {
//		return err
//	}
//	decision, err := mlservice.Promote(ctx, "./artifacts", cand)
//	fmt.Println(decision.VersionID, decision.Promoted, cand.Metadata.Metric.Value)
//
// # Serving
//
//	store, err := mlservice.OpenStore("./artifacts", mlservice.StoreOptions{})
//	if err != nil {
//		return err
//	}
//	defer store.Close()
//	p, err := store.Predict(mlservice.Features{Age: 42, Income: 52000, AccountBalance: 1800,
//		TransactionsLast30d: 12, IsPremium: 1})
//	fmt.Println(p.Label, p.Probability, p.ModelVersionID)
//
// Predict takes no lock, touches no file and allocates nothing; the store
// swaps in newly promoted versions in the background.
//
// # Your own table
//
// The five columns above are the default schema. Any other table is
// declared in a schema file (see Schema and ParseSchema; InferSchema drafts
// one), validated and trained under it, and served as Rows:
//
//	s, err := mlservice.LoadSchemaFile("customers.schema.json")
//	ds, err := mlservice.ValidateTableFile(ctx, "customers.csv", s)
//	cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
//	decision, err := mlservice.Promote(ctx, "./artifacts", cand) // refused if the schema changed
//	p, err := store.PredictRow(&mlservice.Row{Numbers: []float64{42, 1}, Categories: []string{"plus"}})
//
// Each version stores its schema; the Store serves schema and model as one
// snapshot, and Store.PredictJSON decodes a request under it.
//
// # One pipeline, one row, any model
//
// The five columns are not a special case: Validate is ValidateTable under
// DefaultSchema, and every schema goes the same way. A Dataset holds one
// float64 column per schema feature (a category as its code, the index of
// its value in the feature's Categories; -1 for a value the schema ignores),
// and a model reads one row of the same shape (see package model): Train
// fits, scores and explains on those rows, the Store decodes Features, a
// Row or a JSON body into one and hands it to the serving version's model.
// Features and Store.Predict stay the typed fast path of the default schema,
// on that same model.
//
// Models are a model.Model: Family, Layout, LogOdds, Explain and their
// model.json. Logistic regression (model.Logistic) is the first family;
// model.json names its family (absent: logistic) and metadata.json records
// it (ModelFamily), so Promote, the Store and the history page never ask
// which family they hold.
//
// # Artifacts in an object store
//
// Replicas on several hosts share artifacts through an S3-compatible object
// store instead of a directory. Artifacts has Promote, Versions, Rollback,
// ReadHistory and OpenStore over either kind; package artifactsurl opens one
// from a URL, so the choice is configuration:
//
//	arts, err := artifactsurl.Open(ctx, "s3://mlservice/artifacts?endpoint=http://127.0.0.1:8333&use_path_style=true")
//	decision, err := arts.Promote(ctx, cand)
//	store, err := arts.OpenStore(mlservice.StoreOptions{})
//
// There a version is committed by writing its manifest last and CURRENT moves
// by a conditional PUT; this package itself never imports a cloud SDK
// (storage/s3 does).
package mlservice

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mlservice/mlservice/internal/rules"
	"github.com/mlservice/mlservice/model"
	"github.com/mlservice/mlservice/model/gbdt"
)

// NumFeatures is the number of model inputs.
const NumFeatures = 5

// FeatureNames are the model's inputs, in the order used by Features.Vector,
// the CSV contract, model.json and the HTTP API.
var FeatureNames = [NumFeatures]string{"age", "income", "account_balance", "transactions_last_30d", "is_premium"}

// TargetColumn is the CSV column holding the 0/1 label.
const TargetColumn = "target"

// FeatureSchemaVersion identifies the feature set above; a model trained on
// another feature set is refused by the Store.
const FeatureSchemaVersion = "1"

// MaxAbsValue bounds the magnitude of every feature value, in training data
// (Validate) and at prediction time (Features.Check, the request decoders).
//
// A finite value can still break training: the standardizer sums squared
// deviations, each up to (2·|v|)², so n rows stay finite only while
// |v| < √(MaxFloat64/(4n)), about 1e149 for a billion rows (1e200 overflows
// to +Inf and the model's scale becomes NaN). The bound sits far below that
// edge, at 1e15: every integer up to it is exact in a float64 (2⁵³ ≈ 9e15),
// its squares over 1e9 rows (≤ 4e39) leave the loss and gradient sums ample
// room, and no count or amount of money comes near it.
const MaxAbsValue = rules.MaxAbs

// Features is one row of model inputs.
type Features struct {
	Age                 float64 `json:"age"`                   // ≥ 0
	Income              float64 `json:"income"`                // any value within ±MaxAbsValue
	AccountBalance      float64 `json:"account_balance"`       // may be negative
	TransactionsLast30d float64 `json:"transactions_last_30d"` // ≥ 0
	IsPremium           float64 `json:"is_premium"`            // 0 or 1
}

// fill writes f into row in FeatureNames order, one value at a time: a
// copy of Vector's array costs Predict a stalled load.
func (f *Features) fill(row *[NumFeatures]float64) {
	row[0], row[1], row[2], row[3], row[4] = f.Age, f.Income, f.AccountBalance, f.TransactionsLast30d, f.IsPremium
}

// Vector returns f in FeatureNames order.
func (f Features) Vector() [NumFeatures]float64 {
	return [NumFeatures]float64{f.Age, f.Income, f.AccountBalance, f.TransactionsLast30d, f.IsPremium}
}

// Check reports the first value outside the data contract's domain, as an
// *InputError: a non-finite number, a magnitude above MaxAbsValue, a negative
// age or transaction count, or is_premium other than 0 or 1. It reads the
// row as every request and Store.PredictRow does (DefaultSchema's rules,
// compiled), and allocates only when it returns an error.
func (f Features) Check() error {
	var row [NumFeatures]float64
	f.fill(&row)
	if defaultColumns().check(row[:]) < 0 {
		return nil
	}
	return defaultColumns().checkError(row[:])
}

// checkRow is Check for row i of a batch.
func (f Features) checkRow(i int) error {
	err := f.Check()
	if err != nil {
		ie := err.(*InputError)
		ie.batch, ie.Problems[0].Row = true, i
	}
	return err
}

// Prediction is the model's answer for one row.
type Prediction struct {
	Label          int     `json:"prediction"`       // 1 when Probability > 0.5
	Probability    float64 `json:"probability"`      // P(target = 1)
	ModelVersionID string  `json:"model_version_id"` // the version that answered
}

// AppendJSON appends p to b as encoding/json encodes it, and a line end:
// {"prediction":1,"probability":0.73,"model_version_id":"…"}. It is a
// server's answer to one row without reflection (FuzzPredictionJSON holds
// it to encoding/json, byte for byte).
func (p Prediction) AppendJSON(b []byte) []byte {
	if !plainJSON(p.ModelVersionID) { // not a version id: let encoding/json escape it
		data, _ := json.Marshal(p) // ints, a finite float and a string: cannot fail
		return append(append(b, data...), '\n')
	}
	b = append(b, `{"prediction":`...)
	b = strconv.AppendInt(b, int64(p.Label), 10)
	b = append(b, `,"probability":`...)
	// encoding/json's float64: 'f' from 1e-6 to 1e21, else 'e' with a
	// one-digit negative exponent (e-07 → e-7).
	format := byte('f')
	if a := math.Abs(p.Probability); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, p.Probability, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	b = append(b, `,"model_version_id":"`...)
	b = append(b, p.ModelVersionID...)
	return append(b, "\"}\n"...)
}

// plainJSON reports whether s needs no escaping in a JSON string (as a
// version id never does).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// Errors returned by this package. Test for them with errors.Is.
var (
	// ErrInvalidData is matched by every *ValidationError: the CSV breaks
	// the data contract.
	ErrInvalidData = errors.New("invalid data")

	// ErrInvalidFeatures is matched by every *InputError: a request or a
	// row given to Predict breaks the contract.
	ErrInvalidFeatures = errors.New("invalid features")

	// ErrMalformedRequest is returned by DecodeFeatures and DecodeBatch for
	// a body that is not valid JSON.
	ErrMalformedRequest = errors.New("malformed JSON")

	// ErrUnsupportedMediaType is returned by CheckContentType for a request
	// body declared as something other than JSON.
	ErrUnsupportedMediaType = errors.New("unsupported media type")

	// ErrNotReady is returned by Store.Predict before any version has been
	// loaded, for instance before the first promotion.
	ErrNotReady = errors.New("no model version is loaded yet")

	// ErrNoCurrent is returned when the artifacts directory has no CURRENT
	// version yet.
	ErrNoCurrent = errors.New("no current model version")

	// ErrVersionNotFound is returned for a version id that has no complete
	// version directory.
	ErrVersionNotFound = errors.New("model version not found")

	// ErrBadVersionID is returned for a version id that does not match the
	// strict id pattern (for example a path such as ../../etc).
	ErrBadVersionID = errors.New("malformed model version id")

	// ErrCorruptVersion is returned when a version's files are unreadable,
	// fail their checksum or fail the self-test on load.
	ErrCorruptVersion = errors.New("corrupt model version")

	// ErrSchemaChange is returned by Rollback and PromoteVersion for a
	// version whose schema differs from the current version's, unless
	// MoveOptions.AllowSchemaChange is set.
	ErrSchemaChange = errors.New("the version's schema differs from the current version's")

	// ErrClosed is returned by a Store after Close.
	ErrClosed = errors.New("store is closed")

	// ErrSchemaMismatch is returned by Store.Predict and Store.PredictBatch
	// while the serving version was trained on a declared schema other than
	// the default: its rows are Rows (Store.PredictRow), not Features.
	ErrSchemaMismatch = errors.New("the serving version's schema is not the default; use PredictRow")
)

// SchemaVersion is the version of the layout of a version directory and its
// metadata.json. Version 2 added manifest.json; versions of schema 1 are
// refused on load (their metadata.json has no checksum).
const SchemaVersion = "2"

// Metadata is the content of a version's metadata.json: what was trained, on
// what, how well it scored, and what Promote compared it with.
type Metadata struct {
	SchemaVersion  string `json:"schema_version"`
	ModelVersionID string `json:"model_version_id"`
	// ModelFamily is the model's family (model.Model.Family): "logistic"
	// for every version written before families were recorded, which have
	// none.
	ModelFamily          string    `json:"model_family"`
	Metric               Metric    `json:"metric"` // the promotion rule's metric (Promotion.Rule), by default F1
	Metrics              Metrics   `json:"metrics"`
	TrainingDataFile     string    `json:"training_data_file"`
	EvaluationDataFile   string    `json:"evaluation_data_file,omitempty"` // set when scored on a fixed file
	TrainedAt            time.Time `json:"trained_at"`
	FeatureSchemaVersion string    `json:"feature_schema_version"`
	// DeclaredSchema is the schema as its author declared it, before
	// Train learned any categories (schema.json holds the resolved one):
	// what `trainer train` without -schema trains the next version on. Nil
	// for the default schema and for versions whose trainer did not record
	// it; Train leaves it to the caller.
	DeclaredSchema *Schema        `json:"declared_schema,omitempty"`
	Data           DataInfo       `json:"data"`
	Features       []FeatureStats `json:"features"` // lineage: each feature over the whole training file
	Params         Params         `json:"params"`
	ModelFile      string         `json:"model_file"`
	ModelSHA256    string         `json:"model_sha256"`
	// Examples are rows with the probabilities the trainer computed for
	// them; a Store recomputes them on load and refuses a version whose
	// answers differ.
	Examples []Example `json:"examples"`
	// Importance is each feature's mean absolute contribution to the
	// log-odds (model.Model.Explain) over the evaluation rows, in schema
	// order, whatever the model's family. Versions trained before it have
	// none.
	Importance []FeatureImportance `json:"importance,omitempty"`
	Promotion  Promotion           `json:"promotion"`
	// Drift is each feature's training distribution (over the whole
	// training file) and its share of class 1, against which a server
	// measures drift. Versions trained before it have none.
	Drift *DriftProfile `json:"drift,omitempty"`
}

// Metric names the promotion metric and its value.
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// Metrics are the evaluation figures of a version; see model.Metrics.
type Metrics = model.Metrics

// DataInfo describes the rows a version was trained and evaluated on.
type DataInfo struct {
	SHA256       string  `json:"sha256"` // of the training file
	Rows         int     `json:"rows"`
	ClassCounts  [2]int  `json:"class_counts"`
	TrainRows    int     `json:"train_rows"`
	EvalRows     int     `json:"eval_rows"`
	EvalSHA256   string  `json:"eval_sha256,omitempty"` // of the evaluation file, when there is one
	Split        string  `json:"split"`                 // "stratified" or "file"
	TestFraction float64 `json:"test_fraction,omitempty"`
	Seed         uint64  `json:"seed,omitempty"`
}

// FeatureStats summarizes one feature column.
type FeatureStats struct {
	Name string  `json:"name"`
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"` // population standard deviation
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// FeatureImportance is how much one feature moves the model's answers.
type FeatureImportance struct {
	Name                string  `json:"name"`
	MeanAbsContribution float64 `json:"mean_abs_contribution"` // in log-odds
	// TotalGain is a trees model's loss reduction by the splits on the
	// feature, summed over the trees (gbdt.Forest.Importance); none for
	// other families.
	TotalGain float64 `json:"total_gain,omitempty"`
}

// Params records how a version was fitted.
type Params struct {
	Model             string          `json:"model"` // "logistic_regression", "gbdt" or "xgboost" (imported)
	Solver            string          `json:"solver"`
	C                 float64         `json:"C"`            // logistic: the inverse L2 strength
	ClassWeight       *string         `json:"class_weight"` // "balanced" or null, as scikit-learn spells it
	GradientTolerance float64         `json:"gradient_tolerance"`
	Fit               model.FitResult `json:"fit"`
	TrainSeconds      float64         `json:"train_seconds"`
	// Family is the family asked for (TrainOptions.Family): "logistic",
	// "gbdt" or "auto"; Metadata.ModelFamily is the one fitted. Versions
	// written before families have none (logistic).
	Family string `json:"family,omitempty"`
	// TreeOptions are the tree settings asked for, when Family is "gbdt"
	// or "auto".
	TreeOptions *TreeOptions `json:"tree_options,omitempty"`
	// Trees is a trees version's forest: the settings it was fitted (or
	// imported) with and what early stopping did.
	Trees *gbdt.Params `json:"trees,omitempty"`
	// Auto is how "auto" chose the family.
	Auto *FamilyChoice `json:"auto,omitempty"`
}

// TreeOptions are the settings of a gradient-boosted trees fit.
type TreeOptions struct {
	Trees         int     `json:"trees"`
	MaxDepth      int     `json:"max_depth"`
	LearningRate  float64 `json:"learning_rate"`
	EarlyStopping bool    `json:"early_stopping"`
}

// FamilyChoice records how Family "auto" chose: each family fitted on the
// training rows but a validation split of them, scored on that split under
// the promotion rule's metric; the better was then fitted on every training
// row. The evaluation rows that decide promotion play no part.
type FamilyChoice struct {
	Metric         string             `json:"metric"`
	ValidationRows int                `json:"validation_rows"`
	Scores         map[string]float64 `json:"scores"` // by family
	Chosen         string             `json:"chosen"`
	Reason         string             `json:"reason"`
	// BalancedClassWeight is the class weighting asked for: the logistic
	// fit used it, trees weight no class (Params.ClassWeight says what the
	// chosen model used).
	BalancedClassWeight bool `json:"balanced_class_weight,omitempty"`
}

// Example is a self-test row stored with a version.
type Example struct {
	Features Features `json:"features,omitzero"` // under the default schema
	// Values is the row under any other schema: a number or a string per
	// feature, by name.
	Values      map[string]any `json:"values,omitempty"`
	Probability float64        `json:"probability"`
}

// Promotion is the comparison Promote made before it wrote the version: the
// basis of the decision, not its outcome. Whether the version was promoted
// is known only once CURRENT has moved: history.jsonl records it, and
// Versions reports it.
type Promotion struct {
	Wins              bool     `json:"wins"` // the candidate beat the current version, or none was current
	Reason            string   `json:"reason"`
	PreviousVersionID string   `json:"previous_version_id,omitempty"`
	PreviousMetric    *float64 `json:"previous_metric,omitempty"` // its figure under Rule on this version's evaluation rows
	// PreviousMetricStored is that figure as recorded with the previous
	// version (on its own evaluation rows).
	PreviousMetricStored *float64 `json:"previous_metric_stored,omitempty"`
	// Rule is the promotion rule the comparison used. Versions written
	// before rules were recorded have none: they were compared by F1,
	// strictly greater, which is the zero rule.
	Rule PromotionRule `json:"rule"`
}

// MaxProblems is how many problems a ValidationError lists; the rest are
// only counted.
const MaxProblems = 20

// MinRowsPerClass is the fewest rows of each target class a file must have:
// one for training and one for evaluation after a stratified split.
const MinRowsPerClass = 2

// Problem is one way a CSV file breaks the data contract.
type Problem struct {
	Line   int    `json:"line,omitempty"`   // 1-based line in the file, the header being line 1; 0 for the whole file
	Column string `json:"column,omitempty"` // column name, when the problem is about one column
	Value  string `json:"value,omitempty"`  // the offending text, as found
	Rule   string `json:"rule"`             // the rule broken, e.g. "required", "gte=0", "missing column"
	Reason string `json:"reason"`           // the rule in words
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d", p.Line)
	} else {
		b.WriteString("file")
	}
	if p.Column != "" {
		fmt.Fprintf(&b, ", column %q", p.Column)
	}
	if p.Value != "" || p.Rule == "required" || p.Rule == "number" {
		fmt.Fprintf(&b, ", value %q", p.Value)
	}
	fmt.Fprintf(&b, ": %s (%s)", p.Reason, p.Rule)
	return b.String()
}

// ValidationError lists the problems found in a CSV file: the first
// MaxProblems in file order and the total count. It matches ErrInvalidData.
type ValidationError struct {
	Source   string    // file path, or "" for a reader
	Problems []Problem // at most MaxProblems, in file order
	Total    int       // every problem found, listed or not
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	src := e.Source
	if src == "" {
		src = "input"
	}
	fmt.Fprintf(&b, "invalid data in %s: %d problem", src, e.Total)
	if e.Total != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	if more := e.Total - len(e.Problems); more > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more", more)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalidData) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidData }
