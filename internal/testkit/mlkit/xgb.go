package mlkit

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/model"
)

// XGBCredit is testdata/gbdt's XGBoost model of credit_data's nine number
// features, its evaluation file (the golden rows without a missing cell,
// with their labels) under its schema, and XGBoost's figures for the rows.
type XGBCredit struct {
	Model    []byte             // xgb_credit.json
	Eval     *mlservice.Dataset // xgb_credit_eval.csv under xgb_credit.schema.json
	features []string
	rows     [][]*float64
	proba    []float64
	contribs [][]float64
}

// ReadXGBCredit reads testdata/gbdt's XGBoost model and its golden figures.
func ReadXGBCredit(t testing.TB) XGBCredit {
	t.Helper()
	dir := filepath.Join(testkit.Root(t), "testdata", "gbdt")
	var g struct {
		Features []string     `json:"features"`
		Rows     [][]*float64 `json:"rows"`
		Proba    []float64    `json:"proba"`
		Contribs [][]float64  `json:"contribs"`
	}
	if err := json.Unmarshal(testkit.ReadFile(t, filepath.Join(dir, "xgb_credit_golden.json")), &g); err != nil {
		t.Fatal(err)
	}
	s, err := mlservice.LoadSchemaFile(filepath.Join(dir, "xgb_credit.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	eval, err := mlservice.ValidateTableFile(context.Background(), filepath.Join(dir, "xgb_credit_eval.csv"), s)
	if err != nil {
		t.Fatal(err)
	}
	return XGBCredit{testkit.ReadFile(t, filepath.Join(dir, "xgb_credit.json")), eval, g.Features, g.Rows, g.Proba, g.Contribs}
}

// Check checks that the store serves, and the version's model
// explains, every golden row as XGBoost does, those with a missing cell
// (Income, Assets and Debt may be missing) included: probabilities within
// 2e-6, contributions and bias within 1e-4.
func (x XGBCredit) Check(t testing.TB, st *mlservice.Store, m model.Model) {
	t.Helper()
	out := make([]float64, len(x.features))
	n, missing, worstP, worstC := 0, 0, 0.0, 0.0
	for i, cells := range x.rows {
		r := mlservice.Row{}
		for _, c := range cells { // the schema lists the model's features in its order
			if c == nil {
				r.Numbers = append(r.Numbers, math.NaN())
				missing++
				continue
			}
			r.Numbers = append(r.Numbers, *c)
		}
		p, err := st.PredictRow(&r)
		if err != nil {
			t.Fatal(err)
		}
		worstP = max(worstP, math.Abs(p.Probability-x.proba[i]))
		bias := m.Explain(r.Numbers, out)
		want := x.contribs[i]
		worstC = max(worstC, math.Abs(bias-want[len(want)-1]))
		for k := range out {
			worstC = max(worstC, math.Abs(out[k]-want[k]))
		}
		n++
	}
	t.Logf("%d rows (%d missing cells): worst probability difference %.2g (bar 2e-6), worst contribution difference %.2g (bar 1e-4)", n, missing, worstP, worstC)
	if n != len(x.rows) || missing == 0 || worstP > 2e-6 || worstC > 1e-4 {
		t.Errorf("%d rows: probabilities within %.2g of XGBoost's, contributions within %.2g", n, worstP, worstC)
	}
}
