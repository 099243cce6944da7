package mlservice_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

const customSchema = `{
  "name": "customers", "version": "1",
  "target": {"column": "churned", "positive": "yes", "negative": "no"},
  "features": [
    {"name": "age", "type": "number", "rules": "gte=0,lte=130"},
    {"name": "premium", "type": "binary"},
    {"name": "plan", "type": "category", "categories": ["basic", "plus", "pro"]},
    {"name": "region", "type": "category", "unknown": "ignore", "rules": "alpha,max=10"}
  ]
}`

func mustSchema(t testing.TB, js string) *mlservice.Schema {
	t.Helper()
	s, err := mlservice.ParseSchema([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const customGood = "age,premium,plan,region,churned,extra\n" +
	"30,1,basic,north,yes,x\n" +
	"41,0,pro,south,no,x\n" +
	"52,0,plus,south,yes,x\n" +
	"23,1,basic,east,no,x\n"

func TestValidateTable(t *testing.T) {
	s := mustSchema(t, customSchema)
	ds, err := mlservice.ValidateTable(context.Background(), strings.NewReader(customGood), s)
	if err != nil {
		t.Fatal(err)
	}
	// One column per feature: age, premium, then the codes of plan
	// (declared) and region (learned and sorted: east, north, south).
	if diff := cmp.Diff([][]float64{{30, 41, 52, 23}, {1, 0, 0, 1}}, ds.X[:2]); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff([][]float64{{0, 2, 1, 0}, {1, 2, 2, 0}}, ds.X[2:]); diff != "" {
		t.Error(diff)
	}
	if got := ds.Schema.Features[3].Categories; !cmp.Equal(got, []string{"east", "north", "south"}) {
		t.Errorf("learned %q", got)
	}
	if !cmp.Equal(ds.Y, []uint8{1, 0, 1, 0}) {
		t.Errorf("labels %v", ds.Y)
	}
	if s.Features[3].Categories != nil {
		t.Error("ValidateTable changed the caller's schema")
	}
}

// TestValidateTableRefuses: every bad row under a custom schema is named
// with its line, column, value and rule.
func TestValidateTableRefuses(t *testing.T) {
	s := mustSchema(t, customSchema)
	const header = "age,premium,plan,region,churned\n"
	good := "30,1,basic,north,yes\n41,0,pro,south,no\n52,0,plus,south,yes\n23,1,basic,east,no\n"
	cases := []struct {
		name, csv string
		want      mlservice.Problem
	}{
		{"missing columns", "age,plan,churned\n1,basic,yes\n", mlservice.Problem{Line: 1, Column: "premium", Rule: "missing column"}},
		{"missing target", "age,premium,plan,region\n1,1,basic,x\n", mlservice.Problem{Line: 1, Column: "churned", Rule: "missing column"}},
		{"duplicate column", "age,age,premium,plan,region,churned\n", mlservice.Problem{Line: 1, Column: "age", Rule: "duplicate column"}},
		{"null number", header + good + "NA,1,basic,x,yes\n", mlservice.Problem{Line: 6, Column: "age", Value: "NA", Rule: "required"}},
		{"text number", header + good + "old,1,basic,x,yes\n", mlservice.Problem{Line: 6, Column: "age", Value: "old", Rule: "number"}},
		{"rule lte", header + good + "131,1,basic,x,yes\n", mlservice.Problem{Line: 6, Column: "age", Value: "131", Rule: "lte=130"}},
		{"rule gte", header + "-1,1,basic,x,yes\n" + good, mlservice.Problem{Line: 2, Column: "age", Value: "-1", Rule: "gte=0"}},
		{"magnitude", header + good + "1e16,1,basic,x,yes\n", mlservice.Problem{Line: 6, Column: "age", Value: "1e16", Rule: "lte=130"}},
		{"binary", header + good + "3,2,basic,x,yes\n", mlservice.Problem{Line: 6, Column: "premium", Value: "2", Rule: "binary"}},
		{"unknown category", header + good + "3,1,gold,x,yes\n", mlservice.Problem{Line: 6, Column: "plan", Value: "gold", Rule: "category"}},
		{"null category", header + good + "3,1,,x,yes\n", mlservice.Problem{Line: 6, Column: "plan", Rule: "required"}},
		{"category rule", header + good + "3,1,pro,x9,yes\n", mlservice.Problem{Line: 6, Column: "region", Value: "x9", Rule: "alpha"}},
		{"category rule max", header + good + "3,1,pro,abcdefghijk,yes\n", mlservice.Problem{Line: 6, Column: "region", Value: "abcdefghijk", Rule: "max=10"}},
		{"bad label", header + good + "3,1,pro,x,maybe\n", mlservice.Problem{Line: 6, Column: "churned", Value: "maybe", Rule: "label"}},
		{"null label", header + good + "3,1,pro,x,\n", mlservice.Problem{Line: 6, Column: "churned", Rule: "required"}},
		{"field count", header + good + "3,1,pro\n", mlservice.Problem{Line: 6, Rule: "csv"}},
		{"one class", header + "30,1,basic,north,yes\n41,0,pro,south,yes\n", mlservice.Problem{Column: "churned", Rule: "classes"}},
		{"empty", "", mlservice.Problem{Rule: "header"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mlservice.ValidateTable(context.Background(), strings.NewReader(tc.csv), s)
			var verr *mlservice.ValidationError
			if !errors.As(err, &verr) || !errors.Is(err, mlservice.ErrInvalidData) {
				t.Fatalf("err %v, want a *ValidationError", err)
			}
			p := verr.Problems[0]
			got := mlservice.Problem{Line: p.Line, Column: p.Column, Value: p.Value, Rule: p.Rule}
			if diff := cmp.Diff(tc.want, got); diff != "" || p.Reason == "" {
				t.Errorf("first problem %v (-want +got):\n%s", p, diff)
			}
		})
	}
}

func TestValidateTableCategoryCap(t *testing.T) {
	s := mustSchema(t, `{"name":"t","version":"1","target":{"column":"y","positive":"1","negative":"0"},
		"features":[{"name":"id","type":"category"}]}`)
	var b strings.Builder
	b.WriteString("id,y\n")
	for i := range mlservice.MaxCategories + 5 {
		b.WriteString("v" + itoa(i) + "," + itoa(i%2) + "\n")
	}
	_, err := mlservice.ValidateTable(context.Background(), strings.NewReader(b.String()), s)
	var verr *mlservice.ValidationError
	if !errors.As(err, &verr) || verr.Problems[0].Rule != "categories" || verr.Problems[0].Line != mlservice.MaxCategories+2 {
		t.Fatalf("err %v", err)
	}
}

func TestValidateTableDefaultIsValidate(t *testing.T) {
	data := "age,income,account_balance,transactions_last_30d,is_premium,target\n1,2,3,4,1,0\n1,2,3,4,0,1\n2,2,3,4,1,0\n2,2,3,4,0,1\n"
	a, err := mlservice.ValidateTable(context.Background(), strings.NewReader(data), mlservice.DefaultSchema())
	if err != nil {
		t.Fatal(err)
	}
	b, err := mlservice.Validate(context.Background(), strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" || a.Schema != nil {
		t.Error(diff)
	}
}

// FuzzValidateTable: the schema-driven CSV decoder never panics, and what
// it accepts is a consistent dataset under a resolved schema. Under the
// schema with age and plan "missing": true it accepts what it accepted
// before, the same, and NaN only in those two columns.
func FuzzValidateTable(f *testing.F) {
	s := mustSchema(f, customSchema)
	sm := mustSchema(f, customSchema)
	sm.Features[0].Missing, sm.Features[2].Missing = true, true
	f.Add([]byte("age,premium,plan,region,churned\n,1,basic,north,yes\n41,0,NA,south,no\n52,0,plus,south,yes\n23,1,,east,no\n"))
	f.Add([]byte("age,premium,plan,region,churned\n30,,basic,north,yes\ninf,0,pro,south,no\n"))
	f.Add([]byte(customGood))
	f.Add([]byte("age,premium,plan,region,churned\n1,1,basic,\"no\nrth\",yes\n2,0,pro,x,no\n3,1,plus,x,yes\n4,0,pro,y,no\n"))
	f.Add([]byte("\ufeffage,premium,plan,region,churned\r\n-1,2,gold,,maybe\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dm, errm := mlservice.ValidateTable(context.Background(), bytes.NewReader(data), sm)
		if errm == nil {
			for j, col := range dm.X {
				if j != 0 && j != 2 && slices.ContainsFunc(col, math.IsNaN) {
					t.Fatalf("column %d holds NaN", j)
				}
			}
			if _, err := mlservice.Train(context.Background(), dm, mlservice.TrainOptions{}); err != nil && !errors.Is(err, mlservice.ErrInvalidData) {
				t.Logf("train with missing values: %v", err)
			}
		}
		ds, err := mlservice.ValidateTable(context.Background(), bytes.NewReader(data), s)
		if err == nil && (errm != nil || !cmp.Equal(ds.X, dm.X, cmpopts.EquateNaNs())) {
			t.Fatalf("missing: true changed an accepted table: %v", errm)
		}
		if err != nil {
			if !errors.Is(err, mlservice.ErrInvalidData) {
				t.Fatalf("error %v does not match ErrInvalidData", err)
			}
			return
		}
		if !ds.Schema.Resolved() || len(ds.X) != 4 {
			t.Fatalf("dataset %+v", ds)
		}
		for k, col := range ds.X {
			if len(col) != ds.Len() {
				t.Fatalf("category %d has %d rows of %d", k, len(col), ds.Len())
			}
		}
		if _, err := mlservice.Train(context.Background(), ds, mlservice.TrainOptions{}); err != nil && !errors.Is(err, mlservice.ErrInvalidData) {
			t.Logf("train: %v", err) // tiny fuzzed tables may not converge; no panic is the point
		}
	})
}

// TestRuleWithoutFastPath: a rule the fast path does not compile (ne,
// oneof on a string) is still enforced by validator, in the CSV and in
// requests.
func TestRuleWithoutFastPath(t *testing.T) {
	s := mustSchema(t, `{"name":"t","version":"1","target":{"column":"y","positive":"1","negative":"0"},
		"features":[{"name":"n","type":"number","rules":"ne=3"},{"name":"c","type":"category","rules":"oneof=a b","unknown":"ignore"}]}`)
	_, err := mlservice.ValidateTable(context.Background(), strings.NewReader("n,c,y\n1,a,0\n2,b,1\n4,a,0\n3,b,1\n5,a,1\n"), s)
	var verr *mlservice.ValidationError
	if !errors.As(err, &verr) || verr.Problems[0].Rule != "ne=3" || verr.Problems[0].Line != 5 || verr.Problems[0].Value != "3" {
		t.Fatalf("ne=3: %v", err)
	}
	_, err = mlservice.ValidateTable(context.Background(), strings.NewReader("n,c,y\n1,a,0\n2,b,1\n4,a,0\n6,z,1\n5,a,1\n"), s)
	if !errors.As(err, &verr) || verr.Problems[0].Rule != "oneof=a b" || verr.Problems[0].Value != "z" {
		t.Fatalf("oneof: %v", err)
	}
	ds, err := mlservice.ValidateTable(context.Background(), strings.NewReader("n,c,y\n1,a,0\n2,b,1\n4,a,0\n6,b,1\n5,a,1\n"), s)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mlservice.DecodeRow(ds.Schema, []byte(`{"n":3,"c":"z"}`))
	var ie *mlservice.InputError
	if !errors.As(err, &ie) || len(ie.Problems) != 2 {
		t.Fatalf("request: %v", err)
	}
	cand, err := mlservice.Train(context.Background(), ds, mlservice.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	store := mlkit.Serve(t, cand)
	if _, err := store.PredictRow(&mlservice.Row{Numbers: []float64{3}, Categories: []string{"a"}}); !errors.As(err, &ie) || ie.Problems[0].Field != "n" {
		t.Errorf("PredictRow n=3: %v", err)
	}
	if _, err := store.PredictRow(&mlservice.Row{Numbers: []float64{2}, Categories: []string{"z"}}); !errors.As(err, &ie) || ie.Problems[0].Field != "c" {
		t.Errorf("PredictRow c=z: %v", err)
	}
	if _, err := store.PredictRow(&mlservice.Row{Numbers: []float64{2}, Categories: []string{"b"}}); err != nil {
		t.Errorf("PredictRow good: %v", err)
	}
}

// datasetRow is row i of a dataset under a declared schema, as a Row: its
// numbers, and its categories' values by their codes.
func datasetRow(ds *mlservice.Dataset, i int) mlservice.Row {
	var r mlservice.Row
	for j, f := range ds.Schema.Features {
		if f.Type == mlservice.TypeCategory {
			r.Categories = append(r.Categories, f.Categories[int(ds.X[j][i])])
		} else {
			r.Numbers = append(r.Numbers, ds.X[j][i])
		}
	}
	return r
}
