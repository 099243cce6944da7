// Package artifactsurl opens mlservice artifacts from a URL, so that a
// program chooses its storage by configuration:
//
//	s3://BUCKET/PREFIX?endpoint=http://HOST:8333&region=us-east-1&use_path_style=true
//	file:///var/lib/mlservice/artifacts
//	./artifacts                       (a plain path: a local directory)
//
// It is the one package that links both backends; the root package never
// imports the S3 SDK.
package artifactsurl

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/storage/s3"
)

// Open returns the artifacts rawURL names. An s3 URL takes the parameters
// storage/s3.Open documents and credentials from the standard AWS
// variables and files; Open makes no request unless create_bucket=true.
func Open(ctx context.Context, rawURL string) (*mlservice.Artifacts, error) {
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		if rawURL == "" {
			return nil, fmt.Errorf("open artifacts: empty URL")
		}
		return mlservice.DirArtifacts(rawURL), nil
	}
	switch scheme {
	case "s3":
		b, err := s3.Open(ctx, rawURL)
		if err != nil {
			return nil, err
		}
		return mlservice.BucketArtifacts(b), nil
	case "file":
		u, err := url.Parse(rawURL)
		if err != nil || (u.Host != "" && u.Host != "localhost") || u.Path == "" {
			return nil, fmt.Errorf("open artifacts %q: want file:///ABSOLUTE/PATH", rawURL)
		}
		return mlservice.DirArtifacts(u.Path), nil
	default:
		return nil, fmt.Errorf("open artifacts %q: unknown scheme %q (use s3:// or a directory)", rawURL, scheme)
	}
}
