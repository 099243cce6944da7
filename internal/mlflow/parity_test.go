package mlflow_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mlservice/mlservice/internal/mlflow"
	"github.com/mlservice/mlservice/internal/oip"
	"github.com/mlservice/mlservice/internal/oip/pb"
	"github.com/mlservice/mlservice/internal/tabular"
)

// parityRows exercise what could drift between wire forms: 17-digit and
// negative numbers, an integer past 2^53, non-ASCII text, a missing value.
var parityRows = []struct {
	age     float64 // NaN: missing
	premium float64
	plan    string
}{
	{42, 1, "pro"},
	{-12345.678901234567, 0, "basic"},
	{0.1, 1, "plus é"},
	{math.NaN(), 0, "pro"},
	{9007199254740993, 1, "\u65e5\u672c"},
}

// TestProtocolsAgree decodes the same rows sent in every wire form of both
// protocols and requires the same table, cell for cell: the one
// validation path then sees the same rows, whatever the client spoke.
func TestProtocolsAgree(t *testing.T) {
	n := len(parityRows)
	jsonNum := func(v float64) string {
		if math.IsNaN(v) {
			return "null"
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	var ages, premiums, plans, records, splitRows, csvLines []string
	var ageVals, premiumVals []float64
	var planBytes [][]byte
	for _, r := range parityRows {
		plan, _ := json.Marshal(r.plan)
		ages, premiums, plans = append(ages, jsonNum(r.age)), append(premiums, jsonNum(r.premium)), append(plans, string(plan))
		records = append(records, `{"plan":`+string(plan)+`,"age":`+jsonNum(r.age)+`,"premium":`+jsonNum(r.premium)+`}`)
		splitRows = append(splitRows, `[`+jsonNum(r.age)+`,`+jsonNum(r.premium)+`,`+string(plan)+`]`)
		csvAge := strconv.FormatFloat(r.age, 'g', -1, 64)
		if math.IsNaN(r.age) {
			csvAge = ""
		}
		csvLines = append(csvLines, csvAge+","+jsonNum(r.premium)+",\""+r.plan+"\"")
		ageVals, premiumVals, planBytes = append(ageVals, r.age), append(premiumVals, r.premium), append(planBytes, []byte(r.plan))
	}
	columns := `"age":[` + strings.Join(ages, ",") + `],"premium":[` + strings.Join(premiums, ",") + `],"plan":[` + strings.Join(plans, ",") + `]`
	restIn := func(name, dt, vals string) string {
		return `{"name":"` + name + `","datatype":"` + dt + `","shape":[` + strconv.Itoa(n) + `],"data":[` + vals + `]}`
	}
	restBody := `{"inputs":[` + restIn("plan", "BYTES", strings.Join(plans, ",")) + "," + restIn("age", "FP64", strings.Join(ages, ",")) + "," +
		restIn("premium", "FP64", strings.Join(premiums, ",")) + `]}`

	grpcReq := func(raw bool) *pb.ModelInferRequest {
		shape := []int64{int64(n)}
		req := &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{
			{Name: "age", Datatype: "FP64", Shape: shape, Contents: &pb.InferTensorContents{Fp64Contents: append([]float64{}, ageVals...)}},
			{Name: "premium", Datatype: "FP64", Shape: shape, Contents: &pb.InferTensorContents{Fp64Contents: append([]float64{}, premiumVals...)}},
			{Name: "plan", Datatype: "BYTES", Shape: shape, Contents: &pb.InferTensorContents{BytesContents: planBytes}},
		}}
		if raw {
			for _, in := range req.Inputs {
				var b []byte
				for _, v := range in.Contents.Fp64Contents {
					b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
				}
				for _, v := range in.Contents.BytesContents {
					b = append(binary.LittleEndian.AppendUint32(b, uint32(len(v))), v...)
				}
				in.Contents, req.RawInputContents = nil, append(req.RawInputContents, b)
			}
		}
		return req
	}

	decoders := map[string]func() (*tabular.Table, error){
		"oip REST": func() (*tabular.Table, error) {
			table, _, err := oip.DecodeRESTRequest([]byte(restBody), features, oip.DecodeOptions{})
			return table, err
		},
		"oip gRPC contents": func() (*tabular.Table, error) {
			table, _, err := oip.DecodeInferRequest(grpcReq(false), features, oip.DecodeOptions{})
			return table, err
		},
		"oip gRPC raw": func() (*tabular.Table, error) {
			table, _, err := oip.DecodeInferRequest(grpcReq(true), features, oip.DecodeOptions{})
			return table, err
		},
	}
	for name, body := range map[string]string{
		"mlflow dataframe_split":   `{"dataframe_split":{"columns":["age","premium","plan"],"data":[` + strings.Join(splitRows, ",") + `]}}`,
		"mlflow dataframe_records": `{"dataframe_records":[` + strings.Join(records, ",") + `]}`,
		"mlflow instances":         `{"instances":[` + strings.Join(records, ",") + `]}`,
		"mlflow inputs":            `{"inputs":{` + columns + `}}`,
	} {
		decoders[name] = func() (*tabular.Table, error) {
			return mlflow.Decode([]byte(body), mlflow.JSON, features, mlflow.Options{})
		}
	}
	decoders["mlflow csv"] = func() (*tabular.Table, error) {
		return mlflow.Decode([]byte("age,premium,plan\n"+strings.Join(csvLines, "\n")), mlflow.CSV, features, mlflow.Options{})
	}

	var want [][]tabular.Cell
	for _, r := range parityRows {
		age := tabular.Cell{Kind: tabular.Number, Num: r.age}
		if math.IsNaN(r.age) {
			age = tabular.Cell{}
		}
		want = append(want, []tabular.Cell{age, num(r.premium), str(r.plan)})
	}
	for name, decode := range decoders {
		table, err := decode()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if diff := cmp.Diff(want, cellsOf(table)); diff != "" {
			t.Errorf("%s: rows (-want +got):\n%s", name, diff)
		}
	}
	if len(decoders) != 8 {
		t.Fatalf("%d decoders", len(decoders))
	}
}
