package mlservice

// JSON requests under a declared schema: one object with a key per feature,
// a number for number and binary features, a string for category features.

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// DecodeRow parses one JSON object into a Row under schema s (resolved: a
// category value must be one of its categories unless the feature ignores
// unknown values). Like DecodeFeatures, invalid JSON matches
// ErrMalformedRequest and anything else wrong gives an *InputError listing
// every bad field at once; unknown keys are ignored. Under the default
// schema the Row holds the five numbers in FeatureNames order.
func DecodeRow(s *Schema, data []byte) (Row, error) {
	data = trimBOM(data)
	if !json.Valid(data) {
		return Row{}, malformed(data)
	}
	var probs fieldProblems
	r := decodeRowInstance(s, data, "body", 0, &probs)
	if probs.count() > 0 {
		return Row{}, probs.err(false)
	}
	return r, nil
}

// DecodeRows parses {"instances": [ {...}, ... ]} under schema s, with at
// most maxRows instances (no limit if maxRows <= 0), reporting problems like
// DecodeRow, each with the index of its row.
func DecodeRows(s *Schema, data []byte, maxRows int) ([]Row, error) {
	items, err := batchItems(data, maxRows)
	if err != nil {
		return nil, err
	}
	var probs fieldProblems
	out := make([]Row, len(items))
	for i, item := range items {
		out[i] = decodeRowInstance(s, item, "instances", i, &probs)
	}
	if probs.count() > 0 {
		return nil, probs.err(true)
	}
	return out, nil
}

// batchItems returns the instances of a batch body, checked as DecodeBatch
// checks them.
func batchItems(data []byte, maxRows int) ([]json.RawMessage, error) {
	data = trimBOM(data)
	if !json.Valid(data) {
		return nil, malformed(data)
	}
	var probs fieldProblems
	body, dup := decodeObject(data, 0, &probs)
	if body == nil {
		return nil, inputError("body", "must be a JSON object with an instances array")
	}
	if dup {
		return nil, probs.err(false)
	}
	raw, ok := body["instances"]
	if !ok || string(raw) == "null" {
		return nil, inputError("instances", "required")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, inputError("instances", "must be an array of objects")
	}
	switch {
	case len(items) == 0:
		return nil, inputError("instances", "must not be empty")
	case maxRows > 0 && len(items) > maxRows:
		return nil, inputError("instances", fmt.Sprintf("has %d rows, the limit is %d", len(items), maxRows))
	}
	return items, nil
}

// decodeRowInstance decodes one object field by field under s, appending a
// problem for every bad field.
func decodeRowInstance(s *Schema, data []byte, where string, row int, probs *fieldProblems) Row {
	obj, dup := decodeObject(data, row, probs)
	if obj == nil {
		probs.add(FieldProblem{Row: row, Field: where, Reason: "must be a JSON object"})
		return Row{}
	}
	if dup {
		return Row{}
	}
	var r Row
	n := probs.count()
	for i := range s.Features {
		f := &s.Features[i]
		raw, ok := obj[f.Name]
		bad := func(reason string) { probs.add(FieldProblem{Row: row, Field: f.Name, Reason: reason}) }
		if !ok || string(raw) == "null" {
			bad("required (missing or null)")
			continue
		}
		if f.Type == TypeCategory {
			var v string
			if raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
				bad(fmt.Sprintf("must be a string (send %s as \"%s\")", truncate(string(raw), 40), truncate(string(raw), 40)))
				continue
			}
			v = strings.TrimSpace(v) // as a CSV cell is
			if reason := categoryReason(f, v); reason != "" {
				bad(reason)
				continue
			}
			r.Categories = append(r.Categories, v)
			continue
		}
		if !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
			bad("must be a number")
			continue
		}
		v, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			bad("number out of range")
			continue
		}
		if reason := numberReason(v, f.effectiveTag()); reason != "" {
			bad(reason)
			continue
		}
		r.Numbers = append(r.Numbers, v)
	}
	if probs.count() > n {
		return Row{}
	}
	return r
}

// categoryReason says why v is not a value of category feature f, or "".
func categoryReason(f *FeatureSpec, v string) string {
	if v == "" || isNullToken(v) { // what a CSV cell calls missing
		return "required (missing, null or empty)"
	}
	for _, c := range f.Categories { // a request is small; a version's store keeps a map
		if c == v {
			return ""
		}
	}
	if f.Rules != "" {
		if p := ruleProblem(&Problem{}, v, f.Rules); p != nil {
			return fmt.Sprintf("%q: %s", truncate(v, 80), p.Reason)
		}
	}
	if f.Unknown == UnknownIgnore || len(f.Categories) == 0 {
		return ""
	}
	return fmt.Sprintf("unknown category %q (the model knows %d values of %s)", truncate(v, 80), len(f.Categories), f.Name)
}
