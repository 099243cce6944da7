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
	if err := run(context.Background(), "../../data/day_01.csv", t.TempDir(), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("output:\n%s", out.String())
	}
	if !regexp.MustCompile(`^trained on 4977 rows, f1 0\.\d{3}, promoted true$`).MatchString(lines[0]) {
		t.Errorf("line 1 %q", lines[0])
	}
	for _, l := range lines[1:3] {
		if !regexp.MustCompile(`^age \d+: class [01], probability 0\.\d{3}, version matches: true$`).MatchString(l) {
			t.Errorf("prediction line %q", l)
		}
	}
	if !strings.HasPrefix(lines[3], "refused: invalid features: age: must be >= 0, not -1") {
		t.Errorf("line 4 %q", lines[3])
	}
}
