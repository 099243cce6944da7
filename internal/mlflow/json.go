package mlflow

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mlservice/mlservice/internal/jsonscan"
	"github.com/mlservice/mlservice/internal/tabular"
)

// The keys of a JSON body, exactly one of which carries the rows.
var inputKeys = []string{"dataframe_split", "dataframe_records", "instances", "inputs"}

// DecodeJSON reads a JSON scoring body, an object with exactly one of
//
//	"dataframe_split":   {"columns": ["age", ...], "data": [[42, ...], ...], "index": [...]}
//	"dataframe_records": [{"age": 42, ...}, ...]
//	"instances":         the records form, or the columns form {"age": [42, 37], ...}
//	"inputs":            likewise
//
// and optionally "params" (accepted, unused: the models take none); other
// keys are ignored, as MLflow ignores them. Columns that are not features
// are ignored; a feature with no column is an error; a record without a
// feature's key, or a JSON null, is a missing value (pandas' NaN). Each
// cell must be a number, string, bool or null.
func DecodeJSON(body []byte, features []tabular.Feature, opts Options) (*tabular.Table, error) {
	if !utf8.Valid(body) {
		return nil, tabular.Errorf("body", "is not valid UTF-8")
	}
	d := newDecoder(features, opts)
	d.r.Reset(body)
	if err := d.body(); err != nil {
		return nil, err
	}
	return d.table()
}

type decoder struct {
	r        jsonscan.Reader
	features []tabular.Feature
	index    map[string]int // feature name → position
	opts     Options
	cols     []tabular.Column
	present  []bool // the request has a column for the feature
	rows     int
	strings  tabular.Interner // string cells, often a few categories over many rows
}

func newDecoder(features []tabular.Feature, opts Options) *decoder {
	d := &decoder{features: features, opts: opts, index: make(map[string]int, len(features)),
		cols: make([]tabular.Column, len(features)), present: make([]bool, len(features))}
	for j, f := range features {
		d.index[f.Name] = j
		d.cols[j].Name = f.Name
	}
	return d
}

func (d *decoder) syntax() *tabular.Error {
	if err := d.r.Err(); err != nil {
		return tabular.Errorf("body", "%v", err)
	}
	return nil
}

// expect checks that the next value is of kind k.
func (d *decoder) expect(k jsonscan.Kind, field, what string) *tabular.Error {
	got := d.r.Peek()
	if got == k {
		return nil
	}
	if got == jsonscan.Invalid {
		d.r.Skip()
		if err := d.syntax(); err != nil {
			return err
		}
	}
	return tabular.Errorf(field, "must be %s", what)
}

func (d *decoder) body() *tabular.Error {
	if err := d.expect(jsonscan.Object, "body", "a JSON object with exactly one of "+strings.Join(inputKeys, ", ")); err != nil {
		return err
	}
	d.r.BeginObject()
	var keys []string
	format := ""
	for key := range d.r.Keys() {
		k := string(key)
		for _, seen := range keys {
			if seen == k {
				return tabular.Errorf("body", "key %q appears twice", k)
			}
		}
		keys = append(keys, k)
		var err *tabular.Error
		switch k {
		case "dataframe_split", "dataframe_records", "instances", "inputs":
			if format != "" {
				return tabular.Errorf("body", "has both %q and %q: send exactly one of %s", format, k, strings.Join(inputKeys, ", "))
			}
			format = k
			switch {
			case k == "dataframe_split":
				err = d.split(k)
			case k == "dataframe_records" || d.r.Peek() == jsonscan.Array:
				err = d.records(k)
			default:
				err = d.columns(k)
			}
		default: // "params" and anything else
			d.r.Skip()
		}
		if err != nil {
			return err
		}
		if err := d.syntax(); err != nil {
			return err
		}
	}
	if err := d.syntax(); err != nil {
		return err
	}
	if d.r.Finish() != nil {
		return d.syntax()
	}
	if format == "" {
		return tabular.Errorf("body", "must have exactly one of the keys %s; it has %q", strings.Join(inputKeys, ", "), keys)
	}
	return nil
}

// cell appends the next value to col.
func (d *decoder) cell(col *tabular.Column, field func() string) *tabular.Error {
	switch d.r.Peek() {
	case jsonscan.Number:
		v, inRange, ok := d.r.Float()
		if ok && !inRange {
			return tabular.Errorf(field(), "number beyond the range of a float64")
		}
		col.AppendNumber(v)
	case jsonscan.String:
		b, _ := d.r.Bytes()
		col.AppendString(d.strings.String(b)) // the body is valid UTF-8
	case jsonscan.Bool:
		v, _ := d.r.Bool()
		col.AppendBool(v)
	case jsonscan.Null:
		d.r.Null()
		col.AppendNull()
	case jsonscan.Array, jsonscan.Object:
		return tabular.Errorf(field(), "must be a number, string, bool or null, not an array or object")
	default:
		d.r.Skip()
	}
	return d.syntax()
}

func (d *decoder) addRow(field string) *tabular.Error {
	d.rows++
	if d.opts.MaxRows > 0 && d.rows > d.opts.MaxRows {
		return tabular.Errorf(field, "has more than %d rows, the limit", d.opts.MaxRows)
	}
	return nil
}

// records reads [{"col": value, ...}, ...].
func (d *decoder) records(field string) *tabular.Error {
	if err := d.expect(jsonscan.Array, field, "an array of records ({\"column\": value, ...})"); err != nil {
		return err
	}
	d.r.BeginArray()
	setAt := make([]int, len(d.features)) // the row that last set each feature, plus one
	for d.r.NextElem() {
		row := d.rows
		rowField := func() string { return field + "[" + strconv.Itoa(row) + "]" } // built only for an error
		if d.r.Peek() != jsonscan.Object {
			return d.expect(jsonscan.Object, rowField(), "a record: an object keyed by column name")
		}
		d.r.BeginObject()
		for key := range d.r.Keys() {
			j, known := d.index[string(key)]
			if !known {
				d.r.Skip()
				continue
			}
			if setAt[j] == row+1 {
				return tabular.Errorf(rowField(), "key %q appears twice", key)
			}
			setAt[j] = row + 1
			d.present[j] = true
			col := &d.cols[j]
			for col.Len() < row {
				col.AppendNull() // rows before that lacked the key
			}
			if err := d.cell(col, func() string { return rowField() + "." + col.Name }); err != nil {
				return err
			}
		}
		if err := d.syntax(); err != nil {
			return err
		}
		if err := d.addRow(field); err != nil {
			return err
		}
	}
	return d.syntax()
}

// columns reads {"col": [value, ...] or value, ...}.
func (d *decoder) columns(field string) *tabular.Error {
	if err := d.expect(jsonscan.Object, field, "an array of records or an object of columns"); err != nil {
		return err
	}
	d.r.BeginObject()
	first := ""
	for key := range d.r.Keys() {
		j, known := d.index[string(key)]
		if !known {
			d.r.Skip()
			continue
		}
		col := &d.cols[j]
		colField := field + "." + col.Name
		if d.present[j] {
			return tabular.Errorf(field, "key %q appears twice", key)
		}
		d.present[j] = true
		if d.r.Peek() != jsonscan.Array {
			if err := d.cell(col, func() string { return colField }); err != nil {
				return err
			}
		} else {
			d.r.BeginArray()
			for d.r.NextElem() {
				i := col.Len()
				if d.opts.MaxRows > 0 && i >= d.opts.MaxRows {
					return tabular.Errorf(colField, "has more than %d rows, the limit", d.opts.MaxRows)
				}
				if err := d.cell(col, func() string { return colField + "[" + strconv.Itoa(i) + "]" }); err != nil {
					return err
				}
			}
			if err := d.syntax(); err != nil {
				return err
			}
		}
		if first == "" {
			first, d.rows = col.Name, col.Len()
		} else if col.Len() != d.rows {
			return tabular.Errorf(colField, "has %d values, but %q has %d", col.Len(), first, d.rows)
		}
	}
	return d.syntax()
}

// split reads {"columns": [...], "data": [[...], ...], "index": [...]}.
// "data" may come before "columns", so its rows are read into columns by
// position and matched to features by name at the end.
func (d *decoder) split(field string) *tabular.Error {
	if err := d.expect(jsonscan.Object, field, `an object with "columns" and "data"`); err != nil {
		return err
	}
	d.r.BeginObject()
	var names []string
	var byPos []tabular.Column
	haveColumns, haveData := false, false
	for key := range d.r.Keys() {
		var err *tabular.Error
		switch string(key) {
		case "columns":
			if haveColumns {
				return tabular.Errorf(field, `key "columns" appears twice`)
			}
			haveColumns = true
			names, err = d.names(field + ".columns")
		case "data":
			if haveData {
				return tabular.Errorf(field, `key "data" appears twice`)
			}
			haveData = true
			byPos, err = d.splitData(field + ".data")
		case "index":
			d.r.Skip()
		default:
			return tabular.Errorf(field, "has key %q: it takes \"data\", and optionally \"columns\" and \"index\"", key)
		}
		if err != nil {
			return err
		}
	}
	if err := d.syntax(); err != nil {
		return err
	}
	switch {
	case !haveData:
		return tabular.Errorf(field, `"data" is required`)
	case !haveColumns:
		return tabular.Errorf(field, `"columns" is required: name the model's inputs (%s)`, tabular.FeatureNames(d.features))
	case d.rows > 0 && len(names) != len(byPos):
		return tabular.Errorf(field+".columns", "names %d columns, but the rows of data have %d values", len(names), len(byPos))
	}
	for p, name := range names {
		j, known := d.index[name]
		if !known {
			continue
		}
		if d.present[j] {
			return tabular.Errorf(field+".columns", "names %q twice", name)
		}
		d.present[j] = true
		if p < len(byPos) {
			d.cols[j] = byPos[p]
			d.cols[j].Name = name
		}
	}
	return nil
}

func (d *decoder) names(field string) ([]string, *tabular.Error) {
	if err := d.expect(jsonscan.Array, field, "an array of column names"); err != nil {
		return nil, err
	}
	d.r.BeginArray()
	var names []string
	for d.r.NextElem() {
		if d.r.Peek() != jsonscan.String {
			return nil, tabular.Errorf(field, "must be an array of strings")
		}
		b, _ := d.r.Bytes()
		names = append(names, string(b))
	}
	return names, d.syntax()
}

func (d *decoder) splitData(field string) ([]tabular.Column, *tabular.Error) {
	if err := d.expect(jsonscan.Array, field, "an array of rows"); err != nil {
		return nil, err
	}
	d.r.BeginArray()
	var byPos []tabular.Column
	for d.r.NextElem() {
		row := d.rows
		rowField := func() string { return field + "[" + strconv.Itoa(row) + "]" } // built only for an error
		if d.r.Peek() != jsonscan.Array {
			return nil, d.expect(jsonscan.Array, rowField(), "an array of values")
		}
		d.r.BeginArray()
		p := 0
		for ; d.r.NextElem(); p++ {
			if p == len(byPos) {
				if row > 0 {
					return nil, tabular.Errorf(rowField(), "has more values than row 0 (%d)", len(byPos))
				}
				byPos = append(byPos, tabular.Column{})
			}
			if err := d.cell(&byPos[p], func() string { return rowField() + "[" + strconv.Itoa(p) + "]" }); err != nil {
				return nil, err
			}
		}
		if err := d.syntax(); err != nil {
			return nil, err
		}
		if p != len(byPos) {
			return nil, tabular.Errorf(rowField(), "has %d values, but row 0 has %d", p, len(byPos))
		}
		if err := d.addRow(field); err != nil {
			return nil, err
		}
	}
	return byPos, d.syntax()
}

// table checks that every feature has its column, pads the columns of
// records that lacked a key, and returns the table.
func (d *decoder) table() (*tabular.Table, error) {
	for j, f := range d.features {
		if !d.present[j] && !f.Missing {
			return nil, tabular.Errorf(f.Name, "missing column (the model's inputs: %s)", tabular.FeatureNames(d.features))
		}
		for d.cols[j].Len() < d.rows {
			d.cols[j].AppendNull()
		}
	}
	if d.rows == 0 {
		return nil, tabular.Errorf("body", "no rows")
	}
	return &tabular.Table{Rows: d.rows, Columns: d.cols}, nil
}
