//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// TestRuleThatCannotRunNeverServes: a version whose schema holds a rule
// alternative validator cannot run (written before ParseSchema checked each
// alternative, or by hand) is refused when it is loaded; it never reaches a
// request, where it would panic into a 500.
func TestRuleThatCannotRunNeverServes(t *testing.T) {
	dir := t.TempDir()
	d := mlkit.PromoteTable(t, dir, "grunfeld.csv", "grunfeld_declared.schema.json", true)
	vdir := testkit.VersionDir(dir, d.VersionID)
	var old mlservice.Schema
	if err := json.Unmarshal(testkit.ReadFile(t, filepath.Join(vdir, "schema.json")), &old); err != nil {
		t.Fatal(err)
	}
	bad := old
	bad.Features = slices.Clone(old.Features)
	for i := range bad.Features {
		if bad.Features[i].Name == "year" {
			bad.Features[i].Rules = "gte=1900,lte=2100|len=abc"
		}
	}
	testkit.WriteFile(t, filepath.Join(vdir, "schema.json"), string(bad.MarshalIndent()))
	testkit.EditFile(t, filepath.Join(vdir, "metadata.json"), func(b []byte) []byte {
		return bytes.ReplaceAll(b, []byte(old.ID()), []byte(bad.ID()))
	})
	testkit.Reseal(t, vdir)

	store, err := mlservice.OpenStore(dir, mlservice.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s := newServer(config{maxBody: 1 << 20, maxBatch: 100}, store, slog.New(slog.DiscardHandler))
	ts := &testServer{server: s, h: s.handler(), store: store, dir: dir}
	st := store.Status()
	if st.Ready || !strings.Contains(st.Reason+st.LastError, `len=abc`) {
		t.Errorf("store status %+v: want the version refused for its rule len=abc", st)
	}
	for _, body := range []string{
		`{"firm":"IBM","year":2500,"value":1,"capital":1}`,
		`{"firm":"IBM","year":1950,"value":1,"capital":1}`,
	} {
		r := ts.do(t, "POST", "/predict", "application/json", body)
		if r.status >= 500 && r.status != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d %s", body, r.status, r.body)
		}
	}
}
