package mlservice_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/mlservice/mlservice"
)

// Validate reports every problem of a file at once, each with its line,
// column, value and the rule it breaks.
func ExampleValidate() {
	const data = `age,income,account_balance,transactions_last_30d,is_premium,target
34,52000,1200.50,12,0,1
-3,48000,NA,7,1,0
41,"1,5",300,5,2,0
29,61000,-80
`
	_, err := mlservice.Validate(context.Background(), strings.NewReader(data))
	fmt.Println(err)
	fmt.Println("invalid data:", errors.Is(err, mlservice.ErrInvalidData))
	var verr *mlservice.ValidationError
	if errors.As(err, &verr) {
		fmt.Println("first problem on line", verr.Problems[0].Line, "in column", verr.Problems[0].Column)
	}
	// Output:
	// invalid data in input: 5 problems
	//   line 3, column "age", value "-3": must be >= 0 (gte=0)
	//   line 3, column "account_balance", value "NA": missing value (empty, NA, NaN, null, None or ±Inf) (required)
	//   line 4, column "income", value "1,5": not a number (number)
	//   line 4, column "is_premium", value "2": must be 0 or 1 (binary)
	//   line 5: wrong number of fields for the header (csv)
	// invalid data: true
	// first problem on line 3 in column age
}

// ValidateFile reads a file and returns its rows column by column.
func ExampleValidateFile() {
	ds, err := mlservice.ValidateFile(context.Background(), "data/day_01.csv")
	if err != nil {
		log.Fatal(err)
	}
	counts := ds.ClassCounts()
	fmt.Printf("%d rows: %d of class 0, %d of class 1\n", ds.Len(), counts[0], counts[1])
	fmt.Printf("first row: %+v, target %d\n", ds.Row(0), ds.Y[0])
	// Output:
	// 4977 rows: 3251 of class 0, 1726 of class 1
	// first row: {Age:45 Income:54166.71 AccountBalance:10365.18 TransactionsLast30d:13 IsPremium:1}, target 0
}

// Train holds out a stratified 20% of the rows, fits the rest and scores the
// held-out rows; the same data and options give the same model.
func ExampleTrain() {
	ds, err := mlservice.ValidateFile(context.Background(), "data/day_01.csv")
	if err != nil {
		log.Fatal(err)
	}
	cand, err := mlservice.Train(context.Background(), ds, mlservice.TrainOptions{})
	if err != nil {
		log.Fatal(err)
	}
	md := cand.Metadata
	fmt.Printf("split %s (seed %d): %d training rows, %d evaluation rows\n", md.Data.Split, md.Data.Seed, md.Data.TrainRows, md.Data.EvalRows)
	fmt.Printf("%s = %.3f, better than 0.4: %v\n", md.Metric.Name, md.Metric.Value, md.Metric.Value > 0.4)
	fmt.Println("confusion matrix:", md.Metrics.Confusion)
	// Output:
	// split stratified (seed 42): 3982 training rows, 995 evaluation rows
	// f1 = 0.471, better than 0.4: true
	// confusion matrix: [[589 61] [220 125]]
}
