package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
)

// FitOptions configures Fit. The zero value is scikit-learn's default
// LogisticRegression, solved to a much tighter tolerance.
type FitOptions struct {
	// C is the inverse of the L2 regularization strength. Zero means 1.
	C float64
	// Balanced weights each row by n/(2·n_class), scikit-learn's
	// class_weight="balanced", so both classes weigh the same in the loss.
	Balanced bool
	// GradientTolerance stops the solver once the largest component of the
	// gradient of the mean weighted loss is below it. Zero means 1e-8, which
	// puts the coefficients within about 1e-7 of the exact optimum in about
	// ten passes over the data. Much below that, the decrease a step can make
	// falls under float64 resolution of the loss and line searches stall.
	GradientTolerance float64
	// MaxIterations caps L-BFGS iterations. Zero means 1000.
	MaxIterations int
	// Workers is how many goroutines evaluate the loss. Zero means
	// GOMAXPROCS. The result does not depend on it.
	Workers int
}

// DefaultGradientTolerance is FitOptions.GradientTolerance's zero value.
const DefaultGradientTolerance = 1e-8

// FitResult describes how the solver ended.
type FitResult struct {
	Iterations  int     `json:"iterations"`
	Evaluations int     `json:"evaluations"`
	GradientMax float64 `json:"gradient_max"` // largest |component| of the final gradient
	Status      string  `json:"status"`       // gonum's termination status
	Converged   bool    `json:"converged"`    // the gradient met the tolerance
}

// ErrNotConverged is returned by Fit when the solver stopped (iteration limit
// or a failed line search) with a gradient still far from zero.
var ErrNotConverged = errors.New("logistic regression did not converge")

// blockRows is the unit of parallel work in the loss. The partition depends
// only on the row count and partial sums are added in block order, so the
// fitted model is the same bit for bit whatever the number of workers.
const blockRows = 4096

// Fit standardizes the selected rows and fits an L2-regularized logistic
// regression to them, minimizing scikit-learn's objective
//
//	C·Σ wᵢ·logloss(xᵢ, yᵢ) + ½‖coef‖²   (intercept not penalized)
//
// with gonum's L-BFGS. X[j] is column j, a number feature named
// features[j]; y holds 0/1 labels, rows selects the training rows (nil:
// all). Both classes must be present among them. Fit checks ctx before
// every evaluation of the loss (one pass over the rows) and returns
// ctx.Err() once it is done.
func Fit(ctx context.Context, features []string, X [][]float64, y []uint8, rows []bool, opts FitOptions) (*Logistic, FitResult, error) {
	layout := make(Layout, len(features))
	for j, name := range features {
		layout[j] = Feature{Name: name, Kind: Number}
	}
	if len(features) != len(X) {
		return nil, FitResult{}, fmt.Errorf("%d feature names for %d columns", len(features), len(X))
	}
	return FitLogistic(ctx, layout, X, y, rows, opts)
}

// FitLogistic is Fit on rows of layout: X[j] is feature j's column, a
// category's as codes (see the package documentation). The model's columns
// are the numbers, standardized, then each category's levels one-hot
// encoded and not standardized (a feature that may be missing imputed
// first, see imputeColumns) (mean 0, scale 1), as scikit-learn's
// ColumnTransformer leaves a OneHotEncoder's output: layout.EncodedNames().
// The codes are read as they are: a 1M-row table with 60 one-hot columns
// costs its code columns, not a matrix of zeros.
func FitLogistic(ctx context.Context, layout Layout, X [][]float64, y []uint8, rows []bool, opts FitOptions) (*Logistic, FitResult, error) {
	if len(layout) != len(X) {
		return nil, FitResult{}, fmt.Errorf("%d features for %d columns", len(layout), len(X))
	}
	X, impute := imputeColumns(layout, X, rows)
	var nums [][]float64
	var cats []categorical
	for j, f := range layout {
		if f.Kind == Category {
			cats = append(cats, categorical{codes: X[j], levels: len(f.Levels) + missingLevels(f)})
		} else {
			nums = append(nums, X[j])
		}
	}
	features := layout.EncodedNames()
	counts, err := checkFitInput(features, nums, cats, y, rows)
	if err != nil {
		return nil, FitResult{}, err
	}
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, FitResult{}, err
	}
	mean, scale := []float64{}, []float64{}
	if len(nums) > 0 {
		mean, scale = FitScaler(nums, rows)
	}
	obj := newObjective(nums, y, rows, mean, scale, opts.Workers)
	obj.cats = cats
	for _, c := range cats {
		obj.d += c.levels
		mean = append(mean, make([]float64, c.levels)...)
		for range c.levels {
			scale = append(scale, 1)
		}
		m, inv := levelScaling(c, rows)
		obj.catMean, obj.catInv = append(obj.catMean, m...), append(obj.catInv, inv...)
	}
	obj.catW = make([]float64, len(obj.catMean))
	obj.allocate()
	obj.weigh(counts, opts)

	res, err := minimize(ctx, obj, obj.d, opts)
	if ctx.Err() != nil {
		return nil, FitResult{}, ctx.Err()
	}
	if res == nil {
		return nil, FitResult{}, fmt.Errorf("fit logistic regression: %w", err)
	}
	result, err := judge(res, opts)
	if err != nil {
		return nil, result, err
	}
	coef, intercept := obj.rawWeights(res.X)
	m, err := NewLogisticImputed(layout, features, mean, scale, coef[:obj.d], intercept, impute)
	if err != nil {
		return nil, result, fmt.Errorf("fitted model: %w", err)
	}
	return m, result, nil
}

// categorical is a one-hot encoded feature given by its codes: in row i the
// column codes[i] of its levels columns is 1 and the others 0, and any
// other value (-1, NaN) makes them all 0.
type categorical struct {
	codes  []float64
	levels int
}

// checkFitInput checks the shapes and labels and counts the selected rows
// of each class.
func checkFitInput(features []string, X [][]float64, cats []categorical, y []uint8, rows []bool) ([2]float64, error) {
	var counts [2]float64
	d := len(X)
	for k, c := range cats {
		if len(c.codes) != len(y) {
			return counts, fmt.Errorf("categorical %d has %d rows, labels have %d", k, len(c.codes), len(y))
		}
		if c.levels <= 0 {
			return counts, fmt.Errorf("categorical %d has %d levels", k, c.levels)
		}
		for i, code := range c.codes {
			if code >= float64(c.levels) || code >= 0 && code != math.Trunc(code) {
				return counts, fmt.Errorf("categorical %d row %d has code %v of %d levels", k, i, code, c.levels)
			}
		}
		d += c.levels
	}
	if d == 0 {
		return counts, errors.New("no features")
	}
	if len(features) != d {
		return counts, fmt.Errorf("%d feature names for %d columns", len(features), d)
	}
	for j, col := range X {
		if len(col) != len(y) {
			return counts, fmt.Errorf("column %q has %d rows, labels have %d", features[j], len(col), len(y))
		}
	}
	if rows != nil && len(rows) != len(y) {
		return counts, fmt.Errorf("rows mask has %d entries for %d rows", len(rows), len(y))
	}
	for i, label := range y {
		if rows == nil || rows[i] {
			if label > 1 {
				return counts, fmt.Errorf("label %d at row %d is not 0 or 1", label, i)
			}
			counts[label]++
		}
	}
	if counts[0] == 0 || counts[1] == 0 {
		return counts, fmt.Errorf("both classes are needed to fit, got %v rows of class 0 and %v of class 1", counts[0], counts[1])
	}
	return counts, nil
}

// withDefaults replaces zero fields by their documented defaults and checks
// C.
func (o FitOptions) withDefaults() (FitOptions, error) {
	if o.C == 0 {
		o.C = 1
	}
	if o.C < 0 || math.IsNaN(o.C) || math.IsInf(o.C, 0) {
		return o, fmt.Errorf("C must be positive and finite, got %v", o.C)
	}
	if o.GradientTolerance == 0 {
		o.GradientTolerance = DefaultGradientTolerance
	}
	if o.MaxIterations == 0 {
		o.MaxIterations = 1000
	}
	return o, nil
}

// weigh sets the class weights and the loss's scale. Dividing the objective
// by Σwᵢ leaves its minimizer alone and makes the gradient tolerance
// independent of the number of rows (scikit-learn scales it the same way).
func (o *objective) weigh(counts [2]float64, opts FitOptions) {
	o.classWeight = [2]float64{1, 1}
	if opts.Balanced {
		n := counts[0] + counts[1]
		o.classWeight = [2]float64{n / (2 * counts[0]), n / (2 * counts[1])}
	}
	sw := o.classWeight[0]*counts[0] + o.classWeight[1]*counts[1]
	o.lossScale = 1 / sw
	o.l2 = 1 / (opts.C * sw)
}

// minimize runs L-BFGS on obj over x = coef₀…coef_{d−1}, intercept,
// starting from zero as scikit-learn does.
func minimize(ctx context.Context, obj *objective, d int, opts FitOptions) (*optimize.Result, error) {
	problem := optimize.Problem{
		Func: obj.value,
		Grad: obj.gradient,
		// gonum calls Status before every evaluation.
		Status: func() (optimize.Status, error) {
			if err := ctx.Err(); err != nil {
				return optimize.Failure, err
			}
			return optimize.NotTerminated, nil
		},
	}
	settings := &optimize.Settings{
		GradientThreshold: opts.GradientTolerance,
		MajorIterations:   opts.MaxIterations,
		Converger:         optimize.NeverTerminate{},
		Recorder:          &stallGuard{},
	}
	return optimize.Minimize(problem, make([]float64, d+1), settings, &optimize.LBFGS{Store: 10})
}

// judge describes how the solver ended and fails a fit whose gradient is
// still clearly large. A line search can stall a hair above the tolerance
// when the remaining decrease is below float64 resolution; that point is
// the optimum for every practical purpose.
func judge(res *optimize.Result, opts FitOptions) (FitResult, error) {
	tol := opts.GradientTolerance
	result := FitResult{
		Iterations:  res.Stats.MajorIterations,
		Evaluations: res.Stats.FuncEvaluations,
		GradientMax: floats.Norm(res.Gradient, math.Inf(1)),
		Status:      res.Status.String(),
	}
	result.Converged = result.GradientMax <= tol
	if !result.Converged && !(result.GradientMax <= 1e3*tol && res.Status != optimize.IterationLimit) {
		return result, fmt.Errorf("%w: %s after %d iterations, gradient %.3g (tolerance %.3g)",
			ErrNotConverged, res.Status, result.Iterations, result.GradientMax, tol)
	}
	return result, nil
}

// maxLineSearchEvals bounds the evaluations one line search may take. A
// search that needs more has run into the float64 resolution of the loss
// near the optimum; left alone it halves its step some sixty times, each
// a pass over the data.
const maxLineSearchEvals = 12

var errLineSearchStalled = errors.New("line search stalled")

// stallGuard stops the solver when a line search stalls; Fit then judges the
// last accepted point by its gradient.
type stallGuard struct{ evalsAtMajor int }

func (g *stallGuard) Init() error { g.evalsAtMajor = 0; return nil }

func (g *stallGuard) Record(_ *optimize.Location, op optimize.Operation, st *optimize.Stats) error {
	if op == optimize.MajorIteration {
		g.evalsAtMajor = st.FuncEvaluations
	} else if st.FuncEvaluations-g.evalsAtMajor > maxLineSearchEvals {
		return errLineSearchStalled
	}
	return nil
}

// objective evaluates the scaled loss and its gradient in one pass over the
// data and caches the gradient, because gonum asks for the value and then
// the gradient at the same point.
type objective struct {
	X    [][]float64
	cats []categorical // one-hot features, after X's columns
	d    int           // columns: len(X) plus every categorical's levels
	// The one-hot columns are optimized centered and scaled like the
	// numbers (an exact change of variables: the intercept is unpenalized
	// and the penalty keeps the raw coefficients' scale), which removes
	// their collinearity with the intercept and evens their curvature:
	// L-BFGS then needs a fraction of the iterations. Per level, after X's:
	catMean, catInv []float64
	catW            []float64 // per evaluation: the raw one-hot weights
	y               []uint8
	rows            []bool
	mean, inv       []float64
	classWeight     [2]float64
	lossScale       float64
	l2              float64
	workers         int

	partials [][]float64 // per block: gradient (d+1 values), then loss

	cacheX    []float64
	cacheF    float64
	cacheGrad []float64
}

func newObjective(X [][]float64, y []uint8, rows []bool, mean, scale []float64, workers int) *objective {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	d := len(X)
	inv := make([]float64, d)
	for j, s := range scale {
		inv[j] = 1 / s
	}
	o := &objective{X: X, d: d, y: y, rows: rows, mean: mean, inv: inv, workers: workers}
	o.allocate()
	return o
}

// allocate sizes the per-block partial sums for o.d columns.
func (o *objective) allocate() {
	nblocks := (len(o.y) + blockRows - 1) / blockRows
	o.partials = make([][]float64, nblocks)
	for b := range o.partials {
		o.partials[b] = make([]float64, o.d+2)
	}
	o.cacheGrad = make([]float64, o.d+1)
}

func (o *objective) value(x []float64) float64 {
	o.evaluate(x)
	return o.cacheF
}

func (o *objective) gradient(grad, x []float64) {
	o.evaluate(x)
	copy(grad, o.cacheGrad)
}

func (o *objective) evaluate(x []float64) {
	if o.cacheX != nil && floats.Equal(o.cacheX, x) {
		return
	}
	d := o.d
	coef := x[:d]
	intercept := o.prepare(x)

	nblocks := len(o.partials)
	var wg sync.WaitGroup
	next := make(chan int, nblocks)
	for b := range nblocks {
		next <- b
	}
	close(next)
	for range min(o.workers, nblocks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]float64, 2*blockRows)
			for b := range next {
				lo := b * blockRows
				hi := min(lo+blockRows, len(o.y))
				o.block(lo, hi, coef, intercept, buf, o.partials[b])
			}
		}()
	}
	wg.Wait()

	grad := o.cacheGrad
	clear(grad)
	loss := 0.0
	for _, p := range o.partials {
		floats.Add(grad, p[:d+1])
		loss += p[d+1]
	}
	loss *= o.lossScale
	nx := len(o.X)
	for l, inv := range o.catInv {
		// ∂/∂c'_l of Σ r_i·inv_l·(x_il − m_l): the block summed r_i over
		// the rows at level l, grad[d] holds Σ r_i.
		grad[nx+l] = (grad[nx+l] - o.catMean[l]*grad[d]) * inv
	}
	floats.Scale(o.lossScale, grad)
	for j, c := range coef {
		pen := 1.0
		if j >= nx {
			pen = o.catInv[j-nx] * o.catInv[j-nx] // the penalty is on the raw coefficient c'·inv
		}
		loss += 0.5 * o.l2 * pen * c * c
		grad[j] += o.l2 * pen * c
	}
	o.cacheF = loss
	o.cacheX = append(o.cacheX[:0], x...)
}

// block accumulates the weighted loss and its gradient over rows [lo, hi)
// into part. Working column by column over a block keeps every loop a
// straight pass over contiguous memory; the time goes into exp and log1p.
func (o *objective) block(lo, hi int, coef []float64, intercept float64, buf, part []float64) {
	n := hi - lo
	z, r := buf[:n], buf[blockRows:blockRows+n]
	for k := range z {
		z[k] = intercept
	}
	// Columns two at a time: half the passes over z.
	j := 0
	for ; j+1 < len(o.X); j += 2 {
		c0, m0, w0 := o.X[j][lo:hi], o.mean[j], coef[j]*o.inv[j]
		c1, m1, w1 := o.X[j+1][lo:hi], o.mean[j+1], coef[j+1]*o.inv[j+1]
		c1 = c1[:len(c0)]
		z := z[:len(c0)]
		for k, v := range c0 {
			z[k] += w0*(v-m0) + w1*(c1[k]-m1)
		}
	}
	if j < len(o.X) {
		c, m, w := o.X[j][lo:hi], o.mean[j], coef[j]*o.inv[j]
		for k, v := range c {
			z[k] += w * (v - m)
		}
	}
	off := 0
	for _, c := range o.cats {
		w := o.catW[off : off+c.levels]
		for k, code := range c.codes[lo:hi] {
			if code >= 0 {
				z[k] += w[int(code)]
			}
		}
		off += c.levels
	}
	y := o.y[lo:hi]
	var rows []bool
	if o.rows != nil {
		rows = o.rows[lo:hi]
	}
	// logloss = log(1+e^z) − y·z = log(1+e^−|z|) + max(z,0) − y·z, without
	// overflow. A log per row would be half the time of the whole fit, so the
	// factors 1+e^−|z| ∈ (1, 2] are multiplied per class (the class weight is
	// the same for all its rows) and the log taken once every 256 rows: the
	// product stays below 2²⁵⁶ and its rounding error is no larger than that
	// of adding 256 logs.
	cw := o.classWeight
	prod := [2]float64{1, 1}
	loss, rsum := 0.0, 0.0
	for k, zk := range z {
		if k&255 == 255 {
			loss += cw[0]*math.Log(prod[0]) + cw[1]*math.Log(prod[1])
			prod = [2]float64{1, 1}
		}
		if rows != nil && !rows[k] {
			r[k] = 0
			continue
		}
		label := y[k] & 1
		w, yk := cw[label], float64(label)
		e := math.Exp(-math.Abs(zk))
		d := 1 + e
		prod[label] *= d
		p := 1 / d
		if zk >= 0 {
			loss += w * (zk - yk*zk)
		} else {
			loss -= w * yk * zk
			p = e / d
		}
		r[k] = w * (p - yk)
		rsum += r[k]
	}
	loss += cw[0]*math.Log(prod[0]) + cw[1]*math.Log(prod[1])
	r = r[:n]
	j = 0
	for ; j+1 < len(o.X); j += 2 {
		c0, m0 := o.X[j][lo:hi], o.mean[j]
		c1, m1 := o.X[j+1][lo:hi], o.mean[j+1]
		c1 = c1[:len(c0)]
		r := r[:len(c0)]
		g0, g1 := 0.0, 0.0
		for k, v := range c0 {
			g0 += r[k] * (v - m0)
			g1 += r[k] * (c1[k] - m1)
		}
		part[j], part[j+1] = g0*o.inv[j], g1*o.inv[j+1]
	}
	if j < len(o.X) {
		c, m := o.X[j][lo:hi], o.mean[j]
		g := 0.0
		for k, v := range c {
			g += r[k] * (v - m)
		}
		part[j] = g * o.inv[j]
	}
	off = len(o.X)
	for _, c := range o.cats {
		g := part[off : off+c.levels]
		clear(g)
		for k, code := range c.codes[lo:hi] {
			if code >= 0 {
				g[int(code)] += r[k]
			}
		}
		off += c.levels
	}
	part[o.d] = rsum
	part[o.d+1] = loss
}

// levelScaling returns, per level of c over the selected rows, the share of
// rows at that level (the one-hot column's mean) and 1/its population
// standard deviation (1 for a constant column).
func levelScaling(c categorical, rows []bool) (mean, inv []float64) {
	counts := make([]float64, c.levels)
	n := 0.0
	for i, code := range c.codes {
		if rows != nil && !rows[i] {
			continue
		}
		n++
		if code >= 0 {
			counts[int(code)]++
		}
	}
	mean, inv = make([]float64, c.levels), make([]float64, c.levels)
	for l, k := range counts {
		p := k / n
		sd := math.Sqrt(p * (1 - p))
		mean[l], inv[l] = p, 1
		if sd > 1e-12 {
			inv[l] = 1 / sd
		} else {
			mean[l] = 0
		}
	}
	return mean, inv
}

// prepare computes the raw one-hot weights for the point x and returns the
// intercept the blocks start from.
func (o *objective) prepare(x []float64) float64 {
	intercept := x[o.d]
	nx := len(o.X)
	for l, inv := range o.catInv {
		w := x[nx+l] * inv
		o.catW[l] = w
		intercept -= w * o.catMean[l]
	}
	return intercept
}

// rawWeights turns the optimizer's point into the model's coefficients
// (one-hot ones on the raw 0/1 scale) and intercept.
func (o *objective) rawWeights(x []float64) ([]float64, float64) {
	coef := append([]float64(nil), x[:o.d]...)
	intercept := o.prepare(x)
	copy(coef[len(o.X):], o.catW)
	return coef, intercept
}
