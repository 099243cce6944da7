package gbdt

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// smallData is a table with a number feature that has missing cells, two
// more numbers and a category of 6 levels, with an interaction the trees
// must split on repeatedly.
func smallData(n int, seed uint64) ([]Feature, [][]float64, []uint8) {
	r := rand.New(rand.NewPCG(seed, 1))
	features := []Feature{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "cat", Categorical: true, Levels: 6}}
	cols := make([][]float64, len(features))
	y := make([]uint8, n)
	for i := 0; i < n; i++ {
		a, b, c := r.NormFloat64(), r.NormFloat64(), r.Float64()
		cat := float64(r.IntN(6))
		z := 1.5*a*b + math.Sin(3*c) + []float64{-1, 0.5, 1, -0.5, 2, 0}[int(cat)]
		if r.Float64() < 0.1 {
			a = math.NaN()
			z += 0.7
		}
		cols[0] = append(cols[0], a)
		cols[1] = append(cols[1], b)
		cols[2] = append(cols[2], c)
		cols[3] = append(cols[3], cat)
		if r.Float64() < 1/(1+math.Exp(-z)) {
			y[i] = 1
		}
	}
	return features, cols, y
}

// condExpect is E[tree(x) | x_S] as the path-dependent algorithm defines it
// (Lundberg et al. 2018, Algorithm 1): follow x where the split's feature is
// in S, else average both children by cover.
func (f *Forest) condExpect(t *tree, i int32, row []float64, in func(int32) bool) float64 {
	if t.isLeaf(i) {
		return t.Value[i]
	}
	if in(t.Feature[i]) {
		if f.goesLeft(t, i, row[t.Feature[i]]) {
			return f.condExpect(t, t.Left[i], row, in)
		}
		return f.condExpect(t, t.Right[i], row, in)
	}
	l, r := t.Left[i], t.Right[i]
	return (t.Cover[l]*f.condExpect(t, l, row, in) + t.Cover[r]*f.condExpect(t, r, row, in)) / t.Cover[i]
}

// bruteShapley computes each feature's Shapley value by summing over every
// subset of the other features.
func (f *Forest) bruteShapley(row []float64) (phi []float64, bias float64) {
	m := len(f.features)
	value := func(set uint) float64 {
		v := f.base
		for _, t := range f.trees {
			v += f.condExpect(t, 0, row, func(j int32) bool { return set&(1<<j) != 0 })
		}
		return v
	}
	fact := func(k int) float64 {
		r := 1.0
		for i := 2; i <= k; i++ {
			r *= float64(i)
		}
		return r
	}
	phi = make([]float64, m)
	for i := 0; i < m; i++ {
		for set := uint(0); set < 1<<m; set++ {
			if set&(1<<i) != 0 {
				continue
			}
			s := 0
			for j := 0; j < m; j++ {
				if set&(1<<j) != 0 {
					s++
				}
			}
			w := fact(s) * fact(m-s-1) / fact(m)
			phi[i] += w * (value(set|1<<i) - value(set))
		}
	}
	return phi, value(0)
}

func TestExplainEqualsBruteForceShapley(t *testing.T) {
	features, cols, y := smallData(3000, 7)
	for _, cat := range []string{CategoricalPartition, CategoricalOneHot} {
		forest, err := Fit(context.Background(), features, cols, y, nil,
			Options{Trees: 8, MaxDepth: 5, NoEarlyStopping: true, Categorical: cat})
		if err != nil {
			t.Fatal(err)
		}
		forest.fastOnce.Do(forest.buildFast)
		for i, ft := range forest.fast {
			if ft == nil {
				t.Fatalf("%s: tree %d has no tables; the test would not exercise them", cat, i)
			}
		}
		repeated := false
		for _, tr := range forest.trees {
			seen := map[int32]bool{}
			for i := range tr.Left {
				if !tr.isLeaf(int32(i)) {
					repeated = repeated || seen[tr.Feature[i]]
					seen[tr.Feature[i]] = true
				}
			}
		}
		if !repeated {
			t.Fatalf("%s: no tree splits on a feature twice; the test would not exercise unwinding", cat)
		}
		rows := [][]float64{
			{0.3, -1.2, 0.5, 2},
			{math.NaN(), 0.8, 0.1, 4},
			{-2, 2, 0.9, math.NaN()},
			{1, 1, 0.3, -1}, // a category value the schema ignores
		}
		out := make([]float64, len(features))
		exact := make([]float64, len(features))
		for _, row := range rows {
			bias := forest.Explain(row, out)
			if forest.explain(row, exact, nil) != bias {
				t.Errorf("%s %v: Algorithm 2 and the tables disagree on the bias", cat, row)
			}
			for j := range out {
				if math.Abs(out[j]-exact[j]) > 1e-9 {
					t.Errorf("%s %v: feature %s: tables %v, Algorithm 2 %v", cat, row, features[j].Name, out[j], exact[j])
				}
			}
			for j := range exact {
				if math.Abs(exact[j]-forest.bruteShapleyFeature(row, j)) > 1e-9 {
					t.Errorf("%s %v: feature %s: Algorithm 2 %v differs from brute force", cat, row, features[j].Name, exact[j])
				}
			}
			want, wantBias := forest.bruteShapley(row)
			if math.Abs(bias-wantBias) > 1e-12 {
				t.Errorf("%s %v: bias %v, brute force %v", cat, row, bias, wantBias)
			}
			sum := bias
			for j := range out {
				sum += out[j]
				if math.Abs(out[j]-want[j]) > 1e-9 {
					t.Errorf("%s %v: feature %s: TreeSHAP %v, brute force %v", cat, row, features[j].Name, out[j], want[j])
				}
			}
			if z := forest.LogOdds(row); math.Abs(sum-z) > 1e-9 {
				t.Errorf("%s %v: bias + Σ contributions = %v, LogOdds %v", cat, row, sum, z)
			}
		}
	}
}

func (f *Forest) bruteShapleyFeature(row []float64, j int) float64 {
	phi, _ := f.bruteShapley(row)
	return phi[j]
}
