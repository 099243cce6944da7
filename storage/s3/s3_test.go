package s3_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/storage/s3"
)

// Open parses the URL and makes no request (without create_bucket), so
// these run without an engine. What the bucket does is tested against a
// real SeaweedFS in the root package.
func TestOpenURL(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, tc := range []struct {
		url, name, err string
	}{
		{url: "s3://b", name: "s3://b/"},
		{url: "s3://b/", name: "s3://b/"},
		{url: "s3://b/p/q/?endpoint=http://127.0.0.1:8333&region=eu-west-1&use_path_style=true", name: "s3://b/p/q/"},
		{url: "s3://b/p?use_path_style=1", name: "s3://b/p/"},
		{url: "gs://b/p", err: "want s3://BUCKET/PREFIX"},
		{url: "s3:///p", err: "want s3://BUCKET/PREFIX"},
		{url: "s3://b/p?endpont=x", err: `unknown parameter "endpont"`},
		{url: "s3://b/p?use_path_style=maybe", err: "not a boolean"},
		{url: "s3://user:secret@b/p?x=1", err: "unknown parameter"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			b, err := s3.Open(context.Background(), tc.url)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Open(%q) = %v, want an error containing %q", tc.url, err, tc.err)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("the error shows the URL's password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.name {
				t.Fatalf("String() = %q, want %q", b.String(), tc.name)
			}
		})
	}
}
