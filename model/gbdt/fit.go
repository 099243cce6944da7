package gbdt

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// Fit trains a forest for P(label 1) on the rows of cols that mask selects
// (nil: every row). cols[j] is feature j's column, in the row convention of
// the package doc; labels are 0 or 1. ctx is checked between trees. The
// result depends on the data, the options and Seed, never on Workers.
func Fit(ctx context.Context, features []Feature, cols [][]float64, labels []uint8, mask []bool, opts Options) (*Forest, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkFeatures(features); err != nil {
		return nil, fmt.Errorf("gbdt: %w", err)
	}
	if len(cols) != len(features) {
		return nil, fmt.Errorf("gbdt: %d columns for %d features", len(cols), len(features))
	}
	for j, c := range cols {
		if len(c) != len(labels) {
			return nil, fmt.Errorf("gbdt: column %q has %d rows, labels %d", features[j].Name, len(c), len(labels))
		}
	}
	if mask != nil && len(mask) != len(labels) {
		return nil, fmt.Errorf("gbdt: mask has %d rows, labels %d", len(mask), len(labels))
	}
	var rows []int32
	var y []uint8
	var counts [2]int
	for i, l := range labels {
		if mask != nil && !mask[i] {
			continue
		}
		if l > 1 {
			return nil, fmt.Errorf("gbdt: row %d: label %d is not 0 or 1", i, l)
		}
		rows = append(rows, int32(i))
		y = append(y, l)
		counts[l]++
	}
	if len(rows) == 0 {
		return nil, ErrNoRows
	}
	if counts[0] == 0 || counts[1] == 0 {
		return nil, ErrOneClass
	}
	if len(labels) > math.MaxInt32 {
		return nil, fmt.Errorf("gbdt: %d rows, the limit is %d", len(labels), math.MaxInt32)
	}
	data, err := binColumns(features, cols, rows, o.MaxBins, o.Workers)
	if err != nil {
		return nil, fmt.Errorf("gbdt: %w", err)
	}
	rows = nil
	return boost(ctx, features, data, y, o)
}

// boost runs the boosting rounds on binned rows.
func boost(ctx context.Context, features []Feature, data *binned, y []uint8, o Options) (*Forest, error) {
	n := len(y)
	params := Params{
		Source: "trained", MaxDepth: o.MaxDepth, LearningRate: o.LearningRate, Lambda: o.Lambda,
		MinChildWeight: o.MinChildWeight, Subsample: o.Subsample, MaxBins: o.MaxBins,
		Categorical: o.Categorical, EarlyStopping: !o.NoEarlyStopping, Seed: o.Seed,
	}
	var valid []bool
	if params.EarlyStopping {
		valid = validationSplit(y, o.ValidationFraction, o.Seed)
		if valid == nil {
			params.EarlyStopping = false // a class too small to hold rows out
		} else {
			params.Patience = o.Patience
			for _, v := range valid {
				if v {
					params.ValidationRows++
				}
			}
		}
	}
	var pos, all float64
	for i, l := range y {
		if valid == nil || !valid[i] {
			pos += float64(l)
			all++
		}
	}
	base := math.Log(pos / (all - pos))
	pred := make([]float64, n)
	for i := range pred {
		pred[i] = base
	}
	g := &grower{opt: o, data: data, grad: make([]gradPair, n), rows: make([]int32, n), scratch: make([]int32, n),
		pred: pred, y: y, valid: valid}
	var trees []*tree
	best, bestLoss := 0, math.Inf(1)
	for round := 0; round < o.Trees; round++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("gbdt: round %d: %w", round, err)
		}
		g.round = uint64(round)
		t := g.grow()
		parallel(len(g.leaves), o.Workers, func(k int) {
			leaf := &g.leaves[k]
			v := t.Value[leaf.id]
			for _, r := range g.rows[leaf.start:leaf.end] {
				pred[r] += v
			}
		})
		trees = append(trees, t)
		params.RoundsTrained = round + 1
		if !params.EarlyStopping {
			continue
		}
		if loss := validationLoss(pred, y, valid, o.Workers); loss < bestLoss {
			best, bestLoss = round+1, loss
		} else if round+1-best >= o.Patience {
			break
		}
	}
	if params.EarlyStopping {
		trees = trees[:best]
		params.BestIteration, params.BestValidationLoss = best, bestLoss
	}
	return newForest(features, base, trees, params, false)
}

// gradients sets the gradient and hessian of the log-loss at g.pred for
// rows lo..hi-1; validation rows and rows outside this round's sample get
// zero. grow calls it chunk by chunk while it builds the root's histogram,
// so each chunk's gradients are still in cache when they are summed.
func (g *grower) gradients(lo, hi int) {
	sub := g.opt.Subsample
	seed := g.opt.Seed ^ (g.round+1)*0x9e3779b97f4a7c15
	grad, pred, y := g.grad[lo:hi], g.pred[lo:hi], g.y[lo:hi]
	for i, z := range pred {
		p := 1 / (1 + math.Exp(-z))
		h := p * (1 - p)
		if h < 1e-16 {
			h = 1e-16
		}
		grad[i] = gradPair{g: float32(p - float64(y[i])), h: float32(h)}
	}
	if g.valid == nil && sub == 1 {
		return
	}
	for i := range grad {
		if (g.valid != nil && g.valid[lo+i]) || (sub < 1 && unit(seed, uint64(lo+i)) >= sub) {
			grad[i] = gradPair{}
		}
	}
}

// unit hashes (seed, i) to [0, 1): a row's draw for one round, the same
// whichever goroutine asks.
func unit(seed, i uint64) float64 {
	z := seed + i*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

// validationSplit holds out about fraction of each class, chosen by seed; nil
// when a class has fewer than two rows.
func validationSplit(y []uint8, fraction float64, seed uint64) []bool {
	var byClass [2][]int
	for i, l := range y {
		byClass[l] = append(byClass[l], i)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6762647476616c69))
	valid := make([]bool, len(y))
	for _, idx := range byClass {
		if len(idx) < 2 {
			return nil
		}
		k := min(max(1, int(math.Round(fraction*float64(len(idx))))), len(idx)-1)
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for _, i := range idx[:k] {
			valid[i] = true
		}
	}
	return valid
}

// validationLoss is the mean log-loss of the validation rows, summed in
// fixed chunks so that it does not depend on the worker count.
func validationLoss(pred []float64, y []uint8, valid []bool, workers int) float64 {
	const chunk = 1 << 14
	parts := make([]float64, (len(y)+chunk-1)/chunk)
	counts := make([]int, len(parts))
	parallel(len(parts), workers, func(c int) {
		for i := c * chunk; i < min(len(y), (c+1)*chunk); i++ {
			if !valid[i] {
				continue
			}
			z := pred[i]
			if y[i] == 0 {
				z = -z
			}
			parts[c] += softplus(-z)
			counts[c]++
		}
	})
	var sum float64
	var n int
	for c := range parts {
		sum += parts[c]
		n += counts[c]
	}
	return sum / float64(n)
}

// softplus is log(1+e^x) without overflow.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}
