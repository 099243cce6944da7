package mlflow_test

import (
	"fmt"

	"github.com/mlservice/mlservice/internal/mlflow"
	"github.com/mlservice/mlservice/internal/tabular"
)

func ExampleDecode() {
	features := []tabular.Feature{{Name: "age", Type: tabular.FeatureNumber}, {Name: "plan", Type: tabular.FeatureCategory}}
	format, err := mlflow.ParseContentType("application/json; charset=utf-8")
	if err != nil {
		fmt.Println(err)
		return
	}
	body := []byte(`{"dataframe_split": {"columns": ["plan", "age"], "data": [["pro", 42], ["basic", null]]}}`)
	table, err := mlflow.Decode(body, format, features, mlflow.Options{MaxRows: 1000})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range table.Rows {
		age := table.Columns[0].At(i) // a JSON null is a missing value
		fmt.Println(age.Kind, age.Num, table.Columns[1].At(i).Str)
	}
	fmt.Println(string(mlflow.AppendPredictions(nil, []float64{0.42, 0.9}, []int64{0, 1})))

	_, err = mlflow.Decode([]byte(`{"instances": [{"age": 1}]}`), mlflow.JSON, features, mlflow.Options{})
	status, _, answer := mlflow.ErrorResponse(err)
	fmt.Println(status, string(answer))
	// Output:
	// number 42 pro
	// null 0 basic
	// {"predictions":[{"prediction":0,"probability":0.42},{"prediction":1,"probability":0.9}]}
	// 400 {"error_code":"BAD_REQUEST","message":"plan: missing column (the model's inputs: age, plan)"}
}
