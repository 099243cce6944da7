package model_test

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/model"
)

// missingTable is mixedTable with x0 and c1 allowed to be missing, and
// missing in about one row in seven (x0) and one in nine (c1).
func missingTable(n int) (model.Layout, [][]float64, []uint8) {
	layout, X, y := mixedTable(n)
	layout[0].Missing, layout[1].Missing = true, true
	for i := range n {
		if i%7 == 3 {
			X[0][i] = math.NaN()
		}
		if i%9 == 4 {
			X[1][i] = math.NaN()
		}
	}
	return layout, X, y
}

// TestLogisticMissing: a number that may be missing is imputed with its
// training median and a category gets a level of its own (name=NA): the
// fit is bit for bit the fit of the table imputed by hand, LogOdds and
// Explain read NaN as the imputed value, and model.json keeps the medians.
func TestLogisticMissing(t *testing.T) {
	layout, X, y := missingTable(3000)
	rows := make([]bool, len(y))
	for i := range rows {
		rows[i] = i%4 != 0
	}
	m, _, err := model.FitLogistic(context.Background(), layout, X, y, rows, model.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The median by hand, over the training rows that have a value.
	var vals []float64
	for i, v := range X[0] {
		if rows[i] && !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	slices.Sort(vals)
	med := vals[len(vals)/2]
	if len(vals)%2 == 0 {
		med = (vals[len(vals)/2-1] + vals[len(vals)/2]) / 2
	}
	if got := m.Impute["x0"]; got != med || len(m.Impute) != 1 {
		t.Fatalf("impute %v, want x0: %v", m.Impute, med)
	}
	if names := layout.EncodedNames(); !slices.Contains(names, "c1=NA") || names[len(names)-1] != "c3=q" {
		t.Fatalf("encoded columns %v", names)
	}

	// The same table imputed by hand, c1's missing level a level like any.
	byHand := slices.Clone(layout)
	byHand[0].Missing, byHand[1].Missing = false, false
	byHand[1].Levels = append(slices.Clone(layout[1].Levels), "NA")
	Xh := make([][]float64, len(X))
	for j := range X {
		Xh[j] = slices.Clone(X[j])
	}
	for i := range y {
		if math.IsNaN(Xh[0][i]) {
			Xh[0][i] = med
		}
		if math.IsNaN(Xh[1][i]) {
			Xh[1][i] = 3
		}
	}
	h, _, err := model.FitLogistic(context.Background(), byHand, Xh, y, rows, model.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.Coef, m.Coef) || h.Intercept != m.Intercept || !slices.Equal(h.Mean, m.Mean) {
		t.Fatalf("fit with missing values differs from the fit imputed by hand:\n%v %v\n%v %v", m.Coef, m.Intercept, h.Coef, h.Intercept)
	}
	if math.IsNaN(X[0][3]) == false || !math.IsNaN(X[1][4]) {
		t.Fatal("FitLogistic wrote into the caller's columns")
	}

	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"impute":{"x0":`) || !strings.Contains(string(data), `"c1=NA"`) {
		t.Fatalf("model.json %s does not record the imputation", data)
	}
	back, err := model.DecodeLogistic(data, layout)
	if err != nil {
		t.Fatal(err)
	}
	row, rowh, out := make([]float64, 4), make([]float64, 4), make([]float64, 4)
	for i := range 300 {
		for j := range row {
			row[j], rowh[j] = X[j][i], Xh[j][i]
		}
		z := m.LogOdds(row)
		if want := h.LogOdds(rowh); math.Abs(z-want) > 1e-12 {
			t.Fatalf("row %v: LogOdds %v, imputed by hand %v", row, z, want)
		}
		if b := back.LogOdds(row); b != z {
			t.Fatalf("row %v: decoded model %v, fitted %v", row, b, z)
		}
		bias := m.Explain(row, out)
		if sum := bias + out[0] + out[1] + out[2] + out[3]; math.Abs(sum-z) > 1e-12 || math.IsNaN(sum) {
			t.Fatalf("row %v: explanation sums to %v, LogOdds %v", row, sum, z)
		}
	}
}

// TestLogisticMissingDecodeRefuses: model.json whose imputation does not
// fit its layout is refused, naming what is wrong.
func TestLogisticMissingDecodeRefuses(t *testing.T) {
	layout := model.Layout{{Name: "a", Missing: true}, {Name: "c", Kind: model.Category, Levels: []string{"x"}, Missing: true}}
	good := `{"format":"mlservice.logistic-regression/v1","features":["a","c=x","c=NA"],"scaler":{"mean":[1,0,0],"scale":[1,1,1]},"coef":[0.5,1,-1],"intercept":0.1,"impute":{"a":2}}`
	m, err := model.DecodeLogistic([]byte(good), layout)
	if err != nil {
		t.Fatal(err)
	}
	if z, want := m.LogOdds([]float64{math.NaN(), math.NaN()}), 0.1+0.5*(2-1)-1; z != want {
		t.Errorf("LogOdds of a missing row = %v, want %v", z, want)
	}
	for _, c := range []struct{ name, json, want string }{
		{"null median", strings.Replace(good, `"a":2`, `"a":null`, 1), `"a" is null`},
		{"not a column", strings.Replace(good, `"a":2`, `"a":2,"b":1`, 1), `impute names "b"`},
		{"a category", strings.Replace(good, `"a":2`, `"a":2,"c=x":1`, 1), `impute names "c=x"`},
		{"no median", strings.Replace(good, `,"impute":{"a":2}`, ``, 1), `"a" may be missing`},
		{"no missing level", strings.NewReplacer(`,"c=NA"`, ``, `,0]`, `]`, `,1]`, `]`, `,-1]`, `]`).Replace(good), "not the layout's encoding"},
		{"impute wrong type", strings.Replace(good, `"a":2`, `"a":"2"`, 1), "decode model"},
	} {
		if _, err := model.DecodeLogistic([]byte(c.json), layout); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	// A layout whose features may not be missing refuses the imputation.
	strict := model.Layout{{Name: "a"}, {Name: "c", Kind: model.Category, Levels: []string{"x"}, Missing: true}}
	if _, err := model.DecodeLogistic([]byte(good), strict); err == nil || !strings.Contains(err.Error(), "imputes 1 features") {
		t.Errorf("imputation of a feature that may not be missing: err = %v", err)
	}
}

// BenchmarkExplain: a logistic model's explanation of one row of five
// numbers and two categories (the bound: 200 ns).
func BenchmarkExplain(b *testing.B) {
	layout, X, y := mixedTable(2000)
	layout = append(layout, model.Feature{Name: "x4"}, model.Feature{Name: "x5"}, model.Feature{Name: "x6"})
	for range 3 {
		X = append(X, slices.Clone(X[0]))
	}
	m, _, err := model.FitLogistic(context.Background(), layout, X, y, nil, model.FitOptions{})
	if err != nil {
		b.Fatal(err)
	}
	row := []float64{50, 1, 0.5, 0, 49, 51, 52}
	out := make([]float64, len(row))
	var sink float64
	for b.Loop() {
		sink += m.Explain(row, out)
	}
	if sink == 1 {
		b.Log(sink)
	}
}

// FuzzDecodeLogistic: model.json's decoder never panics; a model it
// accepts for a layout with features that may be missing reads a row of
// them all missing as a finite log-odds that its explanation adds up to,
// and writes itself back to a file that decodes to the same model.
func FuzzDecodeLogistic(f *testing.F) {
	layout := model.Layout{{Name: "a", Missing: true}, {Name: "c", Kind: model.Category, Levels: []string{"x"}, Missing: true}}
	good := `{"format":"mlservice.logistic-regression/v1","features":["a","c=x","c=NA"],"scaler":{"mean":[1,0,0],"scale":[1,1,1]},"coef":[0.5,1,-1],"intercept":0.1,"impute":{"a":2}}`
	f.Add([]byte(good))
	f.Add([]byte(strings.Replace(good, `"a":2`, `"a":null`, 1)))
	f.Add([]byte(strings.Replace(good, `"impute":{"a":2}`, `"impute":{"a":2,"c=NA":1}`, 1)))
	f.Add([]byte(`{"family":"logistic","format":"mlservice.logistic-regression/v1","features":["a"],"scaler":{"mean":[0],"scale":[1]},"coef":[1],"intercept":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var any model.Logistic
		_ = json.Unmarshal(data, &any) // its own layout: no panic
		m, err := model.DecodeLogistic(data, layout)
		if err != nil {
			return
		}
		row, out := []float64{math.NaN(), math.NaN()}, make([]float64, 2)
		z := m.LogOdds(row)
		bias := m.Explain(row, out)
		scale := max(1, math.Abs(bias)+math.Abs(out[0])+math.Abs(out[1])) // rounding grows with the terms
		if math.IsInf(scale, 0) {
			return // parameters near float64's limit overflow; model.json from the trainer has none
		}
		if math.IsNaN(z) || math.Abs(bias+out[0]+out[1]-z) > 1e-9*scale {
			t.Fatalf("missing row: LogOdds %v, explanation %v + %v", z, bias, out)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := model.DecodeLogistic(again, layout)
		if err != nil || back.LogOdds(row) != z {
			t.Fatalf("written back as %s: %v", again, err)
		}
	})
}
