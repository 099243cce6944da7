package testkit

import (
	"errors"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/mlservice/mlservice/internal/tabular"
)

// CheckDecoded holds a request decoder's answer to what every decoder owes
// its caller, for the fuzz tests of each protocol: an error that is a
// *tabular.Error with a reason, or a table of 1 to maxRows rows with one
// full column per feature, in order, whose numbers are not NaN (nor
// infinite, unless allowInf) and whose strings are UTF-8.
func CheckDecoded(t testing.TB, features []tabular.Feature, table *tabular.Table, err error, maxRows int, allowInf bool) {
	t.Helper()
	if err != nil {
		var e *tabular.Error
		if !errors.As(err, &e) || e.Reason == "" {
			t.Fatalf("error %v (%T) is not a *tabular.Error with a reason", err, err)
		}
		return
	}
	if table.Rows < 1 || table.Rows > maxRows || len(table.Columns) != len(features) {
		t.Fatalf("table of %d rows and %d columns", table.Rows, len(table.Columns))
	}
	for j := range table.Columns {
		c := &table.Columns[j]
		if c.Name != features[j].Name || c.Len() != table.Rows {
			t.Fatalf("column %d: %q with %d cells", j, c.Name, c.Len())
		}
		for i := range c.Len() {
			switch cell := c.At(i); cell.Kind {
			case tabular.Number:
				if math.IsNaN(cell.Num) || !allowInf && math.IsInf(cell.Num, 0) {
					t.Fatalf("column %q row %d: %v as a number", c.Name, i, cell.Num)
				}
			case tabular.String:
				if !utf8.ValidString(cell.Str) {
					t.Fatalf("column %q row %d: invalid UTF-8 %q", c.Name, i, cell.Str)
				}
			}
		}
	}
}
