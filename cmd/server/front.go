package main

// The front: one router for every model served. Each native route is
// mounted twice, as /models/{name}/ROUTE for the model named and as /ROUTE
// for the one model (409 with the names when there are several); beside
// them the Open Inference Protocol v2 (/v2/...) and MLflow's scoring
// protocol (/invocations, /ping, /version) over the same models.

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"

	"github.com/julienschmidt/httprouter"

	"github.com/mlservice/mlservice/internal/mlflow"
	"github.com/mlservice/mlservice/internal/oip"
	"github.com/mlservice/mlservice/internal/page"
)

type front struct {
	cfg      config
	models   *registry
	draining *atomic.Bool
	// base counts, times and logs the requests (instrument) and answers
	// the routes of no model (/health, the style sheet, /metrics).
	base *server
	rest *oip.REST
}

// newFront routes to models; base counts, times and logs the requests
// (its metrics, log and draining flag are the front's).
func newFront(base *server, models *registry) *front {
	cfg := base.cfg
	f := &front{cfg: cfg, models: models, draining: base.draining, base: base}
	f.rest = oip.NewREST(backend{f}, oip.HTTPOptions{Version: serverVersion(), MaxRows: cfg.maxBatch, MaxBodyBytes: cfg.maxBody})
	return f
}

// modelHandle is a handler of one model's server: (*server).model.
type modelHandle func(*server, http.ResponseWriter, *http.Request, httprouter.Params)

// nativeRoutes are the routes of one model, served at /ROUTE and at
// /models/{name}/ROUTE.
var nativeRoutes = []struct {
	method, path string
	h            modelHandle
}{
	{http.MethodPost, "/predict", predictRoute((*server).predict)},
	{http.MethodPost, "/predict/batch", predictRoute((*server).predictBatch)},
	{http.MethodPost, "/reload", (*server).reload},
	{http.MethodGet, "/model", (*server).model},
	{http.MethodGet, "/versions", (*server).versions},
	{http.MethodGet, "/schema", (*server).schema},
	{http.MethodGet, "/drift", (*server).drift},
	{http.MethodGet, page.VersionPath + ":id", (*server).pageVersion},
	{http.MethodPost, "/invocations", (*server).invocations},
}

func (f *front) handler() http.Handler {
	s := f.base
	r := httprouter.New()
	route := func(method, path string, h httprouter.Handle) {
		h = s.instrument(path, h)
		r.Handle(method, path, h)
		if method == http.MethodGet {
			// net/http drops the body of a HEAD answer and keeps its headers.
			r.Handle(http.MethodHead, path, h)
		}
	}
	route(http.MethodGet, "/health", s.health)
	route(http.MethodGet, "/ready", f.ready)
	for _, n := range nativeRoutes {
		route(n.method, n.path, f.one(n.h))
		route(n.method, "/models/:name"+n.path, f.named(n.h))
	}
	route(http.MethodGet, "/models/:name/", f.named((*server).pageIndex))
	route(http.MethodGet, page.IndexPath, f.index)
	route(http.MethodGet, page.StylePath, s.pageStyle)
	route(http.MethodGet, "/metrics", s.metrics.handle)
	route(http.MethodGet, "/ping", f.ping)
	route(http.MethodGet, "/version", f.version)

	std := func(h http.HandlerFunc) httprouter.Handle {
		return func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) { h(w, r) }
	}
	model := func(h func(http.ResponseWriter, *http.Request, string, string)) httprouter.Handle {
		return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
			h(w, r, ps.ByName("name"), ps.ByName("version"))
		}
	}
	route(http.MethodGet, "/v2", std(f.rest.ServerMetadata))
	route(http.MethodGet, "/v2/health/live", std(f.rest.Live))
	route(http.MethodGet, "/v2/health/ready", std(f.rest.Ready))
	for _, prefix := range []string{"/v2/models/:name", "/v2/models/:name/versions/:version"} {
		route(http.MethodGet, prefix, model(f.rest.ModelMetadata))
		route(http.MethodGet, prefix+"/ready", model(f.rest.ModelReady))
		route(http.MethodPost, prefix+"/infer", model(f.rest.Infer))
	}

	r.NotFound = adapt(s.instrument("unmatched", func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		writeError(w, http.StatusNotFound, "not_found", "no route "+r.URL.Path, nil)
	}))
	r.MethodNotAllowed = adapt(s.instrument("unmatched", func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path, nil)
	}))
	r.PanicHandler = func(w http.ResponseWriter, r *http.Request, v any) {
		s.log.Error("panic serving request", "path", r.URL.Path, "panic", v)
		writeError(w, http.StatusInternalServerError, "internal", "internal error", nil)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// Every answer has its Content-Type; a browser must not guess another.
		w.Header()["X-Content-Type-Options"] = nosniff
		if f.draining.Load() {
			w.Header().Set("Connection", "close") // net/http closes after this answer
		}
		r.ServeHTTP(w, req)
	})
}

// one serves an unprefixed route with the one model served; with several
// it answers 409 and their names, with none 503.
func (f *front) one(h modelHandle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		set := f.models.current()
		switch len(set.list) {
		case 1:
			h(set.list[0], w, r, ps)
		case 0:
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "not_ready", "no model is served yet: "+f.models.noneReason(), nil)
		default:
			writeJSON(w, http.StatusConflict, errorBody{errorDetail{Code: "several_models", Models: set.names,
				Message: "this server serves several models: name one, as /models/NAME" + r.URL.Path}})
		}
	}
}

// named serves a /models/{name}/ route with the model named, or answers 404.
func (f *front) named(h modelHandle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		name := ps.ByName("name")
		s, ok := f.models.lookup(r.Context(), name)
		if !ok {
			writeJSON(w, http.StatusNotFound, errorBody{errorDetail{Code: "model_not_found", Models: f.models.current().names,
				Message: fmt.Sprintf("no model %q is served", name)}})
			return
		}
		h(s, w, r, ps)
	}
}

// ready is 200 while one model at least can predict (a broken model does
// not take the others out of a load balancer), with each model's state
// when there are several.
func (f *front) ready(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	set := f.models.current()
	if f.models.single {
		set.list[0].ready(w, r, ps)
		return
	}
	states := make(map[string]readyResponse, len(set.list))
	anyReady := false
	for _, s := range set.list {
		st := s.store.Status()
		if st.Ready {
			anyReady = true
			states[s.name] = readyResponse{Ready: true, ModelVersionID: &st.ModelVersionID, LoadedAt: &st.LoadedAt, LastError: st.LastError}
		} else {
			states[s.name] = readyResponse{Reason: notReadyReason(st)}
		}
	}
	status, reason := http.StatusOK, ""
	switch {
	case f.draining.Load():
		status, reason = http.StatusServiceUnavailable, "shutting down"
	case !anyReady:
		status, reason = http.StatusServiceUnavailable, "no model can predict yet"
	}
	body := map[string]any{"ready": status == http.StatusOK, "models": states}
	if reason != "" {
		body["reason"] = reason
	}
	writeJSON(w, status, body)
}

// index is the history page of the one model, or the list of models.
func (f *front) index(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	if f.models.single {
		f.models.current().list[0].pageIndex(w, r, ps)
		return
	}
	f.models.writePage(w)
}

// ping answers MLflow's GET /ping: 200 while a model can predict.
func (f *front) ping(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if !(backend{f}).Ready() {
		mlflow.WriteError(w, fmt.Errorf("%w: %s", oip.ErrModelNotReady, "no model can predict yet"))
		return
	}
	mlflow.Ping(w, r)
}

// version answers MLflow's GET /version with the server's version.
func (f *front) version(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(serverVersion()))
}

// serverVersion is the module version the binary was built from.
func serverVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return strings.TrimPrefix(bi.Main.Version, "v")
	}
	return "devel"
}

// backend is the front as the Open Inference Protocol sees it.
type backend struct{ f *front }

// Ready: one model at least can predict, and the server is not draining.
func (b backend) Ready() bool {
	if b.f.draining.Load() {
		return false
	}
	for _, s := range b.f.models.current().list {
		if s.store.Status().Ready {
			return true
		}
	}
	return false
}

func (b backend) Model(ctx context.Context, name, version string) (oip.Model, error) {
	s, ok := b.f.models.lookup(ctx, name)
	if !ok {
		return nil, fmt.Errorf("model %q: %w (served: %s)", name, oip.ErrModelNotFound, strings.Join(b.f.models.current().names, ", "))
	}
	return s.oipModel(ctx, version)
}
