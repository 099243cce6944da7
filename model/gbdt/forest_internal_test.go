package gbdt

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// walk is the plain reading of the stored trees: the reference the
// compiled walks must agree with bit for bit.
func (f *Forest) walk(row []float64) float64 {
	if f.float32 {
		z := float32(f.base)
		for _, t := range f.trees {
			z += float32(t.Value[t.leafOf(f, row)])
		}
		return float64(z)
	}
	z := f.base
	for _, t := range f.trees {
		z += t.Value[t.leafOf(f, row)]
	}
	return z
}

func (t *tree) leafOf(f *Forest, row []float64) int32 {
	i := int32(0)
	for !t.isLeaf(i) {
		if f.goesLeft(t, i, row[t.Feature[i]]) {
			i = t.Left[i]
		} else {
			i = t.Right[i]
		}
	}
	return i
}

// TestCompiledWalksMatchTheTrees checks each compiled walk (the compact
// form, direct, with category splits, float32) against the stored trees on
// rows with missing values, ignored category values and values on the
// thresholds themselves.
func TestCompiledWalksMatchTheTrees(t *testing.T) {
	features, cols, y := smallData(4000, 11)
	numeric := features[:3]
	// The same codes declared with 70 levels: too many for a direct walk.
	wide := append(append([]Feature{}, features[:3]...), Feature{Name: "cat", Categorical: true, Levels: 70})
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name     string
		features []Feature
		cols     [][]float64
		depth    int
		direct   bool
		compact  bool // where compactWalk
	}{
		{"direct", numeric, cols[:3], 6, true, true},
		{"direct, shallow", numeric, cols[:3], 2, true, true},
		{"direct, deep", numeric, cols[:3], 9, true, false},
		{"categories", features, cols, 6, true, false},
		{"many levels", wide, cols, 6, false, false},
	} {
		f, err := Fit(context.Background(), tc.features, tc.cols, y, nil, Options{Trees: 37, MaxDepth: tc.depth, NoEarlyStopping: true})
		if err != nil {
			t.Fatal(err)
		}
		if f.direct != tc.direct {
			t.Fatalf("%s: direct = %v", tc.name, f.direct)
		}
		if got := f.compact != nil; got != (tc.compact && compactWalk) {
			t.Fatalf("%s: compact form = %v", tc.name, got)
		}
		f32, err := newForest(f.features, f.base, f.trees, f.params, true)
		if err != nil {
			t.Fatal(err)
		}
		var thresholds []float64
		for _, tr := range f.trees {
			for i := range tr.Left {
				if !tr.isLeaf(int32(i)) && tr.Categories == nil {
					thresholds = append(thresholds, tr.Threshold[i])
				}
			}
		}
		missingLeft, missingRight := 0, 0
		for _, tr := range f.trees {
			for i := range tr.Left {
				if !tr.isLeaf(int32(i)) {
					if tr.DefaultLeft[i] {
						missingLeft++
					} else {
						missingRight++
					}
				}
			}
		}
		if missingLeft == 0 || missingRight == 0 {
			t.Fatalf("%s: missing values go left at %d splits and right at %d; both are needed", tc.name, missingLeft, missingRight)
		}
		row := make([]float64, len(tc.features))
		for n := 0; n < 20000; n++ {
			for j := range row {
				switch k := r.IntN(10); {
				case k == 0:
					row[j] = math.NaN()
				case k == 1 && len(thresholds) > 0:
					row[j] = thresholds[r.IntN(len(thresholds))]
				case tc.features[j].Categorical && k == 2:
					row[j] = -1
				case tc.features[j].Categorical:
					row[j] = float64(r.IntN(tc.features[j].Levels))
				default:
					row[j] = cols[j][r.IntN(len(cols[j]))]
				}
			}
			if got, want := f.LogOdds(row), f.walk(row); got != want {
				t.Fatalf("%s %v: LogOdds %v, the trees say %v", tc.name, row, got, want)
			}
			if got, want := f32.LogOdds(row), f32.walk(row); got != want {
				t.Fatalf("%s float32 %v: LogOdds %v, the trees say %v", tc.name, row, got, want)
			}
		}
	}
}

// TestCompactWalkOfLeavesAndMixedDepths: a forest of single leaves (depth
// 0) and one whose trees end at different depths, with a tree count that
// leaves the last block part empty, sum as the stored trees do.
func TestCompactWalkOfLeavesAndMixedDepths(t *testing.T) {
	features := []Feature{{Name: "a"}, {Name: "b"}}
	leaf := func(v float64) *tree {
		return &tree{Left: []int32{-1}, Right: []int32{-1}, Feature: []int32{-1}, Threshold: []float64{0},
			DefaultLeft: []bool{false}, Value: []float64{v}, Cover: []float64{1}, Gain: []float64{0}}
	}
	// a < 1 ? (b < 2 ? 0.1 : 0.2) : 0.3, missing a right, missing b left.
	lopsided := func(v float64) *tree {
		return &tree{Left: []int32{1, 3, -1, -1, -1}, Right: []int32{2, 4, -1, -1, -1}, Feature: []int32{0, 1, -1, -1, -1},
			Threshold: []float64{1, 2, 0, 0, 0}, DefaultLeft: []bool{false, true, false, false, false},
			Value: []float64{0, 0, 0.3 * v, 0.1 * v, 0.2 * v}, Cover: []float64{4, 2, 2, 1, 1}, Gain: []float64{1, 1, 0, 0, 0}}
	}
	var stumps, mixed []*tree
	for k := range 11 {
		stumps = append(stumps, leaf(float64(k)/7))
		if k%3 == 0 {
			mixed = append(mixed, leaf(float64(k)/5))
		} else {
			mixed = append(mixed, lopsided(float64(k)))
		}
	}
	many := make([]*tree, 1000)
	for k := range many {
		many[k] = leaf(1)
	}
	if f, err := newForest(features, 0, many, Params{}, false); err != nil || f.compact != nil || f.LogOdds([]float64{0, 0}) != 1000 {
		t.Fatalf("1,000 stumps: %v; compact form %v (1.1 MB against 16 KB of nodes)", err, f != nil && f.compact != nil)
	}
	rows := [][]float64{{0, 0}, {1, 2}, {0.5, 3}, {math.NaN(), 0}, {0, math.NaN()}, {math.NaN(), math.NaN()}, {-1e300, 1e300}}
	for _, tc := range []struct {
		name  string
		trees []*tree
		depth int
	}{{"leaves", stumps, 0}, {"mixed depths", mixed, 2}} {
		for _, f32 := range []bool{false, true} {
			f, err := newForest(features, 0.25, tc.trees, Params{}, f32)
			if err != nil {
				t.Fatal(err)
			}
			if compactWalk && (f.compact == nil || f.maxDepth != tc.depth) {
				t.Fatalf("%s: compact form %v of depth %d, want depth %d", tc.name, f.compact != nil, f.maxDepth, tc.depth)
			}
			for _, row := range rows {
				if got, want := f.LogOdds(row), f.walk(row); got != want {
					t.Fatalf("%s (float32 %v) %v: LogOdds %v, the trees say %v", tc.name, f32, row, got, want)
				}
			}
		}
	}
}
