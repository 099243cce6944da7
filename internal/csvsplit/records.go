package csvsplit

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
)

// Records reads the records of one block under encoding/csv's rules with
// a fixed number of fields a record: a field count that differs is a
// *csv.ParseError for that record, and so is a malformed quote. A block
// without a quote character is split here, line by line and at every comma,
// with no allocation (FuzzRecords holds it to encoding/csv's reading); a
// block with one goes through encoding/csv, which allocates a string a
// record. Blank lines are skipped, a carriage return before a line end is
// dropped, as encoding/csv does.
type Records struct {
	block  []byte
	fields int
	quoted bool

	// Without quotes: the next byte, its line (from 1), the current line.
	pos, next int
	cur       []byte
	line      int
	bounds    []int // start and end of each field of cur

	// With quotes: the reader, its record's fields copied into buf.
	csv *csv.Reader
	buf []byte

	err error
}

// Reset starts reading block, whose records must have fields fields.
func (r *Records) Reset(block []byte, fields int) {
	*r = Records{block: block, fields: fields, next: 1, bounds: r.bounds[:0], buf: r.buf[:0]}
	r.quoted = bytes.IndexByte(block, '"') >= 0
	if r.quoted {
		r.csv = csv.NewReader(bytes.NewReader(block))
		r.csv.ReuseRecord = true
		r.csv.FieldsPerRecord = fields
	}
}

// Next moves to the next record; false at the end of the block. A record
// with a problem still counts: Err says what it is.
func (r *Records) Next() bool {
	r.err = nil
	if r.quoted {
		return r.nextQuoted()
	}
	for r.pos < len(r.block) {
		rest := r.block[r.pos:]
		line := rest
		if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
			line = rest[:nl]
			r.pos += nl + 1
		} else {
			r.pos = len(r.block)
		}
		r.line = r.next
		r.next++
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			continue
		}
		r.cur = line
		b := append(r.bounds[:0], 0)
		for i, c := range line {
			if c == ',' {
				b = append(b, i, i+1)
			}
		}
		r.bounds = append(b, len(line))
		if len(r.bounds)/2 != r.fields {
			r.err = &csv.ParseError{StartLine: r.line, Line: r.line, Column: 1, Err: csv.ErrFieldCount}
		}
		return true
	}
	return false
}

func (r *Records) nextQuoted() bool {
	rec, err := r.csv.Read()
	if err == io.EOF {
		return false
	}
	r.bounds, r.buf = r.bounds[:0], r.buf[:0]
	for _, f := range rec {
		r.bounds = append(r.bounds, len(r.buf))
		r.buf = append(r.buf, f...)
		r.bounds = append(r.bounds, len(r.buf))
	}
	r.cur = r.buf
	if err != nil {
		r.err = err
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			r.line = perr.StartLine
		}
		return true
	}
	r.line, _ = r.csv.FieldPos(0)
	return true
}

// Line returns the block's line the current record starts on, from 1.
func (r *Records) Line() int { return r.line }

// Err returns the current record's problem, or nil: a *csv.ParseError for
// a wrong number of fields or a malformed quote (see Reason).
func (r *Records) Err() error { return r.err }

// Len returns how many fields the current record has.
func (r *Records) Len() int { return len(r.bounds) / 2 }

// Field returns field i of the current record, valid until Next.
func (r *Records) Field(i int) []byte { return r.cur[r.bounds[2*i]:r.bounds[2*i+1]] }
