package mlservice

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mlservice/mlservice/model"
)

// The artifact layout, under the artifacts directory:
//
//	models/CURRENT                          the serving version id, one line
//	models/versions/<version_id>/model.json
//	models/versions/<version_id>/metadata.json
//	models/versions/<version_id>/schema.json    the resolved schema
//	models/versions/<version_id>/manifest.json  size and SHA-256 of the others
//	models/history.jsonl                    one JSON line per decision
//	models/.lock                            held while a writer changes any of it
const (
	modelsDir    = "models"
	versionsDir  = "versions"
	currentFile  = "CURRENT"
	historyFile  = "history.jsonl"
	lockFile     = ".lock"
	modelFile    = "model.json"
	metadataFile = "metadata.json"
	schemaFile   = "schema.json"   // the resolved schema the model was trained on
	manifestFile = "manifest.json" // written last: see manifest
	tmpPrefix    = ".tmp-"
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

// Promote writes the candidate as a new version under artifactsDir and makes
// it current when it beats the current version under the candidate's
// PromotionRule (by default: its F1 strictly greater), both scored on the
// candidate's evaluation rows (see decide; always when no version is
// current, or the current one cannot be read), unless a rollback pinned the
// current version: then the candidate is rejected, "pinned by rollback to
// <id>" (see Rollback, Unpin).
// A rejected version keeps its directory. The decision is appended to
// models/history.jsonl after CURRENT moved: a version is promoted when
// history says so or CURRENT names it, never on the word of its metadata.
//
// The version directory is written under a temporary name, fsynced and
// renamed into place; CURRENT is replaced by writing a temporary file,
// fsyncing, renaming and fsyncing the directory. All of it runs under an
// exclusive lock on models/.lock, so trainers in other processes finishing
// at the same moment are decided one after the other, each against the
// version the previous one left current. A crash at any instant leaves
// CURRENT naming a complete version.
//
// An error means CURRENT did not move. Once the version is published and
// CURRENT is where the decision puts it, Promote returns the decision: if
// history.jsonl cannot be appended then, Decision.Warning says so.
func Promote(ctx context.Context, artifactsDir string, c *Candidate) (*Decision, error) {
	modelJSON, err := encodeCandidate(c)
	if err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	a, err := openArtifacts(ctx, artifactsDir)
	if err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	defer a.unlock()

	d := a.decide(c)
	d.HistoryWarnings = a.skipped
	files, err := d.versionFiles(c, modelJSON)
	if err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	// A stop asked for (SIGINT, SIGTERM) before CURRENT moves leaves nothing
	// behind; once CURRENT has moved the promotion stands and is recorded.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("promote: stopped before writing version %s: %w", d.VersionID, err)
	}
	if err := a.writeVersion(d.VersionID, files); err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	if err := ctx.Err(); err != nil {
		if rmErr := a.removeVersion(d.VersionID); rmErr != nil {
			return nil, fmt.Errorf("promote: stopped before deciding version %s (%w), and removing it failed: %v; it will be listed as interrupted", d.VersionID, err, rmErr)
		}
		return nil, fmt.Errorf("promote: stopped before deciding version %s, removed it: %w", d.VersionID, err)
	}
	event := DecisionRejected
	if d.Promoted {
		if err := writeFileAtomic(a.path(currentFile), []byte(d.VersionID+"\n")); err != nil {
			return nil, fmt.Errorf("promote: update %s: %w", currentFile, err)
		}
		event = DecisionPromoted
	}
	rec := decisionRecord(d, event, time.Now().UTC())
	if err := a.appendHistory(rec); err != nil {
		next := "promoted, since CURRENT names it"
		if !d.Promoted {
			next = "interrupted, since CURRENT does not name it"
		}
		d.Warning = fmt.Sprintf("version %s is %s, but %s could not record it (%v); the next writer records it as %s",
			d.VersionID, event, historyFile, err, next)
	}
	return d, nil
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

// decide compares the candidate with the current version under the
// candidate's rule and names the new version. Both figures come from the
// same rows: the current version is re-scored on the candidate's evaluation
// rows (its recorded figure came from another day's split, and perhaps
// under another rule's metric). A current version that cannot be loaded
// does not count, and one that cannot be re-scored is compared by its
// recorded figure; the reason says which.
func (a *artifacts) decide(c *Candidate) *Decision {
	cur, v, err := a.current()
	d := decideAgainst(c, newVersionID(time.Now()), cur.VersionID, v, err)
	if cur.Pinned {
		pinDecision(d, cur.VersionID)
	}
	return d
}

// decideAgainst makes decide's comparison of candidate c, to be version id,
// with the current version cur (loaded as v, or failing to load with err).
// c has passed encodeCandidate, so its rule is valid.
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
		if len(data) >= maxVersionFileSize { // a version no loader would read must not be written
			return nil, fmt.Errorf("%s would have %d bytes, the limit is %d", name, len(data), maxVersionFileSize)
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
// to call before Train.
func TrainedAlready(artifactsDir string, ds *Dataset, opts TrainOptions) (*Metadata, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if ds == nil || ds.SHA256 == "" {
		return nil, nil // rows built by hand have no identity
	}
	id, err := readCurrent(artifactsDir)
	if err != nil {
		return nil, nil
	}
	cur, err := loadVersion(artifactsDir, id)
	if err != nil {
		return nil, nil
	}
	if sameTraining(cur, ds, opts) {
		return cur.meta, nil
	}
	entries, err := os.ReadDir(filepath.Join(artifactsDir, modelsDir, versionsDir))
	if err != nil {
		return nil, nil
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return rejectedAgainst(cur, ids, ds, opts,
		func(id string) (*Metadata, error) { return readMetadata(artifactsDir, id) },
		func(id string) (*servingVersion, error) { return loadVersion(artifactsDir, id) }), nil
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
// schema, with opts (already defaulted): TrainedAlready's test, shared by
// both kinds of artifacts.
func sameTraining(v *servingVersion, ds *Dataset, opts TrainOptions) bool {
	m := v.meta
	same := v.schema.Hash() == schemaOf(ds).Hash() && m.Data.SHA256 == ds.SHA256 && (m.Params.ClassWeight != nil) == opts.BalancedClassWeight && m.Params.C == opts.C
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

// artifacts is an artifacts directory held under its lock.
type artifacts struct {
	root    string // the models directory
	lock    *os.File
	skipped []string // history lines recover skipped (HistoryLog.Skipped)
}

// openArtifacts creates the layout if needed, takes the exclusive lock
// (waiting for other writers, as long as ctx allows) and tidies up after any
// writer that crashed.
func openArtifacts(ctx context.Context, artifactsDir string) (*artifacts, error) {
	root := filepath.Join(artifactsDir, modelsDir)
	if err := os.MkdirAll(filepath.Join(root, versionsDir), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(root, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	notify, waitStart := lockWaitNotify(ctx), time.Now()
	for {
		locked, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", lockFile, err)
		}
		if locked {
			break
		}
		if notify != nil && time.Since(waitStart) >= LockWaitNotice {
			notify(f.Name())
			notify = nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	a := &artifacts{root: root, lock: f}
	if err := a.recover(); err != nil {
		a.unlock()
		return nil, err
	}
	return a, nil
}

func (a *artifacts) unlock() {
	_ = unlockFile(a.lock)
	a.lock.Close()
}

func (a *artifacts) path(name ...string) string {
	return filepath.Join(append([]string{a.root}, name...)...)
}

// current returns the current version id ("" if none) and the version,
// or the reason it cannot be loaded. The version gets the checks a Store
// makes on load (checksum, schema, self-test): a current version no Store
// would serve must not block every candidate with the score it claims.
func (a *artifacts) current() (Current, *servingVersion, error) {
	cur, err := readCurrentState(filepath.Dir(a.root))
	if errors.Is(err, ErrNoCurrent) {
		return Current{}, nil, nil
	}
	if err != nil {
		return Current{}, nil, err
	}
	v, err := loadVersion(filepath.Dir(a.root), cur.VersionID)
	if err != nil {
		return cur, nil, err
	}
	return cur, v, nil
}

// recover removes what crashed writers left half-done and records a decision
// for every complete version that has none, by the rule Versions follows:
// promoted if CURRENT names it (its writer died after moving CURRENT, or
// could not append to history), interrupted otherwise.
func (a *artifacts) recover() error {
	for _, dir := range []string{a.root, a.path(versionsDir)} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("recover: %w", err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tmpPrefix) || strings.HasPrefix(e.Name(), currentFile+tmpPrefix) {
				if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
					return fmt.Errorf("recover: %w", err)
				}
			}
		}
	}
	log, err := ReadHistoryLog(filepath.Dir(a.root))
	if err != nil {
		return err
	}
	a.skipped = log.Skipped
	recorded := map[string]bool{}
	for _, h := range log.Records {
		recorded[h.VersionID] = true
	}
	entries, err := os.ReadDir(a.path(versionsDir))
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	cur, _ := readCurrent(filepath.Dir(a.root))
	for _, e := range entries {
		id := e.Name()
		if !ValidVersionID(id) || recorded[id] {
			continue
		}
		rec := HistoryRecord{Time: time.Now().UTC(), VersionID: id}
		rec.Event, rec.Reason = undecided(id == cur)
		if meta, err := readMetadata(filepath.Dir(a.root), id); err == nil {
			rec.Metric, rec.TrainingDataFile = &meta.Metric, meta.TrainingDataFile
			rec.PreviousVersionID, rec.PreviousMetric = meta.Promotion.PreviousVersionID, meta.Promotion.PreviousMetric
			rec.Reason += "; its comparison: " + meta.Promotion.Reason
		}
		if err := a.appendHistory(rec); err != nil {
			return err
		}
	}
	return nil
}

// writeVersion writes files into versions/.tmp-<id>, then their manifest,
// fsyncs them and the directory, renames it to versions/<id> and fsyncs
// versions/.
func (a *artifacts) writeVersion(id string, files map[string][]byte) error {
	man, err := encodeManifest(id, files)
	if err != nil {
		return fmt.Errorf("encode %s: %w", manifestFile, err)
	}
	tmp := a.path(versionsDir, tmpPrefix+id)
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("create version directory: %w", err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := writeFileSync(filepath.Join(tmp, name), files[name]); err != nil {
			os.RemoveAll(tmp)
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	if err := writeFileSync(filepath.Join(tmp, manifestFile), man); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("write %s: %w", manifestFile, err)
	}
	if err := syncDir(tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, a.path(versionsDir, id)); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("publish version: %w", err)
	}
	return syncDir(a.path(versionsDir))
}

// removeVersion takes back a version written by this writer before any
// decision about it was recorded: renamed aside first, so a reader never
// sees it half-deleted, then removed, then versions/ fsynced.
func (a *artifacts) removeVersion(id string) error {
	aside := a.path(versionsDir, tmpPrefix+id)
	if err := os.Rename(a.path(versionsDir, id), aside); err != nil {
		return err
	}
	if err := os.RemoveAll(aside); err != nil {
		return err
	}
	return syncDir(a.path(versionsDir))
}

// writeFileSync creates path with data and fsyncs it.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory, fsync, rename over path, fsync of the directory.
func writeFileAtomic(path string, data []byte) error {
	var b [4]byte
	_, _ = rand.Read(b[:])
	tmp := path + tmpPrefix + hex.EncodeToString(b[:])
	if err := writeFileSync(tmp, data); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
