package mlservice

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"
	"github.com/gocarina/gocsv"
)

// contract is the compiled form of record: the validator, and the fast check
// each field's tag compiles to.
type contract struct {
	validate *validator.Validate
	fields   []contractField // in record field order
}

type contractField struct {
	column string
	fast   fastRule
}

// fastRule is a validate tag compiled to plain comparisons. validator/v10
// stays the authority: a row that fails a fast rule is validated again by
// validator, and its verdict and error are the ones used. A tag the compiler
// does not know turns the fast rule off (exact=false), so such a field sends
// every row to validator. FuzzFastRuleAgreesWithValidator keeps the two in step.
type fastRule struct {
	exact              bool
	lower, upper       float64
	hasLower, hasUpper bool
	binary, maxAbs     bool
}

func (r fastRule) ok(c *cell) bool {
	if !r.exact || c.kind() != cellNumber {
		return false
	}
	v := c.value()
	return (!r.hasLower || v >= r.lower) && (!r.hasUpper || v <= r.upper) &&
		(!r.binary || v == 0 || v == 1) && (!r.maxAbs || math.Abs(v) <= MaxAbsValue)
}

var theContract = sync.OnceValue(func() *contract {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterCustomTypeFunc(validatorValue, cell(0))
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		if name := f.Tag.Get("csv"); name != "" {
			return name
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		return name
	})
	if err := v.RegisterValidation("binary", func(fl validator.FieldLevel) bool {
		f := fl.Field()
		if !f.CanFloat() {
			return false
		}
		return f.Float() == 0 || f.Float() == 1
	}); err != nil {
		panic(err) // a constant tag name; cannot fail
	}
	if err := v.RegisterValidation("maxabs", func(fl validator.FieldLevel) bool {
		f := fl.Field()
		return f.CanFloat() && math.Abs(f.Float()) <= MaxAbsValue
	}); err != nil {
		panic(err)
	}
	c := &contract{validate: v}
	t := reflect.TypeFor[record]()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("csv")
		c.fields = append(c.fields, contractField{column: name, fast: compileRule(f.Tag.Get("validate"))})
	}
	return c
})

func compileRule(tag string) fastRule {
	r := fastRule{exact: true}
	for _, t := range strings.Split(tag, ",") {
		name, param, _ := strings.Cut(t, "=")
		switch name {
		case "required", "number":
			// implied: a fast rule passes numbers only
		case "binary":
			r.binary = true
		case "maxabs":
			r.maxAbs = true
		case "gte", "lte":
			v, err := strconv.ParseFloat(param, 64)
			if err != nil {
				return fastRule{}
			}
			if name == "gte" {
				r.lower, r.hasLower = v, true
			} else {
				r.upper, r.hasUpper = v, true
			}
		default:
			return fastRule{}
		}
	}
	return r
}

func (c *contract) quickCheck(rec *record) bool {
	for i, cl := range rec.cells() {
		if !c.fields[i].fast.ok(cl) {
			return false
		}
	}
	return true
}

// check runs validator on a record and turns its verdict into problems.
// raw is the record's text, parsed again here (bad rows only) to quote the
// offending values; column maps a column name to its header position.
func (c *contract) check(rec *record, line int, raw []byte, column map[string]int) []Problem {
	err := c.validate.Struct(rec)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return []Problem{{Line: line, Rule: "validate", Reason: err.Error()}}
	}
	fields, _ := csv.NewReader(bytes.NewReader(raw)).Read()
	probs := make([]Problem, 0, len(verrs))
	for _, fe := range verrs {
		col := fe.Field()
		p := Problem{Line: line, Column: col, Rule: fe.Tag(), Reason: ruleReason(fe.Tag(), fe.Param())}
		if fe.Param() != "" {
			p.Rule += "=" + fe.Param()
		}
		if i, ok := column[col]; ok && i < len(fields) {
			p.Value = fields[i]
		}
		probs = append(probs, p)
	}
	return probs
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

// checkHeader reports missing contract columns (all of them) and duplicated
// column names.
func (c *contract) checkHeader(hdr *headerInfo) []Problem {
	var probs []Problem
	seen := map[string]bool{}
	for _, h := range hdr.fields {
		if seen[h] {
			probs = append(probs, Problem{Line: 1, Column: h, Rule: "duplicate column", Reason: "the column name appears more than once in the header"})
		}
		seen[h] = true
	}
	// gocsv reads the header the way it will map rows, so ask it which
	// contract columns it cannot find.
	um, err := gocsv.NewUnmarshaller(csv.NewReader(bytes.NewReader(hdr.csv)), &record{})
	if err != nil {
		return append(probs, Problem{Line: 1, Rule: "header", Reason: err.Error()})
	}
	for _, missing := range um.MismatchedStructFields {
		probs = append(probs, Problem{Line: 1, Column: missing, Rule: "missing column", Reason: "required column is not in the header"})
	}
	return probs
}
