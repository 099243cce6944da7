package mlflow

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mlservice/mlservice/internal/tabular"
)

// DecodeCSV reads a text/csv scoring body: a header row of column names,
// then one row per line (RFC 4180 quoting; LF or CRLF; a UTF-8 byte order
// mark is ignored). Columns that are not features are ignored; a feature
// with no column is an error. A cell is read as pandas' read_csv reads it
// under the model's schema: empty or a pandas NA spelling ("NA", "NaN",
// "null", ...) is a missing value; in a category column anything else is
// a string; in a number column a decimal is a number, true/false a bool,
// and anything else a string, for validation to refuse.
func DecodeCSV(body []byte, features []tabular.Feature, opts Options) (*tabular.Table, error) {
	if !utf8.Valid(body) {
		return nil, tabular.Errorf("body", "is not valid UTF-8")
	}
	body = bytes.TrimPrefix(body, []byte("\ufeff"))
	r := csv.NewReader(bytes.NewReader(body))
	r.ReuseRecord = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, tabular.Errorf("body", "is empty: a CSV body starts with a header row of column names")
	}
	if err != nil {
		return nil, csvError(err)
	}
	index := make(map[string]int, len(features))
	for j, f := range features {
		index[f.Name] = j
	}
	featureAt := make([]int, len(header)) // column position → feature, or -1
	present := make([]bool, len(features))
	for p, name := range header {
		j, known := index[name]
		featureAt[p] = -1
		if !known {
			continue
		}
		if present[j] {
			return nil, tabular.Errorf("header", "names %q twice", name)
		}
		present[j], featureAt[p] = true, j
	}
	for j, f := range features {
		if !present[j] && !f.Missing {
			return nil, tabular.Errorf(f.Name, "missing column (the model's inputs: %s)", tabular.FeatureNames(features))
		}
	}
	cols := make([]tabular.Column, len(features))
	for j, f := range features {
		cols[j].Name = f.Name
	}
	rows := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		if rows++; opts.MaxRows > 0 && rows > opts.MaxRows {
			return nil, tabular.Errorf("body", "has more than %d rows, the limit", opts.MaxRows)
		}
		for p, text := range rec {
			j := featureAt[p]
			if j < 0 {
				continue
			}
			if err := csvCell(&cols[j], features[j].Type, text); err != nil {
				line, _ := r.FieldPos(p)
				err.Field = "line " + strconv.Itoa(line) + " column " + strconv.Quote(features[j].Name)
				return nil, err
			}
		}
	}
	if rows == 0 {
		return nil, tabular.Errorf("body", "no rows after the header")
	}
	for j := range cols {
		for !present[j] && cols[j].Len() < rows { // a column the schema lets be missing
			cols[j].AppendNull()
		}
	}
	return &tabular.Table{Rows: rows, Columns: cols}, nil
}

func csvError(err error) *tabular.Error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return tabular.Errorf("line "+strconv.Itoa(pe.Line), "%v", pe.Err)
	}
	return tabular.Errorf("body", "%v", err)
}

// csvCell appends the cell text to col under the feature's type.
func csvCell(col *tabular.Column, t tabular.FeatureType, text string) *tabular.Error {
	if isNA(text) {
		col.AppendNull()
		return nil
	}
	if t == tabular.FeatureCategory {
		col.AppendString(text)
		return nil
	}
	s := strings.TrimSpace(text)
	switch s {
	case "true", "True", "TRUE":
		col.AppendBool(true)
		return nil
	case "false", "False", "FALSE":
		col.AppendBool(false)
		return nil
	}
	if !isDecimal(s) {
		col.AppendString(text)
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && math.IsInf(v, 0):
		return tabular.Errorf("", "%s is beyond the range of a float64", s)
	case err != nil && !errors.Is(err, strconv.ErrRange): // "1-2", "e5": text, not a number
		col.AppendString(text)
	default: // a number, or one so small it rounds to zero
		col.AppendNumber(v)
	}
	return nil
}

// isDecimal reports whether s is a plain decimal (sign, digits, a point,
// an exponent), leaving to strconv only what it parses as read_csv does:
// no hexadecimal, underscores, "inf" or "nan".
func isDecimal(s string) bool {
	digits := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits = true
		case c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E':
		default:
			return false
		}
	}
	return digits
}

// isNA reports the cells that pandas' read_csv reads as NaN by default.
func isNA(text string) bool {
	switch strings.TrimSpace(text) {
	case "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
		"<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null":
		return true
	}
	return false
}
