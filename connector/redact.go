package connector

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"
)

const redacted = "[REDACTED]"

// secretList orders secret values longest first, so that a secret that
// contains another is replaced whole. Empty values are dropped.
func secretList(values ...[]string) []string {
	var out []string
	for _, vs := range values {
		for _, v := range vs {
			if v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return out
}

func redactText(s string, secrets []string) string {
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

// redactJSON replaces every secret inside the strings (values and member
// names) of a valid JSON document with [REDACTED]. Strings are compared
// decoded, so a secret hidden behind escapes (\/ or \u0041) is found too. A
// number whose text contains a secret becomes the string "[REDACTED]". The
// result stays valid JSON with the member order of the input; data is
// returned unchanged (not copied) when nothing matched.
func redactJSON(data []byte, secrets []string) []byte {
	if len(secrets) == 0 {
		return data
	}
	if bytes.IndexByte(data, '\\') < 0 {
		found := false
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				found = true
				break
			}
		}
		if !found {
			return data
		}
	}
	var out []byte // nil until the first change
	copied := 0    // data[:copied] is already in out
	replace := func(start, end int, repl []byte) {
		if out == nil {
			out = make([]byte, 0, len(data)+16)
		}
		out = append(out, data[copied:start]...)
		out = append(out, repl...)
		copied = end
	}
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == '"':
			j := i + 1
			escaped := false
			for j < len(data) && data[j] != '"' {
				if data[j] == '\\' {
					escaped = true
					j++
				}
				j++
			}
			end := min(j+1, len(data))
			if escaped {
				var s string
				if json.Unmarshal(data[i:end], &s) == nil {
					if r := redactText(s, secrets); r != s {
						replace(i, end, appendJSONString(nil, r))
					}
				}
			} else if inner := data[i+1 : end-1]; containsAny(inner, secrets) {
				replace(i, end, appendJSONString(nil, redactText(string(inner), secrets)))
			}
			i = end
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(data) && strings.IndexByte("0123456789+-.eE", data[j]) >= 0 {
				j++
			}
			if containsAny(data[i:j], secrets) {
				replace(i, j, []byte(`"`+redacted+`"`))
			}
			i = j
		default:
			i++
		}
	}
	if out == nil {
		return data
	}
	return append(out, data[copied:]...)
}

func containsAny(b []byte, secrets []string) bool {
	for _, s := range secrets {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}
