package oip

import (
	"math"
	"strconv"
	"strings"

	"github.com/mlservice/mlservice/internal/tabular"
)

// datatype is a tensor element type of the protocol.
type datatype uint8

const (
	dtInvalid datatype = iota
	dtBool
	dtUint8
	dtUint16
	dtUint32
	dtUint64
	dtInt8
	dtInt16
	dtInt32
	dtInt64
	dtFP16
	dtFP32
	dtFP64
	dtBF16
	dtBytes
)

var datatypeNames = [...]string{
	dtBool: "BOOL", dtUint8: "UINT8", dtUint16: "UINT16", dtUint32: "UINT32", dtUint64: "UINT64",
	dtInt8: "INT8", dtInt16: "INT16", dtInt32: "INT32", dtInt64: "INT64",
	dtFP16: "FP16", dtFP32: "FP32", dtFP64: "FP64", dtBF16: "BF16", dtBytes: "BYTES",
}

func parseDatatype[T string | []byte](s T) datatype {
	for d, name := range datatypeNames {
		if name != "" && name == string(s) {
			return datatype(d)
		}
	}
	return dtInvalid
}

func (d datatype) String() string { return datatypeNames[d] }

func (d datatype) isInt() bool   { return d >= dtUint8 && d <= dtInt64 }
func (d datatype) isFloat() bool { return d == dtFP32 || d == dtFP64 }

// rawSize is the bytes of one element in raw_input_contents; 0 for BYTES,
// whose elements carry their own length.
func (d datatype) rawSize() int {
	switch d {
	case dtBool, dtUint8, dtInt8:
		return 1
	case dtUint16, dtInt16, dtFP16, dtBF16:
		return 2
	case dtUint32, dtInt32, dtFP32:
		return 4
	case dtUint64, dtInt64, dtFP64:
		return 8
	}
	return 0
}

// intRange is the values an integer datatype holds, as float64s (exact
// for every bound but the 64-bit ones, which no JSON float can pass
// without rounding anyway).
func (d datatype) intRange() (lo, hi float64) {
	switch d {
	case dtUint8:
		return 0, math.MaxUint8
	case dtUint16:
		return 0, math.MaxUint16
	case dtUint32:
		return 0, math.MaxUint32
	case dtUint64:
		return 0, math.MaxUint64
	case dtInt8:
		return math.MinInt8, math.MaxInt8
	case dtInt16:
		return math.MinInt16, math.MaxInt16
	case dtInt32:
		return math.MinInt32, math.MaxInt32
	}
	return math.MinInt64, math.MaxInt64
}

// tensor is one decoded input: its values flattened row-major in col.
type tensor struct {
	name  string
	dt    datatype
	shape []int64
	col   tabular.Column
	// binarySize is the byte count of a REST input whose values follow
	// the JSON (the binary tensor extension), or -1.
	binarySize int
}

func (t *tensor) field() string { return "input " + strconv.Quote(t.name) }

// DecodeOptions are the limits a decoder enforces.
type DecodeOptions struct {
	// MaxRows is the most rows one request may carry (the server's batch
	// limit); 0 means no limit.
	MaxRows int
	// HeaderLength is a REST request's Inference-Header-Content-Length,
	// set when it uses the binary tensor extension (Triton's HTTP client
	// does by default): the JSON is the body's first HeaderLength bytes,
	// and each input with a binary_data_size parameter takes that many
	// bytes from the rest, in order, laid out as raw_input_contents.
	// 0 means the whole body is JSON.
	HeaderLength int
}

// Outputs the model gives, by name.
const (
	OutputProbability = "probability" // FP64: the probability of the positive class
	OutputLabel       = "label"       // INT64: 1 when the probability reaches the threshold, else 0
)

// Request is what an inference request says besides its rows.
type Request struct {
	ID string // echoed in the response
	// Probability and Label are the outputs to return: both when the
	// request names none.
	Probability, Label bool
	// Raw is set when a gRPC request sent raw_input_contents, so that the
	// response carries raw_output_contents the same way.
	Raw bool
}

func (r *Request) selectOutput(name string) *tabular.Error {
	switch name {
	case OutputProbability:
		r.Probability = true
	case OutputLabel:
		r.Label = true
	default:
		return tabular.Errorf("outputs", "unknown output %q (the model gives %q and %q)", name, OutputProbability, OutputLabel)
	}
	return nil
}

// allOutputs makes a request that named no output get both.
func (r *Request) allOutputs() {
	if !r.Probability && !r.Label {
		r.Probability, r.Label = true, true
	}
}

// checkParameter says why a request or tensor parameter asks for an
// encoding this decoder does not speak, or ""; other parameters are hints
// it ignores.
func checkParameter(key, value string) string {
	switch key {
	case "content_type":
		switch value {
		case "", "pd", "np", "str":
			return ""
		}
		return "content_type " + strconv.Quote(value) + ` is not supported (send "pd", "np" or none)`
	}
	return ""
}

// checkValues checks that every cell of t fits its datatype, and turns
// FP32 values into what an FP32 holds and BOOL values into 1 and 0, so
// that a column carries what the tensor meant whatever the wire form.
// Null cells (JSON null, a NaN) pass: they mean a missing value.
func (t *tensor) checkValues() *tabular.Error {
	var want tabular.Kind
	switch {
	case t.dt == dtBool:
		want = tabular.Bool
	case t.dt == dtBytes:
		want = tabular.String
	default:
		want = tabular.Number
	}
	if k, ok := t.col.Uniform(); ok && (k == tabular.Null || k == want) {
		switch { // the common cases: nothing to convert
		case k == tabular.Null || want == tabular.String:
			return nil
		case t.dt == dtFP64:
			vals, _ := t.col.Numbers()
			for i, v := range vals {
				if math.IsInf(v, 0) {
					return tabular.Errorf(t.field(), "element %d is %g, not a finite number", i, v)
				}
			}
			return nil
		}
	}
	n := t.col.Len()
	var out tabular.Column // the converted cells, when the datatype converts
	convert := t.dt == dtFP32 || t.dt == dtBool
	if convert {
		out.Grow(n, tabular.Number)
	}
	for i := range n {
		c := t.col.At(i)
		if c.Kind == tabular.Null {
			if convert {
				out.AppendNull()
			}
			continue
		}
		if c.Kind != want {
			return tabular.Errorf(t.field(), "element %d is a %s, but datatype %s holds %ss", i, c.Kind, t.dt, want)
		}
		switch {
		case t.dt == dtBool:
			out.AppendNumber(c.Num)
		case t.dt == dtFP32:
			f := float32(c.Num)
			if math.IsInf(float64(f), 0) {
				return tabular.Errorf(t.field(), "element %d is %g, beyond what an FP32 holds", i, c.Num)
			}
			out.AppendNumber(float64(f))
		case t.dt.isInt():
			lo, hi := t.dt.intRange()
			if c.Num != math.Trunc(c.Num) || c.Num < lo || c.Num > hi {
				return tabular.Errorf(t.field(), "element %d is %g, not an %s", i, c.Num, t.dt)
			}
		case t.dt == dtFP64 && math.IsInf(c.Num, 0):
			return tabular.Errorf(t.field(), "element %d is %g, not a finite number", i, c.Num)
		}
	}
	if convert {
		out.Name = t.col.Name
		t.col = out
	}
	return nil
}

// elements is the product of shape's dimensions, or why there is none: a
// negative dimension or a product too large to be a real tensor.
func elements(shape []int64) (int, string) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, "shape " + shapeString(shape) + " has a negative dimension"
		}
		if d != 0 && n > math.MaxInt32/d {
			return 0, "shape " + shapeString(shape) + " holds too many elements"
		}
		n *= d
	}
	return int(n), ""
}

func shapeString(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// wantDatatypes says which datatypes a feature takes, for error messages.
func wantDatatypes(t tabular.FeatureType) string {
	switch t {
	case tabular.FeatureCategory:
		return "BYTES"
	case tabular.FeatureBinary:
		return "FP64, FP32, an INT or UINT type, or BOOL"
	}
	return "FP64, FP32 or an INT or UINT type"
}

func fits(dt datatype, t tabular.FeatureType) bool {
	switch t {
	case tabular.FeatureCategory:
		return dt == dtBytes
	case tabular.FeatureBinary:
		return dt.isInt() || dt.isFloat() || dt == dtBool
	}
	return dt.isInt() || dt.isFloat()
}

// assemble turns a request's tensors into a table with one column per
// feature: either one tensor per feature (shape [N] or [N, 1]) or, when
// every feature is a number, one [N, F] tensor in the features' order.
func assemble(ts []tensor, features []tabular.Feature, opts DecodeOptions) (*tabular.Table, error) {
	if len(ts) == 0 {
		return nil, tabular.Errorf("inputs", "no input tensors (the model's inputs: %s)", tabular.FeatureNames(features))
	}
	for i := range ts {
		t := &ts[i]
		switch t.dt {
		case dtInvalid:
			return nil, tabular.Errorf(t.field(), "unknown datatype (send one of FP64, FP32, INT64, BOOL, BYTES, ...)")
		case dtFP16, dtBF16:
			return nil, tabular.Errorf(t.field(), "datatype %s is not supported (send FP32 or FP64)", t.dt)
		}
		n, reason := elements(t.shape)
		if reason != "" {
			return nil, tabular.Errorf(t.field(), "%s", reason)
		}
		if n != t.col.Len() {
			return nil, tabular.Errorf(t.field(), "shape %s holds %d values, but the data has %d", shapeString(t.shape), n, t.col.Len())
		}
		if err := t.checkValues(); err != nil {
			return nil, err
		}
	}
	find := featureFinder(features)
	if t := &ts[0]; len(ts) == 1 && len(t.shape) == 2 && t.shape[1] != 1 {
		if find(t.name) < 0 || len(features) > 1 && t.shape[1] == int64(len(features)) {
			return matrix(t, features, opts)
		}
	}
	table := &tabular.Table{Columns: make([]tabular.Column, len(features))}
	seen := make([]bool, len(features))
	rowsFrom := ""
	for i := range ts {
		t := &ts[i]
		j := find(t.name)
		if j < 0 {
			return nil, tabular.Errorf(t.field(), "not an input of this model (its inputs: %s)", tabular.FeatureNames(features))
		}
		if seen[j] {
			return nil, tabular.Errorf(t.field(), "given twice")
		}
		seen[j] = true
		if len(t.shape) == 0 || len(t.shape) > 2 || len(t.shape) == 2 && t.shape[1] != 1 {
			return nil, tabular.Errorf(t.field(), "shape %s: a feature's tensor has shape [N] or [N, 1]", shapeString(t.shape))
		}
		if f := features[j]; !fits(t.dt, f.Type) {
			return nil, tabular.Errorf(t.field(), "datatype %s, but %s is a %s feature: send %s", t.dt, f.Name, f.Type, wantDatatypes(f.Type))
		}
		rows := int(t.shape[0])
		if rowsFrom == "" {
			table.Rows, rowsFrom = rows, t.name
		} else if rows != table.Rows {
			return nil, tabular.Errorf(t.field(), "%d rows, but input %q has %d", rows, rowsFrom, table.Rows)
		}
		table.Columns[j] = t.col
		table.Columns[j].Name = t.name
	}
	for j, f := range features {
		if !seen[j] {
			return nil, tabular.Errorf("input "+strconv.Quote(f.Name), "missing (the model's inputs: %s)", tabular.FeatureNames(features))
		}
	}
	if err := checkRows(&ts[0], table.Rows, opts); err != nil {
		return nil, err
	}
	return table, nil
}

// featureFinder returns a function from a name to its feature's index,
// or -1: a scan for a few features, a map (one allocation) for many.
func featureFinder(features []tabular.Feature) func(name string) int {
	if len(features) <= 16 {
		return func(name string) int {
			for j := range features {
				if features[j].Name == name {
					return j
				}
			}
			return -1
		}
	}
	index := make(map[string]int, len(features))
	for j, f := range features {
		index[f.Name] = j
	}
	return func(name string) int {
		if j, ok := index[name]; ok {
			return j
		}
		return -1
	}
}

// matrix splits one [N, F] tensor of numbers into F columns.
func matrix(t *tensor, features []tabular.Feature, opts DecodeOptions) (*tabular.Table, error) {
	f := len(features)
	switch {
	case t.shape[1] != int64(f):
		return nil, tabular.Errorf(t.field(), "shape %s: one tensor for the whole table needs one column per feature, and this model has %d (%s)",
			shapeString(t.shape), f, tabular.FeatureNames(features))
	case !tabular.AllNumeric(features):
		return nil, tabular.Errorf(t.field(), "one tensor for the whole table needs every feature to be a number, and this model has categories: send one tensor per feature (%s)",
			tabular.FeatureNames(features))
	case !t.dt.isInt() && !t.dt.isFloat():
		return nil, tabular.Errorf(t.field(), "datatype %s, but one tensor for the whole table holds numbers: send FP64", t.dt)
	}
	rows := int(t.shape[0])
	if err := checkRows(t, rows, opts); err != nil {
		return nil, err
	}
	table := &tabular.Table{Rows: rows, Columns: make([]tabular.Column, f)}
	vals, allNumbers := t.col.Numbers()
	for j := range table.Columns {
		if allNumbers {
			col := make([]float64, rows)
			for i := range col {
				col[i] = vals[i*f+j]
			}
			table.Columns[j] = tabular.NumberColumn(features[j].Name, col)
			continue
		}
		c := &table.Columns[j]
		c.Name = features[j].Name
		c.Grow(rows, tabular.Number)
		for i := range rows {
			if cell := t.col.At(i*f + j); cell.Kind == tabular.Number {
				c.AppendNumber(cell.Num)
			} else {
				c.AppendNull()
			}
		}
	}
	return table, nil
}

func checkRows(t *tensor, rows int, opts DecodeOptions) *tabular.Error {
	switch {
	case rows == 0:
		return tabular.Errorf(t.field(), "no rows")
	case opts.MaxRows > 0 && rows > opts.MaxRows:
		return tabular.Errorf(t.field(), "%d rows, the limit is %d", rows, opts.MaxRows)
	}
	return nil
}
