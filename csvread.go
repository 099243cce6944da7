package mlservice

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gocarina/gocsv"
)

// MaxLineBytes caps one record of a CSV file, the header included: a line,
// or several inside a quoted field. A file with a longer one (a binary file,
// /dev/zero, a header with no end) is refused at that line, rather than read
// into memory without limit.
const MaxLineBytes = 4 << 20

// errLineTooLong is returned by splitter and recordLimiter for a record over
// MaxLineBytes; its line is where the record starts (0: not known yet).
type errLineTooLong struct{ line int }

func (e *errLineTooLong) Error() string {
	return fmt.Sprintf("line %d: %s", e.line, lineTooLongReason)
}

var lineTooLongReason = fmt.Sprintf("a record longer than %d bytes (MaxLineBytes) without a line end: is it a CSV file?", MaxLineBytes)

// problem is e as a validation problem.
func (e *errLineTooLong) problem() Problem {
	return Problem{Line: e.line, Rule: "line length", Reason: lineTooLongReason}
}

// maxBuffer is the most a splitter holds: a record of MaxLineBytes and its
// newline.
const maxBuffer = MaxLineBytes + 1

// splitter cuts the stream into blocks that end on a record boundary: after
// a newline that is not inside a quoted field. It never holds more than
// MaxLineBytes, so a record that does not end within them is refused.
type splitter struct {
	r   io.Reader
	buf []byte // unconsumed bytes, starting at a record boundary
	eof bool
}

// fill reads until buf holds at least want bytes (at most maxBuffer) or
// the input ends.
func (s *splitter) fill(want int) error {
	want = min(want, maxBuffer)
	for len(s.buf) < want && !s.eof {
		if cap(s.buf)-len(s.buf) < 4096 {
			s.buf = slices.Grow(s.buf, min(max(cap(s.buf), blockSize), maxBuffer-len(s.buf)))
		}
		n, err := s.r.Read(s.buf[len(s.buf):min(cap(s.buf), maxBuffer)])
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
// mark, and the line the data starts after. Each read's bytes are scanned
// once, so a long header costs its length, not its square.
func (s *splitter) header() ([]string, int, error) {
	var scan recordScan
	for {
		if err := s.fill(len(s.buf) + 1); err != nil {
			return nil, 0, err
		}
		cut := scan.end(s.buf)
		if cut < 0 && len(s.buf) > MaxLineBytes {
			return nil, 0, &ValidationError{Total: 1, Problems: []Problem{{Line: 1, Rule: "header",
				Reason: fmt.Sprintf("the header is longer than %d bytes (MaxLineBytes) without a line end: is it a CSV file?", MaxLineBytes)}}}
		}
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
			if len(s.buf) > MaxLineBytes && recordEnd(s.buf, false) < 0 {
				return nil, &errLineTooLong{}
			}
			out := append(dst[:0], s.buf...)
			s.buf = s.buf[:0]
			return out, io.EOF
		}
		cut := recordEnd(s.buf, false)
		if cut <= 0 {
			if len(s.buf) > MaxLineBytes {
				return nil, &errLineTooLong{}
			}
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

// recordScan finds the end of the first record of a growing buffer,
// scanning each byte once: it keeps where it stopped and whether that is
// inside quotes.
type recordScan struct {
	done    int
	inQuote bool
}

// end returns the index just past the first newline of b outside quotes,
// or -1; b is the same buffer as before with bytes added.
func (r *recordScan) end(b []byte) int {
	for i := r.done; i < len(b); i++ {
		switch b[i] {
		case '"':
			r.inQuote = !r.inQuote // a doubled "" toggles twice
		case '\n':
			if !r.inQuote {
				return i + 1
			}
		}
	}
	r.done = len(b)
	return -1
}

// recordLimiter passes r's bytes through and fails once a record (a line,
// or several inside a quoted field) passes MaxLineBytes, for the readers
// that give the rest of the file to encoding/csv, which would hold any
// record whole. It counts lines from 1 at its first byte.
type recordLimiter struct {
	r       io.Reader
	limit   int
	record  int // bytes of the current record so far
	inQuote bool
	lines   int // newlines passed
	start   int // lines before the current record's first
	err     error
}

func newRecordLimiter(r io.Reader) *recordLimiter { return &recordLimiter{r: r, limit: MaxLineBytes} }

func (l *recordLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	b := p[:n]
	q := bytes.IndexByte(b, '"') // the next quote in b, or -1
	for len(b) > 0 && l.err == nil {
		if l.inQuote {
			if q < 0 {
				l.record += len(b)
				l.lines += bytes.Count(b, []byte{'\n'})
				break
			}
			l.record += q + 1
			l.lines += bytes.Count(b[:q], []byte{'\n'})
			l.inQuote = false
			b = b[q+1:]
			q = bytes.IndexByte(b, '"')
			continue
		}
		end := len(b)
		if q >= 0 {
			end = q
		}
		if nl := bytes.IndexByte(b[:end], '\n'); nl >= 0 {
			l.record += nl
			l.check()
			l.record, l.lines = 0, l.lines+1
			l.start = l.lines
			b = b[nl+1:]
			if q >= 0 {
				q -= nl + 1
			}
			continue
		}
		if q < 0 {
			l.record += len(b)
			break
		}
		l.record += q + 1
		l.inQuote = true
		b = b[q+1:]
		q = bytes.IndexByte(b, '"')
	}
	l.check()
	if l.err != nil {
		if n == 0 {
			return 0, l.err
		}
		return n, nil // the bytes read are passed on, even before io.EOF; the next Read fails
	}
	return n, err
}

func (l *recordLimiter) check() {
	if l.err == nil && l.record > l.limit {
		l.err = &errLineTooLong{line: l.start + 1}
	}
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
