// Command gen writes the sample day files in data/ and large benchmark files
// with the same shape. Output is byte-for-byte reproducible for the same
// flags, which is what lets the day files be committed and checked by a test.
//
//	go run ./data/gen -out data                          # data/day_01.csv … day_14.csv
//	go run ./data/gen -rows 1000000 -file /tmp/1m.csv    # one benchmark file, day 1's distribution
//
// # Ground truth
//
// Rows are independent. The label comes from a known logistic model of
// transformed features:
//
//	a   = (age − 45) / 15
//	li  = (ln income − ln 50 000) / 0.55
//	bal = account_balance / 10 000
//	tx  = (transactions_last_30d − 15) / 4
//	z   = b0 + s·(0.6·a + 1.0·li + 0.7·bal − 0.9·tx + 0.8·is_premium)
//	target ~ Bernoulli(1 / (1 + e^−z)), then flipped with probability ε
//
// The service's model is linear in the raw columns, so ln income is mildly
// misspecified on purpose: no model recovers the truth exactly.
//
// # Drift
//
// Each day has a regime (s, ε, b0) from the table below and, drawn from the
// day's own seeded stream, small shifts of every feature distribution and a
// ±10% jitter of each coefficient. Label noise and signal strength move the F1
// a model can reach on its own day's holdout; the table is set so that the
// reference policy (train day_01 … day_14 in order, promote iff the new F1 is
// strictly greater than the current one, always promote the first) gives
//
//	promote: day 01, 02, 05, 08, 12
//	reject:  day 03, 04, 06, 07, 09, 10, 11, 13, 14
//
// Every day's F1, averaged over splits, sits at least 0.065 away from the
// model it is compared with: four to five times the ~0.015 by which the choice
// of stratified split moves it. So a trainer's own seeded split gives the same
// sequence, with or without balanced class weights; scikit-learn got it on
// each of 200 splits (data/README.md has the numbers). The table was tuned
// for the default -seed; other seeds usually, not always, give the same.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gocarina/gocsv"
)

// record is one row of the data contract. gocsv writes the header from its
// tags and each field in that order, so the columns are named once, here.
type record struct {
	Age                 int   `csv:"age"`
	Income              money `csv:"income"`
	AccountBalance      money `csv:"account_balance"`
	TransactionsLast30d int   `csv:"transactions_last_30d"`
	IsPremium           int   `csv:"is_premium"`
	Target              int   `csv:"target"`
}

// money is an amount in cents' precision, written with exactly two decimals.
type money float64

func (m money) MarshalCSV() (string, error) {
	return strconv.FormatFloat(float64(m), 'f', 2, 64), nil
}

var logMedianIncome = math.Log(50000)

// regime is the hand-set part of a day's drift.
type regime struct {
	signal float64 // s: scales every ground-truth coefficient; higher separates better
	flip   float64 // ε: label-noise rate; caps the F1 any model can reach
	bias   float64 // b0: sets the positive rate
}

// regimes[d-1] is day d's regime; days past the table reuse it from the start.
var regimes = [...]regime{
	{0.9, 0.14, -1.4},  // 01
	{1.2, 0.07, -1.4},  // 02
	{0.9, 0.14, -1.4},  // 03
	{1.0, 0.10, -1.4},  // 04
	{1.6, 0.035, -1.4}, // 05
	{1.2, 0.08, -1.4},  // 06
	{1.1, 0.08, -1.4},  // 07
	{2.2, 0.015, -1.5}, // 08
	{1.3, 0.06, -1.4},  // 09
	{1.4, 0.05, -1.4},  // 10
	{1.1, 0.09, -1.4},  // 11
	{3.2, 0.005, -2.1}, // 12
	{1.6, 0.04, -1.4},  // 13
	{1.6, 0.04, -1.7},  // 14
}

// dist is everything that shapes one day's rows.
type dist struct {
	ageMean   float64
	logIncome float64 // ln of the median income
	balance   float64 // shift of the balance mean
	txMean    float64 // Poisson-like mean of transactions for non-premium customers
	premium   float64 // log-odds of is_premium at the median income
	coef      [5]float64
	bias      float64
	flip      float64
}

// dayDist returns day d's distribution and row count. It draws from its own
// stream so that a day's file depends only on the seed and the day number.
func dayDist(seed uint64, day int) (dist, int) {
	r := rand.New(rand.NewPCG(seed, uint64(2*day)))
	g := regimes[(day-1)%len(regimes)]
	jitter := func(w float64) float64 { return g.signal * w * (1 + 0.2*(r.Float64()-0.5)) }
	d := dist{
		ageMean:   42 + 4*(r.Float64()-0.5),
		logIncome: logMedianIncome + 0.1*(r.Float64()-0.5),
		balance:   1000 * (r.Float64() - 0.5),
		txMean:    15 + 4*(r.Float64()-0.5),
		premium:   math.Log(0.3/0.7) + 0.3*(r.Float64()-0.5),
		coef:      [5]float64{jitter(0.6), jitter(1.0), jitter(0.7), jitter(-0.9), jitter(0.8)},
		bias:      g.bias,
		flip:      g.flip,
	}
	return d, 4500 + r.IntN(1001)
}

// rows returns day d's row stream, separate from dayDist's so that a
// benchmark file of N rows starts with the same rows as that day's file.
func rows(seed uint64, day int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(2*day+1)))
}

// row draws one row. Every row takes the same number of draws.
func (d *dist) row(r *rand.Rand) record {
	age := min(max(math.Round(d.ageMean+14*r.NormFloat64()), 18), 90)
	logInc := d.logIncome + 0.008*(age-42) + 0.55*r.NormFloat64()
	income := cents(math.Exp(logInc))
	balance := cents(0.12*income - 1000 + d.balance + 6000*r.NormFloat64())
	premium := 0.0
	if r.Float64() < sigmoid(d.premium+1.5*(logInc-d.logIncome)) {
		premium = 1
	}
	// A rounded normal with the Poisson's mean and variance: close enough at
	// these means, and unlike exact Poisson sampling it costs one draw.
	lambda := d.txMean + 4*premium
	tx := max(math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64()), 0)

	z := d.bias +
		d.coef[0]*(age-45)/15 +
		d.coef[1]*(logInc-logMedianIncome)/0.55 +
		d.coef[2]*balance/10000 +
		d.coef[3]*(tx-15)/4 +
		d.coef[4]*premium
	target := r.Float64() < sigmoid(z)
	if r.Float64() < d.flip {
		target = !target
	}

	rec := record{Age: int(age), Income: money(income), AccountBalance: money(balance),
		TransactionsLast30d: int(tx), IsPremium: int(premium)}
	if target {
		rec.Target = 1
	}
	return rec
}

// cents rounds to two decimals and turns −0 into 0 so no "-0.00" is written.
func cents(v float64) float64 {
	v = math.Round(v*100) / 100
	if v == 0 {
		return 0
	}
	return v
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// batchRows is how many rows write hands gocsv at a time: memory stays
// constant for any n, and each call's reflection setup is spread over many
// rows.
const batchRows = 8192

// write streams n rows of day d to w: the header, then the rows in batches.
func write(w io.Writer, seed uint64, day, n int) error {
	d, _ := dayDist(seed, day)
	r := rows(seed, day)
	bw := bufio.NewWriterSize(w, 1<<20)
	batch := make([]record, 0, min(n, batchRows))
	marshal := gocsv.Marshal // the first batch carries the header
	for left := n; left > 0; left -= len(batch) {
		batch = batch[:0]
		for range min(left, batchRows) {
			batch = append(batch, d.row(r))
		}
		if err := marshal(batch, bw); err != nil {
			return err
		}
		marshal = gocsv.MarshalWithoutHeaders
	}
	return bw.Flush()
}

func writeFile(path string, seed uint64, day, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f, seed, day, n); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write day_01.csv … day_NN.csv into this directory")
	days := fs.Int("days", len(regimes), "number of day files for -out")
	file := fs.String("file", "", "write one file of -rows rows of day 1's distribution (- for stdout)")
	n := fs.Int("rows", 0, "rows for -file")
	seed := fs.Uint64("seed", 20261127, "random seed; the committed files use the default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	case (*out == "") == (*file == ""):
		return errors.New("give exactly one of -out DIR or -file PATH")
	case *file != "" && *n <= 0:
		return errors.New("-file needs -rows N with N > 0")
	case *out != "" && *n != 0:
		return errors.New("-rows applies to -file only; day files have their own row counts")
	case *out != "" && *days <= 0:
		return errors.New("-days must be positive")
	}

	if *file == "-" {
		return write(stdout, *seed, 1, *n)
	}
	if *file != "" {
		return writeFile(*file, *seed, 1, *n)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for day := 1; day <= *days; day++ {
		_, rowsInDay := dayDist(*seed, day)
		path := filepath.Join(*out, fmt.Sprintf("day_%02d.csv", day))
		if err := writeFile(path, *seed, day, rowsInDay); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return
	case err != nil:
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(2)
	}
}
