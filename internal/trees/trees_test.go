package trees

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/model"
	"github.com/mlservice/mlservice/model/gbdt"
)

var layout = model.Layout{{Name: "x", Kind: model.Number}, {Name: "c", Kind: model.Category, Levels: []string{"a", "b", "c"}}}

// fit trains a small forest where y is 1 when x > 0 or c is "b".
func fit(t *testing.T, l model.Layout) *Model {
	t.Helper()
	n := 400
	x, c, y := make([]float64, n), make([]float64, n), make([]uint8, n)
	for i := range n {
		x[i], c[i] = float64(i%20)-10, float64(i%3)
		if x[i] > 0 || c[i] == 1 {
			y[i] = 1
		}
	}
	m, err := Fit(context.Background(), l, [][]float64{x, c}, y, nil, gbdt.Options{Trees: 20, MaxDepth: 3, NoEarlyStopping: true})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestModelOverLayout(t *testing.T) {
	m := fit(t, layout)
	var _ model.Model = m
	if m.Family() != "gbdt" || !m.Layout().Equal(layout) {
		t.Fatalf("family %s, layout %v", m.Family(), m.Layout())
	}
	if lo, hi := m.LogOdds([]float64{-5, 0}), m.LogOdds([]float64{-5, 1}); !(hi > lo) {
		t.Errorf("c=b gives %v, c=a %v: the category split is lost", hi, lo)
	}
	data, err := m.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"family":"gbdt"`) {
		t.Errorf("model.json does not name its family: %.100s", data)
	}
	again, err := Decode(data, layout)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, 2)
	for _, row := range [][]float64{{3, 2}, {-3, 1}, {math.NaN(), -1}} {
		if a, b := m.LogOdds(row), again.LogOdds(row); a != b {
			t.Errorf("row %v: %v decoded, %v fitted", row, b, a)
		}
		bias := again.Explain(row, out)
		if d := bias + out[0] + out[1] - again.LogOdds(row); math.Abs(d) > 1e-9 {
			t.Errorf("row %v: bias + contributions is off the log-odds by %v", row, d)
		}
	}
	if f, ok := Forest(again); !ok || f.NumTrees() != 20 {
		t.Errorf("Forest: %v, %v", f, ok)
	}
	if _, ok := Forest(nil); ok {
		t.Error("Forest of a non-trees model")
	}
}

// A forest decoded for a layout other than its own is refused, naming the feature.
func TestDecodeOtherLayout(t *testing.T) {
	data, err := fit(t, layout).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		l    model.Layout
		want string
	}{
		{layout[:1], "the forest reads 2 features, the schema has 1"},
		{model.Layout{{Name: "y"}, layout[1]}, `feature 0 is "x" (a number), the schema's is "y" (a number)`},
		{model.Layout{layout[0], {Name: "c", Kind: model.Category, Levels: []string{"a", "b"}}}, `"c" (a category of 3 levels), the schema's is "c" (a category of 2 levels)`},
		{model.Layout{layout[0], {Name: "c"}}, `the schema's is "c" (a number)`},
	} {
		if _, err := Decode(data, tc.l); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("layout %v: %v, want %q", tc.l, err, tc.want)
		}
	}
}
