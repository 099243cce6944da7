package main

// The models a server serves: the one of -artifacts, or under -models
// ROOT every subdirectory (or object-store prefix) that is an artifacts
// location, each with its own Store, found again every reload interval so
// that a model trained later is served without a restart. A location that
// is not one is skipped, logged once and shown on the page.

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/artifactsurl"
	"github.com/mlservice/mlservice/internal/page"
	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/s3"
)

// modelSet is the models served at one moment: immutable.
type modelSet struct {
	list    []*server // by name
	names   []string  // the models' names, sorted (none under -artifacts)
	byName  map[string]*server
	skipped []skippedModel
}

type skippedModel struct{ Name, Reason string }

// registry holds the models served and, under -models, finds new ones.
type registry struct {
	single bool      // -artifacts: one model, named by its schema
	root   modelRoot // -models
	set    atomic.Pointer[modelSet]
	open   func(name string, a *mlservice.Artifacts) (*server, error)
	log    *slog.Logger

	mu     sync.Mutex        // one scan at a time
	logged map[string]string // the reason last logged for each skipped name
}

// singleModel is the registry of the one model of -artifacts.
func singleModel(s *server) *registry {
	r := &registry{single: true}
	r.set.Store(&modelSet{list: []*server{s}})
	return r
}

// newRegistry serves the models under root, found by a first scan now.
func newRegistry(ctx context.Context, root modelRoot, open func(string, *mlservice.Artifacts) (*server, error), log *slog.Logger) *registry {
	r := &registry{root: root, open: open, log: log, logged: map[string]string{}}
	r.set.Store(&modelSet{byName: map[string]*server{}})
	r.scan(ctx)
	return r
}

func (r *registry) current() *modelSet { return r.set.Load() }

// lookup returns the model called name. Under -artifacts that is the one
// model when its serving version's schema has that name, or when no
// version serves yet (it then says why it cannot predict).
func (r *registry) lookup(ctx context.Context, name string) (*server, bool) {
	set := r.current()
	if r.single {
		s := set.list[0]
		m, err := s.oipModel(ctx, "")
		return s, err != nil || m.info.Name == name
	}
	s, ok := set.byName[name]
	if ok {
		s.named.Inc()
	}
	return s, ok
}

// noneReason says why no model is served.
func (r *registry) noneReason() string {
	set := r.current()
	if len(set.skipped) == 0 {
		return fmt.Sprintf("%s has no model directory yet", r.root)
	}
	return fmt.Sprintf("%s has no artifacts directory; skipped: %d (see the page)", r.root, len(set.skipped))
}

// objectStoreScan is the least time between two scans of an object
// store: a scan lists every key under the root (each version's files
// too), which a request every reload interval would make costly.
const objectStoreScan = 2 * time.Second

// poll scans the root every interval (an object store's at most every
// objectStoreScan) until ctx ends.
func (r *registry) poll(ctx context.Context, every time.Duration) {
	if r.single {
		return
	}
	if _, ok := r.root.(*s3Root); ok {
		every = max(every, objectStoreScan)
	}
	tick(ctx, every, func() { r.scan(ctx) })
}

// scan adds the models that appeared under the root since the last scan.
// A model once served stays served (its Store says when its directory
// goes missing).
func (r *registry) scan(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	entries, err := r.root.scan(ctx)
	if err != nil {
		if r.logged[""] != err.Error() {
			r.log.Warn("models: cannot list the root; serving the models found before", "root", r.root.String(), "error", err)
			r.logged[""] = err.Error()
		}
		return
	}
	delete(r.logged, "")
	old := r.current()
	next := &modelSet{byName: make(map[string]*server, len(old.byName))}
	for name, s := range old.byName {
		next.byName[name] = s
	}
	skip := func(name, reason string) {
		next.skipped = append(next.skipped, skippedModel{name, reason})
		if r.logged[name] != reason {
			r.log.Warn("models: skipped", "model", name, "reason", reason)
			r.logged[name] = reason
		}
	}
	for _, e := range entries {
		if _, ok := next.byName[e.name]; ok {
			continue
		}
		if e.skip != "" {
			skip(e.name, e.skip)
			continue
		}
		a, err := e.open(ctx)
		if err != nil {
			skip(e.name, err.Error())
			continue
		}
		s, err := r.open(e.name, a)
		if err != nil {
			skip(e.name, err.Error())
			continue
		}
		delete(r.logged, e.name)
		next.byName[e.name] = s
		r.log.Info("models: serving", "model", e.name, "artifacts", a.String())
	}
	for name, s := range next.byName {
		next.names = append(next.names, name)
		next.list = append(next.list, s)
	}
	slices.Sort(next.names)
	slices.SortFunc(next.list, func(a, b *server) int { return strings.Compare(a.name, b.name) })
	r.set.Store(next)
}

// close closes every model's store.
func (r *registry) close() {
	for _, s := range r.current().list {
		s.store.Close()
	}
}

// modelRoot is where -models finds models: a directory or an object-store
// prefix.
type modelRoot interface {
	String() string
	// scan lists the root's entries: each an artifacts location to open
	// (open), or one to skip and why (skip).
	scan(ctx context.Context) ([]rootEntry, error)
}

type rootEntry struct {
	name string
	skip string
	open func(context.Context) (*mlservice.Artifacts, error)
}

// modelName is what a model may be called: a path segment that needs no
// escaping in a URL.
var modelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

const badName = "the name is not a model name (letters, digits, '.', '_' and '-', at most 64, not first '.', '_' or '-')"

// openModelRoot opens -models: a directory, or an s3:// URL (the models
// are the prefixes under it).
func openModelRoot(ctx context.Context, raw string) (modelRoot, error) {
	if !strings.HasPrefix(raw, "s3://") {
		a, err := artifactsurl.Open(ctx, raw) // a path or file:// URL
		if err != nil {
			return nil, err
		}
		return dirRoot(a.Dir()), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("models url: %w", err)
	}
	b, err := s3.Open(ctx, raw)
	if err != nil {
		return nil, err
	}
	return &s3Root{b: b, u: *u}, nil
}

// dirRoot is a directory whose subdirectories are artifacts directories.
type dirRoot string

func (d dirRoot) String() string { return string(d) }

func (d dirRoot) scan(context.Context) ([]rootEntry, error) {
	des, err := os.ReadDir(string(d))
	if err != nil {
		return nil, err
	}
	var out []rootEntry
	for _, de := range des {
		path := filepath.Join(string(d), de.Name())
		if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
			continue // a file beside the models, or a dangling link
		}
		e := rootEntry{name: de.Name()}
		if fi, err := os.Stat(filepath.Join(path, "models")); !modelName.MatchString(e.name) {
			e.skip = badName
		} else if err != nil || !fi.IsDir() {
			e.skip = "not an artifacts directory: no models/ directory in it (train one with trainer -artifacts " + path + ")"
		}
		e.open = func(context.Context) (*mlservice.Artifacts, error) { return mlservice.DirArtifacts(path), nil }
		out = append(out, e)
	}
	return out, nil
}

// s3Root is an object-store prefix whose prefixes are artifacts: b lists
// the keys under it, u is its URL, to which a model's name is appended.
type s3Root struct {
	b storage.Bucket
	u url.URL
}

func (r *s3Root) String() string { return r.b.String() }

func (r *s3Root) scan(ctx context.Context) ([]rootEntry, error) {
	keys, err := r.b.List(ctx, "")
	if err != nil {
		return nil, err
	}
	artifacts := map[string]bool{}
	var names []string
	for _, k := range keys {
		name, rest, ok := strings.Cut(k, "/")
		if !ok {
			continue // an object beside the models
		}
		if _, seen := artifacts[name]; !seen {
			names = append(names, name)
		}
		artifacts[name] = artifacts[name] || strings.HasPrefix(rest, "models/")
	}
	out := make([]rootEntry, 0, len(names))
	for _, name := range names {
		e := rootEntry{name: name}
		switch {
		case !modelName.MatchString(name):
			e.skip = badName
		case !artifacts[name]:
			e.skip = "not artifacts: no models/ under " + r.b.String() + name + "/"
		}
		u := r.u
		u.Path = strings.TrimSuffix(u.Path, "/") + "/" + name
		e.open = func(ctx context.Context) (*mlservice.Artifacts, error) { return artifactsurl.Open(ctx, u.String()) }
		out = append(out, e)
	}
	return out, nil
}

var modelsPage = template.Must(template.New("models").Parse(`<!doctype html><html lang="en"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>mlservice: models</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="{{.CSS}}">
<main><h1>Models</h1>
{{if .Models}}<table><thead><tr><th>model</th><th>serving</th><th>state</th></tr></thead><tbody>
{{range .Models}}<tr><td><a href="/models/{{.Name}}/">{{.Name}}</a></td><td><code>{{.Version}}</code></td><td>{{.State}}</td></tr>
{{end}}</tbody></table>{{else}}<p>No model is served yet: {{.Root}} has no artifacts directory.</p>{{end}}
{{if .Skipped}}<h2>Skipped</h2><ul>{{range .Skipped}}<li><code>{{.Name}}</code>: {{.Reason}}</li>{{end}}</ul>{{end}}
</main></html>
`))

// writePage writes the list of models, each linked to its history page,
// and the entries skipped and why.
func (r *registry) writePage(w http.ResponseWriter) {
	type row struct{ Name, Version, State string }
	set := r.current()
	data := struct {
		CSS     string
		Root    string
		Models  []row
		Skipped []skippedModel
	}{CSS: page.StylePath, Root: r.root.String(), Skipped: set.skipped}
	for _, s := range set.list {
		st := s.store.Status()
		state := "serving"
		if !st.Ready {
			state = "not ready: " + notReadyReason(st)
		} else if st.LastError != "" {
			state = "serving; a newer version was refused: " + st.LastError
		}
		data.Models = append(data.Models, row{s.name, st.ModelVersionID, state})
	}
	var buf strings.Builder
	if err := modelsPage.Execute(&buf, data); err != nil {
		r.log.Error("models page: render", "error", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error", nil)
		return
	}
	setPageHeaders(w.Header(), htmlType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(buf.String()))
}
