package mlservice_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
)

// trainTable validates, trains and promotes a table under a schema file.
func trainTable(t testing.TB, dir, csvName, schemaName string, allow bool) *mlservice.Decision {
	t.Helper()
	ctx := context.Background()
	s, err := mlservice.LoadSchemaFile(filepath.Join(tablesDir, schemaName))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := mlservice.ValidateTableFile(ctx, filepath.Join(tablesDir, csvName), s)
	if err != nil {
		t.Fatal(err)
	}
	cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cand.AllowSchemaChange = allow
	d, err := mlservice.Promote(ctx, dir, cand)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestStoreServesSchema(t *testing.T) {
	dir := t.TempDir()
	d := trainTable(t, dir, "grunfeld.csv", "grunfeld.schema.json", false)
	if !d.Promoted {
		t.Fatalf("not promoted: %s", d.Reason)
	}
	if _, err := os.Stat(filepath.Join(dir, "models", "versions", d.VersionID, "schema.json")); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.Metadata.FeatureSchemaVersion, "grunfeld@1+sha256:") {
		t.Errorf("feature_schema_version %q", d.Metadata.FeatureSchemaVersion)
	}
	store, err := mlservice.OpenStore(dir, mlservice.StoreOptions{RefreshInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	s, _, err := store.Schema()
	if err != nil || len(s.Features[0].Categories) != 11 {
		t.Fatalf("schema %v, %v", s, err)
	}
	row := &mlservice.Row{Numbers: []float64{1950, 3000, 200}, Categories: []string{"IBM"}}
	p, err := store.PredictRow(row)
	if err != nil || p.ModelVersionID != d.VersionID {
		t.Fatalf("PredictRow = %+v, %v", p, err)
	}
	if a := testing.AllocsPerRun(100, func() { _, _ = store.PredictRow(row) }); a != 0 {
		t.Errorf("PredictRow allocates %v times", a)
	}
	// firm is "unknown": "ignore": an unseen firm scores as all zeros.
	unseen, err := store.PredictRow(&mlservice.Row{Numbers: row.Numbers, Categories: []string{"Acme"}})
	if err != nil || unseen.Probability == p.Probability {
		t.Errorf("unseen firm: %+v, %v", unseen, err)
	}
	if _, err := store.Predict(mlservice.Features{Age: 1}); !errors.Is(err, mlservice.ErrSchemaMismatch) {
		t.Errorf("Predict(Features) under grunfeld: %v", err)
	}
	if _, err := store.PredictBatch(nil, []mlservice.Features{{}}); !errors.Is(err, mlservice.ErrSchemaMismatch) {
		t.Errorf("PredictBatch(Features) under grunfeld: %v", err)
	}
	body := `{"firm":"IBM","year":1950,"value":3000,"capital":200}`
	if jp, err := store.PredictJSON([]byte(body)); err != nil || jp.Probability != p.Probability {
		t.Errorf("PredictJSON = %+v, %v; PredictRow gave %v", jp, err, p.Probability)
	}
	_, err = store.PredictJSON([]byte(`{"firm":3,"year":"1950","value":-1}`))
	var ie *mlservice.InputError
	if !errors.As(err, &ie) || len(ie.Problems) != 4 {
		t.Fatalf("bad body: %v", err)
	}
	if st, _ := mlservice.HTTPStatus(err); st != http.StatusUnprocessableEntity {
		t.Errorf("status %d", st)
	}
	preds, err := store.PredictBatchJSON(nil, []byte(`{"instances":[`+body+`,`+body+`]}`), 10)
	if err != nil || len(preds) != 2 {
		t.Fatalf("batch %v, %v", preds, err)
	}
}

func TestStoreUnknownCategory(t *testing.T) {
	dir := t.TempDir()
	trainTable(t, dir, "grunfeld.csv", "grunfeld_declared.schema.json", false)
	store, err := mlservice.OpenStore(dir, mlservice.StoreOptions{RefreshInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	_, err = store.PredictJSON([]byte(`{"firm":"Acme","year":1950,"value":3000,"capital":200}`))
	var ie *mlservice.InputError
	if !errors.As(err, &ie) || ie.Problems[0].Field != "firm" || !strings.Contains(ie.Problems[0].Reason, `"Acme"`) {
		t.Fatalf("unknown firm: %v", err)
	}
	_, err = store.PredictRow(&mlservice.Row{Numbers: []float64{1950, 3000, 200}, Categories: []string{"Acme"}})
	if !errors.As(err, &ie) || ie.Problems[0].Field != "firm" {
		t.Fatalf("PredictRow unknown firm: %v", err)
	}
}

func TestPromoteRefusesSchemaChange(t *testing.T) {
	dir := t.TempDir()
	trainTable(t, dir, "grunfeld.csv", "grunfeld.schema.json", false)
	d := trainTable(t, dir, "grunfeld.csv", "grunfeld_declared.schema.json", false)
	if d.Promoted || !strings.Contains(d.Reason, "schema changed") || !strings.Contains(d.Reason, "-allow-schema-change") {
		t.Fatalf("schema change: promoted %v, %s", d.Promoted, d.Reason)
	}
	d2 := trainTable(t, dir, "grunfeld.csv", "grunfeld_declared.schema.json", true)
	if !d2.Promoted {
		t.Fatalf("allowed schema change not promoted: %s", d2.Reason)
	}
	h, err := mlservice.ReadHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	if last := h[len(h)-2]; last.Event != mlservice.DecisionRejected || !strings.Contains(last.Reason, "schema changed") {
		t.Errorf("history %+v", last)
	}
	// Back to the default schema is a change too.
	ctx := context.Background()
	ds, err := mlservice.ValidateFile(ctx, "data/day_01.csv")
	if err != nil {
		t.Fatal(err)
	}
	cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d3, err := mlservice.Promote(ctx, dir, cand)
	if err != nil || d3.Promoted {
		t.Fatalf("default after custom: %+v, %v", d3, err)
	}
}

// FuzzDecodeRow: the schema-driven decoder never panics, and what it
// accepts the store scores.
func FuzzDecodeRow(f *testing.F) {
	s := mustSchema(f, customSchema)
	for i := range s.Features {
		if s.Features[i].Categories == nil {
			s.Features[i].Categories = []string{"east", "north"}
		}
	}
	f.Add([]byte(`{"age":30,"premium":1,"plan":"basic","region":"north"}`))
	f.Add([]byte(`{"age":-1,"premium":2,"plan":"gold","region":"x9","age":3}`))
	f.Add([]byte(`{"instances":[{"age":30,"premium":1,"plan":"basic","region":"zz"}]}`))
	f.Add([]byte(`[1,{"plan":null}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := mlservice.DecodeRow(s, data)
		if err == nil {
			if len(r.Numbers) != 2 || len(r.Categories) != 2 {
				t.Fatalf("accepted %q as %+v", data, r)
			}
		} else if !errors.Is(err, mlservice.ErrInvalidFeatures) && !errors.Is(err, mlservice.ErrMalformedRequest) {
			t.Fatalf("error %v matches neither sentinel", err)
		}
		rows, err := mlservice.DecodeRows(s, data, 10)
		if err == nil && len(rows) == 0 {
			t.Fatal("no rows and no error")
		}
	})
}

// TestPredictRowChecks: PredictRow refuses each kind of bad value, naming
// the feature, wherever it sits in the row.
func TestPredictRowChecks(t *testing.T) {
	dir := t.TempDir()
	trainTable(t, dir, "randhie.csv", "randhie.schema.json", false)
	store, err := mlservice.OpenStore(dir, mlservice.StoreOptions{RefreshInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// lncoins idp lpi fmde physlm disea hlthg hlthf hlthp
	good := []float64{4.6, 1, 6.9, 0, 0.5, 13.7, 1, 0, 0}
	if _, err := store.PredictRow(&mlservice.Row{Numbers: good}); err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	for _, tc := range []struct {
		at    int
		value float64
		field string
	}{{0, -1, "lncoins"}, {1, 2, "idp"}, {4, 1.5, "physlm"}, {4, nan, "physlm"}, {5, math.Inf(1), "disea"}, {8, 0.5, "hlthp"}, {3, 2e15, "fmde"}} {
		row := slices.Clone(good)
		row[tc.at] = tc.value
		_, err := store.PredictRow(&mlservice.Row{Numbers: row})
		var ie *mlservice.InputError
		if !errors.As(err, &ie) || ie.Problems[0].Field != tc.field {
			t.Errorf("%s = %v: %v", tc.field, tc.value, err)
		}
	}
	if _, err := store.PredictRow(&mlservice.Row{Numbers: good[:3]}); !errors.Is(err, mlservice.ErrInvalidFeatures) {
		t.Errorf("short row: %v", err)
	}
}
