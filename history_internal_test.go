package mlservice

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// decodeStrict accepts only what encoding/json accepts, and decodes it the
// same way.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `[{"x":1},{"x":2}]`,
		`{"a":[1,{"c":true,"c":false}]}`, `{"a.b":1,"a":{"b":2}}`, `"s"`, `{`, `{"a":1}{"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var strict any
		if decodeStrict(data, &strict) != nil {
			return
		}
		var loose any
		if err := json.Unmarshal(data, &loose); err != nil {
			t.Fatalf("decodeStrict accepted %q, json.Unmarshal refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(strict, loose) {
			t.Fatalf("%q: decodeStrict gives %v, json.Unmarshal %v", data, strict, loose)
		}
	})
}

// ReadHistoryLog never panics, returns only well-formed records, and names
// history.jsonl in its errors and warnings.
func FuzzReadHistory(f *testing.F) {
	good := `{"time":"2024-01-01T00:00:00Z","event":"promoted","model_version_id":"20240101T000000.000000Z-00000000"}`
	for _, s := range []string{"", good + "\n", good + "\n" + good[:20], good + "\nx\n" + good + "\n", "\n", good} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, modelsDir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, modelsDir, historyFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		log, err := ReadHistoryLog(dir)
		if err != nil {
			if !strings.Contains(err.Error(), "models/history.jsonl") {
				t.Fatalf("error without the file's name: %v", err)
			}
			return
		}
		for _, w := range log.Skipped {
			if !strings.HasPrefix(w, "models/history.jsonl line ") {
				t.Fatalf("warning without the file's name and line: %q", w)
			}
		}
		recs := log.Records
		if len(recs) > strings.Count(string(data), "\n")+1 {
			t.Fatalf("%d records from %d lines", len(recs), strings.Count(string(data), "\n")+1)
		}
		for _, r := range recs {
			if !ValidVersionID(r.VersionID) || r.Event == "" {
				t.Fatalf("record %+v from %q", r, data)
			}
		}
	})
}
