package connector

import (
	"cmp"
	"encoding/json"
	"errors"
	"slices"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/patchbay-mcp/patchbay"
)

// ParamError is one entry of details.errors of "Invalid parameters".
type ParamError struct {
	Path    string `json:"path"` // JSON pointer into the parameters, e.g. /limit
	Message string `json:"message"`
}

// maxParamErrors bounds details.errors of "Invalid parameters".
const maxParamErrors = 50

// args are validated parameters.
type args struct {
	members []rootMember // top-level members in input order
}

func invalidParams(errs []ParamError) *patchbay.Error {
	slices.SortStableFunc(errs, func(a, b ParamError) int { return cmp.Compare(a.Path, b.Path) })
	if len(errs) > maxParamErrors {
		errs = errs[:maxParamErrors]
	}
	return patchbay.Errorf(patchbay.EInvalid, "Invalid parameters").With("errors", errs)
}

// Validate checks params against the action's schema (§7.4) without running
// it, so that the gateway can validate before a cache lookup. It returns
// ACTION_NOT_FOUND or INVALID_REQUEST ("Invalid parameters", details.errors).
func (r *Runtime) Validate(c *Compiled, actionID string, params json.RawMessage) error {
	_, err := r.Check(c, actionID, params)
	return err
}

// Checked is parameters validated for one action. Passed back in
// Call.Checked, it spares Execute a second parse and schema validation.
type Checked struct {
	action *compiledAction
	args   *args
}

// Check is Validate returning the validated parameters for Execute.
func (r *Runtime) Check(c *Compiled, actionID string, params json.RawMessage) (*Checked, error) {
	ca, err := c.action(actionID)
	if err != nil {
		return nil, err
	}
	a, err := ca.validate(params)
	if err != nil {
		return nil, err
	}
	return &Checked{action: ca, args: a}, nil
}

func (c *Compiled) action(id string) (*compiledAction, error) {
	if c == nil {
		return nil, errors.New("connector: nil compiled connector")
	}
	ca := c.actions[id]
	if ca == nil {
		return nil, patchbay.Errorf(patchbay.EActionNotFound, "Action not found")
	}
	return ca, nil
}

// validate parses params (refusing duplicate member names anywhere, arrays
// over 10000 items and unknown top-level members) and checks them against
// the compiled schema. Empty params mean {}.
func (ca *compiledAction) validate(params json.RawMessage) (*args, error) {
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	val, members, verr := parseRoot(params, true)
	if verr != nil {
		return nil, invalidParams([]ParamError{{Path: verr.path, Message: verr.msg}})
	}
	obj, ok := val.(map[string]any)
	if !ok {
		return nil, invalidParams([]ParamError{{Path: "", Message: "parameters must be an object"}})
	}
	var errs []ParamError
	for _, m := range members {
		if ca.props[m.key] == nil {
			errs = append(errs, ParamError{Path: "/" + escapePointer(m.key), Message: "unknown parameter"})
		}
	}
	if err := ca.schema.Validate(obj); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return nil, err
		}
		for _, u := range ve.BasicOutput().Errors {
			if u.Error == nil {
				continue
			}
			switch k := u.Error.Kind.(type) {
			case *kind.Group, *kind.Schema, *kind.Reference:
				continue
			case *kind.AdditionalProperties:
				if u.InstanceLocation == "" {
					continue // reported above as unknown parameters
				}
			case *kind.Required:
				for _, name := range k.Missing {
					errs = append(errs, ParamError{Path: u.InstanceLocation + "/" + escapePointer(name), Message: "is required"})
				}
				continue
			}
			errs = append(errs, ParamError{Path: u.InstanceLocation, Message: u.Error.String()})
		}
		if len(errs) == 0 {
			errs = append(errs, ParamError{Path: "", Message: ve.Error()})
		}
	}
	if len(errs) > 0 {
		return nil, invalidParams(errs)
	}
	return &args{members: members}, nil
}
