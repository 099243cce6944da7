package mlservice

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateFairRows = flag.Bool("update-fair-rows", false, "rewrite testdata/sklearn/fair_rows.json from the current split")

// fairRows is testdata/sklearn/fair_rows.json: the rows Train holds out of
// day_01 and day_02 with the default seed and test fraction.
// make_golden.py reads it to fit and score on exactly our rows, since it
// cannot reproduce Go's random generator.
type fairRows struct {
	Seed         uint64    `json:"seed"`
	TestFraction float64   `json:"test_fraction"`
	Days         []fairDay `json:"days"`
}

type fairDay struct {
	File     string `json:"file"`
	SHA256   string `json:"sha256"`
	TestRows []int  `json:"test_rows"` // 0-based data row indexes, header excluded
}

const fairRowsFile = "testdata/sklearn/fair_rows.json"

// The committed fixture is what the split gives today: if the split or the
// data change, fair_golden.json no longer describes our rows, and this test
// says how to regenerate both.
func TestFairRowsFixture(t *testing.T) {
	got := fairRows{Seed: DefaultSeed, TestFraction: DefaultTestFraction}
	for _, name := range []string{"day_01.csv", "day_02.csv"} {
		ds, err := ValidateFile(t.Context(), filepath.Join("data", name))
		if err != nil {
			t.Fatal(err)
		}
		day := fairDay{File: name, SHA256: ds.SHA256}
		for i, test := range stratifiedTestRows(ds.Y, DefaultTestFraction, DefaultSeed) {
			if test {
				day.TestRows = append(day.TestRows, i)
			}
		}
		got.Days = append(got.Days, day)
	}
	if *updateFairRows {
		data, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(fairRowsFile, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(fairRowsFile)
	if err != nil {
		t.Fatal(err)
	}
	var want fairRows
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the split no longer matches %s (-committed +now); run go test -run TestFairRowsFixture -update-fair-rows . and then testdata/sklearn/make_golden.py:\n%s", fairRowsFile, diff)
	}
}
