package mlservice_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// The acceptance test of drift through the real path: train on day 1,
// promote, open a store, predict 3000 rows of day 2 with age + 40 and read
// the store's drift report: age's PSI is over 0.25 and every other
// feature's under 0.1. Unshifted rows stay under 0.1 everywhere.
func TestStoreDriftShiftedAge(t *testing.T) {
	ctx := context.Background()
	train, err := mlservice.ValidateFile(ctx, "data/day_01.csv")
	if err != nil {
		t.Fatal(err)
	}
	traffic, err := mlservice.ValidateFile(ctx, "data/day_02.csv")
	if err != nil {
		t.Fatal(err)
	}
	cand, err := mlservice.Train(ctx, train, mlservice.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cand.Metadata.Drift == nil || len(cand.Metadata.Drift.Features) != mlservice.NumFeatures {
		t.Fatalf("candidate drift profile %+v", cand.Metadata.Drift)
	}
	dir := t.TempDir()
	if _, err := mlservice.Promote(ctx, dir, cand); err != nil {
		t.Fatal(err)
	}
	const rows = 3000
	for _, tc := range []struct {
		name  string
		shift float64
	}{{"age + 40", 40}, {"as is", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			// A new store: a newly loaded version counts from zero.
			s := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
			r, err := s.Drift()
			if err != nil || !r.Available || r.Rows != 0 {
				t.Fatalf("drift before any row: %+v, %v", r, err)
			}
			positives := uint64(0)
			for i := range rows {
				f := traffic.Row(i * traffic.Len() / rows)
				f.Age += tc.shift
				p, err := s.Predict(f)
				if err != nil {
					t.Fatal(err)
				}
				positives += uint64(p.Label)
			}
			r, err = s.Drift()
			if err != nil {
				t.Fatal(err)
			}
			st := s.Status()
			if r.ModelVersionID != st.ModelVersionID || r.Rows != rows || r.Positives != positives {
				t.Fatalf("report of %s: %d rows, %d positives; want %s, %d, %d", r.ModelVersionID, r.Rows, r.Positives,
					st.ModelVersionID, rows, positives)
			}
			if want := float64(train.ClassCounts()[1]) / float64(train.Len()); r.TrainingPositiveRate != want {
				t.Errorf("training positive rate %v, want %v", r.TrainingPositiveRate, want)
			}
			for _, f := range r.Features {
				if f.PSI == nil {
					t.Fatalf("%s: no PSI after %d rows", f.Name, rows)
				}
				t.Logf("%-22s PSI %.4f", f.Name, *f.PSI)
				shifted := f.Name == "age" && tc.shift != 0
				if shifted && !(*f.PSI > 0.25) {
					t.Errorf("%s shifted: PSI %.4f, want > 0.25", f.Name, *f.PSI)
				}
				if !shifted && !(*f.PSI < 0.1) {
					t.Errorf("%s unshifted: PSI %.4f, want < 0.1", f.Name, *f.PSI)
				}
			}
			if _, err := json.Marshal(r); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A version whose metadata has no drift profile (written before drift)
// serves as before and reports drift as unavailable; so does a store
// opened with DisableDrift.
func TestStoreDriftUnavailable(t *testing.T) {
	ctx := context.Background()
	train, err := mlservice.ValidateFile(ctx, "data/day_01.csv")
	if err != nil {
		t.Fatal(err)
	}
	cand, err := mlservice.Train(ctx, train, mlservice.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := mlservice.Promote(ctx, dir, cand); err != nil {
		t.Fatal(err)
	}
	off := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1, DisableDrift: true})
	if _, err := off.Predict(train.Row(0)); err != nil {
		t.Fatal(err)
	}
	if r, err := off.Drift(); err != nil || r.Available || r.Rows != 0 || r.Reason == "" {
		t.Errorf("DisableDrift: %+v, %v", r, err)
	}

	old := *cand
	old.Metadata.Drift = nil
	old.AllowSchemaChange = true
	old.Metadata.Metric.Value = 1 // promoted whatever its F1
	dir = t.TempDir()
	if _, err := mlservice.Promote(ctx, dir, &old); err != nil {
		t.Fatal(err)
	}
	s := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
	if _, err := s.Predict(train.Row(0)); err != nil {
		t.Fatal(err)
	}
	r, err := s.Drift()
	if err != nil || r.Available || r.Rows != 0 || r.Reason == "" || r.ModelVersionID == "" {
		t.Errorf("a version without a profile: %+v, %v", r, err)
	}
	t.Logf("reason: %s", r.Reason)

	empty := mlkit.OpenStore(t, t.TempDir(), mlservice.StoreOptions{RefreshInterval: -1})
	if _, err := empty.Drift(); err != mlservice.ErrNotReady {
		t.Errorf("not ready: %v", err)
	}
}

// Under a declared schema drift counts numbers by deciles and a category by
// its values plus one bin for values the model ignores: the training rows
// served again show no drift; the same rows with one firm in three unseen
// ("Acme", which "unknown": "ignore" lets through) and value doubled show
// it in firm and value only.
func TestStoreDriftDeclaredSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := mlkit.PromoteTable(t, dir, "grunfeld.csv", "grunfeld.schema.json", false)
	s, err := mlservice.LoadSchemaFile("testdata/tables/grunfeld.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := mlservice.ValidateTableFile(ctx, "testdata/tables/grunfeld.csv", s)
	if err != nil {
		t.Fatal(err)
	}
	firms := ds.Schema.Features[0].Categories // resolved: learned from the file
	const rows = 3000
	for _, shifted := range []bool{false, true} {
		store := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
		for i := range rows {
			k := i % ds.Len()
			// The schema's features: firm, year, value, capital.
			r := mlservice.Row{Numbers: []float64{ds.X[1][k], ds.X[2][k], ds.X[3][k]}, Categories: []string{firms[int(ds.X[0][k])]}}
			if shifted {
				r.Numbers[1] *= 2
				if i%3 == 0 {
					r.Categories[0] = "Acme"
				}
			}
			if _, err := store.PredictRow(&r); err != nil {
				t.Fatal(err)
			}
		}
		r, err := store.Drift()
		if err != nil || !r.Available || r.Rows != rows || r.ModelVersionID != d.VersionID {
			t.Fatalf("report %+v, %v", r, err)
		}
		names := []string{}
		for _, f := range r.Features {
			names = append(names, f.Name+" "+f.Type)
			if f.PSI == nil {
				t.Fatalf("%s: no PSI", f.Name)
			}
			t.Logf("shifted %v: %-8s PSI %.4f", shifted, f.Name, *f.PSI)
			moved := shifted && (f.Name == "firm" || f.Name == "value")
			if moved && !(*f.PSI > 0.25) || !moved && !(*f.PSI < 0.1) {
				t.Errorf("shifted %v: %s PSI %.4f", shifted, f.Name, *f.PSI)
			}
			if f.Type == "category" {
				if len(f.Categories) != len(firms) || len(f.Live) != len(firms)+1 || len(f.Training) != len(firms)+1 {
					t.Errorf("firm bins: %d categories, %d live, %d training counts", len(f.Categories), len(f.Live), len(f.Training))
				}
				if want := uint64(0); shifted {
					want = rows / 3
					if f.Live[len(firms)] != want {
						t.Errorf("unknown bin %d, want %d", f.Live[len(firms)], want)
					}
				} else if f.Live[len(firms)] != want {
					t.Errorf("unknown bin %d, want 0", f.Live[len(firms)])
				}
			}
		}
		if got := strings.Join(names, ","); got != "year number,value number,capital number,firm category" {
			t.Errorf("features %s", got)
		}
	}
}

// A new version starts counting from zero: the counter belongs to the
// loaded snapshot.
func TestStoreDriftResetsOnNewVersion(t *testing.T) {
	dir := t.TempDir()
	first := mlkit.Promote(t, dir, 0.5)
	s := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
	ex := mlkit.Trained(t).Metadata.Examples
	for i := range 100 {
		if _, err := s.Predict(ex[i%len(ex)].Features); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := s.Drift(); err != nil || r.Rows != 100 || r.ModelVersionID != first.VersionID {
		t.Fatalf("first version: %+v, %v", r, err)
	}
	second := mlkit.Promote(t, dir, 0.6)
	if changed, err := s.Reload(context.Background()); err != nil || !changed {
		t.Fatalf("reload: %v, %v", changed, err)
	}
	if r, err := s.Drift(); err != nil || r.Rows != 0 || r.ModelVersionID != second.VersionID {
		t.Fatalf("second version: %+v, %v", r, err)
	}
}
