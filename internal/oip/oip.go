// Package oip speaks the Open Inference Protocol, version 2 (KServe,
// Triton, Seldon MLServer), for mlservice's tabular models: the REST JSON
// and gRPC codecs between requests and tabular.Table, the metadata the
// protocol describes a model with, and a gRPC server (GRPCInferenceService
// and grpc.health.v1) over a Backend that the HTTP server implements.
//
// A tabular model takes one input tensor per feature, named after it, of
// shape [N] (the columnar form MLServer's and KServe's clients send for a
// DataFrame), or one [N, F] tensor of numbers when every feature is a
// number; it gives two outputs of shape [N]: "probability" (FP64) and
// "label" (INT64).
package oip

import (
	"context"
	"errors"
	"net/http"

	"github.com/mlservice/mlservice/internal/jsonscan"
	"github.com/mlservice/mlservice/internal/tabular"
	"google.golang.org/grpc/codes"
)

// Errors a Backend returns (wrapped, with words that name the model) so
// that both transports answer with the right status.
var (
	// ErrModelNotFound: no model of that name, or no such version of it.
	// REST 404, gRPC NOT_FOUND.
	ErrModelNotFound = errors.New("model not found")
	// ErrModelNotReady: the model exists but cannot predict yet (no
	// version loaded). REST 503, gRPC UNAVAILABLE.
	ErrModelNotReady = errors.New("model not ready")
	// ErrInvalidInput: the rows decoded, but their values break the
	// schema's rules (a rule, a range, an unknown category). REST 422,
	// gRPC INVALID_ARGUMENT.
	ErrInvalidInput = errors.New("invalid input")
)

// Backend is what the protocol needs from the server.
type Backend interface {
	// Ready reports whether every model served can predict: ServerReady,
	// /v2/health/ready and the gRPC health service say this.
	Ready() bool
	// Model returns the model called name at version, "" meaning the
	// version it serves now; an error matching ErrModelNotFound or
	// ErrModelNotReady when it cannot.
	Model(ctx context.Context, name, version string) (Model, error)
}

// Model is one version of one model, ready to predict.
type Model interface {
	Info() ModelInfo
	// Predict writes the probability of the positive class and the label
	// (1 or 0) of each row of t into probs and labels, both of length
	// t.Rows. Values that break the schema's rules give an error matching
	// ErrInvalidInput that names the field and the rule.
	Predict(ctx context.Context, t *tabular.Table, probs []float64, labels []int64) error
}

// VersionLister is an optional interface of a Model whose versions are
// costly to list: metadata asks for them (and only metadata), and they
// replace ModelInfo.Versions when the listing succeeds.
type VersionLister interface {
	ListVersions(ctx context.Context) ([]string, error)
}

// metadataInfo is m's Info for a metadata answer: with its versions listed
// now when m lists them.
func metadataInfo(ctx context.Context, m Model) ModelInfo {
	info := m.Info()
	if l, ok := m.(VersionLister); ok {
		if vs, err := l.ListVersions(ctx); err == nil {
			info.Versions = vs
		}
	}
	return info
}

// ModelInfo describes a model version for decoding and metadata.
type ModelInfo struct {
	Name     string
	Version  string   // the version this Model predicts with
	Versions []string // every version the server could answer for
	Platform string   // e.g. "mlservice_gbdt"; "" is sent as "mlservice"
	// Features are the inputs in the schema's order: a request's table
	// has one column per feature, in this order.
	Features []tabular.Feature
}

// HTTPStatus is the REST status for an error from a decoder or Backend:
// 400 for a request that breaks the protocol, 404 for an unknown model or
// version, 413 for a body over the limit, 422 for values that break the schema, 503 for a model not yet
// ready, and 500 for the rest.
func HTTPStatus(err error) int {
	var reqErr *tabular.Error
	var tooLarge *TooLargeError
	switch {
	case errors.As(err, &reqErr):
		return http.StatusBadRequest
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrModelNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalidInput):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrModelNotReady), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Code is the gRPC status code for an error from a decoder or Backend:
// INVALID_ARGUMENT for a request that breaks the protocol or the schema,
// NOT_FOUND, UNAVAILABLE, CANCELED, DEADLINE_EXCEEDED, and INTERNAL for
// the rest; OK for nil.
func Code(err error) codes.Code {
	var reqErr *tabular.Error
	switch {
	case err == nil:
		return codes.OK
	case errors.As(err, &reqErr), errors.Is(err, ErrInvalidInput):
		return codes.InvalidArgument
	case errors.Is(err, ErrModelNotFound):
		return codes.NotFound
	case errors.Is(err, ErrModelNotReady):
		return codes.Unavailable
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	return codes.Internal
}

// AppendError appends the protocol's error body, {"error": "…"}.
func AppendError(dst []byte, err error) []byte {
	dst = append(dst, `{"error":`...)
	dst = jsonscan.AppendString(dst, err.Error())
	return append(dst, '}')
}

// TensorMetadata describes one input or output tensor.
type TensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// ModelMetadata is the answer to GET /v2/models/{name} and to the gRPC
// ModelMetadata call.
type ModelMetadata struct {
	Name     string           `json:"name"`
	Versions []string         `json:"versions"`
	Platform string           `json:"platform"`
	Inputs   []TensorMetadata `json:"inputs"`
	Outputs  []TensorMetadata `json:"outputs"`
}

// ServerMetadata is the answer to GET /v2 and to the gRPC ServerMetadata
// call.
type ServerMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

// NewModelMetadata describes a model's tensors: an input per feature, of
// shape [-1] and datatype FP64 for a number, FP64 for a binary feature too
// (clients send 0 and 1 as numbers, as to /predict; BOOL is accepted as
// well), BYTES for a category; and the two outputs.
func NewModelMetadata(info ModelInfo) ModelMetadata {
	m := ModelMetadata{
		Name:     info.Name,
		Versions: info.Versions,
		Platform: info.Platform,
		Inputs:   make([]TensorMetadata, len(info.Features)),
		Outputs: []TensorMetadata{
			{Name: OutputProbability, Datatype: "FP64", Shape: []int64{-1}},
			{Name: OutputLabel, Datatype: "INT64", Shape: []int64{-1}},
		},
	}
	if m.Versions == nil {
		m.Versions = []string{info.Version}
	}
	if m.Platform == "" {
		m.Platform = "mlservice"
	}
	for i, f := range info.Features {
		dt := "FP64"
		if f.Type == tabular.FeatureCategory {
			dt = "BYTES"
		}
		m.Inputs[i] = TensorMetadata{Name: f.Name, Datatype: dt, Shape: []int64{-1}}
	}
	return m
}
