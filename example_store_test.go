package mlservice_test

import (
	"context"
	"fmt"
	"log"
	"math"
	"os"

	"github.com/mlservice/mlservice"
)

// Train a candidate on a day's data and promote it. The first version is
// always promoted; a candidate that scores no better than the current one is
// kept on disk but rejected.
func ExamplePromote() {
	ctx := context.Background()
	artifacts, err := os.MkdirTemp("", "mlservice-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(artifacts)

	ds, err := mlservice.ValidateFile(context.Background(), "data/day_01.csv")
	if err != nil {
		log.Fatal(err)
	}
	cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
	if err != nil {
		log.Fatal(err)
	}
	first, err := mlservice.Promote(ctx, artifacts, cand)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first:", first.Promoted, first.Reason)

	// The same data trains the same model, with the same F1: not better.
	again, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
	if err != nil {
		log.Fatal(err)
	}
	second, err := mlservice.Promote(ctx, artifacts, again)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("second:", second.Promoted, second.PreviousVersionID == first.VersionID,
		*second.PreviousMetric == again.Metadata.Metric.Value)

	current, _ := mlservice.CurrentVersion(artifacts)
	fmt.Println("current is the first:", current == first.VersionID)
	versions, _ := mlservice.Versions(artifacts)
	for _, v := range versions { // newest first
		fmt.Println(v.Decision, v.Current)
	}
	// Output:
	// first: true no version is current
	// second: false true true
	// current is the first: true
	// rejected false
	// promoted true
}

// A program embeds a Store to serve the version CURRENT names; the store
// follows later promotions on its own.
func ExampleOpenStore() {
	ctx := context.Background()
	artifacts, err := os.MkdirTemp("", "mlservice-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(artifacts)

	// A trainer, possibly another process, promotes a version.
	ds, err := mlservice.ValidateFile(context.Background(), "data/day_01.csv")
	if err != nil {
		log.Fatal(err)
	}
	cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
	if err != nil {
		log.Fatal(err)
	}
	d, err := mlservice.Promote(ctx, artifacts, cand)
	if err != nil {
		log.Fatal(err)
	}

	// The serving program.
	store, err := mlservice.OpenStore(artifacts, mlservice.StoreOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	p, err := store.Predict(mlservice.Features{Age: 45, Income: 54166.71, AccountBalance: 10365.18,
		TransactionsLast30d: 13, IsPremium: 1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("label %d, probability %.3f\n", p.Label, p.Probability)
	fmt.Println("answered by the promoted version:", p.ModelVersionID == d.VersionID)

	_, err = store.Predict(mlservice.Features{Age: -1})
	fmt.Println(err)
	// Output:
	// label 1, probability 0.521
	// answered by the promoted version: true
	// invalid features: age: must be >= 0, not -1
}

// Explain says how each feature moved a prediction: bias + the
// contributions is the log-odds the store served, log(p/(1−p)).
func ExampleStore_Explain() {
	ctx := context.Background()
	artifacts, err := os.MkdirTemp("", "mlservice-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(artifacts)
	ds, err := mlservice.ValidateFile(ctx, "data/day_01.csv")
	if err != nil {
		log.Fatal(err)
	}
	cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := mlservice.Promote(ctx, artifacts, cand); err != nil {
		log.Fatal(err)
	}
	store, err := mlservice.OpenStore(artifacts, mlservice.StoreOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	e, err := store.Explain(&mlservice.Row{Numbers: []float64{42, 52000, 1800, 12, 1}})
	if err != nil {
		log.Fatal(err)
	}
	sum := e.Explanation.Bias
	for _, name := range mlservice.FeatureNames {
		fmt.Printf("%s %+.2f\n", name, e.Explanation.Contributions[name])
		sum += e.Explanation.Contributions[name]
	}
	fmt.Printf("log-odds %.4f, probability %.4f\n", sum, e.Probability)
	fmt.Println(math.Abs(sum-math.Log(e.Probability/(1-e.Probability))) < 1e-9)
	// Output:
	// age +0.02
	// income -0.09
	// account_balance -0.12
	// transactions_last_30d +0.46
	// is_premium +0.31
	// log-odds -0.1373, probability 0.4657
	// true
}
