package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"unicode/utf8"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/strictjson"
)

// argKind is the JSON type of a tool argument.
type argKind int

const (
	kString argKind = iota
	kInteger
	kObject
	kStringMap // object of strings
)

// arg is one top-level member of a meta tool's input schema.
type arg struct {
	name     string
	kind     argKind
	required bool
	min, max int // string length in characters, or integer bounds
	enum     []string
	check    func(string) bool // extra format rule (pattern, uri)
	what     string            // what check expects, for the message
	mapMax   int               // kStringMap: longest value
}

type argError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// maxToolArray bounds arrays anywhere in tool arguments (§17.4).
const maxToolArray = 10000

// parseArgs validates raw tool arguments against specs (§7 argument
// validation): exact member names, types, lengths, enums, formats. It
// returns the members or an INVALID_REQUEST error with details.errors.
func parseArgs(raw json.RawMessage, specs []arg) (map[string]json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage(`{}`)
	}
	if err := strictjson.Check(raw, strictjson.Options{MaxArray: maxToolArray}); err != nil {
		path := "/"
		var se *strictjson.Error
		if errors.As(err, &se) && se.Path != "" {
			path = "/" + se.Path
		}
		return nil, invalidArgs(argError{Path: path, Message: err.Error()})
	}
	m := make(map[string]json.RawMessage, len(specs))
	if err := strictjson.Members(raw, func(name, value []byte) error {
		m[string(name)] = value
		return nil
	}); err != nil {
		return nil, invalidArgs(argError{Path: "/", Message: "arguments must be an object"})
	}
	var errs []argError
	known := map[string]bool{}
	for _, s := range specs {
		known[s.name] = true
		v, present := m[s.name]
		if !present {
			if s.required {
				errs = append(errs, argError{Path: "/" + s.name, Message: "required"})
			}
			continue
		}
		if msg := s.validate(v); msg != "" {
			errs = append(errs, argError{Path: "/" + s.name, Message: msg})
		}
	}
	for k := range m {
		if !known[k] {
			errs = append(errs, argError{Path: "/" + k, Message: "unknown argument"})
		}
	}
	if len(errs) > 0 {
		return nil, invalidArgs(errs...)
	}
	return m, nil
}

func invalidArgs(errs ...argError) error {
	return patchbay.Errorf(patchbay.EInvalid, "Invalid arguments").With("errors", errs)
}

func (s *arg) validate(v json.RawMessage) string {
	switch s.kind {
	case kString:
		var str string
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &str) != nil {
			return "must be a string"
		}
		n := utf8.RuneCountInString(str)
		if s.min > 0 && n < s.min {
			return fmt.Sprintf("must be at least %d characters", s.min)
		}
		if s.max > 0 && n > s.max {
			return fmt.Sprintf("must be at most %d characters", s.max)
		}
		if len(s.enum) > 0 {
			for _, e := range s.enum {
				if e == str {
					return ""
				}
			}
			return fmt.Sprintf("must be one of %v", s.enum)
		}
		if s.check != nil && !s.check(str) {
			return "must be " + s.what
		}
	case kInteger:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			var f float64
			if json.Unmarshal(v, &f) != nil || f != float64(int64(f)) {
				return "must be an integer"
			}
			n = int64(f)
		}
		if n < int64(s.min) || n > int64(s.max) {
			return fmt.Sprintf("must be from %d to %d", s.min, s.max)
		}
	case kObject:
		if !isObject(v) {
			return "must be an object"
		}
	case kStringMap:
		var sm map[string]json.RawMessage
		if !isObject(v) || json.Unmarshal(v, &sm) != nil {
			return "must be an object"
		}
		for k, val := range sm {
			var str string
			if len(val) == 0 || val[0] != '"' || json.Unmarshal(val, &str) != nil {
				return "member " + k + " must be a string"
			}
			if s.mapMax > 0 && utf8.RuneCountInString(str) > s.mapMax {
				return fmt.Sprintf("member %s must be at most %d characters", k, s.mapMax)
			}
		}
	}
	return ""
}

func str(m map[string]json.RawMessage, name string) string {
	s, _ := jsonString(m[name])
	return s
}

func validURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.IsAbs()
}

var (
	argConnectorID = arg{name: "connectorId", kind: kString, required: true, min: 1, max: 48}
	argActionID    = arg{name: "actionId", kind: kString, required: true, min: 1, max: 64}
)
