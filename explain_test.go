package mlservice_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/model"
)

// TestExplain: an explanation has one contribution per schema feature, a
// category's the coefficient of its level's column (or of its missing
// level), a number's the coefficient times its standardized value (the
// median standing in for a missing one), computed here from model.json's
// numbers; bias + Σ contributions is the served log-odds to 1e-9, on every
// way in (Row, JSON, batch).
func TestExplain(t *testing.T) {
	ctx := context.Background()
	ds, err := mlservice.ValidateTable(ctx, strings.NewReader(missingCSV(600)), mustSchema(t, missingSchema))
	if err != nil {
		t.Fatal(err)
	}
	cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lr := cand.Model.(*model.Logistic)
	store := mlkit.Serve(t, cand)
	weight := func(col string) float64 {
		k := slices.Index(lr.Features, col)
		if k < 0 {
			t.Fatalf("no column %s in %v", col, lr.Features)
		}
		return lr.Coef[k] / lr.Scale[k]
	}
	meanOf := func(col string) float64 { return lr.Mean[slices.Index(lr.Features, col)] }

	bodies := []string{`{"x":12.5,"c":"a","z":-0.3}`, `{"x":null,"c":"d","z":1.5}`, `{"x":7,"c":null,"z":0}`, `{"z":2}`}
	var batch []string
	for _, body := range bodies {
		e, err := store.ExplainJSON([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		var in struct {
			X *float64
			C *string
			Z float64
		}
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			t.Fatal(err)
		}
		x := lr.Impute["x"]
		if in.X != nil {
			x = *in.X
		}
		c := "NA"
		if in.C != nil {
			c = *in.C
		}
		want := map[string]float64{
			"x": weight("x") * (x - meanOf("x")),
			"c": weight("c=" + c),
			"z": weight("z") * (in.Z - meanOf("z")),
		}
		if len(e.Explanation.Contributions) != 3 {
			t.Fatalf("%s: contributions %v", body, e.Explanation.Contributions)
		}
		for name, w := range want {
			if got := e.Explanation.Contributions[name]; math.Abs(got-w) > 1e-12 {
				t.Errorf("%s: %s contributes %v, want %v", body, name, got, w)
			}
		}
		if e.Explanation.Bias != lr.Intercept {
			t.Errorf("%s: bias %v, intercept %v", body, e.Explanation.Bias, lr.Intercept)
		}
		// The served log-odds: the model's, for the row as decoded.
		r, err := mlservice.DecodeRow(ds.Schema, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		code := math.NaN()
		if k := slices.Index(ds.Schema.Features[1].Categories, r.Categories[0]); k >= 0 {
			code = float64(k)
		}
		served := lr.LogOdds([]float64{r.Numbers[0], code, r.Numbers[1]})
		sum := e.Explanation.Bias
		for _, v := range e.Explanation.Contributions {
			sum += v
		}
		if math.Abs(sum-served) > 1e-9 || math.Abs(model.Sigmoid(sum)-e.Probability) > 1e-12 {
			t.Errorf("%s: bias + contributions = %v, served log-odds %v (p %v)", body, sum, served, e.Probability)
		}
		p, err := store.PredictJSON([]byte(body))
		if err != nil || p != e.Prediction {
			t.Errorf("%s: PredictJSON %+v, ExplainJSON %+v", body, p, e.Prediction)
		}
		byRow, err := store.Explain(&r)
		if err != nil || fmt.Sprint(byRow) != fmt.Sprint(e) {
			t.Errorf("%s: Explain(Row) %+v, %v; ExplainJSON %+v", body, byRow, err, e)
		}
		batch = append(batch, body)
		out, err := json.Marshal(e)
		if err != nil || !strings.Contains(string(out), `"explanation":{"bias":`) || !strings.HasPrefix(string(e.AppendJSON(nil)), string(out)) {
			t.Errorf("JSON %s, %v", out, err)
		}
	}
	es, err := store.ExplainBatchJSON([]byte(`{"instances":[`+strings.Join(batch, ",")+`]}`), 10)
	if err != nil || len(es) != len(bodies) {
		t.Fatalf("batch: %v, %v", es, err)
	}
	for i, body := range bodies {
		one, _ := store.ExplainJSON([]byte(body))
		if fmt.Sprint(es[i]) != fmt.Sprint(one) {
			t.Errorf("batch row %d: %+v, alone %+v", i, es[i], one)
		}
	}
	// Bad input is refused as by the predict calls.
	var ie *mlservice.InputError
	if _, err := store.ExplainJSON([]byte(`{"x":1,"c":"a"}`)); !errors.As(err, &ie) || ie.Problems[0].Field != "z" {
		t.Errorf("no z: %v", err)
	}
	if _, err := store.ExplainJSON([]byte(`{"x":1,`)); !errors.Is(err, mlservice.ErrMalformedRequest) {
		t.Errorf("malformed: %v", err)
	}
	if _, err := store.ExplainBatchJSON([]byte(`{"instances":[{"z":1},{"z":"a"}]}`), 10); !errors.As(err, &ie) || ie.Problems[0].Row != 1 {
		t.Errorf("batch: %v", err)
	}
	if _, err := store.Explain(&mlservice.Row{Numbers: []float64{1}}); !errors.Is(err, mlservice.ErrInvalidFeatures) {
		t.Errorf("short row: %v", err)
	}
	// A version that could not explain a row (none this build makes) is the
	// client's 422 with the reason, never a 5xx.
	if st, code := mlservice.HTTPStatus(fmt.Errorf("version v: %w", mlservice.ErrCannotExplain)); st != 422 || code != "cannot_explain" {
		t.Errorf("ErrCannotExplain: %d %s", st, code)
	}
	empty := mlkit.OpenStore(t, t.TempDir(), mlservice.StoreOptions{RefreshInterval: -1})
	if _, err := empty.ExplainJSON([]byte(`{}`)); !errors.Is(err, mlservice.ErrNotReady) {
		t.Errorf("no version: %v", err)
	}
}

// BenchmarkStoreExplain: Store.ExplainJSON on the default schema's body,
// beside BenchmarkStorePredict's PredictJSON.
func BenchmarkStoreExplain(b *testing.B) {
	store := mlkit.Serve(b, mlkit.Trained(b))
	body := []byte(`{"age":42,"income":52000,"account_balance":-120.5,"transactions_last_30d":7,"is_premium":1}`)
	for b.Loop() {
		if _, err := store.ExplainJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}
