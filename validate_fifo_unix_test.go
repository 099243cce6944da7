//go:build unix

package mlservice_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/mlservice/mlservice"
)

// A named pipe (or process substitution) yields exactly what the regular
// file yields: the file is opened and read once.
func TestValidateFileFIFO(t *testing.T) {
	src := filepath.Join("data", "day_01.csv")
	want, err := mlservice.ValidateFile(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// Bigger than one block, to cross block boundaries on a pipe too.
	big := append([]byte(nil), data...)
	body := data[bytes.IndexByte(data, '\n')+1:]
	for len(big) < 3<<20 {
		big = append(big, body...)
	}
	bigPath := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(bigPath, big, 0o600); err != nil {
		t.Fatal(err)
	}
	wantBig, err := mlservice.ValidateFile(context.Background(), bigPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want *mlservice.Dataset
	}{{"day_01", data, want}, {"3 MiB", big, wantBig}} {
		t.Run(tc.name, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "fifo.csv")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			writeErr := make(chan error, 1)
			go func() {
				f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
				if err == nil {
					_, err = f.Write(tc.data)
					f.Close()
				}
				writeErr <- err
			}()
			got, err := mlservice.ValidateFile(context.Background(), fifo)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-writeErr; err != nil {
				t.Fatal(err)
			}
			if got.SHA256 != tc.want.SHA256 || got.Len() != tc.want.Len() {
				t.Fatalf("FIFO: %d rows, sha256 %s; file: %d rows, sha256 %s", got.Len(), got.SHA256, tc.want.Len(), tc.want.SHA256)
			}
			for j := range got.X {
				if !slices.Equal(got.X[j], tc.want.X[j]) {
					t.Errorf("column %s differs", mlservice.FeatureNames[j])
				}
			}
			if !slices.Equal(got.Y, tc.want.Y) {
				t.Errorf("target differs")
			}
		})
	}
}
