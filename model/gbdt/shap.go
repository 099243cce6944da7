package gbdt

// Exact path-dependent TreeSHAP (Lundberg, Erion and Lee 2018, "Consistent
// Individualized Feature Attribution for Tree Ensembles", Algorithm 2): one
// walk of each tree keeps, along the path from the root, the proportion of
// feature subsets of every size that flow down it, so each leaf can credit
// every feature on its path with its exact Shapley share. Covers weigh the
// branches a row does not take, which makes the bias the expected value over
// the training rows.

// pathElem is one feature on the path: the fraction of cover that flows on
// when the feature is absent (zero) or present (one), and the weight of the
// subsets of each size.
type pathElem struct {
	feature   int32
	zero, one float64
	weight    float64
}

type shapScratch struct{ path []pathElem }

// Explain writes each feature's contribution to LogOdds(row) into out (one
// per feature, in log-odds) and returns the bias, so that bias + Σ out
// equals LogOdds(row) to rounding. The bias is the base score plus each
// tree's expected value over its training cover, the same for every row.
// It panics if row or out is shorter than the features; safe for
// concurrent use.
func (f *Forest) Explain(row, out []float64) (bias float64) {
	f.fastOnce.Do(f.buildFast)
	return f.explain(row, out, f.fast)
}

// explain is Explain with the trees' tables given: nil entries (or a nil
// slice) use Algorithm 2.
func (f *Forest) explain(row, out []float64, fast []*fastTree) float64 {
	_ = row[len(f.features)-1]
	out = out[:len(f.features)]
	clear(out)
	s, _ := f.scratch.Get().(*shapScratch)
	if s == nil {
		d := f.maxDepth + 2
		s = &shapScratch{path: make([]pathElem, d*(d+1)/2)}
	}
	for i, t := range f.trees {
		if fast != nil && fast[i] != nil {
			f.fastShap(t, fast[i], 0, ^uint32(0), row, out)
			continue
		}
		f.treeShap(t, row, out, 0, s.path, 0, 1, 1, -1)
	}
	f.scratch.Put(s)
	return f.bias
}

// treeShap walks node i of t. parent holds the path so far (depth+1
// elements from its start); this call extends a copy of it just past them.
func (f *Forest) treeShap(t *tree, row, phi []float64, i int32, parent []pathElem, depth int, zero, one float64, feature int32) {
	path := parent[depth+1:]
	copy(path, parent[:depth+1])
	extend(path, depth, zero, one, feature)
	if t.isLeaf(i) {
		v := t.Value[i]
		for k := 1; k <= depth; k++ {
			e := &path[k]
			phi[e.feature] += unwoundSum(path, depth, k) * (e.one - e.zero) * v
		}
		return
	}
	split := t.Feature[i]
	hot, cold := t.Right[i], t.Left[i]
	if f.goesLeft(t, i, row[split]) {
		hot, cold = cold, hot
	}
	cover := t.Cover[i]
	inZero, inOne := 1.0, 1.0
	for k := 1; k <= depth; k++ {
		if path[k].feature == split {
			inZero, inOne = path[k].zero, path[k].one
			unwind(path, depth, k)
			depth--
			break
		}
	}
	f.treeShap(t, row, phi, hot, path, depth+1, t.Cover[hot]/cover*inZero, inOne, split)
	f.treeShap(t, row, phi, cold, path, depth+1, t.Cover[cold]/cover*inZero, 0, split)
}

// extend adds a feature at position depth, updating the subset weights.
func extend(path []pathElem, depth int, zero, one float64, feature int32) {
	w := 0.0
	if depth == 0 {
		w = 1
	}
	path[depth] = pathElem{feature: feature, zero: zero, one: one, weight: w}
	d1 := float64(depth + 1)
	for i := depth - 1; i >= 0; i-- {
		path[i+1].weight += one * path[i].weight * float64(i+1) / d1
		path[i].weight = zero * path[i].weight * float64(depth-i) / d1
	}
}

// unwind removes the feature at position k, undoing its extend.
func unwind(path []pathElem, depth, k int) {
	one, zero := path[k].one, path[k].zero
	next := path[depth].weight
	d1 := float64(depth + 1)
	for i := depth - 1; i >= 0; i-- {
		if one != 0 {
			w := path[i].weight
			path[i].weight = next * d1 / (float64(i+1) * one)
			next = w - path[i].weight*zero*float64(depth-i)/d1
		} else {
			path[i].weight = path[i].weight * d1 / (zero * float64(depth-i))
		}
	}
	for i := k; i < depth; i++ {
		path[i].feature, path[i].zero, path[i].one = path[i+1].feature, path[i+1].zero, path[i+1].one
	}
}

// unwoundSum is the total weight the path would have without the feature
// at position k, without changing the path.
func unwoundSum(path []pathElem, depth, k int) float64 {
	one, zero := path[k].one, path[k].zero
	next := path[depth].weight
	d1 := float64(depth + 1)
	total := 0.0
	for i := depth - 1; i >= 0; i-- {
		switch {
		case one != 0:
			w := next * d1 / (float64(i+1) * one)
			total += w
			next = path[i].weight - w*zero*float64(depth-i)/d1
		case zero != 0:
			total += path[i].weight / zero / (float64(depth-i) / d1)
		}
	}
	return total
}
