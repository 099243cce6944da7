package mlservice_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// A version directory, or a file in it, that is a symbolic link is refused:
// what is served must be what Promote wrote under versions/.
func TestLoadRefusesSymlinks(t *testing.T) {
	elsewhere := func(t *testing.T, path string) string {
		t.Helper()
		moved := filepath.Join(t.TempDir(), filepath.Base(path))
		if err := os.Rename(path, moved); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(moved, path); err != nil {
			t.Fatal(err)
		}
		return moved
	}
	for _, tc := range []struct {
		name string
		link func(t *testing.T, dir, id string)
	}{
		{"version directory", func(t *testing.T, dir, id string) { elsewhere(t, testkit.Models(dir, "versions", id)) }},
		{"metadata.json", func(t *testing.T, dir, id string) { elsewhere(t, testkit.VersionFile(dir, id, "metadata.json")) }},
		{"model.json", func(t *testing.T, dir, id string) { elsewhere(t, testkit.VersionFile(dir, id, "model.json")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mlkit.Promote(t, dir, 0.5)
			d := mlkit.Promote(t, dir, 0.4)
			tc.link(t, dir, d.VersionID)
			_, err := mlservice.Rollback(context.Background(), dir, d.VersionID)
			if !errors.Is(err, mlservice.ErrCorruptVersion) || !strings.Contains(err.Error(), "symbolic link") {
				t.Fatalf("Rollback to a version with a symlinked %s: %v", tc.name, err)
			}
			// The same refusal when CURRENT names it.
			testkit.WriteCurrent(t, dir, d.VersionID+"\n")
			s := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
			if st := s.Status(); st.Ready || !strings.Contains(st.LastError, "symbolic link") {
				t.Errorf("store on a version with a symlinked %s: %+v", tc.name, st)
			}
		})
	}
}

// Every file read from the artifacts directory has a cap, so a huge file in
// place of CURRENT or a version's files costs an error, not the memory.
func TestReadersCapFileSizes(t *testing.T) {
	big := func(n int) []byte { return []byte(strings.Repeat(" ", n)) }
	t.Run("CURRENT", func(t *testing.T) {
		dir := t.TempDir()
		d := mlkit.Promote(t, dir, 0.5)
		// A valid id padded past the cap: trimming it would have accepted it.
		testkit.WriteCurrent(t, dir, d.VersionID+string(big(1<<20)))
		_, err := mlservice.CurrentVersion(dir)
		if err == nil || !strings.Contains(err.Error(), "models/CURRENT is larger than") {
			t.Fatalf("CurrentVersion on a 1 MiB CURRENT: %v", err)
		}
	})
	for _, name := range []string{"metadata.json", "model.json"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			mlkit.Promote(t, dir, 0.5)
			d := mlkit.Promote(t, dir, 0.4)
			// Trailing white space keeps the JSON valid: only the size is wrong.
			path := testkit.VersionFile(dir, d.VersionID, name)
			testkit.EditFile(t, path, func(b []byte) []byte { return append(b, big(2<<20)...) })
			if name == "model.json" { // a trees model may be larger: past its own cap (sparse, never read)
				if err := os.Truncate(path, mlservice.MaxModelFileSize+1); err != nil {
					t.Fatal(err)
				}
			}
			_, err := mlservice.Rollback(context.Background(), dir, d.VersionID)
			want := "models/versions/" + d.VersionID + "/" + name + " is larger than"
			if !errors.Is(err, mlservice.ErrCorruptVersion) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Rollback to a version with a 2 MiB %s: %v, want %q", name, err, want)
			}
		})
	}
}

// Errors about the artifacts directory name paths relative to it: they reach
// HTTP clients through /ready and /versions, which must not learn the
// server's own paths.
func TestErrorsNameRelativePaths(t *testing.T) {
	dir := t.TempDir()
	mlkit.Promote(t, dir, 0.5)
	d := mlkit.Promote(t, dir, 0.4)
	if err := os.Remove(testkit.VersionFile(dir, d.VersionID, "metadata.json")); err != nil {
		t.Fatal(err)
	}
	_, err := mlservice.Rollback(context.Background(), dir, d.VersionID)
	if err == nil || strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "models/versions/"+d.VersionID+"/metadata.json") {
		t.Errorf("Rollback to a version without metadata.json: %v", err)
	}
	for _, v := range mlkit.Versions(t, dir) {
		if strings.Contains(v.Error, dir) {
			t.Errorf("Versions shows a host path: %+v", v)
		}
	}
	testkit.WriteCurrent(t, dir, d.VersionID+"\n")
	s := mlkit.OpenStore(t, dir, mlservice.StoreOptions{RefreshInterval: -1})
	if st := s.Status(); st.LastError == "" || strings.Contains(st.LastError, dir) {
		t.Errorf("store status shows a host path or no error: %+v", st)
	}
	// CURRENT unreadable (a directory in its place).
	if err := os.Remove(testkit.Models(dir, "CURRENT")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(testkit.Models(dir, "CURRENT"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := mlservice.CurrentVersion(dir); err == nil || strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "models/CURRENT") {
		t.Errorf("CurrentVersion with a directory for CURRENT: %v", err)
	}
}

// Every file of a version is covered by a checksum in manifest.json: an
// edited metric in metadata.json, which parses cleanly and passes the
// self-test, is refused; so is a file the manifest does not list, and a
// version without a manifest (written before schema_version 2).
func TestLoadVerifiesManifest(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, dir, id string)
		msg  string
	}{
		{"edited metric in metadata.json", func(t *testing.T, dir, id string) {
			testkit.EditFile(t, testkit.VersionFile(dir, id, "metadata.json"), func(b []byte) []byte {
				metric := regexp.MustCompile(`("metric": \{\s*"name": "f1",\s*"value": )[0-9.e-]+`)
				if !metric.Match(b) {
					t.Fatalf("no metric in %s", b)
				}
				return metric.ReplaceAll(b, []byte("${1}0.999999"))
			})
		}, "metadata.json has SHA-256"},
		{"unlisted file", func(t *testing.T, dir, id string) {
			if err := os.WriteFile(testkit.VersionFile(dir, id, "extra.json"), []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "extra.json is not listed in manifest.json"},
		{"no manifest", func(t *testing.T, dir, id string) {
			if err := os.Remove(testkit.VersionFile(dir, id, "manifest.json")); err != nil {
				t.Fatal(err)
			}
		}, "manifest.json is missing"},
		{"listed file missing", func(t *testing.T, dir, id string) {
			if err := os.Remove(testkit.VersionFile(dir, id, "model.json")); err != nil {
				t.Fatal(err)
			}
		}, "model.json is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mlkit.Promote(t, dir, 0.5)
			d := mlkit.Promote(t, dir, 0.4)
			if _, err := os.Stat(testkit.VersionFile(dir, d.VersionID, "manifest.json")); err != nil {
				t.Fatalf("Promote wrote no manifest: %v", err)
			}
			tc.edit(t, dir, d.VersionID)
			_, err := mlservice.Rollback(context.Background(), dir, d.VersionID)
			if !errors.Is(err, mlservice.ErrCorruptVersion) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Rollback after %s: %v, want %q", tc.name, err, tc.msg)
			}
		})
	}
}

// The manifest written by Promote lists every other file of the version with
// its size and SHA-256, computed here independently.
func TestManifestListsEveryFile(t *testing.T) {
	dir := t.TempDir()
	d := mlkit.Promote(t, dir, 0.5)
	data, err := os.ReadFile(testkit.VersionFile(dir, d.VersionID, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		SchemaVersion string `json:"schema_version"`
		VersionID     string `json:"model_version_id"`
		Files         []struct {
			Name   string `json:"name"`
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
		} `json:"files"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.VersionID != d.VersionID || m.SchemaVersion != mlservice.SchemaVersion {
		t.Errorf("manifest names %q of schema %q, want %q of %q", m.VersionID, m.SchemaVersion, d.VersionID, mlservice.SchemaVersion)
	}
	entries, err := os.ReadDir(testkit.Models(dir, "versions", d.VersionID))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk, listed []string
	for _, e := range entries {
		if e.Name() != "manifest.json" {
			onDisk = append(onDisk, e.Name())
		}
	}
	for _, f := range m.Files {
		listed = append(listed, f.Name)
		b, err := os.ReadFile(testkit.VersionFile(dir, d.VersionID, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if f.Size != int64(len(b)) || f.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("manifest entry %+v; the file has %d bytes, SHA-256 %x", f, len(b), sum)
		}
	}
	if !slices.Equal(onDisk, listed) {
		t.Errorf("manifest lists %v, the version holds %v", listed, onDisk)
	}
}

func TestValidVersionID(t *testing.T) {
	dir := t.TempDir()
	for range 3 {
		id := mlkit.Promote(t, dir, 0.5).VersionID
		if !mlservice.ValidVersionID(id) {
			t.Errorf("generated id %q is refused", id)
		}
	}
	good := "20240229T235959.123456Z-0123abcd"
	if !mlservice.ValidVersionID(good) {
		t.Fatalf("%q is refused", good)
	}
	for _, id := range []string{
		"", "..", "../../etc", "/etc/passwd", "versions/" + good, good + "/..", "../" + good,
		good + "\n", "\n" + good, " " + good, good + " ", good + "\x00", good + "/", good + "x",
		"20240229T235959.123456Z-0123ABCD", // upper-case hex
		"20240229T235959.123456Z-0123abc",  // 7 hex digits
		"20240229T235959.123456Z-0123abcde",
		"20240229T235959.123456-0123abcd",  // no Z
		"20240229T235959123456Z-0123abcd",  // no dot
		"20240229T235959.123Z-0123abcd",    // milliseconds
		"20240229 235959.123456Z-0123abcd", // no T
		"2024-02-29T23:59:59.123456Z-0123abcd",
		"20240229T235959.123456Z_0123abcd",
		"２0240229T235959.123456Z-0123abcd", // a full-width digit
		"20240229T235959.123456Z-0123abcg",
	} {
		if mlservice.ValidVersionID(id) {
			t.Errorf("ValidVersionID(%q) = true", id)
		}
	}
}
