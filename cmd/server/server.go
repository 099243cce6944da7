package main

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/mlservice/mlservice"
)

// server translates HTTP into calls on a Store; the rules live in the
// library (DecodeFeatures, Store.Predict, Versions).
type server struct {
	cfg     config
	store   *mlservice.Store
	log     *slog.Logger
	metrics *metrics
}

func newServer(cfg config, store *mlservice.Store, log *slog.Logger) *server {
	return &server{cfg: cfg, store: store, log: log, metrics: newMetrics(store)}
}

func (s *server) handler() http.Handler {
	r := httprouter.New()
	route := func(method, path string, h httprouter.Handle) {
		r.Handle(method, path, s.instrument(path, h))
	}
	route(http.MethodGet, "/health", s.health)
	route(http.MethodGet, "/ready", s.ready)
	route(http.MethodPost, "/predict", s.predict)
	route(http.MethodPost, "/predict/batch", s.predictBatch)
	route(http.MethodPost, "/reload", s.reload)
	route(http.MethodGet, "/model", s.model)
	route(http.MethodGet, "/versions", s.versions)
	route(http.MethodGet, "/metrics", s.metrics.handle)
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
	return r
}

func adapt(h httprouter.Handle) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(w, r, nil) })
}

func (s *server) health(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readyResponse struct {
	Ready          bool       `json:"ready"`
	ModelVersionID *string    `json:"model_version_id"`
	LoadedAt       *time.Time `json:"loaded_at,omitempty"`
	Reason         string     `json:"reason,omitempty"`     // why not ready
	LastError      string     `json:"last_error,omitempty"` // a newer version was refused
}

func (s *server) ready(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	st := s.store.Status()
	if !st.Ready {
		reason := st.LastError
		if reason == "" {
			reason = "no model version has been promoted yet"
		}
		writeJSON(w, http.StatusServiceUnavailable, readyResponse{Reason: reason})
		return
	}
	writeJSON(w, http.StatusOK, readyResponse{Ready: true, ModelVersionID: &st.ModelVersionID,
		LoadedAt: &st.LoadedAt, LastError: st.LastError})
}

func (s *server) predict(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	buf, ok := s.readJSON(w, r)
	if !ok {
		return
	}
	defer putBuffer(buf)
	f, err := mlservice.DecodeFeatures(buf.Bytes())
	if err != nil {
		writeInputError(w, err)
		return
	}
	p, err := s.store.Predict(f)
	if err != nil {
		s.writePredictError(w, err)
		return
	}
	// The hot path: the response is appended by hand, byte for byte what
	// encoding/json would write (TestAppendPrediction), at a tenth the cost.
	out := buf.Bytes()[:0]
	out = appendPrediction(out, p)
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(out))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

var jsonContentType = []string{"application/json"}

// appendPrediction appends p as encoding/json encodes it, with a newline.
// Version ids match a strict pattern of digits, letters, '.' and '-', so
// they need no escaping.
func appendPrediction(b []byte, p mlservice.Prediction) []byte {
	b = append(b, `{"prediction":`...)
	b = strconv.AppendInt(b, int64(p.Label), 10)
	b = append(b, `,"probability":`...)
	b = appendFloat(b, p.Probability)
	b = append(b, `,"model_version_id":"`...)
	b = append(b, p.ModelVersionID...)
	return append(b, "\"}\n"...)
}

// appendFloat formats f the way encoding/json does: shortest round-trip
// digits, exponent form only below 1e-6 or from 1e21, "e-07" written "e-7".
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

type batchPrediction struct {
	Prediction  int     `json:"prediction"`
	Probability float64 `json:"probability"`
}

type batchResponse struct {
	Predictions    []batchPrediction `json:"predictions"`
	ModelVersionID string            `json:"model_version_id"`
}

func (s *server) predictBatch(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	buf, ok := s.readJSON(w, r)
	if !ok {
		return
	}
	defer putBuffer(buf)
	rows, err := mlservice.DecodeBatch(buf.Bytes(), s.cfg.maxBatch)
	if err != nil {
		writeInputError(w, err)
		return
	}
	preds, err := s.store.PredictBatch(make([]mlservice.Prediction, 0, len(rows)), rows)
	if err != nil {
		s.writePredictError(w, err)
		return
	}
	resp := batchResponse{Predictions: make([]batchPrediction, len(preds)), ModelVersionID: preds[0].ModelVersionID}
	for i, p := range preds {
		resp.Predictions[i] = batchPrediction{Prediction: p.Label, Probability: p.Probability}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *server) reload(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if s.cfg.adminToken != "" {
		token, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !found || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.adminToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mlservice"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "POST /reload needs the admin bearer token", nil)
			return
		}
	}
	changed, err := s.store.Reload(r.Context())
	st := s.store.Status()
	if !st.Ready {
		msg := "no model version has been promoted yet"
		if err != nil {
			msg = err.Error()
		}
		writeError(w, http.StatusServiceUnavailable, "not_ready", msg, nil)
		return
	}
	resp := map[string]any{"model_version_id": st.ModelVersionID, "changed": changed}
	if err != nil {
		resp["error"] = err.Error() // the refused version; the previous one keeps serving
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *server) model(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	_, raw, err := s.store.Metadata()
	if err != nil {
		s.writePredictError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(raw)
}

func (s *server) versions(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	vs, err := s.store.Versions(r.Context())
	if err != nil {
		s.log.Error("list versions", "error", err)
		writeError(w, http.StatusInternalServerError, "internal", err.Error(), nil)
		return
	}
	if vs == nil {
		vs = []mlservice.VersionInfo{}
	}
	var current *string
	if st := s.store.Status(); st.Ready {
		current = &st.ModelVersionID
	}
	writeJSON(w, http.StatusOK, map[string]any{"serving": current, "versions": vs})
}

// readJSON checks the media type and reads a body of at most maxBody bytes
// into a pooled buffer, answering 415, 413 or 400 itself when it cannot.
func (s *server) readJSON(w http.ResponseWriter, r *http.Request) (*bytes.Buffer, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
				"send the body as application/json, not "+strconv.Quote(ct), nil)
			return nil, false
		}
	}
	buf := getBuffer()
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.cfg.maxBody))
	if err != nil {
		putBuffer(buf)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large",
				"the body is over the limit of "+strconv.FormatInt(tooBig.Limit, 10)+" bytes", nil)
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "bad_request", "read body: "+err.Error(), nil)
		return nil, false
	}
	return buf, true
}

func writeInputError(w http.ResponseWriter, err error) {
	var ierr *mlservice.InputError
	switch {
	case errors.Is(err, mlservice.ErrMalformedRequest):
		writeError(w, http.StatusBadRequest, "malformed_json", err.Error(), nil)
	case errors.As(err, &ierr):
		writeError(w, http.StatusUnprocessableEntity, "invalid_features", "the request has invalid fields", ierr.Problems)
	default:
		writeError(w, http.StatusUnprocessableEntity, "invalid_features", err.Error(), nil)
	}
}

func (s *server) writePredictError(w http.ResponseWriter, err error) {
	var ferr *mlservice.FeatureError
	switch {
	case errors.Is(err, mlservice.ErrNotReady):
		reason := s.store.Status().LastError
		if reason == "" {
			reason = "no model version has been promoted yet"
		}
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "not_ready", reason, nil)
	case errors.As(err, &ferr):
		writeError(w, http.StatusUnprocessableEntity, "invalid_features", err.Error(),
			[]mlservice.FieldProblem{{Field: ferr.Feature, Reason: ferr.Reason}})
	default:
		s.log.Error("predict", "error", err)
		writeError(w, http.StatusInternalServerError, "internal", err.Error(), nil)
	}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string                   `json:"code"`
	Message string                   `json:"message"`
	Fields  []mlservice.FieldProblem `json:"fields,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, msg string, fields []mlservice.FieldProblem) {
	writeJSON(w, status, errorBody{errorDetail{Code: code, Message: msg, Fields: fields}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := getBuffer()
	defer putBuffer(buf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"encode response"}}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return // let an oversized buffer go
	}
	b.Reset()
	buffers.Put(b)
}
