// Package strictjson reads JSON the way encoding/json does, with one rule
// more: a key given twice in one object is an error. encoding/json keeps the
// last of two values silently, so a key appended to a file could override
// the one that was checked, and a client that sent two values meant one of
// them.
//
// It has one duplicate-key check (KeySet) and one scanner: Decode uses them
// for whole documents (metadata, schemas, manifests, history lines), Object
// for the members of a request body, read without allocating.
package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting limit: a document nested deeper is
// not valid JSON to it, and so not to Valid.
const maxDepth = 10000

// DuplicateKeyError reports a key that appears twice in one object.
type DuplicateKeyError struct {
	// Path names the key: "name" at the top, "target.column" in a nested
	// object, "features[2].type" in an array's element.
	Path string
}

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("duplicate key %q", Shorten(e.Path, 80))
}

// Decode unmarshals data into v with encoding/json, after refusing a
// duplicate key in any object (a *DuplicateKeyError). Anything else is
// encoding/json's verdict and error.
func Decode(data []byte, v any) error {
	if err := CheckDuplicates(data); err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// CheckDuplicates returns a *DuplicateKeyError for the first key that
// appears twice in one object of data, in document order, or nil. It stops
// at the first syntax error (nil: encoding/json reports those).
func CheckDuplicates(data []byte) error {
	var w walker
	s := scanner{data: data, w: &w}
	s.ws()
	s.value(0)
	if w.dup != "" {
		return &DuplicateKeyError{Path: w.dup}
	}
	return nil
}

// Object reads the members of a JSON object one at a time, without
// allocating unless a key has escapes. Next stops at the end of the object
// or at the first syntax error; Valid then says whether the whole input was
// one valid JSON object.
//
//	o := strictjson.NewObject(data)
//	for o.Next() {
//		use(o.Key(), o.Value())
//	}
//	if !o.Valid() { ... }
type Object struct {
	s      scanner
	key    []byte
	value  []byte
	state  uint8 // objStart, objMember, objEnd, objBad
	object bool
}

const (
	objStart uint8 = iota
	objMember
	objEnd
	objBad
)

// NewObject starts reading data. IsObject reports whether it starts with an
// object at all.
func NewObject(data []byte) Object {
	o := Object{s: scanner{data: data}}
	o.s.ws()
	o.object = o.s.i < len(data) && data[o.s.i] == '{'
	if !o.object {
		o.state = objBad
	}
	return o
}

// IsObject reports whether the input starts with '{' (after white space).
// An input that does not is either another JSON value or not JSON: Valid
// tells which.
func (o *Object) IsObject() bool { return o.object }

// Next moves to the next member; false at the end or at a syntax error.
func (o *Object) Next() bool {
	s := &o.s
	switch o.state {
	case objStart:
		s.i++ // {
		s.ws()
		if s.i < len(s.data) && s.data[s.i] == '}' {
			s.i++
			o.finish()
			return false
		}
	case objMember:
		s.ws()
		if s.i >= len(s.data) {
			o.state = objBad
			return false
		}
		switch s.data[s.i] {
		case '}':
			s.i++
			o.finish()
			return false
		case ',':
			s.i++
			s.ws()
		default:
			o.state = objBad
			return false
		}
	default:
		return false
	}
	start, end, plain, ok := s.str()
	if !ok {
		o.state = objBad
		return false
	}
	o.key = s.data[start:end]
	if !plain {
		o.key = decodeString(s.data[start-1 : end+1])
	}
	s.ws()
	if s.i >= len(s.data) || s.data[s.i] != ':' {
		o.state = objBad
		return false
	}
	s.i++
	s.ws()
	vstart := s.i
	if !s.value(1) {
		o.state = objBad
		return false
	}
	o.value = s.data[vstart:s.i]
	o.state = objMember
	return true
}

// finish checks that nothing but white space follows the object.
func (o *Object) finish() {
	o.s.ws()
	o.state = objEnd
	if o.s.i != len(o.s.data) {
		o.state = objBad
	}
}

// Key is the current member's key, unescaped.
func (o *Object) Key() []byte { return o.key }

// Value is the current member's value as it stands in the input: a JSON
// number, string (with its quotes), literal, array or object.
func (o *Object) Value() []byte { return o.value }

// Valid reports, once Next has returned false, whether the input was one
// valid JSON object. Call it only after the last Next.
func (o *Object) Valid() bool {
	if o.state == objMember { // the caller stopped early: scan the rest
		for o.Next() {
		}
	}
	return o.state == objEnd
}

// KeySet finds keys given twice. The first keys are compared directly (an
// object has few), the rest through a map.
type KeySet struct {
	few  [linearKeys][]byte
	n    int
	many map[string]struct{}
}

const linearKeys = 16

// Add adds key and reports whether it was there already. The set keeps key
// (not a copy) until Reset.
func (k *KeySet) Add(key []byte) (dup bool) {
	for _, f := range k.few[:min(k.n, linearKeys)] {
		if string(f) == string(key) {
			return true
		}
	}
	if k.n < linearKeys {
		k.few[k.n] = key
		k.n++
		return false
	}
	if _, ok := k.many[string(key)]; ok {
		return true
	}
	if k.many == nil {
		k.many = map[string]struct{}{}
	}
	k.many[string(key)] = struct{}{}
	k.n++
	return false
}

// Reset empties the set.
func (k *KeySet) Reset() {
	clear(k.few[:])
	k.n = 0
	k.many = nil
}

// walker is what CheckDuplicates' scanner keeps besides: the path of the
// current value, as the components above it, and the duplicate it found.
type walker struct {
	path []pathPart
	dup  string
}

type pathPart struct {
	key   []byte
	index int // for an array element; key is nil then
}

// pathString names key in the object at the walker's path.
func (w *walker) pathString(key []byte) string {
	var b []byte
	for _, p := range w.path {
		if p.key == nil {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(p.index), 10)
			b = append(b, ']')
			continue
		}
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, p.key...)
	}
	if len(b) > 0 {
		b = append(b, '.')
	}
	return string(append(b, key...))
}

// decodeString returns the content of a quoted JSON string that is not
// plain ASCII as encoding/json decodes it: its bytes when they are UTF-8
// without escapes, else the decoded string (escapes resolved, bytes that
// are not UTF-8 turned into U+FFFD), which allocates.
func decodeString(quoted []byte) []byte {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner
	}
	return unescape(quoted)
}

// unescape decodes a quoted JSON string as encoding/json does; it
// allocates.
func unescape(quoted []byte) []byte {
	var out string
	if err := json.Unmarshal(quoted, &out); err != nil {
		return quoted // not reached: the scanner accepted it
	}
	return []byte(out)
}

// String returns a JSON string value (with its quotes, as Object.Value
// gives it) as encoding/json decodes it: the bytes between the quotes when
// there are no escapes, else the decoded string. ok is false when value is
// not a string.
func String(value []byte) (text []byte, ok bool) {
	if len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
		return nil, false
	}
	return decodeString(value), true
}

// Shorten cuts s to at most n bytes and a mark, on a UTF-8 boundary: a
// client's text quoted in an error message stays readable and bounded.
func Shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Array reads the elements of a JSON array that is known to be valid (an
// Object's Value), one at a time, without allocating.
type Array struct {
	s     scanner
	value []byte
	first bool
}

// NewArray starts reading value; ok is false when it is not an array.
func NewArray(value []byte) (a Array, ok bool) {
	a = Array{s: scanner{data: value}, first: true}
	a.s.ws()
	if a.s.i >= len(value) || value[a.s.i] != '[' {
		return a, false
	}
	a.s.i++
	return a, true
}

// Next moves to the next element; false at the end (or at a syntax error,
// which a valid array does not have).
func (a *Array) Next() bool {
	s := &a.s
	s.ws()
	if s.i >= len(s.data) || s.data[s.i] == ']' {
		return false
	}
	if !a.first {
		if s.data[s.i] != ',' {
			return false
		}
		s.i++
		s.ws()
	}
	a.first = false
	start := s.i
	if !s.value(1) {
		return false
	}
	a.value = s.data[start:s.i]
	return true
}

// Value is the current element as it stands in the input.
func (a *Array) Value() []byte { return a.value }
