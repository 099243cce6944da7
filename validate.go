package mlservice

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// record is the data contract, written once: gocsv maps CSV columns to its
// fields by the csv tag (any column order, extra columns ignored) and
// validator/v10 checks every field against its validate tag.
//
//   - required: the cell is not null (empty, NA, N/A, NaN, null, None, ±Inf)
//   - number:   the cell is a decimal number
//   - gte=0:    the number is not negative
//   - binary:   the number is 0 or 1
type record struct {
	Age                 cell `csv:"age" validate:"required,number,gte=0"`
	Income              cell `csv:"income" validate:"required,number"`
	AccountBalance      cell `csv:"account_balance" validate:"required,number"`
	TransactionsLast30d cell `csv:"transactions_last_30d" validate:"required,number,gte=0"`
	IsPremium           cell `csv:"is_premium" validate:"required,number,binary"`
	Target              cell `csv:"target" validate:"required,number,binary"`
}

// MaxProblems is how many problems a ValidationError lists; the rest are
// only counted.
const MaxProblems = 20

// MinRowsPerClass is the fewest rows of each target class a file must have:
// one for training and one for evaluation after a stratified split.
const MinRowsPerClass = 2

// Problem is one way a CSV file breaks the data contract.
type Problem struct {
	Line   int    `json:"line,omitempty"`   // 1-based line in the file, the header being line 1; 0 for the whole file
	Column string `json:"column,omitempty"` // column name, when the problem is about one column
	Value  string `json:"value,omitempty"`  // the offending text, as found
	Rule   string `json:"rule"`             // the rule broken, e.g. "required", "gte=0", "missing column"
	Reason string `json:"reason"`           // the rule in words
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d", p.Line)
	} else {
		b.WriteString("file")
	}
	if p.Column != "" {
		fmt.Fprintf(&b, ", column %q", p.Column)
	}
	if p.Value != "" || p.Rule == "required" || p.Rule == "number" {
		fmt.Fprintf(&b, ", value %q", p.Value)
	}
	fmt.Fprintf(&b, ": %s (%s)", p.Reason, p.Rule)
	return b.String()
}

// ValidationError lists the problems found in a CSV file: the first
// MaxProblems in file order and the total count. It matches ErrInvalidData.
type ValidationError struct {
	Source   string    // file path, or "" for a reader
	Problems []Problem // at most MaxProblems, in file order
	Total    int       // every problem found, listed or not
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	src := e.Source
	if src == "" {
		src = "input"
	}
	fmt.Fprintf(&b, "invalid data in %s: %d problem", src, e.Total)
	if e.Total != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	if more := e.Total - len(e.Problems); more > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more", more)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalidData) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidData }

// Dataset is a validated CSV file, column by column.
type Dataset struct {
	// X[j] holds feature FeatureNames[j] of every row.
	X [NumFeatures][]float64
	// Y holds each row's target, 0 or 1.
	Y []uint8
	// Source is the file the rows came from ("" for a reader).
	Source string
	// SHA256 is the hex SHA-256 of the bytes read.
	SHA256 string
}

// Len returns the number of rows.
func (d *Dataset) Len() int { return len(d.Y) }

// Row returns the features of row i.
func (d *Dataset) Row(i int) Features {
	return Features{d.X[0][i], d.X[1][i], d.X[2][i], d.X[3][i], d.X[4][i]}
}

// ClassCounts returns how many rows have target 0 and 1.
func (d *Dataset) ClassCounts() [2]int {
	var c [2]int
	for _, y := range d.Y {
		c[y]++
	}
	return c
}

// ValidateFile validates the CSV file at path; see Validate.
func ValidateFile(path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	defer f.Close()
	var size int64
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	ds, err := validate(f, path, size)
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

// Validate reads a CSV file from r and checks it against the data contract:
// a header naming at least the columns age, income, account_balance,
// transactions_last_30d, is_premium and target, in any order (others are
// ignored); in every row, no null, numbers that parse, age and
// transactions_last_30d not negative, is_premium and target 0 or 1; both
// classes present with at least MinRowsPerClass rows each. UTF-8 with or
// without a byte order mark, LF or CRLF line ends and quoted fields are
// accepted.
//
// A file that breaks the contract yields a *ValidationError listing every
// problem with its line, column, value and rule (up to MaxProblems, and the
// count of the rest); an I/O error is returned as is.
func Validate(r io.Reader) (*Dataset, error) {
	var size int64 // sizes the columns up front when the reader knows it
	if sr, ok := r.(interface{ Size() int64 }); ok {
		size = sr.Size()
	}
	return validate(r, "", size)
}

// Where the time goes: reading and hashing the bytes is sequential but cheap
// (a few ms per million rows); decoding is gocsv's reflection, about
// 0.6 µs a row, so blocks of whole records are decoded on every core at once.
// validator/v10 costs another ~1 µs a row, so each row first meets the fast
// check compiled from the same tags (a few ns) and only rows that fail it
// are handed to validator, whose verdict and message are the ones reported.
const blockSize = 1 << 20

type block struct {
	seq       int
	data      []byte
	firstLine int // file line of data's first byte
}

type blockResult struct {
	seq      int
	bytes    int
	x        [NumFeatures][]float64
	y        []uint8
	problems []Problem // the block's first MaxProblems
	total    int       // all problems in the block
}

func validate(r io.Reader, source string, sizeHint int64) (*Dataset, error) {
	c := theContract()
	sha := sha256.New()
	sp := &splitter{r: io.TeeReader(r, sha), buf: make([]byte, 0, blockSize)}

	header, headerLine, err := sp.header()
	if err != nil {
		return nil, err
	}
	if len(header) == 0 {
		return nil, &ValidationError{Total: 1, Problems: []Problem{{Rule: "header", Reason: "the file is empty; a header line and data rows are required"}}}
	}
	hdr := newHeaderInfo(header)
	if probs := c.checkHeader(hdr); len(probs) > 0 {
		return nil, &ValidationError{Total: len(probs), Problems: probs[:min(len(probs), MaxProblems)]}
	}
	ds := &Dataset{}
	grown := make(chan struct{})
	if lines := bytes.Count(sp.buf, []byte{'\n'}); sizeHint > 0 && lines > 0 {
		// Sized from the rows per byte of what is already read, the columns
		// are not copied as they grow, so a big file costs its numbers and
		// little more. Clearing that memory is mostly page faults (70 ms for
		// a million rows on a VM), so it runs beside the first blocks'
		// decoding instead of ahead of it.
		est := int(float64(sizeHint)/float64(len(sp.buf))*float64(lines)*1.02) + 64
		go func() { defer close(grown); ds.grow(est) }()
	} else {
		close(grown)
	}

	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan block, workers)
	results := make(chan *blockResult, workers)
	// Block buffers and result columns go round in circles instead of
	// becoming garbage.
	free := make(chan []byte, 2*workers+2)
	freeResults := make(chan *blockResult, 2*workers+2)

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				var res *blockResult
				select {
				case res = <-freeResults:
				default:
					res = new(blockResult)
				}
				c.decodeBlock(b, hdr, res)
				results <- res
				select {
				case free <- b.data[:0]:
				default:
				}
			}
		}()
	}
	var readErr error
	go func() {
		defer close(jobs)
		seq, line := 0, headerLine+1
		for {
			var buf []byte
			select {
			case buf = <-free:
			default:
			}
			data, err := sp.next(buf)
			if len(data) > 0 {
				jobs <- block{seq: seq, data: data, firstLine: line}
				seq++
				line += bytes.Count(data, []byte{'\n'})
			}
			if err != nil {
				if err != io.EOF {
					readErr = err
				}
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	pending := map[int]*blockResult{}
	next := 0
	var probs []Problem
	total := 0
	for res := range results {
		pending[res.seq] = res
		for {
			res, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			total += res.total
			if len(probs) < MaxProblems {
				probs = append(probs, res.problems[:min(len(res.problems), MaxProblems-len(probs))]...)
			}
			if total == 0 {
				<-grown
				ds.append(res)
			}
			select {
			case freeResults <- res:
			default:
			}
		}
	}
	if readErr != nil {
		return nil, fmt.Errorf("read csv: %w", readErr)
	}
	if total > 0 {
		return nil, &ValidationError{Problems: probs, Total: total}
	}
	if ds.Len() == 0 {
		return nil, &ValidationError{Total: 1, Problems: []Problem{{Rule: "rows", Reason: "the file has a header but no data rows"}}}
	}
	counts := ds.ClassCounts()
	for class, n := range counts {
		if n < MinRowsPerClass {
			return nil, &ValidationError{Total: 1, Problems: []Problem{{
				Column: TargetColumn, Rule: "classes",
				Reason: fmt.Sprintf("class %d has %d rows (class %d has %d); both classes need at least %d rows to split into training and evaluation",
					class, n, 1-class, counts[1-class], MinRowsPerClass),
			}}}
		}
	}
	ds.SHA256 = hex.EncodeToString(sha.Sum(nil))
	ds.Source = source
	return ds, nil
}

func (d *Dataset) grow(n int) {
	for j := range d.X {
		d.X[j] = slices.Grow(d.X[j], n)
	}
	d.Y = slices.Grow(d.Y, n)
}

func (d *Dataset) append(res *blockResult) {
	for j := range d.X {
		d.X[j] = append(d.X[j], res.x[j]...)
	}
	d.Y = append(d.Y, res.y...)
}
