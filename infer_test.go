package mlservice_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
