package mlservice_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/model"
)

// The public tables of testdata/tables/{mlc_churn,attrition} with their
// committed train/test split, and XGBoost's and logistic regression's
// figures on the test rows (testdata/gbdt/golden.json).

// familyTable validates table name's train.csv and test.csv under its schema.json.
func familyTable(t testing.TB, name string) (train, test *mlservice.Dataset) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(testkit.Root(t), "testdata", "tables", name)
	s, err := mlservice.LoadSchemaFile(filepath.Join(dir, "schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if train, err = mlservice.ValidateTableFile(ctx, filepath.Join(dir, "train.csv"), s); err != nil {
		t.Fatal(err)
	}
	if test, err = mlservice.ValidateTableFile(ctx, filepath.Join(dir, "test.csv"), train.Schema); err != nil {
		t.Fatal(err)
	}
	return train, test
}

type figures struct {
	F1     float64 `json:"f1"`
	ROCAUC float64 `json:"roc_auc"`
}

// xgbGolden returns testdata/gbdt/golden.json's figures for table name.
func xgbGolden(t testing.TB, name string) (xgb, logistic figures) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testkit.Root(t), "testdata", "gbdt", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Tables map[string]struct {
			XGBoost  figures `json:"xgboost_hist"`
			Logistic figures `json:"logistic"`
		} `json:"tables"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	tb, ok := g.Tables[name]
	if !ok {
		t.Fatalf("golden.json has no table %s", name)
	}
	return tb.XGBoost, tb.Logistic
}

// TestAutoPicksTreesOnChurn: on mlc_churn trees win by far, auto must find
// it on its validation split of the training rows, and the trees it then
// fits with XGBoost's settings (200 trees of depth 6, rate 0.1, no early
// stopping) must score on the test rows as XGBoost-hist does: F1 within
// 0.02, ROC AUC within 0.01.
func TestAutoPicksTreesOnChurn(t *testing.T) {
	train, test := familyTable(t, "mlc_churn")
	cand, err := mlservice.Train(context.Background(), train, mlservice.TrainOptions{Family: mlservice.FamilyAuto, NoEarlyStopping: true, Eval: test})
	if err != nil {
		t.Fatal(err)
	}
	md := cand.Metadata
	auto := md.Params.Auto
	if md.ModelFamily != "gbdt" || cand.Model.Family() != "gbdt" || auto == nil || auto.Chosen != "gbdt" {
		t.Fatalf("auto chose %s (%+v), want gbdt", md.ModelFamily, auto)
	}
	t.Logf("auto: %s", auto.Reason)
	if want := int(math.Round(0.2 * float64(train.Len()))); auto.ValidationRows < want-1 || auto.ValidationRows > want+1 || auto.Metric != "f1" {
		t.Errorf("auto scored %s on %d validation rows, want f1 on 20%% of the %d training rows", auto.Metric, auto.ValidationRows, train.Len())
	}
	if md.Data.TrainRows != train.Len() || md.Data.EvalRows != test.Len() || md.Params.Family != "auto" ||
		md.Params.Trees == nil || md.Params.Trees.Trees != 200 || md.Params.Trees.MaxDepth != 6 {
		t.Errorf("data %+v, params %+v", md.Data, md.Params)
	}
	// 200 trees of depth 6 are over the 1 MiB other version files are held
	// to: the version is written, read back and served all the same.
	dir := t.TempDir()
	d, err := mlservice.Promote(context.Background(), dir, cand)
	if err != nil {
		t.Fatal(err)
	}
	size := len(testkit.ReadFile(t, testkit.VersionFile(dir, d.VersionID, "model.json")))
	if size < 1<<20 {
		t.Errorf("model.json has %d bytes: the test no longer checks a trees model over 1 MiB", size)
	}
	if _, m, err := mlservice.ReadVersion(dir, d.VersionID); err != nil || m.Family() != "gbdt" {
		t.Errorf("a model.json of %d bytes read back: %v", size, err)
	}
	xgb, _ := xgbGolden(t, "mlc_churn")
	got := md.Metrics
	t.Logf("trees through Train on mlc_churn's test rows: F1 %.4f AUC %.4f; XGBoost-hist F1 %.4f AUC %.4f", got.F1, got.ROCAUC, xgb.F1, xgb.ROCAUC)
	if math.Abs(got.F1-xgb.F1) > 0.02 || math.Abs(got.ROCAUC-xgb.ROCAUC) > 0.01 {
		t.Errorf("F1 %.4f, AUC %.4f: not within 0.02 / 0.01 of XGBoost's %.4f / %.4f", got.F1, got.ROCAUC, xgb.F1, xgb.ROCAUC)
	}
}

// TestAutoPicksLogisticOnAttrition: on attrition logistic regression wins
// on F1; auto with every default must keep it, and record both scores.
func TestAutoPicksLogisticOnAttrition(t *testing.T) {
	train, test := familyTable(t, "attrition")
	cand, err := mlservice.Train(context.Background(), train, mlservice.TrainOptions{Family: mlservice.FamilyAuto, Eval: test})
	if err != nil {
		t.Fatal(err)
	}
	md := cand.Metadata
	auto := md.Params.Auto
	if md.ModelFamily != "logistic" || auto == nil || auto.Chosen != "logistic" {
		t.Fatalf("auto chose %s (%+v), want logistic", md.ModelFamily, auto)
	}
	t.Logf("auto: %s", auto.Reason)
	if _, ok := auto.Scores["gbdt"]; !ok || auto.Scores["logistic"] < auto.Scores["gbdt"] || !strings.Contains(auto.Reason, "validation rows") {
		t.Errorf("auto scores %v, reason %q", auto.Scores, auto.Reason)
	}
	// Its settings are recorded though the trees lost, so a rerun is skipped only under the same ones.
	if o := md.Params.TreeOptions; o == nil || *o != (mlservice.TreeOptions{Trees: 200, MaxDepth: 6, LearningRate: 0.1, EarlyStopping: true}) {
		t.Errorf("tree options %+v", o)
	}
	_, lr := xgbGolden(t, "attrition")
	t.Logf("logistic on attrition's test rows: F1 %.4f AUC %.4f (scikit-learn: %.4f / %.4f)", md.Metrics.F1, md.Metrics.ROCAUC, lr.F1, lr.ROCAUC)
}

// TestTreesVersionRoundTrip: a logistic version, then a trees version
// promoted over it by the same rule on the same rows; the trees version is
// written, read back, verified and served as the candidate predicts.
func TestTreesVersionRoundTrip(t *testing.T) {
	ctx := context.Background()
	train, test := familyTable(t, "mlc_churn")
	dir := t.TempDir()
	lr, err := mlservice.Train(ctx, train, mlservice.TrainOptions{Eval: test})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mlservice.Promote(ctx, dir, lr); err != nil {
		t.Fatal(err)
	}
	opts := mlservice.TrainOptions{Family: mlservice.FamilyGBDT, Trees: 60, MaxDepth: 4, LearningRate: 0.2, Eval: test}
	cand, err := mlservice.Train(ctx, train, opts)
	if err != nil {
		t.Fatal(err)
	}
	d, err := mlservice.Promote(ctx, dir, cand)
	if err != nil {
		t.Fatal(err)
	}
	// The logistic version re-scored on the trees' evaluation rows: the same file, so its recorded F1.
	if !d.Promoted || d.PreviousMetric == nil || *d.PreviousMetric != lr.Metadata.Metrics.F1 || !strings.Contains(d.Reason, "on the same 1250 evaluation rows") {
		t.Fatalf("trees (F1 %.4f) against logistic (F1 %.4f): %+v", cand.Metadata.Metrics.F1, lr.Metadata.Metrics.F1, d)
	}
	meta, m, err := mlservice.ReadVersion(dir, d.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	if meta.ModelFamily != "gbdt" || m.Family() != "gbdt" || meta.Params.TreeOptions == nil ||
		*meta.Params.TreeOptions != (mlservice.TreeOptions{Trees: 60, MaxDepth: 4, LearningRate: 0.2, EarlyStopping: true}) {
		t.Errorf("version read back: family %s / %s, params %+v", meta.ModelFamily, m.Family(), meta.Params)
	}
	gain := 0.0
	for _, fi := range meta.Importance {
		gain += fi.TotalGain
	}
	if !(gain > 0) || lr.Metadata.Importance[0].TotalGain != 0 {
		t.Errorf("total gain %v in the trees version's importance, %v in the logistic one's", gain, lr.Metadata.Importance[0].TotalGain)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "models", "versions", d.VersionID, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"family": "gbdt"`) {
		t.Errorf("model.json does not name its family: %.200s", raw)
	}
	// A candidate survives JSON as the trees it is.
	enc, err := json.Marshal(cand)
	if err != nil {
		t.Fatal(err)
	}
	var back mlservice.Candidate
	if err := json.Unmarshal(enc, &back); err != nil || back.Model.Family() != "gbdt" {
		t.Fatalf("candidate from JSON: %v, %v", back.Model, err)
	}
	st := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
	if got, _, err := st.Metadata(); err != nil || got.ModelVersionID != d.VersionID || got.ModelFamily != "gbdt" {
		t.Fatalf("serving %+v, %v; want gbdt version %s", got, err, d.VersionID)
	}
	s := train.Schema
	row := make([]float64, len(s.Features))
	for i := 0; i < test.Len(); i += 97 {
		var r mlservice.Row
		for j, f := range s.Features {
			row[j] = test.X[j][i]
			if f.Type == mlservice.TypeCategory {
				r.Categories = append(r.Categories, f.Categories[int(row[j])])
			} else {
				r.Numbers = append(r.Numbers, row[j])
			}
		}
		p, err := st.PredictRow(&r)
		if err != nil {
			t.Fatal(err)
		}
		if want := model.Sigmoid(cand.Model.LogOdds(row)); p.Probability != want || p.ModelVersionID != d.VersionID || back.Model.LogOdds(row) != cand.Model.LogOdds(row) {
			t.Errorf("row %d: served %v by %s, the candidate gives %v", i, p.Probability, p.ModelVersionID, want)
		}
	}
	// The same training again is recognised; other tree settings are not.
	if same, err := mlservice.TrainedAlready(dir, train, opts); err != nil || same == nil || same.ModelVersionID != d.VersionID {
		t.Errorf("TrainedAlready with the same settings = %v, %v", same, err)
	}
	opts.MaxDepth = 5
	if same, err := mlservice.TrainedAlready(dir, train, opts); err != nil || same != nil {
		t.Errorf("TrainedAlready with another depth = %v, %v", same, err)
	}
}

// TestBadTreeOptions: each setting out of range is refused, naming it,
// before any fit.
func TestBadTreeOptions(t *testing.T) {
	ds, err := mlservice.ValidateFile(context.Background(), testkit.Data(t, "day_01.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts mlservice.TrainOptions
		want string
	}{
		{mlservice.TrainOptions{Family: "gbdt", Trees: -1}, "trees"},
		{mlservice.TrainOptions{Family: "auto", MaxDepth: -2}, "max_depth"},
		{mlservice.TrainOptions{Family: "gbdt", MaxDepth: 17}, "max_depth"},
		{mlservice.TrainOptions{Family: "gbdt", LearningRate: -0.1}, "learning_rate"},
		{mlservice.TrainOptions{Family: "gbdt", LearningRate: 1.5}, "learning_rate"},
		{mlservice.TrainOptions{Family: "gbdt", LearningRate: math.NaN()}, "learning_rate"},
		{mlservice.TrainOptions{Family: "forest"}, `family "forest"`},
		{mlservice.TrainOptions{Family: "gbdt", BalancedClassWeight: true}, "balanced"},
	} {
		_, err := mlservice.Train(context.Background(), ds, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, mlservice.ErrInvalidData) {
			t.Errorf("%+v: %v, want an option error naming %s", tc.opts, err, tc.want)
		}
	}
}

// TestImportXGBoost: an imported model is evaluated, promoted by the rule
// over the current version on the same rows, written and served as XGBoost
// predicts and explains.
func TestImportXGBoost(t *testing.T) {
	ctx := context.Background()
	x := mlkit.ReadXGBCredit(t)
	dir := t.TempDir()
	lr, err := mlservice.Train(ctx, x.Eval, mlservice.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mlservice.Promote(ctx, dir, lr); err != nil {
		t.Fatal(err)
	}
	cand, err := mlservice.ImportXGBoost(ctx, x.Model, "/somewhere/xgb_credit.json", x.Eval, mlservice.TrainOptions{Rule: mlservice.PromotionRule{Metric: "roc_auc"}})
	if err != nil {
		t.Fatal(err)
	}
	md := cand.Metadata
	if md.ModelFamily != "gbdt" || md.Params.Model != "xgboost" || md.Params.Trees == nil || md.Params.Trees.Source != "xgboost" || md.Params.Trees.Trees != 100 ||
		md.TrainingDataFile != "xgb_credit.json" || md.EvaluationDataFile != "xgb_credit_eval.csv" || md.Metric.Name != "roc_auc" || md.Data.EvalRows != x.Eval.Len() {
		t.Errorf("metadata %+v", md)
	}
	d, err := mlservice.Promote(ctx, dir, cand)
	if err != nil {
		t.Fatal(err)
	}
	// The logistic version was fitted on these very rows, so it may win; either way it was compared on them.
	if d.PreviousMetric == nil || !strings.Contains(d.Reason, "on the same 266 evaluation rows") {
		t.Fatalf("decision %+v", d)
	}
	t.Logf("imported: roc_auc %.4f, %s", md.Metric.Value, d.Reason)
	if !d.Promoted {
		if _, err := mlservice.PromoteVersion(ctx, dir, d.VersionID); err != nil {
			t.Fatal(err)
		}
	}
	meta, m, err := mlservice.ReadVersion(dir, d.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	if meta.ModelFamily != "gbdt" || meta.ModelSHA256 == "" {
		t.Errorf("version metadata %+v", meta)
	}
	st := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
	x.Check(t, st, m)
}

// TestImportXGBoostRefuses: what FromXGBoost refuses, ImportXGBoost
// refuses with what and where, making no candidate (cmd/trainer checks that
// nothing is written).
func TestImportXGBoostRefuses(t *testing.T) {
	ctx := context.Background()
	x := mlkit.ReadXGBCredit(t)
	edit := func(fn func(learner map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(x.Model, &m); err != nil {
			t.Fatal(err)
		}
		fn(m["learner"].(map[string]any))
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tree0 := func(l map[string]any) map[string]any {
		return l["gradient_booster"].(map[string]any)["model"].(map[string]any)["trees"].([]any)[0].(map[string]any)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"malformed", x.Model[:len(x.Model)/3], "not valid JSON"},
		{"multiclass", edit(func(l map[string]any) {
			l["learner_model_param"].(map[string]any)["num_class"] = "3"
		}), "num_class"},
		{"objective", edit(func(l map[string]any) { l["objective"].(map[string]any)["name"] = "reg:squarederror" }), `learner.objective.name: "reg:squarederror"`},
		{"categorical split", edit(func(l map[string]any) {
			st := tree0(l)["split_type"].([]any)
			st[0] = 1
		}), "trees[0]"},
		{"unknown feature", edit(func(l map[string]any) { l["feature_names"].([]any)[2] = "Height" }), `feature_names[2]: "Height" is not one of`},
		{"too big", edit(func(l map[string]any) {
			l["learner_model_param"].(map[string]any)["num_feature"] = "2000000"
		}), "num_feature"},
	} {
		c, err := mlservice.ImportXGBoost(ctx, tc.data, "m.json", x.Eval, mlservice.TrainOptions{})
		if err == nil || c != nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "import m.json") {
			t.Errorf("%s: %v, want an error naming m.json and %q", tc.name, err, tc.want)
		}
		t.Logf("%s: %v", tc.name, err)
	}
}

// A trees version of the built-in contract serves through every Predict
// path as its model computes.
func TestTreesServeDefaultSchema(t *testing.T) {
	ds, err := mlservice.ValidateFile(context.Background(), testkit.Data(t, "day_01.csv"))
	if err != nil {
		t.Fatal(err)
	}
	cand, err := mlservice.Train(context.Background(), ds, mlservice.TrainOptions{Family: "gbdt", Trees: 40})
	if err != nil {
		t.Fatal(err)
	}
	st := mlkit.Serve(t, cand)
	v := mlkit.Row.Vector()
	want := model.Sigmoid(cand.Model.LogOdds(v[:]))
	p, err := st.Predict(mlkit.Row)
	if err != nil || p.Probability != want {
		t.Fatalf("Predict: %v, %v; the model gives %v", p, err, want)
	}
	body, err := json.Marshal(mlkit.Row)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := st.PredictJSON(body); err != nil || p.Probability != want {
		t.Errorf("PredictJSON: %v, %v; want %v", p, err, want)
	}
	batch, err := st.PredictBatch(nil, []mlservice.Features{mlkit.Row, mlkit.Row})
	if err != nil || len(batch) != 2 || batch[1].Probability != want {
		t.Errorf("PredictBatch: %v, %v", batch, err)
	}
	if md, raw, err := st.Metadata(); err != nil || md.ModelFamily != "gbdt" || !strings.Contains(string(raw), `"model_family": "gbdt"`) {
		t.Errorf("metadata served: %v, %v", md, err)
	}
}

// With too few rows of a class to hold some out, auto keeps logistic
// regression and says why, rather than fail.
func TestAutoTooFewRows(t *testing.T) {
	lines := strings.SplitAfter(string(testkit.ReadFile(t, testkit.Data(t, "day_01.csv"))), "\n")
	var csv strings.Builder
	csv.WriteString(lines[0])
	var n [2]int
	for _, l := range lines[1:] {
		c := strings.TrimSpace(l[strings.LastIndexByte(strings.TrimSpace(l), ',')+1:])
		if k := map[string]int{"0": 0, "1": 1}[c]; c != "" && n[k] < 6 {
			csv.WriteString(l)
			n[k]++
		}
	}
	ds, err := mlservice.Validate(context.Background(), strings.NewReader(csv.String()))
	if err != nil {
		t.Fatal(err)
	}
	cand, err := mlservice.Train(context.Background(), ds, mlservice.TrainOptions{Family: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	if a := cand.Metadata.Params.Auto; cand.Model.Family() != "logistic" || a == nil || a.Chosen != "logistic" || !strings.Contains(a.Reason, "too few training rows") {
		t.Errorf("auto on %d rows: %s, %+v", ds.Len(), cand.Model.Family(), a)
	}
}

// Auto with balanced class weights records them only when logistic
// regression wins: trees do not weight classes.
func TestAutoBalancedRecordsWeightsOfTheChosen(t *testing.T) {
	train, test := familyTable(t, "mlc_churn")
	cand, err := mlservice.Train(context.Background(), train, mlservice.TrainOptions{Family: mlservice.FamilyAuto, BalancedClassWeight: true, Trees: 50, Eval: test})
	if err != nil {
		t.Fatal(err)
	}
	if p := cand.Metadata.Params; cand.Model.Family() != "gbdt" || p.ClassWeight != nil || p.Auto == nil || !p.Auto.BalancedClassWeight {
		t.Errorf("auto chose %s and records class weight %v (asked: %+v); trees weight no class", cand.Model.Family(), p.ClassWeight, p.Auto)
	}
	// The same day again, with the same options, is trained already; with
	// other class weights it is not.
	dir := t.TempDir()
	if _, err := mlservice.Promote(context.Background(), dir, cand); err != nil {
		t.Fatal(err)
	}
	opts := mlservice.TrainOptions{Family: mlservice.FamilyAuto, BalancedClassWeight: true, Trees: 50, Eval: test}
	if same, err := mlservice.TrainedAlready(dir, train, opts); err != nil || same == nil {
		t.Errorf("TrainedAlready with the same options: %v, %v", same, err)
	}
	opts.BalancedClassWeight = false
	if same, err := mlservice.TrainedAlready(dir, train, opts); err != nil || same != nil {
		t.Errorf("TrainedAlready without balanced weights: %v, %v", same, err)
	}
}
