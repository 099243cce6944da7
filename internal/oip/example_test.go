package oip_test

import (
	"fmt"

	"github.com/mlservice/mlservice/internal/oip"
	"github.com/mlservice/mlservice/internal/tabular"
)

func ExampleDecodeRESTRequest() {
	features := []tabular.Feature{{Name: "age", Type: tabular.FeatureNumber}, {Name: "plan", Type: tabular.FeatureCategory}}
	body := []byte(`{"id": "7", "inputs": [
		{"name": "plan", "datatype": "BYTES", "shape": [2], "data": ["pro", "basic"]},
		{"name": "age", "datatype": "INT64", "shape": [2], "data": [42, 37]}]}`)
	table, req, err := oip.DecodeRESTRequest(body, features, oip.DecodeOptions{MaxRows: 1000})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range table.Rows {
		fmt.Println(table.Columns[0].At(i).Num, table.Columns[1].At(i).Str)
	}
	fmt.Println(string(oip.AppendRESTResponse(nil, "churn", "v1", req, []float64{0.73, 0.12}, []int64{1, 0})))

	_, _, err = oip.DecodeRESTRequest([]byte(`{"inputs": [{"name": "age", "datatype": "BYTES", "shape": [1], "data": ["42"]}]}`),
		features, oip.DecodeOptions{})
	fmt.Println(oip.HTTPStatus(err), err)
	// Output:
	// 42 pro
	// 37 basic
	// {"model_name":"churn","model_version":"v1","id":"7","outputs":[{"name":"probability","datatype":"FP64","shape":[2],"data":[0.73,0.12]},{"name":"label","datatype":"INT64","shape":[2],"data":[1,0]}]}
	// 400 input "age": datatype BYTES, but age is a number feature: send FP64, FP32 or an INT or UINT type
}
