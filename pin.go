package mlservice

// Operators' moves of CURRENT: Rollback (which pins), PromoteVersion (which
// does not) and Unpin. The pin is CURRENT's second line (see pinnedLine), so
// it moves with CURRENT in one compare-and-swap: a rename under the lock on
// a directory, one conditional PUT on an object store.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mlservice/mlservice/storage"
)

// MoveOptions are the options of Rollback and PromoteVersion. The zero value
// refuses a move to a version of another schema.
type MoveOptions struct {
	// AllowSchemaChange lets CURRENT move to a version whose schema differs
	// from the current version's, as Candidate.AllowSchemaChange lets a
	// candidate be promoted: clients of the API built for the current schema
	// break. Without it such a move fails with ErrSchemaChange.
	AllowSchemaChange bool
}

func moveOptions(opts []MoveOptions) MoveOptions {
	if len(opts) > 0 {
		return opts[0]
	}
	return MoveOptions{}
}

// pinDecision turns d into a rejection because CURRENT is pinned to id. The
// comparison made without the pin stays in the reason, and in the metadata's
// promotion.wins, so that a day that lost only to the pin is not skipped as
// already tried once the pin is lifted.
func pinDecision(d *Decision, id string) {
	d.Pinned, d.beat, d.Promoted = true, d.Promoted, false
	d.PreviousVersionID = id
	d.Reason = fmt.Sprintf("pinned by rollback to %s (trainer unpin lifts the pin); without the pin: %s", id, d.Reason)
}

// moveRecord checks a move of CURRENT to version v (event rolled_back or
// promoted) against what CURRENT says now (cur, its version curV or why it
// cannot be loaded) and returns its history record: the schema guard, and
// both figures the recorded F1 (no comparison is made).
func moveRecord(event string, v *servingVersion, cur Current, curV *servingVersion, curErr error, opts MoveOptions) (HistoryRecord, error) {
	rec := HistoryRecord{Time: time.Now().UTC(), Event: event, VersionID: v.id, Metric: &v.meta.Metric,
		TrainingDataFile: v.meta.TrainingDataFile, PreviousVersionID: cur.VersionID, Pinned: event == DecisionRolledBack}
	if event == DecisionRolledBack {
		rec.Reason = "rollback requested; CURRENT is pinned to it: training runs are rejected until trainer unpin"
	} else {
		rec.Reason = "promoted by hand (trainer promote), without comparing F1"
		if cur.Pinned {
			rec.Reason += fmt.Sprintf("; the pin on %s is lifted", cur.VersionID)
		}
	}
	if cur.VersionID == "" || curErr != nil {
		return rec, nil // nothing that serves now to compare schemas with
	}
	prev := curV.meta.Metric.Value
	rec.PreviousMetric, rec.PreviousMetricStored = &prev, &prev
	if have, want := curV.schema, v.schema; have.Hash() != want.Hash() {
		if !opts.AllowSchemaChange {
			return rec, fmt.Errorf("version %s has schema %s, the current version %s has %s (%s); clients of the current version would break (allow it with -allow-schema-change): %w",
				v.id, want.ID(), cur.VersionID, have.ID(), schemaDiff(have, want), ErrSchemaChange)
		}
		rec.SchemaChanged = true
		rec.Reason += fmt.Sprintf("; schema changed from %s to %s (%s), allowed: clients of the API built for %s break", have.ID(), want.ID(), schemaDiff(have, want), have.ID())
	}
	return rec, nil
}

// Rollback makes versionID current again and pins it there: until Unpin
// (or PromoteVersion, or a Rollback to another version) every Promote is
// rejected with the reason "pinned by rollback to <id>", so the next better
// training run does not undo the rollback. The version must be complete and
// pass the same checks a Store makes on load (checksum, schema, self-test);
// a version whose schema differs from the current one's needs
// MoveOptions.AllowSchemaChange (else ErrSchemaChange). CURRENT and its pin

// Rollback makes versionID current again and pins it there: until Unpin
// (or PromoteVersion, or a Rollback to another version) every Promote is
// rejected with the reason "pinned by rollback to <id>", so the next better
// training run does not undo the rollback. The version must be complete and
// pass the same checks a Store makes on load (checksum, schema, self-test);
// a version whose schema differs from the current one's needs
// MoveOptions.AllowSchemaChange (else ErrSchemaChange). CURRENT and its pin
// change in one compare-and-swap, so a trainer racing it either finishes
// before (and the rollback replaces its promotion) or reads the pin and is
// rejected; the move is recorded in the history. opts holds at most one
// MoveOptions.
func (a *Artifacts) Rollback(ctx context.Context, versionID string, opts ...MoveOptions) (*HistoryRecord, error) {
	rec, err := a.move(ctx, versionID, DecisionRolledBack, moveOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("rollback: %w", err)
	}
	return rec, nil
}

// Rollback is Artifacts.Rollback on the artifacts directory artifactsDir.
func Rollback(ctx context.Context, artifactsDir, versionID string, opts ...MoveOptions) (*HistoryRecord, error) {
	return DirArtifacts(artifactsDir).Rollback(ctx, versionID, opts...)
}

// PromoteVersion makes versionID current without a pin, as an operator's
// choice: no F1 is compared, and later training runs compete with it as
// with any promoted version. It lifts a pin. The checks, the schema guard,
// the write and the record are Rollback's; the record's event is promoted.
func (a *Artifacts) PromoteVersion(ctx context.Context, versionID string, opts ...MoveOptions) (*HistoryRecord, error) {
	rec, err := a.move(ctx, versionID, DecisionPromoted, moveOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("promote %s: %w", versionID, err)
	}
	return rec, nil
}

// PromoteVersion is Artifacts.PromoteVersion on the artifacts directory
// artifactsDir.
func PromoteVersion(ctx context.Context, artifactsDir, versionID string, opts ...MoveOptions) (*HistoryRecord, error) {
	return DirArtifacts(artifactsDir).PromoteVersion(ctx, versionID, opts...)
}

// move points CURRENT at versionID (pinned for a rollback) by a
// compare-and-swap on the tag read when checking; a writer that loses the
// race reads CURRENT again and checks again.
func (a *Artifacts) move(ctx context.Context, versionID, event string, opts MoveOptions) (*HistoryRecord, error) {
	if !ValidVersionID(versionID) {
		return nil, fmt.Errorf("%q: %w", truncate(versionID, 80), ErrBadVersionID)
	}
	w, err := a.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer w.unlock()
	v, err := a.loadVersion(ctx, versionID)
	if err != nil {
		return nil, err
	}
	next := Current{VersionID: versionID, Pinned: event == DecisionRolledBack}
	for attempt := 1; ; attempt++ {
		cur, tag, curV, curErr := a.current(ctx)
		if errors.Is(curErr, storage.ErrUnreachable) {
			return nil, curErr
		}
		rec, err := moveRecord(event, v, cur, curV, curErr, opts)
		if err != nil {
			return nil, err
		}
		won, err := a.swapCurrent(ctx, next, tag)
		if err != nil {
			return nil, err
		}
		if won {
			if err := a.appendHistory(ctx, rec); err != nil {
				return nil, err
			}
			rec.Warnings = w.skipped
			return &rec, nil
		}
		if attempt == maxCASAttempts {
			return nil, fmt.Errorf("%s moved under %d attempts in a row", currentFile, attempt)
		}
	}
}

// Unpin lifts the pin a Rollback put on the current version: CURRENT keeps
// naming it, and training runs compete with it again. CURRENT is rewritten
// by a compare-and-swap, so a racing rollback or promotion is never lost,
// and the unpin is recorded in the history (event unpinned). When CURRENT
// is not pinned Unpin changes nothing and returns a nil record; with no
// CURRENT it returns ErrNoCurrent.
func (a *Artifacts) Unpin(ctx context.Context) (*HistoryRecord, error) {
	w, err := a.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("unpin: %w", err)
	}
	defer w.unlock()
	for attempt := 1; ; attempt++ {
		cur, tag, err := a.readCurrent(ctx)
		if err != nil {
			return nil, fmt.Errorf("unpin: %w", err)
		}
		if !cur.Pinned {
			return nil, nil
		}
		won, err := a.swapCurrent(ctx, Current{VersionID: cur.VersionID}, tag)
		if err != nil {
			return nil, fmt.Errorf("unpin: %w", err)
		}
		if won {
			rec := unpinRecord(cur.VersionID)
			if err := a.appendHistory(ctx, rec); err != nil {
				return nil, fmt.Errorf("unpin: %w", err)
			}
			rec.Warnings = w.skipped
			return &rec, nil
		}
		if attempt == maxCASAttempts {
			return nil, fmt.Errorf("unpin: %s moved under %d attempts in a row", currentFile, attempt)
		}
	}
}

// Unpin is Artifacts.Unpin on the artifacts directory artifactsDir.
func Unpin(ctx context.Context, artifactsDir string) (*HistoryRecord, error) {
	return DirArtifacts(artifactsDir).Unpin(ctx)
}

func unpinRecord(id string) HistoryRecord {
	return HistoryRecord{Time: time.Now().UTC(), Event: DecisionUnpinned, VersionID: id,
		Reason: "unpin requested: training runs compete with it again"}
}
