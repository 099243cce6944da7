package mlservice

// The declared schema: the table a deployment trains on and serves. One
// schema drives CSV validation, JSON request decoding and the in-process
// check; with none given, DefaultSchema (the seed's five columns) is used and
// everything behaves as it did before schemas existed.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/mlservice/mlservice/internal/csvsplit"
	"github.com/mlservice/mlservice/internal/rules"
	"github.com/mlservice/mlservice/internal/strictjson"
	"github.com/mlservice/mlservice/model"
)

// Feature types a schema may declare.
const (
	TypeNumber   = "number"   // a finite decimal, standardized
	TypeBinary   = "binary"   // 0 or 1, treated as a number
	TypeCategory = "category" // a string, one-hot encoded, not standardized
)

// What a category feature does with a value it was not trained on.
const (
	UnknownError  = "error"  // a validation error (422 over HTTP)
	UnknownIgnore = "ignore" // an all-zero one-hot encoding
)

// Limits on a schema.
const (
	// MaxCategories caps the categories of one feature, declared or learned.
	MaxCategories = 1000
	// MaxSchemaFeatures caps the features of a schema.
	MaxSchemaFeatures = 10000
	// maxSchemaSize caps a schema file, in bytes.
	maxSchemaSize = 4 << 20
)

// ErrInvalidSchema is matched by every error from ParseSchema and
// LoadSchemaFile: the schema file is malformed or breaks a rule.
var ErrInvalidSchema = errors.New("invalid schema")

// Schema declares a table: its target column with the two labels as they
// appear in the file, and its features. See ParseSchema for the rules.
type Schema struct {
	Name     string        `json:"name"`
	Version  string        `json:"version"`
	Target   SchemaTarget  `json:"target"`
	Features []FeatureSpec `json:"features"`
}

// SchemaTarget names the label column and its two values.
type SchemaTarget struct {
	Column   string `json:"column"`
	Positive string `json:"positive"` // the label of class 1, as written in the file
	Negative string `json:"negative"` // the label of class 0
}

// FeatureSpec declares one feature.
type FeatureSpec struct {
	Name string `json:"name"`
	Type string `json:"type"` // TypeNumber, TypeBinary or TypeCategory
	// Rules are go-playground/validator tags ("gte=0,lte=130") checked
	// against the number (number, binary) or the string (category).
	Rules string `json:"rules,omitempty"`
	// Categories are a category feature's values, in one-hot order. Empty:
	// learned from the training rows, sorted; a resolved schema (the one a
	// version stores) always has them.
	Categories []string `json:"categories,omitempty"`
	// Unknown is UnknownError (the default) or UnknownIgnore.
	Unknown string `json:"unknown,omitempty"`
	// Missing lets the feature's value be missing: an empty CSV cell (or
	// NA, NaN, null, None: not an infinity), a JSON null or an absent key.
	// The model row then holds NaN; a logistic model imputes it (a
	// number's training median, a category's level of its own), trees
	// learn where it goes. Without it a missing value is refused.
	Missing bool `json:"missing,omitempty"`
}

// SchemaError is one problem with a schema file, naming its key.
type SchemaError struct {
	Key    string // e.g. "features[2].rules"; "" for the file as a whole
	Reason string
}

func (e *SchemaError) Error() string {
	if e.Key == "" {
		return "invalid schema: " + e.Reason
	}
	return "invalid schema: " + e.Key + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalidSchema) true.
func (e *SchemaError) Is(target error) bool { return target == ErrInvalidSchema }

func schemaErr(key, format string, a ...any) error {
	return &SchemaError{Key: key, Reason: fmt.Sprintf(format, a...)}
}

// defaultSchemaJSON is the seed's data contract as a schema.
const defaultSchemaJSON = `{
  "name": "default",
  "version": "1",
  "target": {"column": "target", "positive": "1", "negative": "0"},
  "features": [
    {"name": "age", "type": "number", "rules": "gte=0"},
    {"name": "income", "type": "number"},
    {"name": "account_balance", "type": "number"},
    {"name": "transactions_last_30d", "type": "number", "rules": "gte=0"},
    {"name": "is_premium", "type": "binary"}
  ]
}`

var defaultSchema = sync.OnceValue(func() *Schema {
	s, err := ParseSchema([]byte(defaultSchemaJSON))
	if err != nil {
		panic(err) // a constant; TestDefaultSchema parses it
	}
	return s
})

// DefaultSchema returns the seed's contract as a schema: the features
// FeatureNames, the 0/1 column TargetColumn. It is what Validate, Train and
// the Store use when no schema is given. The caller may modify the copy.
func DefaultSchema() *Schema { return defaultSchema().clone() }

// IsDefault reports whether s declares exactly DefaultSchema's table.
func (s *Schema) IsDefault() bool {
	return s == nil || s == defaultSchema() || s.Hash() == defaultSchema().Hash()
}

func (s *Schema) clone() *Schema {
	c := *s
	c.Features = slices.Clone(s.Features)
	for i := range c.Features {
		c.Features[i].Categories = slices.Clone(s.Features[i].Categories)
	}
	return &c
}

// LoadSchemaFile reads and parses a schema file; see ParseSchema.
func LoadSchemaFile(path string) (*Schema, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load schema: %w", err)
	}
	defer f.Close()
	s, err := ReadSchema(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ReadSchema reads a schema from r; see ParseSchema.
func ReadSchema(r io.Reader) (*Schema, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSchemaSize+1))
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	if len(data) > maxSchemaSize {
		return nil, schemaErr("", "larger than %d bytes", maxSchemaSize)
	}
	return ParseSchema(data)
}

// ParseSchema parses a schema file strictly. Every error is a *SchemaError
// naming the key at fault: malformed JSON, an unknown or duplicated key,
// data after the object, a missing name, version or target label, equal
// labels, no features, a feature without a name or with a name given twice
// or containing "=", the target among the features, an unknown type, a rule
// tag validator does not know or that cannot apply to the feature's type,
// categories or unknown on a feature that is not a category, an empty or
// duplicated category, more than MaxCategories, an unknown other than
// "error" or "ignore".
func ParseSchema(data []byte) (*Schema, error) {
	var s Schema
	if err := decodeSchemaJSON(data, &s); err != nil {
		return nil, err
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return &s, nil
}

// decodeSchemaJSON decodes one JSON object into v, refusing duplicate keys,
// unknown keys and trailing data.
func decodeSchemaJSON(data []byte, v any) error {
	if o := strictjson.NewObject(data); !o.IsObject() {
		if strictjson.Valid(data) {
			return schemaErr("", "must be a JSON object")
		}
		return schemaErr("", "malformed JSON: %v", json.Unmarshal(data, new(any)))
	}
	if err := strictjson.CheckDuplicates(data); err != nil {
		return schemaErr("", "%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var first json.RawMessage
	if err := dec.Decode(&first); err != nil {
		return schemaErr("", "malformed JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return schemaErr("", "data after the schema object")
	}
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return schemaErr(te.Field, "must be a %s, not a JSON %s", jsonKind(te.Type.Kind().String()), te.Value)
		}
		if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return schemaErr(strings.Trim(msg, `"`), "unknown key (allowed: name, version, target{column, positive, negative}, features[]{name, type, rules, categories, unknown, missing})")
		}
		return schemaErr("", "%v", err)
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "slice":
		return "array"
	case "struct":
		return "object"
	}
	return k
}

func (s *Schema) check() error {
	switch {
	case strings.TrimSpace(s.Name) == "":
		return schemaErr("name", "required")
	case strings.TrimSpace(s.Version) == "":
		return schemaErr("version", "required")
	case s.Target.Column == "":
		return schemaErr("target.column", "required")
	case s.Target.Positive == "":
		return schemaErr("target.positive", "required")
	case s.Target.Negative == "":
		return schemaErr("target.negative", "required")
	case s.Target.Positive != strings.TrimSpace(s.Target.Positive):
		return schemaErr("target.positive", "%q has leading or trailing spaces (cells are trimmed)", s.Target.Positive)
	case s.Target.Negative != strings.TrimSpace(s.Target.Negative):
		return schemaErr("target.negative", "%q has leading or trailing spaces (cells are trimmed)", s.Target.Negative)
	case s.Target.Positive == s.Target.Negative:
		return schemaErr("target.negative", "equals target.positive (%q); the two labels must differ", s.Target.Positive)
	case len(s.Features) == 0:
		return schemaErr("features", "at least one feature is required")
	case len(s.Features) > MaxSchemaFeatures:
		return schemaErr("features", "%d features, the limit is %d", len(s.Features), MaxSchemaFeatures)
	}
	seen := map[string]int{}
	for i := range s.Features {
		f := &s.Features[i]
		key := fmt.Sprintf("features[%d]", i)
		switch {
		case f.Name == "":
			return schemaErr(key+".name", "required")
		case f.Name != strings.TrimSpace(f.Name):
			return schemaErr(key+".name", "%q has leading or trailing spaces (CSV headers are trimmed)", f.Name)
		case strings.Contains(f.Name, "="):
			return schemaErr(key+".name", "%q contains \"=\", which encoded category columns use (name=value)", f.Name)
		case f.Name == s.Target.Column:
			return schemaErr(key+".name", "%q is the target column", f.Name)
		}
		if j, dup := seen[f.Name]; dup {
			return schemaErr(key+".name", "%q is also features[%d]", f.Name, j)
		}
		seen[f.Name] = i
		switch f.Type {
		case TypeNumber, TypeBinary:
			if f.Categories != nil {
				return schemaErr(key+".categories", "only a category feature has categories; %q is a %s", f.Name, f.Type)
			}
			if f.Unknown != "" {
				return schemaErr(key+".unknown", "only a category feature has unknown; %q is a %s", f.Name, f.Type)
			}
		case TypeCategory:
			if f.Unknown != "" && f.Unknown != UnknownError && f.Unknown != UnknownIgnore {
				return schemaErr(key+".unknown", "%q is not %q or %q", f.Unknown, UnknownError, UnknownIgnore)
			}
			if f.Categories != nil && len(f.Categories) == 0 {
				return schemaErr(key+".categories", "empty; omit it to learn the categories from the training rows")
			}
			if len(f.Categories) > MaxCategories {
				return schemaErr(key+".categories", "%d categories, the limit is %d", len(f.Categories), MaxCategories)
			}
			cats := map[string]bool{}
			for k, c := range f.Categories {
				if csvsplit.IsNull(strings.TrimSpace(c)) {
					return schemaErr(fmt.Sprintf("%s.categories[%d]", key, k), "%q reads as a missing value", c)
				}
				if c != strings.TrimSpace(c) {
					return schemaErr(fmt.Sprintf("%s.categories[%d]", key, k), "%q has leading or trailing spaces (cells are trimmed)", c)
				}
				if cats[c] {
					return schemaErr(fmt.Sprintf("%s.categories[%d]", key, k), "%q appears twice", c)
				}
				cats[c] = true
			}
		case "":
			return schemaErr(key+".type", "required: number, binary or category")
		default:
			return schemaErr(key+".type", "%q is not number, binary or category", f.Type)
		}
		if err := checkRuleTag(f.Type, f.Rules); err != nil {
			return schemaErr(key+".rules", "%v", err)
		}
		// A known category skips the rules when a row is read, so one that
		// breaks them would be accepted: refuse the contradiction here.
		for k, c := range f.Categories {
			if p := ruleProblem(&Problem{}, c, f.Rules); p != nil {
				return schemaErr(fmt.Sprintf("%s.categories[%d]", key, k), "%q breaks the feature's rules %q (%s): drop the category or change the rules", c, f.Rules, p.Reason)
			}
		}
	}
	return nil
}

// checkRuleTag refuses, when the schema is read, a tag validator does not
// know or cannot apply to the feature's type (see rules.CheckTag).
func checkRuleTag(typ, tag string) error {
	samples := []any{0.0, 1.0, -1.5, 1e9}
	if typ == TypeCategory {
		samples = []any{"x", "Abc déf", "12"}
	}
	return rules.CheckTag(tag, samples)
}

// Hash returns the hex SHA-256 of s's canonical JSON: the encoding of the
// resolved fields in declaration order, with unknown spelled out. Two
// schemas with the same hash declare the same table and encoding.
func (s *Schema) Hash() string {
	c := s.clone()
	for i := range c.Features {
		if c.Features[i].Type == TypeCategory && c.Features[i].Unknown == "" {
			c.Features[i].Unknown = UnknownError
		}
	}
	data, _ := json.Marshal(c) // strings and slices only: cannot fail
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// ID identifies s in metadata.json's feature_schema_version: name, version
// and the first 16 hex digits of Hash. The default schema keeps the seed's
// identity, FeatureSchemaVersion.
func (s *Schema) ID() string {
	if s.IsDefault() {
		return FeatureSchemaVersion
	}
	return s.Name + "@" + s.Version + "+sha256:" + s.Hash()[:16]
}

// Resolved reports whether every category feature lists its categories.
func (s *Schema) Resolved() bool {
	for _, f := range s.Features {
		if f.Type == TypeCategory && len(f.Categories) == 0 {
			return false
		}
	}
	return true
}

// EncodedNames returns the columns of a one-hot encoding of s (resolved):
// every number and binary feature by name, in schema order, then each
// category feature's categories as name=value, feature by feature (see
// model.Layout.EncodedNames).
func (s *Schema) EncodedNames() []string { return s.layout().EncodedNames() }

// layout returns the rows s describes, as a model reads them.
func (s *Schema) layout() model.Layout {
	l := make(model.Layout, len(s.Features))
	for i, f := range s.Features {
		l[i] = model.Feature{Name: f.Name, Missing: f.Missing}
		if f.Type == TypeCategory {
			l[i].Kind, l[i].Levels = model.Category, f.Categories
		}
	}
	return l
}

// categoryOf returns the category f's code stands for: "" for a missing
// value (NaN) or one the schema ignored (-1).
func categoryOf(f *FeatureSpec, code float64) string {
	if !(code >= 0 && code < float64(len(f.Categories))) {
		return ""
	}
	return f.Categories[int(code)]
}

// MarshalIndent returns s as an indented schema file.
func (s *Schema) MarshalIndent() []byte {
	data, _ := json.MarshalIndent(s, "", "  ")
	return append(data, '\n')
}

// effectiveTag is the rule tag a feature's values are checked against:
// the declared rules plus what its type implies.
func (f *FeatureSpec) effectiveTag() string {
	var parts []string
	if f.Rules != "" {
		parts = append(parts, f.Rules)
	}
	switch f.Type {
	case TypeNumber:
		parts = append(parts, "maxabs")
	case TypeBinary:
		parts = append(parts, "binary")
	}
	return strings.Join(parts, ",")
}

// magnitudeReason explains the maxabs rule, in CSV and request errors alike.
var magnitudeReason = fmt.Sprintf("magnitude must be <= %g (larger values overflow training)", MaxAbsValue)

func ruleReason(tag, param string) string {
	switch tag {
	case "required":
		return "missing value (empty, NA, NaN, null, None or ±Inf)"
	case "number":
		return "not a number"
	case "gte":
		return "must be >= " + param
	case "lte":
		return "must be <= " + param
	case "binary":
		return "must be 0 or 1"
	case "maxabs":
		return magnitudeReason
	}
	return "breaks rule " + tag
}

// ruleProblem runs validator on value with tag and fills p with the rule
// it breaks, or returns nil when none is.
func ruleProblem(p *Problem, value any, tag string) *Problem {
	name, param := rules.Check(value, tag)
	switch name {
	case "":
		return nil
	case "validate":
		p.Rule, p.Reason = name, param
		return p
	}
	p.Rule, p.Reason = name, ruleReason(name, param)
	if param != "" {
		p.Rule += "=" + param
	}
	return p
}

// ruleReason words what a rule asks.

// numberReason says why v breaks tag, or "" if it does not.
func numberReason(v float64, tag string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "must be a finite number"
	}
	if p := ruleProblem(&Problem{}, v, tag); p != nil {
		return fmt.Sprintf("%s, not %v", p.Reason, v)
	}
	return ""
}

// labelRule reads the target: the positive or the negative label as
// written, or, when both labels are numbers, any spelling of either number
// (so "1.0" is 1), refused as the default contract's binary rule words it
// when the labels are 0 and 1.
type labelRule struct {
	target     SchemaTarget
	numeric    bool
	pos, neg   float64
	zeroAndOne bool
}

func newLabelRule(t SchemaTarget) labelRule {
	l := labelRule{target: t}
	pos, okp := csvsplit.ParseDecimal(t.Positive)
	neg, okn := csvsplit.ParseDecimal(t.Negative)
	l.numeric, l.pos, l.neg = okp && okn && pos != neg, pos, neg
	l.zeroAndOne = l.numeric && min(pos, neg) == 0 && max(pos, neg) == 1
	return l
}

// read returns the class of a target cell, or the problem with it.
func (l *labelRule) read(raw []byte, p *Problem) (uint8, bool) {
	t := bytes.TrimSpace(raw)
	switch string(t) {
	case l.target.Positive:
		return 1, true
	case l.target.Negative:
		return 0, true
	}
	p.Column, p.Value = l.target.Column, string(raw)
	if len(t) == 0 || csvsplit.IsNull(t) {
		p.Rule, p.Reason = "required", ruleReason("required", "")
		return 0, false
	}
	if l.numeric {
		v, kind := csvsplit.ParseCell(t)
		switch {
		case kind == csvsplit.Number && v == l.pos:
			return 1, true
		case kind == csvsplit.Number && v == l.neg:
			return 0, true
		case kind == csvsplit.Null:
			p.Rule, p.Reason = "required", ruleReason("required", "")
			return 0, false
		case kind == csvsplit.Text:
			p.Rule, p.Reason = "number", ruleReason("number", "")
			return 0, false
		case l.zeroAndOne:
			p.Rule, p.Reason = "binary", ruleReason("binary", "")
			return 0, false
		}
	}
	p.Rule, p.Reason = "label", fmt.Sprintf("must be %q (positive) or %q (negative)", l.target.Positive, l.target.Negative)
	return 0, false
}

// reasonOf says why v breaks number rule r, or "" when it does not.
func reasonOf(r *rules.Rule, v float64) string {
	if r.OK(v) {
		return ""
	}
	return numberReason(v, r.Tag)
}
