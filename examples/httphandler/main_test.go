package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
)

func TestScoreHandler(t *testing.T) {
	dir := t.TempDir()
	store, err := mlservice.OpenStore(dir, mlservice.StoreOptions{RefreshInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srv := httptest.NewServer(newMux(store))
	defer srv.Close()
	post := func(body string) (int, string) {
		resp, err := http.Post(srv.URL+"/score", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good := `{"age":42,"income":52000,"account_balance":1800,"transactions_last_30d":12,"is_premium":1}`
	if code, _ := post(good); code != http.StatusServiceUnavailable {
		t.Fatalf("before any model: %d", code)
	}

	ds, err := mlservice.ValidateFile(context.Background(), "../../data/day_02.csv")
	if err != nil {
		t.Fatal(err)
	}
	cand, err := mlservice.Train(context.Background(), ds, mlservice.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := mlservice.Promote(context.Background(), dir, cand)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}

	code, body := post(good)
	var got scoreResponse
	if code != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil {
		t.Fatalf("score: %d %s", code, body)
	}
	want, _ := store.Predict(mlservice.Features{Age: 42, Income: 52000, AccountBalance: 1800, TransactionsLast30d: 12, IsPremium: 1})
	if got.Model != d.VersionID || got.Probability != want.Probability || got.Churn != (want.Label == 1) {
		t.Errorf("score %+v, library says %+v", got, want)
	}
	code, body = post(`{"age":-3,"income":"lots"}`)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `"field":"income"`) || !strings.Contains(body, `"field":"is_premium"`) {
		t.Errorf("invalid body: %d %s", code, body)
	}
	if code, _ := post(`{`); code != http.StatusBadRequest {
		t.Errorf("malformed body: %d", code)
	}
	// The library's rules, as cmd/server applies them.
	if code, body := post(strings.TrimSuffix(good, "}") + `,"age":7}`); code != http.StatusUnprocessableEntity || !strings.Contains(body, `"field":"age"`) {
		t.Errorf("duplicate key: %d %s", code, body)
	}
	// What `curl -d` sends without -H 'Content-Type: application/json'.
	resp, err := http.Post(srv.URL+"/score", "application/x-www-form-urlencoded", strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form-encoded body: %d, want 415", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/hello")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("the program's own route: %v %v", resp, err)
	}
}
