package mlservice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-playground/validator/v10"
)

var ErrMalformedRequest = errors.New("malformed JSON")

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

// FieldProblem is one invalid field of a request.
type FieldProblem struct {
	Field  string `json:"field"`  // e.g. "age" or "instances[3].age"
	Reason string `json:"reason"` // what is wrong, in words
}

// InputError lists every invalid field of a request. It matches
// ErrInvalidFeatures.
type InputError struct {
	Problems []FieldProblem
}

func (e *InputError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Reason
	}
	return "invalid features: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalidFeatures) true.
func (e *InputError) Is(target error) bool { return target == ErrInvalidFeatures }

// DecodeFeatures parses one JSON object such as
//
//	{"age": 42, "income": 52000, "account_balance": -120.5, "transactions_last_30d": 7, "is_premium": 1}
//
// Invalid JSON gives an error matching ErrMalformedRequest; anything else
// wrong (not an object, a field missing, null, of the wrong type, or out of
// the contract's domain) gives an *InputError that lists every bad field.
// Unknown fields are ignored.
func DecodeFeatures(data []byte) (Features, error) {
	if f, ok := decodeFlat(data); ok {
		return f, nil
	}
	return decodeFeaturesFull(data)
}

// decodeFeaturesFull decodes field by field and lets validator judge.
func decodeFeaturesFull(data []byte) (Features, error) {
	if !json.Valid(data) {
		return Features{}, malformed(data)
	}
	var probs []FieldProblem
	f := decodeInstance(data, "", &probs)
	if len(probs) > 0 {
		return Features{}, &InputError{Problems: probs}
	}
	return f, nil
}

// DecodeBatch parses {"instances": [ {...}, ... ]} with at most maxRows
// instances (no limit if maxRows <= 0), reporting problems like
// DecodeFeatures, with fields named "instances[i].age".
func DecodeBatch(data []byte, maxRows int) ([]Features, error) {
	if !json.Valid(data) {
		return nil, malformed(data)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(data, &body); err != nil || body == nil { // body == nil: the JSON null
		return nil, &InputError{Problems: []FieldProblem{{Field: "body", Reason: "must be a JSON object with an instances array"}}}
	}
	raw, ok := body["instances"]
	if !ok || string(raw) == "null" {
		return nil, &InputError{Problems: []FieldProblem{{Field: "instances", Reason: "required"}}}
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, &InputError{Problems: []FieldProblem{{Field: "instances", Reason: "must be an array of objects"}}}
	}
	switch {
	case len(items) == 0:
		return nil, &InputError{Problems: []FieldProblem{{Field: "instances", Reason: "must not be empty"}}}
	case maxRows > 0 && len(items) > maxRows:
		return nil, &InputError{Problems: []FieldProblem{{Field: "instances", Reason: fmt.Sprintf("has %d rows, the limit is %d", len(items), maxRows)}}}
	}
	out := make([]Features, len(items))
	var probs []FieldProblem
	for i, item := range items {
		out[i] = decodeInstance(item, fmt.Sprintf("instances[%d].", i), &probs)
	}
	if len(probs) > 0 {
		return nil, &InputError{Problems: probs}
	}
	return out, nil
}

// decodeFlat is the fast path of DecodeFeatures for the shape nearly every
// request has: one object holding exactly the five features, each once, as
// plain numbers, with values inside the contract. It reports false for
// anything else, and DecodeFeatures then takes the full path, which is the
// authority on errors. Where it succeeds, it gives what the full path would
// (FuzzDecodeFlat), in a few hundred ns instead of several µs.
func decodeFlat(data []byte) (Features, bool) {
	var vals [NumFeatures]float64
	var seen [NumFeatures]bool
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return Features{}, false
	}
	i = skipSpace(data, i+1)
	for n := 0; n < NumFeatures; n++ {
		if n > 0 {
			if i >= len(data) || data[i] != ',' {
				return Features{}, false
			}
			i = skipSpace(data, i+1)
		}
		// A key without escapes.
		if i >= len(data) || data[i] != '"' {
			return Features{}, false
		}
		end := bytes.IndexByte(data[i+1:], '"')
		if end < 0 {
			return Features{}, false
		}
		key := data[i+1 : i+1+end]
		if bytes.IndexByte(key, '\\') >= 0 {
			return Features{}, false
		}
		j := -1
		for k, name := range FeatureNames {
			if string(key) == name {
				j = k
				break
			}
		}
		if j < 0 || seen[j] {
			return Features{}, false
		}
		seen[j] = true
		i = skipSpace(data, i+2+end)
		if i >= len(data) || data[i] != ':' {
			return Features{}, false
		}
		i = skipSpace(data, i+1)
		start := i
		i = scanJSONNumber(data, i)
		if i < 0 {
			return Features{}, false
		}
		v, err := strconv.ParseFloat(string(data[start:i]), 64)
		if err != nil {
			return Features{}, false
		}
		vals[j] = v
		i = skipSpace(data, i)
	}
	if i >= len(data) || data[i] != '}' || skipSpace(data, i+1) != len(data) {
		return Features{}, false
	}
	f := Features{vals[0], vals[1], vals[2], vals[3], vals[4]}
	if f.Check() != nil {
		return Features{}, false
	}
	return f, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanJSONNumber returns the index just past the JSON number at b[i:], or
// -1 if there is none: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanJSONNumber(b []byte, i int) int {
	digits := func(i int) int {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if i = digits(i + 1); i < 0 {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i = digits(i); i < 0 {
			return -1
		}
	}
	return i
}

func malformed(data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		err = errors.New("invalid JSON")
	}
	return fmt.Errorf("%w: %v", ErrMalformedRequest, err)
}

// decodeInstance decodes one object field by field, so that every wrong
// type is reported and not just the first, then lets validator check the
// values against featuresRequest's tags.
func decodeInstance(data []byte, prefix string, probs *[]FieldProblem) Features {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		field := strings.TrimSuffix(prefix, ".")
		if field == "" {
			field = "body"
		}
		*probs = append(*probs, FieldProblem{Field: field, Reason: "must be a JSON object"})
		return Features{}
	}
	var req featuresRequest
	dst := [NumFeatures]**float64{&req.Age, &req.Income, &req.AccountBalance, &req.TransactionsLast30d, &req.IsPremium}
	var reasons [NumFeatures]string // per feature, in FeatureNames order
	for j, name := range FeatureNames {
		raw, ok := obj[name]
		if !ok || string(raw) == "null" {
			continue // validator reports "required"
		}
		var v float64
		if err := json.Unmarshal(raw, &v); err != nil {
			reasons[j] = "must be a number"
			// A number literal that float64 cannot hold (1e400). Not
			// json.Number: it also takes a string such as "1".
			if c := raw[0]; c == '-' || c >= '0' && c <= '9' {
				reasons[j] = "number out of range"
			}
			continue
		}
		*dst[j] = &v
	}
	err := theContract().validate.Struct(&req)
	var verrs validator.ValidationErrors
	if errors.As(err, &verrs) {
		for _, fe := range verrs {
			j := slices.Index(FeatureNames[:], fe.Field())
			if j < 0 || reasons[j] != "" {
				continue
			}
			reasons[j] = ruleReason(fe.Tag(), fe.Param())
			if fe.Tag() == "required" {
				reasons[j] = "required (missing or null)"
			}
		}
	} else if err != nil {
		*probs = append(*probs, FieldProblem{Field: strings.TrimSuffix(prefix, "."), Reason: err.Error()})
		return Features{}
	}
	bad := false
	for j, r := range reasons {
		if r != "" {
			*probs = append(*probs, FieldProblem{Field: prefix + FeatureNames[j], Reason: r})
			bad = true
		}
	}
	if bad {
		return Features{}
	}
	return Features{*req.Age, *req.Income, *req.AccountBalance, *req.TransactionsLast30d, *req.IsPremium}
}
