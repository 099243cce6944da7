package testkit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Models returns the path of elem under the artifacts directory's models/
// folder: Models(dir, "CURRENT"), Models(dir, "versions", id).
func Models(dir string, elem ...string) string {
	return filepath.Join(append([]string{dir, "models"}, elem...)...)
}

// VersionDir returns the directory of version id in the artifacts directory.
func VersionDir(dir, id string) string { return Models(dir, "versions", id) }

// VersionFile returns the path of one file of version id.
func VersionFile(dir, id, name string) string { return Models(dir, "versions", id, name) }

// Current returns the first line of CURRENT (the version id; a pin may
// follow it), "" if there is no CURRENT.
func Current(t testing.TB, dir string) string {
	t.Helper()
	id, _ := CurrentPin(t, dir)
	return id
}

// CurrentPin returns CURRENT's first line and the rest, both without line
// ends: the rest is "pinned" while a rollback pins the version.
func CurrentPin(t testing.TB, dir string) (id, rest string) {
	t.Helper()
	b, err := os.ReadFile(Models(dir, "CURRENT"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", ""
	}
	if err != nil {
		t.Fatal(err)
	}
	id, rest, _ = strings.Cut(strings.TrimSuffix(string(b), "\n"), "\n")
	return id, rest
}

// WriteCurrent replaces CURRENT with content the way a writer does: a new
// file renamed over the old one.
func WriteCurrent(t testing.TB, dir, content string) {
	t.Helper()
	tmp := Models(dir, "testkit-current-tmp")
	WriteFile(t, tmp, content)
	if err := os.Rename(tmp, Models(dir, "CURRENT")); err != nil {
		t.Fatal(err)
	}
}

// WriteFile writes content to path or ends the test.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReadFile returns path's content or ends the test.
func ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// EditFile rewrites path with edit, which must change it: an edit that
// finds nothing to change would leave the test testing nothing.
func EditFile(t testing.TB, path string, edit func([]byte) []byte) {
	t.Helper()
	b := ReadFile(t, path)
	nb := edit(bytes.Clone(b)) // a copy: edit may change its argument in place
	if bytes.Equal(b, nb) {
		t.Fatalf("the edit left %s unchanged", path)
	}
	if err := os.WriteFile(path, nb, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Reseal rewrites versionDir's manifest.json so that the size and SHA-256
// of every file it lists match the files as they are now, as someone who
// knows the format would after a deliberate edit: the manifest then
// matches, and only the later checks can catch the edit. The rest of the
// manifest is kept. A version without a manifest (written by a build from
// before manifests) is left as it is.
func Reseal(t testing.TB, versionDir string) {
	t.Helper()
	path := filepath.Join(versionDir, "manifest.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	} else if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("reseal %s: %v", path, err)
	}
	files, ok := m["files"].([]any)
	if !ok {
		t.Fatalf("reseal %s: no files list", path)
	}
	for _, f := range files {
		entry, _ := f.(map[string]any)
		name, _ := entry["name"].(string)
		if name == "" {
			t.Fatalf("reseal %s: an entry without a name: %v", path, f)
		}
		content := ReadFile(t, filepath.Join(versionDir, name))
		sum := sha256.Sum256(content)
		entry["size"], entry["sha256"] = len(content), hex.EncodeToString(sum[:])
	}
	if b, err = json.MarshalIndent(m, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Tree lists every path under root, root itself first, relative to root
// ("." for root), in lexical order.
func Tree(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Entries lists the names in dir, none if dir does not exist.
func Entries(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
