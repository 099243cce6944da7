// Command customtable trains on a table of its own, declared in a schema,
// and predicts with it in the same process: the grunfeld investment table
// (a category with spaces in its values, three numbers, a yes/no target).
//
//	go run ./examples/customtable -data testdata/tables/grunfeld.csv -schema testdata/tables/grunfeld.schema.json
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
	data := flag.String("data", "testdata/tables/grunfeld.csv", "training CSV")
	schema := flag.String("schema", "testdata/tables/grunfeld.schema.json", "schema file declaring the table")
	flag.Parse()
	dir, err := os.MkdirTemp("", "mlservice-customtable-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(context.Background(), *data, *schema, dir, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, dataFile, schemaFile, artifacts string, out io.Writer) error {
	s, err := mlservice.LoadSchemaFile(schemaFile) // a *SchemaError names the bad key
	if err != nil {
		return err
	}
	ds, err := mlservice.ValidateTableFile(ctx, dataFile, s)
	if err != nil {
		return err // a *mlservice.ValidationError lists every bad line
	}
	cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
	if err != nil {
		return err
	}
	decision, err := mlservice.Promote(ctx, artifacts, cand)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "trained %s on %d rows, f1 %.3f, promoted %v\n",
		s.Name, ds.Len(), cand.Metadata.Metric.Value, decision.Promoted)

	store, err := mlservice.OpenStore(artifacts, mlservice.StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()

	// A Row holds the numbers (year, value, capital) and the categories
	// (firm) in schema order; the caller owns it, and PredictRow
	// allocates nothing.
	row := mlservice.Row{Numbers: []float64{1950, 2500, 300}, Categories: []string{"General Motors"}}
	for _, firm := range []string{"General Motors", "IBM", "Acme"} {
		row.Categories[0] = firm
		p, err := store.PredictRow(&row)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: class %d, probability %.3f\n", firm, p.Label, p.Probability)
	}

	// The same rows as JSON, as the HTTP server takes them.
	p, err := store.PredictJSON([]byte(`{"firm": "IBM", "year": 1950, "value": 2500, "capital": 300}`))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "json: class %d, probability %.3f\n", p.Label, p.Probability)
	if _, err := store.PredictJSON([]byte(`{"firm": 7, "year": 1850, "value": 2500}`)); err != nil {
		fmt.Fprintln(out, "refused:", err)
	}
	return nil
}
