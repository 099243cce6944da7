package model_test

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/model"
)

var _ model.Model = (*model.Logistic)(nil)

// mixedTable is a table whose numbers and categories interleave: x0, c1
// (levels a b c), x2, c3 (levels p q), with labels from a known rule.
func mixedTable(n int) (model.Layout, [][]float64, []uint8) {
	layout := model.Layout{
		{Name: "x0", Kind: model.Number},
		{Name: "c1", Kind: model.Category, Levels: []string{"a", "b", "c"}},
		{Name: "x2", Kind: model.Number},
		{Name: "c3", Kind: model.Category, Levels: []string{"p", "q"}},
	}
	r := rand.New(rand.NewPCG(9, 9))
	X := make([][]float64, 4)
	y := make([]uint8, n)
	for i := range n {
		x0, c1, x2, c3 := r.NormFloat64()*10+50, float64(r.IntN(3)), r.NormFloat64(), float64(r.IntN(2))
		if i%50 == 0 {
			c1 = -1 // an unknown value, ignored
		}
		for j, v := range []float64{x0, c1, x2, c3} {
			X[j] = append(X[j], v)
		}
		z := 0.05*(x0-50) + 0.8*x2 + []float64{0, -1, 1.5}[max(int(c1), 0)] + 0.7*c3
		if r.Float64() < model.Sigmoid(z) {
			y[i] = 1
		}
	}
	return layout, X, y
}

// encode is a row's encoded columns: the numbers, then the one-hot levels.
func encode(layout model.Layout, row []float64) []float64 {
	var out []float64
	for j, f := range layout {
		if f.Kind == model.Number {
			out = append(out, row[j])
		}
	}
	for j, f := range layout {
		if f.Kind == model.Category {
			for l := range f.Levels {
				out = append(out, map[bool]float64{true: 1}[row[j] == float64(l)])
			}
		}
	}
	return out
}

// TestLogisticRows: a model fitted on interleaved numbers and categories
// reads rows as its encoded columns say (LogOdds agrees with Decision on the
// one-hot encoding), Explain's parts add up to LogOdds, and model.json
// brings back the same predictions under the same layout only.
func TestLogisticRows(t *testing.T) {
	layout, X, y := mixedTable(4000)
	m, _, err := model.FitLogistic(context.Background(), layout, X, y, nil, model.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Layout(); !got.Equal(layout) || m.Family() != "logistic" {
		t.Fatalf("layout %v, family %s", got, m.Family())
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"family":"logistic"`) {
		t.Errorf("model.json %s names no family", data)
	}
	back, err := model.DecodeLogistic(data, layout)
	if err != nil {
		t.Fatal(err)
	}
	row, out := make([]float64, 4), make([]float64, 4)
	for i := range 200 {
		for j := range row {
			row[j] = X[j][i]
		}
		z := m.LogOdds(row)
		if want := m.Decision(encode(layout, row)); math.Abs(z-want) > 1e-12 {
			t.Fatalf("row %v: LogOdds %v, Decision %v", row, z, want)
		}
		bias := m.Explain(row, out)
		if sum := bias + out[0] + out[1] + out[2] + out[3]; math.Abs(sum-z) > 1e-12 {
			t.Fatalf("row %v: bias %v + contributions %v = %v, LogOdds %v", row, bias, out, sum, z)
		}
		if back.LogOdds(row) != z {
			t.Fatalf("row %v: decoded model gives %v, fitted %v", row, back.LogOdds(row), z)
		}
	}
	other := append(model.Layout{}, layout...)
	other[0], other[2] = layout[2], layout[0]
	if _, err := model.DecodeLogistic(data, other); err == nil {
		t.Error("model.json decoded under another layout")
	}
}

// TestLogisticOldFile: a model.json written before families (no "family")
// still decodes; another family is refused.
func TestLogisticOldFile(t *testing.T) {
	old := `{"format":"mlservice.logistic-regression/v1","features":["a","b"],"scaler":{"mean":[1,2],"scale":[1,1]},"coef":[0.5,-0.5],"intercept":0.1}`
	layout := model.Layout{{Name: "a"}, {Name: "b"}}
	m, err := model.DecodeLogistic([]byte(old), layout)
	if err != nil {
		t.Fatal(err)
	}
	if z := m.LogOdds([]float64{3, 2}); z != 0.1+0.5*2 {
		t.Errorf("LogOdds = %v", z)
	}
	gbdt := strings.Replace(old, `{`, `{"family":"gbdt",`, 1)
	if _, err := model.DecodeLogistic([]byte(gbdt), layout); err == nil {
		t.Error("a gbdt model.json decoded as logistic")
	}
}

// TestLogOddsDoesNotAllocate: the predict path costs no allocation.
func TestLogOddsDoesNotAllocate(t *testing.T) {
	layout, X, y := mixedTable(1000)
	m, _, err := model.FitLogistic(context.Background(), layout, X, y, nil, model.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	row := []float64{50, 1, 0.5, 0}
	if n := testing.AllocsPerRun(100, func() { m.LogOdds(row) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// BenchmarkLogOdds: five numbers (summed one after the other) and thirty
// (in four interleaved sums, about four times as fast as one chain).
func BenchmarkLogOdds(b *testing.B) {
	for _, n := range []int{5, 30} {
		layout := make(model.Layout, n)
		names := make([]string, n)
		coef, mean, scale := make([]float64, n), make([]float64, n), make([]float64, n)
		row := make([]float64, n)
		for j := range layout {
			names[j] = string(rune('a'+j%26)) + strings.Repeat("x", j/26)
			layout[j] = model.Feature{Name: names[j]}
			coef[j], mean[j], scale[j], row[j] = float64(j), 1, 2, float64(j)
		}
		m, err := model.NewLogistic(layout, names, mean, scale, coef, 0.5)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(map[int]string{5: "numbers=5", 30: "numbers=30"}[n], func(b *testing.B) {
			var sink float64
			for b.Loop() {
				sink += m.LogOdds(row)
			}
			if sink == 1 {
				b.Log(sink)
			}
		})
	}
}
