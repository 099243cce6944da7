package mlservice_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
)

func TestInferSchema(t *testing.T) {
	f, err := os.Open(filepath.Join(tablesDir, "grunfeld.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, notes, err := mlservice.InferSchema(context.Background(), f, mlservice.InferOptions{Name: "grunfeld"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Target != (mlservice.SchemaTarget{Column: "high_invest", Positive: "yes", Negative: "no"}) {
		t.Errorf("target %+v", s.Target)
	}
	types := map[string]string{}
	for _, f := range s.Features {
		types[f.Name] = f.Type
	}
	if types["firm"] != mlservice.TypeCategory || types["value"] != mlservice.TypeNumber || len(s.Features) != 5 {
		t.Errorf("features %+v", s.Features)
	}
	if len(notes) != 6 {
		t.Errorf("notes %q", notes)
	}
	// The draft trains as it is.
	ds, err := mlservice.ValidateTableFile(context.Background(), filepath.Join(tablesDir, "grunfeld.csv"), s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mlservice.Train(context.Background(), ds, mlservice.TrainOptions{}); err != nil {
		t.Fatal(err)
	}

	r, _, err := mlservice.InferSchema(context.Background(), strings.NewReader("a,b,c\n1,x,0\n0,y,1\n1,x,1\n"), mlservice.InferOptions{})
	if err != nil || r.Features[0].Type != mlservice.TypeBinary || r.Target.Column != "c" {
		t.Errorf("small: %+v, %v", r, err)
	}
	if _, _, err := mlservice.InferSchema(context.Background(), strings.NewReader("a,c\n1,0\n0,1\n1,2\n"), mlservice.InferOptions{}); err == nil {
		t.Error("a three-valued target was accepted")
	}
}

// wideCSV is a header of n columns c0..c(n-1) and the target, then rows.
func wideCSV(n, rows int) string {
	var b strings.Builder
	for j := range n {
		b.WriteString("c" + itoa(j) + ",")
	}
	b.WriteString("target\n")
	for i := range rows {
		b.WriteString(strings.Repeat("1.5,", n) + itoa(i%2) + "\n")
	}
	return b.String()
}

// TestInferWide: a file with more columns than a schema can hold is refused
// from its header, before any row is read; one within the limit is drafted
// in time linear in its columns (100k columns took 42 s).
func TestInferWide(t *testing.T) {
	over := wideCSV(mlservice.MaxSchemaFeatures+1, 0) + "not,a,row\n"
	_, _, err := mlservice.InferSchema(context.Background(), strings.NewReader(over), mlservice.InferOptions{})
	if err == nil || !strings.Contains(err.Error(), "10002 columns") || !strings.Contains(err.Error(), "at most 10000 features") {
		t.Errorf("over-wide file: %v, want a refusal naming the columns and the limit", err)
	}
	start := time.Now()
	s, _, err := mlservice.InferSchema(context.Background(), strings.NewReader(wideCSV(mlservice.MaxSchemaFeatures, 4)), mlservice.InferOptions{})
	if err != nil || len(s.Features) != mlservice.MaxSchemaFeatures {
		t.Fatalf("10000 columns: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("10000 columns took %v", d)
	}
}

// TestInferWarnsOfMagnitude: a number column with values validation will
// refuse (magnitude over MaxAbsValue) is drafted with a note saying so.
func TestInferWarnsOfMagnitude(t *testing.T) {
	data := "a,b,target\n1,2e15,0\n2,-3e15,1\n3,1e15,0\n4,5,1\n"
	_, notes, err := mlservice.InferSchema(context.Background(), strings.NewReader(data), mlservice.InferOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(notes, "\n")
	if !strings.Contains(all, `"b": 2 rows have a magnitude over 1e+15 (MaxAbsValue); validation will refuse them`) || strings.Contains(all, `"a": 2 rows`) {
		t.Errorf("notes:\n%s", all)
	}
}
