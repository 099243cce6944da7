package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

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

// openTarget opens the artifacts a new version goes into, checked as
// checkArtifacts does, and returns the schema it is trained on
// (trainSchema): before a long read, so that a wrong path fails at once.
func openTarget(ctx context.Context, fs *command, open func(context.Context) (*mlservice.Artifacts, error), schemaFile string, stderr io.Writer) (*mlservice.Artifacts, *mlservice.Schema, error) {
	arts, err := open(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := checkArtifacts(ctx, arts); err != nil {
		return nil, nil, err
	}
	schema, err := trainSchema(ctx, fs, arts, schemaFile, stderr)
	if err != nil {
		return nil, nil, err
	}
	return arts, schema, nil
}

// artifactsProbeTimeout bounds checkArtifacts' read of an object store's
// CURRENT (the SDK retries a refused connection for a few seconds).
const artifactsProbeTimeout = 30 * time.Second

// checkArtifacts fails when train could not write its version: so that a
// wrong path is reported at once, not after validating and training on a
// large file. A directory is checked without writing to it: each of DIR,
// DIR/models and DIR/models/versions that exists must be a directory this
// process may write into (so may the lock file), and the first missing one
// must be creatable. An object store must answer a read of CURRENT.
func checkArtifacts(ctx context.Context, arts *mlservice.Artifacts) error {
	dir := arts.Dir()
	if dir == "" {
		ctx, cancel := context.WithTimeout(ctx, artifactsProbeTimeout)
		defer cancel()
		if _, err := arts.CurrentVersion(ctx); err != nil && !errors.Is(err, mlservice.ErrNoCurrent) {
			return fmt.Errorf("artifacts %s cannot be read (-artifacts-url, ARTIFACTS_URL): %w", arts, err)
		}
		return nil
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("artifacts directory %s (-artifacts, ARTIFACTS_DIR): %s", dir, fmt.Sprintf(format, a...))
	}
	for _, p := range []string{dir, filepath.Join(dir, "models"), filepath.Join(dir, "models", "versions")} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			// Promote creates it, and any missing parent, from the
			// nearest directory that exists.
			up := filepath.Dir(p)
			for {
				if _, err := os.Stat(up); !errors.Is(err, fs.ErrNotExist) || filepath.Dir(up) == up {
					break
				}
				up = filepath.Dir(up)
			}
			if fi, err := os.Stat(up); err != nil {
				return bad("%v", err)
			} else if !fi.IsDir() {
				return bad("%s is not a directory", up)
			}
			if err := writable(up, true); err != nil {
				return bad("cannot create %s in %s: %v", p, up, err)
			}
			return nil
		}
		if err != nil {
			return bad("%v", err) // ENOTDIR: a file on the way; EACCES
		}
		if !fi.IsDir() {
			return bad("%s is not a directory", p)
		}
		if err := writable(p, true); err != nil {
			return bad("cannot write into %s: %v", p, err)
		}
	}
	lock := filepath.Join(dir, "models", ".lock")
	if _, err := os.Stat(lock); err == nil {
		if err := writable(lock, false); err != nil {
			return bad("cannot open the lock file %s for writing: %v", lock, err)
		}
	}
	return nil
}
