package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// report writes index.html, style.css and a page per version, linked
// relatively: every href on the index resolves to a file it wrote.
func TestReportWritesLinkedStaticPages(t *testing.T) {
	art, out := t.TempDir(), filepath.Join(t.TempDir(), "report")
	env := map[string]string{"ARTIFACTS_DIR": art}
	var ids []string
	for _, day := range []string{"day_01.csv", "day_02.csv", "day_03.csv"} {
		ids = append(ids, decodeTrain(t, trainer(t, env, "train", filepath.Join(dataDir, day))).ModelVersionID)
	}
	r := trainer(t, env, "report", "-out", out)
	if r.Code != exitOK {
		t.Fatalf("report: exit %d\n%s", r.Code, r.Stderr)
	}
	var res struct {
		Index    string `json:"index"`
		Versions int    `json:"versions"`
		Current  string `json:"current_version_id"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || res.Versions != 3 || res.Index != filepath.Join(out, "index.html") {
		t.Fatalf("report stdout %q (%v)", r.Stdout, err)
	}
	index, err := os.ReadFile(filepath.Join(out, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !strings.Contains(string(index), `href="versions/`+id+`.html"`) {
			t.Errorf("index does not link %s", id)
		}
	}
	// Every link but the empty data: favicon names a file the report wrote.
	href := regexp.MustCompile(`href="([^"]+)"`)
	for _, m := range href.FindAllStringSubmatch(string(index), -1) {
		if m[1] == "data:," {
			continue
		}
		if _, err := os.Stat(filepath.Join(out, m[1])); err != nil {
			t.Errorf("index links %s: %v", m[1], err)
		}
	}
	page, err := os.ReadFile(filepath.Join(out, "versions", ids[1]+".html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range href.FindAllStringSubmatch(string(page), -1) {
		if m[1] == "data:," {
			continue
		}
		if _, err := os.Stat(filepath.Join(out, "versions", m[1])); err != nil {
			t.Errorf("version page links %s: %v", m[1], err)
		}
	}
	if !strings.Contains(string(page), `id="confusion"`) || !strings.Contains(string(index), `id="serving-version">`+res.Current) {
		t.Errorf("pages lack the confusion matrix or the current version")
	}
}

func TestReportUsage(t *testing.T) {
	if r := trainer(t, nil, "report", "extra"); r.Code != exitUsage {
		t.Errorf("report with an argument: exit %d", r.Code)
	}
	if r := trainer(t, nil, "report", "-artifacts", filepath.Join(t.TempDir(), "nope"), "-out", t.TempDir()); r.Code != exitFailure {
		t.Errorf("report of a missing artifacts directory: exit %d", r.Code)
	}
	if r := trainer(t, nil, "report", "-h"); r.Code != exitOK || !strings.Contains(r.Stderr, "-out DIR") {
		t.Errorf("report -h: exit %d\n%s", r.Code, r.Stderr)
	}
}
