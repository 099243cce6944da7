package mlservice

// JSON requests: one object with a key per feature of the serving
// version's schema (a number for number and binary features, a string for
// category features), or {"instances": [...]} of them. One decoder reads
// every schema into the row models read, listing every bad field at once;
// DecodeFeatures, DecodeRow and Store.PredictJSON are ways into it.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/mlservice/mlservice/internal/csvsplit"
	"github.com/mlservice/mlservice/internal/strictjson"
)

// FieldProblem is one invalid field of a request or of a row given to
// Predict.
type FieldProblem struct {
	// Row is the index of the row in a batch; 0 for a single row and for
	// a problem with the request as a whole.
	Row int `json:"row"`
	// Field is a feature name, or "body" or "instances" for the request as
	// a whole, or any key that appears twice.
	Field  string `json:"field"`
	Reason string `json:"reason"` // what is wrong, in words
}

// MaxFieldProblems is how many problems an InputError lists; the rest are
// only counted, so a body of 100,000 repeated keys gets a short answer.
const MaxFieldProblems = 100

// InputError lists every invalid field of a request (from DecodeFeatures
// or DecodeBatch), up to MaxFieldProblems, or the first invalid value of a
// row (from Features.Check, Store.Predict or Store.PredictBatch). It
// matches ErrInvalidFeatures.
type InputError struct {
	Problems []FieldProblem // the first MaxFieldProblems, in body order
	Omitted  int            // problems found beyond those listed
	batch    bool           // each problem is about one row of a batch, so Error names it
}

func (e *InputError) Error() string {
	parts := make([]string, len(e.Problems), len(e.Problems)+1)
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Reason
		if e.batch {
			parts[i] = "row " + strconv.Itoa(p.Row) + " " + parts[i]
		}
	}
	if e.Omitted > 0 {
		parts = append(parts, "and "+strconv.Itoa(e.Omitted)+" more")
	}
	return "invalid features: " + strings.Join(parts, "; ")
}

// fieldProblems collects a request's problems: the first MaxFieldProblems,
// and the count of the rest.
type fieldProblems struct {
	list    []FieldProblem
	omitted int
}

func (p *fieldProblems) add(fp FieldProblem) {
	if len(p.list) < MaxFieldProblems {
		p.list = append(p.list, fp)
	} else {
		p.omitted++
	}
}

func (p *fieldProblems) count() int { return len(p.list) + p.omitted }

func (p *fieldProblems) err(batch bool) *InputError {
	return &InputError{Problems: p.list, Omitted: p.omitted, batch: batch}
}

// Is makes errors.Is(err, ErrInvalidFeatures) true.
func (e *InputError) Is(target error) bool { return target == ErrInvalidFeatures }

func inputError(field, reason string) *InputError {
	return &InputError{Problems: []FieldProblem{{Field: field, Reason: reason}}}
}

// DecodeFeatures parses one JSON object such as
//
//	{"age": 42, "income": 52000, "account_balance": -120.5, "transactions_last_30d": 7, "is_premium": 1}
//
// Invalid JSON gives an error matching ErrMalformedRequest; anything else
// wrong (not an object, a key given twice, a field missing, null, of the
// wrong type, or out of the contract's domain) gives an *InputError that
// lists every bad field. Unknown fields are ignored, and so is a leading
// UTF-8 byte order mark. It allocates nothing unless it returns an error.
func DecodeFeatures(data []byte) (Features, error) {
	var row [NumFeatures]float64
	if err := defaultColumns().decodeBody(data, row[:], nil); err != nil {
		return Features{}, err
	}
	return Features{row[0], row[1], row[2], row[3], row[4]}, nil
}

// DecodeBatch parses {"instances": [ {...}, ... ]} with at most maxRows
// instances (no limit if maxRows <= 0), reporting problems like
// DecodeFeatures, each with the index of its row.
func DecodeBatch(data []byte, maxRows int) ([]Features, error) {
	rows, err := defaultColumns().decodeBatch(data, maxRows, nil)
	if err != nil {
		return nil, err
	}
	out := make([]Features, len(rows)/NumFeatures)
	for i := range out {
		r := rows[i*NumFeatures:]
		out[i] = Features{r[0], r[1], r[2], r[3], r[4]}
	}
	return out, nil
}

// DecodeRow parses one JSON object into a Row under schema s (resolved: a
// category value must be one of its categories unless the feature ignores
// unknown values). Like DecodeFeatures, invalid JSON matches
// ErrMalformedRequest and anything else wrong gives an *InputError listing
// every bad field at once; unknown keys are ignored. A category value is
// trimmed of spaces, as a CSV cell is. Under the default schema the Row
// holds the five numbers in FeatureNames order.
func DecodeRow(s *Schema, data []byte) (Row, error) {
	c := columnsOf(s)
	row := make([]float64, len(c.cols))
	cats := make([]string, len(c.cats))
	if err := c.decodeBody(data, row, cats); err != nil {
		return Row{}, err
	}
	return c.rowOf(row, cats), nil
}

// DecodeRows parses {"instances": [ {...}, ... ]} under schema s, with at
// most maxRows instances (no limit if maxRows <= 0), reporting problems like
// DecodeRow, each with the index of its row.
func DecodeRows(s *Schema, data []byte, maxRows int) ([]Row, error) {
	c := columnsOf(s)
	var cats []string
	rows, err := c.decodeBatch(data, maxRows, &cats)
	if err != nil {
		return nil, err
	}
	n, k := len(c.cols), len(c.cats)
	out := make([]Row, len(rows)/max(n, 1))
	for i := range out {
		out[i] = c.rowOf(rows[i*n:(i+1)*n], cats[i*k:(i+1)*k])
	}
	return out, nil
}

// decodeBody decodes one request object into row (one value per feature);
// cats, when not nil, receives the category values as given, trimmed.
func (c *columns) decodeBody(data []byte, row []float64, cats []string) error {
	data = trimBOM(data)
	var probs fieldProblems
	if !c.decodeInstance(data, "body", 0, row, cats, &probs) {
		return malformed(data)
	}
	if probs.count() > 0 {
		return probs.err(false)
	}
	return nil
}

// decodeBatch decodes {"instances": [...]} into one value per feature per
// row, row after row. cats, when not nil, receives the category values.
func (c *columns) decodeBatch(data []byte, maxRows int, cats *[]string) ([]float64, error) {
	data = trimBOM(data)
	o := strictjson.NewObject(data)
	if !o.IsObject() {
		if !strictjson.Valid(data) {
			return nil, malformed(data)
		}
		return nil, inputError("body", "must be a JSON object with an instances array")
	}
	var probs fieldProblems
	var keys strictjson.KeySet
	var instances []byte
	for o.Next() {
		if keys.Add(o.Key()) {
			probs.add(FieldProblem{Field: string(o.Key()), Reason: "appears more than once"})
			continue
		}
		if string(o.Key()) == "instances" {
			instances = o.Value()
		}
	}
	if !o.Valid() {
		return nil, malformed(data)
	}
	if probs.count() > 0 {
		return nil, probs.err(false)
	}
	if instances == nil || string(instances) == "null" {
		return nil, inputError("instances", "required")
	}
	items, ok := strictjson.NewArray(instances)
	if !ok {
		return nil, inputError("instances", "must be an array of objects")
	}
	n := 0
	for counter := items; counter.Next(); {
		n++
	}
	switch {
	case n == 0:
		return nil, inputError("instances", "must not be empty")
	case maxRows > 0 && n > maxRows:
		return nil, inputError("instances", fmt.Sprintf("has %d rows, the limit is %d", n, maxRows))
	}
	width, k := len(c.cols), len(c.cats)
	rows := make([]float64, n*width)
	var rowCats []string
	if cats != nil {
		rowCats = make([]string, n*k)
		*cats = rowCats
	}
	for i := 0; items.Next(); i++ {
		var rc []string
		if cats != nil {
			rc = rowCats[i*k : (i+1)*k]
		}
		c.decodeInstance(items.Value(), "instances", i, rows[i*width:(i+1)*width], rc, &probs)
	}
	if probs.count() > 0 {
		return nil, probs.err(true)
	}
	return rows, nil
}

// decodeInstance decodes one object (where: "body" or "instances", for a
// value that is not an object) field by field into row, adding a problem
// for every bad field, and reports false when data is not valid JSON.
// A key given twice is a problem of its own, and then the fields are not
// judged: which of two values the client meant is unknown.
func (c *columns) decodeInstance(data []byte, where string, idx int, row []float64, cats []string, probs *fieldProblems) bool {
	o := strictjson.NewObject(data)
	if !o.IsObject() {
		if !strictjson.Valid(data) {
			return false
		}
		probs.add(FieldProblem{Row: idx, Field: where, Reason: "must be a JSON object"})
		return true
	}
	if len(c.cols) <= 64 && c.decodeGood(o, row, cats) {
		return true
	}
	values := make([][]byte, len(c.cols)) // per feature: its raw value, nil when not given
	var keys strictjson.KeySet
	dup := false
	for o.Next() {
		key := o.Key()
		if keys.Add(key) {
			probs.add(FieldProblem{Row: idx, Field: string(key), Reason: "appears more than once"})
			dup = true
			continue
		}
		if j, ok := c.names.LookupBytes(key); ok {
			values[j] = o.Value()
		}
	}
	if !o.Valid() {
		return false
	}
	if dup {
		return true
	}
	for j := range c.cols {
		if reason := c.decodeValue(j, values[j], row, cats); reason != "" {
			probs.add(FieldProblem{Row: idx, Field: c.cols[j].spec.Name, Reason: reason})
		}
	}
	return true
}

// decodeGood is decodeInstance's path for an object with nothing wrong, in
// one pass and with no allocation: each feature's value is decoded as its
// key is met. It reports false at the first sign of a problem (a bad or
// missing value, a key given twice, invalid JSON), and decodeInstance
// starts again to list them all in schema order. Keys given twice are
// caught by the features' bits, and among other keys by a KeySet made
// only once there is one.
func (c *columns) decodeGood(o strictjson.Object, row []float64, cats []string) bool {
	var seen uint64
	var others *strictjson.KeySet
	for o.Next() {
		key := o.Key()
		j32, ok := c.names.LookupBytes(key)
		if !ok {
			if others == nil {
				others = new(strictjson.KeySet)
			}
			if others.Add(key) {
				return false
			}
			continue
		}
		j := int(j32)
		if seen&(1<<j) != 0 || c.decodeValue(j, o.Value(), row, cats) != "" {
			return false
		}
		seen |= 1 << j
	}
	all := uint64(1)<<len(c.cols) - 1
	if !o.Valid() || seen|c.missing != all {
		return false
	}
	for j := 0; seen != all; j++ { // absent: missing
		if seen&(1<<j) == 0 {
			c.decodeValue(j, nil, row, cats)
			seen |= 1 << j
		}
	}
	return true
}

// decodeValue decodes feature j's raw JSON value into row[j] (and a
// category's, when cats is given, into its place among them), or says what
// is wrong with it.
func (c *columns) decodeValue(j int, raw []byte, row []float64, cats []string) string {
	col := &c.cols[j]
	if raw == nil || string(raw) == "null" {
		if !col.spec.Missing {
			return "required (missing or null)"
		}
		row[j] = math.NaN()
		if cats != nil && col.spec.Type == TypeCategory {
			cats[c.catOrder[j]] = ""
		}
		return ""
	}
	if col.spec.Type == TypeCategory {
		s, ok := strictjson.String(raw)
		if !ok {
			return fmt.Sprintf("must be a string (send %s as \"%s\")", truncate(string(raw), 40), truncate(string(raw), 40))
		}
		s = bytes.TrimSpace(s) // as a CSV cell is
		code, reason := c.code(j, s)
		if reason != "" {
			return reason
		}
		row[j] = code
		if cats != nil {
			cats[c.catOrder[j]] = string(s)
		}
		return ""
	}
	if !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return "must be a number" // a string, bool, array or object
	}
	// A JSON number (the scanner checked its grammar): the fast path reads
	// the usual shapes, strconv the rest and fails only where float64
	// cannot hold it (1e400).
	v, ok := csvsplit.ParseDecimal(raw)
	if !ok {
		var err error
		if v, err = strconv.ParseFloat(string(raw), 64); err != nil {
			return "number out of range"
		}
	}
	row[j] = v
	return reasonOf(&col.rule, v)
}

func malformed(data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		err = errors.New("invalid JSON")
	}
	return fmt.Errorf("%w: %v", ErrMalformedRequest, err)
}

// RequestJSONSchema returns a JSON Schema (draft 2020-12) of a prediction
// request body under s: one object with a key per feature, numbers for
// number and binary features, strings for category features. The batch
// body {"instances": [...]} is under $defs.batch.
func (s *Schema) RequestJSONSchema() map[string]any {
	props := map[string]any{}
	required := make([]string, 0, len(s.Features))
	for _, f := range s.Features {
		p := map[string]any{}
		if !f.Missing {
			required = append(required, f.Name)
		}
		switch f.Type {
		case TypeNumber:
			p["type"] = "number"
			p["minimum"], p["maximum"] = -MaxAbsValue, MaxAbsValue
		case TypeBinary:
			p["type"] = "number"
			p["enum"] = []int{0, 1}
		case TypeCategory:
			p["type"] = "string"
			if f.Unknown != UnknownIgnore && len(f.Categories) > 0 {
				p["enum"] = f.Categories
			} else if len(f.Categories) > 0 {
				p["examples"] = f.Categories
			}
		}
		if f.Type != TypeCategory {
			for _, t := range strings.Split(f.Rules, ",") {
				name, param, _ := strings.Cut(t, "=")
				v, err := strconv.ParseFloat(param, 64)
				if err != nil {
					continue
				}
				switch name {
				case "gte", "min":
					p["minimum"] = v
				case "lte", "max":
					p["maximum"] = v
				case "gt":
					p["exclusiveMinimum"] = v
				case "lt":
					p["exclusiveMaximum"] = v
				}
			}
		}
		if f.Rules != "" {
			p["description"] = "validator rules: " + f.Rules
		}
		if f.Missing { // null or absent: a missing value
			p["type"] = []string{p["type"].(string), "null"}
			switch e := p["enum"].(type) {
			case []string:
				p["enum"] = append(toAny(e), "", nil)
			case []int:
				p["enum"] = append(toAny(e), nil)
			}
		}
		props[f.Name] = p
	}
	row := map[string]any{"type": "object", "properties": props, "required": required}
	return map[string]any{
		"$schema":    "https://json-schema.org/draft/2020-12/schema",
		"$id":        "urn:mlservice:schema:" + s.ID(),
		"title":      s.Name + " prediction request",
		"type":       "object",
		"properties": props,
		"required":   required,
		"$defs": map[string]any{
			"row": row,
			"batch": map[string]any{
				"type":     "object",
				"required": []string{"instances"},
				"properties": map[string]any{
					"instances": map[string]any{"type": "array", "minItems": 1, "items": map[string]any{"$ref": "#/$defs/row"}},
				},
			},
		},
	}
}

func toAny[T any](s []T) []any {
	out := make([]any, len(s), len(s)+2)
	for i, v := range s {
		out[i] = v
	}
	return out
}

// CheckContentType accepts the Content-Type of a JSON request body:
// application/json or any +json type, with parameters, or none at all; a
// charset, if given, must be UTF-8, which is all JSON is read as. Anything
// else (a form that `curl -d` sends, text/plain, charset=iso-8859-1) gives
// an error matching ErrUnsupportedMediaType.
func CheckContentType(contentType string) error {
	if contentType == "" || contentType == "application/json" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return fmt.Errorf("%w: send the body as application/json, not %q", ErrUnsupportedMediaType, contentType)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return fmt.Errorf("%w: charset %q: the body is read as UTF-8 only", ErrUnsupportedMediaType, cs)
	}
	return nil
}

// CheckContentEncoding accepts the Content-Encoding of a request body that
// is read as it is: none or identity. A compressed body (gzip, br, ...)
// gives an error matching ErrUnsupportedMediaType, rather than bytes that
// are then called malformed JSON.
func CheckContentEncoding(encoding string) error {
	if encoding == "" || strings.EqualFold(strings.TrimSpace(encoding), "identity") {
		return nil
	}
	return fmt.Errorf("%w: Content-Encoding %q is not decoded; send the body uncompressed", ErrUnsupportedMediaType, encoding)
}

// trimBOM drops a leading UTF-8 byte order mark, which some clients write
// and encoding/json refuses.
func trimBOM(data []byte) []byte { return bytes.TrimPrefix(data, []byte("\ufeff")) }

// HTTPStatus maps an error from decoding or predicting a request to the
// HTTP status and the short code to answer with: 415 for
// ErrUnsupportedMediaType, 413 for a body over http.MaxBytesReader's
// limit, 400 for ErrMalformedRequest, 422 for ErrInvalidFeatures (an
// *InputError lists the fields), 422 for ErrSchemaMismatch and
// ErrCannotExplain, 503 for
// ErrNotReady and ErrClosed, and
// 500 for anything else, which is the server's fault.
func HTTPStatus(err error) (status int, code string) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, ErrUnsupportedMediaType):
		return http.StatusUnsupportedMediaType, "unsupported_media_type"
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, "body_too_large"
	case errors.Is(err, ErrMalformedRequest):
		return http.StatusBadRequest, "malformed_json"
	case errors.Is(err, ErrInvalidFeatures):
		return http.StatusUnprocessableEntity, "invalid_features"
	case errors.Is(err, ErrSchemaMismatch):
		return http.StatusUnprocessableEntity, "schema_mismatch"
	case errors.Is(err, ErrCannotExplain):
		return http.StatusUnprocessableEntity, "cannot_explain"
	case errors.Is(err, ErrNotReady), errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable, "not_ready"
	}
	return http.StatusInternalServerError, "internal"
}
