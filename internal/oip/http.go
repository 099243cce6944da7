package oip

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/mlservice/mlservice/internal/tabular"
)

// HTTPOptions configure the REST handlers; the zero value is usable.
type HTTPOptions struct {
	// Name and Version answer GET /v2; "" sends "mlservice" and "".
	Name, Version string
	// MaxRows is the batch limit; 0 means no limit.
	MaxRows int
	// MaxBodyBytes is the largest request body read; a larger one gets
	// 413. 0 means DefaultMaxMessageBytes.
	MaxBodyBytes int64
}

// REST serves the protocol's REST routes over a Backend.
type REST struct {
	backend Backend
	opts    HTTPOptions
	bufs    sync.Pool // *[]byte: request bodies and answers, reused
}

// NewREST returns the REST handlers over b.
func NewREST(b Backend, o HTTPOptions) *REST {
	if o.Name == "" {
		o.Name = "mlservice"
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxMessageBytes
	}
	return &REST{backend: b, opts: o}
}

// Handler routes the protocol's paths to the methods of h:
//
//	GET  /v2                                                  ServerMetadata
//	GET  /v2/health/live, /v2/health/ready                    Live, Ready
//	GET  /v2/models/{name}[/versions/{version}]               ModelMetadata
//	GET  /v2/models/{name}[/versions/{version}]/ready         ModelReady
//	POST /v2/models/{name}[/versions/{version}]/infer         Infer
//
// A server with its own router calls the methods instead.
func (h *REST) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2", h.ServerMetadata)
	mux.HandleFunc("GET /v2/health/live", h.Live)
	mux.HandleFunc("GET /v2/health/ready", h.Ready)
	model := func(f func(w http.ResponseWriter, r *http.Request, name, version string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { f(w, r, r.PathValue("name"), r.PathValue("version")) }
	}
	for _, prefix := range []string{"/v2/models/{name}", "/v2/models/{name}/versions/{version}"} {
		mux.HandleFunc("GET "+prefix, model(h.ModelMetadata))
		mux.HandleFunc("GET "+prefix+"/ready", model(h.ModelReady))
		mux.HandleFunc("POST "+prefix+"/infer", model(h.Infer))
	}
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, AppendError(nil, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// WriteError answers err as the protocol does: {"error": "…"} with the
// status of HTTPStatus.
func WriteError(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(HTTPStatus(err))
	w.Write(AppendError(nil, err))
}

// ServerMetadata answers GET /v2.
func (h *REST) ServerMetadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, ServerMetadata{Name: h.opts.Name, Version: h.opts.Version, Extensions: []string{}})
}

// Live answers GET /v2/health/live: 200 while the process serves.
func (h *REST) Live(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"live": true})
}

// Ready answers GET /v2/health/ready: 200 when Backend.Ready, else 400 (the
// protocol's "4xx means false"), with {"ready": …}.
func (h *REST) Ready(w http.ResponseWriter, _ *http.Request) {
	ready := h.backend.Ready()
	status := http.StatusOK
	if !ready {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, map[string]bool{"ready": ready})
}

// ModelMetadata answers GET /v2/models/{name}[/versions/{version}].
func (h *REST) ModelMetadata(w http.ResponseWriter, r *http.Request, name, version string) {
	m, err := h.backend.Model(r.Context(), name, version)
	if err != nil {
		WriteError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, NewModelMetadata(metadataInfo(r.Context(), m)))
}

// ModelReady answers GET /v2/models/{name}[/versions/{version}]/ready:
// 200 when the model can predict, 400 when it exists but cannot yet, and
// 404 when it does not exist.
func (h *REST) ModelReady(w http.ResponseWriter, r *http.Request, name, version string) {
	_, err := h.backend.Model(r.Context(), name, version)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]any{"name": name, "ready": true})
	case errors.Is(err, ErrModelNotReady):
		writeJSON(w, http.StatusBadRequest, map[string]any{"name": name, "ready": false})
	default:
		WriteError(w, err)
	}
}

// Infer answers POST /v2/models/{name}[/versions/{version}]/infer.
func (h *REST) Infer(w http.ResponseWriter, r *http.Request, name, version string) {
	m, err := h.backend.Model(r.Context(), name, version)
	if err != nil {
		WriteError(w, err)
		return
	}
	buf := h.buffer()
	defer h.release(buf)
	body, err := ReadBody(w, r, (*buf)[:0], h.opts.MaxBodyBytes)
	*buf = body[:0]
	if err != nil {
		WriteError(w, err)
		return
	}
	opts := DecodeOptions{MaxRows: h.opts.MaxRows}
	if v := r.Header.Get("Inference-Header-Content-Length"); v != "" {
		if opts.HeaderLength, err = strconv.Atoi(v); err != nil || opts.HeaderLength <= 0 {
			WriteError(w, tabular.Errorf("Inference-Header-Content-Length", "must be a positive byte count, not %q", v))
			return
		}
	}
	info := m.Info()
	table, req, err := DecodeRESTRequest(body, info.Features, opts)
	if err != nil {
		WriteError(w, err)
		return
	}
	probs, labels, err := Predict(r.Context(), m, table)
	if err != nil {
		WriteError(w, err)
		return
	}
	// The body is decoded (the table holds copies), so its buffer takes
	// the answer.
	out := AppendRESTResponse(body[:0], info.Name, info.Version, req, probs, labels)
	*buf = out[:0]
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.Write(out)
}

func (h *REST) buffer() *[]byte {
	if b, ok := h.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 4096)
	return &b
}

// release keeps buf for the next request unless a large body grew it.
func (h *REST) release(buf *[]byte) {
	if cap(*buf) <= 1<<20 {
		h.bufs.Put(buf)
	}
}

// TooLargeError is a request body over the limit: REST 413.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return "request body over " + strconv.FormatInt(e.Limit, 10) + " bytes"
}

// ReadBody reads r's body into buf, at most limit bytes: a longer body is a
// *TooLargeError, a body that breaks off a *tabular.Error (the client's
// doing: 400).
func ReadBody(w http.ResponseWriter, r *http.Request, buf []byte, limit int64) ([]byte, error) {
	buf, err := readBody(w, r, buf, limit)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return buf, nil
	case errors.As(err, &tooLarge):
		return buf, &TooLargeError{Limit: tooLarge.Limit}
	}
	return buf, tabular.Errorf("", "reading the request body: %v", err)
}

// Predict scores every row of t with m into new slices.
func Predict(ctx context.Context, m Model, t *tabular.Table) ([]float64, []int64, error) {
	probs, labels := make([]float64, t.Rows), make([]int64, t.Rows)
	if err := m.Predict(ctx, t, probs, labels); err != nil {
		return nil, nil, err
	}
	return probs, labels, nil
}

func readBody(w http.ResponseWriter, r *http.Request, buf []byte, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	if n := r.ContentLength; n > 0 && n <= limit && int64(cap(buf)) < n+1 {
		buf = make([]byte, 0, n+1) // +1: room to see EOF without growing
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
