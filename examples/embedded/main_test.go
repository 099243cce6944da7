package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRun runs the example twice on one artifacts directory: the first run
// trains and serves its version, the second sees it trained already and
// serves the same one instead of adding a copy.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	var versions []string
	for i, first := range []string{
		`^trained on 4977 rows, f1 0\.\d{3}, version (\S+) promoted true$`,
		`^already trained on these 4977 rows: version (\S+), f1 0\.\d{3}$`,
	} {
		var out bytes.Buffer
		if err := run(context.Background(), "../../data/day_01.csv", dir, &out); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 4 {
			t.Fatalf("run %d output:\n%s", i+1, out.String())
		}
		m := regexp.MustCompile(first).FindStringSubmatch(lines[0])
		if m == nil {
			t.Fatalf("run %d line 1 %q, want %s", i+1, lines[0], first)
		}
		versions = append(versions, m[1])
		for _, l := range lines[1:3] {
			if !regexp.MustCompile(`^age \d+: class [01], probability 0\.\d{3}, version ` + regexp.QuoteMeta(m[1]) + `$`).MatchString(l) {
				t.Errorf("run %d prediction line %q, want one from %s", i+1, l, m[1])
			}
		}
		if !strings.HasPrefix(lines[3], "refused: invalid features: age: must be >= 0, not -1") {
			t.Errorf("run %d line 4 %q", i+1, lines[3])
		}
	}
	if versions[0] != versions[1] {
		t.Errorf("the second run names %s, the first trained %s", versions[1], versions[0])
	}
	entries, err := os.ReadDir(filepath.Join(dir, "models", "versions"))
	if err != nil || len(entries) != 1 {
		t.Errorf("versions after two runs: %d (%v), want 1", len(entries), err)
	}
}
