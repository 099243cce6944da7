package jsonscan_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mlservice/mlservice/internal/jsonscan"
)

// decode reads any value with r into what encoding/json makes of it: maps,
// slices, float64, string (invalid UTF-8 replaced byte by byte), bool, nil.
func decode(r *jsonscan.Reader) (any, bool) {
	switch r.Peek() {
	case jsonscan.Null:
		return nil, r.Null()
	case jsonscan.Bool:
		return r.Bool()
	case jsonscan.Number:
		v, inRange, ok := r.Float()
		return v, ok && inRange
	case jsonscan.String:
		b, ok := r.Bytes()
		return string([]rune(string(b))), ok
	case jsonscan.Array:
		out := []any{}
		if !r.BeginArray() {
			return nil, false
		}
		for r.NextElem() {
			v, ok := decode(r)
			if !ok {
				return nil, false
			}
			out = append(out, v)
		}
		return out, r.Err() == nil
	case jsonscan.Object:
		out := map[string]any{}
		if !r.BeginObject() {
			return nil, false
		}
		for {
			k, ok := r.NextKey()
			if !ok {
				break
			}
			key := string([]rune(string(k)))
			v, ok := decode(r)
			if !ok {
				return nil, false
			}
			out[key] = v
		}
		return out, r.Err() == nil
	}
	r.Skip()
	return nil, false
}

var seeds = []string{
	`{"a": [1, -2.5e3, 0.1, "x\u00e9\ud83d\ude00", true, false, null, {}, []]}`,
	`[]`, `{}`, ` 1 `, `"\ud800"`, `"\udc00\u0041"`, `"\ud800\ud800"`, `-0`, `1e400`, `1e-400`,
	`{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a" 1}`, `01`, `1.`, `.5`, `+1`, `1e`, `"\x"`, "\"a\tb\"",
	`[1 2]`, `{"a":1 "b":2}`, `"abc`, `nul`, `tru`, `[`, `{"a":`, "\"\xff\xfe\"", `{"a":1}{}`,
	// Strings longer than the eight bytes that the scan of a string tests
	// at once, with what stops it at each place in a word.
	`{"abcdefgh":"ijklmnop","0123456\"789abcdef":"x\u00e9y\\z12345678"}`, `["abcdefghijklmno\/", "abcdefghi\u00e9jklmnopqr"]`,
	"\"abcdefghé\"", "[\"abcdefg\x01\", \"abcdefgh\xff\"]", "\"abcdefgh\x7fijklmnop\x1f\"", `"abcdefghijklmnop`,
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
}

func TestReaderAgreesOnSeeds(t *testing.T) {
	for _, s := range seeds {
		agree(t, []byte(s))
	}
}

func FuzzReaderAgrees(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(agree)
}

// agree checks the reader against encoding/json on data: the same verdict
// on validity, and the same value where both accept it.
func agree(t *testing.T, data []byte) {
	var r jsonscan.Reader
	r.Reset(data)
	ok := r.Skip()
	err := r.Finish()
	if valid := json.Valid(data); (ok && err == nil) != valid {
		t.Fatalf("%q: Skip ok=%v err=%v, json.Valid=%v", trunc(data), ok, err, valid)
	}
	if err != nil {
		var se *jsonscan.SyntaxError
		if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(data) {
			t.Fatalf("%q: error %v is not a SyntaxError inside the input", trunc(data), err)
		}
		return
	}
	r.Reset(data)
	if raw, ok := r.Raw(); !ok || string(raw) != strings.Trim(string(data), " \t\r\n") {
		t.Fatalf("%q: Raw = %q, %v; want the value without its white space", trunc(data), trunc(raw), ok)
	}
	var want any
	wantErr := json.Unmarshal(data, &want)
	r.Reset(data)
	got, ok := decode(&r)
	if ok {
		ok = r.Finish() == nil
	}
	if ok != (wantErr == nil) {
		t.Fatalf("%q: decode ok=%v, encoding/json error %v", trunc(data), ok, wantErr)
	}
	if ok && !reflect.DeepEqual(want, got) { // cmp.Diff only to explain: it is slow on deep nesting
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%q: value (-encoding/json +jsonscan):\n%s", trunc(data), diff)
		}
	}
}

func trunc(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

func TestFloatOutOfRange(t *testing.T) {
	var r jsonscan.Reader
	r.Reset([]byte(`-1e999`))
	if _, inRange, ok := r.Float(); !ok || inRange {
		t.Errorf("Float(-1e999): ok=%v inRange=%v, want a valid number out of range", ok, inRange)
	}
}

func TestSyntaxErrorOffset(t *testing.T) {
	var r jsonscan.Reader
	r.Reset([]byte(`{"a": [1, 2,, 3]}`))
	r.Skip()
	var se *jsonscan.SyntaxError
	if !errors.As(r.Err(), &se) || se.Offset != 12 {
		t.Fatalf("error %v, want a SyntaxError at byte 12", r.Err())
	}
	if !strings.Contains(se.Error(), "byte 12") {
		t.Errorf("message %q does not name the byte", se.Error())
	}
}

func BenchmarkFloatArray(b *testing.B) {
	benchFloatArray(b, strings.Repeat("12345.678901234567,", 1000))
}

func BenchmarkShortFloatArray(b *testing.B) {
	benchFloatArray(b, strings.Repeat("52000.25,", 1000))
}

// benchFloatArray reads the array of the comma-terminated numbers in list.
func benchFloatArray(b *testing.B, list string) {
	data := []byte("[" + strings.TrimSuffix(list, ",") + "]")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var r jsonscan.Reader
	for b.Loop() {
		r.Reset(data)
		r.BeginArray()
		for r.NextElem() {
			if _, _, ok := r.Float(); !ok {
				b.Fatal(r.Err())
			}
		}
		if r.Finish() != nil {
			b.Fatal(r.Err())
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\x7f", "é😀", "\xff\xfe", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := jsonscan.AppendString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("AppendString(%q) = %s, not JSON: %v", s, out, err)
		}
		if want := string([]rune(s)); got != want {
			t.Fatalf("AppendString(%q) reads back as %q, want %q", s, got, want)
		}
	})
}

func TestFloatExact(t *testing.T) {
	// Numbers around the fast path's edges convert as encoding/json does.
	for _, s := range []string{"9007199254740992", "9007199254740993", "0.1", "123456789012345678", "1234567890123456789",
		"12345678901234567890", "0.0000000000000000000001", "0.00000000000000000000001", "-0", "-0.0", "3.0e2", "1E-2",
		"9007199254740992.5", "4.9406564584124654e-324", "1.7976931348623157e308"} {
		agree(t, []byte(s))
	}
}
