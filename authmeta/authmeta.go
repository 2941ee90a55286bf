package authmeta

import (
	"github.com/patchbay-mcp/patchbay"
)

// Entry is one metadata item of §7.7.
type Entry struct {
	AuthenticationType string      `json:"authenticationType"`
	AuthConfigRequired bool        `json:"authConfigRequired"`
	Configured         bool        `json:"configured"`
	InputSchema        InputSchema `json:"inputSchema"`
	SampleInput        Sample      `json:"sampleInput"`
}

// InputSchema is the create_credential_alloy argument schema for one type.
type InputSchema struct {
	Type       string     `json:"type"`
	Properties Properties `json:"properties"`
	Required   []string   `json:"required"`
}

// Properties are the schema's members, in the order of §7.7.
type Properties struct {
	AuthenticationType Const        `json:"authenticationType"`
	RedirectURI        *StringProp  `json:"redirectUri,omitempty"`
	Fields             *FieldsProp  `json:"fields,omitempty"`
	Name               StringSimple `json:"name"`
}

// Const is {"type":"string","const":...}.
type Const struct {
	Type  string `json:"type"`
	Const string `json:"const"`
}

// StringProp is a string with a format.
type StringProp struct {
	Type   string `json:"type"`
	Format string `json:"format,omitempty"`
}

// StringSimple is {"type":"string"}.
type StringSimple struct {
	Type string `json:"type"`
}

// FieldsProp is the fields object.
type FieldsProp struct {
	Type                 string       `json:"type"`
	Properties           fieldsSchema `json:"properties"`
	Required             []string     `json:"required,omitempty"`
	AdditionalProperties bool         `json:"additionalProperties"`
}

// FieldSchema describes one field.
type FieldSchema struct {
	Type        string   `json:"type"`
	Enum        []string `json:"enum,omitempty"`
	Pattern     string   `json:"pattern,omitempty"`
	Description string   `json:"description,omitempty"`
	WriteOnly   bool     `json:"writeOnly,omitempty"`
}

// fieldsSchema marshals as an object with members in field order.
type fieldsSchema []namedField

type namedField struct {
	name   string
	schema FieldSchema
}

// Sample is sampleInput, with members in order.
type Sample struct {
	AuthenticationType string  `json:"authenticationType"`
	RedirectURI        string  `json:"redirectUri,omitempty"`
	Fields             *fields `json:"fields,omitempty"`
}

type fields []namedValue

type namedValue struct{ name, value string }

// builtinFields lists the fields each type's credential holds (§12.2).
func builtinFields(typ string) []patchbay.AuthField {
	switch typ {
	case patchbay.AuthAPIKey:
		return []patchbay.AuthField{{Name: "apiKey"}}
	case patchbay.AuthBearer:
		return []patchbay.AuthField{{Name: "token"}}
	case patchbay.AuthBasic:
		return []patchbay.AuthField{{Name: "username"}, {Name: "password"}}
	}
	return nil
}

// Describe returns the metadata entry of one scheme. secretsInArguments is
// the server's allowSecretsInToolArguments (false over REST); redirect is
// the sample redirect URI; configured says whether an OAuth app exists.
func Describe(s *patchbay.AuthScheme, secretsInArguments bool, redirect string, configured bool) Entry {
	secrets := secretsInArguments && s.Type != patchbay.AuthOAuth2
	all := s.Fields
	if secrets {
		all = append(builtinFields(s.Type), s.Fields...)
	}
	var props fieldsSchema
	var required []string
	var sample fields
	for _, f := range all {
		if f.IsSecret() && !secrets {
			continue
		}
		props = append(props, namedField{name: f.Name, schema: FieldSchema{Type: "string", Enum: f.Enum, Pattern: f.Pattern,
			Description: f.Label, WriteOnly: f.IsSecret()}})
		if f.IsRequired() {
			required = append(required, f.Name)
		}
		switch {
		case f.IsSecret():
			sample = append(sample, namedValue{f.Name, "<secret>"})
		case len(f.Enum) > 0:
			sample = append(sample, namedValue{f.Name, f.Enum[0]})
		}
	}
	e := Entry{AuthenticationType: s.Type, Configured: configured || s.Type != patchbay.AuthOAuth2,
		InputSchema: InputSchema{Type: "object", Properties: Properties{AuthenticationType: Const{Type: "string", Const: s.Type},
			Name: StringSimple{Type: "string"}}, Required: []string{"authenticationType"}},
		SampleInput: Sample{AuthenticationType: s.Type}}
	if !secrets {
		e.InputSchema.Properties.RedirectURI = &StringProp{Type: "string", Format: "uri"}
	}
	if len(props) > 0 {
		fp := &FieldsProp{Type: "object", Properties: props}
		// The fields are required for oauth2 when one of them is, and
		// whenever secrets are taken as arguments; otherwise the form asks.
		if len(required) > 0 && (s.Type == patchbay.AuthOAuth2 || secrets) {
			fp.Required = required
			e.InputSchema.Required = append(e.InputSchema.Required, "fields")
		}
		e.InputSchema.Properties.Fields = fp
	}
	if s.Type == patchbay.AuthOAuth2 {
		e.SampleInput.RedirectURI = redirect
	}
	if len(sample) > 0 {
		e.SampleInput.Fields = &sample
	}
	return e
}
