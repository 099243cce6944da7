package mlservice

// A draft schema for a CSV file never seen before: the first step of
// infer → edit → train for a new table.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mlservice/mlservice/internal/csvsplit"
)

// InferOptions configures InferSchema.
type InferOptions struct {
	// Target is the label column. Empty: a column named target, label,
	// class or y (any case), else the last column.
	Target string
	// Name is the schema's name. Empty: "table".
	Name string
}

// InferSchema reads a CSV file from r and returns a draft schema for it,
// with notes that explain each choice for a person to check:
//
//   - a column whose every cell is a number is a number feature, or a
//     binary one when every value is 0 or 1; "gte=0" is added when no value
//     is negative;
//   - any other column is a category, its values declared in sorted order
//     (so that a new value on another day is an error, not a silent change
//     of schema), unless it has more than MaxCategories values or a value in
//     every row, when it is left out as an identifier or free text;
//   - the target must have exactly two values; the positive label is "1",
//     "yes" or "true" when the values are such a pair, else the rarer value.
//
// Every number cell must parse; a column with missing cells (empty, NA,
// null, …) is kept with "missing": true, and the note says how many.
func InferSchema(ctx context.Context, r io.Reader, opts InferOptions) (*Schema, []string, error) {
	sp := csvsplit.NewSplitter(r, MaxLineBytes)
	header, headerLines, err := readHeader(sp)
	if err != nil {
		return nil, nil, err
	}
	if len(header) < 2 {
		return nil, nil, errors.New("infer schema: the header needs a target and at least one feature")
	}
	if len(header) > MaxSchemaFeatures+1 {
		// Refused before the rows: each column keeps up to MaxCategories values.
		return nil, nil, fmt.Errorf("infer schema: the header has %d columns; a schema holds at most %d features and the target: drop columns first (cut -d, -f...)",
			len(header), MaxSchemaFeatures)
	}
	first := make(map[string]int, len(header)) // each name's first column
	for j, h := range header {
		if _, ok := first[h]; !ok {
			first[h] = j
		}
	}
	type column struct {
		numeric, binary, nonneg, integer bool
		nulls, huge, infs                int // huge: magnitude over MaxAbsValue; infs: ±Inf, among nulls
		values                           map[string]int
		min, max                         float64
	}
	cols := make([]column, len(header))
	for j := range cols {
		cols[j] = column{numeric: true, binary: true, nonneg: true, integer: true, values: map[string]int{},
			min: math.Inf(1), max: math.Inf(-1)}
	}
	rows, line := 0, headerLines+1
	var recs csvsplit.Records
	for done := false; !done; {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		data, err := sp.Next(nil)
		var long *csvsplit.LineTooLongError
		switch {
		case errors.As(err, &long):
			return nil, nil, fmt.Errorf("infer schema: line %d: %s", line, long.Reason())
		case err == io.EOF:
			done = true
		case err != nil:
			return nil, nil, fmt.Errorf("infer schema: %w", err)
		}
		recs.Reset(data, len(header))
		for recs.Next() {
			if err := recs.Err(); err != nil {
				return nil, nil, fmt.Errorf("infer schema: line %d: %s", line+recs.Line()-1, csvsplit.Reason(err))
			}
			rows++
			for j := range cols {
				c := &cols[j]
				raw := bytes.TrimSpace(recs.Field(j))
				if csvsplit.IsNull(raw) {
					c.nulls++
					if !csvsplit.IsMissing(raw) {
						c.infs++
					}
					continue
				}
				if len(c.values) <= MaxCategories {
					c.values[string(raw)]++
				}
				if !c.numeric {
					continue
				}
				x, kind := csvsplit.ParseCell(raw)
				if kind != csvsplit.Number {
					c.numeric = false
					continue
				}
				c.min, c.max = math.Min(c.min, x), math.Max(c.max, x)
				c.binary = c.binary && (x == 0 || x == 1)
				c.nonneg = c.nonneg && x >= 0
				c.integer = c.integer && x == math.Trunc(x)
				if math.Abs(x) > MaxAbsValue {
					c.huge++
				}
			}
		}
		line += bytes.Count(data, []byte{'\n'})
	}
	if rows == 0 {
		return nil, nil, errors.New("infer schema: the file has a header but no rows")
	}

	target := -1
	if opts.Target != "" {
		var ok bool
		if target, ok = first[opts.Target]; !ok {
			return nil, nil, fmt.Errorf("infer schema: no column %q in the header", opts.Target)
		}
	} else {
		for j, h := range header {
			switch strings.ToLower(h) {
			case "target", "label", "class", "y":
				if target < 0 {
					target = j
				}
			}
		}
		if target < 0 {
			target = len(header) - 1
		}
	}
	var notes []string
	note := func(format string, a ...any) { notes = append(notes, fmt.Sprintf(format, a...)) }

	s := &Schema{Name: opts.Name, Version: "1"}
	if s.Name == "" {
		s.Name = "table"
	}
	tc := cols[target]
	labels := slices.Sorted(func(yield func(string) bool) {
		for v := range tc.values {
			if !yield(v) {
				return
			}
		}
	})
	if len(labels) != 2 {
		return nil, nil, fmt.Errorf("infer schema: target column %q has %d distinct values (%s), a binary target has 2; pick another with -target",
			header[target], len(labels), truncate(strings.Join(labels, ", "), 120))
	}
	pos, neg := labels[1], labels[0]
	switch strings.ToLower(labels[0]) + "/" + strings.ToLower(labels[1]) {
	case "0/1", "no/yes", "false/true", "n/y", "f/t":
		note("target %q: labels %q and %q, positive %q", header[target], neg, pos, pos)
	default:
		if tc.values[labels[0]] < tc.values[labels[1]] {
			pos, neg = labels[0], labels[1]
		}
		note("target %q: labels %q (%d rows) and %q (%d rows); positive is the rarer, %q: swap target.positive and target.negative if the other is the class of interest",
			header[target], labels[0], tc.values[labels[0]], labels[1], tc.values[labels[1]], pos)
	}
	if tc.nulls > 0 {
		note("target %q: %d rows have no label; validation will refuse them", header[target], tc.nulls)
	}
	s.Target = SchemaTarget{Column: header[target], Positive: pos, Negative: neg}

	for j, name := range header {
		if j == target {
			continue
		}
		c := cols[j]
		switch {
		case name == "" || strings.Contains(name, "="):
			note("%q: left out: a feature name must be non-empty and without \"=\"", name)
			continue
		case first[name] != j:
			note("%q: left out: the header names it twice", name)
			continue
		case c.nulls == rows:
			note("%q: left out: every cell is empty", name)
			continue
		}
		f := FeatureSpec{Name: name}
		switch {
		case c.numeric && c.binary:
			f.Type = TypeBinary
			note("%q: binary (every value is 0 or 1)", name)
		case c.numeric:
			f.Type = TypeNumber
			if c.nonneg {
				f.Rules = "gte=0"
			}
			why := fmt.Sprintf("number from %v to %v", c.min, c.max)
			if f.Rules != "" {
				why += `, rule "gte=0" since none is negative`
			}
			if c.integer && len(c.values) <= 30 {
				why += fmt.Sprintf("; %d distinct integers: if they are codes rather than quantities, make it a category", len(c.values))
			}
			note("%q: %s", name, why)
			if c.huge > 0 {
				note("%q: %d rows have a magnitude over %g (MaxAbsValue); validation will refuse them", name, c.huge, MaxAbsValue)
			}
		case len(c.values) > MaxCategories:
			note("%q: left out: text with more than %d distinct values looks like an identifier or free text", name, MaxCategories)
			continue
		case len(c.values) == rows-c.nulls && rows > 20:
			note("%q: left out: a different text value in every row looks like an identifier", name)
			continue
		default:
			f.Type = TypeCategory
			f.Categories = slices.Sorted(func(yield func(string) bool) {
				for v := range c.values {
					if !yield(v) {
						return
					}
				}
			})
			note("%q: category with %d values, declared (sorted): a value not listed is refused; add \"unknown\": \"ignore\" to score it as none of them", name, len(f.Categories))
		}
		if missing := c.nulls - c.infs; missing > 0 {
			f.Missing = true
			note("%q: %d rows have a missing value (empty, NA, null): \"missing\": true lets them through; drop it to refuse them", name, missing)
		}
		if c.infs > 0 {
			note("%q: %d rows have an infinite value; validation will refuse them", name, c.infs)
		}
		s.Features = append(s.Features, f)
	}
	if err := s.check(); err != nil {
		return nil, notes, fmt.Errorf("infer schema: the draft is not a valid schema: %w", err)
	}
	return s, notes, nil
}

// schemaDiff says how b differs from a: which columns were added, removed
// or retyped, which categories appeared or vanished, which rules changed,
// so that whoever reads a refusal knows what to fix.
func schemaDiff(a, b *Schema) string {
	var out []string
	if a.Name != b.Name || a.Version != b.Version {
		out = append(out, fmt.Sprintf("%s@%s became %s@%s", a.Name, a.Version, b.Name, b.Version))
	}
	if a.Target != b.Target {
		out = append(out, fmt.Sprintf("the target %s (positive %q, negative %q) became %s (positive %q, negative %q)",
			a.Target.Column, a.Target.Positive, a.Target.Negative, b.Target.Column, b.Target.Positive, b.Target.Negative))
	}
	old := map[string]FeatureSpec{}
	for _, f := range a.Features {
		old[f.Name] = f
	}
	var added, removed []string
	for _, f := range b.Features {
		o, ok := old[f.Name]
		delete(old, f.Name)
		if !ok {
			added = append(added, fmt.Sprintf("%s (%s)", f.Name, f.Type))
			continue
		}
		if o.Type != f.Type {
			out = append(out, fmt.Sprintf("column %s: %s became %s", f.Name, o.Type, f.Type))
			continue
		}
		if !slices.Equal(o.Categories, f.Categories) {
			out = append(out, "column "+f.Name+": "+categoryDiff(o.Categories, f.Categories))
		}
		if o.Rules != f.Rules {
			out = append(out, fmt.Sprintf("column %s: rules %q became %q", f.Name, o.Rules, f.Rules))
		}
		if o.Unknown != f.Unknown {
			out = append(out, fmt.Sprintf("column %s: unknown %q became %q", f.Name, orDefault(o.Unknown, UnknownError), orDefault(f.Unknown, UnknownError)))
		}
		if o.Missing != f.Missing {
			out = append(out, fmt.Sprintf("column %s: missing %t became %t", f.Name, o.Missing, f.Missing))
		}
	}
	for _, f := range a.Features {
		if _, ok := old[f.Name]; ok {
			removed = append(removed, f.Name)
		}
	}
	if len(added) > 0 {
		out = append(out, "columns added: "+someOf(added))
	}
	if len(removed) > 0 {
		out = append(out, "columns removed: "+someOf(removed))
	}
	if len(out) == 0 {
		names := func(s *Schema) []string {
			n := make([]string, len(s.Features))
			for i, f := range s.Features {
				n[i] = f.Name
			}
			return n
		}
		out = append(out, fmt.Sprintf("column order %s became %s", someOf(names(a)), someOf(names(b))))
	}
	return truncate(strings.Join(out, "; "), 1000)
}

// categoryDiff says how category list b differs from a: the values that
// appeared and vanished, or that only their one-hot order changed.
func categoryDiff(a, b []string) string {
	var appeared, vanished []string
	for _, c := range b {
		if !slices.Contains(a, c) {
			appeared = append(appeared, strconv.Quote(c))
		}
	}
	for _, c := range a {
		if !slices.Contains(b, c) {
			vanished = append(vanished, strconv.Quote(c))
		}
	}
	var out []string
	if len(appeared) > 0 {
		out = append(out, "categories appeared: "+someOf(appeared))
	}
	if len(vanished) > 0 {
		out = append(out, "categories vanished: "+someOf(vanished))
	}
	if len(out) == 0 {
		return fmt.Sprintf("the same %d categories in another order", len(a))
	}
	return fmt.Sprintf("%s (%d became %d)", strings.Join(out, ", "), len(a), len(b))
}

// someOf lists up to ten of names, then how many more there are.
func someOf(names []string) string {
	if len(names) <= 10 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:10], ", "), len(names)-10)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
