package mlservice

// Reading a version: CURRENT, the manifest and the files it lists, and the
// checks a version passes before it is served or compared against. Every
// read goes through the backend, which refuses what it cannot vouch for (a
// symbolic link, a FIFO, a file over its cap) and names keys relative to
// the artifacts: errors reach HTTP clients through /ready and /versions.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mlservice/mlservice/internal/strictjson"
	"github.com/mlservice/mlservice/internal/trees"
	"github.com/mlservice/mlservice/model"
	"github.com/mlservice/mlservice/storage"
)

// Caps on what is read from the artifacts. Promote writes far less
// (metadata.json is about 5 KB, a logistic model.json under 1 KB, 200 trees
// of depth 6 a few MB); past a cap the file is refused rather than read
// into memory.
const (
	maxCurrentSize     = 64 // a version id is 33 bytes, plus its line end
	maxManifestSize    = 64 << 10
	maxVersionFileSize = 1 << 20  // each file a manifest lists, but model.json
	maxModelFileSize   = 64 << 20 // model.json
)

// fileLimit is the cap on version file name.
func fileLimit(name string) int {
	if name == modelFile {
		return maxModelFileSize
	}
	return maxVersionFileSize
}

// manifest is the content of a version's manifest.json, the version's commit
// record: the size and SHA-256 of every other file in it. Promote writes it
// last; a loader reads nothing the manifest does not list and refuses a file
// whose bytes differ from it. Every backend writes it last: on an object
// store, which has no rename, that is what makes a version complete.
type manifest struct {
	SchemaVersion string          `json:"schema_version"` // SchemaVersion of the version it commits
	VersionID     string          `json:"model_version_id"`
	Files         []manifestEntry `json:"files"` // sorted by name
}

type manifestEntry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// encodeManifest returns manifest.json for a version made of files.
func encodeManifest(id string, files map[string][]byte) ([]byte, error) {
	m := manifest{SchemaVersion: SchemaVersion, VersionID: id}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		sum := sha256.Sum256(files[name])
		m.Files = append(m.Files, manifestEntry{Name: name, Size: int64(len(files[name])), SHA256: hex.EncodeToString(sum[:])})
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// readVersionFiles reads every file of version id and checks it against the
// manifest: each listed file present, regular and with the listed size and
// SHA-256, no file unlisted. A version that does not exist is
// ErrVersionNotFound, and an unreachable backend's error stays
// storage.ErrUnreachable; other errors are plain, and loadVersion marks
// them corrupt.
func (a *Artifacts) readVersionFiles(ctx context.Context, id string) (map[string][]byte, error) {
	names, err := a.b.VersionFiles(ctx, id)
	if errors.Is(err, storage.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", versionRel(id), ErrVersionNotFound)
	}
	if err != nil {
		return nil, err
	}
	rel := versionRel(id, manifestFile)
	if !slices.Contains(names, manifestFile) {
		// On a directory, versions of schema_version 1 have no manifest:
		// their metadata.json is covered by no checksum, so they are not
		// trusted. On an object store the manifest is the commit.
		return nil, fmt.Errorf("%s is missing: the version is incomplete (its writer stopped before committing it, or wrote it before schema_version %s: train it again)", rel, SchemaVersion)
	}
	data, err := a.b.ReadVersionFile(ctx, id, manifestFile, maxManifestSize)
	if err != nil {
		return nil, err
	}
	m, listed, err := parseManifest(id, data)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if name != manifestFile && !listed[name] {
			return nil, fmt.Errorf("%s is not listed in %s", versionRel(id, name), manifestFile)
		}
	}
	files := make(map[string][]byte, len(m.Files))
	for _, f := range m.Files {
		data, err := a.b.ReadVersionFile(ctx, id, f.Name, int64(fileLimit(f.Name)))
		if err != nil {
			return nil, err
		}
		if err := f.check(id, data); err != nil {
			return nil, err
		}
		files[f.Name] = data
	}
	return files, nil
}

// parseManifest decodes version id's manifest.json and checks what it lists:
// file names only, none twice, metadata.json and model.json among them. It
// returns the manifest and the set of names it lists.
func parseManifest(id string, data []byte) (*manifest, map[string]bool, error) {
	rel := versionRel(id, manifestFile)
	var m manifest
	if err := decodeStrict(data, &m); err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", rel, err)
	}
	if m.SchemaVersion != SchemaVersion {
		return nil, nil, fmt.Errorf("%s has schema_version %q, this build reads %q", rel, truncate(m.SchemaVersion, 80), SchemaVersion)
	}
	if m.VersionID != id {
		return nil, nil, fmt.Errorf("%s names version %q", rel, truncate(m.VersionID, 80))
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		if f.Name == manifestFile || f.Name != filepath.Base(f.Name) || strings.HasPrefix(f.Name, ".") || strings.ContainsRune(f.Name, '\\') {
			return nil, nil, fmt.Errorf("%s lists %q, which is not a file name", rel, truncate(f.Name, 80))
		}
		if listed[f.Name] {
			return nil, nil, fmt.Errorf("%s lists %s twice", rel, f.Name)
		}
		listed[f.Name] = true
	}
	for _, name := range []string{metadataFile, modelFile} {
		if !listed[name] {
			return nil, nil, fmt.Errorf("%s does not list %s", rel, name)
		}
	}
	return &m, listed, nil
}

// check compares a listed file's bytes with the manifest's size and SHA-256.
func (f manifestEntry) check(id string, data []byte) error {
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != f.SHA256 || int64(len(data)) != f.Size {
		return fmt.Errorf("%s has SHA-256 %s (%d bytes), %s says %s (%d bytes)",
			versionRel(id, f.Name), got, len(data), manifestFile, truncate(f.SHA256, 64), f.Size)
	}
	return nil
}

// Current is what CURRENT says: the version it names, and whether a
// rollback pinned it there.
type Current struct {
	VersionID string `json:"model_version_id"`
	// Pinned is set by Rollback: while it holds, Promote rejects every
	// candidate ("pinned by rollback to …"). Unpin clears it, and so does
	// PromoteVersion or a Rollback to another version (which pins that one).
	Pinned bool `json:"pinned"`
}

// readCurrent returns what CURRENT says and its tag, for a compare-and-swap
// of it. The tag is returned whenever CURRENT exists, even when its content
// names no version, so that a writer can replace a corrupt CURRENT. A
// missing CURRENT is ErrNoCurrent with no tag; an unreachable backend's
// error stays storage.ErrUnreachable.
func (a *Artifacts) readCurrent(ctx context.Context) (Current, string, error) {
	data, tag, err := a.b.ReadCurrent(ctx, maxCurrentSize)
	switch {
	case errors.Is(err, storage.ErrNotExist):
		return Current{}, "", ErrNoCurrent
	case errors.Is(err, storage.ErrTooLarge):
		return Current{}, tag, fmt.Errorf("read current version: %w: %w", err, ErrBadVersionID)
	case err != nil:
		return Current{}, tag, fmt.Errorf("read current version: %w", err)
	}
	cur, err := parseCurrentState(data)
	return cur, tag, err
}

// current returns what CURRENT says and its tag, and the version it names
// loaded with the checks a Store makes (checksum, schema, self-test), or
// why it cannot be loaded: a current version no Store would serve must not
// block every candidate with the score it claims. An unreachable backend is
// an error of its own, with nothing else returned.
func (a *Artifacts) current(ctx context.Context) (cur Current, tag string, v *servingVersion, err error) {
	cur, tag, err = a.readCurrent(ctx)
	switch {
	case errors.Is(err, ErrNoCurrent):
		return Current{}, "", nil, nil
	case errors.Is(err, storage.ErrUnreachable):
		return Current{}, "", nil, err
	case err != nil:
		return Current{}, tag, nil, err // a CURRENT that names no version: the next promotion replaces it
	}
	v, err = a.loadVersion(ctx, cur.VersionID)
	if errors.Is(err, storage.ErrUnreachable) {
		return Current{}, "", nil, err
	}
	return cur, tag, v, err
}

// pinnedLine is CURRENT's second line while a rollback pins its version.
// The pin lives in CURRENT itself, so that one rename (one conditional PUT
// on an object store) moves the version and the pin together: no crash can
// leave one without the other, and a trainer that read CURRENT unpinned
// cannot win a compare-and-swap once a rollback has pinned it.
const pinnedLine = "pinned"

// currentBytes is CURRENT's content naming id, pinned or not. Unpinned it
// is the id and a line end, as before pins existed.
func currentBytes(c Current) []byte {
	if c.Pinned {
		return []byte(c.VersionID + "\n" + pinnedLine + "\n")
	}
	return []byte(c.VersionID + "\n")
}

// parseCurrentState reads CURRENT's bytes: a version id, then optionally
// the line "pinned", and nothing else.
func parseCurrentState(data []byte) (Current, error) {
	rel := storage.CurrentKey
	all := strings.TrimSpace(string(data))
	if all == "" {
		return Current{}, fmt.Errorf("%s is empty: %w", rel, ErrBadVersionID)
	}
	first, rest, _ := strings.Cut(all, "\n")
	id := strings.TrimSpace(first)
	if !ValidVersionID(id) {
		return Current{}, fmt.Errorf("%s names %q: %w", rel, truncate(all, 80), ErrBadVersionID)
	}
	switch rest = strings.TrimSpace(rest); rest {
	case "":
		return Current{VersionID: id}, nil
	case pinnedLine:
		return Current{VersionID: id, Pinned: true}, nil
	}
	return Current{}, fmt.Errorf("%s names %q and then %q, where only %q may follow: %w",
		rel, id, truncate(rest, 80), pinnedLine, ErrBadVersionID)
}

// versionRel returns the key of a version's file relative to the artifacts,
// as errors name it.
func versionRel(id string, name ...string) string { return storage.VersionKey(id, name...) }

// ReadVersion reads version id's metadata and model for people to look at
// (the history page, a report): every file is checked against the version's
// manifest (sizes and SHA-256), but the model is not self-tested and its
// feature schema may differ from this build's, so a version that would not
// be served can still be shown. Errors name keys relative to the artifacts.
func (a *Artifacts) ReadVersion(ctx context.Context, id string) (*Metadata, model.Model, error) {
	if !ValidVersionID(id) {
		return nil, nil, fmt.Errorf("read version %q: %w", truncate(id, 80), ErrBadVersionID)
	}
	files, err := a.readVersionFiles(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("read version %s: %w", id, err)
	}
	return decodeReadVersion(id, files)
}

// decodeReadVersion decodes the metadata and model of version id from its
// files, already checked against its manifest.
func decodeReadVersion(id string, files map[string][]byte) (*Metadata, model.Model, error) {
	var meta Metadata
	if err := decodeStrict(files[metadataFile], &meta); err != nil {
		return nil, nil, fmt.Errorf("read version %s: %s: %w", id, versionRel(id, metadataFile), err)
	}
	schema, err := versionSchema(files)
	if err != nil {
		return nil, nil, fmt.Errorf("read version %s: %s: %w", id, versionRel(id, schemaFile), err)
	}
	m, err := decodeModel(files[modelFile], schema, meta.ModelFamily)
	if err != nil {
		return nil, nil, fmt.Errorf("read version %s: %s: %w", id, versionRel(id, modelFile), err)
	}
	return &meta, m, nil
}

// ReadVersion is Artifacts.ReadVersion on the artifacts directory
// artifactsDir.
func ReadVersion(artifactsDir, id string) (*Metadata, model.Model, error) {
	return DirArtifacts(artifactsDir).ReadVersion(context.Background(), id)
}

// ImportXGBoost makes a candidate of an XGBoost model saved as JSON (data,
// read from the file source), scored on eval as a trained candidate is on
// its evaluation file and promoted by the same rule (opts.Rule; opts.Eval
// and the family settings are ignored). The model must be binary:logistic
// over number features whose feature_names are features of eval's schema;
// anything else is refused with what and where (gbdt.FromXGBoost). An
// imported version has no training file: its metadata names the model file
// instead (and its SHA-256 as the data's), and its feature statistics and
// drift baseline are the evaluation file's.
func ImportXGBoost(ctx context.Context, data []byte, source string, eval *Dataset, opts TrainOptions) (*Candidate, error) {
	start := time.Now()
	opts.Family, opts.Eval = FamilyLogistic, eval // nothing is fitted: the tree settings play no part
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if err := checkDataset(eval, nil, "evaluation"); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	features, drift := featureStats(eval), newDriftProfile(eval)
	if err := checkVersionSize(eval.schema(), features, drift); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	m, err := trees.Import(data, eval.schema().layout())
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", baseName(source), err)
	}
	sum := sha256.Sum256(data)
	info := DataInfo{SHA256: hex.EncodeToString(sum[:]), Split: "file", EvalSHA256: eval.SHA256, EvalRows: eval.Len()}
	tp := m.Params()
	fitted := Params{Model: "xgboost", Family: FamilyGBDT, Trees: &tp, TrainSeconds: time.Since(start).Seconds()}
	c, err := newCandidate(ctx, m, fitted, eval, eval, info, features, drift, opts)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	c.Metadata.TrainingDataFile = baseName(source)
	return c, nil
}

// truncate is strictjson.Shorten, for the many error messages here that
// quote a client's value.
func truncate(s string, n int) string { return strictjson.Shorten(s, n) }

// decodeStrict unmarshals data into v, refusing a duplicate key in any
// object (internal/strictjson): encoding/json would silently keep the last
// one, so a key appended to a file could override the one that was checked.
func decodeStrict(data []byte, v any) error { return strictjson.Decode(data, v) }

// checkVersionSize refuses, before training, a schema whose version files
// could not be written: schema.json, or metadata.json's per-feature parts
// alone (the rest of it is small and bounded), over the size every version
// file is held to.
func checkVersionSize(s *Schema, features []FeatureStats, drift *DriftProfile) error {
	if s.IsDefault() {
		return nil // small, and known to fit
	}
	if n := len(s.MarshalIndent()); n >= maxVersionFileSize {
		return fmt.Errorf("%s would have %d bytes, the limit is %d: the schema has %d categories in all; declare fewer (merge rare values): %w",
			schemaFile, n, maxVersionFileSize, countCategories(s), ErrInvalidData)
	}
	part, err := json.MarshalIndent(Metadata{Features: features, Drift: drift}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	if len(part) >= maxVersionFileSize {
		return fmt.Errorf("%s would have over %d bytes, the limit is %d: the schema has %d categories in all; declare fewer (merge rare values): %w",
			metadataFile, len(part), maxVersionFileSize, countCategories(s), ErrInvalidData)
	}
	return nil
}

func countCategories(s *Schema) int {
	n := 0
	for _, f := range s.Features {
		n += len(f.Categories)
	}
	return n
}

// importanceRows is how many evaluation rows importance explains at most,
// spread over them: fewer for trees, whose exact TreeSHAP costs about a
// millisecond a row for 200 trees of depth 6, against nanoseconds for
// logistic regression.
const importanceRows, importanceTreeRows = 10000, 1000

// importanceParts is how many parts importance's rows are summed in, in
// parallel, then added in order: the figures do not depend on the cores.
const importanceParts = 8

// importance returns each feature's mean absolute contribution to the
// log-odds (model.Model.Explain) over the evaluation rows, and a trees
// model's total gain per feature.
func importance(m model.Model, eval *Dataset) []FeatureImportance {
	layout := m.Layout()
	n := min(eval.Len(), importanceRows)
	if _, ok := trees.Forest(m); ok {
		n = min(n, importanceTreeRows)
	}
	sums := make([][]float64, importanceParts)
	var wg sync.WaitGroup
	for p := range sums {
		sums[p] = make([]float64, len(layout))
		wg.Go(func() {
			row, out := make([]float64, len(layout)), make([]float64, len(layout))
			for k := p * n / importanceParts; k < (p+1)*n/importanceParts; k++ {
				i := k * eval.Len() / n
				for j, col := range eval.X {
					row[j] = col[i]
				}
				m.Explain(row, out)
				for j, c := range out {
					sums[p][j] += math.Abs(c)
				}
			}
		})
	}
	wg.Wait()
	sum := sums[0]
	for _, part := range sums[1:] {
		for j, v := range part {
			sum[j] += v
		}
	}
	imp := make([]FeatureImportance, len(layout))
	for j, f := range layout {
		imp[j] = FeatureImportance{Name: f.Name, MeanAbsContribution: sum[j] / float64(max(n, 1))}
	}
	if f, ok := trees.Forest(m); ok {
		for j, g := range f.Importance() {
			imp[j].TotalGain = g
		}
	}
	return imp
}

// readMetadata reads a version's metadata.json, checked against the
// manifest, without loadVersion's other checks: for listings.
func (a *Artifacts) readMetadata(ctx context.Context, id string) (*Metadata, error) {
	files, err := a.readVersionFiles(ctx, id)
	if err != nil {
		return nil, err
	}
	return decodeMetadata(id, files)
}

// decodeMetadata decodes metadata.json from a version's checked files.
func decodeMetadata(id string, files map[string][]byte) (*Metadata, error) {
	var m Metadata
	if err := decodeStrict(files[metadataFile], &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", versionRel(id, metadataFile), err)
	}
	return &m, nil
}

// loadVersion reads and checks a complete version: the id's shape, every
// file against the manifest, the metadata, the feature schema, and the
// stored examples recomputed by the loaded model. A failure to reach the
// backend stays storage.ErrUnreachable (the version is not refused for it);
// everything else the backend answered is ErrVersionNotFound or
// ErrCorruptVersion.
func (a *Artifacts) loadVersion(ctx context.Context, id string) (*servingVersion, error) {
	if !ValidVersionID(id) {
		return nil, fmt.Errorf("load version %q: %w", truncate(id, 80), ErrBadVersionID)
	}
	files, err := a.readVersionFiles(ctx, id)
	switch {
	case errors.Is(err, storage.ErrUnreachable):
		return nil, fmt.Errorf("load version %s: %w", id, err)
	case errors.Is(err, ErrVersionNotFound):
		return nil, fmt.Errorf("load version %s: %w", id, ErrVersionNotFound)
	case err != nil:
		return nil, fmt.Errorf("load version %s: %v: %w", id, err, ErrCorruptVersion)
	}
	return decodeVersion(id, files)
}

// exampleRow fills row from a self-test example: its Features under the
// default schema, its Values by name under any other. The row is checked
// as a request's would be.
func (c *columns) exampleRow(ex *Example, row []float64) error {
	if ex.Values == nil && c.isDefault {
		v := ex.Features.Vector()
		copy(row, v[:])
		return c.checkError(row)
	}
	var r Row
	for _, f := range c.schema.Features {
		v, ok := ex.Values[f.Name]
		if !ok {
			return fmt.Errorf("example has no %s", f.Name)
		}
		switch x := v.(type) {
		case float64:
			if f.Type == TypeCategory {
				return fmt.Errorf("example's %s is a number", f.Name)
			}
			r.Numbers = append(r.Numbers, x)
		case string:
			if f.Type != TypeCategory {
				return fmt.Errorf("example's %s is a string", f.Name)
			}
			r.Categories = append(r.Categories, x)
		case nil: // missing, as a request's null
			if !f.Missing {
				return fmt.Errorf("example's %s is missing", f.Name)
			}
			if f.Type == TypeCategory {
				r.Categories = append(r.Categories, "")
			} else {
				r.Numbers = append(r.Numbers, math.NaN())
			}
		default:
			return fmt.Errorf("example's %s is %T", f.Name, v)
		}
	}
	return c.fromRow(&r, row)
}
