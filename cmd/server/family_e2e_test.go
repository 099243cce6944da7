package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/internal/testkit"
)

// A trees version trained by the trainer binary over a logistic one is
// served by the server binary: /model and the version page name the family
// and its settings, the page charts the total gain, /predict answers.
func TestEndToEndTrees(t *testing.T) {
	trainerBin, serverBin := testkit.Binaries(t)
	artifacts := t.TempDir()
	dir := filepath.Join(testkit.Root(t), "testdata", "tables", "mlc_churn")
	args := []string{"train", "-schema", filepath.Join(dir, "schema.json"), "-eval", filepath.Join(dir, "test.csv")}
	if lr, _ := runTrainer(t, trainerBin, artifacts, append(args, filepath.Join(dir, "train.csv"))...); !lr.Promoted {
		t.Fatalf("logistic version not promoted: %+v", lr)
	}
	gb, _ := runTrainer(t, trainerBin, artifacts, append(args, "-model", "gbdt", "-trees", "50", filepath.Join(dir, "train.csv"))...)
	if !gb.Promoted {
		t.Fatalf("trees version not promoted over the logistic one: %+v", gb)
	}
	srv := testkit.StartServer(t, serverBin, nil, "-artifacts", artifacts)
	code, body := srv.Get(t, "/model")
	var meta struct {
		ID     string `json:"model_version_id"`
		Family string `json:"model_family"`
		Params struct {
			TreeOptions struct {
				Trees int `json:"trees"`
			} `json:"tree_options"`
		} `json:"params"`
	}
	if err := json.Unmarshal([]byte(body), &meta); code != http.StatusOK || err != nil || meta.ID != gb.ModelVersionID || meta.Family != "gbdt" || meta.Params.TreeOptions.Trees != 50 {
		t.Fatalf("/model: %d %+v %v", code, meta, err)
	}
	code, page := srv.Get(t, "/ui/versions/"+gb.ModelVersionID)
	for _, want := range []string{`<td id="family">gbdt</td>`, "50 trees, max depth 6, learning rate 0.1, early stopping on", `id="gain-chart"`} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("version page (%d) lacks %q", code, want)
		}
	}
	row := `{"state":"KS","account_length":128,"area_code":"area_code_415","international_plan":"no","voice_mail_plan":"yes","number_vmail_messages":25,` +
		`"total_day_minutes":265.1,"total_day_calls":110,"total_day_charge":45.07,"total_eve_minutes":197.4,"total_eve_calls":99,"total_eve_charge":16.78,` +
		`"total_night_minutes":244.7,"total_night_calls":91,"total_night_charge":11.01,"total_intl_minutes":10,"total_intl_calls":3,"total_intl_charge":2.7,` +
		`"number_customer_service_calls":1}`
	resp, err := http.Post(srv.Base+"/predict", "application/json", strings.NewReader(row))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		Probability *float64 `json:"probability"`
		ID          string   `json:"model_version_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); resp.StatusCode != http.StatusOK || err != nil || p.Probability == nil || p.ID != gb.ModelVersionID {
		t.Errorf("/predict: %d %+v %v", resp.StatusCode, p, err)
	}
}
