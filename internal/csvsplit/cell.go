package csvsplit

import (
	"bytes"
	"errors"
	"strconv"
)

// Kind is what a cell holds.
type Kind uint8

const (
	Number Kind = iota // a plain decimal number that float64 holds
	Null               // empty, a spelling of a missing value, or a number beyond float64
	Text               // anything else: words, hex, underscores, ...
)

// ParseCell reads one cell, trimmed of spaces: a null spelling (IsNull) or
// a decimal that overflows float64 is Null; plain decimal notation is a
// Number; anything else is Text.
func ParseCell(raw []byte) (float64, Kind) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || isLetter(t[0]) || len(t) > 1 && (t[0] == '-' || t[0] == '+') && isLetter(t[1]) {
		if IsNull(t) {
			return 0, Null
		}
		return 0, Text
	}
	if v, ok := ParseDecimal(t); ok {
		return v, Number
	}
	// Plain decimal notation only: strconv would also take hex floats and
	// underscores.
	for _, ch := range t {
		switch {
		case ch >= '0' && ch <= '9', ch == '.', ch == '-', ch == '+', ch == 'e', ch == 'E':
		default:
			return 0, Text
		}
	}
	v, err := strconv.ParseFloat(string(t), 64)
	switch {
	case err == nil:
		return v, Number
	case errors.Is(err, strconv.ErrRange) && (v > 1 || v < -1):
		return 0, Null // overflows to ±Inf
	}
	return 0, Text
}

func isLetter(b byte) bool { return b|0x20 >= 'a' && b|0x20 <= 'z' }

// nulls are the spellings of a missing value that pandas and friends write,
// and the words for non-finite numbers, in lower case.
var nulls = []string{"", "na", "n/a", "nan", "-nan", "+nan", "null", "none", "nil",
	"inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"}

// IsNull reports whether t (trimmed) spells a missing value, in any case.
func IsNull[T string | []byte](t T) bool {
	if len(t) > len("-infinity") {
		return false
	}
	for _, n := range nulls {
		if len(n) == len(t) && equalFold(t, n) {
			return true
		}
	}
	return false
}

// IsMissing reports whether t (trimmed) is a missing value a feature with
// "missing": true takes: empty or a null spelling (NA, NaN, null, None, …),
// in any case; not an infinity, which is a number out of range.
func IsMissing[T string | []byte](t T) bool {
	return IsNull(t) && (len(t) == 0 || t[len(t)-1]|0x20 != 'f' && t[len(t)-1]|0x20 != 'y')
}

// equalFold compares t with the lower-case ASCII word n, ignoring the case
// of t's letters.
func equalFold[T string | []byte](t T, n string) bool {
	for i := 0; i < len(n); i++ {
		c := t[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != n[i] {
			return false
		}
	}
	return true
}

// exactPow10 holds the powers of ten that float64 represents exactly.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// ParseDecimal reads the common shapes "-123" and "123.45" in a few ns,
// five times faster than strconv, and reports false for anything else
// (exponents, long mantissas), which strconv then handles. When the digits
// form an integer m ≤ 2⁵³ and there are k ≤ 22 decimals, m and 10ᵏ are exact
// float64s and one IEEE division rounds m/10ᵏ correctly (Clinger's fast
// path), so the result is bit for bit strconv's. FuzzParseDecimal checks it.
func ParseDecimal[T string | []byte](t T) (float64, bool) {
	if len(t) == 0 {
		return 0, false
	}
	i, neg := 0, false
	if t[0] == '-' || t[0] == '+' {
		neg, i = t[0] == '-', 1
	}
	var mant uint64
	digits, decimals, dot := 0, 0, false
	for ; i < len(t); i++ {
		ch := t[i]
		switch {
		case ch >= '0' && ch <= '9':
			if digits == 19 {
				return 0, false
			}
			mant = mant*10 + uint64(ch-'0')
			digits++
			if dot {
				decimals++
			}
		case ch == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 || mant > 1<<53 || decimals >= len(exactPow10) {
		return 0, false
	}
	f := float64(mant)
	if decimals > 0 {
		f /= exactPow10[decimals]
	}
	if neg {
		f = -f
	}
	return f, true
}
