package gbdt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/model/gbdt"
)

func TestFitIsDeterministicAcrossWorkers(t *testing.T) {
	tb := loadTable(t, "credit_data", "train")
	var first []byte
	for _, workers := range []int{1, 2, 7} {
		f, err := gbdt.Fit(context.Background(), tb.features, tb.cols, tb.labels, nil,
			gbdt.Options{Trees: 30, Subsample: 0.8, Seed: 3, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		data, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = data
		} else if !bytes.Equal(first, data) {
			t.Errorf("workers=%d: a different model than with 1 worker", workers)
		}
	}
	other, err := gbdt.Fit(context.Background(), tb.features, tb.cols, tb.labels, nil,
		gbdt.Options{Trees: 30, Subsample: 0.8, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := json.Marshal(other); bytes.Equal(first, data) {
		t.Error("seed 4 gave the same model as seed 3")
	}
}

func TestJSONRoundTripPredictsTheSameBits(t *testing.T) {
	tb := loadTable(t, "mlc_churn", "train")
	f, err := gbdt.Fit(context.Background(), tb.features, tb.cols, tb.labels, nil, gbdt.Options{Trees: 40})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gbdt.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if g.Params() != f.Params() {
		t.Errorf("params %+v, then %+v", f.Params(), g.Params())
	}
	var row []float64
	a, b := make([]float64, len(tb.features)), make([]float64, len(tb.features))
	for i := range tb.labels {
		row = tb.row(i, row)
		if f.LogOdds(row) != g.LogOdds(row) {
			t.Fatalf("row %d: %v before, %v after the round trip", i, f.LogOdds(row), g.LogOdds(row))
		}
		if f.Explain(row, a) != g.Explain(row, b) || !equal(a, b) {
			t.Fatalf("row %d: explanations differ after the round trip", i)
		}
	}
	again, _ := json.Marshal(g)
	if !bytes.Equal(data, again) {
		t.Error("model.json changed on a second round trip")
	}
}

func equal(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestExplainAddsUpOnTables(t *testing.T) {
	for _, name := range []string{"mlc_churn", "credit_data", "attrition"} {
		train, test := loadTable(t, name, "train"), loadTable(t, name, "test")
		f, err := gbdt.Fit(context.Background(), train.features, train.cols, train.labels, nil, gbdt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(train.features))
		var row []float64
		for i := range test.labels {
			row = test.row(i, row)
			sum := f.Explain(row, out)
			for _, c := range out {
				sum += c
			}
			if z := f.LogOdds(row); math.Abs(sum-z) > 1e-9*(1+math.Abs(z)) {
				t.Fatalf("%s row %d: bias + Σ contributions = %v, LogOdds %v", name, i, sum, z)
			}
		}
		imp := f.Importance()
		total := 0.0
		for _, v := range imp {
			if v < 0 {
				t.Errorf("%s: negative importance %v", name, imp)
			}
			total += v
		}
		if total <= 0 {
			t.Errorf("%s: no importance at all: %v", name, imp)
		}
	}
}

func TestLogOddsAllocatesNothing(t *testing.T) {
	tb := loadTable(t, "mlc_churn", "train")
	f, err := gbdt.Fit(context.Background(), tb.features, tb.cols, tb.labels, nil, gbdt.Options{Trees: 20})
	if err != nil {
		t.Fatal(err)
	}
	row := tb.row(0, nil)
	if n := testing.AllocsPerRun(100, func() { f.LogOdds(row) }); n != 0 {
		t.Errorf("LogOdds: %v allocations a row", n)
	}
	out := make([]float64, len(row))
	f.Explain(row, out)
	if n := testing.AllocsPerRun(100, func() { f.Explain(row, out) }); n != 0 {
		t.Errorf("Explain: %v allocations a row", n)
	}
}

func TestFitRefusesBadOptions(t *testing.T) {
	tb := loadTable(t, "credit_data", "test")
	for _, tc := range []struct {
		opts   gbdt.Options
		option string
	}{
		{gbdt.Options{Trees: -1}, "trees"},
		{gbdt.Options{MaxDepth: 17}, "max_depth"},
		{gbdt.Options{MaxDepth: -1}, "max_depth"},
		{gbdt.Options{LearningRate: 1.5}, "learning_rate"},
		{gbdt.Options{LearningRate: -0.1}, "learning_rate"},
		{gbdt.Options{LearningRate: math.NaN()}, "learning_rate"},
		{gbdt.Options{Lambda: -1}, "lambda"},
		{gbdt.Options{MinChildWeight: math.Inf(1)}, "min_child_weight"},
		{gbdt.Options{Subsample: 1.01}, "subsample"},
		{gbdt.Options{MaxBins: 256}, "max_bins"},
		{gbdt.Options{Categorical: "native"}, "categorical"},
		{gbdt.Options{Patience: -2}, "patience"},
		{gbdt.Options{ValidationFraction: 0.9}, "validation_fraction"},
	} {
		_, err := gbdt.Fit(context.Background(), tb.features, tb.cols, tb.labels, nil, tc.opts)
		var oe *gbdt.OptionError
		if !errors.As(err, &oe) || oe.Option != tc.option {
			t.Errorf("%+v: got %v, want an OptionError naming %s", tc.opts, err, tc.option)
		}
	}
}

func TestFitRefusesBadInput(t *testing.T) {
	num := []gbdt.Feature{{Name: "x"}}
	cat := []gbdt.Feature{{Name: "c", Categorical: true, Levels: 3}}
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		features []gbdt.Feature
		cols     [][]float64
		labels   []uint8
		mask     []bool
		want     string
	}{
		{"no features", nil, nil, []uint8{0, 1}, nil, "no features"},
		{"column count", num, [][]float64{{1, 2}, {3, 4}}, []uint8{0, 1}, nil, "2 columns for 1 features"},
		{"column length", num, [][]float64{{1}}, []uint8{0, 1}, nil, `column "x" has 1 rows`},
		{"label", num, [][]float64{{1, 2}}, []uint8{0, 2}, nil, "row 1: label 2"},
		{"infinite", num, [][]float64{{1, math.Inf(1)}}, []uint8{0, 1}, nil, `feature "x", row 1`},
		{"level", cat, [][]float64{{0, 3}}, []uint8{0, 1}, nil, `feature "c", row 1: category code 3`},
		{"fraction", cat, [][]float64{{0, 0.5}}, []uint8{0, 1}, nil, "category code 0.5"},
		{"no levels", []gbdt.Feature{{Name: "c", Categorical: true}}, [][]float64{{0, 0}}, []uint8{0, 1}, nil, "0 levels"},
		{"duplicate", []gbdt.Feature{{Name: "x"}, {Name: "x"}}, [][]float64{{0, 0}, {0, 0}}, []uint8{0, 1}, nil, "appears twice"},
		{"mask length", num, [][]float64{{1, 2}}, []uint8{0, 1}, []bool{true}, "mask has 1 rows"},
		{"empty mask", num, [][]float64{{1, 2}}, []uint8{0, 1}, []bool{false, false}, "no rows"},
		{"one class", num, [][]float64{{1, 2}}, []uint8{1, 1}, nil, "one class"},
	} {
		_, err := gbdt.Fit(ctx, tc.features, tc.cols, tc.labels, tc.mask, gbdt.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestFitStopsWhenCanceled(t *testing.T) {
	tb := loadTable(t, "mlc_churn", "train")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := gbdt.Fit(ctx, tb.features, tb.cols, tb.labels, nil, gbdt.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestEarlyStoppingKeepsTheBestRound(t *testing.T) {
	tb := loadTable(t, "attrition", "train")
	f, err := gbdt.Fit(context.Background(), tb.features, tb.cols, tb.labels, nil,
		gbdt.Options{Trees: 500, LearningRate: 0.3, Patience: 5})
	if err != nil {
		t.Fatal(err)
	}
	p := f.Params()
	if !p.EarlyStopping || p.ValidationRows == 0 {
		t.Fatalf("early stopping did not run: %+v", p)
	}
	if p.RoundsTrained >= 500 || p.RoundsTrained != p.BestIteration+5 || f.NumTrees() != p.BestIteration {
		t.Errorf("trained %d rounds, best %d, kept %d trees; want to stop 5 rounds after the best and keep it",
			p.RoundsTrained, p.BestIteration, f.NumTrees())
	}
}

// TestConcurrentUse predicts and explains from several goroutines at once,
// the first Explain (which builds the leaf tables) among them; run with
// -race.
func TestConcurrentUse(t *testing.T) {
	tb := loadTable(t, "credit_data", "test")
	f, err := gbdt.Fit(context.Background(), tb.features, tb.cols, tb.labels, nil, gbdt.Options{Trees: 30})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, len(tb.labels))
	var row []float64
	for i := range want {
		row = tb.row(i, row)
		want[i] = f.LogOdds(row)
	}
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		go func() {
			var row []float64
			out := make([]float64, len(tb.features))
			for i := w; i < len(want); i += 4 {
				row = tb.row(i, row)
				sum := f.Explain(row, out)
				for _, c := range out {
					sum += c
				}
				if z := f.LogOdds(row); z != want[i] || math.Abs(sum-z) > 1e-9 {
					errs <- fmt.Errorf("row %d: LogOdds %v (alone %v), explanation sums to %v", i, z, want[i], sum)
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < 4; w++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestFitMaskEqualsCompactedRows: training on the rows a mask selects is
// training on those rows alone.
func TestFitMaskEqualsCompactedRows(t *testing.T) {
	tb := loadTable(t, "credit_data", "train")
	mask := make([]bool, len(tb.labels))
	compact := make([][]float64, len(tb.cols))
	var labels []uint8
	for i := range mask {
		if mask[i] = i%3 != 0; mask[i] {
			for j := range tb.cols {
				compact[j] = append(compact[j], tb.cols[j][i])
			}
			labels = append(labels, tb.labels[i])
		}
	}
	opts := gbdt.Options{Trees: 20, Seed: 9}
	a, err := gbdt.Fit(context.Background(), tb.features, tb.cols, tb.labels, mask, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := gbdt.Fit(context.Background(), tb.features, compact, labels, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Error("a masked fit differs from a fit on the selected rows")
	}
}
