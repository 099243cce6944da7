package main

// A model's versions as the Open Inference Protocol and MLflow see them
// (oip.Model): the rows of a request, decoded into a tabular.Table, are
// checked and scored by mlservice.ServedVersion.PredictTable, the rules
// and words of /predict.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/julienschmidt/httprouter"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/mlflow"
	"github.com/mlservice/mlservice/internal/oip"
	"github.com/mlservice/mlservice/internal/tabular"
)

// oipModel is one version of a model: an oip.Model.
type oipModel struct {
	sv    mlservice.ServedVersion
	info  oip.ModelInfo
	store *mlservice.Store
}

func (m *oipModel) Info() oip.ModelInfo { return m.info }

// ListVersions lists the model's versions for metadata only: a listing
// reads every version's metadata, too much for a prediction to wait on.
func (m *oipModel) ListVersions(ctx context.Context) ([]string, error) {
	vs, err := m.store.Versions(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(vs))
	for i, v := range vs {
		ids[i] = v.VersionID
	}
	return ids, nil
}

func (m *oipModel) Predict(_ context.Context, t *tabular.Table, probs []float64, labels []int64) error {
	err := m.sv.PredictTable(t, probs, labels)
	var ierr *mlservice.InputError
	if errors.As(err, &ierr) {
		return invalidInput{err}
	}
	return err
}

// invalidInput is an *mlservice.InputError that the protocols answer as
// their own: oip.ErrInvalidInput (REST 422, gRPC INVALID_ARGUMENT, MLflow
// 400), with the words of /predict.
type invalidInput struct{ error }

func (e invalidInput) Is(target error) bool { return target == oip.ErrInvalidInput }
func (e invalidInput) Unwrap() error        { return e.error }

// oipVersions keeps the oipModel of the serving version, so that a
// request builds none; another version's is built when asked for (the
// Store keeps the version itself loaded).
type oipVersions struct {
	serving atomic.Pointer[oipModel]
}

// oipModel returns version of the model ("" for the serving one), or an
// error matching oip.ErrModelNotFound (no such version, or one that is
// refused) or oip.ErrModelNotReady.
func (s *server) oipModel(ctx context.Context, version string) (*oipModel, error) {
	if version == "" {
		sv, err := s.store.Serving()
		if err != nil {
			return nil, fmt.Errorf("model %s: %w: %s", s.displayName(), oip.ErrModelNotReady, notReadyReason(s.store.Status()))
		}
		if m := s.oip.serving.Load(); m != nil && m.sv == sv {
			return m, nil
		}
		m := s.newOIPModel(sv)
		s.oip.serving.Store(m)
		return m, nil
	}
	sv, err := s.store.Version(ctx, version)
	switch {
	case errors.Is(err, mlservice.ErrBadVersionID), errors.Is(err, mlservice.ErrVersionNotFound):
		return nil, fmt.Errorf("model %s has no version %q: %w", s.displayName(), version, oip.ErrModelNotFound)
	case errors.Is(err, mlservice.ErrCorruptVersion):
		return nil, fmt.Errorf("model %s version %q is refused (%v): %w", s.displayName(), version, err, oip.ErrModelNotFound)
	case err != nil:
		return nil, err
	}
	if m := s.oip.serving.Load(); m != nil && m.sv == sv {
		return m, nil
	}
	return s.newOIPModel(sv), nil
}

// newOIPModel describes sv: its name and features (its model's versions
// are listed when metadata asks: ListVersions).
func (s *server) newOIPModel(sv mlservice.ServedVersion) *oipModel {
	name := s.name
	if name == "" {
		name = sv.Schema().Name
	}
	info := oip.ModelInfo{Name: name, Version: sv.ID(), Features: sv.Features()}
	return &oipModel{sv: sv, info: info, store: s.store}
}

// displayName is the model's name for messages: its -models name, or its
// schema's (the serving version's) under -artifacts.
func (s *server) displayName() string {
	if s.name != "" {
		return fmt.Sprintf("%q", s.name)
	}
	if m := s.oip.serving.Load(); m != nil {
		return fmt.Sprintf("%q", m.info.Name)
	}
	return "(no version loaded)"
}

// invocations answers MLflow's POST /invocations with the serving version.
func (s *server) invocations(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	m, err := s.oipModel(r.Context(), "")
	if err != nil {
		mlflow.WriteError(w, err)
		return
	}
	mlflow.Serve(w, r, m, s.cfg.maxBody, mlflow.Options{MaxRows: s.cfg.maxBatch})
}
