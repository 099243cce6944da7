// Package strictjson reads JSON the way encoding/json does, with one rule
// more: a key given twice in one object is an error. encoding/json keeps the
// last of two values silently, so a key appended to a file could override
// the one that was checked, and a client that sent two values meant one of
// them.
//
// The grammar is not here: Valid, CheckDuplicates, Object and Array walk
// a jsonscan.Reader, the module's one JSON scanner, fuzzed against
// encoding/json there, so that a fix to the grammar is made once. This
// package adds the duplicate-key check (KeySet) and what its callers read:
// Decode whole documents (metadata, schemas, manifests, history lines),
// Object the members of a request body, without allocating.
package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/mlservice/mlservice/internal/jsonscan"
)

// Valid reports whether data is one JSON value with optional white space
// around it, exactly as encoding/json's Valid does (FuzzValid checks it),
// several times faster and without allocating unless data is not JSON.
func Valid(data []byte) bool {
	var r jsonscan.Reader
	r.Reset(data)
	return r.Skip() && r.Finish() == nil
}

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
	w.r.Reset(data)
	w.value()
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
	r     jsonscan.Reader
	key   []byte
	value []byte
	state uint8 // objStart...
}

const (
	objStart  uint8 = iota // the '{' not read yet
	objMember              // before a member, or the closing '}'
	objEnd                 // past the closing '}': one valid object
	objBad                 // a syntax error
	objNone                // not an object
)

// NewObject starts reading data. IsObject reports whether it starts with an
// object at all.
func NewObject(data []byte) (o Object) {
	o.r.Reset(data) // the rest is begin's: NewObject inlines, and builds o in place
	return o
}

// begin reads the '{' that the object starts with.
func (o *Object) begin() {
	o.state = objNone
	if o.r.Peek() == jsonscan.Object && o.r.BeginObject() {
		o.state = objMember
	}
}

// IsObject reports whether the input starts with '{' (after white space).
// An input that does not is either another JSON value or not JSON: Valid
// tells which.
func (o *Object) IsObject() bool {
	if o.state == objStart {
		o.begin()
	}
	return o.state != objNone
}

// Next moves to the next member; false at the end or at a syntax error.
func (o *Object) Next() bool {
	if o.state != objMember {
		if o.state != objStart {
			return false
		}
		if o.begin(); o.state != objMember {
			return false
		}
	}
	key, ok := o.r.NextKey()
	if ok {
		o.key = key
		if !o.r.Plain() {
			o.key = decoded(&o.r, key)
		}
		if o.value, ok = o.r.Raw(); ok {
			return true
		}
	}
	o.state = objBad
	if o.r.Err() == nil && o.r.Finish() == nil { // read the '}', and nothing follows
		o.state = objEnd
	}
	return false
}

// Key is the current member's key, unescaped.
func (o *Object) Key() []byte { return o.key }

// Value is the current member's value as it stands in the input: a JSON
// number, string (with its quotes), literal, array or object.
func (o *Object) Value() []byte { return o.value }

// Valid reports whether the input is one valid JSON object, reading the
// members that Next has not: a caller may stop early.
func (o *Object) Valid() bool {
	for o.Next() {
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

// walker is CheckDuplicates' reader, with the path of the current value
// (the components above it) and the duplicate it found.
type walker struct {
	r    jsonscan.Reader
	path []pathPart
	dup  string
}

type pathPart struct {
	key   []byte
	index int // for an array element; key is nil then
}

// value reads one value, checking the keys of every object in it; false
// at a duplicate or a syntax error.
func (w *walker) value() bool {
	switch w.r.Peek() {
	case jsonscan.Object:
		return w.object()
	case jsonscan.Array:
		return w.array()
	}
	return w.r.Skip()
}

// object checks each key as it is read, before its ':', where
// encoding/json's Decoder.Token (the fuzz test's reference) meets it too.
func (w *walker) object() bool {
	if !w.r.BeginObject() {
		return false
	}
	var keys KeySet
	for {
		key, ok := w.r.NextName()
		if !ok {
			return w.r.Err() == nil
		}
		key = decoded(&w.r, key)
		if keys.Add(key) {
			w.dup = w.pathString(key)
			return false
		}
		if !w.r.Colon() || !w.member(pathPart{key: key}) {
			return false
		}
	}
}

func (w *walker) array() bool {
	if !w.r.BeginArray() {
		return false
	}
	for n := 0; w.r.NextElem(); n++ {
		if !w.member(pathPart{index: n}) {
			return false
		}
	}
	return w.r.Err() == nil
}

// member reads a container's value, at the path one part deeper.
func (w *walker) member(p pathPart) bool {
	w.path = append(w.path, p)
	ok := w.value()
	w.path = w.path[:len(w.path)-1]
	return ok
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

// decoded is s, a string that r has just read, as encoding/json decodes
// it: s itself when it is UTF-8 and a slice of the input, else a copy (the
// reader reuses its buffer) with each byte that is not UTF-8 as U+FFFD.
func decoded(r *jsonscan.Reader, s []byte) []byte {
	if r.Plain() || !r.Escaped() && utf8.Valid(s) {
		return s
	}
	out := make([]byte, 0, len(s))
	for len(s) > 0 {
		c, n := utf8.DecodeRune(s)
		out = utf8.AppendRune(out, c) // RuneError for a byte that is not UTF-8
		s = s[n:]
	}
	return out
}

// String returns a JSON string value (with its quotes, as Object.Value
// gives it) as encoding/json decodes it: the bytes between the quotes when
// there are no escapes, else the decoded string. ok is false when value is
// not a string.
func String(value []byte) (text []byte, ok bool) {
	if len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
		return nil, false
	}
	if inner := value[1 : len(value)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner, true
	}
	var r jsonscan.Reader
	r.Reset(value)
	if s, ok := r.Bytes(); ok && r.Finish() == nil {
		return decoded(&r, s), true
	}
	return value, true // not reached for a value that Object gave
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
	r     jsonscan.Reader
	value []byte
}

// NewArray starts reading value; ok is false when it is not an array.
func NewArray(value []byte) (a Array, ok bool) {
	a.r.Reset(value)
	return a, a.r.Peek() == jsonscan.Array && a.r.BeginArray()
}

// Next moves to the next element; false at the end (or at a syntax error,
// which a valid array does not have).
func (a *Array) Next() bool {
	if !a.r.NextElem() {
		return false
	}
	v, ok := a.r.Raw()
	a.value = v
	return ok
}

// Value is the current element as it stands in the input.
func (a *Array) Value() []byte { return a.value }
