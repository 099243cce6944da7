package mlservice

// Encoding rows of a declared schema for the model: numbers standardized,
// categories one-hot (as codes), and the model compiled for that encoding.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"

	"github.com/mlservice/mlservice/model"
)

// Row is one row of model inputs under a schema other than the default:
// Numbers holds the number and binary features and Categories the category
// features' values, each in schema order. (Under the default schema,
// Features is the typed row.)
type Row struct {
	Numbers    []float64
	Categories []string
}

// tableLinear is a model compiled for a schema's encoding: the number
// weights divided by their scales once, each number's rules compiled to a
// range, and each category feature's one-hot weights looked up by value.
// Training's scoring, the self-test and serving all sum in the same order
// (sumNumbers), so they agree bit for bit.
type tableLinear struct {
	nums []tableNum
	cats []tableCat
	// Flat copies of the numbers' fields for the hot path.
	weight, mean, lo, hi []float64
	binary               []bool
	slow                 []bool // a rule the range cannot express: validator judges every value
	recheck              []int  // the numbers that are binary or slow
	intercept            float64
}

type tableNum struct {
	name string
	tag  string
}

type tableCat struct {
	name   string
	index  catIndex
	weight []float64
	ignore bool
	rules  string
	values int
}

// compileTable compiles m for schema s (resolved), after checking that the
// model's columns are the schema's encoding.
func compileTable(s *Schema, m *model.Model) (*tableLinear, error) {
	if !s.Resolved() {
		return nil, fmt.Errorf("schema %s has a category feature without categories", s.ID())
	}
	names := s.EncodedNames()
	if !slices.Equal(m.Features, names) {
		return nil, fmt.Errorf("model columns %s do not match the schema's encoding %s",
			truncate(fmt.Sprint(m.Features), 200), truncate(fmt.Sprint(names), 200))
	}
	t := &tableLinear{intercept: m.Intercept}
	j := 0
	for i := range s.Features {
		f := &s.Features[i]
		if f.Type == TypeCategory {
			continue
		}
		tag := f.effectiveTag()
		t.nums = append(t.nums, tableNum{name: f.Name, tag: tag})
		t.weight = append(t.weight, m.Coef[j]/m.Scale[j])
		t.mean = append(t.mean, m.Mean[j])
		r := compileRule("required,number," + tag)
		lo, hi := math.Inf(-1), math.Inf(1)
		if r.hasLower {
			lo = r.lower
		}
		if r.hasUpper {
			hi = r.upper
		}
		if r.maxAbs {
			lo, hi = math.Max(lo, -MaxAbsValue), math.Min(hi, MaxAbsValue)
		}
		if r.binary {
			lo, hi = math.Max(lo, 0), math.Min(hi, 1)
		}
		t.lo, t.hi = append(t.lo, lo), append(t.hi, hi)
		t.binary = append(t.binary, r.binary)
		t.slow = append(t.slow, !r.exact)
		if r.binary || !r.exact {
			t.recheck = append(t.recheck, j)
		}
		j++
	}
	for i := range s.Features {
		f := &s.Features[i]
		if f.Type != TypeCategory {
			continue
		}
		c := tableCat{name: f.Name, index: newCatIndex(f.Categories), ignore: f.Unknown == UnknownIgnore,
			rules: f.Rules, values: len(f.Categories)}
		for range f.Categories {
			// One-hot columns have mean 0 and scale 1: coef/1·(1−0).
			c.weight = append(c.weight, m.Coef[j]/m.Scale[j]*(1-m.Mean[j]))
			j++
		}
		t.cats = append(t.cats, c)
	}
	return t, nil
}

// sumNumbers returns Σ weight[j]·(x(j) − mean[j]) in a fixed order: four
// running sums (j mod 4), added at the end. Four independent chains of
// multiply-adds run four times as fast as one.
func sumNumbers(weight, mean []float64, x func(j int) float64) float64 {
	var z0, z1, z2, z3 float64
	n := len(weight)
	j := 0
	for ; j+3 < n; j += 4 {
		z0 += weight[j] * (x(j) - mean[j])
		z1 += weight[j+1] * (x(j+1) - mean[j+1])
		z2 += weight[j+2] * (x(j+2) - mean[j+2])
		z3 += weight[j+3] * (x(j+3) - mean[j+3])
	}
	for ; j < n; j++ {
		z0 += weight[j] * (x(j) - mean[j])
	}
	return (z0 + z1) + (z2 + z3)
}

// decisionAt scores row i of a table dataset.
func (t *tableLinear) decisionAt(ds *Dataset, i int) float64 {
	z := t.intercept + sumNumbers(t.weight, t.mean, func(j int) float64 { return ds.Num[j][i] })
	for k := range t.cats {
		if code := ds.Cat[k][i]; code >= 0 {
			z += t.cats[k].weight[code]
		}
	}
	return z
}

// predictRow checks r and scores it. It allocates only when it returns an
// error (or, for a rule the range cannot express, when validator does).
func (t *tableLinear) predictRow(r *Row) (label int, p float64, err error) {
	if len(r.Numbers) != len(t.weight) || len(r.Categories) != len(t.cats) {
		return 0, 0, inputError("row", fmt.Sprintf("has %d numbers and %d categories, the schema %d and %d",
			len(r.Numbers), len(r.Categories), len(t.weight), len(t.cats)))
	}
	x := r.Numbers
	n := len(x)
	weight, mean, lo, hi := t.weight[:n], t.mean[:n], t.lo[:n], t.hi[:n]
	var z0, z1, z2, z3 float64
	j := 0
	for ; j+3 < n; j += 4 {
		v0, v1, v2, v3 := x[j], x[j+1], x[j+2], x[j+3]
		if !(v0 >= lo[j] && v0 <= hi[j] && v1 >= lo[j+1] && v1 <= hi[j+1] &&
			v2 >= lo[j+2] && v2 <= hi[j+2] && v3 >= lo[j+3] && v3 <= hi[j+3]) {
			break
		}
		z0 += weight[j] * (v0 - mean[j])
		z1 += weight[j+1] * (v1 - mean[j+1])
		z2 += weight[j+2] * (v2 - mean[j+2])
		z3 += weight[j+3] * (v3 - mean[j+3])
	}
	if j+3 < n || j < n {
		// The tail, or a block with a value out of range: check each value
		// and sum in sumNumbers' order.
		for k := j; k < n; k++ {
			if v := x[k]; !(v >= lo[k] && v <= hi[k]) {
				if reason := numberReason(v, t.nums[k].tag); reason != "" {
					return 0, 0, inputError(t.nums[k].name, reason)
				}
			}
		}
		for ; j+3 < n; j += 4 {
			z0 += weight[j] * (x[j] - mean[j])
			z1 += weight[j+1] * (x[j+1] - mean[j+1])
			z2 += weight[j+2] * (x[j+2] - mean[j+2])
			z3 += weight[j+3] * (x[j+3] - mean[j+3])
		}
		for ; j < n; j++ {
			z0 += weight[j] * (x[j] - mean[j])
		}
	}
	for _, k := range t.recheck {
		if t.binary[k] && x[k] != 0 && x[k] != 1 || t.slow[k] {
			if reason := numberReason(x[k], t.nums[k].tag); reason != "" {
				return 0, 0, inputError(t.nums[k].name, reason)
			}
		}
	}
	z := t.intercept + ((z0 + z1) + (z2 + z3))
	for k := range t.cats {
		c := &t.cats[k]
		code, reason := c.code(r.Categories[k])
		if reason != "" {
			return 0, 0, inputError(c.name, reason)
		}
		if code >= 0 {
			z += c.weight[code]
		}
	}
	if z > 0 {
		label = 1
	}
	return label, model.Sigmoid(z), nil
}

// catIndex maps a category value to its code: an open-addressed table
// hashed with FNV-1a, a few ns for the short strings categories are (a Go
// map takes three times as long, most of it hashing).
type catIndex struct {
	keys  []string
	codes []int32 // -1: empty slot
	mask  uint32
}

func newCatIndex(values []string) catIndex {
	size := uint32(8)
	for size < uint32(2*len(values)) {
		size *= 2
	}
	ix := catIndex{keys: make([]string, size), codes: make([]int32, size), mask: size - 1}
	for i := range ix.codes {
		ix.codes[i] = -1
	}
	for code, v := range values {
		h := fnv1a(v) & ix.mask
		for ix.codes[h] >= 0 {
			h = (h + 1) & ix.mask
		}
		ix.keys[h], ix.codes[h] = v, int32(code)
	}
	return ix
}

func (ix *catIndex) lookup(v string) (int32, bool) {
	h := fnv1a(v) & ix.mask
	for {
		code := ix.codes[h]
		if code < 0 {
			return -1, false
		}
		if ix.keys[h] == v {
			return code, true
		}
		h = (h + 1) & ix.mask
	}
}

func fnv1a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// code returns the code of a category value, -1 for an unknown one the
// schema ignores, or the reason the value is refused.
func (c *tableCat) code(v string) (int32, string) {
	if code, ok := c.index.lookup(v); ok {
		return code, ""
	}
	if v == "" {
		return -1, "required (missing, null or empty)"
	}
	if c.rules != "" {
		if p := ruleProblem(&Problem{}, v, c.rules); p != nil {
			return -1, fmt.Sprintf("%q: %s", v, p.Reason)
		}
	}
	if c.ignore {
		return -1, ""
	}
	return -1, fmt.Sprintf("unknown category %q (the model knows %d values of %s)", truncate(v, 80), c.values, c.name)
}

// numberReason says why v breaks tag, or "" if it does not.
func numberReason(v float64, tag string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "must be a finite number"
	}
	if p := ruleProblem(&Problem{}, v, tag); p != nil {
		return fmt.Sprintf("%s, not %v", p.Reason, v)
	}
	return ""
}

// okValue is fastRule.ok for a number.
func (r fastRule) okValue(v float64) bool {
	c := cell(v)
	return !math.IsNaN(v) && r.ok(&c)
}

// trainTable is Train for a dataset under a declared schema.
func trainTable(ctx context.Context, ds *Dataset, opts TrainOptions, start time.Time) (*Candidate, error) {
	s := ds.Schema
	if !s.Resolved() {
		return nil, fmt.Errorf("train: schema %s has a category feature without categories: %w", s.ID(), ErrInvalidData)
	}
	if err := checkTable(ds, s, "training"); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if opts.Eval != nil {
		if err := checkTable(opts.Eval, s, "evaluation"); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	// The parts of metadata.json that grow with the schema are known before
	// the fit: a schema too big to store is refused before the work.
	features, drift := tableStats(ds), newTableProfile(ds)
	if err := checkVersionSize(s, features, drift); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	trainRows, eval, info := splitTable(ds, opts)
	cats := make([]model.Categorical, len(ds.Cat))
	k := 0
	for _, f := range s.Features {
		if f.Type == TypeCategory {
			cats[k] = model.Categorical{Codes: ds.Cat[k], Levels: len(f.Categories)}
			k++
		}
	}
	m, fit, err := model.FitEncoded(ctx, s.EncodedNames(), ds.Num, cats, ds.Y, trainRows,
		model.FitOptions{C: opts.C, Balanced: opts.BalancedClassWeight, Workers: opts.Workers})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	lin, err := compileTable(s, m)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	metrics, err := lin.score(eval)
	if err != nil {
		return nil, fmt.Errorf("train: evaluate: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	scored := ds
	if opts.Eval != nil {
		scored = opts.Eval
	}
	meta := Metadata{
		SchemaVersion:        SchemaVersion,
		Metric:               opts.Rule.metric(metrics),
		Metrics:              metrics,
		TrainingDataFile:     baseName(ds.Source),
		TrainedAt:            time.Now().UTC(),
		FeatureSchemaVersion: s.ID(),
		Data:                 info,
		Features:             features,
		Params:               params(opts, fit, time.Since(start)),
		ModelFile:            modelFile,
		Examples:             lin.examples(scored, opts.Examples),
		Drift:                drift,
	}
	if opts.Eval != nil {
		meta.EvaluationDataFile = baseName(opts.Eval.Source)
	}
	return &Candidate{Model: m, Metadata: meta, Schema: s.clone(), eval: eval, Rule: opts.Rule, AllowSchemaChange: opts.AllowSchemaChange}, nil
}

// checkTable is checkDataset for a table dataset under s.
func checkTable(ds *Dataset, s *Schema, role string) error {
	if ds == nil {
		return fmt.Errorf("no %s dataset: %w", role, ErrInvalidData)
	}
	if ds.Schema == nil || ds.Schema.Hash() != s.Hash() {
		return fmt.Errorf("%s dataset is not under schema %s: %w", role, s.ID(), ErrInvalidData)
	}
	n := len(ds.Y)
	var nums, cats []FeatureSpec
	for _, f := range s.Features {
		if f.Type == TypeCategory {
			cats = append(cats, f)
		} else {
			nums = append(nums, f)
		}
	}
	if len(ds.Num) != len(nums) || len(ds.Cat) != len(cats) {
		return fmt.Errorf("%s dataset has %d number and %d category columns, the schema %d and %d: %w",
			role, len(ds.Num), len(ds.Cat), len(nums), len(cats), ErrInvalidData)
	}
	for j, col := range ds.Num {
		if len(col) != n {
			return fmt.Errorf("%s dataset column %s has %d rows, target has %d: %w", role, nums[j].Name, len(col), n, ErrInvalidData)
		}
		for i, v := range col {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s dataset row %d: %s is %v: %w", role, i, nums[j].Name, v, ErrInvalidData)
			}
		}
	}
	for k, col := range ds.Cat {
		if len(col) != n {
			return fmt.Errorf("%s dataset column %s has %d rows, target has %d: %w", role, cats[k].Name, len(col), n, ErrInvalidData)
		}
		for i, c := range col {
			if int(c) >= len(cats[k].Categories) || c < -1 {
				return fmt.Errorf("%s dataset row %d: %s has code %d of %d categories: %w", role, i, cats[k].Name, c, len(cats[k].Categories), ErrInvalidData)
			}
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
	return nil
}

// splitTable is split for a table dataset.
func splitTable(ds *Dataset, opts TrainOptions) (trainRows []bool, eval *Dataset, info DataInfo) {
	info = DataInfo{SHA256: ds.SHA256, Rows: ds.Len(), ClassCounts: ds.ClassCounts()}
	if opts.Eval != nil {
		info.Split, info.EvalSHA256 = "file", opts.Eval.SHA256
		info.TrainRows, info.EvalRows = ds.Len(), opts.Eval.Len()
		return nil, opts.Eval, info
	}
	test := stratifiedTestRows(ds.Y, opts.TestFraction, opts.Seed)
	trainRows = make([]bool, len(test))
	eval = &Dataset{Source: ds.Source, SHA256: ds.SHA256, Schema: ds.Schema,
		Num: make([][]float64, len(ds.Num)), Cat: make([][]int32, len(ds.Cat))}
	for i, t := range test {
		trainRows[i] = !t
		if t {
			for j := range ds.Num {
				eval.Num[j] = append(eval.Num[j], ds.Num[j][i])
			}
			for k := range ds.Cat {
				eval.Cat[k] = append(eval.Cat[k], ds.Cat[k][i])
			}
			eval.Y = append(eval.Y, ds.Y[i])
		}
	}
	info.Split, info.TestFraction, info.Seed = "stratified", opts.TestFraction, opts.Seed
	info.TrainRows, info.EvalRows = ds.Len()-eval.Len(), eval.Len()
	return trainRows, eval, info
}

// score evaluates the compiled model on every row of eval.
func (t *tableLinear) score(eval *Dataset) (Metrics, error) {
	p := make([]float64, eval.Len())
	for i := range p {
		p[i] = model.Sigmoid(t.decisionAt(eval, i))
	}
	return model.Evaluate(eval.Y, p, nil)
}

// examples picks up to n self-test rows spread over ds, skipping rows with
// an ignored unknown category (their value is not kept), with their
// probabilities.
func (t *tableLinear) examples(ds *Dataset, n int) []Example {
	s := ds.Schema
	n = min(n, ds.Len())
	out := make([]Example, 0, n)
	for k := range n {
		i := k * ds.Len() / n
		for ; i < ds.Len() && slices.ContainsFunc(ds.Cat, func(c []int32) bool { return c[i] < 0 }); i++ {
		}
		if i == ds.Len() {
			break
		}
		values := map[string]any{}
		nj, ck := 0, 0
		for _, f := range s.Features {
			if f.Type == TypeCategory {
				values[f.Name] = f.Categories[ds.Cat[ck][i]]
				ck++
			} else {
				values[f.Name] = ds.Num[nj][i]
				nj++
			}
		}
		out = append(out, Example{Values: values, Probability: model.Sigmoid(t.decisionAt(ds, i))})
	}
	return out
}

// exampleRow turns a self-test example's values back into a Row under s.
func exampleRow(s *Schema, values map[string]any) (Row, error) {
	var r Row
	for _, f := range s.Features {
		v, ok := values[f.Name]
		if !ok {
			return r, fmt.Errorf("example has no %s", f.Name)
		}
		switch x := v.(type) {
		case float64:
			if f.Type == TypeCategory {
				return r, fmt.Errorf("example's %s is a number", f.Name)
			}
			r.Numbers = append(r.Numbers, x)
		case string:
			if f.Type != TypeCategory {
				return r, fmt.Errorf("example's %s is a string", f.Name)
			}
			r.Categories = append(r.Categories, x)
		default:
			return r, fmt.Errorf("example's %s is %T", f.Name, v)
		}
	}
	return r, nil
}

// tableStats is featureStats for the number and binary features of a table.
func tableStats(ds *Dataset) []FeatureStats {
	var names []string
	for _, f := range ds.Schema.Features {
		if f.Type != TypeCategory {
			names = append(names, f.Name)
		}
	}
	out := make([]FeatureStats, len(ds.Num))
	var wg sync.WaitGroup
	for j, col := range ds.Num {
		wg.Go(func() {
			mean, std := stat.PopMeanStdDev(col, nil)
			out[j] = FeatureStats{Name: names[j], Mean: mean, Std: std, Min: floats.Min(col), Max: floats.Max(col)}
		})
	}
	wg.Wait()
	return out
}

// checkVersionSize refuses, before training, a schema whose version files
// could not be written: schema.json, or metadata.json's per-feature parts
// alone (the rest of it is small and bounded), over the size every version
// file is held to.
func checkVersionSize(s *Schema, features []FeatureStats, drift *DriftProfile) error {
	if n := len(s.MarshalIndent()); n >= maxVersionFileSize {
		return fmt.Errorf("%s would have %d bytes, the limit is %d: the schema has %d categories in all; declare fewer (merge rare values): %w",
			schemaFile, n, maxVersionFileSize, countCategories(s), ErrInvalidData)
	}
	part, err := json.MarshalIndent(Metadata{Features: features, Drift: drift}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	if len(part) >= maxVersionFileSize {
		return fmt.Errorf("%s would have over %d bytes, the limit is %d: the schema has %d categories in all; declare fewer (merge rare values): %w",
			metadataFile, len(part), maxVersionFileSize, countCategories(s), ErrInvalidData)
	}
	return nil
}

func countCategories(s *Schema) int {
	n := 0
	for _, f := range s.Features {
		n += len(f.Categories)
	}
	return n
}
