package mlservice_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlservice/mlservice"
)

func TestDefaultSchema(t *testing.T) {
	s := mlservice.DefaultSchema()
	if got := s.EncodedNames(); !cmp.Equal(got, mlservice.FeatureNames[:]) {
		t.Errorf("encoded names %v, want %v", got, mlservice.FeatureNames)
	}
	if s.Target.Column != mlservice.TargetColumn || !s.IsDefault() || s.ID() != mlservice.FeatureSchemaVersion {
		t.Errorf("default schema %+v, id %q", s.Target, s.ID())
	}
	s.Features[0].Rules = "gte=1"
	if s.IsDefault() || mlservice.DefaultSchema().Features[0].Rules != "gte=0" {
		t.Error("DefaultSchema's copy is shared, or a changed copy is still the default")
	}
}

func TestParseSchemaTables(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(tablesDir, "*.schema.json"))
	if len(paths) < 5 {
		t.Fatalf("only %d schema files", len(paths))
	}
	for _, p := range paths {
		s, err := mlservice.LoadSchemaFile(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		again, err := mlservice.ParseSchema(s.MarshalIndent())
		if err != nil || again.Hash() != s.Hash() {
			t.Errorf("%s: round trip: %v", p, err)
		}
		if strings.Contains(s.ID(), "sha256:") == s.IsDefault() {
			t.Errorf("%s: id %q", p, s.ID())
		}
	}
}

// TestParseSchemaRefuses: each bad schema file gives a *SchemaError naming
// the key at fault.
func TestParseSchemaRefuses(t *testing.T) {
	const target = `"target":{"column":"y","positive":"1","negative":"0"}`
	withFeatures := func(features string) string {
		return `{"name":"t","version":"1",` + target + `,"features":[` + features + `]}`
	}
	cases := []struct {
		name, json, key, reason string
	}{
		{"not JSON", `{"name":`, "", "malformed JSON"},
		{"not an object", `[1,2]`, "", "must be a JSON object"},
		{"trailing data", withFeatures(`{"name":"a","type":"number"}`) + `{}`, "", "data after"},
		{"unknown top key", `{"name":"t","version":"1","colour":"red",` + target + `,"features":[{"name":"a","type":"number"}]}`, "colour", "unknown key"},
		{"unknown feature key", withFeatures(`{"name":"a","type":"number","rule":"gte=0"}`), "rule", "unknown key"},
		{"duplicate top key", `{"name":"t","name":"u","version":"1",` + target + `,"features":[{"name":"a","type":"number"}]}`, "", `duplicate key "name"`},
		{"duplicate feature key", withFeatures(`{"name":"a","type":"number","type":"category"}`), "", `duplicate key`},
		{"no name", `{"version":"1",` + target + `,"features":[{"name":"a","type":"number"}]}`, "name", "required"},
		{"no version", `{"name":"t",` + target + `,"features":[{"name":"a","type":"number"}]}`, "version", "required"},
		{"no target", `{"name":"t","version":"1","features":[{"name":"a","type":"number"}]}`, "target.column", "required"},
		{"no positive", `{"name":"t","version":"1","target":{"column":"y","negative":"0"},"features":[{"name":"a","type":"number"}]}`, "target.positive", "required"},
		{"same labels", `{"name":"t","version":"1","target":{"column":"y","positive":"a","negative":"a"},"features":[{"name":"a","type":"number"}]}`, "target.negative", "must differ"},
		{"no features", withFeatures(``), "features", "at least one"},
		{"label with spaces", `{"name":"t","version":"1","target":{"column":"y","positive":" yes","negative":"no"},"features":[{"name":"a","type":"number"}]}`, "target.positive", "spaces"},
		{"features null", `{"name":"t","version":"1",` + target + `}`, "features", "at least one"},
		{"wrong JSON type", `{"name":"t","version":1,` + target + `,"features":[{"name":"a","type":"number"}]}`, "version", "must be a string"},
		{"feature without name", withFeatures(`{"type":"number"}`), "features[0].name", "required"},
		{"duplicate feature", withFeatures(`{"name":"a","type":"number"},{"name":"a","type":"binary"}`), "features[1].name", "also features[0]"},
		{"target among features", withFeatures(`{"name":"y","type":"binary"}`), "features[0].name", "target column"},
		{"equals in name", withFeatures(`{"name":"a=b","type":"number"}`), "features[0].name", `contains "="`},
		{"no type", withFeatures(`{"name":"a"}`), "features[0].type", "required"},
		{"unknown type", withFeatures(`{"name":"a","type":"integer"}`), "features[0].type", `"integer" is not`},
		{"unknown rule", withFeatures(`{"name":"a","type":"number","rules":"gte=0,positive"}`), "features[0].rules", "validator refuses"},
		{"rule not for numbers", withFeatures(`{"name":"a","type":"number","rules":"oneof=1 2"}`), "features[0].rules", "validator refuses"},
		{"dive", withFeatures(`{"name":"a","type":"number","rules":"dive"}`), "features[0].rules", "does not apply"},
		{"empty rule", withFeatures(`{"name":"a","type":"number","rules":"gte=0,,lte=3"}`), "features[0].rules", "malformed tag"},
		// validator tries alternatives in order and stops at the first that
		// passes, so a sample value that passes eq=1 never ran len=abc.
		{"alternative that cannot run", withFeatures(`{"name":"a","type":"number","rules":"eq=1|len=abc"}`), "features[0].rules", `"len=abc"`},
		{"later alternative that cannot run", withFeatures(`{"name":"a","type":"number","rules":"gte=0,lte=100|len=abc"}`), "features[0].rules", `"len=abc"`},
		{"category alternative that cannot run", withFeatures(`{"name":"a","type":"category","rules":"eq=x|len=abc"}`), "features[0].rules", `"len=abc"`},
		{"empty alternative", withFeatures(`{"name":"a","type":"number","rules":"eq=1|"}`), "features[0].rules", "malformed tag"},
		{"dive as an alternative", withFeatures(`{"name":"a","type":"number","rules":"eq=1|dive"}`), "features[0].rules", "does not apply"},
		{"declared category breaks the rules", withFeatures(`{"name":"a","type":"category","rules":"ne=blue","categories":["red","green","blue"]}`), "features[0].categories[2]", `"blue" breaks the feature's rules "ne=blue"`},
		{"categories on a number", withFeatures(`{"name":"a","type":"number","categories":["x"]}`), "features[0].categories", "only a category"},
		{"unknown on a binary", withFeatures(`{"name":"a","type":"binary","unknown":"ignore"}`), "features[0].unknown", "only a category"},
		{"bad unknown", withFeatures(`{"name":"a","type":"category","unknown":"skip"}`), "features[0].unknown", `"skip" is not`},
		{"empty categories", withFeatures(`{"name":"a","type":"category","categories":[]}`), "features[0].categories", "empty"},
		{"duplicate category", withFeatures(`{"name":"a","type":"category","categories":["x","y","x"]}`), "features[0].categories[2]", "appears twice"},
		{"null category", withFeatures(`{"name":"a","type":"category","categories":["x","NA"]}`), "features[0].categories[1]", "missing value"},
		{"missing not a bool", withFeatures(`{"name":"a","type":"number","missing":"yes"}`), "features.missing", "must be a bool"},
		{"too many categories", withFeatures(`{"name":"a","type":"category","categories":[` + manyCategories(mlservice.MaxCategories+1) + `]}`), "features[0].categories", "the limit is 1000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := mlservice.ParseSchema([]byte(tc.json))
			var se *mlservice.SchemaError
			if !errors.As(err, &se) || !errors.Is(err, mlservice.ErrInvalidSchema) {
				t.Fatalf("ParseSchema = %v, %v; want a *SchemaError", s, err)
			}
			if se.Key != tc.key || !strings.Contains(se.Reason, tc.reason) {
				t.Errorf("error %q: key %q, want %q; reason should contain %q", err, se.Key, tc.key, tc.reason)
			}
		})
	}
	if len(cases) < 15 {
		t.Fatalf("only %d cases", len(cases))
	}
}

func manyCategories(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `"c` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `_` + itoa(i) + `"`
	}
	return strings.Join(parts, ",")
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestRequestJSONSchema(t *testing.T) {
	s, err := mlservice.LoadSchemaFile(filepath.Join(tablesDir, "anes96.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	js := s.RequestJSONSchema()
	if js["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema %v", js["$schema"])
	}
	props := js["properties"].(map[string]any)
	if got := props["PID"].(map[string]any)["enum"]; !cmp.Equal(got, s.Features[5].Categories) {
		t.Errorf("PID enum %v", got)
	}
	if got := props["age"].(map[string]any); got["minimum"] != 18.0 || got["maximum"] != 130.0 {
		t.Errorf("age %v", got)
	}
	if _, err := json.Marshal(js); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseSchema(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(tablesDir, "*.schema.json"))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"name":"t","version":"1","target":{"column":"y","positive":"1","negative":"0"},"features":[{"name":"a","type":"category","rules":"max=3"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := mlservice.ParseSchema(data)
		if err != nil {
			if !errors.Is(err, mlservice.ErrInvalidSchema) {
				t.Fatalf("error %v does not match ErrInvalidSchema", err)
			}
			return
		}
		again, err := mlservice.ParseSchema(s.MarshalIndent())
		if err != nil {
			t.Fatalf("a parsed schema does not parse again: %v\n%s", err, s.MarshalIndent())
		}
		if again.Hash() != s.Hash() {
			t.Fatal("hash changed in a round trip")
		}
		_ = s.RequestJSONSchema()
		_ = s.EncodedNames()
	})
}
