// Package jsonscan reads one JSON document (RFC 8259) from a byte slice
// value by value, for the request decoders' hot path: a request of a
// thousand rows is read in one pass with no reflection and no allocation
// beyond the strings kept. It accepts exactly what encoding/json's Valid
// accepts (FuzzReaderAgrees checks it), and turns numbers and strings into
// the same values as encoding/json does.
//
// It holds the module's one JSON grammar: the protocol decoders read with
// it, and strictjson (Valid, duplicate keys, a request body's members) is
// built on it, so that the grammar is written, fuzzed and fixed once.
//
// The caller walks the document: Peek says what comes next; BeginObject
// and NextKey (or NextName and Colon), or BeginArray and NextElem, step
// through containers; Float, Bytes, Bool and Null read scalars; Skip
// passes over any value and Raw returns it as it stands. The first syntax
// error stops the reader: every later call fails and Err reports it.
package jsonscan

import (
	"iter"
	"strconv"
)

// Kind is the type of the next value, from its first byte.
type Kind uint8

const (
	Invalid Kind = iota // no value here: a syntax error, or the end
	Null
	Bool
	Number
	String
	Array
	Object
)

// MaxDepth is how deeply arrays and objects may nest, as in encoding/json.
const MaxDepth = 10000

// SyntaxError is input that is not JSON, at byte Offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "invalid JSON at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Reader reads one document. The zero Reader is an empty input; Reset
// gives it one.
type Reader struct {
	data  []byte
	pos   int
	depth int
	err   *SyntaxError
	buf   []byte // unescaped string, reused
	form  uint8  // the form of the last string read: strPlain...
}

// Reset makes r read data from the start.
func (r *Reader) Reset(data []byte) {
	// Field by field: a whole Reader built and copied costs a stall when
	// the copy reads the stores just made.
	r.data, r.pos, r.depth, r.err, r.buf, r.form = data, 0, 0, nil, r.buf[:0], strPlain
}

// Err is the first syntax error, or nil.
func (r *Reader) Err() error {
	if r.err == nil {
		return nil
	}
	return r.err
}

// Offset is the position of the next byte to read.
func (r *Reader) Offset() int { return r.pos }

// Data is the document being read.
func (r *Reader) Data() []byte { return r.data }

func (r *Reader) fail(msg string) bool {
	if r.err == nil {
		r.err = &SyntaxError{Offset: r.pos, Msg: msg}
	}
	r.pos = len(r.data) // nothing more is read
	return false
}

func (r *Reader) skipSpace() {
	for r.pos < len(r.data) && isSpace[r.data[r.pos]] {
		r.pos++
	}
}

// spaceEnd is skipSpace on an index, for code that keeps its position in
// a register.
func spaceEnd(d []byte, i int) int {
	for i < len(d) && isSpace[d[i]] {
		i++
	}
	return i
}

// isSpace is JSON's white space: a table, for skipSpace is then cheap
// enough to inline everywhere, and Colon with it.
var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// Peek returns the kind of the next value without reading it.
func (r *Reader) Peek() Kind {
	r.skipSpace()
	if r.err != nil || r.pos >= len(r.data) {
		return Invalid
	}
	return kinds[r.data[r.pos]]
}

// kinds is the kind of value that each byte starts (a table: Peek is on
// every value's path).
var kinds = func() (t [256]Kind) {
	t['n'] = Null
	t['t'], t['f'] = Bool, Bool
	t['"'] = String
	t['['] = Array
	t['{'] = Object
	t['-'] = Number
	for c := '0'; c <= '9'; c++ {
		t[c] = Number
	}
	return t
}()

// Finish checks that nothing but white space follows the document.
func (r *Reader) Finish() error {
	r.skipSpace()
	if r.err == nil && r.pos < len(r.data) {
		r.fail("data after the top-level value")
	}
	return r.Err()
}

func (r *Reader) enter(open byte) bool {
	r.skipSpace()
	if r.pos >= len(r.data) || r.data[r.pos] != open {
		if open == '{' {
			return r.fail("expected an object")
		}
		return r.fail("expected an array")
	}
	if r.depth++; r.depth > MaxDepth {
		return r.fail("nested too deeply")
	}
	r.pos++
	return true
}

// BeginObject reads the '{' that opens an object.
func (r *Reader) BeginObject() bool { return r.enter('{') }

// BeginArray reads the '[' that opens an array.
func (r *Reader) BeginArray() bool { return r.enter('[') }

// prevByte is the last byte before pos that is not white space.
func (r *Reader) prevByte() byte { return byteBefore(r.data, r.pos) }

// byteBefore is the last byte before d[i] that is not white space.
func byteBefore(d []byte, i int) byte {
	for i--; i >= 0 && isSpace[d[i]]; i-- {
	}
	if i < 0 {
		return 0
	}
	return d[i]
}

// Keys ranges over the keys of the object being read, as NextKey reads
// them; the loop ends at the closing '}' or on an error (check Err).
func (r *Reader) Keys() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for {
			key, ok := r.NextKey()
			if !ok || !yield(key) {
				return
			}
		}
	}
}

// NextKey reads the next key of the object being read, and its ':', and
// returns it; false at the closing '}' (which it reads) or on an error.
// The key may alias the input or a buffer reused by the next string read
// (Escaped tells which).
func (r *Reader) NextKey() ([]byte, bool) { return r.member(true, true) }

// NextName is NextKey without the ':', which Colon then reads: a caller
// can act on a key before the syntax after it is checked, as
// encoding/json's Decoder.Token returns a key before its ':'.
func (r *Reader) NextName() ([]byte, bool) { return r.member(true, false) }

// Colon reads the ':' after a key that NextName read.
func (r *Reader) Colon() bool {
	i, ok := colonEnd(r.data, r.pos)
	r.pos = i
	return ok || r.fail(noColon)
}

const noColon = "expected ':' after an object key"

// colonEnd finds the ':' at d[i] or after white space, and returns the
// index after it; else false, and the index of what is there instead.
func colonEnd(d []byte, i int) (int, bool) {
	i = spaceEnd(d, i)
	if i < len(d) && d[i] == ':' {
		return i + 1, true
	}
	return i, false
}

// member reads the next key of the object being read, with the ',' before
// it if any: unescaped, or only checked (Skip), and with colon the ':'
// after it. It returns false at the closing '}' (which it reads) or on an
// error. One function for NextKey, NextName and Skip, not a chain of calls:
// every member of a request passes here.
func (r *Reader) member(unescape, colon bool) (key []byte, ok bool) {
	// The position stays in i, a register, between the steps; r.pos is
	// written before a failure (its offset) or a call that reads it.
	d := r.data
	i := spaceEnd(d, r.pos)
	if r.err != nil || i >= len(d) {
		r.pos = i
		return nil, r.fail("unexpected end inside an object")
	}
	first := byteBefore(d, i) == '{'
	r.pos = i
	switch d[i] {
	case '}':
		r.pos++
		r.depth--
		return nil, false
	case ',':
		if first {
			return nil, r.fail("expected a key or '}'")
		}
		i = spaceEnd(d, i+1)
		r.pos = i
	default:
		if !first {
			return nil, r.fail("expected ',' or '}' after an object value")
		}
	}
	if i >= len(d) || d[i] != '"' {
		return nil, r.fail("expected a string key")
	}
	if end := asciiEnd(d, i+1); end < len(d) && d[end] == '"' {
		key, i, r.form = d[i+1:end], end+1, strPlain // plain, as most keys are
	} else {
		if unescape {
			key, ok = r.strRest()
		} else {
			_, ok = r.skipString()
		}
		if !ok {
			return nil, false
		}
		i = r.pos
	}
	if colon {
		if i, ok = colonEnd(d, i); !ok {
			r.pos = i
			return nil, r.fail(noColon)
		}
	}
	r.pos = i
	return key, true
}

// NextElem reports whether the array being read has another element, and
// reads the ',' before it; false at the closing ']' (which it reads) or on
// an error.
func (r *Reader) NextElem() bool {
	r.skipSpace()
	if r.err != nil || r.pos >= len(r.data) {
		return r.fail("unexpected end inside an array")
	}
	first := r.prevByte() == '['
	switch r.data[r.pos] {
	case ']':
		r.pos++
		r.depth--
		return false
	case ',':
		if first {
			return r.fail("expected a value or ']'")
		}
		r.pos++
		return true
	}
	if !first {
		return r.fail("expected ',' or ']' after an array element")
	}
	return true
}

// Null reads a null.
func (r *Reader) Null() bool {
	r.skipSpace()
	return r.literal("null")
}

// Bool reads true or false.
func (r *Reader) Bool() (v, ok bool) {
	r.skipSpace()
	if r.pos < len(r.data) && r.data[r.pos] == 't' {
		return true, r.literal("true")
	}
	return false, r.literal("false")
}

// literal reads word at the reader's position.
func (r *Reader) literal(word string) bool {
	if len(r.data)-r.pos < len(word) || string(r.data[r.pos:r.pos+len(word)]) != word {
		return r.fail("expected " + word)
	}
	r.pos += len(word)
	return true
}

// Skip reads any one value, checking its syntax.
func (r *Reader) Skip() bool {
	r.skipSpace()
	return r.value()
}

// value reads the value at the reader's position (past white space), as
// Skip.
func (r *Reader) value() bool {
	var k Kind
	if r.err == nil && r.pos < len(r.data) {
		k = kinds[r.data[r.pos]]
	}
	switch k {
	case Null:
		return r.literal("null")
	case Bool:
		if r.data[r.pos] == 't' {
			return r.literal("true")
		}
		return r.literal("false")
	case Number:
		_, ok := r.number()
		return ok
	case String:
		_, ok := r.skipString()
		return ok
	case Array:
		if !r.BeginArray() {
			return false
		}
		for r.NextElem() {
			if !r.Skip() {
				return false
			}
		}
	case Object:
		if !r.BeginObject() {
			return false
		}
		for {
			if _, ok := r.member(false, true); !ok || !r.Skip() {
				break // at the '}', or at an error that Err has
			}
		}
	default:
		if r.err == nil && r.pos >= len(r.data) {
			return r.fail("unexpected end: expected a value")
		}
		return r.fail("expected a value")
	}
	return r.err == nil
}

// Raw reads any one value as Skip does and returns it as it stands in the
// input, for a caller that keeps it whole or reads it later.
func (r *Reader) Raw() ([]byte, bool) {
	r.skipSpace()
	start := r.pos
	if r.err == nil && r.pos < len(r.data) && kinds[r.data[r.pos]] == Number {
		_, ok := r.number() // a request's usual value: one call, not two
		if !ok {
			return nil, false
		}
	} else if !r.value() {
		return nil, false
	}
	return r.data[start:r.pos], true
}
