package mlservice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults used by OpenStore when an option is left zero.
const (
	DefaultRefreshInterval = 100 * time.Millisecond
	DefaultRetryInterval   = 5 * time.Second
	DefaultOpenTimeout     = 10 * time.Second
)

// StoreOptions configures OpenStore.
type StoreOptions struct {
	// RefreshInterval is how often the store looks at CURRENT (one stat) to
	// follow promotions. Zero means DefaultRefreshInterval, so a promotion is
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

// Store serves predictions from the version CURRENT names under an
// artifacts directory and follows CURRENT as it moves. It is safe for
// concurrent use. Predict and PredictBatch take no lock, make no file-system
// call and allocate nothing: they read an immutable snapshot through an
// atomic pointer, which a background goroutine replaces when a new version
// is promoted. A version that fails to load is refused and the previous one
// keeps serving; the error shows in Status. Status, Metadata and Close never
// wait on the file system, so a read that blocks cannot hang them.
type Store struct {
	dir    string
	bucket *bucketArtifacts // set when serving from an object store; dir is "" then
	opts   StoreOptions
	log    *slog.Logger

	// bctx ends on Close: it bounds every request to the object store.
	bctx    context.Context
	bcancel context.CancelFunc

	serving atomic.Pointer[servingVersion]
	loads   atomic.Int64
	fails   atomic.Int64
	// storeErrs counts checks that could not reach the object store.
	storeErrs atomic.Int64

	// checking is held (a token in the channel) by the one check of CURRENT
	// that may run at a time, from before its first file-system call until
	// its outcome is recorded. A channel rather than a mutex so that a
	// caller can give up waiting when its context ends. Lock order:
	// checking, then mu.
	checking chan struct{}

	// mu guards the fields below. It is never held across a file-system
	// call or a log write, so Status cannot wait on I/O.
	mu            sync.Mutex
	stamp         fileStamp // CURRENT as last examined
	readID        string    // the id last read from CURRENT; "" after a failed read
	lastCheck     time.Time
	checkingSince time.Time // when the check in flight started; zero when none is
	lastErr       error
	lastErrAt     time.Time
	failedID      string // the version that last failed to load
	failedFiles   string // versionFilesStamp (filesStamp on a bucket) of failedID, taken before the load that failed
	dirErr        error  // what is wrong with the artifacts directory itself
	dirErrAt      time.Time
	etag          string // CURRENT's ETag as last examined, on an object store
	unreachable   int    // checks in a row that could not reach the object store
	closed        bool

	load func(artifactsDir, id string) (*servingVersion, error) // loadVersion; a test stalls it

	stop chan struct{}
	done chan struct{}
}

// racyStampAge is how long after CURRENT last changed its stamp is not
// trusted alone; it covers the timestamp granularity of common file systems.
const racyStampAge = 2 * time.Second

// slowCheck is how long a check may run before Status reports it: loading a
// version takes milliseconds, so a check this old is stuck on a read.
const slowCheck = time.Second

type fileStamp struct {
	exists bool
	mtime  time.Time
	size   int64
	inode  uint64
}

// OpenStore opens the artifacts directory, loads the current version if
// there is one, and starts following CURRENT. A directory with no version
// yet, or with a current version that fails to load, still opens: the store
// is not ready (Predict returns ErrNotReady) until a version loads. So does
// a directory that does not exist (a mistyped path, a volume not mounted
// yet): the store logs a warning, says why in Status, and waits for it.
func OpenStore(artifactsDir string, opts StoreOptions) (*Store, error) {
	if artifactsDir == "" {
		return nil, errors.New("open store: no artifacts directory")
	}
	s := newStore(opts)
	s.dir = artifactsDir
	s.open()
	return s, nil
}

// openBucketStore is OpenStore on an object store.
func openBucketStore(b *bucketArtifacts, opts StoreOptions) (*Store, error) {
	s := newStore(opts)
	s.bucket = b
	s.open()
	return s, nil
}

// newStore applies opts' defaults.
func newStore(opts StoreOptions) *Store {
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
	s := &Store{opts: opts, log: log, load: loadVersion, checking: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	s.bctx, s.bcancel = context.WithCancel(context.Background())
	return s
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
			log.Warn("the first load is still running; opening not ready", "artifacts", s.where(),
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
// serves from an object store.
func (s *Store) Dir() string { return s.dir }

// Artifacts returns the artifacts the store serves from, directory or
// object store, for listing and reading versions beside it.
func (s *Store) Artifacts() *Artifacts {
	if s.bucket != nil {
		return &Artifacts{bucket: s.bucket}
	}
	return DirArtifacts(s.dir)
}

// where names the artifacts for messages.
func (s *Store) where() string {
	if s.bucket != nil {
		return s.bucket.b.String()
	}
	return s.dir
}

// Versions lists the versions of the artifacts the store serves from, as
// Artifacts.Versions.
func (s *Store) Versions(ctx context.Context) ([]VersionInfo, error) {
	if s.bucket != nil {
		return s.bucket.versions(ctx)
	}
	return Versions(s.dir)
}

// Close stops following CURRENT and waits for the background goroutine.
// The last loaded version keeps answering Predict. A check blocked in a
// file-system call cannot be interrupted: Close does not wait for it, and
// whatever it loads when the call returns is discarded (its goroutine ends
// then, not before).
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.bcancel()
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

func (s *Store) follow() {
	defer close(s.done)
	t := time.NewTicker(s.opts.RefreshInterval)
	defer t.Stop()
	var next time.Time // while the object store is unreachable: no check before
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if now.Before(next) {
				continue
			}
			// Returns at once on Close, even with a check stuck.
			_, _ = s.refresh(context.Background(), false)
			s.mu.Lock()
			n := s.unreachable
			s.mu.Unlock()
			next = time.Time{}
			if n > 0 {
				// Back off: the interval doubles with each failed check in
				// a row, up to RetryInterval.
				wait := s.opts.RetryInterval
				if n < 16 && s.opts.RefreshInterval<<n < wait {
					wait = s.opts.RefreshInterval << n
				}
				next = time.Now().Add(wait)
			}
		}
	}
}

type checkResult struct {
	changed bool
	err     error
}

// start begins a check of CURRENT on its own goroutine once no other check
// is running, and returns the channel its outcome arrives on. It gives up
// waiting when ctx ends or the store closes.
func (s *Store) start(ctx context.Context, force bool) (<-chan checkResult, error) {
	select {
	case s.checking <- struct{}{}:
	case <-ctx.Done():
		return nil, s.stillRunning(ctx.Err())
	case <-s.stop:
		return nil, ErrClosed
	}
	out := make(chan checkResult, 1)
	go func() {
		changed, err := s.check(force)
		<-s.checking
		out <- checkResult{changed, err}
	}()
	return out, nil
}

// refresh runs a check and waits for its outcome, as long as ctx allows and
// the store is open; a check abandoned here still completes in the
// background.
func (s *Store) refresh(ctx context.Context, force bool) (bool, error) {
	out, err := s.start(ctx, force)
	if err != nil {
		return false, err
	}
	select {
	case r := <-out:
		return r.changed, r.err
	case <-ctx.Done():
		return false, s.stillRunning(ctx.Err())
	case <-s.stop:
		return false, ErrClosed
	}
}

// stillRunning wraps the error that ended a wait for a check with how long
// the check has been running.
func (s *Store) stillRunning(err error) error {
	s.mu.Lock()
	since := s.checkingSince
	s.mu.Unlock()
	if since.IsZero() {
		return err
	}
	return fmt.Errorf("a check of %s started %s ago is still running: %w", currentFile,
		time.Since(since).Round(time.Millisecond), err)
}

// check loads the version CURRENT names if it is not the one serving. A
// plain check costs one stat of CURRENT, and a read of it while it is
// younger than racyStampAge; force always reads it. Only the holder of
// s.checking calls it; it takes s.mu only between file-system calls.
func (s *Store) check(force bool) (bool, error) {
	if s.bucket != nil {
		return s.checkBucket(force)
	}
	now := time.Now()
	s.mu.Lock()
	s.lastCheck, s.checkingSince = now, now
	last, lastID, load := s.stamp, s.readID, s.load
	retry := s.lastErr != nil && now.Sub(s.lastErrAt) >= s.opts.RetryInterval
	failedID, failedFiles := s.failedID, s.failedFiles
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.checkingSince = time.Time{}
		s.mu.Unlock()
	}()
	// A refused version CURRENT still names is retried as soon as its files
	// change (a repair), not only every RetryInterval: a few stats, paid
	// only while a version is refused.
	if !retry && failedID != "" && failedID == lastID && versionFilesStamp(s.dir, failedID) != failedFiles {
		retry = true
	}

	stamp, err := statStamp(filepath.Join(s.dir, modelsDir, currentFile))
	if err != nil {
		// CURRENT is missing or cannot be looked at: say so if the reason
		// is the directory itself, not just that nothing is promoted.
		if derr := s.dirProblem(err); derr != nil {
			s.setDirErr(derr)
			return false, derr
		}
	}
	s.setDirErr(nil)

	// An unchanged stamp does not prove an unchanged CURRENT while the file
	// is young: every write renames a new file of the same size over it,
	// the file system recycles the inode the write before last freed, and
	// mtime has a coarse granularity, so two quick writes can leave the
	// stamp exactly as it was. Until CURRENT is older than racyStampAge its
	// content is read as well (git's "racily clean" rule).
	racy := stamp.exists && now.Sub(stamp.mtime) < racyStampAge
	sameStamp := !force && !retry && stamp == last
	if sameStamp && !racy {
		return false, nil
	}

	id, err := readCurrent(s.dir)
	s.mu.Lock()
	s.stamp = stamp
	s.readID = id // "" when the read failed
	s.mu.Unlock()
	if sameStamp && err == nil && id == lastID {
		return false, nil // a young CURRENT, re-read: nothing changed
	}
	serving := s.serving.Load()
	if errors.Is(err, ErrNoCurrent) && serving == nil {
		s.clearErr() // nothing promoted yet: not ready, but nothing wrong
		return false, nil
	}
	if err != nil {
		return false, s.fail("", err)
	}
	if serving != nil && serving.id == id {
		s.clearErr()
		return false, nil
	}

	files := versionFilesStamp(s.dir, id) // before the load: a change during it counts
	v, err := load(s.dir, id)
	if err != nil {
		err = s.fail(id, err)
		s.mu.Lock()
		s.failedFiles = files
		s.mu.Unlock()
		return false, err
	}
	return s.install(id, v)
}

// versionFilesStamp sums up the names, sizes, modification times and inodes
// of version id's files, so that a change to any of them (rewritten in
// place or renamed over) changes it. A directory that cannot be listed
// gives the error's text.
func versionFilesStamp(artifactsDir, id string) string {
	dir := filepath.Join(artifactsDir, modelsDir, versionsDir, id)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	for _, e := range entries {
		st, err := statStamp(filepath.Join(dir, e.Name()))
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", e.Name(), err)
			continue
		}
		fmt.Fprintf(&b, "%s %d %d %d\n", e.Name(), st.size, st.mtime.UnixNano(), st.inode)
	}
	return b.String()
}

// install serves version v (id), loaded from either kind of artifacts,
// unless the store was closed meanwhile.
func (s *Store) install(id string, v *servingVersion) (bool, error) {
	if s.opts.DisableDrift {
		v.drift = nil // v is not shared yet; either backend's load made it
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false, ErrClosed // a check that outlived Close serves nothing
	}
	prev := s.serving.Swap(v)
	s.lastErr, s.failedID = nil, ""
	s.mu.Unlock()
	s.loads.Add(1)
	attrs := []any{"version", id, "f1", v.meta.Metrics.F1}
	if prev != nil {
		attrs = append(attrs, "previous", prev.id)
	}
	s.log.Info("model version loaded", attrs...)
	return true, nil
}

func (s *Store) clearErr() {
	s.mu.Lock()
	s.lastErr, s.failedID = nil, ""
	s.mu.Unlock()
}

// fail records a refused version. It counts and logs each distinct failure
// once, not on every retry.
func (s *Store) fail(id string, err error) error {
	s.mu.Lock()
	repeat := s.lastErr != nil && s.failedID == id && s.lastErr.Error() == err.Error()
	s.lastErr, s.lastErrAt, s.failedID = err, time.Now(), id
	s.mu.Unlock()
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

// dirProblem returns what is wrong with the artifacts directory when CURRENT
// could not be statted (statErr), or nil when the directory is fine and
// CURRENT simply does not exist. The directory is named as configured.
func (s *Store) dirProblem(statErr error) error {
	fi, err := os.Stat(s.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("artifacts directory %q does not exist", s.dir)
	case err != nil:
		return fmt.Errorf("artifacts directory %q: %w", s.dir, errors.Unwrap(err))
	case !fi.IsDir():
		return fmt.Errorf("artifacts directory %q is not a directory", s.dir)
	case errors.Is(statErr, fs.ErrNotExist):
		return nil
	}
	var pe *fs.PathError
	if errors.As(statErr, &pe) {
		statErr = pe.Err
	}
	return fmt.Errorf("artifacts directory %q: %s/%s: %w", s.dir, modelsDir, currentFile, statErr)
}

// setDirErr records the artifacts directory's state, logging a warning when
// a problem appears or changes, and a line when it clears.
func (s *Store) setDirErr(err error) {
	s.mu.Lock()
	prev := s.dirErr
	changed := (prev == nil) != (err == nil) || (err != nil && err.Error() != prev.Error())
	if changed {
		s.dirErr, s.dirErrAt = err, time.Now()
	}
	s.mu.Unlock()
	switch {
	case !changed:
	case err != nil && s.bucket != nil:
		s.log.Warn("the object store cannot be reached; serving what is loaded and retrying", "error", err)
	case err != nil:
		s.log.Warn("the artifacts directory cannot be used; waiting for it", "error", err)
	case s.bucket != nil:
		s.log.Info("the object store answers again", "artifacts", s.where())
	default:
		s.log.Info("artifacts directory found", "artifacts", s.dir)
	}
}

// statStamp returns CURRENT's stamp, or the zero stamp and the error when
// it cannot be statted.
func statStamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{exists: true, mtime: fi.ModTime(), size: fi.Size(), inode: inode(fi)}, nil
}

// bucketCheckTimeout bounds one check of an object store: a store that
// stops answering (a paused container, a partition) must not hold the
// check forever, so that the next one can find it back.
const bucketCheckTimeout = 5 * time.Second

// checkBucket is check on an object store: one HEAD of CURRENT, and a GET
// of it and of the version's objects only when its ETag changed (or force,
// or a refused version is due for a retry). A failure to reach the store is
// counted and shown in Status but refuses nothing: the serving version
// stays.
func (s *Store) checkBucket(force bool) (bool, error) {
	now := time.Now()
	s.mu.Lock()
	s.lastCheck, s.checkingSince = now, now
	lastETag, lastID := s.etag, s.readID
	retry := s.lastErr != nil && now.Sub(s.lastErrAt) >= s.opts.RetryInterval
	failedID, failedFiles := s.failedID, s.failedFiles
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.checkingSince = time.Time{}
		s.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(s.bctx, bucketCheckTimeout)
	defer cancel()
	b := s.bucket

	unreachable := func(err error) (bool, error) {
		if s.bctx.Err() != nil {
			return false, ErrClosed // Close cancelled the request: not the store's fault
		}
		err = fmt.Errorf("object store %s: %w", b.b.String(), err)
		s.storeErrs.Add(1)
		s.mu.Lock()
		s.unreachable++
		s.mu.Unlock()
		s.setDirErr(err)
		return false, err
	}
	reached := func() {
		s.mu.Lock()
		s.unreachable = 0
		s.mu.Unlock()
		s.setDirErr(nil)
	}

	etag, err := b.b.Head(ctx, currentKey)
	serving := s.serving.Load()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		reached()
		s.mu.Lock()
		s.etag, s.readID = "", ""
		s.mu.Unlock()
		if serving == nil {
			s.clearErr() // nothing promoted yet: not ready, but nothing wrong
			return false, nil
		}
		return false, s.fail("", fmt.Errorf("read current version: %w", ErrNoCurrent))
	case err != nil:
		return unreachable(err)
	}
	reached()
	// As in a directory: a refused version CURRENT still names is retried
	// as soon as one of its objects changes (a LIST and a HEAD each, paid
	// only while a version is refused).
	if !force && !retry && etag == lastETag && failedID != "" && failedID == lastID &&
		b.filesStamp(ctx, failedID) != failedFiles {
		retry = true
	}
	if !force && !retry && etag == lastETag {
		return false, nil
	}

	id, etag, err := b.readCurrent(ctx)
	var se *storeError
	if errors.As(err, &se) {
		return unreachable(err)
	}
	s.mu.Lock()
	s.etag, s.readID = etag, id
	s.mu.Unlock()
	if errors.Is(err, ErrNoCurrent) && serving == nil {
		s.clearErr()
		return false, nil
	}
	if err != nil {
		return false, s.fail("", err)
	}
	if serving != nil && serving.id == id {
		s.clearErr()
		return false, nil
	}
	files := b.filesStamp(ctx, id) // before the load: a change during it counts
	v, err := b.loadVersion(ctx, id)
	if errors.As(err, &se) {
		s.mu.Lock()
		s.etag = "" // not decided: look again at the next check
		s.mu.Unlock()
		return unreachable(err)
	}
	if err != nil {
		err = s.fail(id, err)
		s.mu.Lock()
		s.failedFiles = files
		s.mu.Unlock()
		return false, err
	}
	return s.install(id, v)
}
