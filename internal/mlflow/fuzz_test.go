package mlflow_test

import (
	"testing"

	"github.com/mlservice/mlservice/internal/mlflow"
	"github.com/mlservice/mlservice/internal/tabular"
	"github.com/mlservice/mlservice/internal/testkit"
)

const fuzzMaxRows = 50

func checkDecoded(t *testing.T, table *tabular.Table, err error) {
	testkit.CheckDecoded(t, features, table, err, fuzzMaxRows, false)
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
