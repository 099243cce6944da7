package mlservice

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/gocarina/gocsv"
)

// splitter cuts the stream into blocks that end on a record boundary: after
// a newline that is not inside a quoted field.
type splitter struct {
	r   io.Reader
	buf []byte // unconsumed bytes, starting at a record boundary
	eof bool
}

// fill reads until buf holds at least want bytes or the input ends.
func (s *splitter) fill(want int) error {
	for len(s.buf) < want && !s.eof {
		if cap(s.buf)-len(s.buf) < 4096 {
			s.buf = slices.Grow(s.buf, max(cap(s.buf), blockSize))
		}
		n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

// header returns the header fields, trimmed of spaces and a byte order
// mark, and the line the data starts after.
func (s *splitter) header() ([]string, int, error) {
	for {
		if err := s.fill(len(s.buf) + 1); err != nil {
			return nil, 0, err
		}
		cut := recordEnd(s.buf, true)
		if cut < 0 && !s.eof {
			continue
		}
		if cut < 0 {
			cut = len(s.buf)
		}
		line := s.buf[:cut]
		line = bytes.TrimPrefix(line, []byte("\ufeff"))
		lines := bytes.Count(s.buf[:cut], []byte{'\n'}) // the header's lines: a quoted name may hold a newline
		s.buf = s.buf[cut:]
		if len(bytes.TrimSpace(line)) == 0 {
			if s.eof && len(s.buf) == 0 {
				return nil, 0, nil
			}
			return nil, 0, &ValidationError{Total: 1, Problems: []Problem{{Line: 1, Rule: "header", Reason: "the first line is blank; it must be the header"}}}
		}
		fields, err := csv.NewReader(bytes.NewReader(line)).Read()
		if err != nil {
			return nil, 0, &ValidationError{Total: 1, Problems: []Problem{{Line: 1, Rule: "csv", Reason: "header: " + csvReason(err)}}}
		}
		for i, f := range fields {
			fields[i] = strings.TrimSpace(f)
		}
		return fields, max(lines, 1), nil
	}
}

// next returns the next block of whole records, reusing dst's memory, or
// io.EOF with the final bytes.
func (s *splitter) next(dst []byte) ([]byte, error) {
	want := blockSize
	for {
		if err := s.fill(want); err != nil {
			return nil, err
		}
		if s.eof {
			out := append(dst[:0], s.buf...)
			s.buf = s.buf[:0]
			return out, io.EOF
		}
		cut := recordEnd(s.buf, false)
		if cut <= 0 {
			want = 2 * len(s.buf) // one record longer than the buffer
			continue
		}
		out := append(dst[:0], s.buf[:cut]...)
		s.buf = append(s.buf[:0], s.buf[cut:]...)
		return out, nil
	}
}

// recordEnd returns the index just past the first (first=true) or last
// newline of b that is outside quotes, or -1. b starts at a record boundary.
func recordEnd(b []byte, first bool) int {
	if bytes.IndexByte(b, '"') < 0 {
		var i int
		if first {
			i = bytes.IndexByte(b, '\n')
		} else {
			i = bytes.LastIndexByte(b, '\n')
		}
		if i < 0 {
			return -1
		}
		return i + 1
	}
	end, inQuote := -1, false
	for i, c := range b {
		switch {
		case c == '"':
			inQuote = !inQuote // a doubled "" toggles twice
		case c == '\n' && !inQuote:
			if first {
				return i + 1
			}
			end = i + 1
		}
	}
	return end
}

// headerInfo is the cleaned-up header. Every block is decoded as a little
// CSV file of its own behind it, so gocsv maps columns the same way in each.
type headerInfo struct {
	fields []string
	csv    []byte         // the header line, CSV-encoded
	lines  int            // lines csv takes: more than 1 when a quoted name holds a newline
	index  map[string]int // column name → position
}

func newHeaderInfo(fields []string) *headerInfo {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(fields) // a bytes.Buffer cannot fail
	w.Flush()
	h := &headerInfo{fields: fields, csv: b.Bytes(), index: make(map[string]int, len(fields))}
	h.lines = bytes.Count(h.csv, []byte{'\n'})
	for i, f := range fields {
		if _, dup := h.index[f]; !dup {
			h.index[f] = i
		}
	}
	return h
}

func (res *blockResult) addRow(rec *record) {
	res.x[0] = append(res.x[0], rec.Age.value())
	res.x[1] = append(res.x[1], rec.Income.value())
	res.x[2] = append(res.x[2], rec.AccountBalance.value())
	res.x[3] = append(res.x[3], rec.TransactionsLast30d.value())
	res.x[4] = append(res.x[4], rec.IsPremium.value())
	res.y = append(res.y, uint8(rec.Target.value()))
}

// decodeBlock decodes and validates one block of records into res, reusing
// its memory. gocsv's Unmarshaller decodes one row at a time, and the csv
// reader says where each row starts, so every problem gets its line.
func (c *contract) decodeBlock(b block, hdr *headerInfo, res *blockResult) {
	*res = blockResult{seq: b.seq, x: res.x, y: res.y[:0], problems: res.problems[:0]}
	// Rows are rarely under 20 bytes: room for that many, and growing a
	// buffer is the exception.
	rows := len(b.data)/20 + 16
	for j := range res.x {
		res.x[j] = slices.Grow(res.x[j][:0], rows)
	}
	res.y = slices.Grow(res.y, rows)
	offset := int64(len(hdr.csv)) // where b.data starts in the reader's input
	r := csv.NewReader(io.MultiReader(bytes.NewReader(hdr.csv), bytes.NewReader(b.data)))
	r.ReuseRecord = true
	r.FieldsPerRecord = len(hdr.fields)
	um, err := gocsv.NewUnmarshaller(r, &record{})
	if err != nil { // the header was checked already; this is a bug
		res.add(Problem{Line: b.firstLine, Rule: "csv", Reason: err.Error()})
		return
	}
	for {
		start := r.InputOffset()
		v, err := um.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			line := 0
			var perr *csv.ParseError
			if errors.As(err, &perr) {
				line = b.firstLine + perr.StartLine - 1 - hdr.lines // the header comes first in this little file
			}
			res.add(Problem{Line: line, Rule: "csv", Reason: csvReason(err)})
			continue
		}
		rec := v.(*record)
		if !c.quickCheck(rec) {
			line, _ := r.FieldPos(0)
			raw := b.data[start-offset : r.InputOffset()-offset]
			if probs := c.check(rec, b.firstLine+line-1-hdr.lines, raw, hdr.index); len(probs) > 0 {
				for _, p := range probs {
					res.add(p)
				}
				continue
			}
		}
		if res.total == 0 { // else the dataset is lost anyway; just keep counting
			res.addRow(rec)
		}
	}
}

func (r *blockResult) add(p Problem) {
	if len(r.problems) < MaxProblems {
		r.problems = append(r.problems, p)
	}
	r.total++
}

func csvReason(err error) string {
	var perr *csv.ParseError
	if errors.As(err, &perr) {
		if errors.Is(perr.Err, csv.ErrFieldCount) {
			return "wrong number of fields for the header"
		}
		return "malformed CSV: " + perr.Err.Error()
	}
	return "malformed CSV: " + err.Error()
}
