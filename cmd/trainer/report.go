package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/page"
)

// runReport writes the history page the server shows at GET / as static
// files: DIR/index.html, DIR/style.css and DIR/versions/ID.html, linked
// relatively so the directory can be opened from disk, shared or kept as a
// CI artifact.
func runReport(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := newFlagSet("report", "[flags]",
		"Writes the history page (every version, its metrics and decision, an F1 chart, a page per version)\nas static files: DIR/index.html, DIR/style.css, DIR/versions/ID.html.")
	openArtifacts := artifactsFlags(fs, getenv)
	out := fs.String("out", "./report", "`DIR` to write the pages into, created if missing (no env; default ./report)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return fsUsagef(fs, "-out must name a directory")
	}
	arts, err := openArtifacts(ctx)
	if err != nil {
		return err
	}
	if dir := arts.Dir(); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("report: artifacts directory: %w", err) // a mistyped -artifacts is not an empty report
		}
		// Pages written among the versions would break their manifests (a
		// file not listed) or replace CURRENT's neighbours.
		inside, err := within(*out, dir)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if inside {
			return fsUsagef(fs, "-out %s is inside the artifacts directory %s: the report would be written among the versions; choose a directory outside it", *out, dir)
		}
	}
	serving := page.Serving{Source: "report"}
	switch id, err := arts.CurrentVersion(ctx); {
	case err == nil:
		serving.Ready, serving.VersionID = true, id
	case errors.Is(err, mlservice.ErrNoCurrent):
		serving.Reason = "no model version has been promoted yet"
	default:
		serving.Reason, serving.LastError = "CURRENT cannot be read", err.Error()
	}
	h, err := page.NewLoader(arts).Load(ctx, serving)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(*out, "versions"), 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	links := page.Links{Static: true}
	var buf bytes.Buffer
	if err := page.WriteIndex(&buf, h, links); err != nil {
		return fmt.Errorf("report: render index: %w", err)
	}
	if err := writeReportFile(*out, "index.html", buf.Bytes()); err != nil {
		return err
	}
	if err := writeReportFile(*out, "style.css", page.StyleCSS()); err != nil {
		return err
	}
	for _, v := range h.Versions {
		buf.Reset()
		if err := page.WriteVersion(&buf, h, v.VersionID, links); err != nil {
			return fmt.Errorf("report: render version %s: %w", v.VersionID, err)
		}
		if err := writeReportFile(*out, page.VersionFile(v.VersionID), buf.Bytes()); err != nil {
			return err
		}
	}
	return writeJSON(stdout, struct {
		Index    string `json:"index"`
		Versions int    `json:"versions"`
		Current  string `json:"current_version_id,omitempty"`
	}{filepath.Join(*out, "index.html"), len(h.Versions), serving.VersionID})
}

// within reports whether path is dir or lies under it, once both are made
// absolute and their symbolic links and .. resolved. path need not exist
// yet.
func within(path, dir string) (bool, error) {
	d, err := resolve(dir)
	if err != nil {
		return false, err
	}
	p, err := resolve(path)
	if err != nil {
		return false, err
	}
	rel, err := filepath.Rel(d, p)
	if err != nil {
		return false, nil // another volume
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))), nil
}

// resolve returns the real path that path names, or will name once created:
// one element at a time, each symbolic link resolved before a following
// ".." applies (as the kernel does), missing elements taken as they are.
func resolve(path string) (string, error) {
	if !filepath.IsAbs(path) {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		path = wd + string(filepath.Separator) + path // not Join: it would apply ".." before links
	}
	real := filepath.VolumeName(path) + string(filepath.Separator)
	for _, elem := range strings.Split(path[len(filepath.VolumeName(path)):], string(filepath.Separator)) {
		switch elem {
		case "", ".":
			continue
		case "..":
			real = filepath.Dir(real)
			continue
		}
		next := filepath.Join(real, elem)
		r, err := filepath.EvalSymlinks(next)
		switch {
		case err == nil:
			real = r
		case errors.Is(err, fs.ErrNotExist):
			real = next // created by the report
		default:
			return "", err
		}
	}
	return real, nil
}

// writeReportFile replaces DIR/name by data: written beside it and renamed,
// so a reader never sees half a page.
func writeReportFile(dir, name string, data []byte) error {
	path := filepath.Join(dir, filepath.FromSlash(name))
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("report: write %s: %w", name, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
