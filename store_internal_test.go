package mlservice

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func artInternalCandidate(t *testing.T, f1 float64) *Candidate {
	t.Helper()
	ds, err := ValidateFile(context.Background(), "data/day_01.csv")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Train(context.Background(), ds, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Metadata.Metric.Value = f1
	return c
}

// CURRENT is always a file of the same size renamed into place; on ext4 the
// inode freed by one write is handed to the next but one, and mtime has a
// coarse granularity, so two writes in quick succession can leave the stat
// stamp exactly as the store last saw it. The store must not trust an
// unchanged stamp on a young CURRENT.
func TestStoreRefreshDistrustsYoungStamp(t *testing.T) {
	dir := t.TempDir()
	c := artInternalCandidate(t, 0.5)
	first, err := Promote(context.Background(), dir, c)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(dir, StoreOptions{RefreshInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := s.serving.Load(); v == nil || v.id != first.VersionID {
		t.Fatal("store did not load the first version")
	}

	c.Metadata.Metric.Value = 0.6
	second, err := Promote(context.Background(), dir, c)
	if err != nil {
		t.Fatal(err)
	}
	current := filepath.Join(dir, modelsDir, currentFile)

	// Pretend the stat stamp did not change (same inode, size and mtime).
	s.mu.Lock()
	s.stamp = statStamp(current)
	s.mu.Unlock()
	if changed, err := s.refresh(false); !changed || err != nil {
		t.Fatalf("refresh with an unchanged but young stamp = %v, %v; want the new version", changed, err)
	}
	if v := s.serving.Load(); v.id != second.VersionID {
		t.Fatalf("serving %s, want %s", v.id, second.VersionID)
	}

	// Re-reading a young CURRENT that did not change is not a change, and a
	// refused version is not reloaded or counted again on every check.
	for range 3 {
		if changed, err := s.refresh(false); changed || err != nil {
			t.Fatalf("refresh = %v, %v", changed, err)
		}
	}
	if err := os.WriteFile(current, []byte("20000101T000000.000000Z-00000000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.refresh(false); err == nil {
		t.Fatal("a missing version was not refused")
	}
	for range 3 {
		_, _ = s.refresh(false)
	}
	if st := s.Status(); st.LoadFailures != 1 || st.Loads != 2 || st.ModelVersionID != second.VersionID || st.LastError == "" {
		t.Fatalf("status: %+v", st)
	}

	// An old CURRENT is trusted on its stamp: one stat, no read.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(current, old, old); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.stamp = statStamp(current)
	s.mu.Unlock()
	if err := os.WriteFile(current, []byte(first.VersionID+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(current, old, old); err != nil {
		t.Fatal(err)
	}
	if changed, _ := s.refresh(false); changed {
		t.Fatal("an old CURRENT with an unchanged stamp was read")
	}
}
