package gbdt

// TreeSHAP with precomputed leaf tables, in the spirit of Fast TreeSHAP v2
// (Yang 2021, "Fast TreeSHAP: Accelerating SHAP Value Computation for
// Trees"). For a leaf whose path splits on the distinct features P (d of
// them), feature i ∈ P with zero fraction z_i (the product of the cover
// ratios of its splits on the path) and one fraction o_i (1 when the row
// takes all of them, else 0) receives
//
//	v · (o_i − z_i) · Σ_{S ⊆ H∖{i}} |S|!(d−|S|−1)!/d! · Π_{j ∈ P∖S∖{i}} z_j
//
// where H is the set of features the row takes every split of. Only H
// depends on the row, so the sum is tabulated once per leaf for every subset
// A of P as G(A) = v · Σ_{S⊆A} |S|!(d−|S|−1)!/d! · Π_{j∈P∖S} z_j, and i's share
// is (o_i − z_i)/z_i · G(H∖{i}). A row then costs one pass over the tree's
// nodes and d lookups a leaf, instead of Algorithm 2's d² path updates.
// Tables take 2^d numbers a leaf, so trees whose paths are too long for
// them, or whose zero fractions are 0, keep Algorithm 2.

const (
	// fastMaxPath is the most distinct features a path may split on for
	// its leaf to be tabulated (2^12 numbers).
	fastMaxPath = 12
	// fastMaxTable caps the numbers all tables of a forest may hold (32 MiB).
	fastMaxTable = 1 << 22
)

// fastTree is one tree's tables; nil for a tree Algorithm 2 explains.
type fastTree struct {
	bit  []uint8     // per split node: its feature's position in the path's distinct features
	leaf []fastLeaf  // per node; meaningful at leaves
	path []fastShare // the leaves' features, d per leaf
	g    []float64   // the leaves' tables, 2^d per leaf
}

type fastLeaf struct {
	d       uint8
	path, g int32 // offsets into fastTree.path and fastTree.g
}

// pathStep is a distinct feature of the path being walked and its zero fraction.
type pathStep struct {
	feature int32
	z       float64
}

// fastShare is one feature of a leaf's path: where its share goes, and the
// factor (o−z)/z for o = 1 (taken) and o = 0.
type fastShare struct {
	feature   int32
	hot, cold float64
}

// buildFast tabulates every tree it can within fastMaxTable; the others
// stay nil.
func (f *Forest) buildFast() {
	f.fast = make([]*fastTree, len(f.trees))
	budget := fastMaxTable
	for i, t := range f.trees {
		ft := tabulate(t, budget)
		if ft != nil {
			budget -= len(ft.g)
			f.fast[i] = ft
		}
	}
}

// tabulate returns t's tables, or nil when they would exceed budget, a
// path splits on more than fastMaxPath features, or a zero fraction is 0.
func tabulate(t *tree, budget int) *fastTree {
	ft := &fastTree{bit: make([]uint8, t.size()), leaf: make([]fastLeaf, t.size())}
	var path []pathStep
	var walk func(i int32) bool
	walk = func(i int32) bool {
		if t.isLeaf(i) {
			d := len(path)
			if d > fastMaxPath || len(ft.g)+1<<d > budget {
				return false
			}
			lf := fastLeaf{d: uint8(d), path: int32(len(ft.path)), g: int32(len(ft.g))}
			for _, s := range path {
				if !(s.z > 0) {
					return false
				}
				ft.path = append(ft.path, fastShare{feature: s.feature, hot: (1 - s.z) / s.z, cold: -1})
			}
			ft.g = append(ft.g, leafTable(path, t.Value[i])...)
			ft.leaf[i] = lf
			return true
		}
		f := t.Feature[i]
		k := len(path)
		for j, s := range path {
			if s.feature == f {
				k = j
				break
			}
		}
		added := k == len(path)
		if added {
			if k >= fastMaxPath {
				return false
			}
			path = append(path, pathStep{feature: f, z: 1})
		}
		ft.bit[i] = uint8(k)
		for _, c := range []int32{t.Left[i], t.Right[i]} {
			z := path[k].z
			path[k].z *= t.Cover[c] / t.Cover[i]
			ok := walk(c)
			path[k].z = z
			if !ok {
				return false
			}
		}
		if added {
			path = path[:k]
		}
		return true
	}
	if !walk(0) {
		return nil
	}
	return ft
}

// leafTable returns G(A) for every subset A of the path's features (bit k
// of A is the path's k-th feature), scaled by the leaf value v.
func leafTable(path []pathStep, v float64) []float64 {
	d := len(path)
	// weight[s] = s!(d−s−1)!/d!, the Shapley weight of a subset of size s
	weight := make([]float64, max(d, 1))
	for s := range weight {
		w := 1.0 / float64(d)
		for k := 1; k <= s; k++ { // s!(d−s−1)!/d! = 1/(d·C(d−1, s))
			w *= float64(k) / float64(d-k)
		}
		weight[s] = w
	}
	g := make([]float64, 1<<d)
	for set := range g {
		size := 0
		term := v
		for k := 0; k < d; k++ {
			if set&(1<<k) != 0 {
				size++
			} else {
				term *= path[k].z
			}
		}
		if size < d {
			g[set] = term * weight[size]
		}
	}
	for k := 0; k < d; k++ { // sum over subsets: G(A) = Σ_{S⊆A} term(S)
		for set := range g {
			if set&(1<<k) != 0 {
				g[set] += g[set^(1<<k)]
			}
		}
	}
	return g
}

// fastShap adds tree t's shares for row to phi; taken has bit k set while
// the row takes every split on the path's k-th feature so far.
func (f *Forest) fastShap(t *tree, ft *fastTree, i int32, taken uint32, row, phi []float64) {
	if t.isLeaf(i) {
		lf := &ft.leaf[i]
		g := ft.g[lf.g : lf.g+1<<lf.d]
		taken &= 1<<lf.d - 1
		for k, s := range ft.path[lf.path : lf.path+int32(lf.d)] {
			share := s.cold
			if taken&(1<<k) != 0 {
				share = s.hot
			}
			phi[s.feature] += share * g[taken&^(1<<k)]
		}
		return
	}
	bit := uint32(1) << ft.bit[i]
	if f.goesLeft(t, i, row[t.Feature[i]]) {
		f.fastShap(t, ft, t.Left[i], taken, row, phi)
		f.fastShap(t, ft, t.Right[i], taken&^bit, row, phi)
	} else {
		f.fastShap(t, ft, t.Left[i], taken&^bit, row, phi)
		f.fastShap(t, ft, t.Right[i], taken, row, phi)
	}
}
