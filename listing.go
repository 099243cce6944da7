package mlservice

// Listings: every version with its decision, what CURRENT says and its pin,
// and the history lines that had to be skipped. `trainer versions`, GET
// /versions and the history page read the same Listing.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

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

// Versions lists every complete version under artifactsDir, newest first;
// List says more.
func Versions(artifactsDir string) ([]VersionInfo, error) {
	l, err := List(artifactsDir)
	if err != nil {
		return nil, err
	}
	return l.Versions, nil
}

// List lists every complete version under artifactsDir, newest first, with
// its metric and the decision recorded for it in history.jsonl, and what
// CURRENT says. A version with no record is promoted if CURRENT names it and
// interrupted otherwise: metadata.json is never the source of a decision.
// The current version is loaded as a Store would load it, so that a CURRENT
// naming a missing or corrupt version shows in CurrentErr. List takes no
// lock and never lists a version that is still being written. A history
// line that is not a record is skipped and named in Warnings.
func List(artifactsDir string) (*Listing, error) {
	dir := filepath.Join(artifactsDir, modelsDir, versionsDir)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list versions: %w", pathless(err))
	}
	log, err := ReadHistoryLog(artifactsDir)
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	cur, curErr := readCurrentState(artifactsDir)
	l := newListing(log, cur, curErr)
	for _, e := range entries {
		id := e.Name()
		if !ValidVersionID(id) {
			continue // temporary directories start with a dot
		}
		var meta *Metadata
		var err error
		if !e.IsDir() {
			err = fmt.Errorf("%s is not a directory (%v)", versionRel(id), e.Type())
		} else {
			meta, err = readMetadata(artifactsDir, id)
		}
		l.add(id, meta, err)
	}
	l.finish(func() error {
		_, err := loadVersion(artifactsDir, l.Current.VersionID)
		return err
	})
	return l.Listing, nil
}

// list is List on an object store: committed versions only.
func (o bucketArtifacts) list(ctx context.Context) (*Listing, error) {
	keys, err := o.b.List(ctx, path.Join(modelsDir, versionsDir)+"/")
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", classify(err))
	}
	var ids []string
	for _, k := range keys {
		rest := strings.TrimPrefix(k, path.Join(modelsDir, versionsDir)+"/")
		id, name, ok := strings.Cut(rest, "/")
		if ok && name == manifestFile && ValidVersionID(id) {
			ids = append(ids, id) // committed
		}
	}
	log, err := o.history(ctx)
	if err != nil {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	cur, _, curErr := o.readCurrentState(ctx)
	l := newListing(log, cur, curErr)
	for _, id := range ids {
		files, err := o.readVersionFiles(ctx, id)
		var meta *Metadata
		if err == nil {
			meta, err = decodeMetadata(id, files)
		}
		l.add(id, meta, err)
	}
	l.finish(func() error {
		_, err := o.loadVersion(ctx, l.Current.VersionID)
		return err
	})
	return l.Listing, nil
}

// versions is Versions on an object store.
func (o bucketArtifacts) versions(ctx context.Context) ([]VersionInfo, error) {
	l, err := o.list(ctx)
	if err != nil {
		return nil, err
	}
	return l.Versions, nil
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
