// Package tabular is the neutral form in which every protocol's decoder
// (Open Inference Protocol v2 over REST and gRPC, MLflow's scoring JSON and
// CSV) hands the rows of a request to schema validation: one column per
// feature of the model, each cell a number, a string, a bool or a null,
// exactly as the request said it.
//
// A decoder checks its protocol's own rules (names, shapes, datatypes) and
// nothing else: whether a value breaks a feature's rule, is out of range or
// is an unknown category is judged by the one validation path after it, so
// every protocol reports the same problems for the same row.
package tabular

import (
	"fmt"
	"math"
	"strings"
)

// FeatureType is what a model's feature holds, as its schema declares it.
type FeatureType uint8

const (
	FeatureNumber   FeatureType = iota // a finite decimal
	FeatureBinary                      // 0 or 1, treated as a number
	FeatureCategory                    // a string from a known set
)

var featureTypeNames = [...]string{FeatureNumber: "number", FeatureBinary: "binary", FeatureCategory: "category"}

func (t FeatureType) String() string { return enumName(featureTypeNames[:], t, "FeatureType") }

// enumName is names[v], or type(v) for a value names lacks.
func enumName[T ~uint8](names []string, v T, typ string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(v))
}

// Feature is one input of a model: decoders take the model's features, in
// the schema's order, to know which columns a request must carry.
type Feature struct {
	Name string
	Type FeatureType
	// Missing: the schema lets the value be missing, so a request may
	// leave out its column altogether (every cell null).
	Missing bool
}

// AllNumeric reports whether no feature is a category, so that a request
// may send the whole table as one matrix of numbers.
func AllNumeric(features []Feature) bool {
	for _, f := range features {
		if f.Type == FeatureCategory {
			return false
		}
	}
	return true
}

// FeatureNames lists the features' names for an error message, the first
// ten and how many more.
func FeatureNames(features []Feature) string {
	names := make([]string, len(features))
	for i, f := range features {
		names[i] = f.Name
	}
	const most = 10
	if len(names) > most {
		return strings.Join(names[:most], ", ") + fmt.Sprintf(" and %d more", len(names)-most)
	}
	return strings.Join(names, ", ")
}

// Kind is what one cell of a request holds.
type Kind uint8

const (
	Null   Kind = iota // missing: JSON null, an empty or NA CSV cell, a NaN
	Number             // a finite float64
	String             // text, always valid UTF-8
	Bool               // true or false, as JSON or CSV wrote it

	mixed // a Column whose cells differ in kind
)

var kindNames = [...]string{Null: "null", Number: "number", String: "string", Bool: "bool"}

func (k Kind) String() string { return enumName(kindNames[:], k, "Kind") }

// Cell is one value of a request. For the row decoder it reads as a JSON
// scalar: Num for a Number (and 1 or 0 for a Bool), Str for a String,
// nothing for a Null.
type Cell struct {
	Kind Kind
	Num  float64
	Str  string
}

// Table is the rows of one request, by column.
type Table struct {
	Rows int
	// Columns holds one column per feature, in the order of the features
	// the decoder was given, each with Rows cells.
	Columns []Column
}

// Column is one feature's cells. It stores them by type, so that a column
// of numbers is one []float64, and builds itself as cells are appended;
// the zero Column is empty and ready for use.
type Column struct {
	Name string

	n     int       // cells
	kind  Kind      // every cell's kind, or mixed
	kinds []Kind    // each cell's kind, only when kind is mixed
	nums  []float64 // per cell once any cell is a Number or Bool (else 0)
	strs  []string  // per cell once any cell is a String (else "")
}

// NumberColumn is a column of numbers that uses vals as its storage: the
// caller must not change vals afterwards. NaN reads as Null, as pandas
// writes a missing number; ±Inf stays a Number for validation to refuse.
func NumberColumn(name string, vals []float64) Column {
	c := Column{Name: name, n: len(vals), kind: Number, nums: vals}
	for i, v := range vals {
		if math.IsNaN(v) {
			c.setKinds(i)
			break
		}
	}
	return c
}

// setKinds turns c into a mixed column whose NaNs, all at or after cell
// from, are Null; vals itself is left as it is.
func (c *Column) setKinds(from int) {
	c.kinds = make([]Kind, c.n)
	for i := range c.kinds {
		c.kinds[i] = Number
		if i >= from && math.IsNaN(c.nums[i]) {
			c.kinds[i] = Null
		}
	}
	c.kind = mixed
}

// StringColumn is a column of strings that uses vals as its storage.
func StringColumn(name string, vals []string) Column {
	return Column{Name: name, n: len(vals), kind: String, strs: vals}
}

// Len is the number of cells.
func (c *Column) Len() int { return c.n }

// At returns cell i, 0 <= i < Len().
func (c *Column) At(i int) Cell {
	k := c.kind
	if k == mixed {
		k = c.kinds[i]
	}
	switch k {
	case Number, Bool:
		return Cell{Kind: k, Num: c.nums[i]}
	case String:
		return Cell{Kind: k, Str: c.strs[i]}
	}
	if i < 0 || i >= c.n {
		panic(fmt.Sprintf("tabular: cell %d of a column of %d", i, c.n))
	}
	return Cell{}
}

// Numbers returns the column's values when every cell is a Number: the
// fast path for a model that reads numbers column by column. The slice is
// the column's storage.
func (c *Column) Numbers() ([]float64, bool) {
	if c.kind == Number || c.n == 0 {
		return c.nums[:c.n:c.n], true
	}
	return nil, false
}

// Uniform reports the kind of every cell, or false when the cells differ.
// An empty column is uniformly Null.
func (c *Column) Uniform() (Kind, bool) { return c.kind, c.kind != mixed }

// Grow makes room for n more cells of kind k without reallocating.
func (c *Column) Grow(n int, k Kind) {
	switch k {
	case Number, Bool:
		c.nums = grow(c.nums, n)
	case String:
		c.strs = grow(c.strs, n)
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s)-len(s) >= n {
		return s
	}
	return append(s[:len(s):len(s)], make([]T, n)...)[:len(s)]
}

// AppendNumber appends a Number cell; a NaN is appended as Null.
func (c *Column) AppendNumber(v float64) {
	if c.kind == Number && c.n > 0 && len(c.nums) == c.n && v == v { // the common case, inlined
		c.nums = append(c.nums, v)
		c.n++
		return
	}
	if math.IsNaN(v) {
		c.AppendNull()
		return
	}
	c.add(Number, v, "")
}

// AppendBool appends a Bool cell.
func (c *Column) AppendBool(b bool) {
	v := 0.0
	if b {
		v = 1
	}
	c.add(Bool, v, "")
}

// AppendString appends a String cell; s must be valid UTF-8.
func (c *Column) AppendString(s string) {
	if c.kind == String && c.n > 0 && len(c.strs) == c.n {
		c.strs = append(c.strs, s)
		c.n++
		return
	}
	c.add(String, 0, s)
}

// AppendNull appends a Null cell.
func (c *Column) AppendNull() { c.add(Null, 0, "") }

func (c *Column) add(k Kind, num float64, s string) {
	switch {
	case c.n == 0:
		c.kind = k
	case c.kind != k && c.kind != mixed:
		c.kinds = make([]Kind, c.n, c.n+1)
		for i := range c.kinds {
			c.kinds[i] = c.kind
		}
		c.kind = mixed
	}
	if c.kind == mixed {
		c.kinds = append(c.kinds, k)
	}
	switch k {
	case Number, Bool:
		if len(c.nums) < c.n {
			c.nums = append(c.nums, make([]float64, c.n-len(c.nums))...)
		}
		c.nums = append(c.nums, num)
	case String:
		if len(c.strs) < c.n {
			c.strs = append(c.strs, make([]string, c.n-len(c.strs))...)
		}
		c.strs = append(c.strs, s)
	}
	c.n++
}

// Error is a request that breaks its protocol's rules: the field at fault
// (a tensor, a column, or a key such as "inputs" or "body") and what is
// wrong with it. Decoders return it for every client mistake, never a
// panic; it deserves a 400 (gRPC INVALID_ARGUMENT).
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Errorf returns an *Error for field with a formatted reason.
func Errorf(field, format string, args ...any) *Error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Interner hands out one string for equal bytes, so that a column of a
// few categories repeated over a thousand rows allocates each value once.
// It remembers the first internMax distinct values and allocates the rest
// every time; the zero Interner is ready for use.
type Interner struct {
	n    int
	seen [internMax]string
}

const internMax = 16

// String returns b as a string, shared with an earlier equal one.
func (in *Interner) String(b []byte) string {
	for _, s := range in.seen[:in.n] {
		if s == string(b) { // no allocation: the compiler compares in place
			return s
		}
	}
	s := string(b)
	if in.n < internMax {
		in.seen[in.n] = s
		in.n++
	}
	return s
}
