//go:build unix

package main

import (
	"context"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/artifactsurl"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/internal/weedtest"
	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/s3"
)

// TestModelsURL serves every prefix of an object store as a model
// (-models-url): one promoted through the library is served under its
// prefix's name, a prefix without models/ is skipped and shown.
func TestModelsURL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server binary against SeaweedFS; skipped with -short")
	}
	weed := weedtest.Start(t)
	serverBin := testkit.Binary(t, "server")
	ctx := context.Background()
	arts, err := artifactsurl.Open(ctx, weed.URL("mlservice", "root/churn"))
	if err != nil {
		t.Fatal(err)
	}
	d := mlkit.PromoteTo(t, arts, 0.5)
	notes, err := s3.Open(ctx, weed.URL("mlservice", "root/notes"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notes.Put(ctx, "readme.txt", []byte("not a model"), storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	srv := testkit.StartServer(t, serverBin, nil, "-models-url", weed.URL("mlservice", "root"))
	expect(t, srv, "POST", "/models/churn/predict", "application/json", validBody, 200, d.VersionID)
	expect(t, srv, "POST", "/v2/models/churn/infer", "application/json", v2Body, 200, d.VersionID)
	out := expect(t, srv, "GET", "/", "", "", 200, `href="/models/churn/"`, "<code>notes</code>: not artifacts")
	if strings.Contains(out, "/models/notes/") {
		t.Errorf("the skipped prefix is linked as a model:\n%s", out)
	}
}
