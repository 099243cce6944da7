package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
)

// promoteTable trains a table under a schema file from testdata/tables and
// promotes it into dir.
func promoteTable(t testing.TB, dir, table, schema string, allow bool) *mlservice.Decision {
	t.Helper()
	s, err := mlservice.LoadSchemaFile("../../testdata/tables/" + schema)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := mlservice.ValidateTableFile(context.Background(), "../../testdata/tables/"+table, s)
	if err != nil {
		t.Fatal(err)
	}
	c, err := mlservice.Train(context.Background(), ds, mlservice.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.AllowSchemaChange = allow
	d, err := mlservice.Promote(context.Background(), dir, c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSchemaFollowsServingVersion: what /predict accepts and what /schema
// answers switch with the version, from the default schema to a declared
// one and back.
func TestSchemaFollowsServingVersion(t *testing.T) {
	ts := newTestServer(t, nil)
	first := promoteDay(t, ts.dir, "day_01.csv")
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
	d := promoteTable(t, ts.dir, "grunfeld.csv", "grunfeld_declared.schema.json", true)
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

// TestRuleThatCannotRunNeverServes: a version whose schema holds a rule
// alternative validator cannot run (written before ParseSchema checked each
// alternative, or by hand) is refused when it is loaded; it never reaches a
// request, where it would panic into a 500.
func TestRuleThatCannotRunNeverServes(t *testing.T) {
	dir := t.TempDir()
	d := promoteTable(t, dir, "grunfeld.csv", "grunfeld_declared.schema.json", true)
	vdir := haVersionDir(dir, d.VersionID)
	var old mlservice.Schema
	raw, err := os.ReadFile(filepath.Join(vdir, "schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &old); err != nil {
		t.Fatal(err)
	}
	bad := old
	bad.Features = slices.Clone(old.Features)
	for i := range bad.Features {
		if bad.Features[i].Name == "year" {
			bad.Features[i].Rules = "gte=1900,lte=2100|len=abc"
		}
	}
	if err := os.WriteFile(filepath.Join(vdir, "schema.json"), bad.MarshalIndent(), 0o644); err != nil {
		t.Fatal(err)
	}
	haEdit(t, filepath.Join(vdir, "metadata.json"), func(b []byte) []byte {
		return bytes.ReplaceAll(b, []byte(old.ID()), []byte(bad.ID()))
	})
	haReseal(t, vdir)

	store, err := mlservice.OpenStore(dir, mlservice.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s := newServer(config{maxBody: 1 << 20, maxBatch: 100}, store, slog.New(slog.DiscardHandler))
	ts := &testServer{server: s, h: s.handler(), store: store, dir: dir}
	st := store.Status()
	if st.Ready || !strings.Contains(st.Reason+st.LastError, `len=abc`) {
		t.Errorf("store status %+v: want the version refused for its rule len=abc", st)
	}
	for _, body := range []string{
		`{"firm":"IBM","year":2500,"value":1,"capital":1}`,
		`{"firm":"IBM","year":1950,"value":1,"capital":1}`,
	} {
		r := ts.do(t, "POST", "/predict", "application/json", body)
		if r.status >= 500 && r.status != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d %s", body, r.status, r.body)
		}
	}
}
