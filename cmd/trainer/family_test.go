package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// -model, the tree flags and their variables reach Train; the result and
// metadata.json carry the family and the settings.
func TestTrainModelFlagsAndEnv(t *testing.T) {
	art := t.TempDir()
	day := func(n string) string { return filepath.Join(dataDir, "day_"+n+".csv") }
	env := map[string]string{"ARTIFACTS_DIR": art}
	gb := decodeTrain(t, trainer(t, env, "train", "-model", "gbdt", "-trees", "30", "-max-depth", "3", "-learning-rate", "0.3", "-early-stopping=false", day("01")))
	want := mlservice.TreeOptions{Trees: 30, MaxDepth: 3, LearningRate: 0.3}
	if gb.ModelFamily != "gbdt" || gb.Params == nil || gb.Params.TreeOptions == nil || *gb.Params.TreeOptions != want ||
		gb.Params.Trees == nil || gb.Params.Trees.Trees != 30 || gb.Params.Trees.EarlyStopping {
		t.Fatalf("-model gbdt: %+v %+v", gb, gb.Params)
	}
	if md := readMeta(t, art, gb.ModelVersionID); md.ModelFamily != "gbdt" || *md.Params.TreeOptions != want {
		t.Errorf("metadata.json: family %q, params %+v", md.ModelFamily, md.Params)
	}
	env = map[string]string{"ARTIFACTS_DIR": art, "MODEL": "auto", "TREES": "20", "MAX_DEPTH": "2", "LEARNING_RATE": "0.5", "EARLY_STOPPING": "False"}
	auto := decodeTrain(t, trainer(t, env, "train", day("02")))
	if auto.Params == nil || auto.Params.Family != "auto" || auto.Params.Auto == nil || auto.Params.Auto.Chosen != auto.ModelFamily ||
		*auto.Params.TreeOptions != (mlservice.TreeOptions{Trees: 20, MaxDepth: 2, LearningRate: 0.5}) {
		t.Fatalf("MODEL=auto: %+v %+v", auto, auto.Params)
	}
	t.Logf("auto on day 2: %s", auto.Params.Auto.Reason)
	// A flag beats its variable, and the same day with the same settings is skipped.
	again := decodeTrain(t, trainer(t, env, "train", day("02")))
	if !again.Skipped || again.ModelFamily != auto.ModelFamily {
		t.Errorf("the same auto train again: %+v", again)
	}
	other := decodeTrain(t, trainer(t, env, "train", "-max-depth", "4", day("02")))
	if other.Skipped || other.Params.TreeOptions.MaxDepth != 4 {
		t.Errorf("-max-depth 4 over MAX_DEPTH=2: %+v", other)
	}
}

// A bad family or tree setting is a usage error naming the flag or the
// variable, before anything is read or written.
func TestTrainBadTreeFlags(t *testing.T) {
	day := filepath.Join(dataDir, "day_01.csv")
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"-model", "forest"}, `-model "forest" is not a model family`},
		{map[string]string{"MODEL": "xgb"}, nil, `MODEL="xgb" is not a model family`},
		{nil, []string{"-trees", "0"}, `-trees "0" is out of range`},
		{nil, []string{"-trees", "many"}, `-trees "many" is out of range`},
		{map[string]string{"TREES": "-3"}, nil, `TREES="-3" is out of range`},
		{nil, []string{"-max-depth", "0"}, `-max-depth "0" is out of range: use a whole number from 1 to 16`},
		{nil, []string{"-max-depth", "17"}, `-max-depth "17" is out of range`},
		{map[string]string{"MAX_DEPTH": "99"}, nil, `MAX_DEPTH="99"`},
		{nil, []string{"-learning-rate", "0"}, `-learning-rate "0" is out of range`},
		{nil, []string{"-learning-rate", "1.5"}, `-learning-rate "1.5" is out of range`},
		{nil, []string{"-learning-rate", "NaN"}, `-learning-rate "NaN"`},
		{map[string]string{"LEARNING_RATE": "-0.1"}, nil, `LEARNING_RATE="-0.1"`},
		{map[string]string{"EARLY_STOPPING": "maybe"}, nil, `EARLY_STOPPING="maybe" is not a boolean`},
		{nil, []string{"-model", "gbdt", "-balanced"}, "-model gbdt does not weight classes"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			art := filepath.Join(t.TempDir(), "artifacts")
			env := map[string]string{"ARTIFACTS_DIR": art}
			for k, v := range tc.env {
				env[k] = v
			}
			r := trainer(t, env, append(append([]string{"train"}, tc.args...), day)...)
			if r.Code != exitUsage || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", r.Code, exitUsage, tc.want, r.Stderr)
			}
			if _, err := os.Stat(art); !os.IsNotExist(err) {
				t.Errorf("artifacts written: %v", err)
			}
		})
	}
}

// xgbFiles are testdata/gbdt's XGBoost model, its schema and evaluation file.
func xgbFiles(t *testing.T) (model, schema, eval string) {
	dir := filepath.Join(testkit.Root(t), "testdata", "gbdt")
	return filepath.Join(dir, "xgb_credit.json"), filepath.Join(dir, "xgb_credit.schema.json"), filepath.Join(dir, "xgb_credit_eval.csv")
}

// The binary imports an XGBoost model as a version that serves and
// explains as XGBoost does; a second import of it is compared with the
// first on the same rows by the rule.
func TestImportXGBoostBinary(t *testing.T) {
	bin := testkit.Binary(t, "trainer")
	art := t.TempDir()
	model, schema, eval := xgbFiles(t)
	r := runBin(t, bin, art, nil, "import", "-xgboost", model, "-schema", schema, "-eval", eval)
	res := decodeTrain(t, r)
	if !res.Promoted || res.ModelFamily != "gbdt" || res.Params == nil || res.Params.Model != "xgboost" || res.Params.Trees.Trees != 100 ||
		res.TrainingDataFile != "xgb_credit.json" || res.EvalRows != 266 {
		t.Fatalf("import: %+v\n%s", res, r.Stderr)
	}
	meta, m, err := mlservice.ReadVersion(art, res.ModelVersionID)
	if err != nil {
		t.Fatal(err)
	}
	if meta.ModelFamily != "gbdt" || meta.DeclaredSchema == nil || meta.DeclaredSchema.Name != "credit_data_numbers" {
		t.Errorf("metadata: %+v", meta)
	}
	st := mlkit.OpenStore(t, art, mlservice.StoreOptions{RefreshInterval: -1})
	mlkit.ReadXGBCredit(t).Check(t, st, m)
	// Again, without -schema: the current version's; the same figure does not win.
	second := decodeTrain(t, runBin(t, bin, art, nil, "import", "-xgboost", model, "-eval", eval))
	if second.Promoted || second.PreviousMetric == nil || *second.PreviousMetric != res.Metric.Value || !strings.Contains(second.Reason, "on the same 266 evaluation rows") {
		t.Errorf("second import: %+v", second)
	}
	h := mlkit.History(t, art)
	if len(h) != 2 || h[0].VersionID != res.ModelVersionID || h[1].VersionID != second.ModelVersionID {
		t.Errorf("history %+v", h)
	}
}

// A model the import cannot read is refused with what and where, exit 1,
// and no version is written; a missing flag is a usage error.
func TestImportRefuses(t *testing.T) {
	model, schema, eval := xgbFiles(t)
	dir := t.TempDir()
	data := testkit.ReadFile(t, model)
	edited := func(name string, fn func(learner map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		fn(m["learner"].(map[string]any))
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		testkit.WriteFile(t, path, string(out))
		return path
	}
	malformed := filepath.Join(dir, "half.json")
	testkit.WriteFile(t, malformed, string(data[:len(data)/2]))
	huge := filepath.Join(dir, "huge.json")
	testkit.WriteFile(t, huge, "")
	if err := os.Truncate(huge, 300<<20); err != nil { // sparse: no disk, and never read
		t.Fatal(err)
	}
	lacking := filepath.Join(dir, "lacking.schema.json")
	var sch map[string]any // the schema without Price
	if err := json.Unmarshal(testkit.ReadFile(t, schema), &sch); err != nil {
		t.Fatal(err)
	}
	sch["features"] = sch["features"].([]any)[:8]
	lackingJSON, err := json.Marshal(sch)
	if err != nil {
		t.Fatal(err)
	}
	testkit.WriteFile(t, lacking, string(lackingJSON))
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"malformed", []string{"-xgboost", malformed, "-schema", schema}, exitInvalid, "import half.json: xgboost model: not valid JSON"},
		{"multiclass", []string{"-xgboost", edited("multi.json", func(l map[string]any) {
			l["learner_model_param"].(map[string]any)["num_class"] = "4"
		}), "-schema", schema}, exitInvalid, "learner.learner_model_param.num_class: 4: only binary models"},
		{"objective", []string{"-xgboost", edited("reg.json", func(l map[string]any) {
			l["objective"].(map[string]any)["name"] = "reg:logistic"
		}), "-schema", schema}, exitInvalid, `learner.objective.name: "reg:logistic", only binary:logistic is read`},
		{"categorical", []string{"-xgboost", edited("cat.json", func(l map[string]any) {
			tree := l["gradient_booster"].(map[string]any)["model"].(map[string]any)["trees"].([]any)[3].(map[string]any)
			tree["split_type"].([]any)[0] = 1
		}), "-schema", schema}, exitInvalid, "trees[3].split_type[0]: 1: categorical splits are not read"},
		{"unknown feature", []string{"-xgboost", model, "-schema", lacking}, exitInvalid, `learner.feature_names[8]: "Price" is not one of the 8 features`},
		{"too big", []string{"-xgboost", huge, "-schema", schema}, exitInvalid, "huge.json: 314572800 bytes or more, the limit for an XGBoost model is 268435456"},
		{"no model", []string{"-schema", schema}, exitUsage, "-xgboost MODEL.json is required"},
		{"no eval", []string{"-xgboost", model, "-schema", schema, "-eval", ""}, exitUsage, "-eval FILE is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			art := filepath.Join(t.TempDir(), "artifacts")
			args := append(append([]string{"import"}, tc.args...), "-eval", eval)
			if tc.name == "no eval" {
				args = append([]string{"import"}, tc.args...)
			}
			r := trainer(t, map[string]string{"ARTIFACTS_DIR": art}, args...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) || r.Stdout != "" {
				t.Errorf("exit %d, want %d with %q:\n%s%s", r.Code, tc.code, tc.want, r.Stdout, r.Stderr)
			}
			if ids, _ := os.ReadDir(filepath.Join(art, "models", "versions")); len(ids) != 0 {
				t.Errorf("versions written: %v", ids)
			}
		})
	}
}
