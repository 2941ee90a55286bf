package oauth

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/patchbay-mcp/patchbay"
)

// MaxFieldLen is the longest credential field value in characters (§12.2).
const MaxFieldLen = 8192

// field is one credential field of a scheme: a base field of the type
// (apiKey; token; username and password) or an extra field (§11.1).
type field struct {
	Name     string
	Label    string
	Secret   bool
	Required bool
	Pattern  string
	Enum     []string
}

// baseFields are the fields every scheme of a type has (§12.2). They are
// all secret: they are sealed and reach the runtime as Material.Secrets.
func baseFields(authType string) []field {
	switch authType {
	case patchbay.AuthAPIKey:
		return []field{{Name: "apiKey", Label: "API key", Secret: true, Required: true}}
	case patchbay.AuthBearer:
		return []field{{Name: "token", Label: "Token", Secret: true, Required: true}}
	case patchbay.AuthBasic:
		return []field{{Name: "username", Label: "Username", Secret: true, Required: true},
			{Name: "password", Label: "Password", Secret: true, Required: true}}
	}
	return nil
}

// schemeFields lists the base fields of the scheme's type, then its extra
// fields, in definition order.
func schemeFields(s *patchbay.AuthScheme) []field {
	out := baseFields(s.Type)
	for _, f := range s.Fields {
		label := f.Label
		if label == "" {
			label = f.Name
		}
		out = append(out, field{Name: f.Name, Label: label, Secret: f.IsSecret(), Required: f.IsRequired(), Pattern: f.Pattern, Enum: f.Enum})
	}
	return out
}

func findField(fields []field, name string) *field {
	for i := range fields {
		if fields[i].Name == name {
			return &fields[i]
		}
	}
	return nil
}

// fieldCheck says which rules of §12.2 and §7.5 apply.
type fieldCheck struct {
	requireAll  bool // missing required fields are errors (not for form pre-fill)
	allowSecret bool // secret fields may be given (not over MCP)
}

// checkFields validates values against the scheme's fields: no unknown
// field, no secret field unless allowed, required fields present, values of
// 1..8192 characters matching pattern and enum. Unknown names are reported
// first, in sorted order, so that the error is deterministic.
func checkFields(fields []field, values map[string]string, c fieldCheck) error {
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		f := findField(fields, k)
		if f == nil {
			return patchbay.Errorf(patchbay.EInvalid, "Unknown field %q", k).Field(k).Reason("unknown_field")
		}
		if f.Secret && !c.allowSecret {
			return patchbay.Errorf(patchbay.EInvalid, "Field %q is secret and must be entered in the credential form", k).
				Field(k).Reason("secret_field_not_allowed")
		}
	}
	for i := range fields {
		f := &fields[i]
		v, ok := values[f.Name]
		if !ok {
			if f.Required && c.requireAll && (c.allowSecret || !f.Secret) {
				return patchbay.Errorf(patchbay.EInvalid, "Field %q is required", f.Name).Field(f.Name).Reason("missing_field")
			}
			continue
		}
		if err := checkValue(f, v); err != nil {
			return err
		}
	}
	return nil
}

// checkValue applies the length, pattern and enum rules to one value. The
// message never contains the value: it may be a secret.
func checkValue(f *field, v string) error {
	if n := utf8.RuneCountInString(v); n < 1 || n > MaxFieldLen {
		return patchbay.Errorf(patchbay.EInvalid, "Field %q must be 1 to %d characters", f.Name, MaxFieldLen).Field(f.Name).Reason("invalid_value")
	}
	if len(f.Enum) > 0 && !slices.Contains(f.Enum, v) {
		return patchbay.Errorf(patchbay.EInvalid, "Field %q must be one of: %s", f.Name, strings.Join(f.Enum, ", ")).Field(f.Name).Reason("invalid_value")
	}
	if f.Pattern != "" {
		re, err := regexp.Compile(f.Pattern)
		if err != nil || !re.MatchString(v) {
			return patchbay.Errorf(patchbay.EInvalid, "Field %q does not have the required format", f.Name).Field(f.Name).Reason("invalid_value")
		}
	}
	return nil
}

// splitFields separates validated values into non-secret config and secret
// values.
func splitFields(fields []field, values map[string]string) (config, secrets map[string]string) {
	config = make(map[string]string)
	for k, v := range values {
		if f := findField(fields, k); f != nil && f.Secret {
			if secrets == nil {
				secrets = make(map[string]string)
			}
			secrets[k] = v
			continue
		}
		config[k] = v
	}
	return config, secrets
}

// checkName applies the 1..100 characters rule of a credential name.
func checkName(name string) error {
	if n := utf8.RuneCountInString(name); n < 1 || n > 100 {
		return patchbay.Errorf(patchbay.EInvalid, "name must be 1 to 100 characters").Field("name")
	}
	return nil
}
