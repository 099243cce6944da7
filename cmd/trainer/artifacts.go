package main

import (
	"context"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/artifactsurl"
)

// artifactsFlags registers -artifacts and -artifacts-url on fs and returns
// the function that opens what they name once fs is parsed: the object
// store when -artifacts-url (ARTIFACTS_URL) is set, else the directory.
func artifactsFlags(fs *command, getenv func(string) string) func(context.Context) (*mlservice.Artifacts, error) {
	dir := fs.String("artifacts", envOr(getenv, "ARTIFACTS_DIR", "./artifacts"), "artifacts `DIR` holding models/ (env ARTIFACTS_DIR; default ./artifacts)")
	url := fs.String("artifacts-url", getenv("ARTIFACTS_URL"), "object store `URL` used instead of the directory: s3://BUCKET/PREFIX?endpoint=…&region=…&use_path_style=true (env ARTIFACTS_URL; default none: the directory)")
	return func(ctx context.Context) (*mlservice.Artifacts, error) {
		if *url == "" {
			return mlservice.DirArtifacts(*dir), nil
		}
		a, err := artifactsurl.Open(ctx, *url)
		if err != nil {
			return nil, fsUsagef(fs, "-artifacts-url: %v", err)
		}
		return a, nil
	}
}
