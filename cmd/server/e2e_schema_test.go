package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/testkit"
)

// TestEndToEndOwnTable walks infer → edit → train → serve with the real
// binaries on a real table no one here wrote (anes96): the trainer drafts a
// schema, the test edits it as a user would (PID is a party code, not a
// quantity: a category), trains, and the server predicts over HTTP; an
// unseen category is a 422 naming it; training under the unedited draft is
// refused as a schema change until -allow-schema-change is given.
func TestEndToEndOwnTable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries; skipped with -short")
	}
	trainerBin, serverBin := testkit.Binaries(t)
	artifacts := t.TempDir()
	work := t.TempDir()
	table := filepath.Join(testkit.Root(t), "testdata", "tables", "anes96.csv")

	// infer
	r := trainerRun(t, trainerBin, "schema", "infer", "-target", "vote", table)
	if r.Code != 0 {
		t.Fatalf("schema infer: %v", r)
	}
	draft, notes := r.Stdout, r.Stderr
	if !strings.Contains(notes, `"PID": number`) {
		t.Errorf("infer explains nothing about PID:\n%s", notes)
	}
	draftFile := filepath.Join(work, "draft.schema.json")
	testkit.WriteFile(t, draftFile, draft)

	// edit: PID becomes a category with the codes as declared strings.
	var s map[string]any
	if err := json.Unmarshal([]byte(draft), &s); err != nil {
		t.Fatal(err)
	}
	for _, f := range s["features"].([]any) {
		f := f.(map[string]any)
		if f["name"] == "PID" {
			f["type"] = "category"
			delete(f, "rules")
			f["categories"] = []string{"0", "1", "2", "3", "4", "5", "6"}
		}
	}
	edited, _ := json.MarshalIndent(s, "", "  ")
	schemaFile := filepath.Join(work, "anes96.schema.json")
	testkit.WriteFile(t, schemaFile, string(edited))

	// train
	out, _ := runTrainer(t, trainerBin, artifacts, "train", "-schema", schemaFile, table)
	if !out.Promoted {
		t.Fatalf("first version not promoted: %+v", out)
	}

	// serve
	base := testkit.StartServer(t, serverBin, nil, "-artifacts", artifacts).Base
	client := &http.Client{Timeout: 5 * time.Second}
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := call("GET", "/ready", ""); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server never ready")
		}
		time.Sleep(20 * time.Millisecond)
	}

	row := `{"popul":0,"TVnews":7,"selfLR":7,"ClinLR":1,"DoleLR":6,"PID":"6","age":36,"educ":3,"income":1}`
	code, body := call("POST", "/predict", row)
	if code != http.StatusOK || !strings.Contains(body, `"model_version_id":"`+out.ModelVersionID+`"`) {
		t.Fatalf("predict: %d %s", code, body)
	}
	code, body = call("POST", "/predict", strings.Replace(row, `"PID":"6"`, `"PID":"9"`, 1))
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `"field":"PID"`) || !strings.Contains(body, `\"9\"`) {
		t.Errorf("unseen PID: %d %s", code, body)
	}
	code, body = call("POST", "/predict", strings.Replace(row, `"PID":"6"`, `"PID":6`, 1))
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "must be a string") {
		t.Errorf("PID as a number: %d %s", code, body)
	}
	code, body = call("GET", "/schema", "")
	if code != http.StatusOK || !strings.Contains(body, `"request_json_schema"`) || !strings.Contains(body, "2020-12") {
		t.Errorf("/schema: %d %s", code, body)
	}

	// The unedited draft is another schema: refused, then allowed.
	refused, _ := runTrainer(t, trainerBin, artifacts, "train", "-schema", draftFile, table)
	if refused.Promoted {
		t.Fatalf("a schema change was promoted without -allow-schema-change: %+v", refused)
	}
	_, listing := runTrainer(t, trainerBin, artifacts, "versions", "-json")
	if !strings.Contains(listing, "schema changed") {
		t.Errorf("versions does not show the refusal:\n%s", listing)
	}
	allowed, _ := runTrainer(t, trainerBin, artifacts, "train", "-schema", draftFile, "-allow-schema-change", table)
	if !allowed.Promoted {
		t.Fatalf("-allow-schema-change did not promote: %+v", allowed)
	}
	// The server follows, and now takes PID as a number.
	deadline = time.Now().Add(5 * time.Second)
	for {
		code, body = call("POST", "/predict", strings.Replace(row, `"PID":"6"`, `"PID":6`, 1))
		if code == http.StatusOK && strings.Contains(body, allowed.ModelVersionID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new schema was not served: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
