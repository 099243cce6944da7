package oip_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mlservice/mlservice/internal/oip"
	"github.com/mlservice/mlservice/internal/tabular"
)

const goodREST = `{"id": "req-1", "parameters": {"content_type": "pd"}, "inputs": [
	{"name": "age", "datatype": "INT64", "shape": [2], "data": [42, 37]},
	{"name": "income", "datatype": "FP64", "shape": [2, 1], "data": [[52000.5], [0.1]]},
	{"name": "premium", "datatype": "BOOL", "shape": [2], "data": [true, false]},
	{"name": "plan", "datatype": "BYTES", "shape": [2], "data": ["pro", "basic"], "parameters": {"content_type": "str"}}]}`

func TestDecodeRESTRequest(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     string
		features []tabular.Feature
		want     [][]tabular.Cell
		wantReq  oip.Request
	}{
		{"one tensor per feature", goodREST, mixedFeatures,
			[][]tabular.Cell{{num(42), num(52000.5), num(1), str("pro")}, {num(37), num(0.1), num(0), str("basic")}},
			oip.Request{ID: "req-1", Probability: true, Label: true}},
		{"keys in any order, data before datatype, outputs chosen", `{"outputs": [{"name": "label"}], "inputs": [
			{"data": [3, 4], "shape": [2], "datatype": "FP32", "name": "x1"},
			{"data": [1.5, null], "shape": [2], "datatype": "FP64", "name": "x0"},
			{"data": [5, 6], "shape": [2], "datatype": "UINT8", "name": "x2"}]}`, numericFeatures,
			[][]tabular.Cell{{num(1.5), num(3), num(5)}, {{}, num(4), num(6)}},
			oip.Request{Label: true}},
		{"one [N, F] matrix", `{"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [2, 3], "data": [[1, 2, 3], [4, 5, 6]]}]}`, numericFeatures,
			[][]tabular.Cell{{num(1), num(2), num(3)}, {num(4), num(5), num(6)}},
			oip.Request{Probability: true, Label: true}},
		{"matrix flat, FP32 rounds", `{"inputs": [{"name": "m", "datatype": "FP32", "shape": [1, 3], "data": [0.1, 2, 3]}]}`, numericFeatures,
			[][]tabular.Cell{{num(float64(float32(0.1))), num(2), num(3)}},
			oip.Request{Probability: true, Label: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table, req, err := oip.DecodeRESTRequest([]byte(tc.body), tc.features, oip.DecodeOptions{MaxRows: 10})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, cellsOf(table)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			for j, f := range tc.features {
				if table.Columns[j].Name != f.Name {
					t.Errorf("column %d is %q, want %q", j, table.Columns[j].Name, f.Name)
				}
			}
			if diff := cmp.Diff(tc.wantReq, req); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRESTRequestRefuses(t *testing.T) {
	in := func(name, dt, shape, data string) string {
		return `{"name": "` + name + `", "datatype": "` + dt + `", "shape": ` + shape + `, "data": ` + data + `}`
	}
	good := map[string]string{
		"age":     in("age", "FP64", "[2]", "[1, 2]"),
		"income":  in("income", "FP64", "[2]", "[1, 2]"),
		"premium": in("premium", "FP64", "[2]", "[0, 1]"),
		"plan":    in("plan", "BYTES", "[2]", `["pro", "plus"]`),
	}
	body := func(replace map[string]string, extra ...string) string {
		var parts []string
		for _, f := range mixedFeatures {
			if s, ok := replace[f.Name]; !ok {
				parts = append(parts, good[f.Name])
			} else if s != "" {
				parts = append(parts, s)
			}
		}
		return `{"inputs": [` + strings.Join(append(parts, extra...), ",") + `]}`
	}
	for _, tc := range []struct {
		name, body, field, reason string
	}{
		{"invalid JSON", `{"inputs": [`, "body", "invalid JSON at byte"},
		// Broken inside an input object: the syntax error, not a "required"
		// key the break hid.
		{"invalid JSON in an input", `{"inputs": [{0`, "body", "invalid JSON at byte 13: expected a string key"},
		{"missing comma in an input", `{"inputs": [{"name": "x0" "datatype": "FP64"}]}`, "body", "invalid JSON at byte 26"},
		{"not an object", `[1]`, "body", "must be a JSON object"},
		{"no inputs", `{"id": "x"}`, "inputs", "required"},
		{"empty inputs", `{"inputs": []}`, "inputs", "no input tensors"},
		{"missing input", body(map[string]string{"income": ""}), `input "income"`, "missing"},
		{"extra input", body(nil, in("zip", "FP64", "[2]", "[1, 2]")), `input "zip"`, "not an input of this model"},
		{"input twice", body(nil, good["age"]), `input "age"`, "given twice"},
		{"number as BYTES", body(map[string]string{"age": in("age", "BYTES", "[2]", `["1", "2"]`)}), `input "age"`, "datatype BYTES, but age is a number feature"},
		{"category as FP64", body(map[string]string{"plan": in("plan", "FP64", "[2]", `[1, 2]`)}), `input "plan"`, "send BYTES"},
		{"BOOL for a number", body(map[string]string{"age": in("age", "BOOL", "[2]", `[true, false]`)}), `input "age"`, "datatype BOOL"},
		{"unknown datatype", body(map[string]string{"age": in("age", "FLOAT", "[2]", `[1, 2]`)}), `input "age"`, `unknown datatype "FLOAT"`},
		{"FP16", body(map[string]string{"age": in("age", "FP16", "[2]", `[1, 2]`)}), `input "age"`, "FP16 is not supported"},
		{"shape disagrees with data", body(map[string]string{"age": in("age", "FP64", "[3]", `[1, 2]`)}), `input "age"`, "shape [3] holds 3 values, but the data has 2"},
		{"negative shape", body(map[string]string{"age": in("age", "FP64", "[-2]", `[1, 2]`)}), `input "age"`, "negative dimension"},
		{"huge shape", body(map[string]string{"age": in("age", "FP64", "[4000000000, 4000000000]", `[1, 2]`)}), `input "age"`, "too many elements"},
		{"rank 3", body(map[string]string{"age": in("age", "FP64", "[2, 1, 1]", `[1, 2]`)}), `input "age"`, "shape [N] or [N, 1]"},
		{"mixed lengths", body(map[string]string{"income": in("income", "FP64", "[3]", `[1, 2, 3]`)}), `input "income"`, `3 rows, but input "age" has 2`},
		{"string where a number is due", body(map[string]string{"age": in("age", "FP64", "[2]", `[1, "two"]`)}), `input "age"`, "element 1 is a string, but datatype FP64 holds numbers"},
		{"number where a string is due", body(map[string]string{"plan": in("plan", "BYTES", "[2]", `["pro", 3]`)}), `input "plan"`, "element 1 is a number"},
		{"non-integer INT32", body(map[string]string{"age": in("age", "INT32", "[2]", `[1, 2.5]`)}), `input "age"`, "element 1 is 2.5, not an INT32"},
		{"INT8 out of range", body(map[string]string{"age": in("age", "INT8", "[2]", `[1, 300]`)}), `input "age"`, "not an INT8"},
		{"negative UINT", body(map[string]string{"age": in("age", "UINT32", "[2]", `[-1, 3]`)}), `input "age"`, "not an UINT32"},
		{"FP32 overflow", body(map[string]string{"age": in("age", "FP32", "[2]", `[1e39, 3]`)}), `input "age"`, "beyond what an FP32 holds"},
		{"float64 overflow", body(map[string]string{"age": in("age", "FP64", "[2]", `[1e999, 3]`)}), `input "age"`, "beyond the range of a float64"},
		{"object element", body(map[string]string{"age": in("age", "FP64", "[2]", `[{}, 3]`)}), `input "age"`, "element 0 is an object"},
		{"non-UTF-8 BYTES", body(map[string]string{"plan": in("plan", "BYTES", "[2]", "[\"pro\", \"\xff\"]")}), `input "plan"`, "element 1 is not valid UTF-8"},
		{"too many rows", `{"inputs": [{"name": "m", "datatype": "FP64", "shape": [11, 3], "data": [` + strings.Repeat("1,", 32) + `1]}]}`, `input "m"`, "11 rows, the limit is 10"},
		{"no rows", body(map[string]string{"age": in("age", "FP64", "[0]", `[]`), "income": in("income", "FP64", "[0]", `[]`),
			"premium": in("premium", "FP64", "[0]", `[]`), "plan": in("plan", "BYTES", "[0]", `[]`)}), `input "age"`, "no rows"},
		{"matrix with categories", `{"inputs": [{"name": "m", "datatype": "FP64", "shape": [1, 4], "data": [1, 2, 3, 4]}]}`, `input "m"`, "every feature to be a number"},
		{"missing datatype", `{"inputs": [{"name": "age", "shape": [1], "data": [1]}]}`, `input "age"`, `"datatype" is required`},
		{"missing data", `{"inputs": [{"name": "age", "shape": [1], "datatype": "FP64"}]}`, `input "age"`, `"data" is required`},
		{"shape not integers", `{"inputs": [{"name": "age", "shape": [1.5], "datatype": "FP64", "data": [1]}]}`, "inputs[0].shape", "integers"},
		{"duplicate key", `{"inputs": [], "inputs": []}`, "body", `key "inputs" appears twice`},
		{"unknown output", strings.TrimSuffix(body(nil), "}") + `, "outputs": [{"name": "logits"}]}`, "outputs", `unknown output "logits"`},
		{"content type np-less", `{"parameters": {"content_type": "base64"}, "inputs": []}`, "parameters", `content_type "base64" is not supported`},
		{"binary size and data", `{"inputs": [{"name": "age", "shape": [1], "datatype": "FP64", "data": [1], "parameters": {"binary_data_size": 8}}]}`, `input "age"`, `has both "data" and binary_data_size`},
		{"binary without the header", `{"inputs": [{"name": "age", "shape": [1], "datatype": "FP64", "parameters": {"binary_data_size": 8}}]}`, `input "age"`, "no Inference-Header-Content-Length"},
		{"binary size not a count", `{"inputs": [{"name": "age", "shape": [1], "datatype": "FP64", "parameters": {"binary_data_size": -8}}]}`, "inputs[0].parameters", "must be a byte count"},
		{"trailing data", `{"inputs": []} x`, "body", "data after the top-level value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			features := mixedFeatures
			if strings.Contains(tc.body, `"name": "m"`) && tc.name != "matrix with categories" {
				features = numericFeatures
			}
			_, _, err := oip.DecodeRESTRequest([]byte(tc.body), features, oip.DecodeOptions{MaxRows: 10})
			var e *tabular.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v, want a *tabular.Error", err)
			}
			if e.Field != tc.field || !strings.Contains(e.Reason, tc.reason) {
				t.Errorf("error %q, want field %q and a reason containing %q", err, tc.field, tc.reason)
			}
			if oip.HTTPStatus(err) != 400 {
				t.Errorf("HTTPStatus = %d, want 400", oip.HTTPStatus(err))
			}
		})
	}
}

// binaryBody is a request in the binary tensor extension: age and plan
// after the JSON, income and premium in it; with extra bytes appended.
func binaryBody(cut, extra int) ([]byte, int) {
	header := []byte(`{"inputs": [
		{"name": "age", "datatype": "FP64", "shape": [2], "parameters": {"binary_data_size": 16}},
		{"name": "income", "datatype": "FP64", "shape": [2], "data": [1.5, 2.5]},
		{"name": "premium", "datatype": "BOOL", "shape": [2], "data": [true, false]},
		{"name": "plan", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": 16}}]}`)
	body := append([]byte{}, header...)
	body = binary.LittleEndian.AppendUint64(body, math.Float64bits(42))
	body = binary.LittleEndian.AppendUint64(body, math.Float64bits(37))
	body = append(body, 3, 0, 0, 0, 'p', 'r', 'o', 5, 0, 0, 0, 'b', 'a', 's', 'i', 'c')
	body = body[:len(body)-cut]
	return append(body, make([]byte, extra)...), len(header)
}

func TestDecodeRESTBinaryExtension(t *testing.T) {
	body, n := binaryBody(0, 0)
	table, _, err := oip.DecodeRESTRequest(body, mixedFeatures, oip.DecodeOptions{HeaderLength: n})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]tabular.Cell{{num(42), num(1.5), num(1), str("pro")}, {num(37), num(2.5), num(0), str("basic")}}
	if diff := cmp.Diff(want, cellsOf(table)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		name        string
		cut, extra  int
		headerExtra int
		want        string
	}{
		{"short", 3, 0, 0, `input "plan": binary_data_size is 16, but only 13 bytes remain`},
		{"left over", 0, 5, 0, "body: 5 bytes after the JSON belong to no input"},
		{"header past the body", 0, 0, 1000, "Inference-Header-Content-Length is"},
	} {
		body, n := binaryBody(tc.cut, tc.extra)
		_, _, err := oip.DecodeRESTRequest(body, mixedFeatures, oip.DecodeOptions{HeaderLength: n + tc.headerExtra})
		if err == nil || !strings.Contains(err.Error(), tc.want) || oip.HTTPStatus(err) != 400 {
			t.Errorf("%s: %v, want a 400 containing %q", tc.name, err, tc.want)
		}
	}
}

func TestAppendRESTResponse(t *testing.T) {
	probs, labels := []float64{0.73, 1e-7, 0.5}, []int64{1, 0, 1}
	for _, tc := range []struct {
		name    string
		req     oip.Request
		outputs []string
	}{
		{"both", oip.Request{ID: "a\"b\x01\xff", Probability: true, Label: true}, []string{"probability", "label"}},
		{"label only", oip.Request{Label: true}, []string{"label"}},
		{"probability only", oip.Request{Probability: true}, []string{"probability"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := oip.AppendRESTResponse(nil, "churn", "v2", tc.req, probs, labels)
			var got struct {
				ModelName    string  `json:"model_name"`
				ModelVersion string  `json:"model_version"`
				ID           *string `json:"id"`
				Outputs      []struct {
					Name     string    `json:"name"`
					Datatype string    `json:"datatype"`
					Shape    []int64   `json:"shape"`
					Data     []float64 `json:"data"`
				} `json:"outputs"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			if got.ModelName != "churn" || got.ModelVersion != "v2" {
				t.Errorf("model %q version %q", got.ModelName, got.ModelVersion)
			}
			if tc.req.ID == "" && got.ID != nil || tc.req.ID != "" && (got.ID == nil || *got.ID != strings.ToValidUTF8(tc.req.ID, "\ufffd")) {
				t.Errorf("id %v, want %q", got.ID, tc.req.ID)
			}
			if len(got.Outputs) != len(tc.outputs) {
				t.Fatalf("%d outputs, want %v: %s", len(got.Outputs), tc.outputs, out)
			}
			for i, o := range got.Outputs {
				want, dt := probs, "FP64"
				if o.Name == "label" {
					want, dt = []float64{1, 0, 1}, "INT64"
				}
				if o.Name != tc.outputs[i] || o.Datatype != dt || !cmp.Equal(o.Shape, []int64{3}) || !cmp.Equal(o.Data, want) {
					t.Errorf("output %d: %+v", i, o)
				}
			}
		})
	}
}

func TestModelMetadata(t *testing.T) {
	md := oip.NewModelMetadata(oip.ModelInfo{Name: "churn", Version: "v2", Features: mixedFeatures})
	want := oip.ModelMetadata{
		Name: "churn", Versions: []string{"v2"}, Platform: "mlservice",
		Inputs: []oip.TensorMetadata{
			{Name: "age", Datatype: "FP64", Shape: []int64{-1}},
			{Name: "income", Datatype: "FP64", Shape: []int64{-1}},
			{Name: "premium", Datatype: "FP64", Shape: []int64{-1}},
			{Name: "plan", Datatype: "BYTES", Shape: []int64{-1}},
		},
		Outputs: []oip.TensorMetadata{
			{Name: "probability", Datatype: "FP64", Shape: []int64{-1}},
			{Name: "label", Datatype: "INT64", Shape: []int64{-1}},
		},
	}
	if diff := cmp.Diff(want, md); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
}
