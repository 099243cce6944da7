package mlservice

// One row, one path: a schema compiled for reading values (columns), the
// row every model reads ([]float64 in schema order, see package model),
// the version a Store serves (schema, model and drift counter as one
// snapshot) and the Predict calls. Features, Row and a JSON body are three
// ways into the same row; the default schema is a schema like any other.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/mlservice/mlservice/internal/catindex"
	"github.com/mlservice/mlservice/internal/csvsplit"
	"github.com/mlservice/mlservice/internal/hot"
	"github.com/mlservice/mlservice/internal/rules"
	"github.com/mlservice/mlservice/internal/strictjson"
	"github.com/mlservice/mlservice/internal/trees"
	"github.com/mlservice/mlservice/model"
	"github.com/mlservice/mlservice/model/gbdt"
)

// Row is one row of model inputs as a caller holds it: Numbers holds the
// number and binary features and Categories the category features' values,
// each in schema order. A feature that may be missing ("missing": true) is
// missing as a NaN number or an empty category. (Under the default schema,
// Features is the typed row.)
type Row struct {
	Numbers    []float64
	Categories []string
}

// columns is a schema compiled for reading values: each number's rules as
// a range, each category's values as an index.
type columns struct {
	schema    *Schema
	layout    model.Layout
	cols      []column
	isDefault bool
	// Flat copies for the hot path, per feature: the range a value must be
	// in (a category's passes any code), and the numbers the range alone
	// cannot judge (binary, or a rule validator must check).
	bounds []bounds
	binary []int // numbers that must be 0 or 1
	slow   []int // numbers with a rule the range cannot express: validator judges them
	nums   []int // the number features, as a Row orders them
	cats   []int // the category features, as a Row orders them
	// catOrder[j] is category feature j's place among the categories.
	catOrder []int
	// numbersFirst: the numbers are features 0, 1, …, so a Row's Numbers
	// are the row's first values as they are.
	numbersFirst bool
	names        *catindex.Index // feature name → index, for requests
	missing      uint64          // bit j: feature j may be missing (of the first 64)
}

// bounds is the range a feature's value must be in.
type bounds struct{ lo, hi float64 }

type column struct {
	spec *FeatureSpec
	rule rules.Rule // a number's
	// A category's: its index (nil while its values are to be learned).
	index *catindex.Index
}

// compileColumns compiles s.
func compileColumns(s *Schema) *columns {
	c := &columns{schema: s, layout: s.layout(), isDefault: s.IsDefault(), names: &catindex.Index{}}
	for i := range s.Features {
		c.names.Add(s.Features[i].Name)
		f := &s.Features[i]
		if f.Missing && i < 64 {
			c.missing |= 1 << i
		}
		col := column{spec: f}
		lo, hi := math.Inf(-1), math.Inf(1)
		c.catOrder = append(c.catOrder, len(c.cats))
		if f.Type == TypeCategory {
			c.cats = append(c.cats, i)
			if len(f.Categories) > 0 {
				col.index = catindex.New(f.Categories)
			}
		} else {
			c.nums = append(c.nums, i)
			col.rule = rules.Compile(f.effectiveTag())
			lo, hi = col.rule.Lo, col.rule.Hi
			if col.rule.Binary {
				c.binary = append(c.binary, i)
			}
			if !col.rule.Exact {
				c.slow = append(c.slow, i)
			}
		}
		c.cols = append(c.cols, col)
		c.bounds = append(c.bounds, bounds{lo, hi})
	}
	c.numbersFirst = true
	for k, j := range c.nums {
		c.numbersFirst = c.numbersFirst && j == k
	}
	return c
}

var defaultColumns = sync.OnceValue(func() *columns { return compileColumns(defaultSchema()) })

// columnsOf compiles s, or returns the default schema's compiled once.
func columnsOf(s *Schema) *columns {
	if s == nil || s == defaultSchema() {
		return defaultColumns()
	}
	return compileColumns(s)
}

// check returns -1 when every number of row passes its rules, else the
// first feature that does not, in schema order. It allocates nothing
// unless a rule needs validator.
func (c *columns) check(row []float64) int {
	if !inBounds(c.bounds[:len(row)], row) {
		return c.firstBad(row)
	}
	for _, j := range c.binary {
		if v := row[j]; v != 0 && v != 1 {
			return c.firstBad(row)
		}
	}
	if len(c.slow) > 0 {
		return c.firstBad(row)
	}
	return -1
}

// inBounds reports whether every row[j] is within b[j].
func inBounds(b []bounds, row []float64) bool {
	b = b[:len(row)]
	for j, v := range row {
		if !(v >= b[j].lo && v <= b[j].hi) {
			return false
		}
	}
	return true
}

// firstBad is check's slow path: validator's verdict, feature by feature.
func (c *columns) firstBad(row []float64) int {
	for j := range c.cols {
		spec := c.cols[j].spec
		if spec.Type != TypeCategory && !(spec.Missing && math.IsNaN(row[j])) && reasonOf(&c.cols[j].rule, row[j]) != "" {
			return j
		}
	}
	return -1
}

// checkError is check as an *InputError naming the first bad feature.
func (c *columns) checkError(row []float64) error {
	j := c.check(row)
	if j < 0 {
		return nil
	}
	return inputError(c.cols[j].spec.Name, reasonOf(&c.cols[j].rule, row[j]))
}

// code returns category feature j's code for v (as a Row or a request gives
// it; a request trims it first), -1 for a value the schema ignores, NaN for
// a missing value the schema lets through, or why v is refused.
func (c *columns) code(j int, v []byte) (float64, string) {
	col := &c.cols[j]
	if col.index != nil {
		if code, ok := col.index.LookupBytes(v); ok {
			return float64(code), ""
		}
	}
	f := col.spec
	if len(v) == 0 || csvsplit.IsNull(v) { // what a CSV cell calls missing
		if f.Missing && csvsplit.IsMissing(v) {
			return math.NaN(), ""
		}
		return -1, "required (missing, null or empty)"
	}
	if f.Rules != "" {
		if p := ruleProblem(&Problem{}, string(v), f.Rules); p != nil {
			return -1, fmt.Sprintf("%q: %s", truncate(string(v), 80), p.Reason)
		}
	}
	if f.Unknown == UnknownIgnore || col.index == nil {
		return -1, ""
	}
	return -1, fmt.Sprintf("unknown category %q (the model knows %d values of %s)", truncate(string(v), 80), col.index.Len(), f.Name)
}

// fromRow fills row (one value per feature) from r, checked: the numbers
// against their ranges as they are copied, the categories by their index.
func (c *columns) fromRow(r *Row, row []float64) error {
	if len(r.Numbers) != len(c.nums) || len(r.Categories) != len(c.cats) {
		if c.isDefault {
			return inputError("row", "the default schema takes the five numbers of FeatureNames")
		}
		return inputError("row", fmt.Sprintf("has %d numbers and %d categories, the schema %d and %d",
			len(r.Numbers), len(r.Categories), len(c.nums), len(c.cats)))
	}
	inRange := true
	switch {
	case c.numbersFirst: // one pass: copy and check
		nums := r.Numbers
		b := c.bounds[:len(nums)]
		row := row[:len(nums)]
		for j, v := range nums {
			row[j] = v
			if !(v >= b[j].lo && v <= b[j].hi) {
				inRange = false
			}
		}
	default:
		for k, j := range c.nums {
			row[j] = r.Numbers[k]
		}
		inRange = inBounds(c.bounds, row)
	}
	for k, j := range c.cats {
		code, ok := c.cols[j].index.Lookup(r.Categories[k])
		row[j] = float64(code)
		if !ok {
			row[j] = 0 // judged below, once the numbers are
			inRange = false
		}
	}
	if inRange && len(c.binary) == 0 && len(c.slow) == 0 {
		return nil
	}
	if err := c.checkError(row); err != nil {
		return err
	}
	for k, j := range c.cats {
		v := r.Categories[k]
		if _, ok := c.cols[j].index.Lookup(v); ok {
			continue
		}
		code, reason := c.code(j, []byte(v))
		if reason != "" {
			return inputError(c.cols[j].spec.Name, reason)
		}
		row[j] = code
	}
	return nil
}

// rowOf returns r's values as a Row: the numbers, and each category's
// value by its code (cats, when given, holds the values as they came).
func (c *columns) rowOf(row []float64, cats []string) Row {
	var r Row
	for _, j := range c.nums {
		r.Numbers = append(r.Numbers, row[j])
	}
	for k, j := range c.cats {
		if cats != nil {
			r.Categories = append(r.Categories, cats[k])
		} else {
			r.Categories = append(r.Categories, categoryOf(&c.schema.Features[j], row[j]))
		}
	}
	return r
}

// servingVersion is an immutable snapshot of one loaded version: its
// schema, compiled, and its model are read and decoded together, so a
// request is read and scored by the same version.
type servingVersion struct {
	id       string
	schema   *Schema // resolved; defaultSchema() for the default
	columns  *columns
	model    model.Model
	meta     *Metadata
	metaJSON []byte
	loadedAt time.Time
	// drift counts the rows this version predicts; nil when its metadata
	// has no drift profile (driftOff says why) or drift is disabled.
	drift    *driftCounter
	driftOff string
}

// predict scores a checked row and counts it for drift.
func (v *servingVersion) predict(row []float64) Prediction {
	z := v.model.LogOdds(hot.NoEscape(row)) // models do not retain rows
	label := 0
	if z > 0 {
		label = 1
	}
	if c := v.drift; c != nil {
		c.observe(row, label)
	}
	return Prediction{Label: label, Probability: model.Sigmoid(z), ModelVersionID: v.id}
}

// Predict scores one row of the default schema with the serving version:
// no lock, no file-system call, no allocation. Features outside the
// contract's domain give an *InputError; a version of another schema gives
// ErrSchemaMismatch (use PredictRow).
func (s *Store) Predict(f Features) (Prediction, error) {
	v := s.serving.Load()
	if v == nil {
		return Prediction{}, ErrNotReady
	}
	if !v.columns.isDefault {
		return Prediction{}, ErrSchemaMismatch
	}
	var row [NumFeatures]float64
	f.fill(&row)
	if v.columns.check(row[:]) >= 0 {
		return Prediction{}, v.columns.checkError(row[:])
	}
	// v.predict, written out: the hot path's one call is the model's.
	z := v.model.LogOdds(hot.NoEscape(row[:]))
	label := 0
	if z > 0 {
		label = 1
	}
	if c := v.drift; c != nil {
		c.observe(row[:], label)
	}
	return Prediction{Label: label, Probability: model.Sigmoid(z), ModelVersionID: v.id}, nil
}

// PredictBatch scores rows with one version and appends the predictions to
// dst, which it returns. A row outside the contract's domain fails the whole
// batch with an *InputError naming its index, and dst is returned as given.
func (s *Store) PredictBatch(dst []Prediction, rows []Features) ([]Prediction, error) {
	v := s.serving.Load()
	if v == nil {
		return dst, ErrNotReady
	}
	if !v.columns.isDefault {
		return dst, ErrSchemaMismatch
	}
	var row [NumFeatures]float64
	for i := range rows {
		if rows[i].fill(&row); v.columns.check(row[:]) >= 0 {
			return dst, rows[i].checkRow(i)
		}
	}
	dst = slices.Grow(dst, len(rows))
	for i := range rows {
		rows[i].fill(&row)
		dst = append(dst, v.predict(row[:]))
	}
	return dst, nil
}

// Schema returns a copy of the serving version's schema (resolved: learned
// categories filled in) and that version's id, or ErrNotReady.
func (s *Store) Schema() (schema *Schema, versionID string, err error) {
	v := s.serving.Load()
	if v == nil {
		return nil, "", ErrNotReady
	}
	return v.schema.clone(), v.id, nil
}

// PredictRow scores one row under the serving version's schema: r.Numbers
// holds its number and binary features and r.Categories its category
// values, each in schema order (under the default schema, the five numbers
// in FeatureNames order). A value outside the schema's rules, or a category
// the model was not trained on (unless the feature ignores unknown values),
// gives an *InputError naming the feature and the value. Like Predict it
// takes no lock and allocates nothing unless it returns an error (or the
// schema has more than 64 features).
func (s *Store) PredictRow(r *Row) (Prediction, error) {
	v := s.serving.Load()
	if v == nil {
		return Prediction{}, ErrNotReady
	}
	var p Prediction
	var err error
	hot.Row(len(v.columns.cols), func(row []float64) {
		if err = v.columns.fromRow(r, row); err == nil {
			p = v.predict(row)
		}
	})
	return p, err
}

// PredictJSON decodes a request body (one JSON object, as DecodeRow) under
// the serving version's schema and scores it with that same version, so a
// hot swap between the two cannot mix schemas. Errors are those of
// DecodeRow (DecodeFeatures' under the default schema) and ErrNotReady.
func (s *Store) PredictJSON(data []byte) (Prediction, error) {
	v := s.serving.Load()
	if v == nil {
		return Prediction{}, notReady(data)
	}
	var p Prediction
	var err error
	hot.Row(len(v.columns.cols), func(row []float64) {
		if err = v.columns.decodeBody(data, row, nil); err == nil {
			p = v.predict(row)
		}
	})
	return p, err
}

// PredictBatchJSON decodes {"instances": [...]} (at most maxRows, no limit
// if maxRows <= 0) under the serving version's schema and scores every row
// with that version, appending to dst. Every bad field of every row is
// listed at once.
func (s *Store) PredictBatchJSON(dst []Prediction, data []byte, maxRows int) ([]Prediction, error) {
	v, rows, n, err := s.decodeServingBatch(data, maxRows)
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, len(rows)/max(n, 1))
	for i := 0; i < len(rows); i += n {
		dst = append(dst, v.predict(rows[i:i+n]))
	}
	return dst, nil
}

// decodeServingBatch decodes a batch body under the serving version's
// schema: that version, the rows one after another, and a row's width.
func (s *Store) decodeServingBatch(data []byte, maxRows int) (v *servingVersion, rows []float64, n int, err error) {
	if v = s.serving.Load(); v == nil {
		return nil, nil, 0, notReady(data)
	}
	rows, err = v.columns.decodeBatch(data, maxRows, nil)
	return v, rows, len(v.columns.cols), err
}

// notReady is the error for a request before any version is loaded: a body
// that is not JSON is malformed whatever the schema, and says so first.
func notReady(data []byte) error {
	if data = trimBOM(data); !strictjson.Valid(data) {
		return malformed(data)
	}
	return ErrNotReady
}

// selfTestTolerance bounds how far a recomputed example probability may be
// from the stored one. The same code on the same platform gives the same bits;
// the slack covers other platforms fusing multiply-adds.
const selfTestTolerance = 1e-9

// decodeVersion checks a version's files, already checked against its
// manifest, and makes them the snapshot a Store serves: the metadata, the
// schema, the model (of its family) and the stored examples recomputed by
// the code that will serve them.
func decodeVersion(id string, files map[string][]byte) (*servingVersion, error) {
	corrupt := func(format string, a ...any) error {
		return fmt.Errorf("load version %s: %s: %w", id, fmt.Sprintf(format, a...), ErrCorruptVersion)
	}
	metaJSON, modelJSON := files[metadataFile], files[modelFile]
	var meta Metadata
	if err := decodeStrict(metaJSON, &meta); err != nil {
		return nil, corrupt("%s: %v", versionRel(id, metadataFile), err)
	}
	switch {
	case meta.SchemaVersion != SchemaVersion:
		return nil, corrupt("metadata schema_version %q, want %q", meta.SchemaVersion, SchemaVersion)
	case meta.ModelVersionID != id:
		return nil, corrupt("metadata names version %q", truncate(meta.ModelVersionID, 80))
	case len(meta.Examples) == 0:
		return nil, corrupt("metadata has no self-test examples")
	}
	sum := sha256.Sum256(modelJSON) // the manifest checked it too; the two must agree
	if got := hex.EncodeToString(sum[:]); got != meta.ModelSHA256 {
		return nil, corrupt("%s has SHA-256 %s, metadata says %s", modelFile, got, meta.ModelSHA256)
	}
	schema, err := versionSchema(files)
	if err != nil {
		return nil, corrupt("%s: %v", versionRel(id, schemaFile), err)
	}
	if meta.FeatureSchemaVersion != schema.ID() {
		return nil, corrupt("feature schema %q, its schema is %q", truncate(meta.FeatureSchemaVersion, 120), schema.ID())
	}
	m, err := decodeModel(modelJSON, schema, meta.ModelFamily)
	if err != nil {
		return nil, corrupt("%s: %v", versionRel(id, modelFile), err)
	}
	cols := columnsOf(schema)
	row := make([]float64, len(cols.cols))
	for i, ex := range meta.Examples {
		if err := cols.exampleRow(&ex, row); err != nil {
			return nil, corrupt("self-test example %d: %v", i, err)
		}
		// The code that will serve: a checked row, the model's LogOdds.
		got := model.Sigmoid(m.LogOdds(row))
		if !(math.Abs(got-ex.Probability) <= selfTestTolerance) {
			return nil, corrupt("self-test example %d: model gives %v, trainer recorded %v", i, got, ex.Probability)
		}
	}
	v := &servingVersion{id: id, schema: schema, columns: cols, model: m, meta: &meta, metaJSON: metaJSON, loadedAt: time.Now()}
	v.drift, v.driftOff = newDriftCounter(meta.Drift, cols)
	return v, nil
}

// decodeModel decodes model.json for rows of schema. Its "family" field
// (absent: logistic, as every model.json written before families) picks
// the decoder; metadata's model_family, when given, must agree.
func decodeModel(data []byte, schema *Schema, family string) (model.Model, error) {
	if err := strictjson.CheckDuplicates(data); err != nil {
		return nil, err
	}
	named := model.FamilyLogistic
	o := strictjson.NewObject(data)
	for o.Next() {
		if string(o.Key()) == "family" {
			s, ok := strictjson.String(o.Value())
			if !ok {
				return nil, fmt.Errorf(`"family" is not a string`)
			}
			named = string(s)
		}
	}
	if !o.Valid() {
		return nil, fmt.Errorf("malformed JSON: %v", json.Unmarshal(data, new(any)))
	}
	if family != "" && family != named {
		return nil, fmt.Errorf("a %s model, where metadata says %s", truncate(named, 40), truncate(family, 40))
	}
	switch named {
	case model.FamilyLogistic:
		return model.DecodeLogistic(data, schema.layout())
	case gbdt.Family:
		return trees.Decode(data, schema.layout())
	}
	return nil, fmt.Errorf("model family %q is not one this build serves", truncate(named, 40))
}

// versionSchema returns a version's schema: its schema.json, resolved, or
// DefaultSchema for a version written before versions carried one.
func versionSchema(files map[string][]byte) (*Schema, error) {
	data, ok := files[schemaFile]
	if !ok {
		return defaultSchema(), nil
	}
	s, err := ParseSchema(data)
	if err != nil {
		return nil, err
	}
	if !s.Resolved() {
		return nil, fmt.Errorf("a category feature has no categories")
	}
	if s.IsDefault() {
		return defaultSchema(), nil
	}
	return s, nil
}
