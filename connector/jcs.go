package connector

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
)

// Canonical returns the RFC 8785 JSON Canonicalization of a JSON document:
// no white space, object members sorted by their UTF-16 code units, strings
// with minimal escaping, numbers as ECMAScript prints them. Duplicate member
// names and numbers outside the float64 range are errors. It keys the read
// cache (§10.4), so equal parameters written differently share an entry.
func Canonical(data json.RawMessage) ([]byte, error) {
	v, _, verr := parseRoot(data, false)
	if verr != nil {
		return nil, errors.New("connector: canonicalize: " + verr.msg + " at " + verr.path)
	}
	return appendCanonical(make([]byte, 0, len(data)), v)
}

func appendCanonical(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case string:
		return appendJSONString(dst, x), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		// An underflow rounds to zero or a subnormal, as in ECMAScript;
		// an overflow has no JSON form.
		if math.IsInf(f, 0) || err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, errors.New("connector: canonicalize: number out of range: " + string(x))
		}
		return appendES(dst, f), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendCanonical(dst, e); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareUTF16)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			var err error
			if dst, err = appendCanonical(dst, x[k]); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	}
	return nil, errors.New("connector: canonicalize: unexpected value")
}

// compareUTF16 orders strings by their UTF-16 code units (RFC 8785 §3.2.3).
// It differs from byte order only between supplementary characters and
// U+E000..U+FFFF.
func compareUTF16(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	for i := 0; i < len(ra) && i < len(rb); i++ {
		if ra[i] == rb[i] {
			continue
		}
		ua, ub := utf16Units(ra[i]), utf16Units(rb[i])
		if c := slices.Compare(ua, ub); c != 0 {
			return c
		}
	}
	return len(ra) - len(rb)
}

func utf16Units(r rune) []uint16 {
	return utf16.AppendRune(nil, r)
}

// appendES formats f as ECMAScript's Number.prototype.toString does
// (ECMA-262 Number::toString), which RFC 8785 §3.2.2.3 requires.
func appendES(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0') // also -0
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	// Shortest round-trip digits, as ECMAScript requires: "d.ddde±x".
	var buf [32]byte
	s := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	ePos := slices.Index(s, 'e')
	mant, expPart := s[:ePos], s[ePos+1:]
	exp, _ := strconv.Atoi(string(expPart))
	digits := make([]byte, 0, len(mant))
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	k := len(digits)
	n := exp + 1 // value = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		dst = append(dst, digits...)
		for range n - k {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, digits[:n]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n:]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for range -n {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	default:
		dst = append(dst, digits[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		e := n - 1
		if e >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(e), 10)
	}
	return dst
}
