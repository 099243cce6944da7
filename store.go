package mlservice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlservice/mlservice/internal/tabular"
	"github.com/mlservice/mlservice/storage"
)

// Defaults used by OpenStore when an option is left zero.
const (
	DefaultRefreshInterval = 100 * time.Millisecond
	DefaultRetryInterval   = 5 * time.Second
	DefaultOpenTimeout     = 10 * time.Second
)

// StoreOptions configures OpenStore.
type StoreOptions struct {
	// RefreshInterval is how often the store looks at CURRENT (one stat of
	// a directory, one HEAD of an object store) to follow promotions. Zero means DefaultRefreshInterval, so a promotion is
	// served within about a tenth of a second. Negative turns background
	// refresh off; Reload still works.
	RefreshInterval time.Duration
	// RetryInterval is how long a version that failed to load waits before
	// it is tried again while CURRENT keeps naming it. It is also tried
	// again at the next refresh after any of its files (or objects)
	// changes: a repair. Zero means DefaultRetryInterval.
	RetryInterval time.Duration
	// OpenTimeout is how long OpenStore waits for the first load. A load
	// still running then (a read blocked on a hung network file system or
	// a FIFO) carries on in the background and OpenStore returns a store
	// that is not ready yet. Zero means DefaultOpenTimeout; negative means
	// OpenStore does not wait at all.
	OpenTimeout time.Duration
	// Logger receives a line per load and per refused version. Nil discards.
	Logger *slog.Logger
	// DisableDrift stops counting predicted rows for drift (see Drift):
	// it saves the few nanoseconds drift adds to a prediction.
	DisableDrift bool
}

// Store serves predictions from the version CURRENT names in an
// Artifacts (a directory, an object store) and follows CURRENT as it moves. It is safe for
// concurrent use. Predict and PredictBatch take no lock, make no file-system
// call and allocate nothing: they read an immutable snapshot through an
// atomic pointer, which a background goroutine replaces when a new version
// is promoted. A version that fails to load is refused and the previous one
// keeps serving; the error shows in Status. Status, Metadata and Close never
// wait on the backend, so a read that blocks cannot hang them.
type Store struct {
	a    *Artifacts
	opts StoreOptions
	log  *slog.Logger

	// ctx ends on Close: it bounds every request to the backend.
	ctx    context.Context
	cancel context.CancelFunc

	serving atomic.Pointer[servingVersion]
	loads   atomic.Int64
	fails   atomic.Int64
	// storeErrs counts checks that could not reach the backend.
	storeErrs atomic.Int64

	// checking is held (a token in the channel) by the one check of CURRENT
	// that may run at a time, from before its first call to the backend
	// until its outcome is recorded. A channel rather than a mutex so that a
	// caller can give up waiting when its context ends. Lock order:
	// checking, then mu.
	checking chan struct{}

	// mu guards the fields below. It is never held across a call to the
	// backend or a log write, so Status cannot wait on I/O.
	mu            sync.Mutex
	stamp         storage.Stamp // CURRENT's change stamp as last examined
	readID        string        // the id last read from CURRENT; "" after a failed read
	lastCheck     time.Time
	checkingSince time.Time // when the check in flight started; zero when none is
	lastErr       error
	lastErrAt     time.Time
	failedID      string // the version that last failed to load
	failedFiles   string // the backend's VersionStamp of failedID, taken before the load that failed
	dirErr        error  // why the artifacts themselves cannot be looked at (a missing directory, an unreachable store)
	dirErrAt      time.Time
	unreachable   int // checks in a row that could not reach the backend
	closed        bool

	load func(ctx context.Context, id string) (*servingVersion, error) // a.loadVersion; a test stalls it

	// others holds versions other than the serving one that Version
	// loaded, the most recently used last, at most maxOtherVersions;
	// guarded by mu.
	others []*servingVersion

	stop chan struct{}
	done chan struct{}
}

// OpenStore opens the artifacts directory, loads the current version if
// there is one, and starts following CURRENT: it is
// DirArtifacts(artifactsDir).OpenStore. A directory with no version yet, or
// with a current version that fails to load, still opens: the store is not
// ready (Predict returns ErrNotReady) until a version loads. So does a
// directory that does not exist (a mistyped path, a volume not mounted
// yet): the store logs a warning, says why in Status, and waits for it.
func OpenStore(artifactsDir string, opts StoreOptions) (*Store, error) {
	if artifactsDir == "" {
		return nil, errors.New("open store: no artifacts directory")
	}
	return DirArtifacts(artifactsDir).OpenStore(opts)
}

// OpenStore loads the current version of these artifacts if there is one
// and starts following CURRENT. Each refresh asks the backend for CURRENT's
// change stamp (one stat of a directory, one HEAD of an object store), and
// reads CURRENT and the version only when it changed. When the artifacts
// cannot be looked at (a missing directory, an object store that does not
// answer) the Store keeps serving what it has and says so in Status; when
// they cannot be reached it also counts it (StoreErrors), backs off up to
// RetryInterval, and follows again once they answer.
func (a *Artifacts) OpenStore(opts StoreOptions) (*Store, error) {
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.OpenTimeout == 0 {
		opts.OpenTimeout = DefaultOpenTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{a: a, opts: opts, log: log, load: a.loadVersion, checking: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.open()
	return s, nil
}

// open makes the first load and starts following CURRENT.
func (s *Store) open() {
	opts, log := s.opts, s.log
	// An error is kept in Status; a timeout leaves the load running.
	if opts.OpenTimeout < 0 {
		_, _ = s.start(context.Background(), false)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), opts.OpenTimeout)
		_, err := s.refresh(ctx, false)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			log.Warn("the first load is still running; opening not ready", "artifacts", s.a.String(),
				"waited", opts.OpenTimeout.String())
		}
	}
	if opts.RefreshInterval > 0 {
		go s.follow()
	} else {
		close(s.done)
	}
}

// Dir returns the artifacts directory the store serves from, or "" when it
// serves from another backend.
func (s *Store) Dir() string { return s.a.Dir() }

// Artifacts returns the artifacts the store serves from, for listing and
// reading versions beside it.
func (s *Store) Artifacts() *Artifacts { return s.a }

// Versions lists the versions of the artifacts the store serves from, as
// Artifacts.Versions.
func (s *Store) Versions(ctx context.Context) ([]VersionInfo, error) { return s.a.Versions(ctx) }

// Close stops following CURRENT and waits for the background goroutine.
// The last loaded version keeps answering Predict. A check blocked in a
// call to the backend that takes no context (a read on a hung file system)
// cannot be interrupted: Close does not wait for it, and whatever it loads
// when the call returns is discarded (its goroutine ends then, not before).
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.cancel()
	<-s.done
	return nil
}

// Reload checks CURRENT now, loading the version it names if that is not
// the one serving. It reports whether the serving version changed. Checks
// run one at a time: Reload first waits for one in flight. If ctx ends
// before its own check is done, Reload returns ctx's error (wrapped) and
// the check carries on in the background, its outcome shown in Status.
func (s *Store) Reload(ctx context.Context) (changed bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return false, ErrClosed
	}
	return s.refresh(ctx, true)
}

// StoreStatus describes what a Store is serving and how its last checks went.
type StoreStatus struct {
	Ready          bool      `json:"ready"`
	ModelVersionID string    `json:"model_version_id,omitempty"`
	LoadedAt       time.Time `json:"loaded_at,omitzero"`
	// Reason says why the store is not ready: the artifacts directory is
	// missing or unreadable, no version has been promoted yet, the current
	// version was refused (as in LastError), or a check is stuck. Empty
	// when ready.
	Reason    string    `json:"reason,omitempty"`
	LastCheck time.Time `json:"last_check,omitzero"`
	// LastError is why the version CURRENT names is not serving, or why
	// CURRENT or the artifacts directory cannot be read; empty when all is
	// well.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// CheckStartedAt is set while a check of CURRENT has been running for
	// over a second: a read is blocked (a hung network file system, a FIFO)
	// and promotions are not being followed.
	CheckStartedAt time.Time `json:"check_started_at,omitzero"`
	Loads          int64     `json:"loads"`         // versions loaded since open
	LoadFailures   int64     `json:"load_failures"` // versions refused since open
	// StoreErrors counts checks that could not reach the object store
	// (always 0 for a directory). Meanwhile the store keeps serving.
	StoreErrors int64 `json:"store_errors"`
}

// Status returns the store's state. It takes only a short lock that no
// file-system call holds, so it answers at once even while a load is stuck.
func (s *Store) Status() StoreStatus {
	st := StoreStatus{Loads: s.loads.Load(), LoadFailures: s.fails.Load(), StoreErrors: s.storeErrs.Load()}
	if v := s.serving.Load(); v != nil {
		st.Ready, st.ModelVersionID, st.LoadedAt = true, v.id, v.loadedAt
	}
	s.mu.Lock()
	st.LastCheck = s.lastCheck
	err, errAt := s.lastErr, s.lastErrAt
	if s.dirErr != nil {
		err, errAt = s.dirErr, s.dirErrAt
	}
	since := s.checkingSince
	s.mu.Unlock()
	if err != nil {
		st.LastError, st.LastErrorAt = err.Error(), errAt
	}
	stuck := !since.IsZero() && time.Since(since) >= slowCheck
	if stuck {
		st.CheckStartedAt = since
	}
	switch {
	case st.Ready:
	case err != nil:
		st.Reason = st.LastError
	case stuck:
		st.Reason = fmt.Sprintf("a check of %s has been running for %s: a read is blocked", currentFile,
			time.Since(since).Round(time.Second))
	default:
		st.Reason = "no model version has been promoted yet"
	}
	return st
}

// Metadata returns a copy of the serving version's metadata and of the
// exact bytes of its metadata.json, or ErrNotReady. The caller may modify
// both; the store's own snapshot stays as loaded.
func (s *Store) Metadata() (*Metadata, []byte, error) {
	v := s.serving.Load()
	if v == nil {
		return nil, nil, ErrNotReady
	}
	return cloneMetadata(v.meta), bytes.Clone(v.metaJSON), nil
}

// cloneMetadata copies m deeply: every slice and pointer in Metadata (and
// TestCloneMetadataSharesNothing fails when a new one is not copied here).
func cloneMetadata(m *Metadata) *Metadata {
	c := *m
	c.Features = slices.Clone(m.Features)
	c.Importance = slices.Clone(m.Importance)
	c.Examples = slices.Clone(m.Examples)
	for i := range c.Examples {
		c.Examples[i].Values = maps.Clone(c.Examples[i].Values) // its values are numbers and strings
	}
	c.Params.ClassWeight = clonePtr(m.Params.ClassWeight)
	c.Params.TreeOptions, c.Params.Trees = clonePtr(m.Params.TreeOptions), clonePtr(m.Params.Trees)
	if c.Params.Auto = clonePtr(m.Params.Auto); c.Params.Auto != nil {
		c.Params.Auto.Scores = maps.Clone(m.Params.Auto.Scores)
	}
	c.Promotion.PreviousMetric = clonePtr(m.Promotion.PreviousMetric)
	c.Promotion.PreviousMetricStored = clonePtr(m.Promotion.PreviousMetricStored)
	c.Drift = m.Drift.clone()
	if m.DeclaredSchema != nil {
		c.DeclaredSchema = m.DeclaredSchema.clone()
	}
	return &c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Explanation is how one prediction's log-odds (the logit of its
// probability) split over the schema's features: Bias + Σ Contributions ==
// log(p/(1−p)) to rounding. A feature's contribution is in log-odds: a
// positive one pushes towards the positive label. For logistic regression
// it is the coefficient times the standardized value (a category's one-hot
// columns summed; a missing value imputed first), the bias the intercept;
// for trees, path-dependent TreeSHAP values and the mean prediction.
type Explanation struct {
	Bias          float64            `json:"bias"`
	Contributions map[string]float64 `json:"contributions"` // one per schema feature, by name
}

// ExplainedPrediction is a prediction with its explanation.
type ExplainedPrediction struct {
	Prediction
	Explanation Explanation `json:"explanation"`
}

// AppendJSON appends p to b as encoding/json encodes it, and a line end:
// the prediction's fields and "explanation".
func (p ExplainedPrediction) AppendJSON(b []byte) []byte {
	data, err := json.Marshal(p)
	if err != nil { // a contribution that is not finite: the model's fault
		data, _ = json.Marshal(p.Prediction)
	}
	return append(append(b, data...), '\n')
}

// explain scores a checked row, counts it for drift, and explains it: the
// served log-odds are the model's LogOdds, and its Explain splits them.
func (v *servingVersion) explain(row []float64) (ExplainedPrediction, error) {
	layout := v.model.Layout()
	out := make([]float64, len(layout))
	bias := v.model.Explain(row, out)
	e := ExplainedPrediction{Explanation: Explanation{Bias: bias, Contributions: make(map[string]float64, len(out))}}
	for j, f := range layout {
		if math.IsNaN(out[j]) || math.IsInf(out[j], 0) {
			return ExplainedPrediction{}, fmt.Errorf("version %s cannot explain this row: feature %s contributes %v: %w", v.id, f.Name, out[j], ErrCannotExplain)
		}
		e.Explanation.Contributions[f.Name] = out[j]
	}
	e.Prediction = v.predict(row) // counted for drift only once answered
	return e, nil
}

// ErrCannotExplain is returned when the serving version cannot explain a
// row (no model this build trains or decodes does so); HTTPStatus maps it
// to 422.
var ErrCannotExplain = errors.New("cannot explain")

// Explain scores one row as PredictRow does and explains it: the
// explanation's bias and per-feature contributions add up to the served
// log-odds. Unlike PredictRow it allocates (the contributions).
func (s *Store) Explain(r *Row) (ExplainedPrediction, error) {
	v := s.serving.Load()
	if v == nil {
		return ExplainedPrediction{}, ErrNotReady
	}
	row := make([]float64, len(v.columns.cols))
	if err := v.columns.fromRow(r, row); err != nil {
		return ExplainedPrediction{}, err
	}
	return v.explain(row)
}

// ExplainJSON is PredictJSON with the prediction's explanation.
func (s *Store) ExplainJSON(data []byte) (ExplainedPrediction, error) {
	v := s.serving.Load()
	if v == nil {
		return ExplainedPrediction{}, notReady(data)
	}
	row := make([]float64, len(v.columns.cols))
	if err := v.columns.decodeBody(data, row, nil); err != nil {
		return ExplainedPrediction{}, err
	}
	return v.explain(row)
}

// ExplainBatchJSON is PredictBatchJSON with each prediction's explanation.
func (s *Store) ExplainBatchJSON(data []byte, maxRows int) ([]ExplainedPrediction, error) {
	v, rows, n, err := s.decodeServingBatch(data, maxRows)
	if err != nil {
		return nil, err
	}
	out := make([]ExplainedPrediction, 0, len(rows)/max(n, 1))
	for i := 0; i < len(rows); i += n {
		e, err := v.explain(rows[i : i+n])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// ServedVersion is one loaded version of a Store, as the protocols that
// hand over rows as a tabular.Table (Open Inference Protocol, MLflow)
// read it: its schema's features and PredictTable. It is a handle; the
// zero value is not usable.
type ServedVersion struct{ v *servingVersion }

// Serving returns the version serving now, or ErrNotReady.
func (s *Store) Serving() (ServedVersion, error) {
	v := s.serving.Load()
	if v == nil {
		return ServedVersion{}, ErrNotReady
	}
	return ServedVersion{v}, nil
}

// maxOtherVersions bounds the versions besides the serving one that
// Version keeps loaded.
const maxOtherVersions = 4

// Version returns version id: the serving one, or another loaded on demand
// and verified as any version is (manifest, checksums, schema, examples
// recomputed), of which the last maxOtherVersions asked for stay loaded.
// An id that is malformed or names no version gives an error matching
// ErrBadVersionID or ErrVersionNotFound; one that fails its checks,
// ErrCorruptVersion.
func (s *Store) Version(ctx context.Context, id string) (ServedVersion, error) {
	if v := s.serving.Load(); v != nil && v.id == id {
		return ServedVersion{v}, nil
	}
	s.mu.Lock()
	for i, v := range s.others {
		if v.id == id {
			s.others = append(append(s.others[:i:i], s.others[i+1:]...), v)
			s.mu.Unlock()
			return ServedVersion{v}, nil
		}
	}
	s.mu.Unlock()
	v, err := s.a.loadVersion(ctx, id)
	if err != nil {
		return ServedVersion{}, err
	}
	v.drift = nil // rows predicted by an older version are not the serving one's drift
	s.mu.Lock()
	if len(s.others) >= maxOtherVersions {
		s.others = slices.Delete(s.others, 0, 1)
	}
	s.others = append(s.others, v)
	s.mu.Unlock()
	return ServedVersion{v}, nil
}

// ID is the version's id.
func (sv ServedVersion) ID() string { return sv.v.id }

// Schema returns a copy of the version's schema (resolved).
func (sv ServedVersion) Schema() *Schema { return sv.v.schema.clone() }

// Features returns the version's features, in schema order, as a
// protocol's decoder takes them.
func (sv ServedVersion) Features() []tabular.Feature {
	fs := sv.v.schema.Features
	out := make([]tabular.Feature, len(fs))
	for i, f := range fs {
		out[i] = tabular.Feature{Name: f.Name, Type: tabular.FeatureNumber, Missing: f.Missing}
		switch f.Type {
		case TypeBinary:
			out[i].Type = tabular.FeatureBinary
		case TypeCategory:
			out[i].Type = tabular.FeatureCategory
		}
	}
	return out
}

// PredictTable checks every row of t (one column per feature, in schema
// order) by the rules /predict applies to a JSON body, with the same
// words, and scores them with this version: probs[i] and labels[i] get
// row i's probability and label. Any bad cell fails the whole table with
// an *InputError listing every bad field of every row (Row set, and named
// in its message when t has more than one row), and nothing is written.
func (sv ServedVersion) PredictTable(t *tabular.Table, probs []float64, labels []int64) error {
	c := sv.v.columns
	n := len(c.cols)
	if len(t.Columns) != n || len(probs) < t.Rows || len(labels) < t.Rows {
		return fmt.Errorf("predict table: %d columns and room for %d and %d predictions, for %d features and %d rows",
			len(t.Columns), len(probs), len(labels), n, t.Rows)
	}
	rows := make([]float64, t.Rows*n)
	bad := false
	for j := range c.cols {
		col := &t.Columns[j]
		if col.Len() != t.Rows {
			return fmt.Errorf("predict table: column %s has %d cells for %d rows", c.cols[j].spec.Name, col.Len(), t.Rows)
		}
		if nums, ok := col.Numbers(); ok && c.cols[j].spec.Type != TypeCategory {
			b := c.bounds[j]
			exact := c.cols[j].rule.Exact && !c.cols[j].rule.Binary
			for i, x := range nums {
				rows[i*n+j] = x
				if !(x >= b.lo && x <= b.hi) || !exact && reasonOf(&c.cols[j].rule, x) != "" {
					bad = true
				}
			}
			continue
		}
		for i := range t.Rows {
			x, reason := c.cellValue(j, col.At(i))
			rows[i*n+j] = x
			bad = bad || reason != ""
		}
	}
	if bad {
		var probs fieldProblems
		for i := range t.Rows {
			for j := range c.cols {
				if _, reason := c.cellValue(j, t.Columns[j].At(i)); reason != "" {
					probs.add(FieldProblem{Row: i, Field: c.cols[j].spec.Name, Reason: reason})
				}
			}
		}
		return probs.err(t.Rows > 1)
	}
	for i := range t.Rows {
		p := sv.v.predict(rows[i*n : (i+1)*n])
		probs[i], labels[i] = p.Probability, int64(p.Label)
	}
	return nil
}

// cellValue is decodeValue for a cell of a table: feature j's value in a
// row, or what is wrong with it, in the words /predict uses.
func (c *columns) cellValue(j int, cell tabular.Cell) (float64, string) {
	col := &c.cols[j]
	if cell.Kind == tabular.Null {
		if col.spec.Missing {
			return math.NaN(), ""
		}
		return 0, "required (missing or null)"
	}
	if col.spec.Type == TypeCategory {
		if cell.Kind != tabular.String {
			v := strconv.FormatFloat(cell.Num, 'g', -1, 64)
			if cell.Kind == tabular.Bool {
				v = strconv.FormatBool(cell.Num != 0)
			}
			return 0, fmt.Sprintf("must be a string (send %s as \"%s\")", v, v)
		}
		v := strings.TrimSpace(cell.Str) // as a CSV cell is
		if col.index != nil {
			if code, ok := col.index.Lookup(v); ok {
				return float64(code), ""
			}
		}
		return c.code(j, []byte(v))
	}
	if cell.Kind == tabular.String || cell.Kind == tabular.Bool && !col.rule.Binary {
		return 0, "must be a number"
	}
	return cell.Num, reasonOf(&col.rule, cell.Num)
}
