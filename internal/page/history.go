// Package page renders the history page: every model version with its
// metrics and decision, a chart of F1 over time, and one page per version.
// The server answers GET / with it and `trainer report` writes it as static
// files; both use the same templates, embedded and parsed once.
//
// Everything is drawn on the server: html/template escapes every value, the
// charts are SVG written by the templates, and the pages need no
// JavaScript and make no request but for the embedded style sheet, so they
// work under a Content-Security-Policy of "default-src 'none'; style-src
// 'self'".
package page

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/model"
)

// History is what the pages show: a snapshot of the artifacts directory,
// immutable once built.
type History struct {
	Built time.Time
	// Serving describes what serves predictions; for a report, the version
	// CURRENT names.
	Serving Serving
	// Versions lists every version, newest first.
	Versions []*Version
	// Error says why the versions could not be listed; Versions is then
	// empty.
	Error string
	// Pin is the rollback that pinned CURRENT, while it is pinned.
	Pin *mlservice.RollbackInfo
	// CurrentError says why the version CURRENT names would not be served.
	CurrentError string
	// Warnings names the history lines skipped as not records.
	Warnings []string
	byID     map[string]*Version
}

// Serving is the serving side of the page: a server's store status, or,
// for a report, what CURRENT names.
type Serving struct {
	Source    string // "server" or "report"
	Ready     bool
	VersionID string
	LoadedAt  time.Time
	Reason    string // why not ready
	LastError string // a newer version refused, CURRENT unreadable…
	// Drift is what the serving version has seen since it loaded; nil when
	// the server does not count it (and in a report).
	Drift *mlservice.DriftReport
}

// Version is one version's row and page.
type Version struct {
	mlservice.VersionInfo
	// Meta and Model are nil when the version cannot be read; Error then
	// says why.
	Meta  *mlservice.Metadata
	Model model.Model
}

// Lookup returns version id, or nil.
func (h *History) Lookup(id string) *Version { return h.byID[id] }

// Loader builds Histories of one artifacts directory or object store. A complete version
// never changes, so it keeps what it read of each version (bounded by the
// versions that exist: those gone are dropped) and reads only new ones.
// It is safe for concurrent use.
type Loader struct {
	arts *mlservice.Artifacts
	// mu guards details.
	mu      sync.Mutex
	details map[string]detail
}

type detail struct {
	meta  *mlservice.Metadata
	model model.Model
}

// NewLoader returns a Loader of arts (mlservice.DirArtifacts for a
// directory, Store.Artifacts for what a store serves from).
func NewLoader(arts *mlservice.Artifacts) *Loader {
	return &Loader{arts: arts, details: map[string]detail{}}
}

// Load lists the versions with their decisions, CURRENT's pin and the
// history lines skipped (mlservice.List) and reads the metadata and model
// of each version it has not read before. serving is copied into the
// History as given.
func (l *Loader) Load(ctx context.Context, serving Serving) (*History, error) {
	listing, err := l.arts.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("history page: %w", err)
	}
	infos := listing.Versions
	l.mu.Lock()
	defer l.mu.Unlock()
	versions := make([]*Version, 0, len(infos))
	seen := make(map[string]bool, len(infos))
	for _, info := range infos {
		seen[info.VersionID] = true
		v := &Version{VersionInfo: info}
		if info.Error == "" {
			d, ok := l.details[info.VersionID]
			if !ok {
				meta, m, err := l.arts.ReadVersion(ctx, info.VersionID)
				if err != nil {
					v.Error = err.Error()
				} else {
					d = detail{meta: meta, model: m}
					l.details[info.VersionID] = d
				}
			}
			v.Meta, v.Model = d.meta, d.model
		}
		versions = append(versions, v)
	}
	for id := range l.details {
		if !seen[id] {
			delete(l.details, id)
		}
	}
	h := newHistory(serving, versions)
	h.Pin, h.CurrentError, h.Warnings = listing.Pin, listing.CurrentError, listing.Warnings
	return h, nil
}

// newHistory returns a History of versions, newest first.
func newHistory(serving Serving, versions []*Version) *History {
	h := &History{Built: time.Now(), Serving: serving, Versions: versions, byID: make(map[string]*Version, len(versions))}
	for _, v := range versions {
		h.byID[v.VersionID] = v
	}
	return h
}

// Unlisted returns a History with no versions and why they could not be
// listed, so that the page still shows what serves.
func Unlisted(serving Serving, err error) *History {
	h := newHistory(serving, nil)
	h.Error = err.Error()
	return h
}

// oldestFirst returns the readable versions in time order, for charts.
func (h *History) oldestFirst() []*Version {
	var out []*Version
	for _, v := range h.Versions {
		if v.Meta != nil {
			out = append(out, v)
		}
	}
	slices.Reverse(out)
	return out
}
