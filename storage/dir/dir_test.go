package dir_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/backendtest"
	"github.com/mlservice/mlservice/storage/dir"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) storage.Backend { return dir.New(t.TempDir()) })
}

func TestLockTellsWaiter(t *testing.T) {
	d := dir.New(t.TempDir())
	ctx := context.Background()
	unlock, exclusive, err := d.Lock(ctx)
	if err != nil || !exclusive {
		t.Fatalf("Lock = %v, %v; want an exclusive lock", exclusive, err)
	}
	told := make(chan string, 2)
	done := make(chan error, 1)
	go func() {
		ctx := dir.WithLockWait(ctx, func(path string) { told <- path })
		unlock, _, err := d.Lock(ctx)
		if err == nil {
			unlock()
		}
		done <- err
	}()
	select {
	case path := <-told:
		if filepath.Base(path) != ".lock" {
			t.Errorf("the waiter was told of %q, want the lock file", path)
		}
	case <-time.After(dir.LockWaitNotice + 10*time.Second):
		t.Fatal("a writer waiting for the lock was never told")
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(told) != 0 {
		t.Error("the waiter was told twice")
	}
}

// Lock removes what a writer killed mid-write left: a temporary version
// directory and a temporary CURRENT.
func TestLockTidiesLeftovers(t *testing.T) {
	root := t.TempDir()
	leftovers := []string{"models/versions/.tmp-20240101T000000.000000Z-0000000a", "models/CURRENT.tmp-0badf00d"}
	if err := os.MkdirAll(filepath.Join(root, leftovers[0], "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, leftovers[1]), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	unlock, _, err := dir.New(root).Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	for _, l := range leftovers {
		if _, err := os.Lstat(filepath.Join(root, l)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survived Lock: %v", l, err)
		}
	}
}

// A version directory that is a symbolic link, or a file in place of one,
// is refused by name: what is read must be what was written under
// versions/.
func TestVersionFilesRefusesNonDirectories(t *testing.T) {
	root := t.TempDir()
	d := dir.New(root)
	ctx := context.Background()
	id := "20240101T000000.000000Z-0000000a"
	if err := d.WriteVersion(ctx, id, map[string][]byte{"model.json": []byte("{}")}, []byte("{}")); err == nil {
		t.Fatal("WriteVersion before Lock created the layout")
	}
	unlock, _, err := d.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if err := d.WriteVersion(ctx, id, map[string][]byte{"model.json": []byte("{}")}, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	versions := filepath.Join(root, "models", "versions")
	link := "20240101T000001.000000Z-0000000b"
	if err := os.Symlink(filepath.Join(versions, id), filepath.Join(versions, link)); err != nil {
		t.Skipf("no symbolic links: %v", err)
	}
	file := "20240101T000002.000000Z-0000000c"
	if err := os.WriteFile(filepath.Join(versions, file), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{link: "is a symbolic link, not a directory", file: "is not a directory"} {
		_, err := d.VersionFiles(ctx, name)
		if err == nil || !strings.Contains(err.Error(), "models/versions/"+name+" "+want) || strings.Contains(err.Error(), root) {
			t.Errorf("VersionFiles(%s): %v, want %q without the host path", name, err, want)
		}
	}
	if vs, err := d.Versions(ctx); err != nil || len(vs) != 3 {
		t.Errorf("Versions = %v, %v; want all three entries (the reader refuses the bad ones)", vs, err)
	}
}

// The torn last line of history.jsonl: cut off before the next append when
// it is a partial record, ended when it is whole JSON; read back as torn.
func TestHistoryTornLine(t *testing.T) {
	for _, tc := range []struct {
		name, tail string
		want       []string
	}{
		{"partial", `{"n":1,"rea`, []string{`{"n":0}`, `{"n":2}`}},
		{"whole but unended", `{"n":1}`, []string{`{"n":0}`, `{"n":1}`, `{"n":2}`}},
		{"partial over the cap", `{"reason":"` + strings.Repeat("x", 3*storage.HistoryLineLimit), []string{`{"n":0}`, `{"n":2}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			d := dir.New(root)
			ctx := context.Background()
			unlock, _, err := d.Lock(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer unlock()
			if err := d.AppendHistory(ctx, "k0", []byte(`{"n":0}`)); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(filepath.Join(root, "models", "history.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(tc.tail); err != nil {
				t.Fatal(err)
			}
			f.Close()
			entries, err := d.ReadHistory(ctx, storage.HistoryLineLimit)
			if err != nil || len(entries) != 2 || !entries[1].Torn && entries[1].Err == nil {
				t.Fatalf("ReadHistory with a torn last line = %+v, %v", entries, err)
			}
			if err := d.AppendHistory(ctx, "k2", []byte(`{"n":2}`)); err != nil {
				t.Fatal(err)
			}
			entries, err = d.ReadHistory(ctx, storage.HistoryLineLimit)
			var got []string
			for _, e := range entries {
				if e.Torn || e.Err != nil {
					t.Errorf("after the append: %+v", e)
				}
				got = append(got, string(e.Data))
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("after the append: %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
