package mlservice

// Reading a version: CURRENT, metadata.json and model.json, and the checks a
// version passes before it is served or compared against. Every read goes
// through readArtifact: regular files only, never through a symbolic link,
// capped in size, and errors that name paths relative to the artifacts
// directory (they reach HTTP clients through /ready and /versions).

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/mlservice/mlservice/internal/strictjson"
)

// Caps on what is read from the artifacts directory. Promote writes far less
// (metadata.json is about 5 KB, model.json under 1 KB); past a cap the file
// is refused rather than read into memory.
const (
	maxCurrentSize     = 64 // a version id is 33 bytes, plus its line end
	maxManifestSize    = 64 << 10
	maxVersionFileSize = 1 << 20 // each file a manifest lists
)

// manifest is the content of a version's manifest.json, the version's commit
// record: the size and SHA-256 of every other file in it. Promote writes it
// last; a loader reads nothing the manifest does not list and refuses a file
// whose bytes differ from it. (An object store has no rename: there, writing
// the manifest last is what will make a version complete.)
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
// SHA-256, no file unlisted. Errors are plain; loadVersion marks them
// corrupt.
func readVersionFiles(artifactsDir, id string) (map[string][]byte, error) {
	rel := versionRel(id, manifestFile)
	data, err := readArtifact(artifactsDir, rel, maxManifestSize)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Lstat(filepath.Join(artifactsDir, filepath.FromSlash(versionRel(id)))); errors.Is(serr, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", versionRel(id), ErrVersionNotFound)
		}
		// Versions of schema_version 1 have no manifest: their metadata.json
		// is covered by no checksum, so they are not trusted.
		return nil, fmt.Errorf("%w (a version written before schema_version %s: train it again)", err, SchemaVersion)
	}
	if err != nil {
		return nil, err
	}
	m, listed, err := parseManifest(id, data)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(artifactsDir, filepath.FromSlash(versionRel(id))))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", versionRel(id), pathless(err))
	}
	for _, e := range entries {
		if e.Name() != manifestFile && !listed[e.Name()] {
			return nil, fmt.Errorf("%s is not listed in %s", versionRel(id, e.Name()), manifestFile)
		}
	}
	files := make(map[string][]byte, len(m.Files))
	for _, f := range m.Files {
		data, err := readArtifact(artifactsDir, versionRel(id, f.Name), maxVersionFileSize)
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

// CurrentVersion returns the id CURRENT names, or ErrNoCurrent.
func CurrentVersion(artifactsDir string) (string, error) {
	return readCurrent(artifactsDir)
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

// CurrentState returns what CURRENT says, or ErrNoCurrent.
func CurrentState(artifactsDir string) (Current, error) {
	return readCurrentState(artifactsDir)
}

func readCurrent(artifactsDir string) (string, error) {
	c, err := readCurrentState(artifactsDir)
	return c.VersionID, err
}

func readCurrentState(artifactsDir string) (Current, error) {
	rel := path.Join(modelsDir, currentFile)
	data, err := readArtifact(artifactsDir, rel, maxCurrentSize)
	if errors.Is(err, fs.ErrNotExist) {
		return Current{}, ErrNoCurrent
	}
	if err != nil {
		return Current{}, fmt.Errorf("read current version: %w", err)
	}
	return parseCurrentState(data)
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

// parseCurrent returns the version id CURRENT's bytes name.
func parseCurrent(data []byte) (string, error) {
	c, err := parseCurrentState(data)
	return c.VersionID, err
}

// parseCurrentState reads CURRENT's bytes: a version id, then optionally
// the line "pinned", and nothing else.
func parseCurrentState(data []byte) (Current, error) {
	rel := path.Join(modelsDir, currentFile)
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

// versionRel returns the path of a version's file relative to the artifacts
// directory, as errors name it.
func versionRel(id string, name ...string) string {
	return path.Join(append([]string{modelsDir, versionsDir, id}, name...)...)
}

// readArtifact reads rel, a slash-separated path under artifactsDir. It
// refuses anything but a regular file (a symbolic link, a FIFO, a device, a
// directory) and a file larger than limit bytes. A FIFO never blocks it: the
// type is checked before opening, and the open itself does not wait for a
// writer. Errors name rel, never the host path, and match fs.ErrNotExist
// when the file is missing.
func readArtifact(artifactsDir, rel string, limit int64) ([]byte, error) {
	f, err := openArtifact(artifactsDir, rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, pathless(err))
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", rel, limit)
	}
	return data, nil
}

// openArtifact opens rel for reading, with readArtifact's checks but the
// size.
func openArtifact(artifactsDir, rel string) (*os.File, error) {
	// CURRENT is replaced by rename while readers open it, so a file that
	// changed between Lstat and open is looked at again: each rename puts a
	// complete file in place, and a few tries always find one settled.
	for try := 0; ; try++ {
		f, changed, err := openArtifactOnce(artifactsDir, rel)
		if !changed || try == openTries-1 {
			return f, err
		}
	}
}

// openTries bounds openArtifact's retries; only a writer replacing the file
// in a tight loop could outrun it.
const openTries = 8

func openArtifactOnce(artifactsDir, rel string) (f *os.File, changed bool, err error) {
	name := filepath.Join(artifactsDir, filepath.FromSlash(rel))
	before, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("%s is missing: %w", rel, fs.ErrNotExist)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", rel, pathless(err))
	}
	if err := checkRegular(rel, before); err != nil {
		return nil, false, err
	}
	f, err = os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, fmt.Errorf("%s changed while it was opened: %w", rel, fs.ErrNotExist)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", rel, pathless(err))
	}
	// Something may have replaced the file between Lstat and open.
	if after, err := f.Stat(); err != nil || !os.SameFile(before, after) {
		f.Close()
		return nil, true, fmt.Errorf("%s changed while it was opened", rel)
	}
	return f, false, nil
}

// checkRegular refuses anything but a regular file, naming what rel is.
func checkRegular(rel string, fi fs.FileInfo) error {
	m := fi.Mode()
	switch {
	case m.IsRegular():
		return nil
	case m&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link, not a regular file", rel)
	case m.IsDir():
		return fmt.Errorf("%s is a directory, not a regular file", rel)
	default:
		return fmt.Errorf("%s is not a regular file (mode %v)", rel, m.Type())
	}
}

// pathless drops the host path from a *fs.PathError, keeping its cause (so
// errors.Is still sees fs.ErrNotExist and the like).
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// truncate shortens s to at most n bytes and a mark, on a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// decodeStrict unmarshals data into v, refusing a duplicate key in any
// object (internal/strictjson): encoding/json would silently keep the last
// one, so a key appended to a file could override the one that was checked.
func decodeStrict(data []byte, v any) error { return strictjson.Decode(data, v) }

// readMetadata reads a version's metadata.json, checked against the
// manifest, without loadVersion's other checks: for listings.
func readMetadata(artifactsDir, id string) (*Metadata, error) {
	files, err := readVersionFiles(artifactsDir, id)
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
// stored examples recomputed by the loaded model.
func loadVersion(artifactsDir, id string) (*servingVersion, error) {
	if !ValidVersionID(id) {
		return nil, fmt.Errorf("load version %q: %w", truncate(id, 80), ErrBadVersionID)
	}
	corrupt := func(format string, a ...any) error {
		return fmt.Errorf("load version %s: %s: %w", id, fmt.Sprintf(format, a...), ErrCorruptVersion)
	}
	// Lstat: a version directory that is a symbolic link could point
	// anywhere; what is served must be what Promote wrote under versions/.
	fi, err := os.Lstat(filepath.Join(artifactsDir, filepath.FromSlash(versionRel(id))))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("load version %s: %w", id, ErrVersionNotFound)
	case err != nil:
		return nil, fmt.Errorf("load version %s: %s: %w", id, versionRel(id), pathless(err))
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, corrupt("%s is a symbolic link, not a directory", versionRel(id))
	case !fi.IsDir():
		return nil, corrupt("%s is not a directory", versionRel(id))
	}
	files, err := readVersionFiles(artifactsDir, id)
	if err != nil {
		return nil, corrupt("%v", err)
	}
	return decodeVersion(id, files)
}
