package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// TestSchemaFollowsServingVersion: what /predict accepts and what /schema
// answers switch with the version, from the default schema to a declared
// one and back.
func TestSchemaFollowsServingVersion(t *testing.T) {
	ts := newTestServer(t, nil)
	first := mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	waitServing := func(id string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for ts.store.Status().ModelVersionID != id {
			if time.Now().After(deadline) {
				t.Fatalf("version %s never served", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitServing(first.VersionID)
	if r := ts.do(t, "POST", "/predict", "application/json", validBody); r.status != http.StatusOK {
		t.Fatalf("default predict %d %s", r.status, r.body)
	}
	d := mlkit.PromoteTable(t, ts.dir, "grunfeld.csv", "grunfeld_declared.schema.json", true)
	waitServing(d.VersionID)

	r := ts.do(t, "GET", "/schema", "", "")
	var got struct {
		ID      string           `json:"model_version_id"`
		FSV     string           `json:"feature_schema_version"`
		Schema  mlservice.Schema `json:"schema"`
		Request map[string]any   `json:"request_json_schema"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusOK {
		t.Fatalf("/schema %d %s", r.status, r.body)
	}
	if got.ID != d.VersionID || got.Schema.Name != "grunfeld_declared" || got.Request["$schema"] == nil || !strings.HasPrefix(got.FSV, "grunfeld_declared@1") {
		t.Errorf("/schema %s", r.body)
	}

	if r := ts.do(t, "POST", "/predict", "application/json", validBody); r.status != http.StatusUnprocessableEntity {
		t.Errorf("a default-schema body under grunfeld: %d %s", r.status, r.body)
	}
	body := `{"firm":"IBM","year":1950,"value":3000,"capital":200}`
	if r := ts.do(t, "POST", "/predict", "application/json", body); r.status != http.StatusOK {
		t.Fatalf("grunfeld predict %d %s", r.status, r.body)
	}
	r = ts.do(t, "POST", "/predict", "application/json", `{"firm":"Acme","year":"1950","value":-3,"capital":200}`)
	e := errorJSON(t, r)
	if r.status != http.StatusUnprocessableEntity || len(e.Fields) != 3 || !strings.Contains(r.String(), `unknown category \"Acme\"`) {
		t.Errorf("bad grunfeld body: %d %s", r.status, r.body)
	}
	r = ts.do(t, "POST", "/predict/batch", "application/json", `{"instances":[`+body+`,{"firm":"Acme","year":1950,"value":3000,"capital":200}]}`)
	if e := errorJSON(t, r); r.status != http.StatusUnprocessableEntity || len(e.Fields) != 1 || e.Fields[0].Row != 1 {
		t.Errorf("batch with an unknown firm: %d %s", r.status, r.body)
	}
	if r := ts.do(t, "POST", "/predict/batch", "application/json", `{"instances":[`+body+`,`+body+`]}`); r.status != http.StatusOK {
		t.Errorf("batch %d %s", r.status, r.body)
	}
}

func (r response) String() string { return string(r.body) }
