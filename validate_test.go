package mlservice_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mlservice/mlservice"
)

// csvHeader is the contract's header in its usual order.
const csvHeader = "age,income,account_balance,transactions_last_30d,is_premium,target\n"

// csvRows are four valid rows, two of each class, used as filler around the
// bad row under test (lines 2–5 when they follow csvHeader).
const csvRows = "30,52000.5,-120.25,7,1,1\n41,48000,300,0,0,0\n25,39000.75,0,12,0,1\n63,81000,15000.5,3,1,0\n"

// problemOpts compares problems without their wording: the line, column,
// value and rule are the contract, Reason is prose checked separately.
var problemOpts = cmpopts.IgnoreFields(mlservice.Problem{}, "Reason")

// mustReject validates input and returns its *ValidationError, failing the
// test unless validation fails with one, matches ErrInvalidData and returns
// no Dataset.
func mustReject(t *testing.T, input string) *mlservice.ValidationError {
	t.Helper()
	ds, err := mlservice.Validate(context.Background(), strings.NewReader(input))
	if err == nil {
		t.Fatalf("Validate accepted the input (%d rows); want a *ValidationError", ds.Len())
	}
	if ds != nil {
		t.Errorf("Validate returned a Dataset with its error")
	}
	if !errors.Is(err, mlservice.ErrInvalidData) {
		t.Errorf("errors.Is(%v, ErrInvalidData) = false", err)
	}
	var verr *mlservice.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error %T (%v) is not a *ValidationError", err, err)
	}
	for _, p := range verr.Problems {
		if p.Reason == "" {
			t.Errorf("problem %+v has no reason", p)
		}
	}
	if verr.Total < len(verr.Problems) || len(verr.Problems) > mlservice.MaxProblems {
		t.Errorf("Total %d, %d problems listed (MaxProblems %d)", verr.Total, len(verr.Problems), mlservice.MaxProblems)
	}
	return verr
}

func TestValidateRejects(t *testing.T) {
	type P = mlservice.Problem
	tests := []struct {
		name  string
		input string
		want  []P
	}{
		// The header.
		{"missing columns, all named", "age,income,target\n1,2,0\n", []P{
			{Line: 1, Column: "account_balance", Rule: "missing column"},
			{Line: 1, Column: "transactions_last_30d", Rule: "missing column"},
			{Line: 1, Column: "is_premium", Rule: "missing column"},
		}},
		{"no contract column at all", "a,b\n1,2\n", []P{
			{Line: 1, Column: "age", Rule: "missing column"},
			{Line: 1, Column: "income", Rule: "missing column"},
			{Line: 1, Column: "account_balance", Rule: "missing column"},
			{Line: 1, Column: "transactions_last_30d", Rule: "missing column"},
			{Line: 1, Column: "is_premium", Rule: "missing column"},
			{Line: 1, Column: "target", Rule: "missing column"},
		}},
		{"misspelled column", "age,income,account_balance,transactions_last_30,is_premium,target\n" + csvRows, []P{
			{Line: 1, Column: "transactions_last_30d", Rule: "missing column"},
		}},
		{"duplicate column", "age,income,account_balance,transactions_last_30d,is_premium,target,age\n", []P{
			{Line: 1, Column: "age", Rule: "duplicate column"},
		}},
		{"duplicate column after trimming spaces", "age,income,account_balance,transactions_last_30d,is_premium,target, income \n", []P{
			{Line: 1, Column: "income", Rule: "duplicate column"},
		}},
		{"duplicate and missing", "age,age,income\n", []P{
			{Line: 1, Column: "age", Rule: "duplicate column"},
			{Line: 1, Column: "account_balance", Rule: "missing column"},
			{Line: 1, Column: "transactions_last_30d", Rule: "missing column"},
			{Line: 1, Column: "is_premium", Rule: "missing column"},
			{Line: 1, Column: "target", Rule: "missing column"},
		}},
		{"empty file", "", []P{{Rule: "header"}}},
		{"byte order mark only", "\ufeff", []P{{Rule: "header"}}},
		{"whitespace only, one line", "  \t ", []P{{Rule: "header"}}},
		// A blank first line followed by anything is reported at line 1.
		{"whitespace only, several lines", " \n\t\n  \n", []P{{Line: 1, Rule: "header"}}},
		{"blank line before the header", "\n" + csvHeader + csvRows, []P{{Line: 1, Rule: "header"}}},
		{"header only", csvHeader, []P{{Rule: "rows"}}},
		{"header only, no trailing newline", strings.TrimSuffix(csvHeader, "\n"), []P{{Rule: "rows"}}},
		{"header and blank lines", csvHeader + "\n\n\r\n", []P{{Rule: "rows"}}},
		{"header with an unterminated quote", `"age,income` + "\n1,2\n", []P{{Line: 1, Rule: "csv"}}},

		// Cells that are not numbers.
		{"letters", csvHeader + "abc,1,2,3,0,0\n" + csvRows, []P{{Line: 2, Column: "age", Value: "abc", Rule: "number"}}},
		{"decimal comma, quoted", csvHeader + `30,"1,5",2,3,0,0` + "\n" + csvRows, []P{{Line: 2, Column: "income", Value: "1,5", Rule: "number"}}},
		{"hex", csvHeader + "30,0x10,2,3,0,0\n" + csvRows, []P{{Line: 2, Column: "income", Value: "0x10", Rule: "number"}}},
		{"hex float", csvHeader + "30,1,0x1p3,3,0,0\n" + csvRows, []P{{Line: 2, Column: "account_balance", Value: "0x1p3", Rule: "number"}}},
		{"underscore digits", csvHeader + "30,1_000,2,3,0,0\n" + csvRows, []P{{Line: 2, Column: "income", Value: "1_000", Rule: "number"}}},
		{"two dots", csvHeader + "30,1.2.3,2,3,0,0\n" + csvRows, []P{{Line: 2, Column: "income", Value: "1.2.3", Rule: "number"}}},
		{"sign only", csvHeader + "30,1,-,3,0,0\n" + csvRows, []P{{Line: 2, Column: "account_balance", Value: "-", Rule: "number"}}},
		{"trailing unit", csvHeader + "30,52000USD,2,3,0,0\n" + csvRows, []P{{Line: 2, Column: "income", Value: "52000USD", Rule: "number"}}},
		{"text label", csvHeader + "30,1,2,3,0,yes\n" + csvRows, []P{{Line: 2, Column: "target", Value: "yes", Rule: "number"}}},

		// Domain rules.
		{"negative age", csvHeader + "-1,1,2,3,0,0\n" + csvRows, []P{{Line: 2, Column: "age", Value: "-1", Rule: "gte=0"}}},
		{"negative fractional age", csvHeader + "-0.5,1,2,3,0,0\n" + csvRows, []P{{Line: 2, Column: "age", Value: "-0.5", Rule: "gte=0"}}},
		{"negative transactions", csvHeader + "30,1,2,-3,0,0\n" + csvRows, []P{{Line: 2, Column: "transactions_last_30d", Value: "-3", Rule: "gte=0"}}},
		{"is_premium 2", csvHeader + "30,1,2,3,2,0\n" + csvRows, []P{{Line: 2, Column: "is_premium", Value: "2", Rule: "binary"}}},
		{"is_premium 0.5", csvHeader + "30,1,2,3,0.5,0\n" + csvRows, []P{{Line: 2, Column: "is_premium", Value: "0.5", Rule: "binary"}}},
		{"is_premium -1", csvHeader + "30,1,2,3,-1,0\n" + csvRows, []P{{Line: 2, Column: "is_premium", Value: "-1", Rule: "binary"}}},
		{"target 2", csvHeader + csvRows + "30,1,2,3,0,2\n", []P{{Line: 6, Column: "target", Value: "2", Rule: "binary"}}},
		{"target 0.5", csvHeader + csvRows + "30,1,2,3,0,0.5\n", []P{{Line: 6, Column: "target", Value: "0.5", Rule: "binary"}}},
		{"target -1", csvHeader + csvRows + "30,1,2,3,0,-1\n", []P{{Line: 6, Column: "target", Value: "-1", Rule: "binary"}}},

		{"several bad cells in one row", csvHeader + csvRows + "-1,abc,NA,-2,3,0.5\n", []P{
			{Line: 6, Column: "age", Value: "-1", Rule: "gte=0"},
			{Line: 6, Column: "income", Value: "abc", Rule: "number"},
			{Line: 6, Column: "account_balance", Value: "NA", Rule: "required"},
			{Line: 6, Column: "transactions_last_30d", Value: "-2", Rule: "gte=0"},
			{Line: 6, Column: "is_premium", Value: "3", Rule: "binary"},
			{Line: 6, Column: "target", Value: "0.5", Rule: "binary"},
		}},
		{"bad cells on several rows, in file order", csvHeader + "-1,1,2,3,0,0\n" + csvRows + "30,1,2,3,0,7\n30,x,2,3,0,0\n", []P{
			{Line: 2, Column: "age", Value: "-1", Rule: "gte=0"},
			{Line: 7, Column: "target", Value: "7", Rule: "binary"},
			{Line: 8, Column: "income", Value: "x", Rule: "number"},
		}},
		{"reordered columns name the right column", "target,is_premium,transactions_last_30d,account_balance,income,age\n" + "0,1,2,3,4,-5\n1,1,2,3,4,5\n", []P{
			{Line: 2, Column: "age", Value: "-5", Rule: "gte=0"},
		}},
		{"bad cell beside an extra column", "id,age,income,account_balance,transactions_last_30d,is_premium,target\nx,30,1,2,3,0,9\n", []P{
			{Line: 2, Column: "target", Value: "9", Rule: "binary"},
		}},

		// CSV structure.
		{"too few fields", csvHeader + csvRows + "1,2,3\n", []P{{Line: 6, Rule: "csv"}}},
		{"too many fields", csvHeader + "1,2,3,4,0,0,7\n" + csvRows, []P{{Line: 2, Rule: "csv"}}},
		{"bare quote", csvHeader + "30,52\"000,1,2,0,0\n" + csvRows, []P{{Line: 2, Rule: "csv"}}},
		{"unterminated quote", csvHeader + csvRows + "30,\"52000,1,2,0,0\n", []P{{Line: 6, Rule: "csv"}}},
		{"unterminated quote swallowing the rest", csvHeader + "30,\"52000,1,2,0,0\n" + csvRows, []P{{Line: 2, Rule: "csv"}}},

		// Classes.
		{"single class 0", csvHeader + "1,2,3,4,0,0\n1,2,3,4,1,0\n1,2,3,4,0,0\n", []P{{Column: "target", Rule: "classes"}}},
		{"single class 1", csvHeader + "1,2,3,4,0,1\n1,2,3,4,1,1\n", []P{{Column: "target", Rule: "classes"}}},
		{"one row of class 1", csvHeader + "1,2,3,4,0,0\n1,2,3,4,0,0\n1,2,3,4,0,0\n1,2,3,4,0,1\n", []P{{Column: "target", Rule: "classes"}}},
		{"one row of class 0", csvHeader + "1,2,3,4,0,0\n1,2,3,4,0,1\n1,2,3,4,0,1\n", []P{{Column: "target", Rule: "classes"}}},
		{"one row in all", csvHeader + "1,2,3,4,0,0\n", []P{{Column: "target", Rule: "classes"}}},

		// Line numbers count physical lines.
		{"after a quoted newline in an extra column",
			"age,note,income,account_balance,transactions_last_30d,is_premium,target\n" +
				"30,\"two\nlines\",1,2,3,0,0\n" + // lines 2–3
				"30,\"three\r\nlines\nhere\",1,2,3,0,1\n" + // lines 4–6
				"30,plain,1,2,3,0,0\n" + // line 7
				"30,\"x\",1,-2,-3,0,1\n", // line 8
			[]P{{Line: 8, Column: "transactions_last_30d", Value: "-3", Rule: "gte=0"}}},
		{"bad row that spans lines starts on its first line",
			"age,note,income,account_balance,transactions_last_30d,is_premium,target\n" +
				"-30,\"two\nlines\",1,2,3,0,0\n" + csvRowsWithNote,
			[]P{{Line: 2, Column: "age", Value: "-30", Rule: "gte=0"}}},
		{"after a quoted newline in the header",
			"age,income,\"a\nnote\",account_balance,transactions_last_30d,is_premium,target\n" + // lines 1–2
				"30,1,x,2,3,0,0\n30,1,x,2,3,0,1\n30,1,x,2,3,0,0\n" + // lines 3–5
				"30,1,x,2,3,0,5\n", // line 6
			[]P{{Line: 6, Column: "target", Value: "5", Rule: "binary"}}},
		{"field count after a quoted newline in the header",
			"age,income,\"a\nnote\",account_balance,transactions_last_30d,is_premium,target\n30,1,x\n",
			[]P{{Line: 3, Rule: "csv"}}},
		{"after blank lines and CRLF", strings.ReplaceAll(csvHeader+"\n"+csvRows+"\n\n", "\n", "\r\n") + "30,1,2,3,0,x\r\n",
			[]P{{Line: 9, Column: "target", Value: "x", Rule: "number"}}},
		{"value quoted as found", csvHeader + csvRows + "\" -7 \",1,2,3,0,0\n",
			[]P{{Line: 6, Column: "age", Value: " -7 ", Rule: "gte=0"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			verr := mustReject(t, tc.input)
			if diff := cmp.Diff(tc.want, verr.Problems, problemOpts); diff != "" {
				t.Errorf("problems (-want +got):\n%s\nerror: %v", diff, verr)
			}
			if verr.Total != len(tc.want) {
				t.Errorf("Total = %d, want %d", verr.Total, len(tc.want))
			}
			if verr.Source != "" {
				t.Errorf("Source = %q for a reader, want \"\"", verr.Source)
			}
		})
	}
}

// csvRowsWithNote is csvRows with a note column second.
const csvRowsWithNote = "30,a,52000.5,-120.25,7,1,1\n41,b,48000,300,0,0,0\n25,c,39000.75,0,12,0,1\n63,d,81000,15000.5,3,1,0\n"

// TestValidateNulls checks every spelling of a missing value, in a column
// with no other rule (income) and in one with a domain rule (age), where
// "required" must win over the domain rule.
func TestValidateNulls(t *testing.T) {
	nulls := []string{
		"", " ", "NA", "na", "N/A", "n/a", "NaN", "nan", "NAN", "-nan", "null", "NULL", "Null", "None", "none", "nil",
		"inf", "Inf", "-Inf", "+inf", "INF", "Infinity", "-Infinity", "+Infinity",
		"1e400", "-1e400", "1.5e999", "  NaN  ",
	}
	for _, column := range []string{"income", "age"} {
		for _, null := range nulls {
			t.Run(fmt.Sprintf("%s=%q", column, null), func(t *testing.T) {
				row := map[string]string{"age": "30", "income": "52000", "account_balance": "1", "transactions_last_30d": "2", "is_premium": "0", "target": "1"}
				row[column] = null
				line := fmt.Sprintf("%s,%s,%s,%s,%s,%s\n", row["age"], row["income"], row["account_balance"],
					row["transactions_last_30d"], row["is_premium"], row["target"])
				verr := mustReject(t, csvHeader+csvRows+line)
				want := []mlservice.Problem{{Line: 6, Column: column, Value: null, Rule: "required"}}
				if diff := cmp.Diff(want, verr.Problems, problemOpts); diff != "" {
					t.Errorf("problems (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestValidateManyProblems: every problem is counted, the first MaxProblems
// are listed in line order.
func TestValidateManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString(csvHeader)
	var want []mlservice.Problem
	line := 1
	for i := range 60 {
		b.WriteString(csvRows)
		line += 4
		fmt.Fprintf(&b, "-%d,1,2,-1,0,0\n", i+1) // two problems on one line
		line++
		want = append(want,
			mlservice.Problem{Line: line, Column: "age", Value: fmt.Sprintf("-%d", i+1), Rule: "gte=0"},
			mlservice.Problem{Line: line, Column: "transactions_last_30d", Value: "-1", Rule: "gte=0"})
	}
	verr := mustReject(t, b.String())
	if verr.Total != 120 {
		t.Errorf("Total = %d, want 120", verr.Total)
	}
	if diff := cmp.Diff(want[:mlservice.MaxProblems], verr.Problems, problemOpts); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if msg := verr.Error(); !strings.Contains(msg, fmt.Sprintf("and %d more", 120-mlservice.MaxProblems)) || !strings.HasPrefix(msg, "invalid data in input: 120 problems") {
		t.Errorf("Error() = %q, want the total and the count of unlisted problems", msg)
	}
}

// bigCSV builds a file of n rows, some with a quoted multi-line note, and
// bad cells at the given row indexes. It returns the bytes, the problems
// expected (with their physical line numbers) and the parsed values of a
// good file.
func bigCSV(n int, bad map[int]bool) (data []byte, want []mlservice.Problem, x [mlservice.NumFeatures][]float64, y []uint8) {
	var b bytes.Buffer
	b.WriteString("age,income,note,account_balance,transactions_last_30d,is_premium,target\n")
	line := 2
	for i := range n {
		age, income, bal, tx, prem, target := 18+i%70, float64(20000+i%9973)+0.25, float64(i%5000-1000)/4, i%31, i%3%2, i%5%2
		note := "n"
		lines := 1
		switch i % 7 {
		case 3:
			note, lines = "\"a quoted\nnote, with a comma\"", 2
		case 5:
			note, lines = "\"\"\"quoted\"\"\r\n\n\"", 3
		}
		ageText := strconv.Itoa(age)
		if bad[i] {
			ageText = "-" + ageText
			want = append(want, mlservice.Problem{Line: line, Column: "age", Value: ageText, Rule: "gte=0"})
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,%d,%d,%d\n", ageText, strconv.FormatFloat(income, 'f', -1, 64), note,
			strconv.FormatFloat(bal, 'f', -1, 64), tx, prem, target)
		line += lines
		x[0] = append(x[0], float64(age))
		x[1] = append(x[1], income)
		x[2] = append(x[2], bal)
		x[3] = append(x[3], float64(tx))
		x[4] = append(x[4], float64(prem))
		y = append(y, uint8(target))
	}
	return b.Bytes(), want, x, y
}

// chunkReader returns at most n bytes per Read, to cut blocks at odd places.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// TestValidateLargeFile validates files of more than three 1 MiB blocks:
// problems early, in the middle and at the end get their physical line
// numbers, and a good file gives the values it holds.
func TestValidateLargeFile(t *testing.T) {
	const n = 110_000
	bad := map[int]bool{0: true, 6: true, n / 2: true, n/2 + 3: true, n - 2: true, n - 1: true}
	data, want, _, _ := bigCSV(n, bad)
	if len(data) < 3<<20 {
		t.Fatalf("test file has %d bytes, want more than 3 MiB", len(data))
	}
	good, _, x, y := bigCSV(n, nil)
	path := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	readers := []struct {
		name string
		open func(data []byte) io.Reader
	}{
		{"bytes", func(data []byte) io.Reader { return bytes.NewReader(data) }},
		{"chunks of 7777 bytes", func(data []byte) io.Reader { return chunkReader{bytes.NewReader(data), 7777} }},
		{"half reads", func(data []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }},
	}
	for _, rd := range readers {
		t.Run("bad/"+rd.name, func(t *testing.T) {
			_, err := mlservice.Validate(context.Background(), rd.open(data))
			var verr *mlservice.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			if diff := cmp.Diff(want, verr.Problems, problemOpts); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if verr.Total != len(want) {
				t.Errorf("Total = %d, want %d", verr.Total, len(want))
			}
		})
		t.Run("good/"+rd.name, func(t *testing.T) {
			ds, err := mlservice.Validate(context.Background(), rd.open(good))
			if err != nil {
				t.Fatal(err)
			}
			// slices.Equal: cmp takes a second over columns this long.
			for j := range x {
				if !slices.Equal(x[j], ds.X[j]) {
					t.Errorf("column %s differs from the values written", mlservice.FeatureNames[j])
				}
			}
			if !slices.Equal(y, ds.Y) {
				t.Errorf("target differs from the values written")
			}
		})
	}
	t.Run("problems in every block, over the cap", func(t *testing.T) {
		bad := map[int]bool{}
		for i := 3; i < n; i += n / 40 {
			bad[i] = true
		}
		data, want, _, _ := bigCSV(n, bad)
		_, err := mlservice.Validate(context.Background(), chunkReader{bytes.NewReader(data), 1 << 16})
		var verr *mlservice.ValidationError
		if !errors.As(err, &verr) {
			t.Fatalf("Validate = %v, want a *ValidationError", err)
		}
		if verr.Total != len(want) || len(want) <= mlservice.MaxProblems {
			t.Errorf("Total = %d, want %d (more than MaxProblems)", verr.Total, len(want))
		}
		if diff := cmp.Diff(want[:mlservice.MaxProblems], verr.Problems, problemOpts); diff != "" {
			t.Errorf("problems (-want +got):\n%s", diff)
		}
	})
	t.Run("bad/file", func(t *testing.T) {
		_, err := mlservice.ValidateFile(context.Background(), path)
		var verr *mlservice.ValidationError
		if !errors.As(err, &verr) {
			t.Fatalf("ValidateFile = %v, want a *ValidationError", err)
		}
		if diff := cmp.Diff(want, verr.Problems, problemOpts); diff != "" {
			t.Errorf("problems (-want +got):\n%s", diff)
		}
		if verr.Source != path {
			t.Errorf("Source = %q, want %q", verr.Source, path)
		}
	})
}

// TestValidateAcceptedVariants: each spelling of the same rows gives the
// same Dataset as the plain file.
func TestValidateAcceptedVariants(t *testing.T) {
	plain := csvHeader + csvRows
	base, err := mlservice.Validate(context.Background(), strings.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	// The plain file's values, written out by hand.
	want := &mlservice.Dataset{
		X: [][]float64{
			{30, 41, 25, 63},
			{52000.5, 48000, 39000.75, 81000},
			{-120.25, 300, 0, 15000.5},
			{7, 0, 12, 3},
			{1, 0, 0, 1},
		},
		Y: []uint8{1, 0, 1, 0},
	}
	sum := sha256.Sum256([]byte(plain))
	want.SHA256 = hex.EncodeToString(sum[:])
	if diff := cmp.Diff(want, base); diff != "" {
		t.Fatalf("plain file (-want +got):\n%s", diff)
	}

	tests := []struct{ name, input string }{
		{"byte order mark", "\ufeff" + plain},
		{"CRLF", strings.ReplaceAll(plain, "\n", "\r\n")},
		{"byte order mark and CRLF", "\ufeff" + strings.ReplaceAll(plain, "\n", "\r\n")},
		{"no trailing newline", strings.TrimSuffix(plain, "\n")},
		{"no trailing CRLF", strings.TrimSuffix(strings.ReplaceAll(plain, "\n", "\r\n"), "\r\n")},
		{"every field quoted", quoteAll(plain)},
		{"quoted header and byte order mark", "\ufeff" + quoteAll(plain)},
		{"reordered columns", "target,is_premium,income,transactions_last_30d,age,account_balance\n" +
			"1,1,52000.5,7,30,-120.25\n0,0,48000,0,41,300\n1,0,39000.75,12,25,0\n0,1,81000,3,63,15000.5\n"},
		{"extra columns", "id,age,income,comment,account_balance,transactions_last_30d,is_premium,target,score\n" +
			"a,30,52000.5,,-120.25,7,1,1,NaN\nb,41,48000,x,300,0,0,0,-1\nc,25,39000.75,y,0,12,0,1,\nd,63,81000,z,15000.5,3,1,0,2\n"},
		{"extra column with a quoted comma and newline", "age,income,account_balance,note,transactions_last_30d,is_premium,target\n" +
			"30,52000.5,-120.25,\"a, b\",7,1,1\n41,48000,300,\"line\nbreak\",0,0,0\n25,39000.75,0,\"\"\"q\"\"\",12,0,1\n63,81000,15000.5,,3,1,0\n"},
		{"extra unnamed column", "age,income,account_balance,transactions_last_30d,is_premium,target,\n" +
			"30,52000.5,-120.25,7,1,1,\n41,48000,300,0,0,0,\n25,39000.75,0,12,0,1,\n63,81000,15000.5,3,1,0,\n"},
		{"spaces around names and values", " age ,income\t, account_balance,transactions_last_30d , is_premium,target \n" +
			" 30 ,52000.5 ,\t-120.25, 7,1 , 1\n41,  48000,300,0,0,0\n25,39000.75,0 ,12,0,1\n63,81000,15000.5,3,1,0 \n"},
		{"blank lines", csvHeader + "\n" + "30,52000.5,-120.25,7,1,1\n\n\n41,48000,300,0,0,0\n25,39000.75,0,12,0,1\n63,81000,15000.5,3,1,0\n\n"},
		{"other spellings of the numbers", csvHeader +
			"30.0,52000.50,-120.250,7,1.0,1\n+41,4.8e4,3E2,0.0,0,0\n25,39000.75,-0,12,0,1.00\n63,81000,15000.5,3,1,-0\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := mlservice.Validate(context.Background(), strings.NewReader(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(base, ds, cmpopts.IgnoreFields(mlservice.Dataset{}, "SHA256")); diff != "" {
				t.Errorf("dataset differs from the plain file's (-plain +got):\n%s", diff)
			}
			sum := sha256.Sum256([]byte(tc.input))
			if ds.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("SHA256 = %s, want the hash of the bytes read", ds.SHA256)
			}
		})
	}
}

// quoteAll quotes every field of a simple CSV text (no quotes or commas in
// its fields).
func quoteAll(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		body := strings.TrimSuffix(line, "\n")
		if body == "" {
			b.WriteString(line)
			continue
		}
		b.WriteString(`"` + strings.ReplaceAll(body, ",", `","`) + `"`)
		if strings.HasSuffix(line, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// A finite value too large to standardize (1e200 in income once passed
// validation and then failed training with "scale NaN must be finite") is a
// problem with its line, column, value and rule, in every numeric column.
func TestValidateMagnitude(t *testing.T) {
	type P = mlservice.Problem
	for _, col := range mlservice.FeatureNames[:4] { // is_premium is 0 or 1 anyway
		for _, value := range []string{"1e200", "1000000000000001", "1.0000000000000002e15", "1e16"} {
			t.Run(col+"="+value, func(t *testing.T) {
				verr := mustReject(t, csvHeader+csvRows+rowWith(col, value))
				want := []P{{Line: 6, Column: col, Value: value, Rule: "maxabs"}}
				if diff := cmp.Diff(want, verr.Problems, problemOpts); diff != "" {
					t.Fatalf("problems (-want +got):\n%s", diff)
				}
				msg := verr.Error()
				for _, part := range []string{"line 6", fmt.Sprintf("column %q", col), fmt.Sprintf("value %q", value), "(maxabs)", "1e+15"} {
					if !strings.Contains(msg, part) {
						t.Errorf("error %q does not mention %q", msg, part)
					}
				}
			})
		}
	}
	for _, col := range []string{"income", "account_balance"} {
		t.Run(col+"=-1e200", func(t *testing.T) {
			verr := mustReject(t, csvHeader+csvRows+rowWith(col, "-1e200"))
			want := []P{{Line: 6, Column: col, Value: "-1e200", Rule: "maxabs"}}
			if diff := cmp.Diff(want, verr.Problems, problemOpts); diff != "" {
				t.Fatalf("problems (-want +got):\n%s", diff)
			}
		})
	}
	// A negative age is reported as negative, not as too large.
	verr := mustReject(t, csvHeader+csvRows+rowWith("age", "-1e200"))
	if diff := cmp.Diff([]P{{Line: 6, Column: "age", Value: "-1e200", Rule: "gte=0"}}, verr.Problems, problemOpts); diff != "" {
		t.Errorf("age=-1e200: problems (-want +got):\n%s", diff)
	}
}

// Data that validates must train: MaxAbsValue itself, positive and negative,
// in every numeric column, among ordinary rows.
func TestValidateLargestValueTrains(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("data", "day_01.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	header := strings.Split(strings.TrimSpace(lines[0]), ",")
	for i, col := range mlservice.FeatureNames[:4] {
		for k, v := range []string{"1e15", "1000000000000000", "-1e15"} {
			if v == "-1e15" && (col == "age" || col == "transactions_last_30d") {
				continue
			}
			row := 1 + 7*i + 2*k
			cells := strings.Split(strings.TrimSpace(lines[row]), ",")
			cells[slices.Index(header, col)] = v
			lines[row] = strings.Join(cells, ",") + "\n"
		}
	}
	ds, err := mlservice.Validate(context.Background(), strings.NewReader(strings.Join(lines, "")))
	if err != nil {
		t.Fatal(err)
	}
	for j := range 4 {
		if m := slices.Max(ds.X[j]); m != mlservice.MaxAbsValue {
			t.Fatalf("%s: largest value %v, want MaxAbsValue", mlservice.FeatureNames[j], m)
		}
	}
	cand, err := mlservice.Train(context.Background(), ds, mlservice.TrainOptions{})
	if err != nil {
		t.Fatalf("validated data does not train: %v", err)
	}
	t.Logf("F1 %.4f with MaxAbsValue in every numeric column", cand.Metadata.Metric.Value)
}

// rowWith is a valid class-1 data row with column col set to value.
func rowWith(col, value string) string {
	cells := map[string]string{"age": "30", "income": "52000", "account_balance": "-120", "transactions_last_30d": "7", "is_premium": "1", "target": "1"}
	cells[col] = value
	var out []string
	for _, c := range strings.Split(strings.TrimSpace(csvHeader), ",") {
		out = append(out, cells[c])
	}
	return strings.Join(out, ",") + "\n"
}
