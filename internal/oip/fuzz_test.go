package oip_test

import (
	"encoding/binary"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/mlservice/mlservice/internal/oip"
	"github.com/mlservice/mlservice/internal/oip/pb"
	"github.com/mlservice/mlservice/internal/tabular"
	"github.com/mlservice/mlservice/internal/testkit"
)

const fuzzMaxRows = 50

// checkDecoded: binary tensors can carry infinities, which the model
// refuses later with the row's position.
func checkDecoded(t *testing.T, features []tabular.Feature, table *tabular.Table, err error) {
	testkit.CheckDecoded(t, features, table, err, fuzzMaxRows, true)
}

func FuzzDecodeRESTRequest(f *testing.F) {
	f.Add([]byte(goodREST), false, uint16(0))
	f.Add([]byte(`{"inputs": [{"name": "m", "datatype": "FP64", "shape": [2, 3], "data": [[1, 2, 3], [4, 5, 6]]}]}`), true, uint16(0))
	f.Add([]byte(`{"inputs": [{"name": "x0", "datatype": "INT8", "shape": [1], "data": [1]}, {"name": "x1", "datatype": "FP32", "shape": [1], "data": [null]},
		{"name": "x2", "datatype": "UINT64", "shape": [1, 1], "data": [[7]]}], "outputs": [{"name": "label"}], "id": "\u00e9"}`), true, uint16(0))
	body, n := binaryBody(0, 0)
	f.Add(body, false, uint16(n))
	f.Fuzz(func(t *testing.T, body []byte, numeric bool, headerLength uint16) {
		features := mixedFeatures
		if numeric {
			features = numericFeatures
		}
		table, req, err := oip.DecodeRESTRequest(body, features, oip.DecodeOptions{MaxRows: fuzzMaxRows, HeaderLength: int(headerLength)})
		checkDecoded(t, features, table, err)
		if err == nil && (!req.Probability && !req.Label || !utf8.ValidString(req.ID)) {
			t.Fatalf("request %+v", req)
		}
	})
}

var datatypes = []string{"FP64", "FP32", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "BOOL", "BYTES", "FP16", "BF16", "X"}

// FuzzDecodeRaw decodes raw_input_contents for one [N, F] tensor of
// numericFeatures or, with columns set, one tensor per numeric feature
// sharing the bytes, each cut where the fuzzer says.
func FuzzDecodeRaw(f *testing.F) {
	f.Add(uint8(0), int64(2), int64(3), false, binary.LittleEndian.AppendUint64(nil, math.Float64bits(1.5)), uint16(8))
	f.Add(uint8(11), int64(1), int64(1), true, []byte("\x03\x00\x00\x00pro"), uint16(7))
	f.Add(uint8(10), int64(3), int64(1), true, []byte{0, 1, 2}, uint16(3))
	f.Fuzz(func(t *testing.T, dt uint8, rows, cols int64, columns bool, raw []byte, cut uint16) {
		datatype := datatypes[int(dt)%len(datatypes)]
		req := &pb.ModelInferRequest{ModelName: "numeric"}
		if columns {
			for i, feat := range numericFeatures {
				req.Inputs = append(req.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: feat.Name, Datatype: datatype, Shape: []int64{rows}})
				part := raw
				if i == 1 && int(cut) < len(raw) {
					part = raw[:cut]
				}
				req.RawInputContents = append(req.RawInputContents, part)
			}
		} else {
			req.Inputs = []*pb.ModelInferRequest_InferInputTensor{{Name: "m", Datatype: datatype, Shape: []int64{rows, cols}}}
			req.RawInputContents = [][]byte{raw}
		}
		table, r, err := oip.DecodeInferRequest(req, numericFeatures, oip.DecodeOptions{MaxRows: fuzzMaxRows})
		checkDecoded(t, numericFeatures, table, err)
		if err == nil && !r.Raw {
			t.Fatal("raw request not marked Raw")
		}
	})
}
