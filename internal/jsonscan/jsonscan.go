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
	"encoding/binary"
	"iter"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
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

// The forms of a string read.
const (
	strPlain   uint8 = iota // ASCII without escapes
	strRaw                  // without escapes, not only ASCII
	strEscaped              // with escapes: unescaped into buf
)

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

// Bytes reads a string and returns it unescaped: a slice of the input when
// it has no escapes, else of a buffer that the next string read reuses.
// Invalid UTF-8 is returned as it is, for the caller to refuse or keep;
// escaped lone surrogates become U+FFFD, as in encoding/json.
func (r *Reader) Bytes() ([]byte, bool) {
	r.skipSpace()
	if r.pos >= len(r.data) || r.data[r.pos] != '"' {
		return nil, r.fail("expected a string")
	}
	if s, ok := r.plain(); ok {
		return s, true
	}
	return r.strRest()
}

// plain reads the string whose '"' is at the reader's position if it is
// ASCII without escapes, as most keys are; else it reads nothing and
// returns false.
func (r *Reader) plain() ([]byte, bool) {
	d, start := r.data, r.pos+1
	i := asciiEnd(d, start)
	if i >= len(d) || d[i] != '"' {
		return nil, false
	}
	r.pos, r.form = i+1, strPlain
	return d[start:i], true
}

// asciiEnd is the index of the first byte from d[i] on that is not plain
// ASCII in a string, len(d) if none.
func asciiEnd(d []byte, i int) int {
	for i < len(d) && plainASCII[d[i]] {
		i++
	}
	return i
}

// strRest reads the string whose '"' is at the reader's position when it
// is not plain: with bytes beyond ASCII, or escapes.
func (r *Reader) strRest() ([]byte, bool) {
	d, start := r.data, r.pos+1
	i := start
	for i < len(d) && d[i] != '"' && d[i] != '\\' && d[i] >= 0x20 {
		i++
	}
	if i < len(d) && d[i] == '"' {
		r.pos, r.form = i+1, strRaw
		return d[start:i], true
	}
	r.form = strEscaped
	r.buf = append(r.buf[:0], d[start:i]...)
	for i < len(d) {
		switch c := d[i]; {
		case c == '"':
			r.pos = i + 1
			return r.buf, true
		case c < 0x20:
			r.pos = i
			return nil, r.fail("control character in a string")
		case c != '\\':
			r.buf = append(r.buf, c)
			i++
			continue
		}
		if i+1 >= len(d) {
			break
		}
		i += 2
		switch d[i-1] {
		case '"', '\\', '/':
			r.buf = append(r.buf, d[i-1])
		case 'b':
			r.buf = append(r.buf, '\b')
		case 'f':
			r.buf = append(r.buf, '\f')
		case 'n':
			r.buf = append(r.buf, '\n')
		case 'r':
			r.buf = append(r.buf, '\r')
		case 't':
			r.buf = append(r.buf, '\t')
		case 'u':
			c, ok := hex4(d, i)
			if !ok {
				r.pos = i
				return nil, r.fail("expected four hex digits after \\u")
			}
			i += 4
			ch := rune(c)
			if utf16.IsSurrogate(ch) {
				ch = utf8.RuneError
				if c2, ok := hex4(d, i+2); ok && i+1 < len(d) && d[i] == '\\' && d[i+1] == 'u' {
					if pair := utf16.DecodeRune(rune(c), rune(c2)); pair != utf8.RuneError {
						ch = pair
						i += 6
					}
				}
			}
			r.buf = utf8.AppendRune(r.buf, ch)
		default:
			r.pos = i - 1
			return nil, r.fail("invalid escape in a string")
		}
	}
	r.pos = len(d)
	return nil, r.fail("unterminated string")
}

// Escaped reports whether the last string read (Bytes, NextKey, NextName)
// had escapes: it is then in the buffer that the next string read reuses,
// and a caller that keeps it must copy it; else it is a slice of the input.
func (r *Reader) Escaped() bool { return r.form == strEscaped }

// Plain reports whether the last string read was ASCII without escapes: a
// slice of the input that is UTF-8, so needs neither copy nor check.
func (r *Reader) Plain() bool { return r.form == strPlain }

// plainASCII holds the bytes that a string takes as they are and that
// are ASCII: all but controls, '"' and '\'. A table: plain's loop is one
// load and one test a byte.
var plainASCII = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainEnd is the index of the first byte from d[i] on that a string does
// not hold as it is ('"', '\', a control character); len(d) if none. It
// tests eight bytes at a time, as Valid passes over every string: a word's
// flags are exact up to its first flagged byte, which is all that is used.
func plainEnd(d []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(d); i += 8 {
		x := binary.LittleEndian.Uint64(d[i:])
		q, b := x^(ones*'"'), x^(ones*'\\')
		if m := ((q-ones)&^q | (b-ones)&^b | (x-ones*' ')&^x) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(d) && d[i] >= ' ' && d[i] != '"' && d[i] != '\\' {
		i++
	}
	return i
}

func hex4(d []byte, i int) (uint16, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var v uint16
	for _, c := range d[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(c)
	}
	return v, true
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

// skipString passes over a string without unescaping it.
func (r *Reader) skipString() (int, bool) {
	d := r.data
	for i := plainEnd(d, r.pos+1); i < len(d); i++ {
		switch c := d[i]; {
		case c == '"':
			r.pos = i + 1
			return i, true
		case c < 0x20:
			r.pos = i
			return 0, r.fail("control character in a string")
		case c == '\\':
			i++
			if i >= len(d) {
				break
			}
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, ok := hex4(d, i+1); !ok {
					r.pos = i + 1
					return 0, r.fail("expected four hex digits after \\u")
				}
				i += 4
			default:
				r.pos = i
				return 0, r.fail("invalid escape in a string")
			}
		}
	}
	r.pos = len(d)
	return 0, r.fail("unterminated string")
}
