package mlservice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-playground/validator/v10"
)

// featuresRequest is the contract for one row of a prediction request,
// written once for validator/v10. Pointers tell a missing or null field
// from a zero.
type featuresRequest struct {
	Age                 *float64 `json:"age" validate:"required,gte=0,maxabs"`
	Income              *float64 `json:"income" validate:"required,maxabs"`
	AccountBalance      *float64 `json:"account_balance" validate:"required,maxabs"`
	TransactionsLast30d *float64 `json:"transactions_last_30d" validate:"required,gte=0,maxabs"`
	IsPremium           *float64 `json:"is_premium" validate:"required,binary"`
}

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

// room is how many more problems would be listed.
func (p *fieldProblems) room() int { return MaxFieldProblems - len(p.list) }

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
// UTF-8 byte order mark.
func DecodeFeatures(data []byte) (Features, error) {
	data = trimBOM(data)
	if !json.Valid(data) {
		return Features{}, malformed(data)
	}
	var probs fieldProblems
	f := decodeInstance(data, "body", 0, &probs)
	if probs.count() > 0 {
		return Features{}, probs.err(false)
	}
	return f, nil
}

// DecodeBatch parses {"instances": [ {...}, ... ]} with at most maxRows
// instances (no limit if maxRows <= 0), reporting problems like
// DecodeFeatures, each with the index of its row.
func DecodeBatch(data []byte, maxRows int) ([]Features, error) {
	items, err := batchItems(data, maxRows)
	if err != nil {
		return nil, err
	}
	var probs fieldProblems
	out := make([]Features, len(items))
	for i, item := range items {
		out[i] = decodeInstance(item, "instances", i, &probs)
	}
	if probs.count() > 0 {
		return nil, probs.err(true)
	}
	return out, nil
}

// decodeObject reads a JSON object's members, adding to probs each key that
// appears more than once: encoding/json keeps the last value silently, and
// a client that sent two values meant one of them. It returns nil if data
// (valid JSON) is not an object, and whether a key was repeated.
func decodeObject(data []byte, row int, probs *fieldProblems) (map[string]json.RawMessage, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return nil, false
	}
	repeats := countKeys(data) - len(obj)
	if repeats == 0 {
		return obj, false
	}
	listed := duplicateKeys(data, row, probs.room(), probs)
	probs.omitted += repeats - listed
	return obj, true
}

// countKeys counts the members of the object in data, which is valid JSON:
// the colons outside strings at depth 1. A json.Decoder token walk over
// every request more than doubled DecodeFeatures (4.9 µs and 91 allocs
// against 2.0 µs and 22), so it runs only once this finds a duplicate.
func countKeys(data []byte) int {
	n, depth, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inString:
			if c == '\\' {
				i++ // skip the escaped byte
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		case c == ':' && depth == 1:
			n++
		}
	}
	return n
}

// duplicateKeys adds to probs each key of the object in data (valid JSON)
// that appears more than once, once per repeat, and stops after limit of
// them: the walk costs an allocation per member, and the rest are only
// counted (decodeObject). It returns how many it added.
func duplicateKeys(data []byte, row, limit int, probs *fieldProblems) int {
	if limit <= 0 {
		return 0
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.Token() // {
	seen := map[string]bool{}
	n := 0
	for n < limit && dec.More() {
		tok, err := dec.Token()
		if err != nil {
			break // not reached: data is valid JSON
		}
		key, _ := tok.(string)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			break
		}
		if seen[key] {
			probs.add(FieldProblem{Row: row, Field: key, Reason: "appears more than once"})
			n++
		}
		seen[key] = true
	}
	return n
}

func malformed(data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		err = errors.New("invalid JSON")
	}
	return fmt.Errorf("%w: %v", ErrMalformedRequest, err)
}

// decodeInstance decodes one object (where: "body" or "instances", for a
// value that is not an object) field by field, so that every wrong type is
// reported and not just the first. Values that parse go through the
// contract's compiled check; only if that fails does validator judge them
// against featuresRequest's tags, as the CSV path does: it is the authority
// on what is wrong, and too slow to run on every good row.
func decodeInstance(data []byte, where string, row int, probs *fieldProblems) Features {
	obj, dup := decodeObject(data, row, probs)
	if obj == nil {
		probs.add(FieldProblem{Row: row, Field: where, Reason: "must be a JSON object"})
		return Features{}
	}
	if dup {
		return Features{}
	}
	var vals [NumFeatures]float64
	var reasons [NumFeatures]string // per feature, in FeatureNames order
	bad := false
	for j, name := range FeatureNames {
		raw, ok := obj[name]
		switch {
		case !ok || string(raw) == "null":
			reasons[j], bad = "required (missing or null)", true
		case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
			// A JSON number: encoding/json parses it into a float64 with
			// ParseFloat too, so this fails only where float64 cannot hold
			// it (1e400).
			v, err := strconv.ParseFloat(string(raw), 64)
			if err != nil {
				reasons[j], bad = "number out of range", true
				continue
			}
			vals[j] = v
		default: // a string, bool, array or object
			reasons[j], bad = "must be a number", true
		}
	}
	f := Features{vals[0], vals[1], vals[2], vals[3], vals[4]}
	if !bad && f.Check() == nil {
		return f
	}

	var req featuresRequest
	dst := [NumFeatures]**float64{&req.Age, &req.Income, &req.AccountBalance, &req.TransactionsLast30d, &req.IsPremium}
	for j := range vals {
		if reasons[j] == "" {
			*dst[j] = &vals[j]
		}
	}
	err := theContract().validate.Struct(&req)
	var verrs validator.ValidationErrors
	if errors.As(err, &verrs) {
		for _, fe := range verrs {
			j := slices.Index(FeatureNames[:], fe.Field())
			if j >= 0 && reasons[j] == "" {
				reasons[j] = ruleReason(fe.Tag(), fe.Param())
			}
		}
	} else if err != nil {
		probs.add(FieldProblem{Row: row, Field: where, Reason: err.Error()})
		return Features{}
	}
	n := probs.count()
	for j, r := range reasons {
		if r != "" {
			probs.add(FieldProblem{Row: row, Field: FeatureNames[j], Reason: r})
		}
	}
	if probs.count() == n { // not reached while the tags and Check agree (FuzzDecodeFeatures)
		p := f.Check().(*InputError).Problems[0]
		p.Row = row
		probs.add(p)
	}
	return Features{}
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
// *InputError lists the fields), 422 for ErrSchemaMismatch, 503 for
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
	case errors.Is(err, ErrNotReady), errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable, "not_ready"
	}
	return http.StatusInternalServerError, "internal"
}
