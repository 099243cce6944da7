package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

var seeds = []string{
	`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1.5e+3`, `-0.0E-0`, `"a\u00e9\n"`, ` {"a" : [1, {"b": null}] } `,
	`{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `[{"x":1},{"x":2}]`, `{"a":[1,{"c":true,"c":false}]}`, `{"a.b":1,"a":{"b":2}}`,
	`{"a\u0067e":1,"age":2}`, `{`, `{"a":1}{"a":2}`, `{"a":1,}`, `[1,]`, `01`, `1.`, `.5`, `-`, `1e`, `"\x"`, "\"\x01\"",
	`nul`, `{'a':1}`, `{"a" 1}`, `{"a":1 "b":2}`, "\"\xff\"", "{\"\xff\":1,\"\xfe\":2}", `"\ud800"`, `{"a":NaN}`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	"{\"age\":42,\"income\":52000}\x00",
}

// FuzzValid: Valid agrees with encoding/json on every input.
func FuzzValid(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := Valid(data), json.Valid(data); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", data, got, want)
		}
	})
}

// FuzzObject: the members Object reads are those of the object encoding/json
// reads, in order, and Valid is json.Valid of an object.
func FuzzObject(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o := NewObject(data)
		var keys []string
		var values []json.RawMessage
		for o.Next() {
			keys = append(keys, string(o.Key()))
			values = append(values, bytes.Clone(o.Value()))
		}
		valid := o.Valid()
		wantObject := json.Valid(data) && bytes.TrimLeft(data, " \t\r\n")[0] == '{'
		if valid != wantObject {
			t.Fatalf("%q: Valid() = %v, want %v", data, valid, wantObject)
		}
		if !valid {
			return
		}
		wantKeys, wantValues := tokenMembers(t, data)
		if !reflect.DeepEqual(keys, wantKeys) {
			t.Fatalf("%q: keys %q, want %q", data, keys, wantKeys)
		}
		for i := range values {
			if !bytes.Equal(values[i], wantValues[i]) {
				t.Fatalf("%q: member %d value %s, want %s", data, i, values[i], wantValues[i])
			}
		}
	})
}

// tokenMembers reads an object's members with encoding/json's Decoder.
func tokenMembers(t *testing.T, data []byte) ([]string, []json.RawMessage) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var values []json.RawMessage
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		values = append(values, v)
	}
	return keys, values
}

// FuzzCheckDuplicates: CheckDuplicates finds what a walk with encoding/json's
// tokens finds, and Decode accepts only what json.Unmarshal accepts, decoded
// the same way.
func FuzzCheckDuplicates(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := CheckDuplicates(data)
		want := tokenDuplicate(data)
		var de *DuplicateKeyError
		if errors.As(got, &de) != (want != "") || de != nil && de.Path != want {
			t.Fatalf("%q: CheckDuplicates = %v, a token walk finds %q", data, got, want)
		}
		var strict, loose any
		if Decode(data, &strict) != nil {
			return
		}
		if err := json.Unmarshal(data, &loose); err != nil {
			t.Fatalf("Decode accepted %q, json.Unmarshal refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(strict, loose) {
			t.Fatalf("%q: Decode gives %v, json.Unmarshal %v", data, strict, loose)
		}
	})
}

// tokenDuplicate is the reference walk: the first key given twice in one
// object, named by its path, or "".
func tokenDuplicate(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return ""
	}
	dup, _ := walkTokens(dec, tok, "")
	return dup
}

func walkTokens(dec *json.Decoder, tok json.Token, at string) (string, error) {
	next := func(at string) (string, error) {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		return walkTokens(dec, tok, at)
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return "", err
			}
			key, _ := k.(string)
			if at != "" {
				key = at + "." + key
			}
			if seen[key] {
				return key, nil
			}
			seen[key] = true
			if dup, err := next(key); dup != "" || err != nil {
				return dup, err
			}
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if dup, err := next(fmt.Sprintf("%s[%d]", at, i)); dup != "" || err != nil {
				return dup, err
			}
		}
	default:
		return "", nil
	}
	_, err := dec.Token()
	if err == io.EOF {
		err = nil
	}
	return "", err
}

func TestDuplicatePaths(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"name":"t","name":"u"}`, `duplicate key "name"`},
		{`{"metric":{"name":"f1","value":1,"value":2}}`, `duplicate key "metric.value"`},
		{`{"features":[{"a":1},{"type":"x","type":"y"}]}`, `duplicate key "features[1].type"`},
		{`[{"x":1,"x":2}]`, `duplicate key "[0].x"`},
		{`{"a\u0067e":1,"age":2}`, `duplicate key "age"`},
		{`{"` + strings.Repeat("k", 100) + `":1,"` + strings.Repeat("k", 100) + `":2}`, `duplicate key "` + strings.Repeat("k", 80) + `…"`},
	} {
		err := Decode([]byte(tc.in), new(any))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %s", tc.in, err, tc.want)
		}
	}
	for _, ok := range []string{`{"a":{"b":1},"c":{"b":2}}`, `[{"x":1},{"x":2}]`, `{"a.b":1,"a":{"b":2}}`} {
		if err := Decode([]byte(ok), new(any)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestKeySetMany(t *testing.T) {
	var k KeySet
	for i := range 100 {
		if k.Add([]byte(fmt.Sprint("k", i))) {
			t.Fatalf("k%d is new", i)
		}
	}
	for _, i := range []int{0, 15, 16, 99} {
		if !k.Add([]byte(fmt.Sprint("k", i))) {
			t.Errorf("k%d not found again", i)
		}
	}
	k.Reset()
	if k.Add([]byte("k0")) {
		t.Error("Reset kept k0")
	}
}

func TestStringDecodes(t *testing.T) {
	for in, want := range map[string]string{`"plain"`: "plain", `"a\u00e9"`: "aé", "\"\xff\"": "\ufffd", `""`: ""} {
		got, ok := String([]byte(in))
		if !ok || string(got) != want {
			t.Errorf("String(%s) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{`1`, `null`, `"`, ``} {
		if _, ok := String([]byte(in)); ok {
			t.Errorf("String(%s) accepted", in)
		}
	}
}

var body = []byte(`{"age":42,"income":52000,"account_balance":1800.5,"transactions_last_30d":12,"is_premium":1}`)

// TestObjectDoesNotAllocate: reading a request's members costs no
// allocation.
func TestObjectDoesNotAllocate(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		o := NewObject(body)
		var keys KeySet
		for o.Next() {
			keys.Add(o.Key())
		}
		if !o.Valid() {
			t.Fatal("invalid")
		}
	})
	if n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func BenchmarkObject(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		o := NewObject(body)
		for o.Next() {
		}
		if !o.Valid() {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkValid(b *testing.B) {
	b.Run("strictjson", func(b *testing.B) {
		for b.Loop() {
			Valid(body)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			json.Valid(body)
		}
	})
}

func TestArray(t *testing.T) {
	a, ok := NewArray([]byte(` [ {"a":1} , 2,"x", [3] ] `))
	if !ok {
		t.Fatal("not an array")
	}
	var got []string
	for a.Next() {
		got = append(got, string(a.Value()))
	}
	if want := []string{`{"a":1}`, `2`, `"x"`, `[3]`}; !reflect.DeepEqual(got, want) {
		t.Errorf("elements %q, want %q", got, want)
	}
	if a, ok := NewArray([]byte(`[]`)); !ok || a.Next() {
		t.Error("[] has an element")
	}
	if _, ok := NewArray([]byte(`{}`)); ok {
		t.Error("{} is an array")
	}
}
