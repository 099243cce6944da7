package mlservice

import (
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// cell is one CSV value as decoded by gocsv: the number, or a NaN whose
// payload says why there is none (a null or text; a parsed number is always
// finite). It never fails to decode, so that validator sees every cell of a
// row and all its problems are reported. gocsv allocates a record and boxes
// each cell once per row; at 8 pointer-free bytes a cell takes the runtime's
// cheapest allocation. The text of a bad cell is recovered from the input
// when it is reported.
type cell float64

type cellKind uint8

const (
	cellNumber cellKind = iota
	cellNull
	cellText
)

const (
	nullCellBits = 0x7ff8_6d6c_0000_0001 // quiet NaNs with a payload of our own
	textCellBits = 0x7ff8_6d6c_0000_0002
)

func makeCell(v float64, k cellKind) cell {
	switch k {
	case cellNull:
		return cell(math.Float64frombits(nullCellBits))
	case cellText:
		return cell(math.Float64frombits(textCellBits))
	}
	return cell(v)
}

func (c cell) kind() cellKind {
	switch math.Float64bits(float64(c)) {
	case nullCellBits:
		return cellNull
	case textCellBits:
		return cellText
	}
	return cellNumber
}

func (c cell) value() float64 { return float64(c) }

// UnmarshalCSV implements gocsv.TypeUnmarshaller.
func (c *cell) UnmarshalCSV(s string) error {
	t := strings.TrimSpace(s)
	if t == "" || isLetter(t[0]) || len(t) > 1 && (t[0] == '-' || t[0] == '+') && isLetter(t[1]) {
		if isNullToken(t) {
			*c = makeCell(0, cellNull)
			return nil
		}
		*c = makeCell(0, cellText)
		return nil
	}
	v, ok := parseDecimal(t)
	if ok {
		*c = cell(v)
		return nil
	}
	// Plain decimal notation only: strconv would also take hex floats.
	for i := 0; i < len(t); i++ {
		switch ch := t[i]; {
		case ch >= '0' && ch <= '9', ch == '.', ch == '-', ch == '+', ch == 'e', ch == 'E':
		default:
			*c = makeCell(0, cellText)
			return nil
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	switch {
	case err == nil:
		*c = cell(v)
	case errors.Is(err, strconv.ErrRange) && (v > 1 || v < -1):
		*c = makeCell(0, cellNull) // overflows to ±Inf
	default:
		*c = makeCell(0, cellText)
	}
	return nil
}

func isLetter(b byte) bool { return b|0x20 >= 'a' && b|0x20 <= 'z' }

// exactPow10 holds the powers of ten that float64 represents exactly.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseDecimal reads the common shapes "-123" and "123.45" in a few ns,
// five times faster than strconv, and reports false for anything else
// (exponents, long mantissas), which strconv then handles. When the digits
// form an integer m ≤ 2⁵³ and there are k ≤ 22 decimals, m and 10ᵏ are exact
// float64s and one IEEE division rounds m/10ᵏ correctly (Clinger's fast
// path), so the result is bit for bit strconv's. FuzzParseDecimal checks it.
func parseDecimal(t string) (float64, bool) {
	if t == "" {
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

// isNullToken reports the spellings of a missing value that pandas and
// friends write, and the words for non-finite numbers.
func isNullToken(t string) bool {
	switch strings.ToLower(t) {
	case "", "na", "n/a", "nan", "-nan", "+nan", "null", "none", "nil", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity":
		return true
	}
	return false
}

func (r *record) cells() [NumFeatures + 1]*cell {
	return [...]*cell{&r.Age, &r.Income, &r.AccountBalance, &r.TransactionsLast30d, &r.IsPremium, &r.Target}
}

// validatorValue is what validator sees for a cell: nothing for a null (so
// "required" fails), the text for a non-number (so "number" fails), or a
// pointer to the number (so "required" accepts a zero).
func validatorValue(f reflect.Value) any {
	c := f.Addr().Interface().(*cell)
	switch c.kind() {
	case cellNull:
		return nil
	case cellText:
		return "not a number" // fails the "number" rule, as the text did
	}
	return (*float64)(c)
}
