package csvsplit

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

// FuzzRecords: Records reads a block as encoding/csv reads it with the same
// field count: the same records with the same fields and lines, the same
// errors in the same places.
func FuzzRecords(f *testing.F) {
	for _, s := range []string{
		"1,2,3\n4,5,6\n", "1,2,3\r\n4,5,6", "1,2\n\n\n3,4,5\n", " , ,\n", "a,b,c\r\r\n", "x,y,z\r", "\r\n\r\n1,2,3\n",
		"1,\"2,3\",4\n5,6,7\n", "1,\"a\nb\",2\n", "1,2\"x,3\n", "\"a,b,c\n", "a,\"b\"\"c\",d\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, block []byte, fields uint8) {
		n := int(fields%5) + 1
		var r Records
		r.Reset(block, n)
		ref := csv.NewReader(bytes.NewReader(block))
		ref.FieldsPerRecord = n
		for {
			want, werr := ref.Read()
			if werr == io.EOF {
				if r.Next() {
					t.Fatalf("%q: a record after encoding/csv's last: %q", block, r.Field(0))
				}
				return
			}
			if !r.Next() {
				t.Fatalf("%q: no record where encoding/csv reads %q (%v)", block, want, werr)
			}
			if (werr == nil) != (r.Err() == nil) || werr != nil && werr.Error() != r.Err().Error() {
				t.Fatalf("%q: error %v, encoding/csv %v", block, r.Err(), werr)
			}
			if werr != nil && !errors.Is(werr, csv.ErrFieldCount) {
				continue
			}
			line, _ := ref.FieldPos(0)
			if werr != nil {
				var perr *csv.ParseError
				errors.As(werr, &perr)
				line = perr.StartLine
			}
			if r.Line() != line {
				t.Fatalf("%q: record %q on line %d, encoding/csv says %d", block, want, r.Line(), line)
			}
			if r.Len() != len(want) {
				t.Fatalf("%q: %d fields, encoding/csv %d", block, r.Len(), len(want))
			}
			for i, w := range want {
				if string(r.Field(i)) != w {
					t.Fatalf("%q: field %d %q, encoding/csv %q", block, i, r.Field(i), w)
				}
			}
		}
	})
}

// TestSplitterBlocks: blocks end on record boundaries (never inside quotes)
// and together are the input after the header.
func TestSplitterBlocks(t *testing.T) {
	var b strings.Builder
	b.WriteString("a,b\n")
	for i := range 200000 {
		if i%1000 == 0 {
			b.WriteString("\"x\ny\",1\n")
		} else {
			b.WriteString(strconv.Itoa(i) + ",1\n")
		}
	}
	in := b.String()
	s := NewSplitter(strings.NewReader(in), 1<<12)
	hdr, lines, err := s.Header()
	if err != nil || len(hdr) != 2 || lines != 1 {
		t.Fatalf("header %q, %d, %v", hdr, lines, err)
	}
	var got []byte
	blocks := 0
	for {
		block, err := s.Next(nil)
		got = append(got, block...)
		blocks++
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if block[len(block)-1] != '\n' || bytes.Count(block, []byte{'"'})%2 != 0 {
			t.Fatalf("block %d ends inside a record", blocks)
		}
	}
	if string(got) != in[len("a,b\n"):] || blocks < 2 {
		t.Fatalf("%d blocks do not make the input", blocks)
	}
}

func TestSplitterLimits(t *testing.T) {
	long := strings.Repeat("x", 100)
	for _, tc := range []struct {
		name, in string
		header   bool
	}{
		{"header", long + "\n1\n", true},
		{"record", "a\n1\n" + long + "\n2\n", false},
		{"quoted record", "a\n\"" + long + "\n\"\n", false},
		{"last record", "a\n1\n" + long, false},
	} {
		s := NewSplitter(strings.NewReader(tc.in), 50)
		_, _, err := s.Header()
		if tc.header {
			var he *HeaderError
			if !errors.As(err, &he) || !strings.Contains(he.Reason, "MaxLineBytes") {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		for err == nil {
			_, err = s.Next(nil)
		}
		var le *LineTooLongError
		if !errors.As(err, &le) {
			t.Errorf("%s: %v, want a *LineTooLongError", tc.name, err)
		}
	}
}

// FuzzParseDecimal checks the fast number parser against strconv, bit for
// bit, and ParseCell against the rules written out again here.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{
		"0", "-0", "+0", "1", "-123", "123.45", "0.1", ".5", "5.", "-.5", "+.5", ".", "-", "+", "",
		"9007199254740992", "9007199254740993", "9007199254740993.5", "1234567890123456789", "12345678901234567890",
		// Mantissas above 2⁵³, where rounding twice (to float64, then by
		// the division) differs from strconv's single rounding.
		"3550185.250198970214", "108730562814102762.1", "62023990302012.8081",
		"0.0000000000000000000001", "0.00000000000000000000001", "1.7976931348623157e308", "1e400", "-1e400", "1e-400",
		"1e5", "1E-5", "0x10", "0x1p3", "1_000", "1,5", "NaN", "-inf", "Infinity", "NA", "n/a", "null", "None", "nil",
		" 42 ", "\t-7\n", "\u00a012\u00a0", "١٢", "abc", "e5", "-e5", "1e", "1.2.3", "--1", "+-1", "00012.5000", "NULL", "nUlL",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, ok := ParseDecimal(s); ok {
			want, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("ParseDecimal(%q) = %v, strconv fails: %v", s, v, err)
			}
			if math.Float64bits(v) != math.Float64bits(want) {
				t.Fatalf("ParseDecimal(%q) = %v (%#x), strconv %v (%#x)", s, v, math.Float64bits(v), want, math.Float64bits(want))
			}
		}
		v, kind := ParseCell([]byte(s))
		wantKind, want := referenceCell(s)
		if kind != wantKind {
			t.Fatalf("ParseCell(%q): kind %d, the rules say %d", s, kind, wantKind)
		}
		if kind == Number && math.Float64bits(v) != math.Float64bits(want) {
			t.Fatalf("ParseCell(%q) = %v, strconv %v", s, v, want)
		}
		if IsNull(s) != IsNull([]byte(s)) {
			t.Fatalf("IsNull(%q) differs for bytes", s)
		}
		// A missing value is a null spelling that is not an infinity.
		t2 := strings.ToLower(strings.TrimSpace(s))
		wantMissing := IsNull(t2) && !strings.HasSuffix(t2, "inf") && !strings.HasSuffix(t2, "infinity")
		if IsMissing(t2) != wantMissing || IsMissing([]byte(t2)) != wantMissing {
			t.Fatalf("IsMissing(%q) = %v, want %v", t2, IsMissing(t2), wantMissing)
		}
	})
}

// referenceCell classifies a cell the slow obvious way: after trimming
// spaces, a null spelling (or a decimal that overflows float64) is a null;
// plain decimal notation that strconv parses is a number; anything else
// (hex, underscores, words, …) is text.
func referenceCell(s string) (Kind, float64) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "", "na", "n/a", "nan", "-nan", "+nan", "null", "none", "nil",
		"inf", "-inf", "+inf", "infinity", "-infinity", "+infinity":
		return Null, 0
	}
	if strings.Trim(t, "0123456789.+-eE") != "" {
		return Text, 0
	}
	v, err := strconv.ParseFloat(t, 64)
	switch {
	case err == nil:
		return Number, v
	case errors.Is(err, strconv.ErrRange) && math.IsInf(v, 0):
		return Null, 0
	}
	return Text, 0
}

func TestRecordsDoNotAllocate(t *testing.T) {
	block := []byte(strings.Repeat("42,52000.5,-120.25,7,1,1\n", 100))
	var r Records
	r.Reset(block, 6) // grows its bounds once
	for r.Next() {
	}
	n := testing.AllocsPerRun(10, func() {
		r.Reset(block, 6)
		for r.Next() {
			ParseCell(r.Field(1))
		}
	})
	if n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func BenchmarkRecords(b *testing.B) {
	block := []byte(strings.Repeat("42,52000.5,-120.25,7,1,1\n", 40000))
	var r Records
	b.SetBytes(int64(len(block)))
	for b.Loop() {
		r.Reset(block, 6)
		for r.Next() {
			for i := range 6 {
				ParseCell(r.Field(i))
			}
		}
	}
}

// TestDecodeInOrder: blocks decoded on several goroutines reach collect in
// input order, each with the file line it starts on, and a record over the
// limit ends the input with its line.
func TestDecodeInOrder(t *testing.T) {
	var b strings.Builder
	b.WriteString("n\n")
	for i := range 300000 {
		b.WriteString(strconv.Itoa(i) + "\n")
	}
	type res struct {
		first, firstLine, rows int
	}
	sp := NewSplitter(strings.NewReader(b.String()+strings.Repeat("x", 5000)), 4096)
	if _, _, err := sp.Header(); err != nil {
		t.Fatal(err)
	}
	next, line := 0, 2
	err := Decode(context.Background(), sp, 2, 4, func(blk Block, r *res) {
		var recs Records
		recs.Reset(blk.Data, 1)
		*r = res{first: -1, firstLine: blk.FirstLine}
		for recs.Next() {
			if r.first < 0 {
				r.first, _ = strconv.Atoi(string(recs.Field(0)))
			}
			r.rows++
		}
	}, func(r *res) {
		if r.first != next || r.firstLine != line {
			t.Fatalf("block starting at row %d, line %d; want row %d, line %d", r.first, r.firstLine, next, line)
		}
		next += r.rows
		line += r.rows
	})
	var long *LineTooLongError
	if !errors.As(err, &long) || long.Line != 300002 || next != 300000 {
		t.Fatalf("Decode = %v (line %v) after %d rows", err, long, next)
	}
}
