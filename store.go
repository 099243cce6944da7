package mlservice

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mlservice/mlservice/model"
)

// Defaults used by OpenStore when an option is left zero.
const (
	DefaultRefreshInterval = 100 * time.Millisecond
	DefaultRetryInterval   = 5 * time.Second
)

// StoreOptions configures OpenStore.
type StoreOptions struct {
	// RefreshInterval is how often the store looks at CURRENT (one stat) to
	// follow promotions. Zero means DefaultRefreshInterval, so a promotion is
	// served within about a tenth of a second. Negative turns background
	// refresh off; Reload still works.
	RefreshInterval time.Duration
	// RetryInterval is how long a version that failed to load waits before
	// it is tried again while CURRENT keeps naming it. Zero means
	// DefaultRetryInterval.
	RetryInterval time.Duration
	// Logger receives a line per load and per refused version. Nil discards.
	Logger *slog.Logger
}

// Store serves predictions from the version CURRENT names under an
// artifacts directory and follows CURRENT as it moves. It is safe for
// concurrent use. Predict and PredictBatch take no lock, make no file-system
// call and allocate nothing: they read an immutable snapshot through an
// atomic pointer, which a background goroutine replaces when a new version
// is promoted. A version that fails to load is refused and the previous one
// keeps serving; the error shows in Status.
type Store struct {
	dir  string
	opts StoreOptions
	log  *slog.Logger

	serving atomic.Pointer[servingVersion]
	loads   atomic.Int64
	fails   atomic.Int64

	// mu guards the fields below and makes loads one at a time.
	mu        sync.Mutex
	stamp     fileStamp // CURRENT as last examined
	readID    string    // the id last read from CURRENT; "" after a failed read
	lastCheck time.Time
	lastErr   error
	lastErrAt time.Time
	failedID  string // the version that last failed to load
	closed    bool

	stop chan struct{}
	done chan struct{}
}

// servingVersion is an immutable snapshot of one loaded version.
type servingVersion struct {
	id       string
	linear   linear
	meta     *Metadata
	metaJSON []byte
	loadedAt time.Time
}

// racyStampAge is how long after CURRENT last changed its stamp is not
// trusted alone; it covers the timestamp granularity of common file systems.
const racyStampAge = 2 * time.Second

type fileStamp struct {
	exists bool
	mtime  time.Time
	size   int64
	inode  uint64
}

// OpenStore opens the artifacts directory, loads the current version if
// there is one, and starts following CURRENT. A directory with no version
// yet, or with a current version that fails to load, still opens: the store
// is not ready (Predict returns ErrNotReady) until a version loads.
func OpenStore(artifactsDir string, opts StoreOptions) (*Store, error) {
	if artifactsDir == "" {
		return nil, errors.New("open store: no artifacts directory")
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{dir: artifactsDir, opts: opts, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	_, _ = s.refresh(false) // an error is kept in Status
	if opts.RefreshInterval > 0 {
		go s.follow()
	} else {
		close(s.done)
	}
	return s, nil
}

// Dir returns the artifacts directory the store serves from.
func (s *Store) Dir() string { return s.dir }

// Close stops following CURRENT and waits for the background goroutine.
// The last loaded version keeps answering Predict.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	return nil
}

// Predict scores one row with the serving version.
func (s *Store) Predict(f Features) (Prediction, error) {
	v := s.serving.Load()
	if v == nil {
		return Prediction{}, ErrNotReady
	}
	if err := f.Check(); err != nil {
		return Prediction{}, err
	}
	label, p := v.linear.predict(&f)
	return Prediction{Label: label, Probability: p, ModelVersionID: v.id}, nil
}

// linear is a model compiled for the predict path: the weights divided by
// the scales once, the features unrolled. It computes exactly what
// model.Model.Decision does, in the same order, so the bits agree.
type linear struct {
	weight, mean [NumFeatures]float64
	intercept    float64
}

func compile(m *model.Model) linear {
	l := linear{intercept: m.Intercept}
	for j := range l.weight {
		l.weight[j] = m.Coef[j] / m.Scale[j]
		l.mean[j] = m.Mean[j]
	}
	return l
}

func (l *linear) predict(f *Features) (label int, probability float64) {
	z := l.intercept
	z += l.weight[0] * (f.Age - l.mean[0])
	z += l.weight[1] * (f.Income - l.mean[1])
	z += l.weight[2] * (f.AccountBalance - l.mean[2])
	z += l.weight[3] * (f.TransactionsLast30d - l.mean[3])
	z += l.weight[4] * (f.IsPremium - l.mean[4])
	if z > 0 {
		label = 1
	}
	return label, model.Sigmoid(z)
}

// PredictBatch scores rows with one version and appends the predictions to
// dst, which it returns. A row outside the contract's domain fails the whole
// batch with an *InputError naming its index, and dst is returned as given.
func (s *Store) PredictBatch(dst []Prediction, rows []Features) ([]Prediction, error) {
	v := s.serving.Load()
	if v == nil {
		return dst, ErrNotReady
	}
	for i, f := range rows {
		if err := f.checkRow(i); err != nil {
			return dst, err
		}
	}
	dst = slices.Grow(dst, len(rows))
	for i := range rows {
		label, p := v.linear.predict(&rows[i])
		dst = append(dst, Prediction{Label: label, Probability: p, ModelVersionID: v.id})
	}
	return dst, nil
}

// Reload checks CURRENT now, loading the version it names if that is not
// the one serving. It reports whether the serving version changed.
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
	return s.refresh(true)
}

// StoreStatus describes what a Store is serving and how its last checks went.
type StoreStatus struct {
	Ready          bool      `json:"ready"`
	ModelVersionID string    `json:"model_version_id,omitempty"`
	LoadedAt       time.Time `json:"loaded_at,omitzero"`
	LastCheck      time.Time `json:"last_check,omitzero"`
	// LastError is why the version CURRENT names is not serving (or why
	// CURRENT cannot be read); empty when all is well.
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
	Loads        int64     `json:"loads"`         // versions loaded since open
	LoadFailures int64     `json:"load_failures"` // versions refused since open
}

// Status returns the store's state.
func (s *Store) Status() StoreStatus {
	st := StoreStatus{Loads: s.loads.Load(), LoadFailures: s.fails.Load()}
	if v := s.serving.Load(); v != nil {
		st.Ready, st.ModelVersionID, st.LoadedAt = true, v.id, v.loadedAt
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.LastCheck = s.lastCheck
	if s.lastErr != nil {
		st.LastError, st.LastErrorAt = s.lastErr.Error(), s.lastErrAt
	}
	return st
}

// Metadata returns the serving version's metadata and the exact bytes of
// its metadata.json, or ErrNotReady.
func (s *Store) Metadata() (*Metadata, []byte, error) {
	v := s.serving.Load()
	if v == nil {
		return nil, nil, ErrNotReady
	}
	return v.meta, v.metaJSON, nil
}

func (s *Store) follow() {
	defer close(s.done)
	t := time.NewTicker(s.opts.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_, _ = s.refresh(false)
		}
	}
}

// refresh loads the version CURRENT names if it is not the one serving. A
// plain check costs one stat of CURRENT, and a read of it while it is younger
// than racyStampAge; force always reads it.
func (s *Store) refresh(force bool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.lastCheck = now
	current := filepath.Join(s.dir, modelsDir, currentFile)
	stamp := statStamp(current)
	retry := s.lastErr != nil && now.Sub(s.lastErrAt) >= s.opts.RetryInterval
	// An unchanged stamp does not prove an unchanged CURRENT while the file
	// is young: every write renames a new file of the same size over it,
	// the file system recycles the inode the write before last freed, and
	// mtime has a coarse granularity, so two quick writes can leave the
	// stamp exactly as it was. Until CURRENT is older than racyStampAge its
	// content is read as well (git's "racily clean" rule).
	racy := stamp.exists && now.Sub(stamp.mtime) < racyStampAge
	sameStamp := !force && !retry && stamp == s.stamp
	if sameStamp && !racy {
		return false, nil
	}
	s.stamp = stamp

	id, err := readCurrent(s.dir)
	if sameStamp && err == nil && id == s.readID {
		return false, nil // a young CURRENT, re-read: nothing changed
	}
	s.readID = id // "" when the read failed
	if errors.Is(err, ErrNoCurrent) && s.serving.Load() == nil {
		s.lastErr = nil // nothing promoted yet: not ready, but nothing wrong
		return false, nil
	}
	if err != nil {
		return false, s.fail("", err)
	}
	if v := s.serving.Load(); v != nil && v.id == id {
		s.lastErr, s.failedID = nil, ""
		return false, nil
	}
	v, err := loadVersion(s.dir, id)
	if err != nil {
		return false, s.fail(id, err)
	}
	prev := s.serving.Swap(v)
	s.loads.Add(1)
	s.lastErr, s.failedID = nil, ""
	attrs := []any{"version", id, "f1", v.meta.Metric.Value}
	if prev != nil {
		attrs = append(attrs, "previous", prev.id)
	}
	s.log.Info("model version loaded", attrs...)
	return true, nil
}

// fail records a refused version. It counts and logs each distinct failure
// once, not on every retry.
func (s *Store) fail(id string, err error) error {
	repeat := s.lastErr != nil && s.failedID == id && s.lastErr.Error() == err.Error()
	s.lastErr, s.lastErrAt, s.failedID = err, time.Now(), id
	if !repeat {
		s.fails.Add(1)
		attrs := []any{"error", err}
		if v := s.serving.Load(); v != nil {
			attrs = append(attrs, "still_serving", v.id)
		}
		s.log.Error("model version refused", attrs...)
	}
	return err
}

func statStamp(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	st := fileStamp{exists: true, mtime: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.inode = sys.Ino
	}
	return st
}

// selfTestTolerance bounds how far a recomputed example probability may be
// from the stored one. The same code on the same platform gives the same bits;
// the slack covers other platforms fusing multiply-adds.
const selfTestTolerance = 1e-9

// loadVersion reads and checks a complete version: the id's shape, the
// metadata, the model file's checksum, the feature schema, and the stored
// examples recomputed by the loaded model.
func loadVersion(artifactsDir, id string) (*servingVersion, error) {
	if !ValidVersionID(id) {
		return nil, fmt.Errorf("load version %q: %w", truncate(id, 80), ErrBadVersionID)
	}
	dir := filepath.Join(artifactsDir, modelsDir, versionsDir, id)
	corrupt := func(format string, a ...any) error {
		return fmt.Errorf("load version %s: %s: %w", id, fmt.Sprintf(format, a...), ErrCorruptVersion)
	}
	metaJSON, err := os.ReadFile(filepath.Join(dir, metadataFile))
	if errors.Is(err, fs.ErrNotExist) {
		if _, statErr := os.Stat(dir); errors.Is(statErr, fs.ErrNotExist) {
			return nil, fmt.Errorf("load version %s: %w", id, ErrVersionNotFound)
		}
		return nil, corrupt("%s is missing", metadataFile)
	}
	if err != nil {
		return nil, fmt.Errorf("load version %s: %w", id, err)
	}
	var meta Metadata
	if err := json.Unmarshal(metaJSON, &meta); err != nil {
		return nil, corrupt("%s: %v", metadataFile, err)
	}
	switch {
	case meta.SchemaVersion != SchemaVersion:
		return nil, corrupt("metadata schema_version %q, want %q", meta.SchemaVersion, SchemaVersion)
	case meta.ModelVersionID != id:
		return nil, corrupt("metadata names version %q", truncate(meta.ModelVersionID, 80))
	case meta.FeatureSchemaVersion != FeatureSchemaVersion:
		return nil, corrupt("feature schema %q, this build serves %q", meta.FeatureSchemaVersion, FeatureSchemaVersion)
	case len(meta.Examples) == 0:
		return nil, corrupt("metadata has no self-test examples")
	}
	modelJSON, err := os.ReadFile(filepath.Join(dir, modelFile))
	if err != nil {
		return nil, corrupt("%v", err)
	}
	sum := sha256.Sum256(modelJSON)
	if got := hex.EncodeToString(sum[:]); got != meta.ModelSHA256 {
		return nil, corrupt("%s has SHA-256 %s, metadata says %s", modelFile, got, meta.ModelSHA256)
	}
	var m model.Model
	if err := json.Unmarshal(modelJSON, &m); err != nil {
		return nil, corrupt("%v", err)
	}
	if !slices.Equal(m.Features, FeatureNames[:]) {
		return nil, corrupt("model features %v, want %v", m.Features, FeatureNames)
	}
	lin := compile(&m)
	for i, ex := range meta.Examples {
		_, got := lin.predict(&ex.Features) // the code that will serve

		if !(math.Abs(got-ex.Probability) <= selfTestTolerance) {
			return nil, corrupt("self-test example %d: model gives %v, trainer recorded %v", i, got, ex.Probability)
		}
	}
	return &servingVersion{id: id, linear: lin, meta: &meta, metaJSON: metaJSON, loadedAt: time.Now()}, nil
}
