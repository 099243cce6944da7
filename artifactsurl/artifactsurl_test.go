package artifactsurl_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/artifactsurl"
)

func TestOpen(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	ctx := context.Background()
	for _, tc := range []struct{ url, dir, name, err string }{
		{url: "./artifacts", dir: "./artifacts", name: "./artifacts"},
		{url: "/var/lib/mlservice", dir: "/var/lib/mlservice", name: "/var/lib/mlservice"},
		{url: "file:///var/lib/mlservice", dir: "/var/lib/mlservice", name: "/var/lib/mlservice"},
		{url: "s3://bucket/prefix?endpoint=http://127.0.0.1:8333&use_path_style=true", name: "s3://bucket/prefix/"},
		{url: "", err: "empty"},
		{url: "file://host/x", err: "file:///ABSOLUTE/PATH"},
		{url: "gs://bucket/x", err: `unknown scheme "gs"`},
	} {
		a, err := artifactsurl.Open(ctx, tc.url)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Open(%q) = %v, want an error containing %q", tc.url, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Open(%q): %v", tc.url, err)
			continue
		}
		if a.Dir() != tc.dir || a.String() != tc.name {
			t.Errorf("Open(%q): Dir %q String %q, want %q %q", tc.url, a.Dir(), a.String(), tc.dir, tc.name)
		}
	}
}

// A program picks its storage by configuration: the same code serves from
// a directory or from an object store.
func ExampleOpen() {
	ctx := context.Background()
	// Or "./artifacts", or s3://mlservice/artifacts?endpoint=http://127.0.0.1:8333&use_path_style=true
	arts, err := artifactsurl.Open(ctx, "./artifacts")
	if err != nil {
		log.Fatal(err)
	}
	store, err := arts.OpenStore(mlservice.StoreOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	if p, err := store.Predict(mlservice.Features{Age: 42, Income: 55000}); err == nil {
		fmt.Println(p.Label, p.ModelVersionID)
	}
}
