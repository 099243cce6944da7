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
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"
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

// decodeSchemaJSON decodes one JSON object into v, refusing duplicate keys
// (decodeStrict), unknown keys and trailing data.
func decodeSchemaJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return schemaErr("", "malformed JSON: %v", err)
	}
	if tok != json.Delim('{') {
		return schemaErr("", "must be a JSON object")
	}
	if err := checkDuplicateKeys(dec, tok, ""); err != nil {
		if strings.HasPrefix(err.Error(), "duplicate key") {
			return schemaErr("", "%v", err)
		}
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
			return schemaErr(strings.Trim(msg, `"`), "unknown key (allowed: name, version, target{column, positive, negative}, features[]{name, type, rules, categories, unknown})")
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
				if strings.TrimSpace(c) == "" || isNullToken(strings.TrimSpace(c)) {
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

// checkRuleTag runs validator on sample values with each alternative of
// each rule of tag alone, so that a tag validator does not know, or cannot
// apply to the feature's type, is refused when the schema is read and never
// at the first row that reaches it. Alternatives are tried one by one
// because validator stops at the first that passes: "eq=1|len=abc" passes
// 1 without ever parsing "abc", and panics on 2.
func checkRuleTag(typ, tag string) error {
	if tag == "" {
		return nil
	}
	if strings.TrimSpace(tag) != tag || strings.Contains(tag, ",,") || strings.HasSuffix(tag, ",") || strings.HasPrefix(tag, ",") {
		return fmt.Errorf("%q: malformed tag (empty rule or spaces around it)", tag)
	}
	samples := []any{0.0, 1.0, -1.5, 1e9}
	if typ == TypeCategory {
		samples = []any{"x", "Abc déf", "12"}
	}
	for _, rule := range strings.Split(tag, ",") {
		for _, alt := range strings.Split(rule, "|") {
			name, _, _ := strings.Cut(alt, "=")
			switch name {
			case "":
				return fmt.Errorf("%q: malformed tag (empty alternative in %q)", tag, rule)
			case "dive", "keys", "endkeys", "omitempty", "omitnil", "omitzero", "structonly", "nostructlevel", "-":
				return fmt.Errorf("%q: rule %q does not apply to one value", tag, name)
			}
			for _, v := range samples {
				if err := tryRule(v, alt); err != nil {
					return fmt.Errorf("%q: validator refuses %q: %v", tag, alt, err)
				}
			}
		}
	}
	return nil
}

// tryRule runs validator on v with one rule, turning its panic (an unknown
// tag, a parameter it cannot parse, a kind it does not take) into an error.
func tryRule(v any, rule string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	verr := theContract().validate.Var(v, rule)
	var ve validator.ValidationErrors
	if verr != nil && !errors.As(verr, &ve) {
		return verr
	}
	return nil
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

// EncodedNames returns the model's input columns for s (resolved): every
// number and binary feature by name, in schema order, then each category
// feature's categories as name=value, feature by feature. It is the column
// order of scikit-learn's ColumnTransformer with a StandardScaler on the
// numbers and a OneHotEncoder on the categories.
func (s *Schema) EncodedNames() []string {
	var out []string
	for _, f := range s.Features {
		if f.Type != TypeCategory {
			out = append(out, f.Name)
		}
	}
	for _, f := range s.Features {
		if f.Type == TypeCategory {
			for _, c := range f.Categories {
				out = append(out, f.Name+"="+c)
			}
		}
	}
	return out
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

// RequestJSONSchema returns a JSON Schema (draft 2020-12) of a prediction
// request body under s: one object with a key per feature, numbers for
// number and binary features, strings for category features. The batch
// body {"instances": [...]} is under $defs.batch.
func (s *Schema) RequestJSONSchema() map[string]any {
	props := map[string]any{}
	required := make([]string, 0, len(s.Features))
	for _, f := range s.Features {
		required = append(required, f.Name)
		p := map[string]any{}
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

// schemaDiff says how b differs from a: which columns were added, removed
// or retyped, which categories appeared or vanished, which rules changed,
// so that whoever reads a refusal knows what to fix.
func schemaDiff(a, b *Schema) string {
	var out []string
	if a.Name != b.Name || a.Version != b.Version {
		out = append(out, fmt.Sprintf("%s@%s became %s@%s", a.Name, a.Version, b.Name, b.Version))
	}
	if a.Target != b.Target {
		out = append(out, fmt.Sprintf("the target %s (positive %q, negative %q) became %s (positive %q, negative %q)",
			a.Target.Column, a.Target.Positive, a.Target.Negative, b.Target.Column, b.Target.Positive, b.Target.Negative))
	}
	old := map[string]FeatureSpec{}
	for _, f := range a.Features {
		old[f.Name] = f
	}
	var added, removed []string
	for _, f := range b.Features {
		o, ok := old[f.Name]
		delete(old, f.Name)
		if !ok {
			added = append(added, fmt.Sprintf("%s (%s)", f.Name, f.Type))
			continue
		}
		if o.Type != f.Type {
			out = append(out, fmt.Sprintf("column %s: %s became %s", f.Name, o.Type, f.Type))
			continue
		}
		if !slices.Equal(o.Categories, f.Categories) {
			out = append(out, "column "+f.Name+": "+categoryDiff(o.Categories, f.Categories))
		}
		if o.Rules != f.Rules {
			out = append(out, fmt.Sprintf("column %s: rules %q became %q", f.Name, o.Rules, f.Rules))
		}
		if o.Unknown != f.Unknown {
			out = append(out, fmt.Sprintf("column %s: unknown %q became %q", f.Name, orDefault(o.Unknown, UnknownError), orDefault(f.Unknown, UnknownError)))
		}
	}
	for _, f := range a.Features {
		if _, ok := old[f.Name]; ok {
			removed = append(removed, f.Name)
		}
	}
	if len(added) > 0 {
		out = append(out, "columns added: "+someOf(added))
	}
	if len(removed) > 0 {
		out = append(out, "columns removed: "+someOf(removed))
	}
	if len(out) == 0 {
		names := func(s *Schema) []string {
			n := make([]string, len(s.Features))
			for i, f := range s.Features {
				n[i] = f.Name
			}
			return n
		}
		out = append(out, fmt.Sprintf("column order %s became %s", someOf(names(a)), someOf(names(b))))
	}
	return truncate(strings.Join(out, "; "), 1000)
}

// categoryDiff says how category list b differs from a: the values that
// appeared and vanished, or that only their one-hot order changed.
func categoryDiff(a, b []string) string {
	var appeared, vanished []string
	for _, c := range b {
		if !slices.Contains(a, c) {
			appeared = append(appeared, strconv.Quote(c))
		}
	}
	for _, c := range a {
		if !slices.Contains(b, c) {
			vanished = append(vanished, strconv.Quote(c))
		}
	}
	var out []string
	if len(appeared) > 0 {
		out = append(out, "categories appeared: "+someOf(appeared))
	}
	if len(vanished) > 0 {
		out = append(out, "categories vanished: "+someOf(vanished))
	}
	if len(out) == 0 {
		return fmt.Sprintf("the same %d categories in another order", len(a))
	}
	return fmt.Sprintf("%s (%d became %d)", strings.Join(out, ", "), len(a), len(b))
}

// someOf lists up to ten of names, then how many more there are.
func someOf(names []string) string {
	if len(names) <= 10 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:10], ", "), len(names)-10)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
