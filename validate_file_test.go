package mlservice_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/mlservice/mlservice"
)

// ValidateFile: a file by its path, named in every error.

func TestValidateFile(t *testing.T) {
	const path = "data/day_01.csv"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := mlservice.ValidateFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Count(data, []byte{'\n'})
	if len(data) > 0 && data[len(data)-1] != '\n' {
		lines++
	}
	if ds.Len() != lines-1 {
		t.Errorf("Len() = %d, want %d (lines minus the header)", ds.Len(), lines-1)
	}
	for j, col := range ds.X {
		if len(col) != ds.Len() {
			t.Errorf("column %s has %d values, want %d", mlservice.FeatureNames[j], len(col), ds.Len())
		}
	}
	sum := sha256.Sum256(data)
	if ds.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256 = %s, want %x", ds.SHA256, sum)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Source != abs {
		t.Errorf("Source = %q, want %q", ds.Source, abs)
	}

	// The values are those encoding/csv and strconv read from the file.
	records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := mlservice.Dataset{X: make([][]float64, mlservice.NumFeatures)}
	var counts [2]int
	for _, rec := range records[1:] {
		for j := range mlservice.NumFeatures {
			v, err := strconv.ParseFloat(rec[j], 64)
			if err != nil {
				t.Fatal(err)
			}
			want.X[j] = append(want.X[j], v)
		}
		label, err := strconv.Atoi(rec[5])
		if err != nil {
			t.Fatal(err)
		}
		want.Y = append(want.Y, uint8(label))
		counts[label]++
	}
	if diff := cmp.Diff(want.X, ds.X); diff != "" {
		t.Errorf("X (-encoding/csv +Validate):\n%s", diff)
	}
	if diff := cmp.Diff(want.Y, ds.Y); diff != "" {
		t.Errorf("Y (-encoding/csv +Validate):\n%s", diff)
	}
	if ds.ClassCounts() != counts {
		t.Errorf("ClassCounts() = %v, want %v", ds.ClassCounts(), counts)
	}
	if got, want := ds.Row(3), (mlservice.Features{Age: want.X[0][3], Income: want.X[1][3], AccountBalance: want.X[2][3],
		TransactionsLast30d: want.X[3][3], IsPremium: want.X[4][3]}); got != want {
		t.Errorf("Row(3) = %+v, want %+v", got, want)
	}
}

func TestValidateFileErrors(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		ds, err := mlservice.ValidateFile(context.Background(), filepath.Join(t.TempDir(), "nope.csv"))
		if err == nil || ds != nil {
			t.Fatalf("ValidateFile = %v, %v; want an error", ds, err)
		}
		if errors.Is(err, mlservice.ErrInvalidData) {
			t.Errorf("a missing file matches ErrInvalidData: %v", err)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		_, err := mlservice.ValidateFile(context.Background(), t.TempDir())
		if err == nil || errors.Is(err, mlservice.ErrInvalidData) {
			t.Fatalf("ValidateFile(context.Background(), dir) = %v, want an I/O error", err)
		}
	})
	t.Run("bad file names its path", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bad.csv")
		if err := os.WriteFile(path, []byte(csvHeader+csvRows+"1,2,3,4,5,6\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := mlservice.ValidateFile(context.Background(), path)
		var verr *mlservice.ValidationError
		if !errors.As(err, &verr) {
			t.Fatalf("ValidateFile = %v, want a *ValidationError", err)
		}
		if verr.Source != path || !strings.Contains(err.Error(), path) {
			t.Errorf("Source = %q, error %q; want both to name %s", verr.Source, err, path)
		}
	})
	readErr := errors.New("disk on fire")
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"reader fails at once", iotest.ErrReader(readErr)},
		{"reader fails after the header", io.MultiReader(strings.NewReader(csvHeader+csvRows), iotest.ErrReader(readErr))},
		{"reader fails after several blocks", io.MultiReader(strings.NewReader(csvHeader+strings.Repeat(csvRows, 60000)), iotest.ErrReader(readErr))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := mlservice.Validate(context.Background(), tc.r)
			if ds != nil || !errors.Is(err, readErr) {
				t.Fatalf("Validate = %v, %v; want the reader's error", ds, err)
			}
			if errors.Is(err, mlservice.ErrInvalidData) {
				t.Errorf("an I/O error matches ErrInvalidData: %v", err)
			}
		})
	}
}
