package mlservice_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
)

// A learned category with so many distinct values that metadata.json could
// not be stored is refused by Train before the fit, not by Promote after.
func TestTrainRefusesOversizedSchemaBeforeFitting(t *testing.T) {
	// 30 learned features of 1000 values each (MaxCategories), 48 bytes a value.
	var feats, header []string
	for j := range 30 {
		feats = append(feats, fmt.Sprintf(`{"name":"c%d","type":"category"}`, j))
		header = append(header, fmt.Sprintf("c%d", j))
	}
	s, err := mlservice.ParseSchema([]byte(`{"name":"t","version":"1","target":{"column":"y","positive":"1","negative":"0"},"features":[` +
		strings.Join(feats, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString(strings.Join(header, ",") + ",y\n")
	for i := range 1000 {
		for j := range 30 {
			fmt.Fprintf(&csv, "%s-%02d-%04d,", strings.Repeat("v", 40), j, i)
		}
		fmt.Fprintf(&csv, "%d\n", i%2)
	}
	ds, err := mlservice.ValidateTable(context.Background(), strings.NewReader(csv.String()), s)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mlservice.Train(context.Background(), ds, mlservice.TrainOptions{})
	if !errors.Is(err, mlservice.ErrInvalidData) || !strings.Contains(err.Error(), "the limit is 1048576") ||
		!strings.Contains(err.Error(), "30000 categories") {
		t.Fatalf("Train of a schema too big to store: %v, want ErrInvalidData naming the limit and the 30000 categories", err)
	}
}
