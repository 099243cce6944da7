package mlservice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// mlkit.Row is a valid row of features.
func TestStoreOpensOnExistingVersion(t *testing.T) {
	dir := t.TempDir()
	d := mlkit.Promote(t, dir, 0.5)
	s := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
	if st := s.Status(); !st.Ready || st.ModelVersionID != d.VersionID || st.Loads != 1 {
		t.Fatalf("status: %+v", st)
	}
	if s.Dir() != dir {
		t.Errorf("Dir = %q", s.Dir())
	}
	if _, err := mlservice.OpenStore("", mlservice.StoreOptions{}); err == nil {
		t.Error("OpenStore(\"\") succeeded")
	}
}

func TestStoreReload(t *testing.T) {
	dir := t.TempDir()
	s := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1}) // no background refresh
	if changed, err := s.Reload(context.Background()); changed || err != nil {
		t.Fatalf("Reload with nothing promoted = %v, %v", changed, err)
	}
	first := mlkit.Promote(t, dir, 0.5)
	time.Sleep(20 * time.Millisecond)
	if got := mlkit.Serving(t, s); got != "" {
		t.Fatalf("a store without refresh loaded %q on its own", got)
	}
	if changed, err := s.Reload(context.Background()); !changed || err != nil {
		t.Fatalf("Reload after a promotion = %v, %v", changed, err)
	}
	if got := mlkit.Serving(t, s); got != first.VersionID {
		t.Fatalf("serving %q, want %q", got, first.VersionID)
	}
	if changed, err := s.Reload(context.Background()); changed || err != nil {
		t.Fatalf("second Reload = %v, %v", changed, err)
	}
	second := mlkit.Promote(t, dir, 0.6)
	if changed, err := s.Reload(context.Background()); !changed || err != nil || mlkit.Serving(t, s) != second.VersionID {
		t.Fatalf("Reload after the second promotion = %v, %v", changed, err)
	}
	if _, err := mlservice.Rollback(context.Background(), dir, first.VersionID); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.Reload(context.Background()); !changed || err != nil || mlkit.Serving(t, s) != first.VersionID {
		t.Fatalf("Reload after a rollback = %v, %v", changed, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Reload(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Reload with a cancelled context = %v", err)
	}
}

func TestStoreClose(t *testing.T) {
	dir := t.TempDir()
	d := mlkit.Promote(t, dir, 0.5)
	before := runtime.NumGoroutine()
	s, err := mlservice.OpenStore(dir, mlservice.StoreOptions{RefreshInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	deadline := time.Now().Add(10 * time.Second) // a give-up bound, not a promise
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Reload(context.Background()); !errors.Is(err, mlservice.ErrClosed) {
		t.Errorf("Reload after Close = %v, want ErrClosed", err)
	}
	// The last loaded version keeps answering, and no longer follows CURRENT.
	if got := mlkit.Serving(t, s); got != d.VersionID {
		t.Errorf("Predict after Close answers with %q", got)
	}
	mlkit.Promote(t, dir, 0.9)
	time.Sleep(20 * time.Millisecond)
	if got := mlkit.Serving(t, s); got != d.VersionID {
		t.Errorf("a closed store followed CURRENT to %q", got)
	}
}

func TestStorePredict(t *testing.T) {
	dir := t.TempDir()
	mlkit.Promote(t, dir, 0.5)
	s := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
	m := logisticOf(mlkit.Trained(t))
	for _, ex := range mlkit.Trained(t).Metadata.Examples {
		p, err := s.Predict(ex.Features)
		if err != nil {
			t.Fatal(err)
		}
		x := ex.Features.Vector()
		if want := m.Probability(x[:]); p.Probability != want || p.Probability != ex.Probability {
			t.Errorf("Predict(%+v) = %v, model gives %v, metadata %v", ex.Features, p.Probability, want, ex.Probability)
		}
		if p.Label != map[bool]int{true: 1, false: 0}[p.Probability > 0.5] {
			t.Errorf("label %d for probability %v", p.Label, p.Probability)
		}
	}

	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name    string
		f       func(*mlservice.Features)
		feature string
	}{
		{"NaN age", func(f *mlservice.Features) { f.Age = nan }, "age"},
		{"NaN income", func(f *mlservice.Features) { f.Income = nan }, "income"},
		{"+Inf income", func(f *mlservice.Features) { f.Income = inf }, "income"},
		{"-Inf balance", func(f *mlservice.Features) { f.AccountBalance = -inf }, "account_balance"},
		{"Inf transactions", func(f *mlservice.Features) { f.TransactionsLast30d = inf }, "transactions_last_30d"},
		{"NaN is_premium", func(f *mlservice.Features) { f.IsPremium = nan }, "is_premium"},
		{"negative age", func(f *mlservice.Features) { f.Age = -1 }, "age"},
		{"negative transactions", func(f *mlservice.Features) { f.TransactionsLast30d = -0.5 }, "transactions_last_30d"},
		{"is_premium 2", func(f *mlservice.Features) { f.IsPremium = 2 }, "is_premium"},
		{"is_premium 0.5", func(f *mlservice.Features) { f.IsPremium = 0.5 }, "is_premium"},
		{"is_premium -1", func(f *mlservice.Features) { f.IsPremium = -1 }, "is_premium"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mlkit.Row
			tc.f(&f)
			p, err := s.Predict(f)
			if !errors.Is(err, mlservice.ErrInvalidFeatures) {
				t.Fatalf("Predict = %+v, %v; want ErrInvalidFeatures", p, err)
			}
			var ie *mlservice.InputError
			if !errors.As(err, &ie) || len(ie.Problems) != 1 || ie.Problems[0].Field != tc.feature || ie.Problems[0].Row != 0 || ie.Problems[0].Reason == "" {
				t.Errorf("error %#v, want an *InputError for %s", err, tc.feature)
			}
			if p != (mlservice.Prediction{}) {
				t.Errorf("a refused row still got %+v", p)
			}
		})
	}
	// The domain's edges are accepted.
	for _, f := range []mlservice.Features{
		{}, {IsPremium: 1}, {Age: 0, Income: -1e6, AccountBalance: -1e9, TransactionsLast30d: 0, IsPremium: 0},
		{Age: 1e9, Income: 1e12, AccountBalance: 1e12, TransactionsLast30d: 1e9, IsPremium: 1},
	} {
		if p, err := s.Predict(f); err != nil || !(p.Probability >= 0 && p.Probability <= 1) {
			t.Errorf("Predict(%+v) = %+v, %v", f, p, err)
		}
	}
}

func TestStorePredictBatch(t *testing.T) {
	dir := t.TempDir()
	d := mlkit.Promote(t, dir, 0.5)
	s := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
	var rows []mlservice.Features
	for _, ex := range mlkit.Trained(t).Metadata.Examples {
		rows = append(rows, ex.Features)
	}
	prefix := mlservice.Prediction{Label: 7, ModelVersionID: "kept"}
	out, err := s.PredictBatch([]mlservice.Prediction{prefix}, rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(rows)+1 || out[0] != prefix {
		t.Fatalf("PredictBatch returned %d predictions, first %+v", len(out), out[0])
	}
	for i, p := range out[1:] {
		want, err := s.Predict(rows[i])
		if err != nil || p != want || p.ModelVersionID != d.VersionID {
			t.Errorf("row %d: batch %+v, single %+v", i, p, want)
		}
	}

	bad := append([]mlservice.Features(nil), rows...)
	bad[3].IsPremium = 2
	bad[5].Age = -1
	dst := make([]mlservice.Prediction, 1, 4)
	got, err := s.PredictBatch(dst, bad)
	var ie *mlservice.InputError
	if !errors.As(err, &ie) || !errors.Is(err, mlservice.ErrInvalidFeatures) || len(ie.Problems) != 1 ||
		ie.Problems[0].Row != 3 || ie.Problems[0].Field != "is_premium" || !strings.Contains(err.Error(), "row 3") {
		t.Fatalf("PredictBatch with a bad row 3: %v", err)
	}
	if len(got) != 1 || &got[0] != &dst[0] {
		t.Errorf("a refused batch returned %d predictions, want dst as given", len(got))
	}
	if got, err := s.PredictBatch(nil, nil); err != nil || len(got) != 0 {
		t.Errorf("empty batch: %v, %v", got, err)
	}
}

// Metadata hands out copies: a caller that edits what it got (a handler
// redacting a field, say) changes neither the store's snapshot nor what the
// next caller sees.
func TestStoreMetadataIsACopy(t *testing.T) {
	dir := t.TempDir()
	mlkit.Promote(t, dir, 0.5)
	second := mlkit.Promote(t, dir, 0.6) // has a previous metric: a pointer field
	s := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
	onDisk, err := os.ReadFile(testkit.VersionFile(dir, second.VersionID, "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want mlservice.Metadata
	if err := json.Unmarshal(onDisk, &want); err != nil {
		t.Fatal(err)
	}

	m, raw, err := s.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if m.Promotion.PreviousMetric == nil || len(m.Features) == 0 || len(m.Examples) == 0 || len(raw) == 0 {
		t.Fatalf("metadata lacks the fields this test edits: %+v", m)
	}
	m.ModelVersionID = "edited"
	m.Features[0].Mean = -1
	m.Examples[0].Probability = -1
	*m.Promotion.PreviousMetric = -1
	balanced := "edited"
	m.Params.ClassWeight = &balanced
	raw[0] = 'X'

	again, raw2, err := s.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&want, again); diff != "" {
		t.Errorf("Metadata after a caller edited its copy (-on disk +got):\n%s", diff)
	}
	if !bytes.Equal(raw2, onDisk) {
		t.Errorf("metadata.json bytes after a caller edited its copy: %.40q…", raw2)
	}
}
