// Package rules runs the rule tags of a schema's features: the tag
// language of go-playground/validator/v10 ("gte=0,lte=130", "oneof=a b",
// "alpha,max=10"), with the two rules the data contract adds: "binary" (0
// or 1) and "maxabs" (a magnitude of at most MaxAbs).
//
// validator is the authority on every value; it costs about a microsecond,
// so Compile turns a number's tag into comparisons that pass the common
// value in a few nanoseconds, and only a value they fail (or a tag they
// cannot express) meets validator, whose verdict is the one reported.
// FuzzRuleAgreesWithValidator keeps the two in step.
package rules

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"
)

// MaxAbs is the bound of the "maxabs" rule (mlservice.MaxAbsValue).
const MaxAbs = 1e15

var theValidator = sync.OnceValue(func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	if err := v.RegisterValidation("binary", func(fl validator.FieldLevel) bool {
		f := fl.Field()
		return f.CanFloat() && (f.Float() == 0 || f.Float() == 1)
	}); err != nil {
		panic(err) // a constant tag name; cannot fail
	}
	if err := v.RegisterValidation("maxabs", func(fl validator.FieldLevel) bool {
		f := fl.Field()
		return f.CanFloat() && math.Abs(f.Float()) <= MaxAbs
	}); err != nil {
		panic(err)
	}
	return v
})

// Rule is a number's tag compiled to comparisons: a value passes when
// Lo ≤ v ≤ Hi (and is 0 or 1 for Binary). When the tag holds a rule the
// compiler does not know, Exact is false and validator judges every value.
type Rule struct {
	Lo, Hi float64
	Binary bool
	Exact  bool
	Tag    string // the tag validator checks
}

// Compile compiles tag, a number's rules.
func Compile(tag string) Rule {
	r := Rule{Lo: math.Inf(-1), Hi: math.Inf(1), Exact: true, Tag: tag}
	for _, t := range strings.Split(tag, ",") {
		name, param, _ := strings.Cut(t, "=")
		switch name {
		case "":
		case "binary":
			r.Binary = true
			r.Lo, r.Hi = max(r.Lo, 0), min(r.Hi, 1)
		case "maxabs":
			r.Lo, r.Hi = max(r.Lo, -MaxAbs), min(r.Hi, MaxAbs)
		case "gte", "lte":
			v, err := strconv.ParseFloat(param, 64)
			if err != nil {
				r.Exact = false
			} else if name == "gte" {
				r.Lo = max(r.Lo, v)
			} else {
				r.Hi = min(r.Hi, v)
			}
		default:
			r.Exact = false
		}
	}
	return r
}

// OK reports whether v passes without asking validator. NaN never does.
func (r *Rule) OK(v float64) bool {
	return v >= r.Lo && v <= r.Hi && (!r.Binary || v == 0 || v == 1) && r.Exact
}

// Check runs validator on value (a float64 or a string) with tag and
// returns the rule it breaks, its name and parameter; "" when it breaks
// none. A tag validator cannot run gives the name "validate" and the error
// as the parameter.
func Check(value any, tag string) (name, param string) {
	if tag == "" {
		return "", ""
	}
	err := theValidator().Var(value, tag)
	if err == nil {
		return "", ""
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) || len(verrs) == 0 {
		return "validate", err.Error()
	}
	return verrs[0].Tag(), verrs[0].Param()
}

// CheckTag runs validator on sample values with each alternative of each
// rule of tag alone, so that a tag validator does not know, or cannot apply
// to the values' type, is refused when a schema is read and never at the
// first row that reaches it. Alternatives are tried one by one because
// validator stops at the first that passes: "eq=1|len=abc" passes 1 without
// ever parsing "abc", and panics on 2.
func CheckTag(tag string, samples []any) error {
	if tag == "" {
		return nil
	}
	if strings.TrimSpace(tag) != tag || strings.Contains(tag, ",,") || strings.HasSuffix(tag, ",") || strings.HasPrefix(tag, ",") {
		return fmt.Errorf("%q: malformed tag (empty rule or spaces around it)", tag)
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
				if err := try(v, alt); err != nil {
					return fmt.Errorf("%q: validator refuses %q: %v", tag, alt, err)
				}
			}
		}
	}
	return nil
}

// try runs validator on v with one rule, turning its panic (an unknown
// tag, a parameter it cannot parse, a kind it does not take) into an error.
func try(v any, rule string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	verr := theValidator().Var(v, rule)
	var ve validator.ValidationErrors
	if verr != nil && !errors.As(verr, &ve) {
		return verr
	}
	return nil
}
