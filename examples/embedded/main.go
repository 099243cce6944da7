// Command embedded trains a model and predicts with it in the same process,
// the way a Go service that imports mlservice would: no server, no HTTP.
//
//	go run ./examples/embedded -data data/day_01.csv
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/mlservice/mlservice"
)

func main() {
	data := flag.String("data", "data/day_01.csv", "training CSV")
	artifacts := flag.String("artifacts", "", "artifacts directory (default: a temporary one)")
	flag.Parse()
	if *artifacts == "" {
		dir, err := os.MkdirTemp("", "mlservice-example-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		*artifacts = dir
	}
	if err := run(context.Background(), *data, *artifacts, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, dataFile, artifacts string, out io.Writer) error {
	// Validate → Train → Promote: what `trainer train` does.
	ds, err := mlservice.ValidateFile(ctx, dataFile)
	if err != nil {
		return err // a *mlservice.ValidationError lists every bad line
	}
	opts := mlservice.TrainOptions{}
	// A rerun on the same file would only add an identical version: skip it.
	same, err := mlservice.TrainedAlready(artifacts, ds, opts)
	if err != nil {
		return err
	}
	if same != nil {
		fmt.Fprintf(out, "already trained on these %d rows: version %s, f1 %.3f\n", ds.Len(), same.ModelVersionID, same.Metric.Value)
	} else {
		cand, err := mlservice.Train(ctx, ds, opts)
		if err != nil {
			return err
		}
		decision, err := mlservice.Promote(ctx, artifacts, cand)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "trained on %d rows, f1 %.3f, version %s promoted %v\n",
			ds.Len(), cand.Metadata.Metric.Value, decision.VersionID, decision.Promoted)
	}

	// A Store serves CURRENT and follows later promotions by itself.
	store, err := mlservice.OpenStore(artifacts, mlservice.StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()

	customers := []mlservice.Features{
		{Age: 25, Income: 28000, AccountBalance: -300, TransactionsLast30d: 31, IsPremium: 0},
		{Age: 61, Income: 120000, AccountBalance: 25000, TransactionsLast30d: 4, IsPremium: 1},
	}
	for _, c := range customers {
		p, err := store.Predict(c)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "age %v: class %d, probability %.3f, version %s\n",
			c.Age, p.Label, p.Probability, p.ModelVersionID)
	}

	// Bad input is an error, never a silent guess.
	if _, err := store.Predict(mlservice.Features{Age: -1}); err != nil {
		fmt.Fprintln(out, "refused:", err)
	}
	return nil
}
