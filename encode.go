package mlservice

// Encoding rows of a declared schema for the model: numbers standardized,
// categories one-hot (as codes), and the model compiled for that encoding.

import (
	"context"
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
// weights divided by their scales once, and each category feature's one-hot
// weights looked up by value. It computes what model.Model.Decision computes
// on the encoded row, in the same order, so the bits agree.
type tableLinear struct {
	nums      []tableNum
	cats      []tableCat
	intercept float64
}

type tableNum struct {
	name         string
	weight, mean float64
	fast         fastRule
	tag          string
}

type tableCat struct {
	name   string
	codes  map[string]int32
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
		t.nums = append(t.nums, tableNum{name: f.Name, weight: m.Coef[j] / m.Scale[j], mean: m.Mean[j],
			fast: compileRule("required,number," + tag), tag: tag})
		j++
	}
	for i := range s.Features {
		f := &s.Features[i]
		if f.Type != TypeCategory {
			continue
		}
		c := tableCat{name: f.Name, codes: make(map[string]int32, len(f.Categories)), ignore: f.Unknown == UnknownIgnore,
			rules: f.Rules, values: len(f.Categories)}
		for k, v := range f.Categories {
			c.codes[v] = int32(k)
			// One-hot columns have mean 0 and scale 1: coef/1·(1−0).
			c.weight = append(c.weight, m.Coef[j]/m.Scale[j]*(1-m.Mean[j]))
			j++
		}
		t.cats = append(t.cats, c)
	}
	return t, nil
}

// decision scores a row given as numbers and category codes (-1: none).
func (t *tableLinear) decision(num []float64, cat []int32) float64 {
	z := t.intercept
	num = num[:len(t.nums)]
	for j := range t.nums {
		z += t.nums[j].weight * (num[j] - t.nums[j].mean)
	}
	cat = cat[:len(t.cats)]
	for k := range t.cats {
		if code := cat[k]; code >= 0 {
			z += t.cats[k].weight[code]
		}
	}
	return z
}

// decisionAt scores row i of a table dataset.
func (t *tableLinear) decisionAt(ds *Dataset, i int) float64 {
	z := t.intercept
	for j := range t.nums {
		z += t.nums[j].weight * (ds.Num[j][i] - t.nums[j].mean)
	}
	for k := range t.cats {
		if code := ds.Cat[k][i]; code >= 0 {
			z += t.cats[k].weight[code]
		}
	}
	return z
}

// predictRow checks r and scores it. It allocates only when it returns an
// error.
func (t *tableLinear) predictRow(r *Row) (label int, p float64, err error) {
	if len(r.Numbers) != len(t.nums) || len(r.Categories) != len(t.cats) {
		return 0, 0, inputError("row", fmt.Sprintf("has %d numbers and %d categories, the schema %d and %d",
			len(r.Numbers), len(r.Categories), len(t.nums), len(t.cats)))
	}
	z := t.intercept
	for j := range t.nums {
		n := &t.nums[j]
		v := r.Numbers[j]
		if !n.fast.okValue(v) {
			if reason := numberReason(v, n.tag); reason != "" {
				return 0, 0, inputError(n.name, reason)
			}
		}
		z += n.weight * (v - n.mean)
	}
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

// code returns the code of a category value, -1 for an unknown one the
// schema ignores, or the reason the value is refused.
func (c *tableCat) code(v string) (int32, string) {
	if code, ok := c.codes[v]; ok {
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
	if err := checkTable(ds, s, "training"); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if opts.Eval != nil {
		if err := checkTable(opts.Eval, s, "evaluation"); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
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
		Metric:               Metric{Name: "f1", Value: metrics.F1},
		Metrics:              metrics,
		TrainingDataFile:     baseName(ds.Source),
		TrainedAt:            time.Now().UTC(),
		FeatureSchemaVersion: s.ID(),
		Data:                 info,
		Features:             tableStats(ds),
		Params:               params(opts, fit, time.Since(start)),
		ModelFile:            modelFile,
		Examples:             lin.examples(scored, opts.Examples),
	}
	if opts.Eval != nil {
		meta.EvaluationDataFile = baseName(opts.Eval.Source)
	}
	return &Candidate{Model: m, Metadata: meta, Schema: s.clone(), eval: eval}, nil
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
