package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/page"
)

// server translates HTTP into calls on one model's Store; the rules live
// in the library (DecodeFeatures, Store.Predict, Versions). The front
// (front.go) routes each request to the server of the model it names.
type server struct {
	cfg config
	// name is the model's name under -models; "" for the one model of
	// -artifacts, named by its schema.
	name    string
	store   *mlservice.Store
	log     *slog.Logger
	metrics *metrics
	// draining is set on SIGTERM: answers close their connection and
	// /ready fails. One flag, shared by the front and every model.
	draining *atomic.Bool
	// answered counts requests by route for the log's summaries; filled
	// by handler before serving, read-only after.
	answered []*routeCount
	page     *pageCache  // the history page (page.go)
	oip      oipVersions // the versions the protocols predict with (oipmodel.go)
	// named counts the requests that named this model; nil for the one
	// model of -artifacts.
	named prometheus.Counter
}

// newServer returns the server of a single model (as -artifacts serves).
func newServer(cfg config, store *mlservice.Store, log *slog.Logger) *server {
	m := newMetrics()
	m.addStore("", store)
	return newModelServer(cfg, "", store, log, m, new(atomic.Bool))
}

// newModelServer returns the server of the model called name ("" for the
// one model of -artifacts), its store's metrics already in m.
func newModelServer(cfg config, name string, store *mlservice.Store, log *slog.Logger, m *metrics, draining *atomic.Bool) *server {
	links := page.Links{}
	if name != "" {
		links.Prefix = "/models/" + name
	}
	s := &server{cfg: cfg, name: name, store: store, log: log, metrics: m, draining: draining,
		page: newPageCache(store, links, cfg.reloadInterval, log)}
	if name != "" {
		s.named = m.byModel.WithLabelValues(name)
	}
	return s
}

// handler serves this one model through the front: its native routes, the
// Open Inference Protocol's and MLflow's.
func (s *server) handler() http.Handler {
	return newFront(s, singleModel(s)).handler()
}

func adapt(h httprouter.Handle) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(w, r, nil) })
}

func (s *server) health(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readyResponse struct {
	Ready          bool       `json:"ready"`
	ModelVersionID *string    `json:"model_version_id,omitempty"`
	LoadedAt       *time.Time `json:"loaded_at,omitempty"`
	Reason         string     `json:"reason,omitempty"`     // why not ready
	LastError      string     `json:"last_error,omitempty"` // a newer version was refused
}

func (s *server) ready(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, readyResponse{Reason: "shutting down"})
		return
	}
	st := s.store.Status()
	if !st.Ready {
		writeJSON(w, http.StatusServiceUnavailable, readyResponse{Reason: notReadyReason(st)})
		return
	}
	writeJSON(w, http.StatusOK, readyResponse{Ready: true, ModelVersionID: &st.ModelVersionID,
		LoadedAt: &st.LoadedAt, LastError: st.LastError})
}

// reloadTimeout bounds how long POST /reload waits for a check of CURRENT.
const reloadTimeout = 5 * time.Second

// notReadyReason says why st has no model serving: the Store's own reason
// when it has one (CURRENT unreadable, a version refused, no artifacts
// directory), else that nothing has been promoted.
func notReadyReason(st mlservice.StoreStatus) string {
	if st.Reason != "" {
		return st.Reason
	}
	if st.LastError != "" {
		return st.LastError
	}
	return "no model version has been promoted yet"
}

// predictRoute makes a predict route of answer: it reads ?explain= and
// the JSON body, and writes answer's error as the route's error.
func predictRoute(answer func(s *server, w http.ResponseWriter, body *bytes.Buffer, explain bool) error) modelHandle {
	return func(s *server, w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		explain, ok := explainParam(w, r)
		if !ok {
			return
		}
		buf, ok := s.readJSON(w, r)
		if !ok {
			return
		}
		defer putBuffer(buf)
		if err := answer(s, w, buf, explain); err != nil {
			s.writeErr(w, err)
		}
	}
}

func (s *server) predict(w http.ResponseWriter, buf *bytes.Buffer, explain bool) error {
	if explain {
		e, err := s.store.ExplainJSON(buf.Bytes())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, e)
		return nil
	}
	// Decoded under the serving version's schema, scored by that version.
	p, err := s.store.PredictJSON(buf.Bytes())
	if err != nil {
		return err
	}
	// The answer is appended into the body's buffer, done with now: no
	// reflection, and net/http sets Content-Length for so short a body.
	buf.Reset()
	w.Header()["Content-Type"] = contentTypeJSON
	_, _ = w.Write(p.AppendJSON(buf.AvailableBuffer()))
	return nil
}

type batchPrediction struct {
	Prediction  int     `json:"prediction"`
	Probability float64 `json:"probability"`
}

type batchResponse struct {
	Predictions    []batchPrediction `json:"predictions"`
	ModelVersionID string            `json:"model_version_id"`
}

// explainParam reads ?explain= (absent: false), answering 400 naming it
// when it is not a boolean.
func explainParam(w http.ResponseWriter, r *http.Request) (explain, ok bool) {
	if r.URL.RawQuery == "" {
		return false, true
	}
	q := r.URL.Query()
	if _, given := q["explain"]; !given {
		return false, true
	}
	explain, err := strconv.ParseBool(q.Get("explain"))
	if err != nil || len(q["explain"]) > 1 {
		writeError(w, http.StatusBadRequest, "bad_parameter",
			fmt.Sprintf("query parameter explain: %q is not true or false (given once)", q.Get("explain")), nil)
		return false, false
	}
	return explain, true
}

type batchExplained struct {
	Predictions    []batchExplainedRow `json:"predictions"`
	ModelVersionID string              `json:"model_version_id"`
}

type batchExplainedRow struct {
	Prediction  int                   `json:"prediction"`
	Probability float64               `json:"probability"`
	Explanation mlservice.Explanation `json:"explanation"`
}

func (s *server) predictBatch(w http.ResponseWriter, buf *bytes.Buffer, explain bool) error {
	if explain {
		es, err := s.store.ExplainBatchJSON(buf.Bytes(), s.cfg.maxBatch)
		if err != nil {
			return err
		}
		resp := batchExplained{Predictions: make([]batchExplainedRow, len(es)), ModelVersionID: es[0].ModelVersionID}
		for i, e := range es {
			resp.Predictions[i] = batchExplainedRow{Prediction: e.Label, Probability: e.Probability, Explanation: e.Explanation}
		}
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
	preds, err := s.store.PredictBatchJSON(nil, buf.Bytes(), s.cfg.maxBatch)
	if err != nil {
		return err
	}
	resp := batchResponse{Predictions: make([]batchPrediction, len(preds)), ModelVersionID: preds[0].ModelVersionID}
	for i, p := range preds {
		resp.Predictions[i] = batchPrediction{Prediction: p.Label, Probability: p.Probability}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *server) reload(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if s.cfg.adminToken != "" {
		token, found := bearerToken(r.Header.Get("Authorization"))
		if !found || subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.adminToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mlservice"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "POST /reload needs the admin bearer token", nil)
			return
		}
	}
	// A check stuck in a read must not hold the client forever.
	ctx, cancel := context.WithTimeout(r.Context(), reloadTimeout)
	defer cancel()
	changed, err := s.store.Reload(ctx)
	st := s.store.Status()
	if !st.Ready {
		msg := notReadyReason(st)
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

// bearerToken returns the token of a "Bearer <token>" credential. The
// scheme is case-insensitive (RFC 7235 §2.1); the token is compared exactly.
func bearerToken(auth string) (string, bool) {
	scheme, token, found := strings.Cut(auth, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return token, true
}

func (s *server) model(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	_, raw, err := s.store.Metadata()
	if err != nil {
		s.writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(raw)
}

// schema answers the serving version's schema and a JSON Schema of the
// request body it accepts.
func (s *server) schema(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	sc, id, err := s.store.Schema()
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"model_version_id": id, "feature_schema_version": sc.ID(),
		"schema": sc, "request_json_schema": sc.RequestJSONSchema()})
}

// drift answers what the serving version has counted since it loaded:
// rows, positive rate against training's, and each feature's bins, counts
// and PSI (null below min_rows). A version trained before drift was
// recorded answers available: false and the reason.
func (s *server) drift(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	r, err := s.store.Drift()
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, r)
}

// versions answers every version, newest first, with its decision, pin and
// last rollback; what CURRENT says ("current", "pin" while a rollback pins
// it, "current_error" when it names a version that would not be served);
// and "warnings" for history lines skipped as not records.
func (s *server) versions(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	l, err := s.store.Artifacts().List(r.Context())
	if err != nil {
		s.log.Error("list versions", "error", err)
		writeError(w, http.StatusInternalServerError, "internal", err.Error(), nil)
		return
	}
	for _, warn := range l.Warnings {
		s.log.Warn("list versions", "warning", warn)
	}
	if l.Versions == nil {
		l.Versions = []mlservice.VersionInfo{}
	}
	var current *string
	if st := s.store.Status(); st.Ready {
		current = &st.ModelVersionID
	}
	body := map[string]any{"serving": current, "versions": l.Versions, "current": l.Current}
	if l.Pin != nil {
		body["pin"] = l.Pin
	}
	if l.CurrentError != "" {
		body["current_error"] = l.CurrentError
	}
	if len(l.Warnings) > 0 {
		body["warnings"] = l.Warnings
	}
	writeJSON(w, http.StatusOK, body)
}

// readJSON checks the media type and reads a body of at most maxBody bytes
// into a pooled buffer, answering 415, 413 or 400 itself when it cannot.
func (s *server) readJSON(w http.ResponseWriter, r *http.Request) (*bytes.Buffer, bool) {
	if err := mlservice.CheckContentType(r.Header.Get("Content-Type")); err != nil {
		s.writeErr(w, err)
		return nil, false
	}
	if err := mlservice.CheckContentEncoding(r.Header.Get("Content-Encoding")); err != nil {
		s.writeErr(w, err)
		return nil, false
	}
	buf := getBuffer()
	var err error
	if n := r.ContentLength; n >= 0 && n <= s.cfg.maxBody {
		// A declared length within the limit: net/http's body ends there,
		// so it is read as it is, in one Read, without a limiting wrapper.
		buf.Grow(int(n))
		_, err = io.ReadFull(r.Body, buf.AvailableBuffer()[:n])
		buf.Write(buf.AvailableBuffer()[:n]) // the bytes are in place: this only sets the length
	} else {
		_, err = buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.cfg.maxBody))
	}
	if err != nil {
		putBuffer(buf)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.writeErr(w, fmt.Errorf("the body is over the limit of %d bytes: %w", tooBig.Limit, err))
			return nil, false
		}
		// The connection failed mid-body; whoever sent it may not hear this.
		writeError(w, http.StatusBadRequest, "bad_request", "read body: "+err.Error(), nil)
		return nil, false
	}
	return buf, true
}

// writeErr answers err with the status and code mlservice.HTTPStatus maps
// it to, listing the fields of an *InputError.
func (s *server) writeErr(w http.ResponseWriter, err error) {
	status, code := mlservice.HTTPStatus(err)
	msg := err.Error()
	var fields []mlservice.FieldProblem
	var ierr *mlservice.InputError
	switch {
	case errors.As(err, &ierr):
		if ierr.Omitted > 0 {
			// The list stops at MaxFieldProblems; the answer says how many more.
			writeJSON(w, status, errorBody{errorDetail{Code: code, Fields: ierr.Problems, FieldsOmitted: ierr.Omitted,
				Message: fmt.Sprintf("the request has invalid fields: the first %d listed, %d more", len(ierr.Problems), ierr.Omitted)}})
			return
		}
		msg, fields = "the request has invalid fields", ierr.Problems
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
		msg = notReadyReason(s.store.Status())
	case status >= 500:
		s.log.Error("request failed", "error", err)
	}
	writeError(w, status, code, msg, fields)
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string                   `json:"code"`
	Message string                   `json:"message"`
	Fields  []mlservice.FieldProblem `json:"fields,omitempty"`
	// Models lists the models served, when a request must name one.
	Models []string `json:"models,omitempty"`
	// FieldsOmitted counts the problems found beyond those in Fields.
	FieldsOmitted int `json:"fields_omitted,omitempty"`
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

// Header values set on every answer, in canonical form: assigned directly,
// they skip Header.Set's canonicalization and a slice per request. net/http
// only reads them.
var (
	contentTypeJSON = []string{"application/json"}
	nosniff         = []string{"nosniff"}
)

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return // let an oversized buffer go
	}
	b.Reset()
	buffers.Put(b)
}
