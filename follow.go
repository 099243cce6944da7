package mlservice

// Following CURRENT: the Store's background refresh and Reload, over any
// backend. A check asks the backend for CURRENT's change stamp, reads
// CURRENT only when the stamp changed or cannot be trusted, and loads the
// version it names only when that is not the one serving.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mlservice/mlservice/storage"
)

// slowCheck is how long a check may run before Status reports it: loading a
// version takes milliseconds, so a check this old is stuck on a read.
const slowCheck = time.Second

// checkTimeout bounds the requests of one check: a backend that stops
// answering (a paused container, a partition) must not hold the check
// forever, so that the next one can find it back. (A directory's calls take
// no context: a read stuck on a hung file system stays stuck, and Status
// says so.)
const checkTimeout = 5 * time.Second

func (s *Store) follow() {
	defer close(s.done)
	t := time.NewTicker(s.opts.RefreshInterval)
	defer t.Stop()
	var next time.Time // while the backend is unreachable: no check before
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
// plain check costs the backend's stamp of CURRENT (a stat, a HEAD), and a
// read of CURRENT only when the stamp changed or is not settled (a young
// file on a directory); force always reads it. A version CURRENT still
// names that was refused is tried again after RetryInterval, or as soon as
// its files change (a repair). Only the holder of s.checking calls it; it
// takes s.mu only between calls to the backend.
func (s *Store) check(force bool) (bool, error) {
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
	ctx, cancel := context.WithTimeout(s.ctx, checkTimeout)
	defer cancel()
	b := s.a.b

	stamp, err := b.StatCurrent(ctx)
	switch {
	case errors.Is(err, storage.ErrNotExist):
		stamp = storage.Stamp{Settled: true} // nothing to be racy about
	case err != nil:
		// CURRENT cannot be looked at: the artifacts themselves are the
		// problem, not just that nothing is promoted.
		return s.unusable(err)
	}
	s.usable()
	// A refused version CURRENT still names is retried as soon as one of
	// its files changes: a few stats or HEADs, paid only while a version
	// is refused.
	if !force && !retry && failedID != "" && failedID == lastID && b.VersionStamp(ctx, failedID) != failedFiles {
		retry = true
	}
	same := !force && !retry && stamp.Value == last.Value
	if same && stamp.Settled {
		return false, nil
	}

	cur, _, err := s.a.readCurrent(ctx)
	if errors.Is(err, storage.ErrUnreachable) {
		return s.unusable(err)
	}
	id := cur.VersionID
	s.mu.Lock()
	s.stamp = stamp
	s.readID = id // "" when the read failed
	s.mu.Unlock()
	if same && err == nil && id == lastID {
		return false, nil // an unsettled stamp, CURRENT re-read: nothing changed
	}
	serving := s.serving.Load()
	if errors.Is(err, ErrNoCurrent) && serving == nil {
		s.clearErr() // nothing promoted yet: not ready, but nothing wrong
		return false, nil
	}
	if errors.Is(err, ErrNoCurrent) {
		return false, s.fail("", fmt.Errorf("read current version: %w", err))
	}
	if err != nil {
		return false, s.fail("", err)
	}
	if serving != nil && serving.id == id {
		s.clearErr()
		return false, nil
	}

	files := b.VersionStamp(ctx, id) // before the load: a change during it counts
	v, err := load(ctx, id)
	if err != nil && s.ctx.Err() != nil {
		return false, ErrClosed // Close cancelled the load: nothing to refuse
	}
	if errors.Is(err, storage.ErrUnreachable) {
		s.mu.Lock()
		s.stamp = storage.Stamp{} // not decided: look again at the next check
		s.mu.Unlock()
		return s.unusable(err)
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

// unusable records that the artifacts cannot be looked at (err: a missing
// directory, an unreachable store). A store that serves keeps serving; one
// that cannot be reached is counted and backed off from.
func (s *Store) unusable(err error) (bool, error) {
	if s.ctx.Err() != nil {
		return false, ErrClosed // Close cancelled the request: not the backend's fault
	}
	if errors.Is(err, storage.ErrUnreachable) {
		s.storeErrs.Add(1)
		s.mu.Lock()
		s.unreachable++
		s.mu.Unlock()
	}
	s.setDirErr(err)
	return false, err
}

// usable records that the artifacts answered.
func (s *Store) usable() {
	s.mu.Lock()
	s.unreachable = 0
	s.mu.Unlock()
	s.setDirErr(nil)
}

// setDirErr records the state of the artifacts themselves, logging a
// warning when a problem appears or changes, and a line when it clears.
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
	case errors.Is(err, storage.ErrUnreachable):
		s.log.Warn("the artifacts cannot be reached; serving what is loaded and retrying", "error", err)
	case err != nil:
		s.log.Warn("the artifacts cannot be used; waiting for them", "error", err)
	default:
		s.log.Info("the artifacts can be read", "artifacts", s.a.String())
	}
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
