package mlservice

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/internal/csvsplit"
	"github.com/mlservice/mlservice/internal/rules"
)

const fuzzHeader = "age,income,account_balance,transactions_last_30d,is_premium,target\n"

// FuzzValidate feeds Validate arbitrary bytes. It must not panic; a success
// must satisfy every rule of the data contract and hold exactly the values
// encoding/csv and strconv read from the input; a failure must be a
// well-formed *ValidationError (a bytes.Reader has no I/O errors to report).
// testdata/fuzz/FuzzValidate holds a seed for each bad-input class.
func FuzzValidate(f *testing.F) {
	rows := "30,52000.5,-120.25,7,1,1\n41,48000,300,0,0,0\n25,39000.75,0,12,0,1\n63,81000,15000.5,3,1,0\n"
	for _, s := range []string{
		fuzzHeader + rows,
		"\ufeff" + strings.ReplaceAll(fuzzHeader+rows, "\n", "\r\n"),
		"target,age,x,income,account_balance,transactions_last_30d,is_premium\n1,2,\"a\nb\",3,4,5,0\n0,2,,3,4,5,1\n1,2,,3,4,5,0\n0,2,,3,4,5,1\n",
		fuzzHeader + rows + "-1,NA,0x10,1e400,2,0.5\n",
		fuzzHeader + rows + "1,2,3\n",
		fuzzHeader + rows + "1e15,-1e15,1e200,1000000000000001,0,1\n",
		fuzzHeader + rows + "1,\"2,3,4,0,0\n",
		"", "   ", "\n\n", fuzzHeader, "age,income\n1,2\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := Validate(context.Background(), bytes.NewReader(data))
		if err != nil {
			if ds != nil {
				t.Fatalf("Validate returned a Dataset and %v", err)
			}
			checkValidationError(t, data, err)
			return
		}
		checkAccepted(t, data, ds)
	})
}

func checkValidationError(t *testing.T, data []byte, err error) {
	t.Helper()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error %T (%v) is not a *ValidationError", err, err)
	}
	if !errors.Is(err, ErrInvalidData) {
		t.Fatalf("%v does not match ErrInvalidData", err)
	}
	n := len(verr.Problems)
	if n < 1 || n > MaxProblems || n > verr.Total || n != min(verr.Total, MaxProblems) {
		t.Fatalf("%d problems listed of %d (MaxProblems %d)", n, verr.Total, MaxProblems)
	}
	lines := bytes.Count(data, []byte{'\n'}) + 1
	contract := append(FeatureNames[:], TargetColumn)
	for i, p := range verr.Problems {
		if p.Rule == "" || p.Reason == "" {
			t.Fatalf("problem %+v has no rule or reason", p)
		}
		if p.Line < 0 || p.Line > lines {
			t.Fatalf("problem %+v: line outside the input's %d lines", p, lines)
		}
		if i > 0 && p.Line < verr.Problems[i-1].Line {
			t.Fatalf("problems out of line order: %+v after %+v", p, verr.Problems[i-1])
		}
		switch p.Rule {
		case "required", "number", "gte=0", "maxabs", "binary", "missing column", "classes":
			if !slices.Contains(contract, p.Column) {
				t.Fatalf("problem %+v names no contract column", p)
			}
		}
		switch p.Rule {
		case "required", "number", "gte=0", "maxabs", "binary":
			if p.Line < 2 {
				t.Fatalf("row problem %+v before the first data line", p)
			}
		case "csv":
			if p.Line < 1 {
				t.Fatalf("CSV problem %+v without a line", p)
			}
		}
	}
}

// checkAccepted checks a Dataset that Validate accepted against the contract
// and against an independent reading of the same bytes: encoding/csv in one
// pass, each cell classified by referenceCell.
func checkAccepted(t *testing.T, data []byte, ds *Dataset) {
	t.Helper()
	n := len(ds.Y)
	if n == 0 {
		t.Fatal("empty Dataset accepted")
	}
	for j, col := range ds.X {
		if len(col) != n {
			t.Fatalf("column %d has %d values, target %d", j, len(col), n)
		}
		for i, v := range col {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("row %d %s = %v", i, FeatureNames[j], v)
			}
		}
	}
	for i := range n {
		f := ds.Row(i)
		if err := f.Check(); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if y := ds.Y[i]; y > 1 {
			t.Fatalf("row %d target %d", i, y)
		}
	}
	counts := ds.ClassCounts()
	if counts[0] < MinRowsPerClass || counts[1] < MinRowsPerClass {
		t.Fatalf("class counts %v accepted", counts)
	}
	sum := sha256.Sum256(data)
	if ds.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("SHA256 %s, want %x", ds.SHA256, sum)
	}

	// encoding/csv in one pass must read the same rows and values.
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	records, err := r.ReadAll()
	if err != nil {
		t.Fatalf("Validate accepted what encoding/csv rejects: %v", err)
	}
	if len(records)-1 != n {
		t.Fatalf("Validate read %d rows, encoding/csv %d", n, len(records)-1)
	}
	index := map[string]int{}
	for i, h := range records[0] {
		if _, dup := index[strings.TrimSpace(h)]; !dup {
			index[strings.TrimSpace(h)] = i
		}
	}
	for i, rec := range records[1:] {
		for j, name := range append(FeatureNames[:], TargetColumn) {
			k, ok := index[name]
			if !ok {
				t.Fatalf("accepted without column %s", name)
			}
			kind, want := referenceCell(rec[k])
			if kind != csvsplit.Number {
				t.Fatalf("row %d %s: accepted %q, which is not a plain decimal number", i, name, rec[k])
			}
			var got float64
			if j < NumFeatures {
				got = ds.X[j][i]
			} else {
				got = float64(ds.Y[i])
			}
			if got != want {
				t.Fatalf("row %d %s = %v, strconv reads %q as %v", i, name, got, rec[k], want)
			}
		}
	}
}

// referenceCell classifies a CSV cell the slow obvious way: after trimming
// spaces, a null spelling (or a decimal that overflows float64) is a null;
// plain decimal notation that strconv parses is a number; anything else
// (hex, underscores, words, …) is text. (internal/csvsplit's
// FuzzParseDecimal holds ParseCell to the same rules.)
func referenceCell(s string) (csvsplit.Kind, float64) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "", "na", "n/a", "nan", "-nan", "+nan", "null", "none", "nil",
		"inf", "-inf", "+inf", "infinity", "-infinity", "+infinity":
		return csvsplit.Null, 0
	}
	if strings.Trim(t, "0123456789.+-eE") != "" {
		return csvsplit.Text, 0
	}
	v, err := strconv.ParseFloat(t, 64)
	switch {
	case err == nil:
		return csvsplit.Number, v
	case errors.Is(err, strconv.ErrRange) && math.IsInf(v, 0):
		return csvsplit.Null, 0
	}
	return csvsplit.Text, 0
}

// FuzzValueRuleAgreesWithValidator checks, value by value, that the
// comparisons each default-schema column's rule tag compiles to pass exactly
// the numbers validator/v10 passes under the same tag, and that both follow
// the contract as DefaultSchema documents it.
func FuzzValueRuleAgreesWithValidator(f *testing.F) {
	f.Add(30.0, 52000.5, -120.25, 7.0, 1.0)
	f.Add(-1.0, 0.0, 0.0, -0.0, 2.0)
	f.Add(math.NaN(), math.Inf(1), math.Inf(-1), math.Inf(1), -0.0)
	f.Add(0.0, 0.0, 0.0, -1e-300, 1.0000000000000002)
	f.Add(1e15, -1e15, 1e200, 1.0000000000000002e15, 0.9999999999999999)
	cols := defaultColumns()
	f.Fuzz(func(t *testing.T, v0, v1, v2, v3, v4 float64) {
		row := []float64{v0, v1, v2, v3, v4}
		allOK := true
		for j, v := range row {
			col := &cols.cols[j]
			fast := col.rule.OK(v)
			allOK = allOK && fast
			name, _ := rules.Check(v, col.rule.Tag)
			byValidator := name == "" && !math.IsNaN(v) && !math.IsInf(v, 0)
			if fast != byValidator {
				t.Errorf("%s = %v: the compiled rule says %v, validator says %v", col.spec.Name, v, fast, byValidator)
			}
			if spec := contractAllows(col.spec.Name, v); spec != fast {
				t.Errorf("%s = %v: the compiled rule says %v, the contract says %v", col.spec.Name, v, fast, spec)
			}
		}
		if got := cols.check(row) < 0; got != allOK {
			t.Errorf("check(%v) passes %v, the rules say %v", row, got, allOK)
		}
	})
}

// contractAllows is the data contract for one value, as DefaultSchema
// documents it.
func contractAllows(column string, v float64) bool {
	switch column {
	case "age", "transactions_last_30d":
		return v >= 0 && v <= MaxAbsValue
	case "is_premium", "target":
		return v == 0 || v == 1
	case "income", "account_balance":
		return -MaxAbsValue <= v && v <= MaxAbsValue
	}
	panic("unknown column " + column)
}

// FuzzDecodeFeatures feeds DecodeFeatures arbitrary bytes, and an object of
// five arbitrary finite numbers: the decoder and Features.Check must accept
// exactly the same rows.
func FuzzDecodeFeatures(f *testing.F) {
	f.Add([]byte(`{"age":42,"income":52000,"account_balance":-120.5,"transactions_last_30d":7,"is_premium":1}`), 42.0, 52000.0, -120.5, 7.0, 1.0)
	f.Add([]byte(`{"age":-1,"income":null,"account_balance":"x","transactions_last_30d":1e400,"is_premium":0.5}`), -1.0, 0.0, 0.0, -0.0, 0.5)
	f.Add([]byte(`[]`), 0.0, 0.0, 0.0, 0.0, 2.0)
	f.Add([]byte(`null`), -0.0, -1e308, 1e308, 5e-324, -0.0)
	f.Add([]byte(`{"age":`), 1.0, 1.0, 1.0, -5e-324, 1.0)
	f.Add([]byte(`{"is_premium":"1","age":true}`), 18.0, 0.1, 0.2, 0.3, 0.9999999999999999)
	f.Fuzz(func(t *testing.T, data []byte, age, income, balance, tx, premium float64) {
		got, err := DecodeFeatures(data)
		switch {
		case err == nil:
			if cerr := got.Check(); cerr != nil {
				t.Fatalf("DecodeFeatures(%q) = %+v, which Check rejects: %v", data, got, cerr)
			}
		case errors.Is(err, ErrMalformedRequest):
			if json.Valid(data) {
				t.Fatalf("DecodeFeatures(%q): malformed, but the JSON is valid", data)
			}
		default:
			var ierr *InputError
			if !errors.As(err, &ierr) || len(ierr.Problems) == 0 || !errors.Is(err, ErrInvalidFeatures) {
				t.Fatalf("DecodeFeatures(%q) = %v (%T), want an *InputError with problems", data, err, err)
			}
			if !json.Valid(data) {
				t.Fatalf("DecodeFeatures(%q): invalid JSON not reported as malformed", data)
			}
			for _, p := range ierr.Problems {
				dup := p.Reason == "appears more than once"
				if !dup && p.Field != "body" && !slices.Contains(FeatureNames[:], p.Field) || p.Reason == "" {
					t.Fatalf("problem %+v", p)
				}
			}
		}
		if err != nil && got != (Features{}) {
			t.Fatalf("DecodeFeatures returned %+v with %v", got, err)
		}

		want := Features{Age: age, Income: income, AccountBalance: balance, TransactionsLast30d: tx, IsPremium: premium}
		body, merr := json.Marshal(want)
		if merr != nil {
			if want.Check() == nil {
				t.Fatalf("Check accepts %+v, which JSON cannot carry", want)
			}
			return // NaN or ±Inf: not expressible in JSON
		}
		got, err = DecodeFeatures(body)
		if cerr := want.Check(); (err == nil) != (cerr == nil) {
			t.Fatalf("%s: DecodeFeatures error %v, Check error %v", body, err, cerr)
		}
		if err == nil && got.Vector() != want.Vector() {
			t.Fatalf("%s: decoded %+v", body, got)
		}
		if err != nil {
			var ierr, cerr *InputError
			if !errors.As(err, &ierr) || !errors.As(want.Check(), &cerr) || ierr.Problems[0].Field != cerr.Problems[0].Field {
				t.Fatalf("%s: DecodeFeatures %v, Check %v: the first bad field differs", body, err, want.Check())
			}
		}
	})
}
