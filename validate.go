package mlservice

// Validate: a CSV file → a Dataset under a schema, every problem named
// with its line, column, value and rule. One path for every schema, the
// default one included: the input is cut into blocks of whole records
// (internal/csvsplit), decoded and checked on every core, and put back in
// order.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/mlservice/mlservice/internal/catindex"
	"github.com/mlservice/mlservice/internal/csvsplit"
)

// MaxLineBytes caps one record of a CSV file, the header included: a line,
// or several inside a quoted field. A file with a longer one (a binary file,
// /dev/zero, a header with no end) is refused at that line, rather than read
// into memory without limit.
const MaxLineBytes = 4 << 20

// Dataset is a validated CSV file, column by column: one column per
// feature of its schema, in schema order, each value as a model reads it
// (see package model): a number as it is, a category as its code (its index
// in the feature's Categories), -1 for a value the schema ignores
// ("unknown": "ignore"), NaN for a missing value of a feature that may be
// missing ("missing": true).
type Dataset struct {
	// Schema is the table the rows follow, resolved (learned categories
	// filled in). Nil means DefaultSchema.
	Schema *Schema
	// X[j] holds feature j of Schema for every row.
	X [][]float64
	// Y holds each row's target: 1 for the positive label, 0 for the
	// negative.
	Y []uint8
	// Source is the file the rows came from ("" for a reader).
	Source string
	// SHA256 is the hex SHA-256 of the bytes read.
	SHA256 string
}

// Len returns the number of rows.
func (d *Dataset) Len() int { return len(d.Y) }

// Row returns row i of a dataset under the default schema.
func (d *Dataset) Row(i int) Features {
	return Features{d.X[0][i], d.X[1][i], d.X[2][i], d.X[3][i], d.X[4][i]}
}

// ClassCounts returns how many rows have target 0 and 1.
func (d *Dataset) ClassCounts() [2]int {
	var c [2]int
	for _, y := range d.Y {
		c[y&1]++
	}
	return c
}

// schema returns the dataset's schema: Schema, or DefaultSchema.
func (d *Dataset) schema() *Schema {
	if d.Schema == nil {
		return defaultSchema()
	}
	return d.Schema
}

// ValidateFile validates the CSV file at path; see Validate. A named pipe
// or a device works too: the file is opened and read once.
func ValidateFile(ctx context.Context, path string) (*Dataset, error) {
	return ValidateTableFile(ctx, path, nil)
}

// Validate reads a CSV file from r and checks it against the data contract,
// DefaultSchema: a header naming at least the columns age, income,
// account_balance, transactions_last_30d, is_premium and target, in any
// order (others are ignored); in every row, no null, numbers that parse, no
// magnitude above MaxAbsValue, age and transactions_last_30d not negative,
// is_premium and target 0 or 1; both classes present with at least
// MinRowsPerClass rows each. UTF-8 with or without a byte order mark, LF or
// CRLF line ends and quoted fields are accepted. It is ValidateTable under
// DefaultSchema.
//
// A file that breaks the contract yields a *ValidationError listing every
// problem with its line, column, value and rule (up to MaxProblems, and the
// count of the rest); an I/O error is returned as is.
//
// Validate checks ctx before every read and every block of rows, and
// returns ctx.Err() (wrapped) once it is done. When r is an *os.File that is
// not a regular file (a pipe, a terminal), a Read blocked on it cannot be
// interrupted, so Validate reads it from a goroutine and returns at once;
// that goroutine ends with the pending Read. For other readers a cancelled
// ctx takes effect when the current Read returns.
func Validate(ctx context.Context, r io.Reader) (*Dataset, error) {
	return ValidateTable(ctx, r, nil)
}

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
// (nil: DefaultSchema, as Validate). The header must name every feature
// and the target column, in any order; other columns are ignored. In every
// row: no null; number and binary cells are numbers within MaxAbsValue that
// pass the feature's rules (binary: 0 or 1); category cells pass the
// feature's rules and, when the schema declares categories, are one of them
// (unless the feature's unknown is "ignore": the row's code is then -1);
// the target is the positive or the negative label (a number equal to
// either, when both labels are numbers). A feature with no declared
// categories learns them from the rows, sorted, at most MaxCategories.
// Problems are reported as Validate reports them, each with its line,
// column, value and rule; cancellation is as Validate's.
//
// The returned Dataset's Schema is s resolved (learned categories filled
// in), or nil for the default schema.
func ValidateTable(ctx context.Context, r io.Reader, s *Schema) (*Dataset, error) {
	if s.IsDefault() {
		s = nil
	} else if err := s.check(); err != nil { // a Schema built in code never met ParseSchema
		return nil, err
	}
	r, size, stop, err := csvsplit.Input(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	defer stop()
	ds, err := validate(ctx, r, size, s)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("validate: %w", ctx.Err())
	}
	return ds, err
}

// Where the time goes: reading and hashing the bytes is sequential but
// cheap (a few ms per million rows); cutting records and parsing cells is
// about 100 ns a row, so blocks of whole records are decoded on every core
// at once. validator/v10 costs about 1 µs a value, so each value first
// meets its rule compiled to comparisons (a few ns) and only values that
// fail it are handed to validator, whose verdict and wording are reported.
type blockResult struct {
	recs     csvsplit.Records
	x        [][]float64
	y        []uint8
	problems []Problem // the block's first MaxProblems
	total    int       // all problems in the block
	// learned[j] holds the values of learned category feature j first seen
	// in this block, by their codes in x, and first the line of each.
	learned []*catindex.Index
	first   [][]int
	ignored []*catindex.Index // per feature: unknown values that passed the rules
}

func (r *blockResult) add(p Problem) {
	if len(r.problems) < MaxProblems {
		r.problems = append(r.problems, p)
	}
	r.total++
}

// validate runs the steps: header, presizing, the block pipeline, then the
// checks that need every row.
func validate(ctx context.Context, r io.Reader, sizeHint int64, s *Schema) (*Dataset, error) {
	sha := sha256.New()
	sp := csvsplit.NewSplitter(io.TeeReader(r, sha), MaxLineBytes)
	header, headerLines, err := readHeader(sp)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{}
	if s != nil {
		ds.Schema = s.clone()
	}
	p, probs := newCSVPlan(header, ds.schema())
	if len(probs) > 0 {
		return nil, &ValidationError{Total: len(probs), Problems: probs[:min(len(probs), MaxProblems)]}
	}
	ds.X = make([][]float64, len(p.cols.cols))
	grown := ds.presize(sp.Buffered(), sizeHint)
	probs, total, err := p.decodeBlocks(ctx, sp, headerLines+1, ds, grown)
	if err != nil {
		return nil, err
	}
	if total > 0 {
		return nil, &ValidationError{Problems: probs, Total: total}
	}
	p.resolve(ds)
	if err := ds.checkRows(); err != nil {
		return nil, err
	}
	ds.SHA256 = hex.EncodeToString(sha.Sum(nil))
	return ds, nil
}

// readHeader reads the header line: its fields and how many lines it takes,
// or a *ValidationError when there is none or it cannot be read.
func readHeader(sp *csvsplit.Splitter) ([]string, int, error) {
	header, lines, err := sp.Header()
	var he *csvsplit.HeaderError
	switch {
	case errors.As(err, &he):
		return nil, 0, &ValidationError{Total: 1, Problems: []Problem{{Line: 1, Rule: he.Rule, Reason: he.Reason}}}
	case err != nil:
		return nil, 0, fmt.Errorf("read csv: %w", err)
	case len(header) == 0:
		return nil, 0, &ValidationError{Total: 1, Problems: []Problem{{Rule: "header", Reason: "the file is empty; a header line and data rows are required"}}}
	}
	return header, lines, nil
}

// csvPlan is a schema bound to one file's header: where each feature and
// the target are, and how each is read.
type csvPlan struct {
	cols   *columns
	at     []int // per feature: its position in the header
	target int
	fields int
	label  labelRule
	learn  []bool // per feature: a category learning its values from the rows
	// global[j] is learned feature j's values in order of first appearance
	// in the file, as collect merges the blocks.
	global []*catindex.Index
}

// newCSVPlan maps s to header positions, reporting duplicated names and
// every missing column.
func newCSVPlan(header []string, s *Schema) (*csvPlan, []Problem) {
	var probs []Problem
	index := map[string]int{}
	for i, h := range header {
		if _, dup := index[h]; dup {
			probs = append(probs, Problem{Line: 1, Column: h, Rule: "duplicate column", Reason: "the column name appears more than once in the header"})
			continue
		}
		index[h] = i
	}
	p := &csvPlan{cols: columnsOf(s), fields: len(header), label: newLabelRule(s.Target)}
	for _, f := range s.Features {
		at, ok := index[f.Name]
		if !ok {
			probs = append(probs, Problem{Line: 1, Column: f.Name, Rule: "missing column", Reason: "required column is not in the header"})
		}
		learn := f.Type == TypeCategory && len(f.Categories) == 0
		p.at, p.learn = append(p.at, at), append(p.learn, learn)
		var g *catindex.Index
		if learn {
			g = &catindex.Index{}
		}
		p.global = append(p.global, g)
	}
	target, ok := index[s.Target.Column]
	if !ok {
		probs = append(probs, Problem{Line: 1, Column: s.Target.Column, Rule: "missing column", Reason: "required column (the target) is not in the header"})
	}
	p.target = target
	return p, probs
}

// presize grows the columns for the rows the input is expected to hold,
// from its size and the rows per byte of what is already read (sample),
// so they are not copied as they grow and a big file costs its numbers and
// little more. Clearing that memory is mostly page faults (70 ms for a
// million rows on a VM), so it runs beside the first blocks' decoding
// instead of ahead of it; the returned channel closes when it is done.
func (d *Dataset) presize(sample []byte, sizeHint int64) <-chan struct{} {
	grown := make(chan struct{})
	lines := bytes.Count(sample, []byte{'\n'})
	if sizeHint <= 0 || lines == 0 {
		close(grown)
		return grown
	}
	est := int(float64(sizeHint)/float64(len(sample))*float64(lines)*1.02) + 64
	go func() {
		defer close(grown)
		for j := range d.X {
			d.X[j] = slices.Grow(d.X[j], est)
		}
		d.Y = slices.Grow(d.Y, est)
	}()
	return grown
}

// decodeBlocks decodes and checks the blocks on every core and collects
// them into ds in input order, appending rows until the first problem,
// after which problems are only counted. It returns the first MaxProblems
// problems and their total, or a read error or ctx's.
func (p *csvPlan) decodeBlocks(ctx context.Context, sp *csvsplit.Splitter, firstLine int, ds *Dataset, grown <-chan struct{}) ([]Problem, int, error) {
	var probs []Problem
	total := 0
	collect := func(res *blockResult) {
		p.merge(res)
		total += res.total
		if len(probs) < MaxProblems {
			probs = append(probs, res.problems[:min(len(res.problems), MaxProblems-len(probs))]...)
		}
		if total > 0 {
			return
		}
		select {
		case <-grown:
		case <-ctx.Done(): // the rows are dropped anyway
			return
		}
		for j := range ds.X {
			ds.X[j] = append(ds.X[j], res.x[j]...)
		}
		ds.Y = append(ds.Y, res.y...)
	}
	err := csvsplit.Decode(ctx, sp, firstLine, runtime.GOMAXPROCS(0), p.decodeBlock, collect)
	var long *csvsplit.LineTooLongError
	switch {
	case errors.As(err, &long): // the problems before it, then it
		if len(probs) < MaxProblems {
			probs = append(probs, Problem{Line: long.Line, Rule: "line length", Reason: long.Reason()})
		}
		return probs, total + 1, nil
	case ctx.Err() != nil:
		return nil, 0, ctx.Err()
	case err != nil:
		return nil, 0, fmt.Errorf("read csv: %w", err)
	}
	return probs, total, nil
}

// decodeBlock decodes and checks one block of records into res, reusing
// its memory. Once the block has a problem its rows are no longer kept
// (the dataset is lost anyway), only checked.
func (p *csvPlan) decodeBlock(b csvsplit.Block, res *blockResult) {
	n := len(p.cols.cols)
	recs := &res.recs
	res.y, res.problems, res.total = res.y[:0], res.problems[:0], 0
	res.learned, res.first, res.ignored = res.learned[:0], res.first[:0], res.ignored[:0]
	// Rows are rarely under 20 bytes: room for that many, and growing a
	// column is the exception.
	rows := len(b.Data)/20 + 16
	res.x = slices.Grow(res.x[:0], n)[:n]
	for j := range res.x {
		res.x[j] = slices.Grow(res.x[j][:0], rows)
	}
	res.y = slices.Grow(res.y, rows)
	for j := range n {
		var l, ig *catindex.Index
		if p.learn[j] {
			l = &catindex.Index{}
		} else if p.cols.cols[j].spec.Unknown == UnknownIgnore {
			ig = &catindex.Index{}
		}
		res.learned, res.ignored = append(res.learned, l), append(res.ignored, ig)
		res.first = append(res.first, nil)
	}
	vals := make([]float64, n)
	recs.Reset(b.Data, p.fields)
	for recs.Next() {
		line := b.FirstLine + recs.Line() - 1
		if err := recs.Err(); err != nil {
			res.add(Problem{Line: line, Rule: "csv", Reason: csvsplit.Reason(err)})
			continue
		}
		before := res.total
		for j := range n {
			vals[j] = p.cell(j, recs.Field(p.at[j]), line, res)
		}
		pr := Problem{Line: line}
		y, ok := p.label.read(recs.Field(p.target), &pr)
		if !ok {
			res.add(pr)
		}
		if res.total > before || res.total > 0 {
			continue
		}
		for j, v := range vals {
			res.x[j] = append(res.x[j], v)
		}
		res.y = append(res.y, y)
	}
}

// cell reads feature j's cell on a line, adding its problem to res.
func (p *csvPlan) cell(j int, raw []byte, line int, res *blockResult) float64 {
	col := &p.cols.cols[j]
	if col.spec.Type == TypeCategory {
		return p.category(j, raw, line, res)
	}
	v, kind := csvsplit.ParseCell(raw)
	if kind == csvsplit.Number && col.rule.OK(v) {
		return v
	}
	if kind == csvsplit.Null && col.spec.Missing && csvsplit.IsMissing(bytes.TrimSpace(raw)) {
		return math.NaN()
	}
	pr := Problem{Line: line, Column: col.spec.Name, Value: string(raw)}
	switch kind {
	case csvsplit.Null:
		pr.Rule, pr.Reason = "required", ruleReason("required", "")
	case csvsplit.Text:
		pr.Rule, pr.Reason = "number", ruleReason("number", "")
	default:
		if ruleProblem(&pr, v, col.rule.Tag) == nil {
			return v // a rule the comparisons cannot express, passed
		}
	}
	res.add(pr)
	return v
}

// category reads category feature j's cell: its code (a block's own code,
// while the feature learns its values; -1 for an unknown value the schema
// ignores), adding its problem to res.
func (p *csvPlan) category(j int, raw []byte, line int, res *blockResult) float64 {
	col := &p.cols.cols[j]
	t := bytes.TrimSpace(raw)
	var known *catindex.Index
	if known = col.index; p.learn[j] {
		known = res.learned[j]
	}
	if code, ok := known.LookupBytes(t); ok {
		return float64(code)
	}
	if ig := res.ignored[j]; ig != nil {
		if _, ok := ig.LookupBytes(t); ok {
			return -1
		}
	}
	f := col.spec
	pr := Problem{Line: line, Column: f.Name, Value: string(raw)}
	if f.Missing && csvsplit.IsMissing(t) {
		return math.NaN()
	}
	if len(t) == 0 || csvsplit.IsNull(t) {
		pr.Rule, pr.Reason = "required", ruleReason("required", "")
		res.add(pr)
		return -1
	}
	if f.Rules != "" && ruleProblem(&pr, string(t), f.Rules) != nil {
		res.add(pr)
		return -1
	}
	switch {
	case !p.learn[j] && f.Unknown == UnknownIgnore:
		res.ignored[j].Add(string(t))
		return -1
	case !p.learn[j]:
		pr.Rule, pr.Reason = "category", fmt.Sprintf("not one of the %d declared categories", col.index.Len())
		res.add(pr)
		return -1
	case known.Len() >= MaxCategories:
		pr.Rule, pr.Reason = "categories", tooManyCategories(false)
		if len(res.first[j]) > MaxCategories {
			pr.Reason = tooManyCategories(true)
		}
		res.first[j] = append(res.first[j], -1) // marks the reason given
		res.add(pr)
		return -1
	}
	code, _ := known.Add(string(t))
	res.first[j] = append(res.first[j], line)
	return float64(code)
}

func tooManyCategories(again bool) string {
	if again {
		return fmt.Sprintf("another value beyond the first %d", MaxCategories)
	}
	return fmt.Sprintf("more than %d distinct values (MaxCategories): declare the categories, or make it a number", MaxCategories)
}

// merge adds a block's learned values to the file's, recodes the block's
// columns to the file's codes, and adds a problem for each value past
// MaxCategories (at the line it first appears on, in line order with the
// block's other problems).
func (p *csvPlan) merge(res *blockResult) {
	var over []Problem
	for j, l := range res.learned {
		if l == nil || l.Len() == 0 {
			continue
		}
		g := p.global[j]
		recode := make([]float64, l.Len())
		for code, line := range res.first[j] {
			if line < 0 {
				continue // refused in the block already
			}
			v := p.valueOf(l, code)
			if _, known := g.Lookup(v); !known && g.Len() >= MaxCategories {
				over = append(over, Problem{Line: line, Column: p.cols.cols[j].spec.Name, Value: v, Rule: "categories",
					Reason: tooManyCategories(g.Len() > MaxCategories)})
				recode[code] = -1
				continue
			}
			c, _ := g.Add(v)
			recode[code] = float64(c)
		}
		col := res.x[j]
		for i, c := range col {
			if c >= 0 {
				col[i] = recode[int(c)]
			}
		}
	}
	if len(over) == 0 {
		return
	}
	all := append(slices.Clone(res.problems), over...)
	slices.SortStableFunc(all, func(a, b Problem) int { return a.Line - b.Line })
	res.total += len(over)
	res.problems = all[:min(len(all), MaxProblems)]
}

// valueOf returns the value with code in l (l holds codes 0..Len-1).
func (p *csvPlan) valueOf(l *catindex.Index, code int) string {
	return l.Value(int32(code))
}

// resolve sorts each learned category's values, recodes its column to
// match, and writes them into the dataset's schema.
func (p *csvPlan) resolve(ds *Dataset) {
	for j, g := range p.global {
		if g == nil {
			continue
		}
		values := make([]string, g.Len())
		for code := range values {
			values[code] = g.Value(int32(code))
		}
		sorted := slices.Clone(values)
		slices.Sort(sorted)
		recode := make([]float64, len(values))
		for k, v := range sorted {
			c, _ := g.Lookup(v)
			recode[c] = float64(k)
		}
		for i, c := range ds.X[j] {
			if c >= 0 {
				ds.X[j][i] = recode[int(c)]
			}
		}
		ds.Schema.Features[j].Categories = sorted
	}
}

// checkRows checks what only the whole file can tell: rows exist, and both
// classes have enough of them to split.
func (d *Dataset) checkRows() error {
	if d.Len() == 0 {
		return &ValidationError{Total: 1, Problems: []Problem{{Rule: "rows", Reason: "the file has a header but no data rows"}}}
	}
	counts := d.ClassCounts()
	for class, n := range counts {
		if n < MinRowsPerClass {
			return &ValidationError{Total: 1, Problems: []Problem{{
				Column: d.schema().Target.Column, Rule: "classes",
				Reason: fmt.Sprintf("class %d has %d rows (class %d has %d); both classes need at least %d rows to split into training and evaluation",
					class, n, 1-class, counts[1-class], MinRowsPerClass),
			}}}
		}
	}
	return nil
}
