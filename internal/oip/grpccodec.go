package oip

import (
	"encoding/binary"
	"math"
	"unicode/utf8"

	"github.com/mlservice/mlservice/internal/oip/pb"
	"github.com/mlservice/mlservice/internal/tabular"
)

// DecodeInferRequest turns a gRPC ModelInferRequest into a table, under
// the rules of DecodeRESTRequest. Each input's values come either in its
// contents, in the field that matches its datatype, or in the request's
// raw_input_contents (one entry per input, little-endian, BYTES elements
// each a 4-byte little-endian length and the bytes), never both. A NaN is
// a missing value. An FP64 input's values are used in place, not copied.
func DecodeInferRequest(req *pb.ModelInferRequest, features []tabular.Feature, opts DecodeOptions) (*tabular.Table, Request, error) {
	r := Request{ID: req.GetId()}
	for k, p := range req.GetParameters() {
		if reason := checkParameter(k, p.GetStringParam()); reason != "" {
			return nil, Request{}, tabular.Errorf("parameters", "%s", reason)
		}
	}
	for _, o := range req.GetOutputs() {
		if err := r.selectOutput(o.GetName()); err != nil {
			return nil, Request{}, err
		}
	}
	r.allOutputs()
	inputs, raw := req.GetInputs(), req.GetRawInputContents()
	if len(raw) > 0 {
		if len(raw) != len(inputs) {
			return nil, Request{}, tabular.Errorf("raw_input_contents", "has %d entries for %d inputs: send one per input, in order", len(raw), len(inputs))
		}
		r.Raw = true
	}
	ts := make([]tensor, len(inputs))
	var strs tabular.Interner
	for i, in := range inputs {
		t := &ts[i]
		t.name, t.dt, t.shape = in.GetName(), parseDatatype(in.GetDatatype()), in.GetShape()
		if t.dt == dtInvalid {
			return nil, Request{}, tabular.Errorf(t.field(), "unknown datatype %q (send one of FP64, FP32, INT64, BOOL, BYTES, ...)", in.GetDatatype())
		}
		for k, p := range in.GetParameters() {
			if reason := checkParameter(k, p.GetStringParam()); reason != "" {
				return nil, Request{}, tabular.Errorf(t.field(), "%s", reason)
			}
		}
		var err *tabular.Error
		if r.Raw {
			if in.GetContents() != nil && contentsLen(in.GetContents()) > 0 {
				return nil, Request{}, tabular.Errorf(t.field(), "has contents, and the request has raw_input_contents: send one or the other")
			}
			err = t.fromRaw(raw[i], &strs)
		} else {
			err = t.fromContents(in.GetContents(), &strs)
		}
		if err != nil {
			return nil, Request{}, err
		}
	}
	table, err := assemble(ts, features, opts)
	if err != nil {
		return nil, Request{}, err
	}
	return table, r, nil
}

// appendNumbers appends vs to col as numbers and returns how many.
func appendNumbers[T int32 | int64 | uint32 | uint64 | float32](col *tabular.Column, vs []T) int {
	col.Grow(len(vs), tabular.Number)
	for _, v := range vs {
		col.AppendNumber(float64(v))
	}
	return len(vs)
}

func contentsLen(c *pb.InferTensorContents) int {
	return len(c.BoolContents) + len(c.IntContents) + len(c.Int64Contents) + len(c.UintContents) +
		len(c.Uint64Contents) + len(c.Fp32Contents) + len(c.Fp64Contents) + len(c.BytesContents)
}

// fromContents takes t's values from the contents field its datatype
// names; values in another field are an error rather than ignored.
func (t *tensor) fromContents(c *pb.InferTensorContents, strs *tabular.Interner) *tabular.Error {
	if c == nil {
		c = &pb.InferTensorContents{}
	}
	var n int
	var field string
	switch t.dt {
	case dtFP64:
		n, field = len(c.Fp64Contents), "fp64_contents"
		t.col = tabular.NumberColumn(t.name, c.Fp64Contents)
	case dtFP32:
		n, field = appendNumbers(&t.col, c.Fp32Contents), "fp32_contents"
	case dtInt8, dtInt16, dtInt32:
		n, field = appendNumbers(&t.col, c.IntContents), "int_contents"
	case dtInt64:
		n, field = appendNumbers(&t.col, c.Int64Contents), "int64_contents"
	case dtUint8, dtUint16, dtUint32:
		n, field = appendNumbers(&t.col, c.UintContents), "uint_contents"
	case dtUint64:
		n, field = appendNumbers(&t.col, c.Uint64Contents), "uint64_contents"
	case dtBool:
		n, field = len(c.BoolContents), "bool_contents"
		t.col.Grow(n, tabular.Bool)
		for _, v := range c.BoolContents {
			t.col.AppendBool(v)
		}
	case dtBytes:
		n, field = len(c.BytesContents), "bytes_contents"
		vals := make([]string, n)
		for i, b := range c.BytesContents {
			if !utf8.Valid(b) {
				return tabular.Errorf(t.field(), "element %d is not valid UTF-8", i)
			}
			vals[i] = strs.String(b)
		}
		t.col = tabular.StringColumn(t.name, vals)
	default:
		return tabular.Errorf(t.field(), "datatype %s is not supported (send FP32 or FP64)", t.dt)
	}
	if total := contentsLen(c); total != n {
		return tabular.Errorf(t.field(), "datatype %s takes its values from contents.%s, but %d values are in other fields", t.dt, field, total-n)
	}
	return nil
}

// fromRaw decodes t's values from its raw_input_contents entry.
func (t *tensor) fromRaw(b []byte, strs *tabular.Interner) *tabular.Error {
	if t.dt == dtBytes {
		return t.rawBytes(b, strs)
	}
	size := t.dt.rawSize()
	if t.dt == dtFP16 || t.dt == dtBF16 {
		return tabular.Errorf(t.field(), "datatype %s is not supported (send FP32 or FP64)", t.dt)
	}
	if len(b)%size != 0 {
		return tabular.Errorf(t.field(), "raw contents of %d bytes is not a whole number of %d-byte %s elements", len(b), size, t.dt)
	}
	n := len(b) / size
	if t.dt == dtFP64 {
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		t.col = tabular.NumberColumn(t.name, vals)
		return nil
	}
	kind := tabular.Number
	if t.dt == dtBool {
		kind = tabular.Bool
	}
	t.col.Grow(n, kind)
	for i := range n {
		e := b[i*size:]
		var v float64
		switch t.dt {
		case dtBool:
			if e[0] > 1 {
				return tabular.Errorf(t.field(), "element %d is byte %d, but a BOOL is 0 or 1", i, e[0])
			}
			t.col.AppendBool(e[0] == 1)
			continue
		case dtUint8:
			v = float64(e[0])
		case dtInt8:
			v = float64(int8(e[0]))
		case dtUint16:
			v = float64(binary.LittleEndian.Uint16(e))
		case dtInt16:
			v = float64(int16(binary.LittleEndian.Uint16(e)))
		case dtUint32:
			v = float64(binary.LittleEndian.Uint32(e))
		case dtInt32:
			v = float64(int32(binary.LittleEndian.Uint32(e)))
		case dtFP32:
			v = float64(math.Float32frombits(binary.LittleEndian.Uint32(e)))
		case dtUint64:
			v = float64(binary.LittleEndian.Uint64(e))
		case dtInt64:
			v = float64(int64(binary.LittleEndian.Uint64(e)))
		}
		t.col.AppendNumber(v)
	}
	return nil
}

// rawBytes decodes BYTES elements, each a 4-byte little-endian length and
// that many bytes of UTF-8.
func (t *tensor) rawBytes(b []byte, strs *tabular.Interner) *tabular.Error {
	var vals []string
	for i := 0; len(b) > 0; i++ {
		if len(b) < 4 {
			return tabular.Errorf(t.field(), "raw contents end inside the length of element %d", i)
		}
		n := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) {
			return tabular.Errorf(t.field(), "element %d declares %d bytes, but only %d remain", i, n, len(b))
		}
		if !utf8.Valid(b[:n]) {
			return tabular.Errorf(t.field(), "element %d is not valid UTF-8", i)
		}
		vals = append(vals, strs.String(b[:n]))
		b = b[n:]
	}
	t.col = tabular.StringColumn(t.name, vals)
	return nil
}

// NewInferResponse is the gRPC answer to an inference request: the
// outputs req asks for, as contents, or as raw_output_contents when the
// request sent raw inputs.
func NewInferResponse(model, version string, req Request, probs []float64, labels []int64) *pb.ModelInferResponse {
	resp := &pb.ModelInferResponse{ModelName: model, ModelVersion: version, Id: req.ID}
	shape := []int64{int64(len(probs))}
	if req.Probability {
		out := &pb.ModelInferResponse_InferOutputTensor{Name: OutputProbability, Datatype: "FP64", Shape: shape}
		if req.Raw {
			b := make([]byte, 8*len(probs))
			for i, p := range probs {
				binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(p))
			}
			resp.RawOutputContents = append(resp.RawOutputContents, b)
		} else {
			out.Contents = &pb.InferTensorContents{Fp64Contents: probs}
		}
		resp.Outputs = append(resp.Outputs, out)
	}
	if req.Label {
		out := &pb.ModelInferResponse_InferOutputTensor{Name: OutputLabel, Datatype: "INT64", Shape: shape}
		if req.Raw {
			b := make([]byte, 8*len(labels))
			for i, l := range labels {
				binary.LittleEndian.PutUint64(b[8*i:], uint64(l))
			}
			resp.RawOutputContents = append(resp.RawOutputContents, b)
		} else {
			out.Contents = &pb.InferTensorContents{Int64Contents: labels}
		}
		resp.Outputs = append(resp.Outputs, out)
	}
	return resp
}
