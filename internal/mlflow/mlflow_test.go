package mlflow_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mlservice/mlservice/internal/mlflow"
	"github.com/mlservice/mlservice/internal/tabular"
)

var features = []tabular.Feature{
	{Name: "age", Type: tabular.FeatureNumber},
	{Name: "premium", Type: tabular.FeatureBinary},
	{Name: "plan", Type: tabular.FeatureCategory},
}

func num(v float64) tabular.Cell { return tabular.Cell{Kind: tabular.Number, Num: v} }
func str(s string) tabular.Cell  { return tabular.Cell{Kind: tabular.String, Str: s} }

var null = tabular.Cell{}

func cellsOf(t *tabular.Table) [][]tabular.Cell {
	out := make([][]tabular.Cell, t.Rows)
	for i := range out {
		out[i] = make([]tabular.Cell, len(t.Columns))
		for j := range t.Columns {
			out[i][j] = t.Columns[j].At(i)
		}
	}
	return out
}

// The same two rows in every form the protocol has.
var twoRows = [][]tabular.Cell{{num(42), num(1), str("pro")}, {num(37.5), num(0), str("basic")}}

func TestDecodeForms(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		format     mlflow.Format
		want       [][]tabular.Cell
	}{
		{"dataframe_split", `{"dataframe_split": {"columns": ["plan", "age", "zip", "premium"], "index": [0, 1],
			"data": [["pro", 42, 1000, 1], ["basic", 37.5, 2000, 0]]}}`, mlflow.JSON, twoRows},
		{"dataframe_split, data first", `{"dataframe_split": {"data": [[42, 1, "pro"], [37.5, 0, "basic"]], "columns": ["age", "premium", "plan"]}, "params": {"x": 1}}`, mlflow.JSON, twoRows},
		{"dataframe_records", `{"dataframe_records": [{"age": 42, "premium": 1, "plan": "pro", "zip": "x"}, {"plan": "basic", "premium": 0, "age": 37.5}]}`, mlflow.JSON, twoRows},
		{"instances as records", `{"instances": [{"age": 42, "premium": 1, "plan": "pro"}, {"age": 37.5, "premium": 0, "plan": "basic"}]}`, mlflow.JSON, twoRows},
		{"inputs as columns", `{"inputs": {"age": [42, 37.5], "premium": [1, 0], "plan": ["pro", "basic"], "zip": 3}}`, mlflow.JSON, twoRows},
		{"csv", "plan,age,premium,zip\r\npro,42,1,x\r\n\"basic\",37.5,0,y\r\n", mlflow.CSV, twoRows},
		{"csv with BOM and no final newline", "\ufeffage,premium,plan\n42,1,pro\n37.5,0,basic", mlflow.CSV, twoRows},
		{"inputs as one row of scalars", `{"inputs": {"age": 42, "premium": 1, "plan": "pro"}}`, mlflow.JSON, twoRows[:1]},
		{"records with a key missing and nulls", `{"dataframe_records": [{"age": null, "plan": "pro"}, {"age": 1, "premium": true}]}`, mlflow.JSON,
			[][]tabular.Cell{{null, null, str("pro")}, {num(1), {Kind: tabular.Bool, Num: 1}, null}}},
		{"csv cells as pandas reads them", "age,premium,plan\nNA,true,42\n1e3,x,\n", mlflow.CSV,
			[][]tabular.Cell{{null, {Kind: tabular.Bool, Num: 1}, str("42")}, {num(1000), str("x"), null}}},
		{"wrong JSON types are kept for validation", `{"dataframe_records": [{"age": "42", "premium": 1, "plan": 3}]}`, mlflow.JSON,
			[][]tabular.Cell{{str("42"), num(1), num(3)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table, err := mlflow.Decode([]byte(tc.body), tc.format, features, mlflow.Options{MaxRows: 10})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, cellsOf(table)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			for j, f := range features {
				if table.Columns[j].Name != f.Name {
					t.Errorf("column %d named %q, want %q", j, table.Columns[j].Name, f.Name)
				}
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		format     mlflow.Format
		field      string
		reason     string
	}{
		{"invalid JSON", `{"inputs": `, mlflow.JSON, "body", "invalid JSON at byte"},
		{"a list", `[{"age": 1}]`, mlflow.JSON, "body", "must be a JSON object with exactly one of"},
		{"no input key", `{"data": [1]}`, mlflow.JSON, "body", `it has ["data"]`},
		{"two input keys", `{"inputs": {"age": 1}, "instances": []}`, mlflow.JSON, "body", `has both "inputs" and "instances"`},
		{"non-UTF-8", "{\"inputs\": {\"plan\": \"\xff\"}}", mlflow.JSON, "body", "not valid UTF-8"},
		{"missing column", `{"dataframe_records": [{"age": 1, "premium": 0}]}`, mlflow.JSON, "plan", "missing column"},
		{"split without columns", `{"dataframe_split": {"data": [[1, 0, "pro"]]}}`, mlflow.JSON, "dataframe_split", `"columns" is required`},
		{"split without data", `{"dataframe_split": {"columns": ["age"]}}`, mlflow.JSON, "dataframe_split", `"data" is required`},
		{"split with another key", `{"dataframe_split": {"columns": [], "data": [], "rows": 1}}`, mlflow.JSON, "dataframe_split", `has key "rows"`},
		{"split ragged", `{"dataframe_split": {"columns": ["age", "premium", "plan"], "data": [[1, 0, "pro"], [2, 1]]}}`, mlflow.JSON, "dataframe_split.data[1]", "has 2 values, but row 0 has 3"},
		{"split names and width", `{"dataframe_split": {"columns": ["age", "premium"], "data": [[1, 0, "pro"]]}}`, mlflow.JSON, "dataframe_split.columns", "names 2 columns"},
		{"split names twice", `{"dataframe_split": {"columns": ["age", "age", "plan"], "data": [[1, 0, "pro"]]}}`, mlflow.JSON, "dataframe_split.columns", `names "age" twice`},
		{"records not objects", `{"dataframe_records": [[1, 0, "pro"]]}`, mlflow.JSON, "dataframe_records[0]", "must be a record"},
		{"nested value", `{"dataframe_records": [{"age": [1], "premium": 0, "plan": "pro"}]}`, mlflow.JSON, "dataframe_records[0].age", "not an array or object"},
		{"columns of unequal length", `{"inputs": {"age": [1, 2], "premium": [0], "plan": ["a", "b"]}}`, mlflow.JSON, "inputs.premium", `has 1 values, but "age" has 2`},
		{"duplicate key in a record", `{"instances": [{"age": 1, "age": 2, "premium": 0, "plan": "pro"}]}`, mlflow.JSON, "instances[0]", `key "age" appears twice`},
		{"number out of range", `{"inputs": {"age": 1e999, "premium": 0, "plan": "pro"}}`, mlflow.JSON, "inputs.age", "beyond the range"},
		{"too many rows", `{"inputs": {"age": [` + strings.Repeat("1,", 10) + `1], "premium": 0, "plan": "pro"}}`, mlflow.JSON, "inputs.age", "more than 10 rows"},
		{"too many records", `{"dataframe_records": [` + strings.Repeat(`{"age": 1},`, 10) + `{"age": 1}]}`, mlflow.JSON, "dataframe_records", "more than 10 rows"},
		{"no rows", `{"dataframe_records": []}`, mlflow.JSON, "age", "missing column"},
		{"no rows, columns named", `{"dataframe_split": {"columns": ["age", "premium", "plan"], "data": []}}`, mlflow.JSON, "body", "no rows"},
		{"empty CSV", "", mlflow.CSV, "body", "is empty"},
		{"CSV header only", "age,premium,plan\n", mlflow.CSV, "body", "no rows after the header"},
		{"CSV missing column", "age,plan\n1,pro\n", mlflow.CSV, "premium", "missing column"},
		{"CSV header twice", "age,premium,plan,age\n1,0,pro,2\n", mlflow.CSV, "header", `names "age" twice`},
		{"CSV ragged", "age,premium,plan\n1,0,pro\n2,1\n", mlflow.CSV, "line 3", "wrong number of fields"},
		{"CSV bad quote", "age,premium,plan\n1,0,\"pro\n", mlflow.CSV, "line 2", "quote"},
		{"CSV out of range", "age,premium,plan\n1e999,0,pro\n", mlflow.CSV, `line 2 column "age"`, "beyond the range"},
		{"CSV too many rows", "age,premium,plan\n" + strings.Repeat("1,0,pro\n", 11), mlflow.CSV, "body", "more than 10 rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mlflow.Decode([]byte(tc.body), tc.format, features, mlflow.Options{MaxRows: 10})
			var e *tabular.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v, want a *tabular.Error", err)
			}
			if e.Field != tc.field || !strings.Contains(e.Reason, tc.reason) {
				t.Errorf("error %q, want field %q and a reason containing %q", err, tc.field, tc.reason)
			}
			status, ct, body := mlflow.ErrorResponse(err)
			var got struct {
				ErrorCode string `json:"error_code"`
				Message   string `json:"message"`
			}
			if status != 400 || ct != "application/json" || json.Unmarshal(body, &got) != nil ||
				got.ErrorCode != "BAD_REQUEST" || got.Message != err.Error() {
				t.Errorf("ErrorResponse = %d %q %s", status, ct, body)
			}
		})
	}
}

func TestParseContentType(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   mlflow.Format
		err    string
	}{
		{"application/json", mlflow.JSON, ""},
		{"Application/JSON; charset=UTF-8", mlflow.JSON, ""},
		{"text/csv;charset=utf-8", mlflow.CSV, ""},
		{"text/csv; charset=latin-1", 0, "only supports UTF-8"},
		{"application/json; format=pandas-split", 0, "Unrecognized content type parameters: format"},
		{"text/plain", 0, "only supports the following content types"},
		{"", 0, "only supports the following content types"},
	} {
		f, err := mlflow.ParseContentType(tc.header)
		if tc.err == "" {
			if err != nil || f != tc.want {
				t.Errorf("ParseContentType(%q) = %v, %v; want %v", tc.header, f, err, tc.want)
			}
			continue
		}
		status, ct, body := mlflow.ErrorResponse(err)
		if err == nil || status != 415 || !strings.HasPrefix(ct, "text/plain") || !strings.Contains(string(body), tc.err) {
			t.Errorf("ParseContentType(%q): %v → %d %q %q, want 415 containing %q", tc.header, err, status, ct, body, tc.err)
		}
	}
}

func TestErrorResponseOthers(t *testing.T) {
	status, _, body := mlflow.ErrorResponse(mlflow.BadRequest(fmt.Errorf("age: must be >= 0")))
	if status != 400 || !strings.Contains(string(body), `"error_code":"BAD_REQUEST","message":"age: must be >= 0"`) {
		t.Errorf("BadRequest → %d %s", status, body)
	}
	status, _, body = mlflow.ErrorResponse(errors.New("disk on fire"))
	if status != 500 || !strings.Contains(string(body), `"INTERNAL_ERROR"`) {
		t.Errorf("other error → %d %s", status, body)
	}
}

func TestAppendPredictions(t *testing.T) {
	out := mlflow.AppendPredictions(nil, []float64{0.42, 1e-9}, []int64{0, 1})
	var got struct {
		Predictions []struct {
			Prediction  *int64   `json:"prediction"`
			Probability *float64 `json:"probability"`
		} `json:"predictions"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if len(got.Predictions) != 2 || *got.Predictions[0].Prediction != 0 || *got.Predictions[0].Probability != 0.42 ||
		*got.Predictions[1].Prediction != 1 || *got.Predictions[1].Probability != 1e-9 {
		t.Errorf("predictions %s", out)
	}
}
