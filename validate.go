package mlservice

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"
	"github.com/gocarina/gocsv"
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

// splitter cuts the stream into blocks that end on a record boundary: after
// a newline that is not inside a quoted field.
type splitter struct {
	r    io.Reader
	buf  []byte // unconsumed bytes, starting at a record boundary
	eof  bool
	read int
}

// fill reads until buf holds at least want bytes or the input ends.
func (s *splitter) fill(want int) error {
	for len(s.buf) < want && !s.eof {
		if cap(s.buf)-len(s.buf) < 4096 {
			s.buf = slices.Grow(s.buf, max(cap(s.buf), blockSize))
		}
		n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		s.read += n
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
		lines := 1 + bytes.Count(s.buf[:cut], []byte{'\n'}) - 1
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
	*res = blockResult{seq: b.seq, bytes: len(b.data), x: res.x, y: res.y[:0], problems: res.problems[:0]}
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

// cell is one CSV value as decoded by gocsv: the number, or a NaN whose
// payload says why there is none (a null or text; a parsed number is always
// finite). It never fails to decode, so that validator sees every cell of a
// row and all its problems are reported. gocsv allocates a record and boxes
// each cell once per row; at 8 pointer-free bytes a cell takes the runtime's
// cheapest allocation. The text of a bad cell is recovered from the input
// when it is reported.
type cell float64

type cellKind uint8

const (
	cellNumber cellKind = iota
	cellNull
	cellText
)

const (
	nullCellBits = 0x7ff8_6d6c_0000_0001 // quiet NaNs with a payload of our own
	textCellBits = 0x7ff8_6d6c_0000_0002
)

func makeCell(v float64, k cellKind) cell {
	switch k {
	case cellNull:
		return cell(math.Float64frombits(nullCellBits))
	case cellText:
		return cell(math.Float64frombits(textCellBits))
	}
	return cell(v)
}

func (c cell) kind() cellKind {
	switch math.Float64bits(float64(c)) {
	case nullCellBits:
		return cellNull
	case textCellBits:
		return cellText
	}
	return cellNumber
}

func (c cell) value() float64 { return float64(c) }

// UnmarshalCSV implements gocsv.TypeUnmarshaller.
func (c *cell) UnmarshalCSV(s string) error {
	t := strings.TrimSpace(s)
	if t == "" || isLetter(t[0]) || len(t) > 1 && (t[0] == '-' || t[0] == '+') && isLetter(t[1]) {
		if isNullToken(t) {
			*c = makeCell(0, cellNull)
			return nil
		}
		*c = makeCell(0, cellText)
		return nil
	}
	v, ok := parseDecimal(t)
	if ok {
		*c = cell(v)
		return nil
	}
	// Plain decimal notation only: strconv would also take hex floats.
	for i := 0; i < len(t); i++ {
		switch ch := t[i]; {
		case ch >= '0' && ch <= '9', ch == '.', ch == '-', ch == '+', ch == 'e', ch == 'E':
		default:
			*c = makeCell(0, cellText)
			return nil
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	switch {
	case err == nil:
		*c = cell(v)
	case errors.Is(err, strconv.ErrRange) && (v > 1 || v < -1):
		*c = makeCell(0, cellNull) // overflows to ±Inf
	default:
		*c = makeCell(0, cellText)
	}
	return nil
}

func isLetter(b byte) bool { return b|0x20 >= 'a' && b|0x20 <= 'z' }

// exactPow10 holds the powers of ten that float64 represents exactly.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseDecimal reads the common shapes "-123" and "123.45" in a few ns,
// five times faster than strconv, and reports false for anything else
// (exponents, long mantissas), which strconv then handles. When the digits
// form an integer m ≤ 2⁵³ and there are k ≤ 22 decimals, m and 10ᵏ are exact
// float64s and one IEEE division rounds m/10ᵏ correctly (Clinger's fast
// path), so the result is bit for bit strconv's. FuzzParseDecimal checks it.
func parseDecimal(t string) (float64, bool) {
	if t == "" {
		return 0, false
	}
	i, neg := 0, false
	if t[0] == '-' || t[0] == '+' {
		neg, i = t[0] == '-', 1
	}
	var mant uint64
	digits, decimals, dot := 0, 0, false
	for ; i < len(t); i++ {
		ch := t[i]
		switch {
		case ch >= '0' && ch <= '9':
			if digits == 19 {
				return 0, false
			}
			mant = mant*10 + uint64(ch-'0')
			digits++
			if dot {
				decimals++
			}
		case ch == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 || mant > 1<<53 || decimals >= len(exactPow10) {
		return 0, false
	}
	f := float64(mant)
	if decimals > 0 {
		f /= exactPow10[decimals]
	}
	if neg {
		f = -f
	}
	return f, true
}

// isNullToken reports the spellings of a missing value that pandas and
// friends write, and the words for non-finite numbers.
func isNullToken(t string) bool {
	switch strings.ToLower(t) {
	case "", "na", "n/a", "nan", "-nan", "+nan", "null", "none", "nil", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity":
		return true
	}
	return false
}

func (r *record) cells() [NumFeatures + 1]*cell {
	return [...]*cell{&r.Age, &r.Income, &r.AccountBalance, &r.TransactionsLast30d, &r.IsPremium, &r.Target}
}

// validatorValue is what validator sees for a cell: nothing for a null (so
// "required" fails), the text for a non-number (so "number" fails), or a
// pointer to the number (so "required" accepts a zero).
func validatorValue(f reflect.Value) any {
	c := f.Addr().Interface().(*cell)
	switch c.kind() {
	case cellNull:
		return nil
	case cellText:
		return "not a number" // fails the "number" rule, as the text did
	}
	return (*float64)(c)
}

// contract is the compiled form of record: the validator, and the fast check
// each field's tag compiles to.
type contract struct {
	validate *validator.Validate
	fields   []contractField // in record field order
}

type contractField struct {
	column string
	fast   fastRule
}

// fastRule is a validate tag compiled to plain comparisons. validator/v10
// stays the authority: a row that fails a fast rule is validated again by
// validator, and its verdict and error are the ones used. A tag the compiler
// does not know turns the fast rule off (exact=false), so such a field sends
// every row to validator. FuzzFastRuleAgreesWithValidator keeps the two in step.
type fastRule struct {
	exact            bool
	lower, upper     float64
	hasLower         bool
	hasUpper, binary bool
}

func (r fastRule) ok(c *cell) bool {
	if !r.exact || c.kind() != cellNumber {
		return false
	}
	v := c.value()
	return (!r.hasLower || v >= r.lower) && (!r.hasUpper || v <= r.upper) && (!r.binary || v == 0 || v == 1)
}

var theContract = sync.OnceValue(func() *contract {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterCustomTypeFunc(validatorValue, cell(0))
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		if name := f.Tag.Get("csv"); name != "" {
			return name
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		return name
	})
	if err := v.RegisterValidation("binary", func(fl validator.FieldLevel) bool {
		f := fl.Field()
		if !f.CanFloat() {
			return false
		}
		return f.Float() == 0 || f.Float() == 1
	}); err != nil {
		panic(err) // a constant tag name; cannot fail
	}
	c := &contract{validate: v}
	t := reflect.TypeFor[record]()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("csv")
		c.fields = append(c.fields, contractField{column: name, fast: compileRule(f.Tag.Get("validate"))})
	}
	return c
})

func compileRule(tag string) fastRule {
	r := fastRule{exact: true}
	for _, t := range strings.Split(tag, ",") {
		name, param, _ := strings.Cut(t, "=")
		switch name {
		case "required", "number":
			// implied: a fast rule passes numbers only
		case "binary":
			r.binary = true
		case "gte", "lte":
			v, err := strconv.ParseFloat(param, 64)
			if err != nil {
				return fastRule{}
			}
			if name == "gte" {
				r.lower, r.hasLower = v, true
			} else {
				r.upper, r.hasUpper = v, true
			}
		default:
			return fastRule{}
		}
	}
	return r
}

func (c *contract) quickCheck(rec *record) bool {
	for i, cl := range rec.cells() {
		if !c.fields[i].fast.ok(cl) {
			return false
		}
	}
	return true
}

// check runs validator on a record and turns its verdict into problems.
// raw is the record's text, parsed again here (bad rows only) to quote the
// offending values; column maps a column name to its header position.
func (c *contract) check(rec *record, line int, raw []byte, column map[string]int) []Problem {
	err := c.validate.Struct(rec)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return []Problem{{Line: line, Rule: "validate", Reason: err.Error()}}
	}
	fields, _ := csv.NewReader(bytes.NewReader(raw)).Read()
	probs := make([]Problem, 0, len(verrs))
	for _, fe := range verrs {
		col := fe.Field()
		p := Problem{Line: line, Column: col, Rule: fe.Tag(), Reason: ruleReason(fe.Tag(), fe.Param())}
		if fe.Param() != "" {
			p.Rule += "=" + fe.Param()
		}
		if i, ok := column[col]; ok && i < len(fields) {
			p.Value = fields[i]
		}
		probs = append(probs, p)
	}
	return probs
}

func ruleReason(tag, param string) string {
	switch tag {
	case "required":
		return "missing value (empty, NA, NaN, null, None or ±Inf)"
	case "number":
		return "not a number"
	case "gte":
		return "must be >= " + param
	case "lte":
		return "must be <= " + param
	case "binary":
		return "must be 0 or 1"
	}
	return "breaks rule " + tag
}

// checkHeader reports missing contract columns (all of them) and duplicated
// column names.
func (c *contract) checkHeader(hdr *headerInfo) []Problem {
	var probs []Problem
	seen := map[string]bool{}
	for _, h := range hdr.fields {
		if seen[h] {
			probs = append(probs, Problem{Line: 1, Column: h, Rule: "duplicate column", Reason: "the column name appears more than once in the header"})
		}
		seen[h] = true
	}
	// gocsv reads the header the way it will map rows, so ask it which
	// contract columns it cannot find.
	um, err := gocsv.NewUnmarshaller(csv.NewReader(bytes.NewReader(hdr.csv)), &record{})
	if err != nil {
		return append(probs, Problem{Line: 1, Rule: "header", Reason: err.Error()})
	}
	for _, missing := range um.MismatchedStructFields {
		probs = append(probs, Problem{Line: 1, Column: missing, Rule: "missing column", Reason: "required column is not in the header"})
	}
	return probs
}

// ErrMalformedRequest is returned by DecodeFeatures and DecodeBatch for a
// body that is not valid JSON.
var ErrMalformedRequest = errors.New("malformed JSON")

// featuresRequest is the contract for one row of a prediction request,
// written once for validator/v10. Pointers tell a missing or null field
// from a zero.
type featuresRequest struct {
	Age                 *float64 `json:"age" validate:"required,gte=0"`
	Income              *float64 `json:"income" validate:"required"`
	AccountBalance      *float64 `json:"account_balance" validate:"required"`
	TransactionsLast30d *float64 `json:"transactions_last_30d" validate:"required,gte=0"`
	IsPremium           *float64 `json:"is_premium" validate:"required,binary"`
}

// FieldProblem is one invalid field of a request.
type FieldProblem struct {
	Field  string `json:"field"`  // e.g. "age" or "instances[3].age"
	Reason string `json:"reason"` // what is wrong, in words
}

// InputError lists every invalid field of a request. It matches
// ErrInvalidFeatures.
type InputError struct {
	Problems []FieldProblem
}

func (e *InputError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Reason
	}
	return "invalid features: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalidFeatures) true.
func (e *InputError) Is(target error) bool { return target == ErrInvalidFeatures }

// DecodeFeatures parses one JSON object such as
//
//	{"age": 42, "income": 52000, "account_balance": -120.5, "transactions_last_30d": 7, "is_premium": 1}
//
// Invalid JSON gives an error matching ErrMalformedRequest; anything else
// wrong (not an object, a field missing, null, of the wrong type, or out of
// the contract's domain) gives an *InputError that lists every bad field.
// Unknown fields are ignored.
func DecodeFeatures(data []byte) (Features, error) {
	if f, ok := decodeFlat(data); ok {
		return f, nil
	}
	return decodeFeaturesFull(data)
}

// decodeFeaturesFull decodes field by field and lets validator judge.
func decodeFeaturesFull(data []byte) (Features, error) {
	if !json.Valid(data) {
		return Features{}, malformed(data)
	}
	var probs []FieldProblem
	f := decodeInstance(data, "", &probs)
	if len(probs) > 0 {
		return Features{}, &InputError{Problems: probs}
	}
	return f, nil
}

// DecodeBatch parses {"instances": [ {...}, ... ]} with at most maxRows
// instances (no limit if maxRows <= 0), reporting problems like
// DecodeFeatures, with fields named "instances[i].age".
func DecodeBatch(data []byte, maxRows int) ([]Features, error) {
	if !json.Valid(data) {
		return nil, malformed(data)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(data, &body); err != nil || body == nil { // body == nil: the JSON null
		return nil, &InputError{Problems: []FieldProblem{{Field: "body", Reason: "must be a JSON object with an instances array"}}}
	}
	raw, ok := body["instances"]
	if !ok || string(raw) == "null" {
		return nil, &InputError{Problems: []FieldProblem{{Field: "instances", Reason: "required"}}}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, &InputError{Problems: []FieldProblem{{Field: "instances", Reason: "must be an array of objects"}}}
	}
	switch {
	case len(items) == 0:
		return nil, &InputError{Problems: []FieldProblem{{Field: "instances", Reason: "must not be empty"}}}
	case maxRows > 0 && len(items) > maxRows:
		return nil, &InputError{Problems: []FieldProblem{{Field: "instances", Reason: fmt.Sprintf("has %d rows, the limit is %d", len(items), maxRows)}}}
	}
	out := make([]Features, len(items))
	var probs []FieldProblem
	for i, item := range items {
		out[i] = decodeInstance(item, fmt.Sprintf("instances[%d].", i), &probs)
	}
	if len(probs) > 0 {
		return nil, &InputError{Problems: probs}
	}
	return out, nil
}

// decodeFlat is the fast path of DecodeFeatures for the shape nearly every
// request has: one object holding exactly the five features, each once, as
// plain numbers, with values inside the contract. It reports false for
// anything else, and DecodeFeatures then takes the full path, which is the
// authority on errors. Where it succeeds, it gives what the full path would
// (FuzzDecodeFlat), in a few hundred ns instead of several µs.
func decodeFlat(data []byte) (Features, bool) {
	var vals [NumFeatures]float64
	var seen [NumFeatures]bool
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return Features{}, false
	}
	i = skipSpace(data, i+1)
	for n := 0; n < NumFeatures; n++ {
		if n > 0 {
			if i >= len(data) || data[i] != ',' {
				return Features{}, false
			}
			i = skipSpace(data, i+1)
		}
		// A key without escapes.
		if i >= len(data) || data[i] != '"' {
			return Features{}, false
		}
		end := bytes.IndexByte(data[i+1:], '"')
		if end < 0 {
			return Features{}, false
		}
		key := data[i+1 : i+1+end]
		if bytes.IndexByte(key, '\\') >= 0 {
			return Features{}, false
		}
		j := -1
		for k, name := range FeatureNames {
			if string(key) == name {
				j = k
				break
			}
		}
		if j < 0 || seen[j] {
			return Features{}, false
		}
		seen[j] = true
		i = skipSpace(data, i+2+end)
		if i >= len(data) || data[i] != ':' {
			return Features{}, false
		}
		i = skipSpace(data, i+1)
		start := i
		i = scanJSONNumber(data, i)
		if i < 0 {
			return Features{}, false
		}
		v, err := strconv.ParseFloat(string(data[start:i]), 64)
		if err != nil {
			return Features{}, false
		}
		vals[j] = v
		i = skipSpace(data, i)
	}
	if i >= len(data) || data[i] != '}' || skipSpace(data, i+1) != len(data) {
		return Features{}, false
	}
	f := Features{vals[0], vals[1], vals[2], vals[3], vals[4]}
	if f.Check() != nil {
		return Features{}, false
	}
	return f, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanJSONNumber returns the index just past the JSON number at b[i:], or
// -1 if there is none: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanJSONNumber(b []byte, i int) int {
	digits := func(i int) int {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if i = digits(i + 1); i < 0 {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i = digits(i); i < 0 {
			return -1
		}
	}
	return i
}

func malformed(data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		err = errors.New("invalid JSON")
	}
	return fmt.Errorf("%w: %v", ErrMalformedRequest, err)
}

// decodeInstance decodes one object field by field, so that every wrong
// type is reported and not just the first, then lets validator check the
// values against featuresRequest's tags.
func decodeInstance(data []byte, prefix string, probs *[]FieldProblem) Features {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		field := strings.TrimSuffix(prefix, ".")
		if field == "" {
			field = "body"
		}
		*probs = append(*probs, FieldProblem{Field: field, Reason: "must be a JSON object"})
		return Features{}
	}
	var req featuresRequest
	dst := [NumFeatures]**float64{&req.Age, &req.Income, &req.AccountBalance, &req.TransactionsLast30d, &req.IsPremium}
	var reasons [NumFeatures]string // per feature, in FeatureNames order
	for j, name := range FeatureNames {
		raw, ok := obj[name]
		if !ok || string(raw) == "null" {
			continue // validator reports "required"
		}
		var v float64
		if err := json.Unmarshal(raw, &v); err != nil {
			reasons[j] = "must be a number"
			// A number literal that float64 cannot hold (1e400). Not
			// json.Number: it also takes a string such as "1".
			if c := raw[0]; c == '-' || c >= '0' && c <= '9' {
				reasons[j] = "number out of range"
			}
			continue
		}
		*dst[j] = &v
	}
	err := theContract().validate.Struct(&req)
	var verrs validator.ValidationErrors
	if errors.As(err, &verrs) {
		for _, fe := range verrs {
			j := slices.Index(FeatureNames[:], fe.Field())
			if j < 0 || reasons[j] != "" {
				continue
			}
			reasons[j] = ruleReason(fe.Tag(), fe.Param())
			if fe.Tag() == "required" {
				reasons[j] = "required (missing or null)"
			}
		}
	} else if err != nil {
		*probs = append(*probs, FieldProblem{Field: strings.TrimSuffix(prefix, "."), Reason: err.Error()})
		return Features{}
	}
	bad := false
	for j, r := range reasons {
		if r != "" {
			*probs = append(*probs, FieldProblem{Field: prefix + FeatureNames[j], Reason: r})
			bad = true
		}
	}
	if bad {
		return Features{}
	}
	return Features{*req.Age, *req.Income, *req.AccountBalance, *req.TransactionsLast30d, *req.IsPremium}
}
