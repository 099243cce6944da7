// Package csvsplit reads a CSV file as blocks of whole records that can be
// decoded in parallel: a Splitter cuts the stream after a newline outside
// quotes, Records reads the records of one block (encoding/csv's rules,
// without its allocation per record when the block has no quote), and
// ParseCell reads one cell as a number, a null or text. Every record is
// bounded: one longer than the limit (a binary file, /dev/zero, a header
// with no end) is refused at its line instead of read into memory whole.
package csvsplit

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// BlockSize is the size a Splitter aims for: large enough that a block's
// decoding outweighs handing it to a goroutine, small enough that the
// blocks of a file keep every core busy.
const BlockSize = 512 << 10

// LineTooLongError is a record over the limit; Line is the file line it
// starts on (0 until the caller knows it: a Splitter counts no lines).
type LineTooLongError struct {
	Line  int
	Limit int
}

func (e *LineTooLongError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason()) }

// Reason says what is wrong, without the line.
func (e *LineTooLongError) Reason() string {
	return fmt.Sprintf("a record longer than %d bytes (MaxLineBytes) without a line end: is it a CSV file?", e.Limit)
}

// HeaderError is a header that cannot be read; Rule is "header" or "csv".
type HeaderError struct {
	Rule, Reason string
}

func (e *HeaderError) Error() string { return "header: " + e.Reason }

// Splitter cuts a stream into blocks that end on a record boundary: after
// a newline that is not inside a quoted field. It never holds more than one
// record of the limit and its newline.
type Splitter struct {
	r     io.Reader
	limit int
	buf   []byte // unconsumed bytes, starting at a record boundary
	eof   bool
}

// NewSplitter reads r, refusing records over limit bytes.
func NewSplitter(r io.Reader, limit int) *Splitter {
	return &Splitter{r: r, limit: limit, buf: make([]byte, 0, BlockSize)}
}

// Buffered returns the bytes read but not yet handed out: after Header, a
// sample of the rows, to estimate how many the input holds.
func (s *Splitter) Buffered() []byte { return s.buf }

// Rest returns a reader of everything the splitter has not handed out.
func (s *Splitter) Rest() io.Reader { return io.MultiReader(bytes.NewReader(s.buf), s.r) }

// fill reads until buf holds at least want bytes (at most one record of the
// limit and its newline) or the input ends.
func (s *Splitter) fill(want int) error {
	most := s.limit + 1
	want = min(want, most)
	for len(s.buf) < want && !s.eof {
		if cap(s.buf)-len(s.buf) < 4096 {
			s.buf = slices.Grow(s.buf, min(max(cap(s.buf), BlockSize), most-len(s.buf)))
		}
		n, err := s.r.Read(s.buf[len(s.buf):min(cap(s.buf), most)])
		s.buf = s.buf[:len(s.buf)+n]
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

// Header returns the header's fields, trimmed of spaces and a byte order
// mark, and how many lines it takes (a quoted name may hold a newline).
// An empty input gives no fields and no error; a header that cannot be read
// gives a *HeaderError. Each read's bytes are scanned once, so a long
// header costs its length, not its square.
func (s *Splitter) Header() ([]string, int, error) {
	var scan recordScan
	for {
		if err := s.fill(len(s.buf) + 1); err != nil {
			return nil, 0, err
		}
		cut := scan.end(s.buf)
		if cut < 0 && len(s.buf) > s.limit {
			return nil, 0, &HeaderError{Rule: "header",
				Reason: fmt.Sprintf("the header is longer than %d bytes (MaxLineBytes) without a line end: is it a CSV file?", s.limit)}
		}
		if cut < 0 && !s.eof {
			continue
		}
		if cut < 0 {
			cut = len(s.buf)
		}
		line := bytes.TrimPrefix(s.buf[:cut], []byte("\ufeff"))
		lines := bytes.Count(s.buf[:cut], []byte{'\n'})
		rest := s.buf[cut:]
		if len(bytes.TrimSpace(line)) == 0 {
			if s.eof && len(rest) == 0 {
				return nil, 0, nil
			}
			return nil, 0, &HeaderError{Rule: "header", Reason: "the first line is blank; it must be the header"}
		}
		fields, err := csv.NewReader(bytes.NewReader(line)).Read()
		if err != nil {
			return nil, 0, &HeaderError{Rule: "csv", Reason: "header: " + Reason(err)}
		}
		for i, f := range fields {
			fields[i] = strings.TrimSpace(f)
		}
		s.buf = s.buf[:copy(s.buf, rest)]
		return fields, max(lines, 1), nil
	}
}

// Next returns the next block of whole records in dst's memory, or io.EOF
// with the final bytes. A record over the limit gives a *LineTooLongError.
func (s *Splitter) Next(dst []byte) ([]byte, error) {
	want := BlockSize
	for {
		if err := s.fill(want); err != nil {
			return nil, err
		}
		if s.eof {
			if len(s.buf) > s.limit && recordEnd(s.buf) < 0 {
				return nil, &LineTooLongError{Limit: s.limit}
			}
			out := append(dst[:0], s.buf...)
			s.buf = s.buf[:0]
			return out, io.EOF
		}
		cut := recordEnd(s.buf)
		if cut <= 0 {
			if len(s.buf) > s.limit {
				return nil, &LineTooLongError{Limit: s.limit}
			}
			want = 2 * len(s.buf) // one record longer than the buffer
			continue
		}
		out := append(dst[:0], s.buf[:cut]...)
		s.buf = append(s.buf[:0], s.buf[cut:]...)
		return out, nil
	}
}

// recordEnd returns the index just past the last newline of b that is
// outside quotes, or -1. b starts at a record boundary.
func recordEnd(b []byte) int {
	if bytes.IndexByte(b, '"') < 0 {
		i := bytes.LastIndexByte(b, '\n')
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

// Reason says what is wrong with a record encoding/csv (or Records) refused.
func Reason(err error) string {
	var perr *csv.ParseError
	if errors.As(err, &perr) {
		if errors.Is(perr.Err, csv.ErrFieldCount) {
			return "wrong number of fields for the header"
		}
		return "malformed CSV: " + perr.Err.Error()
	}
	return "malformed CSV: " + err.Error()
}
