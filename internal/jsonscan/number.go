package jsonscan

// Numbers: their grammar and their conversion to float64.

import "strconv"

// number reads the bytes of the number at the reader's position, checked
// against JSON's grammar.
func (r *Reader) number() ([]byte, bool) {
	start, d := r.pos, r.data
	i := start
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i++; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
	default:
		r.pos = i
		return nil, r.fail("expected a digit")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			r.pos = i
			return nil, r.fail("expected a digit after the decimal point")
		}
		for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			r.pos = i
			return nil, r.fail("expected a digit in the exponent")
		}
		for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		}
	}
	r.pos = i
	return d[start:i], true
}

// gatherDigits reads the digits from d[i] on into mant, which holds digits
// of them already: at most 19 in all, and exact is false if there were
// more. It returns where the digits end. Values in and out, not pointers,
// so that the loop keeps them in registers.
func gatherDigits(d []byte, i int, mant uint64, digits int) (end int, m uint64, n int, exact bool) {
	exact = true
	for ; i < len(d) && d[i] >= '0' && d[i] <= '9'; i++ {
		if digits == 19 {
			exact = false
			continue
		}
		mant = mant*10 + uint64(d[i]-'0')
		digits++
	}
	return i, mant, digits, exact
}

// Float reads a number as the nearest float64. A number that is valid JSON
// but beyond float64's range gives inRange false (and no syntax error), as
// encoding/json refuses it for a float64.
//
// One pass checks the grammar and gathers the digits: when they form an
// integer m <= 2^53 with k <= 22 decimals and no exponent, m and 10^k are
// exact float64s and one IEEE division rounds m/10^k correctly (Clinger's
// fast path), so the result is strconv's, bit for bit (FuzzReaderAgrees
// checks it); other numbers go to strconv.
func (r *Reader) Float() (v float64, inRange, ok bool) {
	r.skipSpace()
	d, i := r.data, r.pos
	start, neg := i, false
	if i < len(d) && d[i] == '-' {
		neg = true
		i++
	}
	var mant uint64
	digits, decimals, fast := 0, 0, true
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i, mant, digits, fast = gatherDigits(d, i, 0, 0)
	default:
		r.pos = i
		return 0, false, r.fail("expected a digit")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			r.pos = i
			return 0, false, r.fail("expected a digit after the decimal point")
		}
		whole := digits
		var exact bool
		i, mant, digits, exact = gatherDigits(d, i, mant, digits)
		decimals, fast = digits-whole, fast && exact
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		fast = false
		r.pos = start
		if _, ok := r.number(); !ok {
			return 0, false, false
		}
		i = r.pos
	}
	r.pos = i
	if fast && mant <= 1<<53 && decimals < len(exactPow10) {
		v = float64(mant)
		if decimals > 0 {
			v /= exactPow10[decimals]
		}
		if neg {
			v = -v
		}
		return v, true, true
	}
	v, err := strconv.ParseFloat(string(d[start:i]), 64) // no allocation: strconv copies only into an error
	return v, err == nil, true
}

// exactPow10 holds the powers of ten that a float64 represents exactly.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}
