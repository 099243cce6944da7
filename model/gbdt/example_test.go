package gbdt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/mlservice/mlservice/model/gbdt"
)

// Train on two columns, a number with missing cells and a category,
// predict, explain, and read the stored model back.
func Example() {
	features := []gbdt.Feature{{Name: "usage"}, {Name: "plan", Categorical: true, Levels: 3}}
	var usage, plan []float64
	var churned []uint8
	for i := 0; i < 600; i++ {
		u := float64(i % 100)
		if i%17 == 0 {
			u = math.NaN() // missing
		}
		p := float64(i % 3)
		usage, plan = append(usage, u), append(plan, p)
		var y uint8
		if (u < 30 || u != u) != (p == 2) { // low usage churns, except on plan 2
			y = 1
		}
		churned = append(churned, y)
	}
	forest, err := gbdt.Fit(context.Background(), features, [][]float64{usage, plan}, churned, nil,
		gbdt.Options{Trees: 50, NoEarlyStopping: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	row := []float64{12, 0} // low usage on plan 0
	z := forest.LogOdds(row)
	contribs := make([]float64, len(features))
	bias := forest.Explain(row, contribs)
	fmt.Printf("P(churn) = %.2f\n", 1/(1+math.Exp(-z)))
	fmt.Printf("bias + contributions = log-odds: %v\n", math.Abs(bias+contribs[0]+contribs[1]-z) < 1e-9)
	fmt.Printf("usage pushes toward churn: %v\n", contribs[0] > 0)

	data, _ := json.Marshal(forest)
	again, err := gbdt.Decode(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("read back: %d trees, same log-odds: %v\n", again.NumTrees(), again.LogOdds(row) == z)
	// Output:
	// P(churn) = 0.99
	// bias + contributions = log-odds: true
	// usage pushes toward churn: true
	// read back: 50 trees, same log-odds: true
}
