package mlservice_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

func TestStoreServesSchema(t *testing.T) {
	dir := t.TempDir()
	d := mlkit.PromoteTable(t, dir, "grunfeld.csv", "grunfeld.schema.json", false)
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
	mlkit.PromoteTable(t, dir, "grunfeld.csv", "grunfeld_declared.schema.json", false)
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
	mlkit.PromoteTable(t, dir, "grunfeld.csv", "grunfeld.schema.json", false)
	d := mlkit.PromoteTable(t, dir, "grunfeld.csv", "grunfeld_declared.schema.json", false)
	if d.Promoted || !strings.Contains(d.Reason, "schema changed") || !strings.Contains(d.Reason, "-allow-schema-change") {
		t.Fatalf("schema change: promoted %v, %s", d.Promoted, d.Reason)
	}
	d2 := mlkit.PromoteTable(t, dir, "grunfeld.csv", "grunfeld_declared.schema.json", true)
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
// accepts the store scores. Under the schema with age and plan "missing":
// true it accepts all it accepted before, the same, and more only by
// reading a null or absent age or plan as missing (NaN, "").
func FuzzDecodeRow(f *testing.F) {
	s := mustSchema(f, customSchema)
	for i := range s.Features {
		if s.Features[i].Categories == nil {
			s.Features[i].Categories = []string{"east", "north"}
		}
	}
	sm := mustSchema(f, customSchema)
	for i := range sm.Features {
		sm.Features[i].Categories = s.Features[i].Categories
	}
	sm.Features[0].Missing, sm.Features[2].Missing = true, true
	f.Add([]byte(`{"age":null,"premium":1,"region":"north"}`))
	f.Add([]byte(`{"age":30,"premium":null,"plan":"","region":"north"}`))
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
		rm, errm := mlservice.DecodeRow(sm, data)
		switch {
		case err == nil && (errm != nil || !reflect.DeepEqual(r, rm)):
			t.Fatalf("missing: true changed %+v into %+v, %v", r, rm, errm)
		case err != nil && errm == nil:
			if math.IsNaN(rm.Numbers[1]) || rm.Categories[1] == "" || !math.IsNaN(rm.Numbers[0]) && rm.Categories[0] != "" {
				t.Fatalf("%q refused (%v) but accepted as %+v under missing: true", data, err, rm)
			}
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
	mlkit.PromoteTable(t, dir, "randhie.csv", "randhie.schema.json", false)
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

// TestSchemaSwapIsAtomic: while versions of two schemas take turns being
// current, every request is decoded and scored by one version: a body of
// the default schema is answered only by default versions and a grunfeld
// body only by grunfeld versions, and everything else is a 422.
func TestSchemaSwapIsAtomic(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	day, err := mlservice.ValidateFile(ctx, "data/day_01.csv")
	if err != nil {
		t.Fatal(err)
	}
	promoteDefault := func() string {
		cand, err := mlservice.Train(ctx, day, mlservice.TrainOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cand.AllowSchemaChange = true
		d, err := mlservice.Promote(ctx, dir, cand)
		if err != nil || !d.Promoted {
			t.Fatalf("%+v, %v", d, err)
		}
		return d.VersionID
	}
	schemaOf := map[string]string{promoteDefault(): "default"}
	store, err := mlservice.OpenStore(dir, mlservice.StoreOptions{RefreshInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	bodies := map[string][]byte{
		"default":  []byte(`{"age":42,"income":52000,"account_balance":1800,"transactions_last_30d":12,"is_premium":1}`),
		"grunfeld": []byte(`{"firm":"IBM","year":1950,"value":3000,"capital":200}`),
	}
	var mu sync.Mutex
	var answered [][2]string // body kind, version that answered
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for kind, body := range bodies {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				p, err := store.PredictJSON(body)
				mu.Lock()
				switch {
				case err == nil:
					answered = append(answered, [2]string{kind, p.ModelVersionID})
				case !errors.Is(err, mlservice.ErrInvalidFeatures):
					t.Errorf("%s body: %v", kind, err)
				}
				mu.Unlock()
			}
		})
	}
	for range 3 {
		d := mlkit.PromoteTable(t, dir, "grunfeld.csv", "grunfeld.schema.json", true)
		mu.Lock()
		schemaOf[d.VersionID] = "grunfeld"
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		id := promoteDefault()
		mu.Lock()
		schemaOf[id] = "default"
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	seen := map[string]int{}
	for _, a := range answered {
		if schemaOf[a[1]] != a[0] {
			t.Fatalf("a %s body answered by %s, a %q version", a[0], a[1], schemaOf[a[1]])
		}
		seen[a[0]]++
	}
	if seen["default"] == 0 || seen["grunfeld"] == 0 {
		t.Errorf("answers: %v", seen)
	}
}
