package mlservice

// The history, the audit trail: one JSON record per decision (promoted,
// rejected, rolled back, unpinned), appended after CURRENT moved; and the
// listings built from it, CURRENT and the versions. `trainer versions`, GET
// /versions and the history page read the same Listing.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mlservice/mlservice/storage"
)

// HistoryLineLimit caps one line of history.jsonl (one history object on an
// object store), in bytes without its line end. Promote shortens what it
// records so that its lines stay far below; ReadHistory refuses a longer
// line.
const HistoryLineLimit = storage.HistoryLineLimit

// Bounds on the free-text fields of a record, so that a record always fits
// in a line.
const (
	maxHistoryReason = 4 << 10
	maxHistoryFile   = 1 << 10
)

// HistoryRecord is one line of models/history.jsonl.
type HistoryRecord struct {
	Time              time.Time `json:"time"`
	Event             string    `json:"event"` // a Decision… constant
	VersionID         string    `json:"model_version_id"`
	Metric            *Metric   `json:"metric,omitempty"`
	PreviousVersionID string    `json:"previous_version_id,omitempty"`
	PreviousMetric    *float64  `json:"previous_metric,omitempty"` // on the candidate's evaluation rows
	// PreviousMetricStored is the figure recorded with the previous version.
	PreviousMetricStored *float64 `json:"previous_metric_stored,omitempty"`
	Reason               string   `json:"reason,omitempty"`
	TrainingDataFile     string   `json:"training_data_file,omitempty"`

	// Rule is the promotion rule of a promoted or rejected version's
	// decision; nil for a rollback, and in records written before rules.
	Rule *PromotionRule `json:"rule,omitempty"`
	// Pinned is set on a rollback: CURRENT was pinned to the version.
	Pinned bool `json:"pinned,omitempty"`
	// SchemaChanged is set on a move of CURRENT (rollback, promote by hand)
	// to a version of another schema, allowed by MoveOptions.
	SchemaChanged bool `json:"schema_changed,omitempty"`
	// Warnings names the lines of history skipped while the move was
	// made (HistoryLog.Skipped); never stored.
	Warnings []string `json:"-"`
}

// ReadHistory returns every recorded decision, oldest first (on an object
// store, in key order: by the time CURRENT was read for the decision). A
// line that is not a record is skipped (ReadHistoryLog says which): one
// damaged line must not stop training, rollback or a listing.
func (a *Artifacts) ReadHistory(ctx context.Context) ([]HistoryRecord, error) {
	log, err := a.ReadHistoryLog(ctx)
	if err != nil {
		return nil, err
	}
	return log.Records, nil
}

// ReadHistory is Artifacts.ReadHistory on the artifacts directory
// artifactsDir: the records of models/history.jsonl.
func ReadHistory(artifactsDir string) ([]HistoryRecord, error) {
	return DirArtifacts(artifactsDir).ReadHistory(context.Background())
}

// HistoryLog is the history as read: its records and what was skipped.
type HistoryLog struct {
	Records []HistoryRecord // oldest first
	// Skipped has a warning for each line (on an object store, each
	// object) that is not a record, naming it: bad JSON, a duplicate key,
	// no version id or event, or longer than HistoryLineLimit. A torn last
	// line, left by a crash in the middle of an append, is dropped without
	// a warning: the next append cuts it off.
	Skipped []string
}

// ReadHistoryLog reads the history, skipping the lines that are not
// records. Only a failure to read it is an error.
func (a *Artifacts) ReadHistoryLog(ctx context.Context) (*HistoryLog, error) {
	entries, err := a.b.ReadHistory(ctx, HistoryLineLimit)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	log := &HistoryLog{Records: make([]HistoryRecord, 0, len(entries))}
	for _, e := range entries {
		if e.Err != nil {
			log.Skipped = append(log.Skipped, fmt.Sprintf("%s skipped: %v", e.Name, e.Err))
			continue
		}
		rec, err := parseHistoryLine(e.Data)
		switch {
		case err == nil:
			log.Records = append(log.Records, rec)
		case !e.Torn: // a torn line is what a crash leaves: the next append cuts it off
			log.Skipped = append(log.Skipped, fmt.Sprintf("%s skipped: %v", e.Name, err))
		}
	}
	return log, nil
}

// ReadHistoryLog is Artifacts.ReadHistoryLog on the artifacts directory
// artifactsDir.
func ReadHistoryLog(artifactsDir string) (*HistoryLog, error) {
	return DirArtifacts(artifactsDir).ReadHistoryLog(context.Background())
}

func parseHistoryLine(line []byte) (HistoryRecord, error) {
	var h HistoryRecord
	if err := decodeStrict(line, &h); err != nil {
		return h, err
	}
	if !ValidVersionID(h.VersionID) || h.Event == "" {
		return h, fmt.Errorf("not a record: model_version_id %q, event %q", truncate(h.VersionID, 80), truncate(h.Event, 80))
	}
	return h, nil
}

// appendHistory records rec. Free-text fields are shortened so the line
// stays under HistoryLineLimit.
func (a *Artifacts) appendHistory(ctx context.Context, rec HistoryRecord) error {
	line, err := encodeHistory(rec)
	if err != nil {
		return err
	}
	if err := a.b.AppendHistory(ctx, historyKey(rec), line); err != nil {
		return fmt.Errorf("append history: %w", err)
	}
	return nil
}

// historyKey is a record's key where each is kept apart: sortable by the
// record's time (when CURRENT was read for the decision, so that on one
// clock a decision sorts after the one whose CURRENT it replaced), then by
// version and event.
func historyKey(rec HistoryRecord) string {
	return rec.Time.UTC().Format("20060102T150405.000000000Z") + "-" + rec.VersionID + "-" + rec.Event
}

// encodeHistory returns rec as one line, without its line end. Free-text
// fields are shortened so the line stays under HistoryLineLimit.
func encodeHistory(rec HistoryRecord) ([]byte, error) {
	rec.Reason = truncate(rec.Reason, maxHistoryReason)
	rec.TrainingDataFile = truncate(rec.TrainingDataFile, maxHistoryFile)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // reasons hold ">" and "<=", for people to read
	if err := enc.Encode(rec); err != nil {
		return nil, fmt.Errorf("encode history: %w", err)
	}
	line := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(line) > HistoryLineLimit {
		return nil, fmt.Errorf("encode history: a record of %d bytes", len(line))
	}
	return line, nil
}

// recover records a decision for every complete version that has none, by
// the rule listings follow: promoted if CURRENT names it (its writer died
// after moving CURRENT, or could not append to history), interrupted
// otherwise. It runs only under an exclusive lock, where no other writer
// can be between writing a version and recording it. It returns the history
// lines that were skipped.
func (a *Artifacts) recover(ctx context.Context) ([]string, error) {
	log, err := a.ReadHistoryLog(ctx)
	if err != nil {
		return nil, err
	}
	recorded := map[string]bool{}
	for _, h := range log.Records {
		recorded[h.VersionID] = true
	}
	ids, err := a.b.Versions(ctx)
	if err != nil {
		return nil, fmt.Errorf("recover: %w", err)
	}
	cur, _, _ := a.readCurrent(ctx)
	for _, id := range ids {
		if !ValidVersionID(id) || recorded[id] {
			continue
		}
		rec := HistoryRecord{Time: time.Now().UTC(), VersionID: id}
		rec.Event, rec.Reason = undecided(id == cur.VersionID)
		if meta, err := a.readMetadata(ctx, id); err == nil {
			rec.Metric, rec.TrainingDataFile = &meta.Metric, meta.TrainingDataFile
			rec.PreviousVersionID, rec.PreviousMetric = meta.Promotion.PreviousVersionID, meta.Promotion.PreviousMetric
			rec.Reason += "; its comparison: " + meta.Promotion.Reason
		}
		if err := a.appendHistory(ctx, rec); err != nil {
			return nil, err
		}
	}
	return log.Skipped, nil
}

// VersionInfo summarizes one version for listings.
type VersionInfo struct {
	VersionID        string    `json:"model_version_id"`
	TrainedAt        time.Time `json:"trained_at"`
	Metric           Metric    `json:"metric"`
	Decision         string    `json:"decision"` // promoted, rejected or interrupted
	Reason           string    `json:"reason,omitempty"`
	TrainingDataFile string    `json:"training_data_file"`
	Current          bool      `json:"current"`
	// Pinned is set on the current version while a rollback pins it.
	Pinned bool `json:"pinned"`
	// RolledBack is the last rollback to the version; nil if none.
	RolledBack *RollbackInfo `json:"rolled_back,omitempty"`
	Error      string        `json:"error,omitempty"` // set when the version cannot be read (its manifest, a file, its metadata)
}

// RollbackInfo is a rollback as history records it.
type RollbackInfo struct {
	VersionID         string    `json:"model_version_id"` // rolled back to
	Time              time.Time `json:"time"`             // zero when history has no record of it
	PreviousVersionID string    `json:"previous_version_id,omitempty"`
}

// Listing is what a listing shows: the versions, CURRENT and its pin, and
// what could not be read.
type Listing struct {
	Versions []VersionInfo `json:"versions"` // newest first
	// Current is what CURRENT says; zero when there is no CURRENT or it
	// cannot be read.
	Current Current `json:"current"`
	// Pin is the rollback that pinned CURRENT, while it is pinned.
	Pin *RollbackInfo `json:"pin,omitempty"`
	// CurrentErr says why no version can be marked current, or why the one
	// CURRENT names would not be served: CURRENT unreadable (an error
	// matching ErrBadVersionID or a read failure), naming a version that
	// does not exist (ErrVersionNotFound) or one that fails to load
	// (ErrCorruptVersion). nil when all is well or nothing is current yet.
	CurrentErr error `json:"-"`
	// CurrentError is CurrentErr's text.
	CurrentError string `json:"current_error,omitempty"`
	// Warnings names the history lines (objects) skipped as not records.
	Warnings []string `json:"warnings,omitempty"`
}

// Versions lists every complete version, newest first; List says more.
func (a *Artifacts) Versions(ctx context.Context) ([]VersionInfo, error) {
	l, err := a.List(ctx)
	if err != nil {
		return nil, err
	}
	return l.Versions, nil
}

// Versions is Artifacts.Versions on the artifacts directory artifactsDir.
func Versions(artifactsDir string) ([]VersionInfo, error) {
	return DirArtifacts(artifactsDir).Versions(context.Background())
}

// List lists every complete version, newest first, with its metric and the
// decision recorded for it in the history, and what CURRENT says. A version
// with no record is promoted if CURRENT names it and interrupted otherwise:
// metadata.json is never the source of a decision. The current version is
// loaded as a Store would load it, so that a CURRENT naming a missing or
// corrupt version shows in CurrentErr. List takes no lock and never lists a
// version that is still being written (not yet renamed into place, or
// without its manifest). A history line that is not a record is skipped and
// named in Warnings.
func (a *Artifacts) List(ctx context.Context) (*Listing, error) {
	ids, err := a.b.Versions(ctx)
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	log, err := a.ReadHistoryLog(ctx)
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	cur, _, curErr := a.readCurrent(ctx)
	l := newListing(log, cur, curErr)
	for _, id := range ids {
		if ValidVersionID(id) {
			meta, err := a.readMetadata(ctx, id)
			l.add(id, meta, err)
		}
	}
	l.finish(func() error {
		_, err := a.loadVersion(ctx, l.Current.VersionID)
		return err
	})
	return l.Listing, nil
}

// List is Artifacts.List on the artifacts directory artifactsDir.
func List(artifactsDir string) (*Listing, error) {
	return DirArtifacts(artifactsDir).List(context.Background())
}

// listing is a Listing being built from history and CURRENT.
type listing struct {
	*Listing
	decided    map[string]HistoryRecord // the last decision recorded for each version
	rolledBack map[string]*RollbackInfo // the last rollback to each version
}

func newListing(log *HistoryLog, cur Current, curErr error) *listing {
	l := &listing{Listing: &Listing{Warnings: log.Skipped}, decided: map[string]HistoryRecord{}, rolledBack: map[string]*RollbackInfo{}}
	for _, h := range log.Records {
		switch h.Event {
		case DecisionRolledBack:
			l.rolledBack[h.VersionID] = &RollbackInfo{VersionID: h.VersionID, Time: h.Time, PreviousVersionID: h.PreviousVersionID}
		case DecisionUnpinned:
		default:
			l.decided[h.VersionID] = h
		}
	}
	switch {
	case errors.Is(curErr, ErrNoCurrent):
	case curErr != nil:
		l.CurrentErr = curErr
	default:
		l.Current = cur
		if cur.Pinned {
			l.Pin = l.rolledBack[cur.VersionID]
			if l.Pin == nil {
				l.Pin = &RollbackInfo{VersionID: cur.VersionID} // its record was lost
			}
		}
	}
	return l
}

// add lists version id, given its metadata or why it cannot be read.
func (l *listing) add(id string, meta *Metadata, err error) {
	current := id == l.Current.VersionID
	v := VersionInfo{VersionID: id, Current: current, Pinned: current && l.Current.Pinned, RolledBack: l.rolledBack[id]}
	if err != nil {
		v.Error = err.Error()
	} else {
		v.TrainedAt, v.Metric, v.TrainingDataFile = meta.TrainedAt, meta.Metric, meta.TrainingDataFile
	}
	v.Decision, v.Reason = undecided(current)
	if h, ok := l.decided[id]; ok {
		v.Decision, v.Reason = h.Event, h.Reason
	}
	l.Versions = append(l.Versions, v)
}

// finish orders the versions newest first and checks the version CURRENT
// names: listed and readable, then loaded (load).
func (l *listing) finish(load func() error) {
	slices.Reverse(l.Versions) // listed by name, and ids sort by time
	if id := l.Current.VersionID; id != "" {
		i := slices.IndexFunc(l.Versions, func(v VersionInfo) bool { return v.VersionID == id })
		switch {
		case i < 0:
			l.CurrentErr = fmt.Errorf("CURRENT names version %s, which does not exist or is incomplete: %w", id, ErrVersionNotFound)
		case l.Versions[i].Error != "":
			l.CurrentErr = fmt.Errorf("CURRENT names version %s, which cannot be read: %s: %w", id, l.Versions[i].Error, ErrCorruptVersion)
		default:
			if err := load(); err != nil {
				l.CurrentErr = fmt.Errorf("CURRENT names version %s, which would not be served: %w", id, err)
			}
		}
	}
	if l.CurrentErr != nil {
		l.CurrentError = l.CurrentErr.Error()
	}
}
