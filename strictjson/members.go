package strictjson

// Members calls fn with the exact name (escapes decoded) and the raw value
// of each member of the JSON object data, in order, without decoding the
// values. It checks the object's syntax but not for duplicate names (Check
// does that); it returns an error for anything but one object.
//
// It exists so that a body already vetted by Check is taken apart once,
// case-sensitively, instead of once per consumer through maps.
func Members(data []byte, fn func(name, value []byte) error) error {
	s := &scanner{data: data, opts: Options{MaxDepth: 512}}
	s.skipWS()
	if s.i >= len(s.data) || s.data[s.i] != '{' {
		return s.syntax()
	}
	s.i++
	s.skipWS()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return s.end()
	}
	for {
		if s.i >= len(s.data) || s.data[s.i] != '"' {
			return s.syntax()
		}
		name, err := s.str()
		if err != nil {
			return err
		}
		s.skipWS()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return s.syntax()
		}
		s.i++
		s.skipWS()
		start := s.i
		if err := s.value(nil, 0); err != nil {
			return err
		}
		if err := fn(name, s.data[start:s.i]); err != nil {
			return err
		}
		s.skipWS()
		if s.i >= len(s.data) {
			return s.syntax()
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.skipWS()
		case '}':
			s.i++
			return s.end()
		default:
			return s.syntax()
		}
	}
}

func (s *scanner) end() error {
	s.skipWS()
	if s.i != len(s.data) {
		return &Error{Kind: KindSyntax, Msg: "unexpected data after the JSON value"}
	}
	return nil
}
