package mlservice

// The promotion protocol on an object store, which has no rename and no
// lock. The key layout under the bucket's prefix is the directory's:
//
//	models/CURRENT                               the serving version id
//	models/versions/<version_id>/model.json
//	models/versions/<version_id>/metadata.json
//	models/versions/<version_id>/schema.json     the resolved schema
//	models/versions/<version_id>/manifest.json   the commit object, written last
//	models/history/<time>-<version_id>-<event>.json   one object per decision
//
// A version's objects are written first and its manifest (size and SHA-256
// of each) last: a version without a manifest is incomplete, is never
// loaded and is not listed. CURRENT moves by a conditional PUT: If-Match on
// the ETag read when deciding, or If-None-Match: * when there was none. A
// trainer whose PUT is refused lost a race: it reads CURRENT again and
// decides again. Object stores have no append, so each decision is its own
// history object, its key sortable by the time CURRENT was read for it.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/mlservice/mlservice/storage"
)

const historyDir = "history" // models/history/ on an object store

// maxCASAttempts bounds how often Promote and Rollback re-decide after
// losing the race for CURRENT. Each loss means another writer moved
// CURRENT, so this many in a row means that many writers finished at once.
const maxCASAttempts = 100

var currentKey = path.Join(modelsDir, currentFile)

// bucketArtifacts is the artifact layout on an object store.
type bucketArtifacts struct {
	b storage.Bucket
}

// storeError marks a failure to reach the object store (a network error, a
// timeout, a 5xx), as opposed to an answer about what is stored. A Store
// counts these, keeps serving, and backs off.
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// classify returns err as is when the store answered about the object
// (missing, too large, precondition), else marks it a storeError.
func classify(err error) error {
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, storage.ErrTooLarge) ||
		errors.Is(err, storage.ErrPreconditionFailed) || errors.Is(err, context.Canceled) {
		return err
	}
	var se *storeError
	if errors.As(err, &se) {
		return err
	}
	return &storeError{err}
}

// readCurrent returns the id CURRENT names and CURRENT's ETag. The ETag is
// returned whenever the object exists, even when its content is not a
// version id, so that a writer can replace a corrupt CURRENT with a
// conditional PUT. A missing CURRENT is ErrNoCurrent with no ETag.
func (o bucketArtifacts) readCurrent(ctx context.Context) (id, etag string, err error) {
	cur, etag, err := o.readCurrentState(ctx)
	return cur.VersionID, etag, err
}

// readCurrentState is readCurrent with the pin.
func (o bucketArtifacts) readCurrentState(ctx context.Context) (cur Current, etag string, err error) {
	data, etag, err := o.b.Get(ctx, currentKey, maxCurrentSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Current{}, "", ErrNoCurrent
	case errors.Is(err, storage.ErrTooLarge):
		// Its ETag still lets a writer replace it.
		etag, herr := o.b.Head(ctx, currentKey)
		if herr != nil {
			return Current{}, "", fmt.Errorf("read current version: %w", classify(herr))
		}
		return Current{}, etag, fmt.Errorf("read current version: %s is larger than %d bytes: %w", currentKey, maxCurrentSize, ErrBadVersionID)
	case err != nil:
		return Current{}, "", fmt.Errorf("read current version: %w", classify(err))
	}
	if etag == "" {
		return Current{}, "", &storeError{fmt.Errorf("read current version: the object store gave %s no ETag", currentKey)}
	}
	cur, err = parseCurrentState(data)
	return cur, etag, err
}

// readVersionFiles reads the objects of version id and checks them against
// its manifest, as the directory's readVersionFiles does. A version with no
// manifest is incomplete: ErrVersionNotFound when it has no object at all,
// else a plain error.
func (o bucketArtifacts) readVersionFiles(ctx context.Context, id string) (map[string][]byte, error) {
	rel := versionRel(id, manifestFile)
	data, _, err := o.b.Get(ctx, rel, maxManifestSize)
	if errors.Is(err, fs.ErrNotExist) {
		keys, lerr := o.b.List(ctx, versionRel(id)+"/")
		if lerr != nil {
			return nil, classify(lerr)
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("%s: %w", versionRel(id), ErrVersionNotFound)
		}
		return nil, fmt.Errorf("%s is missing: the version is incomplete (its writer stopped before committing it)", rel)
	}
	if err != nil {
		return nil, classify(err)
	}
	m, listed, err := parseManifest(id, data)
	if err != nil {
		return nil, err
	}
	keys, err := o.b.List(ctx, versionRel(id)+"/")
	if err != nil {
		return nil, classify(err)
	}
	for _, k := range keys {
		name := strings.TrimPrefix(k, versionRel(id)+"/")
		if name != manifestFile && !listed[name] {
			return nil, fmt.Errorf("%s is not listed in %s", k, manifestFile)
		}
	}
	files := make(map[string][]byte, len(m.Files))
	for _, f := range m.Files {
		data, _, err := o.b.Get(ctx, versionRel(id, f.Name), maxVersionFileSize)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("%s is missing", versionRel(id, f.Name))
		case errors.Is(err, storage.ErrTooLarge):
			return nil, fmt.Errorf("%s is larger than %d bytes", versionRel(id, f.Name), maxVersionFileSize)
		case err != nil:
			return nil, classify(err)
		}
		if err := f.check(id, data); err != nil {
			return nil, err
		}
		files[f.Name] = data
	}
	return files, nil
}

// loadVersion is loadVersion for an object store. Failures to reach the
// store stay storeErrors (the version is not refused for them); everything
// else the store answered is ErrVersionNotFound or ErrCorruptVersion.
func (o bucketArtifacts) loadVersion(ctx context.Context, id string) (*servingVersion, error) {
	if !ValidVersionID(id) {
		return nil, fmt.Errorf("load version %q: %w", truncate(id, 80), ErrBadVersionID)
	}
	files, err := o.readVersionFiles(ctx, id)
	var se *storeError
	switch {
	case errors.As(err, &se):
		return nil, fmt.Errorf("load version %s: %w", id, err)
	case errors.Is(err, ErrVersionNotFound):
		return nil, fmt.Errorf("load version %s: %w", id, ErrVersionNotFound)
	case err != nil:
		return nil, fmt.Errorf("load version %s: %v: %w", id, err, ErrCorruptVersion)
	}
	return decodeVersion(id, files)
}

// current returns what CURRENT says and its ETag, and the version loaded,
// or why it cannot be; as artifacts.current.
func (o bucketArtifacts) current(ctx context.Context) (cur Current, etag string, v *servingVersion, err error) {
	cur, etag, err = o.readCurrentState(ctx)
	if errors.Is(err, ErrNoCurrent) {
		return Current{}, "", nil, nil
	}
	var se *storeError
	if errors.As(err, &se) {
		return Current{}, "", nil, err
	}
	if err != nil {
		return Current{}, etag, nil, err // a CURRENT that names no version: replaced by the next promotion
	}
	v, err = o.loadVersion(ctx, cur.VersionID)
	if errors.As(err, &se) {
		return Current{}, "", nil, err
	}
	return cur, etag, v, err
}

// swapCurrent makes CURRENT say next if its ETag is still etag ("" when
// there was no CURRENT). It reports false, with no error, when another
// writer moved CURRENT first. A PUT whose answer was lost is settled by
// reading CURRENT back.
func (o bucketArtifacts) swapCurrent(ctx context.Context, next Current, etag string) (bool, error) {
	cond := storage.Condition{IfMatch: etag, IfNoneMatch: etag == ""}
	_, err := o.b.Put(ctx, currentKey, currentBytes(next), cond)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, storage.ErrPreconditionFailed) {
		// The PUT may or may not have been applied: CURRENT says which.
		if now, _, rerr := o.readCurrentState(ctx); rerr == nil && now == next {
			return true, nil
		}
		return false, fmt.Errorf("update %s: %w", currentKey, err)
	}
	return false, nil
}

// putVersion writes a version's files, then its manifest: the commit.
func (o bucketArtifacts) putVersion(ctx context.Context, id string, files map[string][]byte) error {
	man, err := encodeManifest(id, files)
	if err != nil {
		return fmt.Errorf("encode %s: %w", manifestFile, err)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if _, err := o.b.Put(ctx, versionRel(id, name), files[name], storage.Condition{}); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	if _, err := o.b.Put(ctx, versionRel(id, manifestFile), man, storage.Condition{}); err != nil {
		return fmt.Errorf("write %s: %w", manifestFile, err)
	}
	return nil
}

// promote is Promote on an object store. Like the directory's Promote it
// checks ctx before writing the version (a stop there writes nothing) and
// again before CURRENT moves (a stop there takes the written version back);
// past that last check the swap and its history object are carried through
// even if ctx ends, since the decision then stands.
func (o bucketArtifacts) promote(ctx context.Context, c *Candidate) (*Decision, error) {
	modelJSON, err := encodeCandidate(c)
	if err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	id := newVersionID(time.Now())
	var d *Decision
	written := false // some of the version's objects may exist
	for attempt := 1; ; attempt++ {
		decidedAt := time.Now().UTC()
		cur, etag, v, err := o.current(ctx)
		if cerr := ctx.Err(); cerr != nil {
			return nil, o.stopped(ctx, id, written, cerr)
		}
		var se *storeError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("promote: %w", err)
		}
		next := decideAgainst(c, id, cur.VersionID, v, err)
		if cur.Pinned {
			pinDecision(next, cur.VersionID)
		}
		// The version's objects carry the comparison; they are written
		// again only when a lost race changed it. The version is not
		// current (the lost PUT wrote nothing), so no reader serves it.
		if d == nil || !sameComparison(d, next) {
			files, err := next.versionFiles(c, modelJSON)
			if err != nil {
				return nil, fmt.Errorf("promote: %w", err)
			}
			if cerr := ctx.Err(); cerr != nil {
				return nil, o.stopped(ctx, id, written, cerr)
			}
			written = true
			if err := o.putVersion(ctx, id, files); err != nil {
				if cerr := ctx.Err(); cerr != nil {
					return nil, o.stopped(ctx, id, written, cerr)
				}
				return nil, fmt.Errorf("promote: %w", err)
			}
		} else {
			next.Metadata = d.Metadata
		}
		d = next
		// The last point a stop is honoured: nothing is decided yet.
		if cerr := ctx.Err(); cerr != nil {
			return nil, o.stopped(ctx, id, written, cerr)
		}
		commit, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		if !d.Promoted {
			o.record(commit, d, DecisionRejected, decidedAt)
			cancel()
			return d, nil
		}
		won, err := o.swapCurrent(commit, Current{VersionID: id}, etag)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("promote: %w", err)
		}
		if won {
			o.record(commit, d, DecisionPromoted, decidedAt)
			cancel()
			return d, nil
		}
		cancel()
		if attempt == maxCASAttempts {
			return nil, fmt.Errorf("promote: %s moved under %d attempts in a row", currentKey, attempt)
		}
	}
}

// commitTimeout bounds the swap of CURRENT and the history object once a
// promotion is past its last check for a stop.
const commitTimeout = 30 * time.Second

// stopped is Promote's error for a stop (cause) before CURRENT moved. If
// the version was (perhaps partly) written it is taken back: its manifest
// first, so that it is uncommitted at once and never listed or loaded, then
// its other objects. Removal runs on a context of its own, since ctx has
// ended.
func (o bucketArtifacts) stopped(ctx context.Context, id string, written bool, cause error) error {
	if !written {
		return fmt.Errorf("promote: stopped before writing version %s: %w", id, cause)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := o.removeVersion(rctx, id); err != nil {
		return fmt.Errorf("promote: stopped before deciding version %s (%w), and removing it failed: %v; it will be listed as interrupted", id, cause, err)
	}
	return fmt.Errorf("promote: stopped before deciding version %s, removed it: %w", id, cause)
}

// removeVersion deletes the objects of version id, written by this writer
// and not yet decided: the manifest first (the version is then incomplete:
// not listed, never loaded), then the rest.
func (o bucketArtifacts) removeVersion(ctx context.Context, id string) error {
	if err := o.b.Delete(ctx, versionRel(id, manifestFile)); err != nil {
		return classify(err)
	}
	keys, err := o.b.List(ctx, versionRel(id)+"/")
	if err != nil {
		return classify(err)
	}
	for _, k := range keys {
		if err := o.b.Delete(ctx, k); err != nil {
			return classify(err)
		}
	}
	return nil
}

// sameComparison reports whether two decisions for one candidate record the
// same comparison, so its metadata need not be written again.
func sameComparison(a, b *Decision) bool {
	eq := func(x, y *float64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.Promoted == b.Promoted && a.Reason == b.Reason && a.PreviousVersionID == b.PreviousVersionID &&
		eq(a.PreviousMetric, b.PreviousMetric) && eq(a.PreviousMetricStored, b.PreviousMetricStored)
}

// record writes the history object of decision d; a failure becomes
// d.Warning, as with the directory.
func (o bucketArtifacts) record(ctx context.Context, d *Decision, event string, at time.Time) {
	if err := o.putHistory(ctx, decisionRecord(d, event, at)); err != nil {
		next := "promoted, since CURRENT names it"
		if !d.Promoted {
			next = "interrupted, since CURRENT does not name it"
		}
		d.Warning = fmt.Sprintf("version %s is %s, but its history object could not be written (%v); listings show it as %s",
			d.VersionID, event, err, next)
	}
}

// historyKey is the key of a history record: sortable by the record's time
// (when CURRENT was read for the decision, so that on one clock a decision
// sorts after the one whose CURRENT it replaced), then by version and event.
func historyKey(rec HistoryRecord) string {
	return path.Join(modelsDir, historyDir, rec.Time.UTC().Format("20060102T150405.000000000Z")+"-"+rec.VersionID+"-"+rec.Event+".json")
}

// putHistory writes one history object.
func (o bucketArtifacts) putHistory(ctx context.Context, rec HistoryRecord) error {
	line, err := encodeHistory(rec)
	if err != nil {
		return err
	}
	if _, err := o.b.Put(ctx, historyKey(rec), append(line, '\n'), storage.Condition{IfNoneMatch: true}); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return nil
}

// history returns every history record, in key order (oldest first), and
// a warning for each object that is not a record.
func (o bucketArtifacts) history(ctx context.Context) (*HistoryLog, error) {
	keys, err := o.b.List(ctx, path.Join(modelsDir, historyDir)+"/")
	if err != nil {
		return nil, fmt.Errorf("read history: %w", classify(err))
	}
	log := &HistoryLog{Records: make([]HistoryRecord, 0, len(keys))}
	for _, k := range keys {
		data, _, err := o.b.Get(ctx, k, HistoryLineLimit+1)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case errors.Is(err, storage.ErrTooLarge):
			log.Skipped = append(log.Skipped, fmt.Sprintf("%s skipped: larger than %d bytes", k, HistoryLineLimit))
			continue
		case err != nil:
			return nil, fmt.Errorf("read history: %w", classify(err))
		}
		rec, err := parseHistoryLine([]byte(strings.TrimSuffix(string(data), "\n")))
		if err != nil {
			log.Skipped = append(log.Skipped, fmt.Sprintf("%s skipped: %v", k, err))
			continue
		}
		log.Records = append(log.Records, rec)
	}
	return log, nil
}

// trainedAlready is TrainedAlready on an object store. The rejected-day
// search costs one LIST of the versions and one GET of each metadata object.
func (o bucketArtifacts) trainedAlready(ctx context.Context, ds *Dataset, opts TrainOptions) (*Metadata, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if ds == nil || ds.SHA256 == "" {
		return nil, nil
	}
	id, _, err := o.readCurrent(ctx)
	if err != nil {
		return nil, nil
	}
	v, err := o.loadVersion(ctx, id)
	if err != nil {
		return nil, nil
	}
	if sameTraining(v, ds, opts) {
		return v.meta, nil
	}
	keys, err := o.b.List(ctx, path.Join(modelsDir, versionsDir)+"/")
	if err != nil {
		return nil, nil // training goes ahead and Promote decides
	}
	var ids []string
	for _, k := range keys {
		rest := strings.TrimPrefix(k, path.Join(modelsDir, versionsDir)+"/")
		if id, name, ok := strings.Cut(rest, "/"); ok && name == manifestFile {
			ids = append(ids, id) // committed
		}
	}
	readMeta := func(id string) (*Metadata, error) {
		data, _, err := o.b.Get(ctx, versionRel(id, metadataFile), maxVersionFileSize)
		if err != nil {
			return nil, err
		}
		return decodeMetadata(id, map[string][]byte{metadataFile: data})
	}
	load := func(id string) (*servingVersion, error) { return o.loadVersion(ctx, id) }
	return rejectedAgainst(v, ids, ds, opts, readMeta, load), nil
}

// filesStamp sums up version id's objects and their ETags, so that a
// rewrite of any of them changes it. A failed request gives its error's
// text.
func (o bucketArtifacts) filesStamp(ctx context.Context, id string) string {
	keys, err := o.b.List(ctx, versionRel(id)+"/")
	if err != nil {
		return "error: " + err.Error()
	}
	var sb strings.Builder
	for _, k := range keys {
		etag, err := o.b.Head(ctx, k)
		if err != nil {
			etag = "error: " + err.Error()
		}
		sb.WriteString(k + " " + etag + "\n")
	}
	return sb.String()
}
