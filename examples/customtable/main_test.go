package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), "../../testdata/tables/grunfeld.csv", "../../testdata/tables/grunfeld.schema.json", t.TempDir(), &out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("output:\n%s", out.String())
	}
	if !regexp.MustCompile(`^trained grunfeld on 220 rows, f1 [01]\.\d{3}, promoted true$`).MatchString(lines[0]) {
		t.Errorf("line 1 %q", lines[0])
	}
	for _, l := range lines[1:5] {
		if !regexp.MustCompile(`^[A-Za-z ]+: class [01], probability 0\.\d{3}$`).MatchString(l) {
			t.Errorf("prediction line %q", l)
		}
	}
	want := "refused: invalid features: firm: must be a string"
	if !strings.HasPrefix(lines[5], want) || !strings.Contains(lines[5], "year: must be >= 1900") || !strings.Contains(lines[5], "capital: required") {
		t.Errorf("line 6 %q", lines[5])
	}
}
