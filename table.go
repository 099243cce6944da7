package mlservice

// Validating a CSV file under a declared schema: the generic path beside
// the default schema's typed one (validate.go, csvread.go), which stays as
// it is for speed. The rules are the schema's, run by the same validator.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-playground/validator/v10"
)

// ValidateTableFile validates the CSV file at path under schema s; see
// ValidateTable.
func ValidateTableFile(ctx context.Context, path string, s *Schema) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	defer f.Close()
	ds, err := ValidateTable(ctx, f, s)
	if err != nil {
		var verr *ValidationError
		if errors.As(err, &verr) {
			verr.Source = path
		}
		return nil, err
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	ds.Source = path
	return ds, nil
}

// ValidateTable reads a CSV file from r and checks it against schema s
// (nil or DefaultSchema: exactly Validate). The header must name every
// feature and the target column, in any order; other columns are ignored.
// In every row: no null; number and binary cells are numbers within
// MaxAbsValue that pass the feature's rules (binary: 0 or 1); category cells
// pass the feature's rules and, when the schema declares categories, are one
// of them (unless the feature's unknown is "ignore": the row's encoding is
// then all zeros); the target is the positive or the negative label. A
// feature with no declared categories learns them from the rows, sorted, at
// most MaxCategories. Problems are reported as Validate reports them, each
// with its line, column, value and rule.
//
// The returned Dataset's Schema is s resolved: learned categories filled in.
// Its rows are in Num and Cat, not X.
func ValidateTable(ctx context.Context, r io.Reader, s *Schema) (*Dataset, error) {
	if s.IsDefault() {
		return Validate(ctx, r)
	}
	if err := s.check(); err != nil { // a Schema built in code never met ParseSchema
		return nil, err
	}
	r, _, stop, err := cancellableInput(ctx, r)
	if err != nil {
		return nil, err
	}
	defer stop()
	ds, err := validateTable(ctx, r, s)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("validate: %w", ctx.Err())
	}
	return ds, err
}

// tableColumn is how one schema feature is read.
type tableColumn struct {
	spec  *FeatureSpec
	index int      // position in the header
	slot  int      // index into Num or Cat
	fast  fastRule // the rules compiled, for numbers
	tag   string   // the effective rule tag validator checks
	// categories: value → code. Declared: the declared order; learned: the
	// order of first appearance until resolve sorts them.
	codes   map[string]int32
	values  []string
	checked map[string]bool // category values that passed the rules
	learn   bool
	full    bool // learned MaxCategories and refused a further value
}

type tableProblems struct {
	list  []Problem
	total int
}

func (p *tableProblems) add(pr Problem) {
	if len(p.list) < MaxProblems {
		p.list = append(p.list, pr)
	}
	p.total++
}

func validateTable(ctx context.Context, r io.Reader, s *Schema) (*Dataset, error) {
	sha := sha256.New()
	sp := &splitter{r: io.TeeReader(r, sha), buf: make([]byte, 0, blockSize)}
	header, headerLine, err := sp.header()
	if err != nil {
		return nil, err
	}
	if len(header) == 0 {
		return nil, &ValidationError{Total: 1, Problems: []Problem{{Rule: "header", Reason: "the file is empty; a header line and data rows are required"}}}
	}
	cols, target, probs := tableHeader(header, s)
	if len(probs) > 0 {
		return nil, &ValidationError{Total: len(probs), Problems: probs[:min(len(probs), MaxProblems)]}
	}
	ds := &Dataset{Schema: s.clone()}
	for _, c := range cols {
		if c.spec.Type == TypeCategory {
			ds.Cat = append(ds.Cat, nil)
		} else {
			ds.Num = append(ds.Num, nil)
		}
	}

	cr := csv.NewReader(newRecordLimiter(io.MultiReader(bytes.NewReader(sp.buf), sp.r)))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = len(header)
	var pr tableProblems
	for n := 0; ; n++ {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var long *errLineTooLong
			if errors.As(err, &long) {
				p := long.problem()
				p.Line += headerLine
				pr.add(p)
				break // nothing after it can be read
			}
			var perr *csv.ParseError
			if !errors.As(err, &perr) {
				return nil, fmt.Errorf("read csv: %w", err)
			}
			pr.add(Problem{Line: headerLine + perr.StartLine, Rule: "csv", Reason: csvReason(err)})
			if !errors.Is(perr.Err, csv.ErrFieldCount) {
				break // the reader cannot resynchronize after a quote error
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		line += headerLine
		before := pr.total
		for _, c := range cols {
			c.read(ds, rec[c.index], line, &pr)
		}
		label := strings.TrimSpace(rec[target])
		var y uint8
		switch label {
		case s.Target.Positive:
			y = 1
		case s.Target.Negative:
		default:
			p := Problem{Line: line, Column: s.Target.Column, Value: rec[target], Rule: "label",
				Reason: fmt.Sprintf("must be %q (positive) or %q (negative)", s.Target.Positive, s.Target.Negative)}
			if label == "" || isNullToken(label) {
				p.Rule, p.Reason = "required", ruleReason("required", "")
			}
			pr.add(p)
		}
		if pr.total > before {
			// The row's cells were appended as they were read: drop them.
			ds.truncate(len(ds.Y))
			continue
		}
		ds.Y = append(ds.Y, y)
	}
	if pr.total > 0 {
		return nil, &ValidationError{Problems: pr.list, Total: pr.total}
	}
	for _, c := range cols {
		c.resolve(ds)
	}
	if err := ds.checkRows(); err != nil {
		return nil, err
	}
	ds.SHA256 = hex.EncodeToString(sha.Sum(nil))
	return ds, nil
}

// tableHeader maps the schema to header positions, reporting duplicated
// names and every missing column.
func tableHeader(header []string, s *Schema) ([]*tableColumn, int, []Problem) {
	var probs []Problem
	index := map[string]int{}
	for i, h := range header {
		if _, dup := index[h]; dup {
			probs = append(probs, Problem{Line: 1, Column: h, Rule: "duplicate column", Reason: "the column name appears more than once in the header"})
			continue
		}
		index[h] = i
	}
	var cols []*tableColumn
	nums, cats := 0, 0
	for i := range s.Features {
		f := &s.Features[i]
		at, ok := index[f.Name]
		if !ok {
			probs = append(probs, Problem{Line: 1, Column: f.Name, Rule: "missing column", Reason: "required column is not in the header"})
			continue
		}
		c := &tableColumn{spec: f, index: at, tag: f.effectiveTag()}
		if f.Type == TypeCategory {
			c.slot, cats = cats, cats+1
			c.codes, c.checked = map[string]int32{}, map[string]bool{}
			c.values = slices.Clone(f.Categories)
			for k, v := range f.Categories {
				c.codes[v] = int32(k)
			}
			c.learn = len(f.Categories) == 0
		} else {
			c.slot, nums = nums, nums+1
			c.fast = compileRule("required,number," + c.tag)
		}
		cols = append(cols, c)
	}
	target, ok := index[s.Target.Column]
	if !ok {
		probs = append(probs, Problem{Line: 1, Column: s.Target.Column, Rule: "missing column", Reason: "required column (the target) is not in the header"})
	}
	return cols, target, probs
}

// read checks one cell and appends its value to ds.
func (c *tableColumn) read(ds *Dataset, raw string, line int, pr *tableProblems) {
	if c.spec.Type == TypeCategory {
		code, p := c.category(raw)
		if p != nil {
			p.Line = line
			pr.add(*p)
		}
		ds.Cat[c.slot] = append(ds.Cat[c.slot], code)
		return
	}
	var v cell
	_ = v.UnmarshalCSV(raw) // never fails: the kind says what it holds
	if !c.fast.ok(&v) {
		if p := c.numberProblem(v, raw); p != nil {
			p.Line = line
			pr.add(*p)
		}
	}
	ds.Num[c.slot] = append(ds.Num[c.slot], v.value())
}

// numberProblem asks validator what is wrong with a number cell that failed
// the fast rule (nil if nothing: a rule the fast path does not compile).
func (c *tableColumn) numberProblem(v cell, raw string) *Problem {
	p := &Problem{Column: c.spec.Name, Value: raw}
	switch v.kind() {
	case cellNull:
		p.Rule, p.Reason = "required", ruleReason("required", "")
		return p
	case cellText:
		p.Rule, p.Reason = "number", ruleReason("number", "")
		return p
	}
	return ruleProblem(p, v.value(), c.tag)
}

// ruleProblem runs validator on value with tag and fills p with the rule
// it breaks, or returns nil when none is.
func ruleProblem(p *Problem, value any, tag string) *Problem {
	if tag == "" {
		return nil
	}
	err := theContract().validate.Var(value, tag)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) || len(verrs) == 0 {
		p.Rule, p.Reason = "validate", err.Error()
		return p
	}
	fe := verrs[0]
	p.Rule, p.Reason = fe.Tag(), ruleReason(fe.Tag(), fe.Param())
	if fe.Param() != "" {
		p.Rule += "=" + fe.Param()
	}
	return p
}

// category returns a category cell's code, or a problem.
func (c *tableColumn) category(raw string) (int32, *Problem) {
	v := strings.TrimSpace(raw)
	if code, ok := c.codes[v]; ok {
		return code, nil
	}
	if v == "" || isNullToken(v) {
		return -1, &Problem{Column: c.spec.Name, Value: raw, Rule: "required", Reason: ruleReason("required", "")}
	}
	if !c.checked[v] && c.spec.Rules != "" {
		if p := ruleProblem(&Problem{Column: c.spec.Name, Value: raw}, v, c.spec.Rules); p != nil {
			return -1, p
		}
	}
	if !c.learn {
		if c.spec.Unknown == UnknownIgnore {
			return -1, nil
		}
		return -1, &Problem{Column: c.spec.Name, Value: raw, Rule: "category",
			Reason: fmt.Sprintf("not one of the %d declared categories", len(c.values))}
	}
	if len(c.values) >= MaxCategories {
		p := &Problem{Column: c.spec.Name, Value: raw, Rule: "categories",
			Reason: fmt.Sprintf("more than %d distinct values (MaxCategories): declare the categories, or make it a number", MaxCategories)}
		if c.full {
			p.Reason = fmt.Sprintf("another value beyond the first %d", MaxCategories)
		}
		c.full = true
		return -1, p
	}
	code := int32(len(c.values))
	c.values = append(c.values, v)
	c.codes[v] = code
	return code, nil
}

// resolve sorts learned categories, recodes the column to match, and writes
// them into the dataset's schema.
func (c *tableColumn) resolve(ds *Dataset) {
	if c.spec.Type != TypeCategory {
		return
	}
	if c.learn {
		sorted := slices.Clone(c.values)
		slices.Sort(sorted)
		recode := make([]int32, len(c.values))
		for k, v := range sorted {
			recode[c.codes[v]] = int32(k)
		}
		col := ds.Cat[c.slot]
		for i, code := range col {
			if code >= 0 {
				col[i] = recode[code]
			}
		}
		c.values = sorted
	}
	for i := range ds.Schema.Features {
		if ds.Schema.Features[i].Name == c.spec.Name {
			ds.Schema.Features[i].Categories = c.values
		}
	}
}

// truncate drops every row past n from a table dataset's columns.
func (d *Dataset) truncate(n int) {
	for j := range d.Num {
		d.Num[j] = d.Num[j][:min(n, len(d.Num[j]))]
	}
	for j := range d.Cat {
		d.Cat[j] = d.Cat[j][:min(n, len(d.Cat[j]))]
	}
}
