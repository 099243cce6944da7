package main

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// TestPredictExplain: ?explain=true adds the explanation the library
// gives, one contribution per feature, adding up with the bias to the
// served log-odds; explain=false and no parameter answer as before; any
// other value is a 400 naming the parameter, before the body is read.
func TestPredictExplain(t *testing.T) {
	ts := newTestServer(t, nil)
	mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	if _, err := ts.store.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	want, err := ts.store.ExplainJSON([]byte(validBody))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"?explain=true", "?explain=1&other=x"} {
		r := ts.do(t, "POST", "/predict"+q, "application/json", validBody)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		var got mlservice.ExplainedPrediction
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		e := got.Explanation
		if got.Probability != want.Probability || e.Bias != want.Explanation.Bias || len(e.Contributions) != 5 {
			t.Fatalf("%s: %s, library %+v", q, r.body, want)
		}
		sum := e.Bias
		for name, c := range e.Contributions {
			if c != want.Explanation.Contributions[name] {
				t.Errorf("%s: %s contributes %v, library %v", q, name, c, want.Explanation.Contributions[name])
			}
			sum += c
		}
		if logit := math.Log(got.Probability / (1 - got.Probability)); math.Abs(sum-logit) > 1e-9 {
			t.Errorf("%s: bias + contributions %v, served log-odds %v", q, sum, logit)
		}
	}
	plain := ts.do(t, "POST", "/predict", "application/json", validBody)
	for _, q := range []string{"?explain=false", "?explain=0", "?other=1"} {
		r := ts.do(t, "POST", "/predict"+q, "application/json", validBody)
		if r.status != http.StatusOK || string(r.body) != string(plain.body) {
			t.Errorf("%s: %d %s, without it %s", q, r.status, r.body, plain.body)
		}
	}
	batch := `{"instances":[` + validBody + `,` + strings.Replace(validBody, `"age":42`, `"age":70`, 1) + `]}`
	r := ts.do(t, "POST", "/predict/batch?explain=true", "application/json", batch)
	var got struct {
		Predictions []struct {
			Probability float64               `json:"probability"`
			Explanation mlservice.Explanation `json:"explanation"`
		} `json:"predictions"`
		ModelVersionID string `json:"model_version_id"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusOK || len(got.Predictions) != 2 || got.ModelVersionID == "" {
		t.Fatalf("batch: %d %s, %v", r.status, r.body, err)
	}
	if p := got.Predictions[0]; p.Probability != want.Probability || p.Explanation.Contributions["age"] != want.Explanation.Contributions["age"] {
		t.Errorf("batch row 0: %+v, library %+v", p, want)
	}
	if a, b := got.Predictions[0].Explanation.Contributions["age"], got.Predictions[1].Explanation.Contributions["age"]; a == b {
		t.Errorf("age 42 and 70 contribute the same, %v", a)
	}
	for _, path := range []string{"/predict?explain=maybe", "/predict/batch?explain=", "/predict?explain=true&explain=false"} {
		r := ts.do(t, "POST", path, "application/json", `not JSON`)
		var body struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(r.body, &body)
		if r.status != http.StatusBadRequest || body.Error.Code != "bad_parameter" || !strings.Contains(body.Error.Message, "explain") {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
	if r := ts.do(t, "POST", "/predict?explain=true", "application/json", `{"age":1}`); r.status != http.StatusUnprocessableEntity {
		t.Errorf("bad features with explain: %d %s", r.status, r.body)
	}
}
