package oip

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/mlservice/mlservice/internal/jsonscan"
	"github.com/mlservice/mlservice/internal/tabular"
)

// DecodeRESTRequest reads the JSON body of POST /v2/models/{name}/infer,
//
//	{"id": "1", "parameters": {"content_type": "pd"},
//	 "inputs": [{"name": "age", "datatype": "FP64", "shape": [2], "data": [42, 37]}, ...],
//	 "outputs": [{"name": "probability"}]}
//
// into a table with one column per feature, in the order of features. The
// inputs are one tensor per feature (shape [N] or [N, 1]; "data" flat or
// nested, row-major) or, when every feature is a number, one [N, F] tensor
// in the features' order. A JSON null element is a missing value. Any
// other mistake (invalid JSON, a missing, extra or repeated input, an
// unknown or unfitting datatype, a shape that disagrees with the data, rows
// that differ across tensors, a string where a number is due, a non-UTF-8
// string, too many rows, an unknown output) gives a *tabular.Error naming
// the tensor or key.
func DecodeRESTRequest(body []byte, features []tabular.Feature, opts DecodeOptions) (*tabular.Table, Request, error) {
	d := restDecoder{features: features}
	var binary []byte
	if opts.HeaderLength > 0 {
		if opts.HeaderLength > len(body) {
			return nil, Request{}, tabular.Errorf("body", "Inference-Header-Content-Length is %d, but the body has %d bytes", opts.HeaderLength, len(body))
		}
		body, binary = body[:opts.HeaderLength], body[opts.HeaderLength:]
	}
	d.r.Reset(body)
	var req Request
	var ts []tensor
	if err := d.body(&req, &ts); err != nil {
		return nil, Request{}, err
	}
	if err := d.binaryData(ts, binary, opts.HeaderLength > 0); err != nil {
		return nil, Request{}, err
	}
	req.allOutputs()
	table, err := assemble(ts, features, opts)
	if err != nil {
		return nil, Request{}, err
	}
	return table, req, nil
}

// binaryData gives each input with a binary_data_size its bytes.
func (d *restDecoder) binaryData(ts []tensor, binary []byte, extension bool) *tabular.Error {
	for i := range ts {
		t := &ts[i]
		if t.binarySize < 0 {
			continue
		}
		switch {
		case !extension:
			return tabular.Errorf(t.field(), "has binary_data_size, but the request has no Inference-Header-Content-Length header")
		case t.binarySize > len(binary):
			return tabular.Errorf(t.field(), "binary_data_size is %d, but only %d bytes remain after the JSON", t.binarySize, len(binary))
		}
		if err := t.fromRaw(binary[:t.binarySize], &d.strings); err != nil {
			return err
		}
		binary = binary[t.binarySize:]
	}
	if len(binary) > 0 {
		return tabular.Errorf("body", "%d bytes after the JSON belong to no input's binary_data_size", len(binary))
	}
	return nil
}

type restDecoder struct {
	r        jsonscan.Reader
	features []tabular.Feature
	strings  tabular.Interner // BYTES values, often a few categories over many rows
}

// syntax is the reader's syntax error as a request error, or nil.
func (d *restDecoder) syntax() *tabular.Error {
	if err := d.r.Err(); err != nil {
		return &tabular.Error{Field: "body", Reason: err.Error()}
	}
	return nil
}

// fields reads the keys of the object just begun, handing each to read
// (which reads or skips its value), until read fails or the object ends,
// and reports a syntax error after each.
func (d *restDecoder) fields(read func(key []byte) *tabular.Error) *tabular.Error {
	for key := range d.r.Keys() {
		if err := read(key); err != nil {
			return err
		}
		if err := d.syntax(); err != nil {
			return err
		}
	}
	return d.syntax()
}

// path names a key of the request for errors, built only when one is due:
// "body", "id", "inputs[2].shape".
type path struct {
	list string // "inputs" or "outputs", or "" for a top-level key
	i    int
	key  string
}

func (p path) String() string {
	switch {
	case p.list == "":
		return p.key
	case p.key == "":
		return p.list + "[" + strconv.Itoa(p.i) + "]"
	}
	return p.list + "[" + strconv.Itoa(p.i) + "]." + p.key
}

func (p path) with(key string) path { p.key = key; return p }

// expect checks that the next value is of kind k, naming field if not.
func (d *restDecoder) expect(k jsonscan.Kind, field path, what string) *tabular.Error {
	got := d.r.Peek()
	if got == k {
		return nil
	}
	if got == jsonscan.Invalid {
		d.r.Skip() // records the syntax error
		if err := d.syntax(); err != nil {
			return err
		}
	}
	return tabular.Errorf(field.String(), "must be %s", what)
}

// keyBit is the bit of a key that a decoder reads in seen, 0 for keys it
// skips; seeing a known key twice is an error (encoding/json would keep
// the last one silently).
func keyBit(seen *uint8, key []byte, known ...string) (bit uint8, twice bool) {
	for i, k := range known {
		if k == string(key) {
			bit = 1 << i
			twice = *seen&bit != 0
			*seen |= bit
			return bit, twice
		}
	}
	return 0, false
}

func (d *restDecoder) body(req *Request, ts *[]tensor) *tabular.Error {
	if err := d.expect(jsonscan.Object, path{key: "body"}, "a JSON object with an \"inputs\" array"); err != nil {
		return err
	}
	d.r.BeginObject()
	var seen uint8
	err := d.fields(func(key []byte) *tabular.Error {
		if _, twice := keyBit(&seen, key, "id", "parameters", "inputs", "outputs"); twice {
			return tabular.Errorf("body", "key %q appears twice", key)
		}
		switch string(key) {
		case "id":
			return d.str(path{key: "id"}, &req.ID)
		case "parameters":
			return d.parameters(path{key: "parameters"}, nil)
		case "inputs":
			return d.inputs(ts)
		case "outputs":
			return d.outputs(req)
		}
		d.r.Skip()
		return nil
	})
	if err != nil {
		return err
	}
	if d.r.Finish() != nil {
		return d.syntax()
	}
	if *ts == nil {
		return tabular.Errorf("inputs", "required")
	}
	return nil
}

// str reads a string that must be valid UTF-8.
func (d *restDecoder) str(field path, dst *string) *tabular.Error {
	if err := d.expect(jsonscan.String, field, "a string"); err != nil {
		return err
	}
	b, _ := d.r.Bytes()
	if !utf8.Valid(b) {
		return tabular.Errorf(field.String(), "is not valid UTF-8")
	}
	*dst = string(b)
	return nil
}

// parameters reads a parameters object, refusing what checkParameter
// refuses; an input's binary_data_size goes to binarySize.
func (d *restDecoder) parameters(field path, binarySize *int) *tabular.Error {
	if err := d.expect(jsonscan.Object, field, "an object"); err != nil {
		return err
	}
	d.r.BeginObject()
	for {
		key, ok := d.r.NextKey()
		if !ok {
			return d.syntax()
		}
		k := string(key) // key's storage is reused by the next string read
		value := ""
		if k == "binary_data_size" && binarySize != nil {
			v, inRange, ok := d.r.Float()
			if !ok || !inRange || v < 0 || v != math.Trunc(v) || v > math.MaxInt32 {
				return tabular.Errorf(field.String(), "binary_data_size must be a byte count")
			}
			*binarySize = int(v)
			continue
		}
		if d.r.Peek() == jsonscan.String {
			b, _ := d.r.Bytes()
			value = string(b)
		} else {
			d.r.Skip()
		}
		if reason := checkParameter(k, value); reason != "" {
			return tabular.Errorf(field.String(), "%s", reason)
		}
	}
}

func (d *restDecoder) inputs(ts *[]tensor) *tabular.Error {
	if err := d.expect(jsonscan.Array, path{key: "inputs"}, "an array of input tensors"); err != nil {
		return err
	}
	d.r.BeginArray()
	*ts = make([]tensor, 0, 8)
	for d.r.NextElem() {
		t, err := d.input(len(*ts))
		if err != nil {
			return err
		}
		*ts = append(*ts, t)
	}
	return d.syntax()
}

// input reads one input tensor. Its keys come in any order, so the data
// is read before the datatype may be known: into a column of whatever the
// JSON holds, checked against the datatype once the object is read.
func (d *restDecoder) input(i int) (tensor, *tabular.Error) {
	field := path{list: "inputs", i: i}
	t := tensor{binarySize: -1}
	if err := d.expect(jsonscan.Object, field, "an object"); err != nil {
		return t, err
	}
	d.r.BeginObject()
	var seen uint8
	var datatypeText string
	var bad *tabular.Error // the first bad element, reported once the name is known
	err := d.fields(func(key []byte) *tabular.Error {
		if _, twice := keyBit(&seen, key, "name", "datatype", "shape", "parameters", "data"); twice {
			return tabular.Errorf(field.String(), "key %q appears twice", key)
		}
		switch string(key) {
		case "name":
			return d.name(field.with("name"), &t.name)
		case "datatype":
			err := d.expect(jsonscan.String, field.with("datatype"), "a string")
			if err == nil {
				b, _ := d.r.Bytes()
				if t.dt = parseDatatype(b); t.dt == dtInvalid {
					datatypeText = string(b)
				}
			}
			return err
		case "shape":
			return d.shape(field.with("shape"), &t.shape)
		case "parameters":
			return d.parameters(field.with("parameters"), &t.binarySize)
		case "data":
			err := d.expect(jsonscan.Array, field.with("data"), "an array")
			if err == nil {
				d.growFor(&t)
				index := 0
				d.data(&t.col, &index, &bad)
			}
			return err
		}
		d.r.Skip()
		return nil
	})
	if err != nil {
		return t, err
	}
	switch {
	case seen&1 == 0:
		return t, tabular.Errorf(field.String(), "\"name\" is required")
	case seen&2 == 0:
		return t, tabular.Errorf(t.field(), "\"datatype\" is required")
	case t.shape == nil:
		return t, tabular.Errorf(t.field(), "\"shape\" is required")
	case seen&16 == 0 && t.binarySize < 0:
		return t, tabular.Errorf(t.field(), "\"data\" is required")
	case seen&16 != 0 && t.binarySize >= 0:
		return t, tabular.Errorf(t.field(), "has both \"data\" and binary_data_size: send one or the other")
	case bad != nil:
		bad.Field = t.field()
		return t, bad
	case t.dt == dtInvalid:
		return t, tabular.Errorf(t.field(), "unknown datatype %q (send one of FP64, FP32, INT64, BOOL, BYTES, ...)", datatypeText)
	}
	return t, nil
}

// growFor sizes t's column for the data its shape announces, when the
// shape came first (as clients write it), so that appending does not
// reallocate; no more than the rest of the body could hold, as a shape
// is the client's word.
func (d *restDecoder) growFor(t *tensor) {
	n, reason := elements(t.shape)
	if t.shape == nil || reason != "" || n > (len(d.r.Data())-d.r.Offset())/2 {
		return
	}
	switch t.dt {
	case dtBytes:
		t.col.Grow(n, tabular.String)
	case dtBool:
		t.col.Grow(n, tabular.Bool)
	default:
		t.col.Grow(n, tabular.Number)
	}
}

// name reads a tensor's name, sharing the feature's string when it names
// one (as it does but for mistakes).
func (d *restDecoder) name(field path, dst *string) *tabular.Error {
	if err := d.expect(jsonscan.String, field, "a string"); err != nil {
		return err
	}
	b, _ := d.r.Bytes()
	for _, f := range d.features {
		if f.Name == string(b) {
			*dst = f.Name
			return nil
		}
	}
	if !utf8.Valid(b) {
		return tabular.Errorf(field.String(), "is not valid UTF-8")
	}
	*dst = string(b)
	return nil
}

func (d *restDecoder) shape(field path, dst *[]int64) *tabular.Error {
	if err := d.expect(jsonscan.Array, field, "an array of integers"); err != nil {
		return err
	}
	d.r.BeginArray()
	*dst = make([]int64, 0, 2)
	for d.r.NextElem() {
		v, inRange, ok := d.r.Float()
		if !ok {
			return d.syntax()
		}
		if !inRange || v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return tabular.Errorf(field.String(), "must be an array of integers")
		}
		*dst = append(*dst, int64(v))
	}
	return d.syntax()
}

// data appends the elements of a (possibly nested) data array to col,
// flattened row-major, counting them in index; the first element that no
// datatype could hold is kept in bad.
func (d *restDecoder) data(col *tabular.Column, index *int, bad **tabular.Error) {
	d.r.BeginArray()
	for d.r.NextElem() {
		switch d.r.Peek() {
		case jsonscan.Number:
			v, inRange, ok := d.r.Float()
			if !ok {
				return
			}
			if !inRange && *bad == nil {
				*bad = tabular.Errorf("", "element %d is beyond the range of a float64", *index)
			}
			col.AppendNumber(v)
		case jsonscan.String:
			b, ok := d.r.Bytes()
			if !ok {
				return
			}
			if !utf8.Valid(b) && *bad == nil {
				*bad = tabular.Errorf("", "element %d is not valid UTF-8", *index)
			}
			col.AppendString(d.strings.String(b))
		case jsonscan.Bool:
			v, ok := d.r.Bool()
			if !ok {
				return
			}
			col.AppendBool(v)
		case jsonscan.Null:
			if !d.r.Null() {
				return
			}
			col.AppendNull()
		case jsonscan.Array:
			d.data(col, index, bad)
			continue // its elements were counted
		default:
			if !d.r.Skip() {
				return
			}
			if *bad == nil {
				*bad = tabular.Errorf("", "element %d is an object, not a value", *index)
			}
			col.AppendNull()
		}
		*index++
	}
}

func (d *restDecoder) outputs(req *Request) *tabular.Error {
	if err := d.expect(jsonscan.Array, path{key: "outputs"}, "an array of {\"name\": ...} objects"); err != nil {
		return err
	}
	d.r.BeginArray()
	for i := 0; d.r.NextElem(); i++ {
		field := path{list: "outputs", i: i}
		if err := d.expect(jsonscan.Object, field, "an object with a \"name\""); err != nil {
			return err
		}
		d.r.BeginObject()
		name := ""
		err := d.fields(func(key []byte) *tabular.Error {
			switch string(key) {
			case "name":
				return d.str(field.with("name"), &name)
			case "parameters":
				return d.parameters(field.with("parameters"), nil)
			}
			d.r.Skip()
			return nil
		})
		if err != nil {
			return err
		}
		if err := req.selectOutput(name); err != nil {
			return err
		}
	}
	return d.syntax()
}

// AppendRESTResponse appends the JSON answer to an inference request,
//
//	{"model_name": "churn", "model_version": "v1", "id": "1", "outputs": [
//	  {"name": "probability", "datatype": "FP64", "shape": [2], "data": [0.73, 0.12]},
//	  {"name": "label", "datatype": "INT64", "shape": [2], "data": [1, 0]}]}
//
// with the outputs req asks for and its id (left out when empty).
func AppendRESTResponse(dst []byte, model, version string, req Request, probs []float64, labels []int64) []byte {
	dst = append(dst, `{"model_name":`...)
	dst = jsonscan.AppendString(dst, model)
	dst = append(dst, `,"model_version":`...)
	dst = jsonscan.AppendString(dst, version)
	if req.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = jsonscan.AppendString(dst, req.ID)
	}
	dst = append(dst, `,"outputs":[`...)
	if req.Probability || !req.Label {
		dst = appendOutputHead(dst, "probability", "FP64", len(probs))
		for i, p := range probs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONFloat(dst, p)
		}
		dst = append(dst, "]}"...)
		if req.Label {
			dst = append(dst, ',')
		}
	}
	if req.Label {
		dst = appendOutputHead(dst, "label", "INT64", len(labels))
		for i, l := range labels {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(dst, l, 10)
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, "]}"...)
}

// appendOutputHead opens one output tensor of n values, up to its data:
// {"name":…,"datatype":…,"shape":[n],"data":[
func appendOutputHead(dst []byte, name, datatype string, n int) []byte {
	dst = append(dst, `{"name":"`...)
	dst = append(dst, name...)
	dst = append(dst, `","datatype":"`...)
	dst = append(dst, datatype...)
	dst = append(dst, `","shape":[`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, `],"data":[`...)
}

// appendJSONFloat writes f as encoding/json does; a non-finite f (which
// no model here gives) is written as null to keep the document valid.
func appendJSONFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.AppendFloat(dst, f, 'e', -1, 64)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}
