package mlservice

import (
	"bytes"
	"context"
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
//   - maxabs:   the number's magnitude is at most MaxAbsValue
//   - binary:   the number is 0 or 1
type record struct {
	Age                 cell `csv:"age" validate:"required,number,gte=0,maxabs"`
	Income              cell `csv:"income" validate:"required,number,maxabs"`
	AccountBalance      cell `csv:"account_balance" validate:"required,number,maxabs"`
	TransactionsLast30d cell `csv:"transactions_last_30d" validate:"required,number,gte=0,maxabs"`
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

	// Schema is the table the rows follow, resolved (learned categories
	// filled in). Nil means DefaultSchema: the rows are in X. Under any
	// other schema (ValidateTable) they are in Num and Cat instead.
	Schema *Schema
	// Num[k] holds the k-th number or binary feature of Schema, in schema
	// order, for every row.
	Num [][]float64
	// Cat[k] holds the k-th category feature's codes: the index of the
	// row's value in the feature's Categories, or -1 for a value that is
	// not one of them and that the schema ignores.
	Cat [][]int32
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

// ValidateFile validates the CSV file at path; see Validate. A named pipe
// or a device works too: the file is opened and read once.
func ValidateFile(ctx context.Context, path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	defer f.Close()
	ds, err := Validate(ctx, f)
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
// ignored); in every row, no null, numbers that parse, no magnitude above
// MaxAbsValue, age and transactions_last_30d not negative, is_premium and
// target 0 or 1; both classes present with at least MinRowsPerClass rows
// each. UTF-8 with or without a byte order mark, LF or CRLF line ends and
// quoted fields are accepted.
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
	r, size, stop, err := cancellableInput(ctx, r)
	if err != nil {
		return nil, err
	}
	defer stop()
	ds, err := validate(ctx, r, size)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("validate: %w", ctx.Err())
	}
	return ds, err
}

// cancellableInput returns what validation reads from r, every read checking
// ctx first, and r's size when it knows it (0 otherwise). A pipe or terminal
// is read from a goroutine, since a Read blocked on it cannot be
// interrupted; stop ends that goroutine's wait once validation is done.
func cancellableInput(ctx context.Context, r io.Reader) (io.Reader, int64, func(), error) {
	var size int64 // sizes the columns up front when the reader knows it
	stop := func() {}
	switch rr := r.(type) {
	case interface{ Size() int64 }:
		size = rr.Size()
	case *os.File:
		st, err := rr.Stat()
		if err != nil {
			return nil, 0, stop, fmt.Errorf("validate: %w", err)
		}
		if st.Mode().IsRegular() {
			size = st.Size()
		} else {
			r, stop = readInBackground(ctx, rr)
		}
	}
	return ctxReader{ctx, r}, size, stop, nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// readInBackground copies r through an io.Pipe from a goroutine, so that
// cancelling ctx fails the reader's Read at once even while the goroutine is
// blocked in r.Read. stop releases the pipe; the goroutine then ends with its
// current Read.
func readInBackground(ctx context.Context, r io.Reader) (pr *io.PipeReader, stop func()) {
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, r)
		pw.CloseWithError(err) // nil: the reader sees io.EOF
	}()
	unhook := context.AfterFunc(ctx, func() { pr.CloseWithError(ctx.Err()) })
	return pr, func() { unhook(); pr.Close() }
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
	x        [NumFeatures][]float64
	y        []uint8
	problems []Problem // the block's first MaxProblems
	total    int       // all problems in the block
}

// validate runs the steps: header, presizing, the block pipeline, then the
// checks that need every row.
func validate(ctx context.Context, r io.Reader, sizeHint int64) (*Dataset, error) {
	c := theContract()
	sha := sha256.New()
	sp := &splitter{r: io.TeeReader(r, sha), buf: make([]byte, 0, blockSize)}

	hdr, headerLine, err := c.readHeader(sp)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{}
	grown := ds.presize(sp, sizeHint)
	probs, total, err := c.decodeBlocks(ctx, sp, hdr, headerLine+1, ds, grown)
	if err != nil {
		return nil, err
	}
	if total > 0 {
		return nil, &ValidationError{Problems: probs, Total: total}
	}
	if err := ds.checkRows(); err != nil {
		return nil, err
	}
	ds.SHA256 = hex.EncodeToString(sha.Sum(nil))
	return ds, nil
}

// readHeader reads the header line and checks it names every contract
// column once.
func (c *contract) readHeader(sp *splitter) (*headerInfo, int, error) {
	header, headerLine, err := sp.header()
	if err != nil {
		return nil, 0, err
	}
	if len(header) == 0 {
		return nil, 0, &ValidationError{Total: 1, Problems: []Problem{{Rule: "header", Reason: "the file is empty; a header line and data rows are required"}}}
	}
	hdr := newHeaderInfo(header)
	if probs := c.checkHeader(hdr); len(probs) > 0 {
		return nil, 0, &ValidationError{Total: len(probs), Problems: probs[:min(len(probs), MaxProblems)]}
	}
	return hdr, headerLine, nil
}

// presize grows the columns for the rows the input is expected to hold,
// from its size and the rows per byte of what is already read, so they are
// not copied as they grow and a big file costs its numbers and little more.
// Clearing that memory is mostly page faults (70 ms for a million rows on a
// VM), so it runs beside the first blocks' decoding instead of ahead of it;
// the returned channel closes when it is done.
func (d *Dataset) presize(sp *splitter, sizeHint int64) <-chan struct{} {
	grown := make(chan struct{})
	lines := bytes.Count(sp.buf, []byte{'\n'})
	if sizeHint <= 0 || lines == 0 {
		close(grown)
		return grown
	}
	est := int(float64(sizeHint)/float64(len(sp.buf))*float64(lines)*1.02) + 64
	go func() { defer close(grown); d.grow(est) }()
	return grown
}

// decodeBlocks cuts the rest of the input into blocks (readBlocks), decodes
// and checks them on every core, and collects them into ds (collect). It
// returns the first MaxProblems problems and their total, or a read error
// or ctx's.
func (c *contract) decodeBlocks(ctx context.Context, sp *splitter, hdr *headerInfo, firstLine int, ds *Dataset, grown <-chan struct{}) ([]Problem, int, error) {
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan block, workers)
	results := make(chan *blockResult, workers)
	// Block buffers and result columns go round in circles instead of
	// becoming garbage.
	free := make(chan []byte, 2*workers+2)
	freeResults := make(chan *blockResult, 2*workers+2)

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for b := range jobs {
				if ctx.Err() != nil {
					continue // drain: the reader stops soon
				}
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
		})
	}
	var readErr error // written before jobs closes, read after results closes
	go func() {
		defer close(jobs)
		readErr = readBlocks(ctx, sp, firstLine, free, jobs)
	}()
	go func() { wg.Wait(); close(results) }()

	probs, total := collect(ctx, results, freeResults, ds, grown)
	if err := ctx.Err(); err != nil {
		return nil, 0, err // blocks were skipped: the rows are incomplete
	}
	var long *errLineTooLong
	if errors.As(readErr, &long) { // the problems before it, then it
		if len(probs) < MaxProblems {
			probs = append(probs, long.problem())
		}
		return probs, total + 1, nil
	}
	if readErr != nil {
		return nil, 0, fmt.Errorf("read csv: %w", readErr)
	}
	return probs, total, nil
}

// collect takes the decoded blocks as they finish, puts them back in input
// order, and appends their rows to ds until the first problem, after which
// problems are only counted. It returns the first MaxProblems problems and
// their total. Spent results go back to free for the workers.
func collect(ctx context.Context, results <-chan *blockResult, free chan<- *blockResult, ds *Dataset, grown <-chan struct{}) ([]Problem, int) {
	pending := map[int]*blockResult{} // finished out of order, waiting for their turn
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
				select {
				case <-grown:
					ds.append(res)
				case <-ctx.Done(): // the rows are dropped anyway; drain on
				}
			}
			select {
			case free <- res:
			default:
			}
		}
	}
	return probs, total
}

// readBlocks sends the input's blocks to jobs in order, numbered, with the
// file line each starts on, reusing buffers from free. It stops at the end
// of the input, on a read error, or when ctx is done.
func readBlocks(ctx context.Context, sp *splitter, line int, free <-chan []byte, jobs chan<- block) error {
	for seq := 0; ; seq++ {
		var buf []byte
		select {
		case buf = <-free:
		default:
		}
		data, err := sp.next(buf)
		if len(data) > 0 {
			select {
			case jobs <- block{seq: seq, data: data, firstLine: line}:
			case <-ctx.Done():
				return ctx.Err()
			}
			line += bytes.Count(data, []byte{'\n'})
		}
		if err == io.EOF {
			return nil
		}
		var long *errLineTooLong
		if errors.As(err, &long) {
			long.line = line // the buffer, and so the long record, starts here
		}
		if err != nil {
			return err
		}
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
				Column: d.targetColumn(), Rule: "classes",
				Reason: fmt.Sprintf("class %d has %d rows (class %d has %d); both classes need at least %d rows to split into training and evaluation",
					class, n, 1-class, counts[1-class], MinRowsPerClass),
			}}}
		}
	}
	return nil
}

// targetColumn names the dataset's target column.
func (d *Dataset) targetColumn() string {
	if d.Schema != nil {
		return d.Schema.Target.Column
	}
	return TargetColumn
}

// isTable reports whether the rows are in Num and Cat (a schema other than
// the default).
func (d *Dataset) isTable() bool { return d.Schema != nil && !d.Schema.IsDefault() }

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
