package jsonscan

// Strings: their grammar, their escapes and the form a string was read in.

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// The forms of a string read.
const (
	strPlain   uint8 = iota // ASCII without escapes
	strRaw                  // without escapes, not only ASCII
	strEscaped              // with escapes: unescaped into buf
)

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
