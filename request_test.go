package mlservice_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// TestDuplicateKeysRefused: encoding/json keeps the last of two values for
// a key; a request that says two things is refused, naming the key.
func TestDuplicateKeysRefused(t *testing.T) {
	row := `{"age":42,"income":52000,"account_balance":1,"transactions_last_30d":7,"is_premium":1`
	for _, tc := range []struct {
		name, body string
		batch      bool
		want       []mlservice.FieldProblem
	}{
		{"feature twice", row + `,"age":-5}`, false, []mlservice.FieldProblem{{Field: "age", Reason: "appears more than once"}}},
		{"unknown key twice", row + `,"id":1,"id":2}`, false, []mlservice.FieldProblem{{Field: "id", Reason: "appears more than once"}}},
		{"same key, escaped", row + `,"a\u0067e":3}`, false, []mlservice.FieldProblem{{Field: "age", Reason: "appears more than once"}}},
		{"colons in strings and nesting are not keys", `{"age":42,"income":52000,"account_balance":1,"transactions_last_30d":7,"is_premium":1,"note":"a:b\":c","x":{"age":1,"y":[{"age":2}]}}`, false, nil},
		{"instances twice", `{"instances":[` + row + `}],"instances":[]}`, true, []mlservice.FieldProblem{{Field: "instances", Reason: "appears more than once"}}},
		{"in row 1 of a batch", `{"instances":[` + row + `},` + row + `,"is_premium":0}]}`, true,
			[]mlservice.FieldProblem{{Row: 1, Field: "is_premium", Reason: "appears more than once"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.batch {
				_, err = mlservice.DecodeBatch([]byte(tc.body), 10)
			} else {
				_, err = mlservice.DecodeFeatures([]byte(tc.body))
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				return
			}
			var ie *mlservice.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v, want an *InputError", err)
			}
			if diff := cmp.Diff(tc.want, ie.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if status, _ := mlservice.HTTPStatus(err); status != http.StatusUnprocessableEntity {
				t.Errorf("HTTPStatus = %d, want 422", status)
			}
		})
	}
}

func TestCheckContentType(t *testing.T) {
	for ct, ok := range map[string]bool{
		"": true, "application/json": true, "application/json; charset=utf-8": true, "Application/JSON": true,
		"application/problem+json":          true,
		"application/x-www-form-urlencoded": false, "text/plain": false, "application/json; charset": false,
		"multipart/form-data; boundary=x": false,
		"application/json; charset=UTF-8": true, `application/json; charset="utf-8"`: true,
		"application/json; charset=iso-8859-1": false, "application/json; charset=utf-16": false,
	} {
		err := mlservice.CheckContentType(ct)
		if (err == nil) != ok || err != nil && !errors.Is(err, mlservice.ErrUnsupportedMediaType) {
			t.Errorf("CheckContentType(%q) = %v", ct, err)
		}
	}
}

func TestHTTPStatus(t *testing.T) {
	_, malformed := mlservice.DecodeFeatures([]byte(`{`))
	_, invalid := mlservice.DecodeFeatures([]byte(`{}`))
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{mlservice.CheckContentType("text/plain"), 415, "unsupported_media_type"},
		{fmt.Errorf("read body: %w", &http.MaxBytesError{Limit: 10}), 413, "body_too_large"},
		{malformed, 400, "malformed_json"},
		{invalid, 422, "invalid_features"},
		{mlservice.Features{Age: -1}.Check(), 422, "invalid_features"},
		{mlservice.ErrNotReady, 503, "not_ready"},
		{mlservice.ErrClosed, 503, "not_ready"},
		{mlservice.ErrCorruptVersion, 500, "internal"},
		{errors.New("disk on fire"), 500, "internal"},
	} {
		status, code := mlservice.HTTPStatus(tc.err)
		if status != tc.status || code != tc.code {
			t.Errorf("HTTPStatus(%v) = %d %s, want %d %s", tc.err, status, code, tc.status, tc.code)
		}
	}
}

func BenchmarkDecodeFeatures(b *testing.B) {
	body := []byte(`{"age":42,"income":52000,"account_balance":1800.5,"transactions_last_30d":12,"is_premium":1}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mlservice.DecodeFeatures(body); err != nil {
			b.Fatal(err)
		}
	}
}

// TestInputErrorNamesRows: a batch's problems say which row they are in.
func TestInputErrorNamesRows(t *testing.T) {
	_, err := mlservice.DecodeBatch([]byte(`{"instances":[{"age":1,"income":1,"account_balance":1,"transactions_last_30d":1,"is_premium":1},null,{}]}`), 10)
	msg := fmt.Sprint(err)
	for _, want := range []string{"row 1 instances: must be a JSON object", "row 2 age: required"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

// TestDuplicateKeyFloodIsCapped: a body of 100,000 repeats of one key lists
// the first MaxFieldProblems and counts the rest, under every decoder and
// for the batch's envelope and its rows alike.
func TestDuplicateKeyFloodIsCapped(t *testing.T) {
	const n = 100_000
	flood := "{" + strings.Repeat(`"age":1,`, n-1) + `"age":1}`
	tableSchema, err := mlservice.ParseSchema([]byte(`{"name":"t","version":"1","target":{"column":"y","positive":"1","negative":"0"},
		"features":[{"name":"age","type":"number"},{"name":"colour","type":"category","categories":["red"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	manyRows := `{"instances":[` + strings.Repeat(`{},`, 999) + `{}]}`
	for _, tc := range []struct {
		name  string
		body  string
		total int // problems found, listed or not
		run   func([]byte) error
	}{
		{"DecodeFeatures", flood, n - 1, func(b []byte) error { _, err := mlservice.DecodeFeatures(b); return err }},
		{"DecodeRow", flood, n - 1, func(b []byte) error { _, err := mlservice.DecodeRow(tableSchema, b); return err }},
		{"DecodeBatch envelope", `{"instances":[],` + flood[1:], n - 1, func(b []byte) error { _, err := mlservice.DecodeBatch(b, 0); return err }},
		{"DecodeBatch row", `{"instances":[` + flood + `]}`, n - 1, func(b []byte) error { _, err := mlservice.DecodeBatch(b, 0); return err }},
		{"DecodeRows row", `{"instances":[` + flood + `]}`, n - 1, func(b []byte) error { _, err := mlservice.DecodeRows(tableSchema, b, 0); return err }},
		{"DecodeBatch many bad rows", manyRows, 1000 * mlservice.NumFeatures, func(b []byte) error { _, err := mlservice.DecodeBatch(b, 0); return err }},
		{"DecodeRows many bad rows", manyRows, 1000 * 2, func(b []byte) error { _, err := mlservice.DecodeRows(tableSchema, b, 0); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ie *mlservice.InputError
			if err := tc.run([]byte(tc.body)); !errors.As(err, &ie) {
				t.Fatalf("error %v, want an *InputError", err)
			}
			if len(ie.Problems) != mlservice.MaxFieldProblems || ie.Omitted != tc.total-mlservice.MaxFieldProblems {
				t.Errorf("%d problems listed and %d omitted, want %d and %d", len(ie.Problems), ie.Omitted, mlservice.MaxFieldProblems, tc.total-mlservice.MaxFieldProblems)
			}
			if msg := ie.Error(); len(msg) > 20<<10 || !strings.Contains(msg, fmt.Sprintf("and %d more", ie.Omitted)) {
				t.Errorf("Error() has %d bytes and should end with the count of the rest: ...%s", len(msg), msg[max(0, len(msg)-100):])
			}
		})
	}
}

// TestCategoryTrimmedLikeCSV: a category value is trimmed, and a null
// token is missing, in a JSON request as in a CSV cell, so " red " is red
// and "NA" is refused in both, even where unknown values are ignored.
func TestCategoryTrimmedLikeCSV(t *testing.T) {
	s, err := mlservice.ParseSchema([]byte(`{"name":"t","version":"1","target":{"column":"y","positive":"1","negative":"0"},
		"features":[{"name":"age","type":"number"},{"name":"colour","type":"category","categories":["red","blue"],"unknown":"ignore"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := mlservice.DecodeRow(s, []byte(`{"age":1,"colour":" red\t"}`))
	if err != nil || !cmp.Equal(r.Categories, []string{"red"}) {
		t.Errorf(`DecodeRow " red\t" = %v, %v; want red`, r.Categories, err)
	}
	csvFile := "age,colour,y\n1, red ,0\n2,blue,1\n3,red,0\n4,blue,1\n"
	if _, err := mlservice.ValidateTable(context.Background(), strings.NewReader(csvFile), s); err != nil {
		t.Errorf("CSV with \" red \": %v", err)
	}
	for _, v := range []string{"NA", " null ", "   "} {
		_, jerr := mlservice.DecodeRow(s, []byte(`{"age":1,"colour":"`+v+`"}`))
		_, cerr := mlservice.ValidateTable(context.Background(), strings.NewReader("age,colour,y\n1,"+v+",0\n2,blue,1\n3,red,0\n4,blue,1\n"), s)
		var ie *mlservice.InputError
		if !errors.As(jerr, &ie) || ie.Problems[0].Field != "colour" || !strings.Contains(ie.Problems[0].Reason, "required") || !errors.Is(cerr, mlservice.ErrInvalidData) {
			t.Errorf("%q: JSON %v, CSV %v; want both refused as missing", v, jerr, cerr)
		}
	}
}

func TestCheckContentEncoding(t *testing.T) {
	for enc, ok := range map[string]bool{"": true, "identity": true, "Identity": true, "gzip": false, "br": false, "deflate": false, "gzip, identity": false} {
		err := mlservice.CheckContentEncoding(enc)
		if (err == nil) != ok || err != nil && (!errors.Is(err, mlservice.ErrUnsupportedMediaType) || !strings.Contains(err.Error(), enc)) {
			t.Errorf("CheckContentEncoding(%q) = %v", enc, err)
		}
	}
}

// TestByteOrderMarkAccepted: a body that starts with a UTF-8 byte order
// mark decodes as the same body without it.
func TestByteOrderMarkAccepted(t *testing.T) {
	const row = `{"age":42,"income":52000,"account_balance":1,"transactions_last_30d":7,"is_premium":1}`
	if _, err := mlservice.DecodeFeatures([]byte("\ufeff" + row)); err != nil {
		t.Errorf("DecodeFeatures: %v", err)
	}
	if _, err := mlservice.DecodeBatch([]byte("\ufeff"+`{"instances":[`+row+`]}`), 0); err != nil {
		t.Errorf("DecodeBatch: %v", err)
	}
	if _, err := mlservice.DecodeRow(mlservice.DefaultSchema(), []byte("\ufeff"+row)); err != nil {
		t.Errorf("DecodeRow: %v", err)
	}
	if _, err := mlservice.DecodeFeatures([]byte("\ufeff\ufeff" + row)); !errors.Is(err, mlservice.ErrMalformedRequest) {
		t.Errorf("two byte order marks: %v, want malformed", err)
	}
}

// FuzzPredictionJSON: AppendJSON writes what encoding/json writes for a
// Prediction, byte for byte, with a line end, whatever the probability and
// the version id.
func FuzzPredictionJSON(f *testing.F) {
	for _, p := range []float64{0, 1, 0.73, 0.7300000000000001, 1e-7, 5e-324, 1e-6, 0.999999999, 1.5e-10, 1e21, math.Inf(1)} {
		f.Add(p, 1, "20260101T000000.000000Z-0123abcd")
	}
	f.Add(0.5, 0, `a"b\<>&`+"\x01é")
	f.Fuzz(func(t *testing.T, prob float64, label int, id string) {
		p := mlservice.Prediction{Label: label, Probability: prob, ModelVersionID: id}
		want, err := json.Marshal(p)
		if err != nil {
			return // NaN or ±Inf: no JSON for them, and no model gives them
		}
		if got := p.AppendJSON(nil); string(got) != string(want)+"\n" {
			t.Fatalf("AppendJSON = %s, encoding/json %s", got, want)
		}
	})
}

// A valid request body, and the Features it holds.
const okFeatures = `{"age": 42, "income": 52000, "account_balance": -120.5, "transactions_last_30d": 7, "is_premium": 1}`

var okFeaturesValue = mlservice.Features{Age: 42, Income: 52000, AccountBalance: -120.5, TransactionsLast30d: 7, IsPremium: 1}

// wantFields is what an *InputError should list: the field names in order
// and, for each, a fragment of its reason; batch rows are written
// "instances[3].age".
type wantField struct{ field, reason string }

func checkInputError(t *testing.T, err error, want []wantField) {
	t.Helper()
	if !errors.Is(err, mlservice.ErrInvalidFeatures) {
		t.Errorf("errors.Is(%v, ErrInvalidFeatures) = false", err)
	}
	if errors.Is(err, mlservice.ErrMalformedRequest) {
		t.Errorf("errors.Is(%v, ErrMalformedRequest) = true for valid JSON", err)
	}
	var ierr *mlservice.InputError
	if !errors.As(err, &ierr) {
		t.Fatalf("error %T (%v) is not an *InputError", err, err)
	}
	var gotFields, wantFields []string
	for _, p := range ierr.Problems {
		if strings.Contains(want[0].field, "[") {
			gotFields = append(gotFields, fmt.Sprintf("instances[%d].%s", p.Row, p.Field))
			continue
		}
		gotFields = append(gotFields, p.Field)
	}
	for _, w := range want {
		wantFields = append(wantFields, w.field)
	}
	if diff := cmp.Diff(wantFields, gotFields); diff != "" {
		t.Fatalf("fields (-want +got):\n%s\nerror: %v", diff, err)
	}
	for i, w := range want {
		if !strings.Contains(ierr.Problems[i].Reason, w.reason) {
			t.Errorf("%s: reason %q, want it to mention %q", w.field, ierr.Problems[i].Reason, w.reason)
		}
	}
}

func TestDecodeFeatures(t *testing.T) {
	valid := []struct {
		name, body string
		want       mlservice.Features
	}{
		{"plain", okFeatures, okFeaturesValue},
		{"unknown fields ignored", `{"id":"x","age":42,"income":52000,"account_balance":-120.5,"transactions_last_30d":7,"is_premium":1,"extra":[1,2]}`, okFeaturesValue},
		{"reordered, exponents, whitespace", "\n{ \"is_premium\" : 0, \"transactions_last_30d\": 0e0, \"account_balance\": -1.5E3,\t\"income\": 0, \"age\": 18.5 }\n",
			mlservice.Features{Age: 18.5, AccountBalance: -1500}},
		{"boundaries", `{"age":1e15,"income":-1e15,"account_balance":1e15,"transactions_last_30d":1e15,"is_premium":0}`,
			mlservice.Features{Age: mlservice.MaxAbsValue, Income: -mlservice.MaxAbsValue, AccountBalance: mlservice.MaxAbsValue, TransactionsLast30d: mlservice.MaxAbsValue}},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mlservice.DecodeFeatures([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("DecodeFeatures = %+v, want %+v", got, tc.want)
			}
		})
	}

	for _, body := range []string{``, ` `, `{`, `{"age":}`, `{"age":1,}`, `{"age":NaN}`, `{"age":Infinity}`, `{'age':1}`, `{"age":1}}`, `nul`, "{\"age\":1}\x00"} {
		t.Run(fmt.Sprintf("malformed %q", body), func(t *testing.T) {
			f, err := mlservice.DecodeFeatures([]byte(body))
			if !errors.Is(err, mlservice.ErrMalformedRequest) {
				t.Fatalf("DecodeFeatures = %+v, %v; want ErrMalformedRequest", f, err)
			}
			if errors.Is(err, mlservice.ErrInvalidFeatures) {
				t.Errorf("malformed JSON also matches ErrInvalidFeatures")
			}
			if f != (mlservice.Features{}) {
				t.Errorf("DecodeFeatures returned %+v with its error", f)
			}
		})
	}

	invalid := []struct {
		name, body string
		want       []wantField
	}{
		{"array", `[]`, []wantField{{"body", "object"}}},
		{"array of the object", "[" + okFeatures + "]", []wantField{{"body", "object"}}},
		{"null", `null`, []wantField{{"body", "object"}}},
		{"string", `"age"`, []wantField{{"body", "object"}}},
		{"number", `42`, []wantField{{"body", "object"}}},
		{"empty object", `{}`, []wantField{
			{"age", "required"}, {"income", "required"}, {"account_balance", "required"},
			{"transactions_last_30d", "required"}, {"is_premium", "required"}}},
		{"one missing", `{"age":42,"income":52000,"transactions_last_30d":7,"is_premium":1}`, []wantField{{"account_balance", "required"}}},
		{"nulls", `{"age":null,"income":52000,"account_balance":null,"transactions_last_30d":7,"is_premium":1}`,
			[]wantField{{"age", "required"}, {"account_balance", "required"}}},
		{"wrong types", `{"age":"42","income":true,"account_balance":[1],"transactions_last_30d":{},"is_premium":"1"}`, []wantField{
			{"age", "must be a number"}, {"income", "must be a number"}, {"account_balance", "must be a number"},
			{"transactions_last_30d", "must be a number"}, {"is_premium", "must be a number"}}},
		{"out of range", `{"age":1e400,"income":-1e400,"account_balance":0,"transactions_last_30d":7,"is_premium":1}`,
			[]wantField{{"age", "out of range"}, {"income", "out of range"}}},
		{"finite but too large", `{"age":1e200,"income":-1e200,"account_balance":1.0000000000000002e15,"transactions_last_30d":1e16,"is_premium":0}`,
			[]wantField{{"age", "magnitude"}, {"income", "magnitude"}, {"account_balance", "magnitude"}, {"transactions_last_30d", "magnitude"}}},
		{"out of domain", `{"age":-1,"income":0,"account_balance":0,"transactions_last_30d":-0.5,"is_premium":2}`,
			[]wantField{{"age", ">= 0"}, {"transactions_last_30d", ">= 0"}, {"is_premium", "0 or 1"}}},
		{"is_premium 0.5", `{"age":1,"income":0,"account_balance":0,"transactions_last_30d":0,"is_premium":0.5}`,
			[]wantField{{"is_premium", "0 or 1"}}},
		{"every kind at once, in feature order", `{"is_premium":-1,"transactions_last_30d":"x","account_balance":null,"age":-3}`, []wantField{
			{"age", ">= 0"}, {"income", "required"}, {"account_balance", "required"},
			{"transactions_last_30d", "must be a number"}, {"is_premium", "0 or 1"}}},
		{"names are case-sensitive", `{"Age":42,"income":52000,"account_balance":-120.5,"transactions_last_30d":7,"is_premium":1}`,
			[]wantField{{"age", "required"}}},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			f, err := mlservice.DecodeFeatures([]byte(tc.body))
			if f != (mlservice.Features{}) {
				t.Errorf("DecodeFeatures returned %+v with its error", f)
			}
			checkInputError(t, err, tc.want)
		})
	}
}

func TestDecodeBatch(t *testing.T) {
	batch := func(items ...string) string { return `{"instances":[` + strings.Join(items, ",") + `]}` }
	zero := `{"age":0,"income":0,"account_balance":0,"transactions_last_30d":0,"is_premium":0}`

	t.Run("valid", func(t *testing.T) {
		got, err := mlservice.DecodeBatch([]byte(batch(okFeatures, zero, okFeatures)), 3)
		if err != nil {
			t.Fatal(err)
		}
		want := []mlservice.Features{okFeaturesValue, {}, okFeaturesValue}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("DecodeBatch (-want +got):\n%s", diff)
		}
	})
	t.Run("no limit", func(t *testing.T) {
		items := make([]string, 1000)
		for i := range items {
			items[i] = zero
		}
		for _, limit := range []int{0, -1} {
			got, err := mlservice.DecodeBatch([]byte(batch(items...)), limit)
			if err != nil || len(got) != 1000 {
				t.Errorf("DecodeBatch(limit %d) = %d rows, %v; want 1000 rows", limit, len(got), err)
			}
		}
	})
	t.Run("malformed", func(t *testing.T) {
		for _, body := range []string{``, `{"instances":[`, `{"instances":[{"age":1,}]}`} {
			got, err := mlservice.DecodeBatch([]byte(body), 10)
			if !errors.Is(err, mlservice.ErrMalformedRequest) || got != nil {
				t.Errorf("DecodeBatch(%q) = %v, %v; want ErrMalformedRequest", body, got, err)
			}
		}
	})

	tests := []struct {
		name, body string
		limit      int
		want       []wantField
	}{
		{"array body", `[` + okFeatures + `]`, 10, []wantField{{"body", "object"}}},
		{"null body", `null`, 10, []wantField{{"body", "object"}}},
		{"string body", `"instances"`, 10, []wantField{{"body", "object"}}},
		{"no instances", `{"rows":[]}`, 10, []wantField{{"instances", "required"}}},
		{"null instances", `{"instances":null}`, 10, []wantField{{"instances", "required"}}},
		{"instances not an array", `{"instances":` + okFeatures + `}`, 10, []wantField{{"instances", "array"}}},
		{"empty batch", `{"instances":[]}`, 10, []wantField{{"instances", "empty"}}},
		{"over the limit", batch(zero, zero, zero), 2, []wantField{{"instances", "limit is 2"}}},
		{"bad rows named by index", batch(okFeatures, `{"age":-1,"income":0,"account_balance":"x","transactions_last_30d":0,"is_premium":0}`, zero, `{}`, `null`, `[1]`), 10,
			[]wantField{
				{"instances[1].age", ">= 0"}, {"instances[1].account_balance", "must be a number"},
				{"instances[3].age", "required"}, {"instances[3].income", "required"}, {"instances[3].account_balance", "required"},
				{"instances[3].transactions_last_30d", "required"}, {"instances[3].is_premium", "required"},
				{"instances[4].instances", "object"}, {"instances[5].instances", "object"},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mlservice.DecodeBatch([]byte(tc.body), tc.limit)
			if got != nil {
				t.Errorf("DecodeBatch returned %d rows with its error", len(got))
			}
			checkInputError(t, err, tc.want)
		})
	}
}

// Features.Check applies the same bound as CSV validation, and names the
// first bad feature in FeatureNames order.
func TestFeaturesCheckMagnitude(t *testing.T) {
	ok := mlservice.Features{Age: mlservice.MaxAbsValue, Income: -mlservice.MaxAbsValue, AccountBalance: mlservice.MaxAbsValue, TransactionsLast30d: mlservice.MaxAbsValue, IsPremium: 1}
	if err := ok.Check(); err != nil {
		t.Errorf("±MaxAbsValue: %v", err)
	}
	for j, name := range mlservice.FeatureNames[:4] {
		v := ok.Vector()
		v[j] = 1e200
		v[3-j] = 2e200 // a later (or the same) feature is bad too: the first is named
		f := mlservice.Features{Age: v[0], Income: v[1], AccountBalance: v[2], TransactionsLast30d: v[3], IsPremium: v[4]}
		var ierr *mlservice.InputError
		err := f.Check()
		if !errors.As(err, &ierr) || !errors.Is(err, mlservice.ErrInvalidFeatures) || len(ierr.Problems) != 1 {
			t.Fatalf("%s=1e200: Check = %v, want an *InputError with one problem", name, err)
		}
		first := mlservice.FeatureNames[min(j, 3-j)]
		if p := ierr.Problems[0]; p.Field != first || !strings.Contains(p.Reason, "magnitude") {
			t.Errorf("%s=1e200: %v; want feature %s, a magnitude reason", name, err, first)
		}
	}
}

// TestHotPathsDoNotAllocate: decoding a request body and predicting a row
// through the model interface cost no allocation (issue #16: at most two
// for the decoder).
func TestHotPathsDoNotAllocate(t *testing.T) {
	body := []byte(okFeatures)
	if n := testing.AllocsPerRun(200, func() { _, _ = mlservice.DecodeFeatures(body) }); n != 0 {
		t.Errorf("DecodeFeatures: %v allocations", n)
	}
	dir := t.TempDir()
	mlkit.Promote(t, dir, 0.5)
	s := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
	f := okFeaturesValue
	for name, run := range map[string]func(){
		"Predict":     func() { _, _ = s.Predict(f) },
		"PredictJSON": func() { _, _ = s.PredictJSON(body) },
	} {
		if n := testing.AllocsPerRun(200, run); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
	}
}
