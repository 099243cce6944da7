package testkit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	n := 0
	took, ok := Poll(time.Second, time.Millisecond, func() bool { n++; return n == 3 })
	if !ok || n != 3 || took > time.Second {
		t.Errorf("Poll = %v, %v after %d calls; want true on the third", took, ok, n)
	}
	if _, ok := Poll(5*time.Millisecond, time.Millisecond, func() bool { return false }); ok {
		t.Error("Poll reported a condition that never held")
	}
}

// A recorder is a testing.TB that records failures instead of ending the
// test, so that the kit's own failure paths can be checked.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Errorf(f string, a ...any) { r.errors = append(r.errors, f) }

func TestWithin(t *testing.T) {
	if !Within(t, time.Second, "a quick call", func() {}) {
		t.Error("Within refused a call that returned at once")
	}
	r := &recorder{TB: t}
	release := make(chan struct{})
	defer close(release)
	if Within(r, 10*time.Millisecond, "a blocked call", func() { <-release }) || len(r.errors) != 1 {
		t.Errorf("Within passed a call that blocked: %v", r.errors)
	}
	if err := WithinErr(t, time.Second, func() error { return os.ErrClosed }); err != os.ErrClosed {
		t.Errorf("WithinErr = %v, want the call's error", err)
	}
}

func TestRootAndData(t *testing.T) {
	if _, err := os.Stat(filepath.Join(Root(t), "go.mod")); err != nil {
		t.Fatal(err)
	}
	if b := ReadFile(t, Data(t, "day_01.csv")); !bytes.HasPrefix(b, []byte(Header)) {
		t.Errorf("day_01.csv starts %q, want the contract's header", b[:min(len(b), 80)])
	}
}

func TestCurrent(t *testing.T) {
	dir := t.TempDir()
	if got := Current(t, dir); got != "" {
		t.Errorf("Current without CURRENT = %q", got)
	}
	if err := os.MkdirAll(Models(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	WriteCurrent(t, dir, "v1\npinned\n")
	if id, rest := CurrentPin(t, dir); id != "v1" || rest != "pinned" {
		t.Errorf("CurrentPin = %q, %q", id, rest)
	}
	if got := Entries(t, Models(dir)); !slices.Equal(got, []string{"CURRENT"}) {
		t.Errorf("models/ holds %v after WriteCurrent; want CURRENT alone", got)
	}
	if got := Entries(t, filepath.Join(dir, "none")); got != nil {
		t.Errorf("Entries of a missing directory = %v", got)
	}
}

func TestEditFileRefusesNoOp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	WriteFile(t, path, "abc")
	EditFile(t, path, func(b []byte) []byte { b[0] = 'x'; return b }) // in place
	if got := string(ReadFile(t, path)); got != "xbc" {
		t.Errorf("after the edit: %q", got)
	}
	r := &fatalRecorder{TB: t}
	r.run(func() { EditFile(r, path, func(b []byte) []byte { return b }) })
	if !strings.Contains(r.fatal, "unchanged") {
		t.Errorf("a no-op edit passed: %q", r.fatal)
	}
}

// fatalRecorder records the first Fatalf and stops the function it runs.
type fatalRecorder struct {
	testing.TB
	fatal string
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(f string, a ...any) {
	r.fatal = f
	panic(r)
}
func (r *fatalRecorder) run(f func()) {
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
	}()
	f()
}

func TestReseal(t *testing.T) {
	v := t.TempDir()
	WriteFile(t, filepath.Join(v, "model.json"), `{"coef":[1]}`)
	WriteFile(t, filepath.Join(v, "manifest.json"),
		`{"schema_version":"1","model_version_id":"v","files":[{"name":"model.json","size":1,"sha256":"00"}]}`)
	WriteFile(t, filepath.Join(v, "model.json"), `{"coef":[2.5]}`)
	Reseal(t, v)
	var m struct {
		SchemaVersion string `json:"schema_version"`
		VersionID     string `json:"model_version_id"`
		Files         []struct {
			Name   string
			Size   int
			SHA256 string
		}
	}
	if err := json.Unmarshal(ReadFile(t, filepath.Join(v, "manifest.json")), &m); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(`{"coef":[2.5]}`))
	if m.SchemaVersion != "1" || m.VersionID != "v" || len(m.Files) != 1 ||
		m.Files[0].Size != 14 || m.Files[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("resealed manifest: %+v", m)
	}
	// Without a manifest, nothing to reseal and nothing written.
	bare := t.TempDir()
	Reseal(t, bare)
	if got := Entries(t, bare); got != nil {
		t.Errorf("Reseal wrote %v into a version without a manifest", got)
	}
}

func TestTree(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	WriteFile(t, filepath.Join(dir, "a", "f"), "x")
	want := []string{".", "a", filepath.Join("a", "b"), filepath.Join("a", "f")}
	if got := Tree(t, dir); !slices.Equal(got, want) {
		t.Errorf("Tree = %q, want %q", got, want)
	}
}

func TestCSV(t *testing.T) {
	a, b := CSVRows(500, 7), CSVRows(500, 7)
	if !bytes.Equal(a, b) {
		t.Error("CSVRows is not reproducible from its seed")
	}
	if bytes.Equal(a, CSVRows(500, 8)) {
		t.Error("CSVRows ignores its seed")
	}
	lines := strings.Split(strings.TrimSuffix(string(a), "\n"), "\n")
	if len(lines) != 501 || lines[0]+"\n" != Header {
		t.Fatalf("CSVRows(500) has %d lines, header %q", len(lines), lines[0])
	}
	ones := 0
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) != 6 || (f[4] != "0" && f[4] != "1") || (f[5] != "0" && f[5] != "1") {
			t.Fatalf("row %q", l)
		}
		if f[5] == "1" {
			ones++
		}
	}
	if ones < 100 || ones > 250 { // about 35% of 500
		t.Errorf("%d of 500 targets are 1, want about 175", ones)
	}
	if c := CSV(100); &c[0] != &CSV(100)[0] {
		t.Error("CSV generated the same file twice")
	}
}

func TestRepeat(t *testing.T) {
	got := Repeat([]byte("h\n1\n2\n"), 10)
	if string(got) != "h\n1\n2\n1\n2\n" {
		t.Errorf("Repeat = %q", got)
	}
}
