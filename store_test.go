package mlservice_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
)

// artRow is a valid row of features.
var artRow = mlservice.Features{Age: 42, Income: 52000, AccountBalance: 1800, TransactionsLast30d: 12, IsPremium: 1}

func artOpenStore(tb testing.TB, dir string, opts mlservice.StoreOptions) *mlservice.Store {
	tb.Helper()
	s, err := mlservice.OpenStore(dir, opts)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// artServing returns the version id Predict answers with ("" when not ready).
func artServing(tb testing.TB, s *mlservice.Store) string {
	tb.Helper()
	p, err := s.Predict(artRow)
	if errors.Is(err, mlservice.ErrNotReady) {
		return ""
	}
	if err != nil {
		tb.Fatalf("predict: %v", err)
	}
	return p.ModelVersionID
}

// artWaitServing polls until the store serves id and returns how long it
// took, failing after limit.
func artWaitServing(tb testing.TB, s *mlservice.Store, id string, limit time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	for {
		if st := s.Status(); st.Ready && st.ModelVersionID == id {
			if got := artServing(tb, s); got != id {
				tb.Fatalf("Status says %s, Predict answers with %s", id, got)
			}
			return time.Since(start)
		}
		if time.Since(start) > limit {
			tb.Fatalf("store still serves %q (%+v) %v after %s became current", artServing(tb, s), s.Status(), limit, id)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStoreFollowsPromotions(t *testing.T) {
	dir := t.TempDir()
	s := artOpenStore(t, dir, mlservice.StoreOptions{}) // the defaults are what is promised

	st := s.Status()
	if st.Ready || st.ModelVersionID != "" || st.LastError != "" || st.Loads != 0 || st.LoadFailures != 0 {
		t.Fatalf("status before any promotion: %+v", st)
	}
	if _, err := s.Predict(artRow); !errors.Is(err, mlservice.ErrNotReady) {
		t.Fatalf("Predict before any promotion: %v, want ErrNotReady", err)
	}
	if dst, err := s.PredictBatch(nil, []mlservice.Features{artRow}); !errors.Is(err, mlservice.ErrNotReady) || len(dst) != 0 {
		t.Fatalf("PredictBatch before any promotion: %v, %v", dst, err)
	}
	if _, _, err := s.Metadata(); !errors.Is(err, mlservice.ErrNotReady) {
		t.Fatalf("Metadata before any promotion: %v", err)
	}

	first := artPromote(t, dir, 0.5)
	took := artWaitServing(t, s, first.VersionID, 2*time.Second)
	t.Logf("first promotion served after %v", took)
	if took >= 500*time.Millisecond {
		t.Errorf("first promotion served after %v, want < 500ms", took)
	}

	second := artPromote(t, dir, 0.6)
	took = artWaitServing(t, s, second.VersionID, 2*time.Second)
	t.Logf("second promotion served after %v", took)
	if took >= 500*time.Millisecond {
		t.Errorf("second promotion served after %v, want < 500ms", took)
	}

	rejected := artPromote(t, dir, 0.55)
	if rejected.Promoted {
		t.Fatal("f1 0.55 promoted over 0.6")
	}
	if changed, err := s.Reload(context.Background()); changed || err != nil {
		t.Errorf("Reload after a rejection = %v, %v", changed, err)
	}
	st = s.Status()
	if !st.Ready || st.ModelVersionID != second.VersionID || st.Loads != 2 || st.LoadFailures != 0 ||
		st.LastError != "" || st.LoadedAt.IsZero() || st.LastCheck.IsZero() {
		t.Errorf("status: %+v", st)
	}
	meta, raw, err := s.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(artVersionFile(dir, second.VersionID, "metadata.json"))
	if meta.ModelVersionID != second.VersionID || string(raw) != string(onDisk) {
		t.Errorf("Metadata: %s and %d bytes, want the bytes of %s", meta.ModelVersionID, len(raw), second.VersionID)
	}
}

func TestStoreOpensOnExistingVersion(t *testing.T) {
	dir := t.TempDir()
	d := artPromote(t, dir, 0.5)
	s := artOpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
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
	s := artOpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1}) // no background refresh
	if changed, err := s.Reload(context.Background()); changed || err != nil {
		t.Fatalf("Reload with nothing promoted = %v, %v", changed, err)
	}
	first := artPromote(t, dir, 0.5)
	time.Sleep(20 * time.Millisecond)
	if got := artServing(t, s); got != "" {
		t.Fatalf("a store without refresh loaded %q on its own", got)
	}
	if changed, err := s.Reload(context.Background()); !changed || err != nil {
		t.Fatalf("Reload after a promotion = %v, %v", changed, err)
	}
	if got := artServing(t, s); got != first.VersionID {
		t.Fatalf("serving %q, want %q", got, first.VersionID)
	}
	if changed, err := s.Reload(context.Background()); changed || err != nil {
		t.Fatalf("second Reload = %v, %v", changed, err)
	}
	second := artPromote(t, dir, 0.6)
	if changed, err := s.Reload(context.Background()); !changed || err != nil || artServing(t, s) != second.VersionID {
		t.Fatalf("Reload after the second promotion = %v, %v", changed, err)
	}
	if _, err := mlservice.Rollback(context.Background(), dir, first.VersionID); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.Reload(context.Background()); !changed || err != nil || artServing(t, s) != first.VersionID {
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
	d := artPromote(t, dir, 0.5)
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
	deadline := time.Now().Add(2 * time.Second)
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
	if got := artServing(t, s); got != d.VersionID {
		t.Errorf("Predict after Close answers with %q", got)
	}
	artPromote(t, dir, 0.9)
	time.Sleep(20 * time.Millisecond)
	if got := artServing(t, s); got != d.VersionID {
		t.Errorf("a closed store followed CURRENT to %q", got)
	}
}

func TestStorePredict(t *testing.T) {
	dir := t.TempDir()
	artPromote(t, dir, 0.5)
	s := artOpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
	m := artTrained(t).Model
	for _, ex := range artTrained(t).Metadata.Examples {
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
			f := artRow
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
	d := artPromote(t, dir, 0.5)
	s := artOpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
	var rows []mlservice.Features
	for _, ex := range artTrained(t).Metadata.Examples {
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

// artCorruption breaks the version bad (current is a good one) and points
// CURRENT where the case needs.
type artCorruption struct {
	name  string
	apply func(t *testing.T, dir, good, bad string)
	want  error  // matched with errors.Is
	msg   string // part of Status().LastError
}

func artEditFile(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, edit(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func artEditMetadata(t *testing.T, dir, id string, edit func(*mlservice.Metadata)) {
	t.Helper()
	artEditFile(t, artVersionFile(dir, id, "metadata.json"), func(b []byte) []byte {
		var m mlservice.Metadata
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		edit(&m)
		out, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return out
	})
}

var artCorruptions = []artCorruption{
	{"truncated model.json", func(t *testing.T, dir, good, bad string) {
		artEditFile(t, artVersionFile(dir, bad, "model.json"), func(b []byte) []byte { return b[:len(b)/2] })
		artWriteCurrent(t, dir, bad+"\n")
	}, mlservice.ErrCorruptVersion, "SHA-256"},
	{"one changed byte in model.json", func(t *testing.T, dir, good, bad string) {
		artEditFile(t, artVersionFile(dir, bad, "model.json"), func(b []byte) []byte {
			i := strings.Index(string(b), `"coef"`)
			for ; b[i] < '0' || b[i] > '9'; i++ {
			}
			b[i] = '0' + (b[i]-'0'+1)%10 // still valid JSON, another number
			return b
		})
		artWriteCurrent(t, dir, bad+"\n")
	}, mlservice.ErrCorruptVersion, "SHA-256"},
	{"empty model.json", func(t *testing.T, dir, good, bad string) {
		artEditFile(t, artVersionFile(dir, bad, "model.json"), func([]byte) []byte { return nil })
		artWriteCurrent(t, dir, bad+"\n")
	}, mlservice.ErrCorruptVersion, "SHA-256"},
	{"missing model.json", func(t *testing.T, dir, good, bad string) {
		if err := os.Remove(artVersionFile(dir, bad, "model.json")); err != nil {
			t.Fatal(err)
		}
		artWriteCurrent(t, dir, bad+"\n")
	}, mlservice.ErrCorruptVersion, "model.json"},
	{"garbage metadata.json", func(t *testing.T, dir, good, bad string) {
		artEditFile(t, artVersionFile(dir, bad, "metadata.json"), func([]byte) []byte { return []byte("\x00garbage{") })
		artWriteCurrent(t, dir, bad+"\n")
	}, mlservice.ErrCorruptVersion, "metadata.json"},
	{"missing metadata.json", func(t *testing.T, dir, good, bad string) {
		if err := os.Remove(artVersionFile(dir, bad, "metadata.json")); err != nil {
			t.Fatal(err)
		}
		artWriteCurrent(t, dir, bad+"\n")
	}, mlservice.ErrCorruptVersion, "metadata.json is missing"},
	{"metadata names another version", func(t *testing.T, dir, good, bad string) {
		artEditMetadata(t, dir, bad, func(m *mlservice.Metadata) { m.ModelVersionID = good })
		artWriteCurrent(t, dir, bad+"\n")
	}, mlservice.ErrCorruptVersion, "metadata names version"},
	{"another feature schema", func(t *testing.T, dir, good, bad string) {
		artEditMetadata(t, dir, bad, func(m *mlservice.Metadata) { m.FeatureSchemaVersion = "2" })
		artWriteCurrent(t, dir, bad+"\n")
	}, mlservice.ErrCorruptVersion, "feature schema"},
	{"altered example probability", func(t *testing.T, dir, good, bad string) {
		// model.json and its checksum are intact: only the self-test can tell.
		artEditMetadata(t, dir, bad, func(m *mlservice.Metadata) { m.Examples[2].Probability += 1e-6 })
		artWriteCurrent(t, dir, bad+"\n")
	}, mlservice.ErrCorruptVersion, "self-test"},
	{"CURRENT names a missing version", func(t *testing.T, dir, good, bad string) {
		artWriteCurrent(t, dir, "20000101T000000.000000Z-00000000\n")
	}, mlservice.ErrVersionNotFound, "not found"},
	{"CURRENT is ../../etc", func(t *testing.T, dir, good, bad string) {
		artWriteCurrent(t, dir, "../../etc\n")
	}, mlservice.ErrBadVersionID, "../../etc"},
	{"CURRENT is empty", func(t *testing.T, dir, good, bad string) {
		artWriteCurrent(t, dir, "")
	}, mlservice.ErrBadVersionID, "empty"},
	{"CURRENT has trailing garbage", func(t *testing.T, dir, good, bad string) {
		artWriteCurrent(t, dir, bad+"\ngarbage\n")
	}, mlservice.ErrBadVersionID, "malformed"},
	{"CURRENT removed", func(t *testing.T, dir, good, bad string) {
		if err := os.Remove(artModels(dir, "CURRENT")); err != nil {
			t.Fatal(err)
		}
	}, mlservice.ErrNoCurrent, "no current"},
}

// A version that fails to load is refused with the reason in Status, and the
// previous one keeps serving until CURRENT names a good version again.
func TestStoreRefusesCorruptVersions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range artCorruptions {
		for _, fix := range []string{"current moved back", "new promotion"} {
			t.Run(tc.name+"/"+fix, func(t *testing.T) {
				dir := t.TempDir()
				good := artPromote(t, dir, 0.9)
				s := artOpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
				bad := artPromote(t, dir, 0.1)
				if bad.Promoted {
					t.Fatal("setup: f1 0.1 promoted over 0.9")
				}
				tc.apply(t, dir, good.VersionID, bad.VersionID)

				for range 2 { // a repeated failure is reported again but counted once
					changed, err := s.Reload(ctx)
					if changed || !errors.Is(err, tc.want) {
						t.Fatalf("Reload = %v, %v; want %v", changed, err, tc.want)
					}
					st := s.Status()
					if !st.Ready || st.ModelVersionID != good.VersionID || !strings.Contains(st.LastError, tc.msg) ||
						st.LastErrorAt.IsZero() || st.LoadFailures != 1 || st.Loads != 1 {
						t.Fatalf("status: %+v; want the error to mention %q", st, tc.msg)
					}
					if got := artServing(t, s); got != good.VersionID {
						t.Fatalf("serving %q, want the previous version %q", got, good.VersionID)
					}
				}

				want := good.VersionID
				switch fix {
				case "current moved back":
					artWriteCurrent(t, dir, good.VersionID+"\n")
				case "new promotion":
					// A score lower than both: a current version that cannot
					// be served does not count.
					d := artPromote(t, dir, 0.05)
					if !d.Promoted {
						t.Fatalf("promotion over a broken CURRENT refused: %s", d.Reason)
					}
					want = d.VersionID
				}
				changed, err := s.Reload(ctx)
				if err != nil || changed != (want != good.VersionID) {
					t.Fatalf("Reload after the fix = %v, %v", changed, err)
				}
				if st := s.Status(); st.LastError != "" || st.ModelVersionID != want || st.LoadFailures != 1 {
					t.Fatalf("status after the fix: %+v", st)
				}
				if got := artServing(t, s); got != want {
					t.Fatalf("serving %q after the fix, want %q", got, want)
				}
			})
		}
	}
}

// The background refresh notices a broken CURRENT on its own, keeps the
// previous version, and follows the next good promotion; a store opened on a
// broken CURRENT is not ready until then.
func TestStoreRefusesCorruptVersionInBackground(t *testing.T) {
	dir := t.TempDir()
	good := artPromote(t, dir, 0.9)
	s := artOpenStore(t, dir, mlservice.StoreOptions{})
	bad := artPromote(t, dir, 0.1)
	artEditFile(t, artVersionFile(dir, bad.VersionID, "model.json"), func(b []byte) []byte { return b[:10] })
	artWriteCurrent(t, dir, bad.VersionID+"\n")

	deadline := time.Now().Add(2 * time.Second)
	for s.Status().LastError == "" {
		if time.Now().After(deadline) {
			t.Fatalf("a broken CURRENT went unnoticed: %+v", s.Status())
		}
		time.Sleep(time.Millisecond)
	}
	if st := s.Status(); st.ModelVersionID != good.VersionID || st.LoadFailures != 1 || !strings.Contains(st.LastError, bad.VersionID) {
		t.Fatalf("status: %+v", st)
	}

	fresh := artOpenStore(t, dir, mlservice.StoreOptions{})
	if st := fresh.Status(); st.Ready || st.LastError == "" || st.LoadFailures != 1 {
		t.Fatalf("a store opened on a broken CURRENT: %+v", st)
	}
	if _, err := fresh.Predict(artRow); !errors.Is(err, mlservice.ErrNotReady) {
		t.Fatalf("Predict = %v, want ErrNotReady", err)
	}

	next := artPromote(t, dir, 0.05)
	for _, st := range []*mlservice.Store{s, fresh} {
		if took := artWaitServing(t, st, next.VersionID, 2*time.Second); took >= 500*time.Millisecond {
			t.Errorf("recovery took %v", took)
		}
		if st.Status().LastError != "" {
			t.Errorf("error kept after recovery: %+v", st.Status())
		}
	}
}
