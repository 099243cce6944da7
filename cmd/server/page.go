package main

// The history page: GET / for people, next to the JSON API. The view is
// built from the artifacts (directory or object store) at most once per pageTTL, or sooner
// when the store serves another version or reports another error, never
// per request; the index is rendered once per build.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/page"
)

// pageTTL is how long a built view is shown before the artifacts are
// listed again: a rejected version moves nothing the store watches, so
// it appears on the page within this time. Twenty store refreshes, between
// 2 s and a minute; longer when a build is slow (see buildShare).
func pageTTL(refresh time.Duration) time.Duration {
	return min(max(20*refresh, 2*time.Second), time.Minute)
}

// buildShare bounds the time spent rebuilding the view while the page is
// read: a view lives at least buildShare times as long as it took to
// build. Listing 1000 versions reads 1000 metadata files (about 0.2 s), so
// their page is rebuilt at most every 4 s, 5% of a core, however often it
// is requested.
const buildShare = 20

// pageBuildTimeout bounds listing and reading the versions for one build.
const pageBuildTimeout = 30 * time.Second

// pageCache holds the current view of the history page.
type pageCache struct {
	store  *mlservice.Store
	links  page.Links // where its pages are
	loader *page.Loader
	ttl    time.Duration
	log    *slog.Logger

	view atomic.Pointer[pageView]
	// index is the index page with the serving version's drift: rendered
	// again when older than driftTTL, so drift on the page is never older
	// than that while the rest of the view is cached longer.
	index     atomic.Pointer[renderedIndex]
	rendering sync.Mutex
	// building is held by the one build at a time; requests that find it
	// held show the previous view instead of waiting.
	building sync.Mutex
}

// pageView is one build: immutable.
type pageView struct {
	h       *page.History
	index   []byte
	status  mlservice.StoreStatus // what the store reported when it was built
	builtAt time.Time
	took    time.Duration // to build
}

func newPageCache(store *mlservice.Store, links page.Links, refresh time.Duration, log *slog.Logger) *pageCache {
	return &pageCache{store: store, links: links, loader: page.NewLoader(store.Artifacts()), ttl: pageTTL(refresh), log: log}
}

// current returns a view no older than the TTL that matches the store's
// serving version and error, building one if needed. While another request
// builds, it returns the previous view rather than wait.
func (c *pageCache) current() *pageView {
	st := c.store.Status()
	v := c.view.Load()
	if v != nil && c.fresh(v, st) {
		return v
	}
	if v != nil {
		if !c.building.TryLock() {
			return v
		}
	} else {
		c.building.Lock()
	}
	defer c.building.Unlock()
	if v := c.view.Load(); v != nil && c.fresh(v, st) {
		return v // built while this request waited
	}
	v = c.build(st)
	c.view.Store(v)
	return v
}

func (c *pageCache) fresh(v *pageView, st mlservice.StoreStatus) bool {
	return time.Since(v.builtAt) < max(c.ttl, buildShare*v.took) && v.status.ModelVersionID == st.ModelVersionID &&
		v.status.LastError == st.LastError && v.status.Ready == st.Ready
}

func (c *pageCache) build(st mlservice.StoreStatus) *pageView {
	start := time.Now()
	serving := page.Serving{Source: "server", Ready: st.Ready, VersionID: st.ModelVersionID, LoadedAt: st.LoadedAt,
		Reason: st.Reason, LastError: st.LastError}
	// An object store that does not answer must not hold the page's one
	// build (and with it every request for a first view) for long.
	ctx, cancel := context.WithTimeout(context.Background(), pageBuildTimeout)
	defer cancel()
	h, err := c.loader.Load(ctx, serving)
	if err != nil {
		c.log.Warn("history page: cannot list versions", "error", err)
		h = page.Unlisted(serving, err)
	}
	var buf bytes.Buffer
	if err := page.WriteIndex(&buf, h, c.links); err != nil {
		c.log.Error("history page: render", "error", err) // a template bug
		buf.Reset()
		buf.WriteString("<!doctype html><title>mlservice</title><p>The history page could not be rendered; see the server log.")
	}
	return &pageView{h: h, index: buf.Bytes(), status: st, builtAt: time.Now(), took: time.Since(start)}
}

// driftTTL is how stale drift may be on the index page.
const driftTTL = time.Second

type renderedIndex struct {
	view *pageView
	body []byte
	at   time.Time
}

// withDrift returns a copy of h showing the serving version's drift, or h
// when there is none to show (not ready, or a version without a profile).
func (c *pageCache) withDrift(h *page.History) *page.History {
	r, err := c.store.Drift()
	if err != nil || !r.Available || r.ModelVersionID != h.Serving.VersionID {
		return h
	}
	cp := *h
	cp.Serving.Drift = r
	return &cp
}

// indexPage returns the index of view v with drift no older than driftTTL.
// One request renders at a time; others take the last rendering meanwhile.
func (c *pageCache) indexPage(v *pageView) []byte {
	ri := c.index.Load()
	if ri != nil && ri.view == v && time.Since(ri.at) < driftTTL {
		return ri.body
	}
	if ri != nil && ri.view == v && !c.rendering.TryLock() {
		return ri.body
	} else if ri == nil || ri.view != v {
		c.rendering.Lock()
	}
	defer c.rendering.Unlock()
	h := c.withDrift(v.h)
	if h == v.h {
		return v.index // nothing to add
	}
	var buf bytes.Buffer
	if err := page.WriteIndex(&buf, h, c.links); err != nil {
		c.log.Error("history page: render", "error", err)
		return v.index
	}
	c.index.Store(&renderedIndex{view: v, body: buf.Bytes(), at: time.Now()})
	return buf.Bytes()
}

// setPageHeaders makes a page inert beyond its own style sheet: no script,
// no frame, no form, no referrer.
func setPageHeaders(h http.Header, contentType string) {
	h.Set("Content-Type", contentType)
	h.Set("Content-Security-Policy", page.ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache")
}

const htmlType = "text/html; charset=utf-8"

func (s *server) pageIndex(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	body := s.page.indexPage(s.page.current())
	setPageHeaders(w.Header(), htmlType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func (s *server) pageVersion(w http.ResponseWriter, _ *http.Request, ps httprouter.Params) {
	id := ps.ByName("id")
	v := s.page.current()
	var buf bytes.Buffer
	err := page.WriteVersion(&buf, s.page.withDrift(v.h), id, s.page.links) // drift as of now
	status := http.StatusOK
	if errors.Is(err, page.ErrNoVersion) {
		status = http.StatusNotFound
		buf.Reset()
		buf.WriteString(`<!doctype html><meta charset="utf-8"><title>mlservice: no such version</title>` +
			`<link rel="stylesheet" href="` + page.StylePath + `"><p>No version with that id. <a href="` + s.page.links.Prefix + page.IndexPath + `">All versions</a></p>`)
	} else if err != nil {
		s.log.Error("history page: render version", "error", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error", nil)
		return
	}
	setPageHeaders(w.Header(), htmlType)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

var styleCSS = page.StyleCSS()

func (s *server) pageStyle(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	setPageHeaders(w.Header(), "text/css; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(styleCSS)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(styleCSS)
}
