package mlservice

import (
	"strings"
	"testing"
)

// A refused schema change must say what changed: which columns, which
// categories appeared or vanished, which rules.
func TestSchemaDiffSaysWhatChanged(t *testing.T) {
	base := func() *Schema {
		return &Schema{Name: "t", Version: "1", Target: SchemaTarget{Column: "y", Positive: "1", Negative: "0"},
			Features: []FeatureSpec{
				{Name: "plan", Type: TypeCategory, Categories: []string{"basic", "gold", "silver"}},
				{Name: "age", Type: TypeNumber, Rules: "gte=0"},
				{Name: "tenure", Type: TypeNumber},
			}}
	}
	for _, tc := range []struct {
		name string
		edit func(s *Schema)
		want []string
	}{
		{"categories", func(s *Schema) { s.Features[0].Categories = []string{"basic", "gold", "platinum"} },
			[]string{`column plan: categories appeared: "platinum", categories vanished: "silver" (3 became 3)`}},
		{"category order", func(s *Schema) { s.Features[0].Categories = []string{"gold", "basic", "silver"} },
			[]string{"column plan: the same 3 categories in another order"}},
		{"columns", func(s *Schema) {
			s.Features = append(s.Features[:2], FeatureSpec{Name: "region", Type: TypeCategory, Categories: []string{"n"}})
		}, []string{"columns added: region (category)", "columns removed: tenure"}},
		{"type", func(s *Schema) { s.Features[2].Type = TypeBinary }, []string{"column tenure: number became binary"}},
		{"rules and unknown", func(s *Schema) { s.Features[1].Rules = "gte=18"; s.Features[0].Unknown = UnknownIgnore },
			[]string{`column age: rules "gte=0" became "gte=18"`, `column plan: unknown "error" became "ignore"`}},
		{"missing", func(s *Schema) { s.Features[1].Missing = true }, []string{"column age: missing false became true"}},
		{"target", func(s *Schema) { s.Target.Positive = "yes" }, []string{`the target y (positive "1", negative "0") became y (positive "yes", negative "0")`}},
		{"order", func(s *Schema) { s.Features[1], s.Features[2] = s.Features[2], s.Features[1] },
			[]string{"column order plan, age, tenure became plan, tenure, age"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base()
			tc.edit(b)
			got := schemaDiff(base(), b)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("schemaDiff = %q, want it to say %q", got, w)
				}
			}
		})
	}
	many := base()
	for i := range 30 {
		many.Features[0].Categories = append(many.Features[0].Categories, strings.Repeat("x", i+1))
	}
	if got := schemaDiff(base(), many); !strings.Contains(got, "and 20 more (3 became 33)") {
		t.Errorf("30 new categories: %q, want ten named and the rest counted", got)
	}
}
