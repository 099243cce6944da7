package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

func TestReloadAuth(t *testing.T) {
	ts := newTestServer(t, func(c *config) { c.adminToken = "s3cret" })
	// Before any model, an authorized reload says not ready.
	if r := ts.do(t, "POST", "/reload", "", "", "Authorization", "Bearer s3cret"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("reload before any model: %d %s", r.status, r.body)
	}
	d := mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"no token", "", 401},
		{"wrong token", "Bearer nope", 401},
		{"basic auth", "Basic czNjcmV0", 401},
		{"token prefix", "Bearer s3cre", 401},
		{"right token", "Bearer s3cret", 200},
		{"scheme in lower case", "bearer s3cret", 200},
		{"scheme in upper case", "BEARER s3cret", 200},
		{"token case matters", "Bearer S3CRET", 401},
		{"no space", "Bearers3cret", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h []string
			if tc.auth != "" {
				h = []string{"Authorization", tc.auth}
			}
			r := ts.do(t, "POST", "/reload", "", "", h...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == 401 {
				if e := errorJSON(t, r); e.Code != "unauthorized" {
					t.Errorf("code %q", e.Code)
				}
				if r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				return
			}
			var body map[string]any
			json.Unmarshal(r.body, &body)
			if body["model_version_id"] != d.VersionID {
				t.Errorf("reload body %s", r.body)
			}
		})
	}
}

func TestReloadWithoutTokenConfigured(t *testing.T) {
	ts := newTestServer(t, func(c *config) { c.reloadInterval = time.Hour })
	// The refresher is effectively off: only /reload can pick the version up.
	ts.store.Close()
	store, err := mlservice.OpenStore(ts.dir, mlservice.StoreOptions{RefreshInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	s := newServer(ts.cfg, store, slog.New(slog.DiscardHandler))
	ts.h, ts.store = s.handler(), store
	d := mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	r := ts.do(t, "POST", "/reload", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var body struct {
		ID      string `json:"model_version_id"`
		Changed bool   `json:"changed"`
	}
	json.Unmarshal(r.body, &body)
	if body.ID != d.VersionID || !body.Changed {
		t.Errorf("first reload %s", r.body)
	}
	r = ts.do(t, "POST", "/reload", "", "")
	json.Unmarshal(r.body, &body)
	if body.Changed {
		t.Errorf("second reload says changed: %s", r.body)
	}
}
