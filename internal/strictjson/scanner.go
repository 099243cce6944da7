package strictjson

// Valid reports whether data is one JSON value with optional white space
// around it, exactly as encoding/json's Valid does (FuzzValid checks it),
// without allocating and several times faster.
func Valid(data []byte) bool {
	s := scanner{data: data}
	s.ws()
	if !s.value(0) {
		return false
	}
	s.ws()
	return s.i == len(data)
}

// scanner validates JSON by recursive descent over data from i; with a
// walker it also checks every object's keys for duplicates.
type scanner struct {
	data []byte
	i    int
	w    *walker
}

func (s *scanner) ws() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value checks one value at s.i, depth levels deep, and moves past it.
func (s *scanner) value(depth int) bool {
	if s.i >= len(s.data) {
		return false
	}
	switch c := s.data[s.i]; {
	case c == '{':
		return s.object(depth)
	case c == '[':
		return s.array(depth)
	case c == '"':
		_, _, _, ok := s.str()
		return ok
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *scanner) literal(word string) bool {
	if len(s.data)-s.i < len(word) || string(s.data[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// str checks a string at s.i and returns the bounds of its content (inside
// the quotes) and whether it is plain: ASCII without escapes, so its bytes
// are the string.
func (s *scanner) str() (start, end int, plain, ok bool) {
	d := s.data
	if s.i >= len(d) || d[s.i] != '"' {
		return 0, 0, false, false
	}
	s.i++
	start = s.i
	escaped, high := false, byte(0)
	for s.i < len(d) {
		c := d[s.i]
		if c >= 0x20 && c != '"' && c != '\\' { // the common byte, first
			high |= c
			s.i++
			continue
		}
		switch {
		case c == '"':
			end = s.i
			s.i++
			return start, end, !escaped && high < 0x80, true
		case c == '\\':
			escaped = true
			if s.i+1 >= len(d) {
				return 0, 0, false, false
			}
			switch d[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(d) {
					return 0, 0, false, false
				}
				for _, h := range d[s.i+2 : s.i+6] {
					if !isHex(h) {
						return 0, 0, false, false
					}
				}
				s.i += 6
			default:
				return 0, 0, false, false
			}
		default: // a control character
			return 0, 0, false, false
		}
	}
	return 0, 0, false, false
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f' }

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at s.i.
func (s *scanner) number() bool {
	d := s.data
	if d[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i >= len(d):
		return false
	case d[s.i] == '0':
		s.i++
	case d[s.i] >= '1' && d[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.i < len(d) && d[s.i] == '.' {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if s.i < len(d) && (d[s.i] == 'e' || d[s.i] == 'E') {
		s.i++
		if s.i < len(d) && (d[s.i] == '+' || d[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits moves past one or more digits and reports whether there was one.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// object checks an object at s.i, depth levels deep.
func (s *scanner) object(depth int) bool {
	if empty, ok := s.open(depth, '}'); empty || !ok {
		return ok
	}
	var keys KeySet // with a walker only
	for {
		s.ws()
		start, end, plain, ok := s.str()
		if !ok {
			return false
		}
		if s.w != nil {
			key := s.data[start:end]
			if !plain {
				key = decodeString(s.data[start-1 : end+1])
			}
			if keys.Add(key) {
				s.w.dup = s.w.pathString(key)
				return false
			}
			s.w.path = append(s.w.path, pathPart{key: key})
		}
		s.ws()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return false
		}
		s.i++
		s.ws()
		if more, ok := s.member(depth, '}'); !more {
			return ok
		}
	}
}

// array checks an array at s.i, depth levels deep.
func (s *scanner) array(depth int) bool {
	if empty, ok := s.open(depth, ']'); empty || !ok {
		return ok
	}
	for n := 0; ; n++ {
		s.ws()
		if s.w != nil {
			s.w.path = append(s.w.path, pathPart{index: n})
		}
		if more, ok := s.member(depth, ']'); !more {
			return ok
		}
	}
}

// open enters a container at s.i, depth levels deep: ok is false past
// maxDepth, and empty true for {} or [], then passed.
func (s *scanner) open(depth int, close byte) (empty, ok bool) {
	if depth >= maxDepth {
		return false, false
	}
	s.i++
	s.ws()
	if s.i < len(s.data) && s.data[s.i] == close {
		s.i++
		return true, true
	}
	return false, true
}

// member checks a container's value at s.i and what follows it: more is
// true after a comma, ok after the container's close.
func (s *scanner) member(depth int, close byte) (more, ok bool) {
	if !s.value(depth + 1) {
		return false, false
	}
	if s.w != nil {
		s.w.path = s.w.path[:len(s.w.path)-1]
	}
	s.ws()
	if s.i >= len(s.data) {
		return false, false
	}
	switch s.data[s.i] {
	case ',':
		s.i++
		return true, true
	case close:
		s.i++
		return false, true
	}
	return false, false
}
