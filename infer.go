package mlservice

// A draft schema for a CSV file never seen before: the first step of
// infer → edit → train for a new table.

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
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
// Every number cell must parse; a column with missing cells is kept and the
// note says how many rows validation will refuse.
func InferSchema(ctx context.Context, r io.Reader, opts InferOptions) (*Schema, []string, error) {
	sp := &splitter{r: r, buf: make([]byte, 0, blockSize)}
	header, headerLine, err := sp.header()
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
	cr := csv.NewReader(newRecordLimiter(io.MultiReader(bytes.NewReader(sp.buf), sp.r)))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = len(header)
	type column struct {
		numeric, binary, nonneg, integer bool
		nulls, huge                      int // huge: magnitude over MaxAbsValue
		values                           map[string]int
		min, max                         float64
	}
	cols := make([]column, len(header))
	for j := range cols {
		cols[j] = column{numeric: true, binary: true, nonneg: true, integer: true, values: map[string]int{},
			min: math.Inf(1), max: math.Inf(-1)}
	}
	rows := 0
	for {
		if rows&4095 == 0 && ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var long *errLineTooLong
		if errors.As(err, &long) {
			return nil, nil, fmt.Errorf("infer schema: line %d: %s", long.line+headerLine, lineTooLongReason)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("infer schema: %s", csvReason(err))
		}
		rows++
		for j, raw := range rec {
			c := &cols[j]
			v := strings.TrimSpace(raw)
			if v == "" || isNullToken(v) {
				c.nulls++
				continue
			}
			if len(c.values) <= MaxCategories {
				c.values[v]++
			}
			if !c.numeric {
				continue
			}
			var cl cell
			_ = cl.UnmarshalCSV(v)
			if cl.kind() != cellNumber {
				c.numeric = false
				continue
			}
			x := cl.value()
			c.min, c.max = math.Min(c.min, x), math.Max(c.max, x)
			c.binary = c.binary && (x == 0 || x == 1)
			c.nonneg = c.nonneg && x >= 0
			c.integer = c.integer && x == math.Trunc(x)
			if math.Abs(x) > MaxAbsValue {
				c.huge++
			}
		}
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
		if c.nulls > 0 {
			note("%q: %d rows have a missing value; validation will refuse them", name, c.nulls)
		}
		s.Features = append(s.Features, f)
	}
	if err := s.check(); err != nil {
		return nil, notes, fmt.Errorf("infer schema: the draft is not a valid schema: %w", err)
	}
	return s, notes, nil
}
