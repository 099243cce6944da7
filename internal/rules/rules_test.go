package rules

import (
	"math"
	"testing"
)

// FuzzRuleAgreesWithValidator: for every tag the compiler knows (and one it
// does not), the comparisons pass exactly the numbers validator passes.
func FuzzRuleAgreesWithValidator(f *testing.F) {
	for _, v := range []float64{0, -0.0, 1, -1, 0.5, 2, 1e15, -1e15, 1.0000000000000002e15, 1e200, 130, 131, -1e-300, math.NaN(), math.Inf(1)} {
		f.Add(v)
	}
	tags := []string{"gte=0,maxabs", "maxabs", "binary", "gte=0,lte=130,maxabs", "gte=1900,lte=2100,maxabs", "ne=3,maxabs", "gt=0,maxabs"}
	f.Fuzz(func(t *testing.T, v float64) {
		for _, tag := range tags {
			r := Compile(tag)
			name, _ := Check(v, tag)
			byValidator := name == "" && !math.IsNaN(v) && !math.IsInf(v, 0)
			if r.Exact && r.OK(v) != byValidator {
				t.Errorf("%s, %v: the comparisons say %v, validator %v", tag, v, r.OK(v), byValidator)
			}
			if !r.Exact && r.OK(v) {
				t.Errorf("%s, %v: a tag the comparisons cannot express passed them", tag, v)
			}
		}
	})
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		value       any
		tag         string
		name, param string
	}{
		{-1.0, "gte=0,maxabs", "gte", "0"},
		{-1e200, "gte=0,maxabs", "gte", "0"}, // the first rule broken is named
		{1e200, "gte=0,maxabs", "maxabs", ""},
		{2.0, "binary", "binary", ""},
		{"x9", "alpha,max=10", "alpha", ""},
		{"abcdefghijk", "alpha,max=10", "max", "10"},
		{"a", "oneof=a b", "", ""},
	} {
		if name, param := Check(tc.value, tc.tag); name != tc.name || param != tc.param {
			t.Errorf("Check(%v, %q) = %q %q, want %q %q", tc.value, tc.tag, name, param, tc.name, tc.param)
		}
	}
}

func TestCheckTag(t *testing.T) {
	numbers := []any{0.0, 1.0, -1.5, 1e9}
	for tag, ok := range map[string]bool{"": true, "gte=0,lte=130": true, "eq=1|len=abc": false, "positive": false,
		"dive": false, "gte=0,,lte=3": false, "eq=1|": false, " gte=0": false} {
		if err := CheckTag(tag, numbers); (err == nil) != ok {
			t.Errorf("CheckTag(%q) = %v", tag, err)
		}
	}
	if err := CheckTag("oneof=1 2", numbers); err == nil {
		t.Error("oneof on numbers accepted")
	}
}
