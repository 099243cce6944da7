package mlflow_test

import (
	"errors"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/mlservice/mlservice/internal/mlflow"
	"github.com/mlservice/mlservice/internal/tabular"
)

const fuzzMaxRows = 50

func checkDecoded(t *testing.T, table *tabular.Table, err error) {
	t.Helper()
	if err != nil {
		var e *tabular.Error
		if !errors.As(err, &e) || e.Reason == "" {
			t.Fatalf("error %v (%T) is not a *tabular.Error with a reason", err, err)
		}
		return
	}
	if table.Rows < 1 || table.Rows > fuzzMaxRows || len(table.Columns) != len(features) {
		t.Fatalf("table of %d rows and %d columns", table.Rows, len(table.Columns))
	}
	for j := range table.Columns {
		c := &table.Columns[j]
		if c.Name != features[j].Name || c.Len() != table.Rows {
			t.Fatalf("column %d: %q with %d cells", j, c.Name, c.Len())
		}
		for i := range c.Len() {
			cell := c.At(i)
			if cell.Kind == tabular.Number && (math.IsNaN(cell.Num) || math.IsInf(cell.Num, 0)) ||
				cell.Kind == tabular.String && !utf8.ValidString(cell.Str) {
				t.Fatalf("column %q row %d: %+v", c.Name, i, cell)
			}
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"dataframe_split": {"columns": ["plan", "age", "premium"], "index": [0], "data": [["pro", 42, 1]]}}`,
		`{"dataframe_records": [{"age": 42, "premium": 1, "plan": "pro"}, {"age": null}]}`,
		`{"instances": [{"age": 1, "premium": true, "plan": "x"}], "params": {"k": [1]}}`,
		`{"inputs": {"age": [1, 2], "premium": [0, 1], "plan": ["a", "b"]}}`,
		`{"inputs": {"age": 1, "premium": 0, "plan": "a"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		table, err := mlflow.Decode(body, mlflow.JSON, features, mlflow.Options{MaxRows: fuzzMaxRows})
		checkDecoded(t, table, err)
	})
}

func FuzzDecodeCSV(f *testing.F) {
	for _, s := range []string{
		"age,premium,plan\n42,1,pro\n37.5,0,basic\n",
		"\ufeffplan,age,premium,zip\r\n\"b,a\"\"sic\",1e3,true,x\r\nNA,,-0,y",
		"age,premium,plan\n1e999,x,\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		table, err := mlflow.Decode(body, mlflow.CSV, features, mlflow.Options{MaxRows: fuzzMaxRows})
		checkDecoded(t, table, err)
	})
}
