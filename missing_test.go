package mlservice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/model"
)

// missingSchema lets x and c be missing; z may not be.
const missingSchema = `{"name":"gaps","version":"1","target":{"column":"y","positive":"1","negative":"0"},
  "features":[{"name":"x","type":"number","missing":true},{"name":"c","type":"category","missing":true},{"name":"z","type":"number"}]}`

// missingCSV is n rows of x, c, z and y, with x missing in one row in six
// (empty or NA) and c in one in eight (empty or null).
func missingCSV(n int) string {
	r := rand.New(rand.NewPCG(17, 4))
	var b strings.Builder
	b.WriteString("x,c,z,y\n")
	for i := range n {
		x, c, z := r.NormFloat64()*3+10, []string{"a", "b", "d"}[r.IntN(3)], r.NormFloat64()
		y := 0
		if r.Float64() < model.Sigmoid(0.4*(x-10)+map[string]float64{"a": -1, "b": 0, "d": 1}[c]+z) {
			y = 1
		}
		xs, cs := fmt.Sprintf("%.3f", x), c
		if i%6 == 1 {
			xs = []string{"", "NA"}[i%2]
		}
		if i%8 == 3 {
			cs = []string{"", "null"}[i%16/8]
		}
		fmt.Fprintf(&b, "%s,%s,%.3f,%d\n", xs, cs, z, y)
	}
	return b.String()
}

// TestMissingValues walks a table with empty cells through every path: the
// schema keeps "missing", validation reads the cells as NaN, training
// records the median, and a request's null or absent field, a Row's NaN or
// empty category and the stored examples score as the imputed value does.
func TestMissingValues(t *testing.T) {
	ctx := context.Background()
	s := mustSchema(t, missingSchema)
	back := mustSchema(t, string(s.MarshalIndent()))
	if !back.Features[0].Missing || back.Features[2].Missing || back.Hash() != s.Hash() {
		t.Fatalf("missing does not round-trip: %s", s.MarshalIndent())
	}
	plain := mustSchema(t, strings.ReplaceAll(missingSchema, `,"missing":true`, ""))
	if plain.Hash() == s.Hash() {
		t.Error("the schema hash ignores missing")
	}

	data := missingCSV(600)
	ds, err := mlservice.ValidateTable(ctx, strings.NewReader(data), s)
	if err != nil {
		t.Fatal(err)
	}
	nanX, nanC := 0, 0
	for i := range ds.Len() {
		if math.IsNaN(ds.X[0][i]) {
			nanX++
		}
		if math.IsNaN(ds.X[1][i]) {
			nanC++
		}
	}
	if nanX != 100 || nanC != 75 {
		t.Fatalf("%d missing x and %d missing c, want 100 and 75", nanX, nanC)
	}
	if got := ds.Schema.Features[1].Categories; strings.Join(got, ",") != "a,b,d" {
		t.Fatalf("learned categories %v", got)
	}
	// Without "missing" the same file is refused at each empty cell.
	_, err = mlservice.ValidateTable(ctx, strings.NewReader(data), plain)
	var verr *mlservice.ValidationError
	if !errors.As(err, &verr) || verr.Total != 175 || verr.Problems[0].Line != 3 || verr.Problems[0].Column != "x" || verr.Problems[0].Rule != "required" {
		t.Fatalf("plain schema: %v", err)
	}

	cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lr := cand.Model.(*model.Logistic)
	if _, ok := lr.Impute["x"]; !ok || len(lr.Impute) != 1 {
		t.Fatalf("impute %v", lr.Impute)
	}
	hasNull := false
	for _, ex := range cand.Metadata.Examples {
		for _, v := range ex.Values {
			hasNull = hasNull || v == nil
		}
	}
	if !hasNull {
		t.Error("no self-test example has a missing value")
	}
	store := mlkit.Serve(t, cand) // loading recomputes the examples, nulls included

	med := lr.Impute["x"]
	want, err := store.PredictRow(&mlservice.Row{Numbers: []float64{med, 0.5}, Categories: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{`{"x":null,"c":"b","z":0.5}`, `{"c":"b","z":0.5}`} {
		p, err := store.PredictJSON([]byte(body))
		if err != nil || p.Probability != want.Probability {
			t.Errorf("%s: %+v, %v; x = the median gives %v", body, p, err, want.Probability)
		}
	}
	row := &mlservice.Row{Numbers: []float64{math.NaN(), 0.5}, Categories: []string{"b"}}
	if p, err := store.PredictRow(row); err != nil || p.Probability != want.Probability {
		t.Errorf("Row with NaN x: %+v, %v", p, err)
	}
	if a := testing.AllocsPerRun(50, func() { _, _ = store.PredictRow(row) }); a != 0 {
		t.Errorf("PredictRow of a missing value allocates %v times", a)
	}
	// A missing c scores its own level: neither b's nor no level's.
	pc, err := store.PredictJSON([]byte(`{"x":10,"c":null,"z":0.5}`))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := store.PredictRow(&mlservice.Row{Numbers: []float64{10, 0.5}, Categories: []string{""}})
	if err != nil || rc.Probability != pc.Probability {
		t.Errorf("Row with empty c: %+v, %v; JSON null %v", rc, err, pc.Probability)
	}
	r, err := mlservice.DecodeRow(ds.Schema, []byte(`{"z":1}`))
	if err != nil || !math.IsNaN(r.Numbers[0]) || r.Categories[0] != "" {
		t.Errorf("DecodeRow of absent x and c = %+v, %v", r, err)
	}
	preds, err := store.PredictBatchJSON(nil, []byte(`{"instances":[{"z":1},{"x":null,"c":"a","z":1}]}`), 10)
	if err != nil || len(preds) != 2 {
		t.Errorf("batch with missing values: %v, %v", preds, err)
	}

	// z may not be missing: refused on every path, naming it.
	for _, body := range []string{`{"x":1,"c":"a","z":null}`, `{"x":1,"c":"a"}`} {
		_, err := store.PredictJSON([]byte(body))
		var ie *mlservice.InputError
		if !errors.As(err, &ie) || len(ie.Problems) != 1 || ie.Problems[0].Field != "z" || !strings.Contains(ie.Problems[0].Reason, "required") {
			t.Errorf("%s: %v", body, err)
		}
	}
	_, err = store.PredictBatchJSON(nil, []byte(`{"instances":[{"z":1},{"x":1}]}`), 10)
	var ie *mlservice.InputError
	if !errors.As(err, &ie) || ie.Problems[0].Row != 1 || ie.Problems[0].Field != "z" {
		t.Errorf("batch row without z: %v", err)
	}
	if _, err := store.PredictRow(&mlservice.Row{Numbers: []float64{1, math.NaN()}, Categories: []string{"a"}}); !errors.As(err, &ie) || ie.Problems[0].Field != "z" {
		t.Errorf("Row with NaN z: %v", err)
	}
	// An infinity is not a missing value, nor is a category's unknown value.
	for _, csv := range []string{"x,c,z,y\ninf,a,1,0\n", "x,c,z,y\n1,e,1,0\n", "x,c,z,y\n1,a,,0\n"} {
		_, err := mlservice.ValidateTable(ctx, strings.NewReader(csv), ds.Schema)
		if !errors.As(err, &verr) || verr.Problems[0].Line != 2 {
			t.Errorf("%q: %v", csv, err)
		}
	}
	if _, err := store.PredictJSON([]byte(`{"x":1,"c":"e","z":1}`)); !errors.As(err, &ie) || ie.Problems[0].Field != "c" {
		t.Errorf("unknown c: %v", err)
	}
}

// TestInferProposesMissing: schema infer marks the columns with empty
// cells "missing": true, and says so, and not the others; an infinity is
// not a missing value.
func TestInferProposesMissing(t *testing.T) {
	s, notes, err := mlservice.InferSchema(context.Background(), strings.NewReader(missingCSV(200)+"5,a,inf,1\n"), mlservice.InferOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range s.Features {
		got[f.Name] = f.Missing
	}
	if !got["x"] || !got["c"] || got["z"] {
		t.Fatalf("missing proposed for %v", got)
	}
	all := strings.Join(notes, "\n")
	if !strings.Contains(all, `"x": 34 rows have a missing value`) || !strings.Contains(all, `"z": 1 rows have an infinite value`) {
		t.Errorf("notes:\n%s", all)
	}
	// The draft validates the file it was inferred from, the infinity aside.
	if _, err := mlservice.ValidateTable(context.Background(), strings.NewReader(missingCSV(200)), s); err != nil {
		t.Errorf("the inferred schema refuses its file: %v", err)
	}
}

// TestRequestJSONSchemaMissing: the request schema lets a missing feature
// be null or absent.
func TestRequestJSONSchemaMissing(t *testing.T) {
	s := mustSchema(t, strings.Replace(missingSchema, `"type":"category","missing":true`, `"type":"category","categories":["a"],"missing":true`, 1))
	js, err := json.Marshal(s.RequestJSONSchema())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"required":["z"]`, `"type":["number","null"]`, `"enum":["a","",null]`} {
		if !bytes.Contains(js, []byte(want)) {
			t.Errorf("request schema %s lacks %s", js, want)
		}
	}
}

// TestMissingParity trains on a real table with missing cells (credit_data:
// 351 empty cells in six columns of its training split) and compares with
// scikit-learn's SimpleImputer (median; a constant "NA" level) +
// StandardScaler/OneHotEncoder + LogisticRegression at its exact optimum
// (testdata/tables/missing_golden.json, make_missing_golden.py): the same
// medians and scaler, coefficients by encoded column to 1e-5 (tolerances as
// TestTablesParity's), and the probabilities of every test row, missing
// cells included, to 1e-6.
func TestMissingParity(t *testing.T) {
	var g struct {
		Schema, Train, Test string
		Rows                int
		MissingCells        int                `json:"missing_cells"`
		Median, Mean, Scale map[string]float64 // by number feature
		Coef                map[string]float64 // by encoded column
		Intercept           float64
		TestProbabilities   []float64 `json:"test_probabilities"`
	}
	readJSON(t, filepath.Join(tablesDir, "missing_golden.json"), &g)
	ctx := context.Background()
	s, err := mlservice.LoadSchemaFile(filepath.Join(tablesDir, g.Schema))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := mlservice.ValidateTableFile(ctx, filepath.Join(tablesDir, g.Train), s)
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, col := range ds.X {
		for _, v := range col {
			if math.IsNaN(v) {
				missing++
			}
		}
	}
	if ds.Len() != g.Rows || missing != g.MissingCells {
		t.Fatalf("%d rows and %d missing cells, scikit-learn %d and %d", ds.Len(), missing, g.Rows, g.MissingCells)
	}
	cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{Eval: ds})
	if err != nil {
		t.Fatal(err)
	}
	m := logisticOf(cand)
	for name, med := range g.Median {
		if imp, ok := m.Impute[name]; ok && imp != med {
			t.Errorf("%s imputed with %v, scikit-learn's median %v", name, imp, med)
		}
	}
	if len(m.Impute) != 3 {
		t.Errorf("impute %v: Income, Assets and Debt may be missing", m.Impute)
	}
	for j, name := range m.Features {
		if mean, ok := g.Mean[name]; ok {
			if math.Abs(m.Mean[j]-mean) > 1e-9*math.Max(1, math.Abs(mean)) || math.Abs(m.Scale[j]-g.Scale[name]) > 1e-9*math.Max(1, g.Scale[name]) {
				t.Errorf("%s: mean %v scale %v, scikit-learn %v %v", name, m.Mean[j], m.Scale[j], mean, g.Scale[name])
			}
		}
		want := g.Coef[name] // 0 for a level scikit-learn never saw
		if d := math.Abs(m.Coef[j] - want); d > 1e-5 {
			t.Errorf("coefficient of %s = %v, scikit-learn %v", name, m.Coef[j], want)
		}
	}
	for name := range g.Coef {
		if !slices.Contains(m.Features, name) {
			t.Errorf("scikit-learn has a column %s that the model lacks", name)
		}
	}
	if d := math.Abs(m.Intercept - g.Intercept); d > 1e-5 {
		t.Errorf("intercept %v, scikit-learn %v", m.Intercept, g.Intercept)
	}
	test, err := mlservice.ValidateTableFile(ctx, filepath.Join(tablesDir, g.Test), ds.Schema)
	if err != nil {
		t.Fatal(err)
	}
	if test.Len() != len(g.TestProbabilities) {
		t.Fatalf("%d test rows, scikit-learn %d", test.Len(), len(g.TestProbabilities))
	}
	row, worst, withMissing := make([]float64, len(test.X)), 0.0, 0
	for i := range test.Len() {
		for j, col := range test.X {
			row[j] = col[i]
		}
		if slices.ContainsFunc(row, math.IsNaN) {
			withMissing++
		}
		worst = math.Max(worst, math.Abs(model.Sigmoid(m.LogOdds(row))-g.TestProbabilities[i]))
	}
	if worst > 1e-6 || withMissing == 0 {
		t.Errorf("test probabilities within %.3g of scikit-learn's (%d rows with missing cells)", worst, withMissing)
	}
	t.Logf("%d test rows (%d with missing cells): probabilities within %.2g of scikit-learn's", test.Len(), withMissing, worst)
}
