// Package mlflow speaks MLflow's model scoring protocol (POST
// /invocations) for mlservice's tabular models: the request bodies that
// MLflow's scoring server takes (JSON with exactly one of dataframe_split,
// dataframe_records, instances or inputs, and text/csv with a header row)
// decoded into a tabular.Table, its answer {"predictions": [...]}, and its
// errors: 400 {"error_code": "BAD_REQUEST", "message": "…"}, and 415 in
// plain text for another content type or a charset other than UTF-8.
package mlflow

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/mlservice/mlservice/internal/jsonscan"
	"github.com/mlservice/mlservice/internal/oip"
	"github.com/mlservice/mlservice/internal/tabular"
)

// Format is a request body's format, from its Content-Type.
type Format uint8

const (
	JSON Format = iota + 1 // application/json
	CSV                    // text/csv
)

// Options are the limits a decoder enforces.
type Options struct {
	// MaxRows is the most rows one request may carry (the server's batch
	// limit); 0 means no limit.
	MaxRows int
}

// MediaError is a body MLflow's scoring server refuses with 415: a content
// type other than JSON or CSV, a charset other than UTF-8, or a parameter
// it does not know.
type MediaError struct {
	Message string
}

func (e *MediaError) Error() string { return e.Message }

// ParseContentType reads a request's Content-Type header as MLflow's
// scoring server does: application/json or text/csv, with no parameter
// but charset, which must be UTF-8.
func ParseContentType(header string) (Format, error) {
	parts := strings.Split(header, ";")
	mediaType := strings.ToLower(strings.TrimSpace(parts[0]))
	var unknown []string
	for _, p := range parts[1:] {
		key, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		key = strings.ToLower(strings.TrimSpace(key))
		value = strings.Trim(strings.TrimSpace(value), `"`)
		switch {
		case key == "charset":
			if !strings.EqualFold(value, "utf-8") {
				return 0, &MediaError{Message: "The scoring server only supports UTF-8, not charset " + strconv.Quote(value)}
			}
		case key != "":
			unknown = append(unknown, key)
		}
	}
	var f Format
	switch mediaType {
	case "application/json":
		f = JSON
	case "text/csv":
		f = CSV
	default:
		return 0, &MediaError{Message: "This predictor only supports the following content types: application/json, text/csv. Got " + strconv.Quote(header) + "."}
	}
	if len(unknown) > 0 {
		return 0, &MediaError{Message: "Unrecognized content type parameters: " + strings.Join(unknown, ", ") + "."}
	}
	return f, nil
}

// Decode reads a body of format f (see DecodeJSON and DecodeCSV) into a
// table with one column per feature, in the order of features. A body
// that is not UTF-8, and every other mistake, gives a *tabular.Error that
// names the key, column and row.
func Decode(body []byte, f Format, features []tabular.Feature, opts Options) (*tabular.Table, error) {
	if f == CSV {
		return DecodeCSV(body, features, opts)
	}
	return DecodeJSON(body, features, opts)
}

// AppendPredictions appends the answer to a scoring request,
// {"predictions": [{"prediction": 1, "probability": 0.73}, …]}.
func AppendPredictions(dst []byte, probs []float64, labels []int64) []byte {
	dst = append(dst, `{"predictions":[`...)
	for i, p := range probs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"prediction":`...)
		dst = strconv.AppendInt(dst, labels[i], 10)
		dst = append(dst, `,"probability":`...)
		dst = strconv.AppendFloat(dst, p, 'g', -1, 64)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// ErrorResponse is the status, content type and body that answer err as
// MLflow's scoring server would: a *MediaError is a 415 in plain text; a
// *tabular.Error, an error matching oip.ErrInvalidInput, or any error
// wrapped by BadRequest is a 400 (an *oip.TooLargeError a 413) with {"error_code": "BAD_REQUEST",
// "message": …}; oip.ErrModelNotFound is a 404 RESOURCE_DOES_NOT_EXIST,
// oip.ErrModelNotReady a 503 TEMPORARILY_UNAVAILABLE; anything else is a
// 500 INTERNAL_ERROR.
func ErrorResponse(err error) (status int, contentType string, body []byte) {
	var media *MediaError
	if errors.As(err, &media) {
		return http.StatusUnsupportedMediaType, "text/plain; charset=utf-8", []byte(media.Message)
	}
	status, code := http.StatusInternalServerError, "INTERNAL_ERROR"
	var reqErr *tabular.Error
	var bad *badRequest
	var tooLarge *oip.TooLargeError
	switch {
	case errors.As(err, &tooLarge):
		status, code = http.StatusRequestEntityTooLarge, "BAD_REQUEST"
	case errors.As(err, &reqErr), errors.As(err, &bad), errors.Is(err, oip.ErrInvalidInput):
		status, code = http.StatusBadRequest, "BAD_REQUEST"
	case errors.Is(err, oip.ErrModelNotFound):
		status, code = http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST"
	case errors.Is(err, oip.ErrModelNotReady):
		status, code = http.StatusServiceUnavailable, "TEMPORARILY_UNAVAILABLE"
	}
	body = append([]byte(`{"error_code":"`), code...)
	body = append(body, `","message":`...)
	body = jsonscan.AppendString(body, err.Error())
	return status, "application/json", append(body, '}')
}

// WriteError answers err with ErrorResponse.
func WriteError(w http.ResponseWriter, err error) {
	status, contentType, body := ErrorResponse(err)
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(body)
}

// Serve answers POST /invocations for model m: the body decoded by its
// Content-Type (at most maxBody bytes, else 413), the rows predicted, and
// {"predictions": [...]}, or the error as MLflow gives it.
func Serve(w http.ResponseWriter, r *http.Request, m oip.Model, maxBody int64, opts Options) {
	format, err := ParseContentType(r.Header.Get("Content-Type"))
	if err != nil {
		WriteError(w, err)
		return
	}
	body, err := oip.ReadBody(w, r, nil, maxBody)
	if err != nil {
		WriteError(w, err)
		return
	}
	table, err := Decode(body, format, m.Info().Features, opts)
	if err != nil {
		WriteError(w, err)
		return
	}
	probs, labels, err := oip.Predict(r.Context(), m, table)
	if err != nil {
		WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(AppendPredictions(body[:0], probs, labels))
}

// Ping answers GET /ping and /health as MLflow's scoring server does
// while it has a model: 200, a newline, application/json.
func Ping(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte("\n"))
}

// BadRequest marks err (values that break the schema's rules, found after
// decoding) as the client's mistake, for ErrorResponse.
func BadRequest(err error) error { return &badRequest{err} }

type badRequest struct{ err error }

func (e *badRequest) Error() string { return e.err.Error() }
func (e *badRequest) Unwrap() error { return e.err }
