package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

func TestPredictMatchesLibrary(t *testing.T) {
	ts := newTestServer(t, nil)
	mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	if _, err := ts.store.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	f, err := mlservice.DecodeFeatures([]byte(validBody))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ts.store.Predict(f)
	if err != nil {
		t.Fatal(err)
	}
	r := ts.do(t, "POST", "/predict", "application/json; charset=utf-8", validBody)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var got mlservice.Prediction
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("HTTP prediction differs from Store.Predict (-want +got):\n%s", diff)
	}
}

func TestPredictErrors(t *testing.T) {
	ts := newTestServer(t, nil)
	mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	if _, err := ts.store.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	all := []string{"age", "income", "account_balance", "transactions_last_30d", "is_premium"}
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		code        string
		fields      []string // the fields the error must list, in order
	}{
		{"malformed JSON", "application/json", `{"age": 42,`, 400, "malformed_json", nil},
		{"not JSON at all", "application/json", `age=42`, 400, "malformed_json", nil},
		{"empty body", "application/json", ``, 400, "malformed_json", nil},
		{"array body", "application/json", `[` + validBody + `]`, 422, "invalid_features", []string{"body"}},
		{"string body", "application/json", `"hello"`, 422, "invalid_features", []string{"body"}},
		{"null body", "application/json", `null`, 422, "invalid_features", []string{"body"}},
		{"empty object", "application/json", `{}`, 422, "invalid_features", all},
		{"missing is_premium", "application/json", `{"age":42,"income":52000,"account_balance":1,"transactions_last_30d":1}`, 422, "invalid_features", []string{"is_premium"}},
		{"null age", "application/json", `{"age":null,"income":52000,"account_balance":1,"transactions_last_30d":1,"is_premium":0}`, 422, "invalid_features", []string{"age"}},
		{"wrong types", "application/json", `{"age":"42","income":true,"account_balance":[1],"transactions_last_30d":{},"is_premium":"yes"}`, 422, "invalid_features", all},
		{"NaN as a string", "application/json", `{"age":"NaN","income":52000,"account_balance":1,"transactions_last_30d":1,"is_premium":0}`, 422, "invalid_features", []string{"age"}},
		{"NaN literal", "application/json", `{"age":NaN,"income":52000,"account_balance":1,"transactions_last_30d":1,"is_premium":0}`, 400, "malformed_json", nil},
		{"overflowing number", "application/json", `{"age":1e999,"income":52000,"account_balance":1,"transactions_last_30d":1,"is_premium":0}`, 422, "invalid_features", []string{"age"}},
		{"negative age and transactions", "application/json", `{"age":-1,"income":52000,"account_balance":1,"transactions_last_30d":-3,"is_premium":0}`, 422, "invalid_features", []string{"age", "transactions_last_30d"}},
		{"is_premium 2", "application/json", `{"age":1,"income":52000,"account_balance":1,"transactions_last_30d":3,"is_premium":2}`, 422, "invalid_features", []string{"is_premium"}},
		{"is_premium 0.5", "application/json", `{"age":1,"income":52000,"account_balance":1,"transactions_last_30d":3,"is_premium":0.5}`, 422, "invalid_features", []string{"is_premium"}},
		{"duplicate key", "application/json", strings.TrimSuffix(validBody, "}") + `,"age":7}`, 422, "invalid_features", []string{"age"}},
		{"text/plain", "text/plain", validBody, 415, "unsupported_media_type", nil},
		{"form", "application/x-www-form-urlencoded", validBody, 415, "unsupported_media_type", nil},
		{"bad media type", "application/json; charset", validBody, 415, "unsupported_media_type", nil},
		{"3 MB body", "application/json", `{"age":1,"pad":"` + strings.Repeat("x", 3<<20) + `"}`, 413, "body_too_large", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, "POST", "/predict", tc.contentType, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, truncateBody(r.body))
			}
			e := errorJSON(t, r)
			if e.Code != tc.code {
				t.Errorf("code %q, want %q", e.Code, tc.code)
			}
			var fields []string
			for _, f := range e.Fields {
				fields = append(fields, f.Field)
				if f.Reason == "" {
					t.Errorf("field %s has no reason", f.Field)
				}
			}
			if diff := cmp.Diff(tc.fields, fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func truncateBody(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func TestMissingContentTypeIsJSON(t *testing.T) {
	ts := newTestServer(t, nil)
	mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	ts.store.Reload(context.Background())
	if r := ts.do(t, "POST", "/predict", "", validBody); r.status != http.StatusOK {
		t.Fatalf("no Content-Type: %d %s", r.status, r.body)
	}
}

func TestPredictBatch(t *testing.T) {
	ts := newTestServer(t, func(c *config) { c.maxBatch = 3 })
	d := mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	ts.store.Reload(context.Background())

	r := ts.do(t, "POST", "/predict/batch", "application/json", `{"instances":[`+validBody+`,`+strings.Replace(validBody, `"is_premium":1`, `"is_premium":0`, 1)+`]}`)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var br batchResponse
	if err := json.Unmarshal(r.body, &br); err != nil {
		t.Fatal(err)
	}
	if br.ModelVersionID != d.VersionID || len(br.Predictions) != 2 {
		t.Fatalf("batch response %s", r.body)
	}
	single := ts.do(t, "POST", "/predict", "application/json", validBody)
	var sp mlservice.Prediction
	json.Unmarshal(single.body, &sp)
	if br.Predictions[0].Probability != sp.Probability || br.Predictions[0].Prediction != sp.Label {
		t.Errorf("batch row 0 %+v differs from single prediction %+v", br.Predictions[0], sp)
	}

	for _, tc := range []struct {
		name, body string
		status     int
		fields     []string // "row field"
	}{
		{"too many rows", `{"instances":[` + strings.Repeat(validBody+",", 3) + validBody + `]}`, 422, []string{"0 instances"}},
		{"empty", `{"instances":[]}`, 422, []string{"0 instances"}},
		{"missing instances", `{}`, 422, []string{"0 instances"}},
		{"instances not an array", `{"instances":{"age":1}}`, 422, []string{"0 instances"}},
		{"bad rows listed", `{"instances":[` + validBody + `,{"age":-1,"income":1,"account_balance":1,"transactions_last_30d":1,"is_premium":1},{"is_premium":3,"age":1,"income":1,"account_balance":1,"transactions_last_30d":1}]}`, 422, []string{"1 age", "2 is_premium"}},
		{"malformed", `{"instances":[`, 400, nil},
		{"array body", `[]`, 422, []string{"0 body"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, "POST", "/predict/batch", "application/json", tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			var fields []string
			for _, f := range errorJSON(t, r).Fields {
				fields = append(fields, fmt.Sprintf("%d %s", f.Row, f.Field))
			}
			if diff := cmp.Diff(tc.fields, fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzPredictHandler posts arbitrary bodies: a client's bad input must never
// get a 5xx or crash the server.
func FuzzPredictHandler(f *testing.F) {
	for _, seed := range []string{validBody, `{`, `[]`, `null`, `{"age":"x"}`, `{"instances":[` + validBody + `]}`, "\x00\xff", `{"age":1e999}`} {
		f.Add([]byte(seed), "application/json", false)
	}
	f.Add([]byte(validBody), "text/plain", true)
	ts := newTestServer(f, nil)
	mlkit.PromoteDay(f, ts.dir, "day_01.csv")
	ts.store.Reload(context.Background())
	f.Fuzz(func(t *testing.T, body []byte, contentType string, batch bool) {
		path := "/predict"
		if batch {
			path = "/predict/batch"
		}
		r := ts.do(t, "POST", path, contentType, string(body))
		switch r.status {
		case 200:
			if !json.Valid(r.body) {
				t.Fatalf("200 with invalid JSON %q", r.body)
			}
		case 400, 413, 415, 422:
			errorJSON(t, r)
		default:
			t.Fatalf("status %d for body %q content type %q: %s", r.status, body, contentType, r.body)
		}
		// Explaining changes what a 200 says, never the status.
		if e := ts.do(t, "POST", path+"?explain=true", contentType, string(body)); e.status != r.status ||
			e.status == 200 && !strings.Contains(string(e.body), `"explanation":{"bias":`) {
			t.Fatalf("explain=true: %d %s; without it %d", e.status, e.body, r.status)
		}
	})
}
