package mlservice_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/mlflow"
	"github.com/mlservice/mlservice/internal/tabular"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// anesRow is a row of testdata/tables/anes96.csv as /predict takes it;
// edit replaces keys' raw JSON values.
func anesRow(edit ...string) string {
	vals := map[string]string{"popul": "190", "TVnews": `"1"`, "selfLR": "3", "ClinLR": "3", "DoleLR": "5",
		"PID": `"1"`, "age": "20", "educ": `"4"`, "income": `"1"`}
	for i := 0; i+1 < len(edit); i += 2 {
		vals[edit[i]] = edit[i+1]
	}
	var parts []string
	for _, k := range []string{"popul", "TVnews", "selfLR", "ClinLR", "DoleLR", "PID", "age", "educ", "income"} {
		parts = append(parts, `"`+k+`":`+vals[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// tableOf decodes JSON objects into a table as the protocols do (MLflow's
// dataframe_records reads the same objects /predict does).
func tableOf(t *testing.T, features []tabular.Feature, rows ...string) *tabular.Table {
	t.Helper()
	tab, err := mlflow.Decode([]byte(`{"dataframe_records":[`+strings.Join(rows, ",")+`]}`), mlflow.JSON, features, mlflow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// TestPredictTableAgreesWithPredictJSON: a row read from a table scores
// the probability /predict gives it, and a bad row is refused with the
// words /predict uses.
func TestPredictTableAgreesWithPredictJSON(t *testing.T) {
	st := mlkit.Serve(t, mlkit.TableCandidate(t, "anes96.csv", "anes96.schema.json"))
	sv, err := st.Serving()
	if err != nil {
		t.Fatal(err)
	}
	features := sv.Features()
	good := []string{anesRow(), anesRow("popul", "0", "TVnews", `"7"`, "selfLR", "7", "age", "36", "PID", `" 6 "`),
		anesRow("ClinLR", "1.5", "DoleLR", "6.25", "age", "130", "income", `"10"`)}
	tab := tableOf(t, features, good...)
	probs, labels := make([]float64, len(good)), make([]int64, len(good))
	if err := sv.PredictTable(tab, probs, labels); err != nil {
		t.Fatal(err)
	}
	for i, row := range good {
		p, err := st.PredictJSON([]byte(row))
		if err != nil {
			t.Fatal(err)
		}
		if p.Probability != probs[i] || int64(p.Label) != labels[i] {
			t.Errorf("row %d: table %v (label %d), /predict %v (label %d)", i, probs[i], labels[i], p.Probability, p.Label)
		}
	}

	for _, bad := range []string{
		anesRow("age", "17"), anesRow("selfLR", "8", "popul", "-1"), anesRow("TVnews", `"9"`),
		anesRow("TVnews", "3"), anesRow("TVnews", "true"), anesRow("popul", `"12"`), anesRow("age", "null"),
		anesRow("PID", `""`), anesRow("popul", "false"),
	} {
		_, want := st.PredictJSON([]byte(bad))
		err := sv.PredictTable(tableOf(t, features, bad), make([]float64, 1), make([]int64, 1))
		var ierr *mlservice.InputError
		if want == nil || err == nil || !errors.As(err, &ierr) || err.Error() != want.Error() {
			t.Errorf("%s:\ntable    %v\n/predict %v", bad, err, want)
		}
	}

	// A batch lists every bad field, row by row, as /predict/batch does.
	batch := []string{anesRow(), anesRow("age", "17"), anesRow("TVnews", `"9"`, "popul", "-2")}
	_, want := st.PredictBatchJSON(nil, []byte(`{"instances":[`+strings.Join(batch, ",")+`]}`), 0)
	err = sv.PredictTable(tableOf(t, features, batch...), make([]float64, 3), make([]int64, 3))
	if want == nil || err == nil || err.Error() != want.Error() {
		t.Errorf("batch:\ntable          %v\n/predict/batch %v", err, want)
	}
}

// TestStoreVersion: the serving version by its id, and ids that are
// malformed or name no version refused with errors that say which.
func TestStoreVersion(t *testing.T) {
	dir := t.TempDir()
	first := mlkit.Promote(t, dir, 0.5)
	second := mlkit.Promote(t, dir, 0.9)
	st := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
	ctx := context.Background()
	for _, id := range []string{first.VersionID, second.VersionID, first.VersionID} {
		sv, err := st.Version(ctx, id)
		if err != nil || sv.ID() != id {
			t.Fatalf("Version(%s): %v, %v", id, sv, err)
		}
	}
	if _, err := st.Version(ctx, "../../etc"); !errors.Is(err, mlservice.ErrBadVersionID) {
		t.Errorf("malformed id: %v", err)
	}
	missing := "20200101T000000.000000Z-00000000"
	if _, err := st.Version(ctx, missing); !errors.Is(err, mlservice.ErrVersionNotFound) {
		t.Errorf("missing id: %v", err)
	}

	// A version is verified as any version is: a changed byte refuses it.
	dir = t.TempDir()
	first = mlkit.Promote(t, dir, 0.5)
	mlkit.Promote(t, dir, 0.9)
	testkit.EditFile(t, testkit.VersionFile(dir, first.VersionID, "model.json"), func(b []byte) []byte {
		return bytes.Replace(b, []byte("0"), []byte("1"), 1)
	})
	st = mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
	if _, err := st.Version(ctx, first.VersionID); !errors.Is(err, mlservice.ErrCorruptVersion) {
		t.Errorf("a damaged version: %v, want ErrCorruptVersion", err)
	}
}

// TestPredictTableMissing: where the schema lets a feature be missing, a
// table's null cell scores as /predict's null does, for either family, and
// the explanation of such a row still adds up to the served log-odds; a
// null for a feature that may not be missing is refused in /predict's words.
func TestPredictTableMissing(t *testing.T) {
	ctx := context.Background()
	s := mustSchema(t, missingSchema)
	ds, err := mlservice.ValidateTable(ctx, strings.NewReader(missingCSV(600)), s)
	if err != nil {
		t.Fatal(err)
	}
	for _, family := range []string{"logistic", "gbdt"} {
		t.Run(family, func(t *testing.T) {
			cand, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{Family: family, Trees: 30})
			if err != nil {
				t.Fatal(err)
			}
			st := mlkit.Serve(t, cand)
			sv, err := st.Serving()
			if err != nil {
				t.Fatal(err)
			}
			rows := []string{`{"x":null,"c":"a","z":0.5}`, `{"x":12,"c":null,"z":-1}`, `{"x":null,"c":null,"z":0}`, `{"x":9,"c":"d","z":0.2}`}
			tab := tableOf(t, sv.Features(), rows...)
			probs, labels := make([]float64, len(rows)), make([]int64, len(rows))
			if err := sv.PredictTable(tab, probs, labels); err != nil {
				t.Fatal(err)
			}
			distinct := map[float64]bool{}
			for i, row := range rows {
				p, err := st.PredictJSON([]byte(row))
				if err != nil || p.Probability != probs[i] || int64(p.Label) != labels[i] {
					t.Errorf("%s: table %v (label %d), /predict %v, %v", row, probs[i], labels[i], p, err)
				}
				distinct[probs[i]] = true
				e, err := st.ExplainJSON([]byte(row))
				if err != nil {
					t.Fatal(err)
				}
				sum := e.Explanation.Bias
				for _, c := range e.Explanation.Contributions {
					sum += c
				}
				if logit := math.Log(p.Probability / (1 - p.Probability)); math.Abs(sum-logit) > 1e-9 || len(e.Explanation.Contributions) != 3 {
					t.Errorf("%s: bias + contributions %v, log-odds %v (%d contributions)", row, sum, logit, len(e.Explanation.Contributions))
				}
			}
			if len(distinct) < 3 {
				t.Errorf("the rows scored only %d distinct probabilities: %v", len(distinct), probs)
			}
			// A column the schema lets be missing may be left out of an
			// MLflow body altogether, as /predict lets the key be absent.
			absent, err := st.PredictJSON([]byte(`{"c":"a","z":0.5}`))
			if err != nil {
				t.Fatal(err)
			}
			for format, body := range map[mlflow.Format]string{mlflow.JSON: `{"dataframe_records":[{"c":"a","z":0.5}]}`, mlflow.CSV: "c,z\na,0.5\n"} {
				tab, err := mlflow.Decode([]byte(body), format, sv.Features(), mlflow.Options{})
				if err != nil {
					t.Fatalf("%s: %v", body, err)
				}
				p, l := make([]float64, 1), make([]int64, 1)
				if err := sv.PredictTable(tab, p, l); err != nil || p[0] != absent.Probability {
					t.Errorf("%q: %v, %v; /predict without x: %v", body, p[0], err, absent.Probability)
				}
			}
			if _, err := mlflow.Decode([]byte(`{"dataframe_records":[{"x":1,"c":"a"}]}`), mlflow.JSON, sv.Features(), mlflow.Options{}); err == nil || !strings.Contains(err.Error(), "z: missing column") {
				t.Errorf("a body without z, which may not be missing: %v", err)
			}
			bad := `{"x":1,"c":"a","z":null}`
			_, want := st.PredictJSON([]byte(bad))
			err = sv.PredictTable(tableOf(t, sv.Features(), bad), make([]float64, 1), make([]int64, 1))
			if want == nil || err == nil || err.Error() != want.Error() || !strings.Contains(err.Error(), "z") {
				t.Errorf("a null z:\ntable    %v\n/predict %v", err, want)
			}
		})
	}
}
