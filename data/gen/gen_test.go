package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The tests run in data/gen, so the committed day files are one level up.
const dataDir = ".."

// TestDayFilesMatchCommitted guards the committed data: anyone who changes the
// generator must regenerate data/ in the same change, and a platform whose
// floating point differs would show up here.
func TestDayFilesMatchCommitted(t *testing.T) {
	committed, err := filepath.Glob(filepath.Join(dataDir, "day_*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(committed) != len(regimes) {
		t.Fatalf("found %d committed day files in data/, want %d", len(committed), len(regimes))
	}
	dir := t.TempDir()
	if err := run([]string{"-out", dir}, io.Discard, io.Discard); err != nil {
		t.Fatalf("run -out: %v", err)
	}
	fresh, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fresh) != len(committed) {
		t.Errorf("generator wrote %d files, data/ holds %d", len(fresh), len(committed))
	}
	for _, path := range committed {
		name := filepath.Base(path)
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: not regenerated: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			line, g, w := firstDiff(got, want)
			t.Errorf("%s differs from a fresh run at line %d:\n got %q\nwant %q\n(regenerate with `go run ./data/gen -out data`)",
				name, line, g, w)
		}
	}
}

// TestDayFilesFollowContract checks the committed files against the data
// contract and the ranges the generator promises.
func TestDayFilesFollowContract(t *testing.T) {
	for day := 1; day <= len(regimes); day++ {
		path := filepath.Join(dataDir, "day_"+pad2(day)+".csv")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rows := checkCSV(t, path, data)
		if rows.n < 4000 || rows.n > 6000 {
			t.Errorf("%s: %d rows, want 4000..6000", path, rows.n)
		}
		if r := rows.rate(rows.positives); r < 0.25 || r > 0.45 {
			t.Errorf("%s: positive rate %.3f, want 0.25..0.45", path, r)
		}
		if r := rows.rate(rows.premium); r < 0.25 || r > 0.40 {
			t.Errorf("%s: is_premium rate %.3f, want 0.25..0.40", path, r)
		}
		if rows.negativeBalances == 0 {
			t.Errorf("%s: no negative account_balance", path)
		}
	}
}

func TestBigFile(t *testing.T) {
	for _, n := range []int{1, 12345} {
		var stdout bytes.Buffer
		if err := run([]string{"-rows", strconv.Itoa(n), "-file", "-"}, &stdout, io.Discard); err != nil {
			t.Fatalf("run -rows %d -file -: %v", n, err)
		}
		if rows := checkCSV(t, "stdout", stdout.Bytes()); rows.n != n {
			t.Errorf("-rows %d wrote %d rows", n, rows.n)
		}

		path := filepath.Join(t.TempDir(), "big.csv")
		if err := run([]string{"-rows", strconv.Itoa(n), "-file", path}, io.Discard, io.Discard); err != nil {
			t.Fatalf("run -rows %d -file %s: %v", n, path, err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, stdout.Bytes()) {
			t.Errorf("-rows %d: -file PATH and -file - wrote different bytes", n)
		}
	}
}

// TestBigFileIsDayOne checks that benchmark files really are day 1's
// distribution: they start with day_01.csv's rows.
func TestBigFileIsDayOne(t *testing.T) {
	day1, err := os.ReadFile(filepath.Join(dataDir, "day_01.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var big bytes.Buffer
	if err := run([]string{"-rows", "100", "-file", "-"}, &big, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(day1, big.Bytes()) {
		t.Error("the first 100 rows of a benchmark file are not day_01.csv's first 100 rows")
	}
}

func TestSeedChangesOutput(t *testing.T) {
	var a, b bytes.Buffer
	if err := run([]string{"-rows", "50", "-file", "-"}, &a, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-rows", "50", "-file", "-", "-seed", "7"}, &b, io.Discard); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("-seed 7 wrote the same rows as the default seed")
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-out", "x", "-file", "y", "-rows", "1"},
		{"-file", "-"},
		{"-file", "-", "-rows", "-3"},
		{"-out", "x", "-rows", "10"},
		{"-out", "x", "-days", "0"},
		{"-out", "x", "extra"},
		{"-nosuchflag"},
	} {
		if err := run(args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %q: want an error, got none", args)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				if err := write(io.Discard, 1, 1, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// header is the data contract's header, as every generated file starts.
const header = "age,income,account_balance,transactions_last_30d,is_premium,target\n"

type summary struct {
	n, positives, premium, negativeBalances int
}

func (s summary) rate(k int) float64 { return float64(k) / float64(s.n) }

// checkCSV fails t unless data has the exact header and every row is in range
// and written the way the generator promises (integers, two decimals).
func checkCSV(t *testing.T, name string, data []byte) summary {
	t.Helper()
	var s summary
	sc := bufio.NewScanner(bytes.NewReader(data))
	if !sc.Scan() || sc.Text()+"\n" != header {
		t.Fatalf("%s: header %q, want %q", name, sc.Text(), strings.TrimSpace(header))
	}
	if !bytes.HasSuffix(data, []byte("\n")) {
		t.Errorf("%s: last line not terminated", name)
	}
	for line := 2; sc.Scan(); line++ {
		f := strings.Split(sc.Text(), ",")
		bad := func(why string) { t.Fatalf("%s:%d: %s: %q", name, line, why, sc.Text()) }
		if len(f) != 6 {
			bad("want 6 fields")
		}
		if age, err := strconv.Atoi(f[0]); err != nil || age < 18 || age > 90 {
			bad("age must be an integer in 18..90")
		}
		if !twoDecimals(f[1]) || !twoDecimals(f[2]) || strings.HasPrefix(f[1], "-") || f[1] == "0.00" {
			bad("income must be positive and balance signed, both with two decimals")
		}
		if tx, err := strconv.Atoi(f[3]); err != nil || tx < 0 {
			bad("transactions_last_30d must be a non-negative integer")
		}
		if f[4] != "0" && f[4] != "1" || f[5] != "0" && f[5] != "1" {
			bad("is_premium and target must be 0 or 1")
		}
		s.n++
		s.premium += int(f[4][0] - '0')
		s.positives += int(f[5][0] - '0')
		if strings.HasPrefix(f[2], "-") {
			s.negativeBalances++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

func twoDecimals(s string) bool {
	i := strings.IndexByte(s, '.')
	if i < 0 || len(s)-i != 3 || s == "-0.00" {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func pad2(d int) string {
	if d < 10 {
		return "0" + strconv.Itoa(d)
	}
	return strconv.Itoa(d)
}

// firstDiff returns the 1-based number of the first line where a and b
// differ and that line from each.
func firstDiff(a, b []byte) (int, string, string) {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return i + 1, x, y
		}
	}
	return 0, "", ""
}
