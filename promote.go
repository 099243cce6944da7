package mlservice

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/mlservice/mlservice/model"
	"github.com/mlservice/mlservice/storage"
)

// The artifact layout, the same on every backend (keys under an object
// store's prefix, paths under a directory):
//
//	models/CURRENT                          the serving version id, then "pinned" while a rollback pins it
//	models/versions/<version_id>/model.json
//	models/versions/<version_id>/metadata.json
//	models/versions/<version_id>/schema.json    the resolved schema
//	models/versions/<version_id>/manifest.json  size and SHA-256 of the others, written last
//	models/history.jsonl                    one JSON line per decision (models/history/ on an object store)
const (
	modelsDir    = storage.ModelsDir
	versionsDir  = storage.VersionsDir
	currentFile  = storage.CurrentFile
	historyFile  = "history.jsonl"
	modelFile    = "model.json"
	metadataFile = "metadata.json"
	schemaFile   = "schema.json"        // the resolved schema the model was trained on
	manifestFile = storage.ManifestFile // written last: see manifest
)

// Events recorded in history.jsonl, and the decisions Versions reports.
const (
	DecisionPromoted   = "promoted" // CURRENT was moved to the version
	DecisionRejected   = "rejected"
	DecisionRolledBack = "rolled_back" // CURRENT was moved back to the version, and pinned there
	DecisionUnpinned   = "unpinned"    // the pin on the version was lifted; CURRENT did not move
	// DecisionInterrupted: the version was published but its writer stopped
	// before recording a decision, and CURRENT does not name it.
	DecisionInterrupted = "interrupted"
)

// versionIDPattern is the only shape a version id may have: a UTC time to the
// microsecond and 32 random bits. Ids sort by time, concurrent trainers
// cannot collide, and an id read from CURRENT can never name a path outside
// versions/.
var versionIDPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[0-9a-f]{8}$`)

// ValidVersionID reports whether id has the strict version id shape.
func ValidVersionID(id string) bool { return versionIDPattern.MatchString(id) }

func newVersionID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return t.UTC().Format("20060102T150405.000000Z") + "-" + hex.EncodeToString(b[:])
}

// Decision reports what Promote did with a candidate.
type Decision struct {
	VersionID         string `json:"model_version_id"`
	Promoted          bool   `json:"promoted"` // CURRENT names the version now
	Reason            string `json:"reason"`
	PreviousVersionID string `json:"previous_version_id"` // the version current before; "" if none
	// PreviousMetric is the previous version's figure under Rule on the
	// candidate's evaluation rows, the figure compared; PreviousMetricStored
	// that metric as recorded with it. Both nil if none was current or it
	// was unreadable, or its schema differs; the stored one also when it
	// records no such figure.
	PreviousMetric       *float64 `json:"previous_metric"`
	PreviousMetricStored *float64 `json:"previous_metric_stored"`
	// Rule is the promotion rule the decision applied, defaults filled in.
	Rule PromotionRule `json:"rule"`
	// Warning is set when the decision took effect but could not be
	// recorded in history.jsonl; the next writer records it.
	Warning string `json:"warning,omitempty"`
	// Pinned is set when the candidate was rejected because a rollback
	// pinned the current version (PreviousVersionID); Reason then begins
	// "pinned by rollback to".
	Pinned bool `json:"pinned,omitempty"`
	// HistoryWarnings names the lines of history that were skipped because
	// they are not records (see HistoryLog.Skipped).
	HistoryWarnings []string `json:"history_warnings,omitempty"`
	Metadata        Metadata `json:"-"` // as written to metadata.json
	beat            bool     // pinned, but it won the comparison
}

// Promote writes the candidate as a new version and makes it current when
// it beats the current version under the candidate's PromotionRule (by
// default: its F1 strictly greater), both scored on the candidate's
// evaluation rows (see decideAgainst; always when no version is current, or
// the current one cannot be read), unless a rollback pinned the current
// version: then the candidate is rejected, "pinned by rollback to <id>"
// (see Rollback, Unpin). A rejected version is kept. The decision is
// recorded in the history after CURRENT moved: a version is promoted when
// history says so or CURRENT names it, never on the word of its metadata.
//
// One loop on every backend: take the lock if the backend has one, read
// CURRENT and its tag, decide, write the version (committed whole: renamed
// into place, or by its manifest written last), compare-and-swap CURRENT on
// the tag, record the decision. A writer whose swap is refused lost a race
// to another writer (only possible without an exclusive lock): it reads
// CURRENT again and decides again, rewriting the version only if the
// comparison changed. So trainers finishing at the same moment, in any
// process, are decided one after the other, each against the version the
// previous one left current, and a crash at any instant leaves CURRENT
// naming a complete version.
//
// A stop (ctx ended) before the version is written writes nothing, and one
// after it is written but before CURRENT moves takes it back again; if that
// fails the version is listed as interrupted, never as promoted. Past that
// last check the swap and its record are carried through, since the
// decision then stands. An error means CURRENT does not name the version.
// Once it does (or the decision is a rejection), Promote returns the
// decision: if the history cannot be written then, Decision.Warning says
// so.
func (a *Artifacts) Promote(ctx context.Context, c *Candidate) (*Decision, error) {
	modelJSON, err := encodeCandidate(c)
	if err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	w, err := a.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	defer w.unlock()
	id := newVersionID(time.Now())
	var d *Decision
	written := false // some of the version may exist
	for attempt := 1; ; attempt++ {
		decidedAt := time.Now().UTC()
		cur, tag, v, err := a.current(ctx)
		if cerr := ctx.Err(); cerr != nil {
			return nil, a.stopped(ctx, id, written, cerr)
		}
		if errors.Is(err, storage.ErrUnreachable) {
			return nil, fmt.Errorf("promote: %w", err)
		}
		next := decideAgainst(c, id, cur.VersionID, v, err)
		if cur.Pinned {
			pinDecision(next, cur.VersionID)
		}
		next.HistoryWarnings = w.skipped
		// The version's files carry the comparison; they are written again
		// only when a lost race changed it. The version is not current (the
		// lost swap wrote nothing), so no reader serves it.
		if d == nil || !sameComparison(d, next) {
			files, err := next.versionFiles(c, modelJSON)
			if err != nil {
				return nil, fmt.Errorf("promote: %w", err)
			}
			if cerr := ctx.Err(); cerr != nil {
				return nil, a.stopped(ctx, id, written, cerr)
			}
			written = true
			if err := a.writeVersion(ctx, id, files); err != nil {
				if cerr := ctx.Err(); cerr != nil {
					return nil, a.stopped(ctx, id, written, cerr)
				}
				return nil, fmt.Errorf("promote: %w", err)
			}
		} else {
			next.Metadata = d.Metadata
		}
		d = next
		// The last point a stop is honoured: nothing is decided yet.
		if cerr := ctx.Err(); cerr != nil {
			return nil, a.stopped(ctx, id, written, cerr)
		}
		commit, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		if !d.Promoted {
			a.record(commit, d, DecisionRejected, decidedAt)
			cancel()
			return d, nil
		}
		won, err := a.swapCurrent(commit, Current{VersionID: id}, tag)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("promote: %w", err)
		}
		if won {
			a.record(commit, d, DecisionPromoted, decidedAt)
			cancel()
			return d, nil
		}
		cancel()
		if attempt == maxCASAttempts {
			return nil, fmt.Errorf("promote: %s moved under %d attempts in a row", currentFile, attempt)
		}
	}
}

// Promote is Artifacts.Promote on the artifacts directory artifactsDir:
// the version directory is written under a temporary name, fsynced and
// renamed into place; CURRENT is replaced by writing a temporary file,
// fsyncing, renaming and fsyncing the directory; all of it under an
// exclusive lock on models/.lock.
func Promote(ctx context.Context, artifactsDir string, c *Candidate) (*Decision, error) {
	return DirArtifacts(artifactsDir).Promote(ctx, c)
}

// maxCASAttempts bounds how often a writer decides again after losing the
// race for CURRENT. Each loss means another writer moved CURRENT, so this
// many in a row means that many writers finished at once.
const maxCASAttempts = 100

// commitTimeout bounds the swap of CURRENT and its record once a promotion
// is past its last check for a stop.
const commitTimeout = 30 * time.Second

// writeVersion writes a version's files, then its manifest: the commit.
func (a *Artifacts) writeVersion(ctx context.Context, id string, files map[string][]byte) error {
	man, err := encodeManifest(id, files)
	if err != nil {
		return fmt.Errorf("encode %s: %w", manifestFile, err)
	}
	return a.b.WriteVersion(ctx, id, files, man)
}

// swapCurrent makes CURRENT say next if its tag is still tag ("" when
// there was no CURRENT). It reports false, with no error, when another
// writer moved CURRENT first. A swap whose outcome is unknown (an error
// after the write may have landed) is settled by reading CURRENT back, so
// that a move that took effect is never reported as failed.
func (a *Artifacts) swapCurrent(ctx context.Context, next Current, tag string) (bool, error) {
	err := a.b.SwapCurrent(ctx, currentBytes(next), tag)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrPreconditionFailed):
		return false, nil
	}
	if now, _, rerr := a.readCurrent(ctx); rerr == nil && now == next {
		return true, nil
	}
	return false, fmt.Errorf("update %s: %w", currentFile, err)
}

// stopped is Promote's error for a stop (cause) before CURRENT moved. If
// the version was (perhaps partly) written it is taken back, commit first,
// on a context of its own, since ctx has ended.
func (a *Artifacts) stopped(ctx context.Context, id string, written bool, cause error) error {
	if !written {
		return fmt.Errorf("promote: stopped before writing version %s: %w", id, cause)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := a.b.RemoveVersion(rctx, id); err != nil {
		return fmt.Errorf("promote: stopped before deciding version %s (%w), and removing it failed: %v; it will be listed as interrupted", id, cause, err)
	}
	return fmt.Errorf("promote: stopped before deciding version %s, removed it: %w", id, cause)
}

// sameComparison reports whether two decisions for one candidate record the
// same comparison, so its metadata need not be written again.
func sameComparison(a, b *Decision) bool {
	eq := func(x, y *float64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.Promoted == b.Promoted && a.Reason == b.Reason && a.PreviousVersionID == b.PreviousVersionID &&
		eq(a.PreviousMetric, b.PreviousMetric) && eq(a.PreviousMetricStored, b.PreviousMetricStored)
}

// record writes the history record of decision d, event at time at (when
// CURRENT was read for it); a failure becomes d.Warning: the decision
// stands.
func (a *Artifacts) record(ctx context.Context, d *Decision, event string, at time.Time) {
	if err := a.appendHistory(ctx, decisionRecord(d, event, at)); err != nil {
		next := "promoted, since CURRENT names it"
		if !d.Promoted {
			next = "interrupted, since CURRENT does not name it"
		}
		d.Warning = fmt.Sprintf("version %s is %s, but its history record could not be written (%v); listings show it as %s",
			d.VersionID, event, err, next)
	}
}

// encodeCandidate checks c and returns model.json's bytes.
func encodeCandidate(c *Candidate) ([]byte, error) {
	if err := c.checkModel(); err != nil {
		return nil, err
	}
	rule, err := c.Rule.withDefaults()
	if err != nil {
		return nil, err
	}
	if m := c.Metadata.Metric; m.Name != rule.Metric {
		return nil, fmt.Errorf("the candidate's metric is %q, its rule compares %q (set TrainOptions.Rule, not Candidate.Rule, to change it)", truncate(m.Name, 80), rule.Metric)
	}
	if v := c.Metadata.Metric.Value; math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("metric %s %v is not a number", rule.Metric, v)
	}
	modelJSON, err := json.MarshalIndent(c.Model, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode model: %w", err)
	}
	return append(modelJSON, '\n'), nil
}

// decideAgainst compares candidate c, to be version id, with the current
// version cur (loaded as v, or failing to load with err) under the
// candidate's rule. Both figures come from the same rows: the current
// version is re-scored on the candidate's evaluation rows (its recorded
// figure came from another day's split, and perhaps under another rule's
// metric). A current version that cannot be loaded does not count, and one
// that cannot be re-scored is compared by its recorded figure; the reason
// says which. c has passed encodeCandidate, so its rule is valid.
func decideAgainst(c *Candidate, id, cur string, v *servingVersion, err error) *Decision {
	rule, _ := c.Rule.withDefaults()
	d := &Decision{VersionID: id, Rule: rule}
	switch {
	case err != nil:
		d.PreviousVersionID = cur
		d.Promoted, d.Reason = true, fmt.Sprintf("the current version is unreadable, so nothing to compare with: %v", err)
		return d
	case cur == "":
		d.Promoted, d.Reason = true, "no version is current"
		return d
	}
	d.PreviousVersionID = cur
	if want, have := c.schema(), v.schema; want.Hash() != have.Hash() {
		if !c.AllowSchemaChange {
			d.Reason = fmt.Sprintf("schema changed from %s to %s: %s; refused, since clients of the current version would break (allow it with -allow-schema-change)",
				have.ID(), want.ID(), schemaDiff(have, want))
			return d
		}
		d.Promoted, d.Reason = true, fmt.Sprintf("schema changed from %s to %s (%s), allowed: promoted without comparing %s, since the current version cannot score rows of another schema",
			have.ID(), want.ID(), schemaDiff(have, want), rule.Metric)
		return d
	}
	if stored, ok := recordedMetric(v.meta, rule.Metric); ok {
		d.PreviousMetricStored = &stored
	}
	prev, basis, ok := rescore(v, c.eval, rule)
	if !ok {
		d.Promoted, d.Reason = true, fmt.Sprintf("the current version %s records no %s and %s, so nothing to compare with; rule: %s", cur, rule.Metric, basis, rule)
		return d
	}
	d.PreviousMetric = &prev
	cand := c.Metadata.Metric.Value
	d.Promoted = rule.beats(cand, prev)
	d.Reason = comparison(rule, cand, prev, d.Promoted) + " " + basis + "; rule: " + rule.String()
	return d
}

// comparison is the head of a decision's reason: the candidate's figure
// against the current version's under rule, and the outcome.
func comparison(rule PromotionRule, cand, prev float64, won bool) string {
	if rule.MinDelta == 0 {
		op := "<="
		switch {
		case rule.lowerIsBetter() && won:
			op = "<"
		case rule.lowerIsBetter():
			op = ">="
		case won:
			op = ">"
		}
		return fmt.Sprintf("%s %.6f %s current %.6f", rule.Metric, cand, op, prev)
	}
	g := rule.gain(cand, prev)
	verdict := fmt.Sprintf("better by %.6g, more than min delta %g", g, rule.MinDelta)
	switch {
	case !won && g > 0:
		verdict = fmt.Sprintf("better by %.6g, not more than min delta %g", g, rule.MinDelta)
	case !won:
		verdict = fmt.Sprintf("not better (by %.6g), min delta %g", g, rule.MinDelta)
	}
	return fmt.Sprintf("%s %.6f vs current %.6f: %s,", rule.Metric, cand, prev, verdict)
}

// rescore returns the figure under rule of version v on the rows in eval,
// and the basis of the figure for the decision's reason. Without rows (a
// Candidate built by hand or decoded from JSON) it returns v's recorded
// figure, and false if v records none for rule's metric.
func rescore(v *servingVersion, eval *Dataset, rule PromotionRule) (float64, string, bool) {
	name := rule.Metric
	stored, recorded := recordedMetric(v.meta, name)
	fallback := func(why string) (float64, string, bool) {
		if !recorded {
			return 0, why, false
		}
		return stored, fmt.Sprintf("(its recorded %s: %s)", name, why), true
	}
	if eval == nil || eval.Len() == 0 {
		return fallback("the candidate carries no evaluation rows")
	}
	m, err := model.Evaluate(eval.Y, scores(v.model, eval), nil) // the model as it serves
	if err != nil {
		return fallback(fmt.Sprintf("re-scoring it failed: %v", err))
	}
	basis := fmt.Sprintf("on the same %d evaluation rows (its recorded %s: none)", eval.Len(), name)
	if recorded {
		basis = fmt.Sprintf("on the same %d evaluation rows (its recorded %s: %.6f)", eval.Len(), name, stored)
	}
	return rule.value(m), basis, true
}

// fillMetadata completes the candidate's metadata for version d and returns
// metadata.json's bytes. The metadata records the comparison, not its
// outcome: that is only known once CURRENT has moved.
func (d *Decision) fillMetadata(c *Candidate, modelJSON []byte) ([]byte, error) {
	sum := sha256.Sum256(modelJSON)
	meta := c.Metadata
	meta.ModelVersionID = d.VersionID
	meta.ModelFile = modelFile
	meta.ModelSHA256 = hex.EncodeToString(sum[:])
	meta.Promotion = Promotion{Wins: d.Promoted || d.beat, Reason: d.Reason, PreviousVersionID: d.PreviousVersionID,
		PreviousMetric: d.PreviousMetric, PreviousMetricStored: d.PreviousMetricStored, Rule: d.Rule}
	metaJSON, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	if len(metaJSON) >= maxVersionFileSize {
		// A version no loader would read must not be written.
		return nil, fmt.Errorf("encode metadata: %s would have %d bytes, the limit is %d", metadataFile, len(metaJSON), maxVersionFileSize)
	}
	d.Metadata = meta
	return append(metaJSON, '\n'), nil
}

// versionFiles completes the candidate's metadata for version d (see
// fillMetadata) and returns the version's files, the manifest aside:
// model.json, metadata.json and schema.json. Both kinds of artifacts write
// exactly these.
func (d *Decision) versionFiles(c *Candidate, modelJSON []byte) (map[string][]byte, error) {
	metaJSON, err := d.fillMetadata(c, modelJSON)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{modelFile: modelJSON, metadataFile: metaJSON, schemaFile: c.schema().MarshalIndent()}
	for name, data := range files {
		if len(data) >= fileLimit(name) { // a version no loader would read must not be written
			return nil, fmt.Errorf("%s would have %d bytes, the limit is %d", name, len(data), fileLimit(name))
		}
	}
	return files, nil
}

// TrainedAlready returns the metadata of the current version if it was
// trained on the same data as ds (same SHA-256) with the parameters opts
// gives (class weighting, C, and the same split seed and fraction or the
// same evaluation file): training again would only add an identical version
// under a new id. Failing that, it returns the metadata of a version trained
// so that was already rejected against the version current now, for the
// reason that would reject it again (see rejectedAgainst). It returns nil
// when no version is current, the current one cannot be loaded (then
// training goes ahead and Promote decides) or neither is found, and an error
// only for options Train would refuse. It takes no lock and is cheap enough
// to call before Train: the search reads one metadata file per version.
func (a *Artifacts) TrainedAlready(ctx context.Context, ds *Dataset, opts TrainOptions) (*Metadata, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if ds == nil || ds.SHA256 == "" {
		return nil, nil // rows built by hand have no identity
	}
	cur, _, err := a.readCurrent(ctx)
	if err != nil {
		return nil, nil
	}
	v, err := a.loadVersion(ctx, cur.VersionID)
	if err != nil {
		return nil, nil
	}
	if sameTraining(v, ds, opts) {
		return v.meta, nil
	}
	ids, err := a.b.Versions(ctx)
	if err != nil {
		return nil, nil // training goes ahead and Promote decides
	}
	// A filter only: the version found is loaded, and so checked, in full.
	readMeta := func(id string) (*Metadata, error) {
		data, err := a.b.ReadVersionFile(ctx, id, metadataFile, maxVersionFileSize)
		if err != nil {
			return nil, err
		}
		return decodeMetadata(id, map[string][]byte{metadataFile: data})
	}
	load := func(id string) (*servingVersion, error) { return a.loadVersion(ctx, id) }
	return rejectedAgainst(v, ids, ds, opts, readMeta, load), nil
}

// TrainedAlready is Artifacts.TrainedAlready on the artifacts directory
// artifactsDir.
func TrainedAlready(artifactsDir string, ds *Dataset, opts TrainOptions) (*Metadata, error) {
	return DirArtifacts(artifactsDir).TrainedAlready(context.Background(), ds, opts)
}

func schemaOf(ds *Dataset) *Schema {
	if ds.Schema == nil {
		return defaultSchema()
	}
	return ds.Schema
}

// rejectedAgainst returns the metadata of a version among ids, trained on ds
// with opts (already defaulted), that was rejected against cur, the version
// current now, for a reason that still holds: the same train would be
// decided the same way again, so a rerun (make train of a day already
// tried) would only pile up rejected copies. That is a loss under the same
// promotion rule when ds has cur's schema, and a refused schema change when
// it has not, unless opts now allows the change. A loss under another rule
// does not count: under this one the day may win. Versions whose metadata
// (read by readMeta) names other data are passed over without loading them;
// the one found is loaded in full by load.
func rejectedAgainst(cur *servingVersion, ids []string, ds *Dataset, opts TrainOptions,
	readMeta func(id string) (*Metadata, error), load func(id string) (*servingVersion, error)) *Metadata {
	schemaChange := cur.schema.Hash() != schemaOf(ds).Hash()
	if schemaChange && opts.AllowSchemaChange {
		return nil // allowed now, so it would be promoted
	}
	slices.Sort(ids)
	for _, id := range slices.Backward(ids) { // newest first
		if !ValidVersionID(id) || id == cur.id {
			continue
		}
		m, err := readMeta(id)
		if err != nil || m.Data.SHA256 != ds.SHA256 || m.Promotion.Wins || m.Promotion.PreviousVersionID != cur.id {
			continue
		}
		// With ds's schema the version was compared with cur on the
		// metric only when their schemas agree: else it was refused.
		if rule, err := m.Promotion.Rule.withDefaults(); !schemaChange && (err != nil || rule != opts.Rule) {
			continue
		}
		if v, err := load(id); err == nil && sameTraining(v, ds, opts) {
			return v.meta
		}
	}
	return nil
}

// sameTraining reports whether version v was trained on ds, under the same
// schema, with opts (already defaulted): TrainedAlready's test.
func sameTraining(v *servingVersion, ds *Dataset, opts TrainOptions) bool {
	m := v.meta
	same := v.schema.Hash() == schemaOf(ds).Hash() && m.Data.SHA256 == ds.SHA256 && cmp.Or(m.Params.Family, FamilyLogistic) == opts.Family
	switch opts.Family {
	case FamilyLogistic:
		same = same && (m.Params.ClassWeight != nil) == opts.BalancedClassWeight && m.Params.C == opts.C
	case FamilyAuto: // the weighting asked for, whichever family won
		same = same && m.Params.Auto != nil && m.Params.Auto.BalancedClassWeight == opts.BalancedClassWeight && m.Params.C == opts.C
	}
	if opts.Family != FamilyLogistic {
		same = same && m.Params.TreeOptions != nil && *m.Params.TreeOptions == *opts.treeSettings()
	}
	if opts.Eval != nil {
		same = same && m.Data.Split == "file" && opts.Eval.SHA256 != "" && m.Data.EvalSHA256 == opts.Eval.SHA256
	} else {
		same = same && m.Data.Split == "stratified" && m.Data.Seed == opts.Seed && m.Data.TestFraction == opts.TestFraction
	}
	return same
}

// decisionRecord is the history record of decision d, event at time at.
func decisionRecord(d *Decision, event string, at time.Time) HistoryRecord {
	return HistoryRecord{Time: at, Event: event, VersionID: d.VersionID,
		Metric: &d.Metadata.Metric, PreviousVersionID: d.PreviousVersionID, PreviousMetric: d.PreviousMetric,
		PreviousMetricStored: d.PreviousMetricStored, Reason: d.Reason, TrainingDataFile: d.Metadata.TrainingDataFile,
		Rule: &d.Rule}
}

// undecided is the decision of a version history has no record of. Promote
// appends its record after CURRENT moved, so such a version is promoted only
// if CURRENT names it; otherwise its writer died (or is still running)
// before moving CURRENT.
func undecided(current bool) (decision, reason string) {
	if current {
		return DecisionPromoted, "CURRENT names it; its writer stopped before recording the decision"
	}
	return DecisionInterrupted, "no decision recorded: its writer stopped (or is still running) before moving CURRENT"
}
