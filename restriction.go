package patchbay

import "strings"

// Restriction modes (§8.1).
const (
	Allowlist = "allowlist"
	Blocklist = "blocklist"
)

// MaxRestrictionEntries bounds each restriction list.
const MaxRestrictionEntries = 1000

// Restrictions limit what a server exposes (§8). A nil sub-object permits
// everything. The stored and echoed form is the submitted one with Mode filled
// in when it was inferred; a nil list pointer means the list was not sent.
type Restrictions struct {
	Connectors *IDRule     `json:"connectors,omitempty"`
	Actions    *ActionRule `json:"actions,omitempty"`
	Users      *IDRule     `json:"users,omitempty"`
}

// IDRule restricts connector IDs or user IDs.
type IDRule struct {
	Mode       string    `json:"mode,omitempty"`
	AllowedIDs *[]string `json:"allowedIds,omitempty"`
	BlockedIDs *[]string `json:"blockedIds,omitempty"`
}

// ActionRule restricts actions by bare actionId or connectorId.actionId.
type ActionRule struct {
	Mode           string    `json:"mode,omitempty"`
	AllowedActions *[]string `json:"allowedActions,omitempty"`
	BlockedActions *[]string `json:"blockedActions,omitempty"`
}

// IsZero reports whether no sub-object is present.
func (r *Restrictions) IsZero() bool {
	return r == nil || r.Connectors == nil && r.Actions == nil && r.Users == nil
}

// HasRestrictions reports whether any sub-object is active (§8.2): an
// allowlist, or a blocklist with at least one entry.
func (r *Restrictions) HasRestrictions() bool {
	if r == nil {
		return false
	}
	active := func(mode string, blocked *[]string) bool {
		return mode == Allowlist || mode == Blocklist && blocked != nil && len(*blocked) > 0
	}
	return r.Connectors != nil && active(r.Connectors.Mode, r.Connectors.BlockedIDs) ||
		r.Actions != nil && active(r.Actions.Mode, r.Actions.BlockedActions) ||
		r.Users != nil && active(r.Users.Mode, r.Users.BlockedIDs)
}

// Validate checks the shape of §8.1, fills in an inferred mode, and returns an
// EInvalid error whose details.field is the dot path below prefix (for
// example "restrictions.connectors.allowedIds").
func (r *Restrictions) Validate(prefix string) error {
	if r == nil {
		return nil
	}
	if r.Connectors != nil {
		if err := validateRule(prefix+".connectors", &r.Connectors.Mode, "allowedIds", "blockedIds",
			r.Connectors.AllowedIDs, r.Connectors.BlockedIDs, ValidConnectorID, "a connector ID"); err != nil {
			return err
		}
	}
	if r.Actions != nil {
		if err := validateRule(prefix+".actions", &r.Actions.Mode, "allowedActions", "blockedActions",
			r.Actions.AllowedActions, r.Actions.BlockedActions, validActionRef, "an action ID or connectorId.actionId"); err != nil {
			return err
		}
	}
	if r.Users != nil {
		if err := validateRule(prefix+".users", &r.Users.Mode, "allowedIds", "blockedIds",
			r.Users.AllowedIDs, r.Users.BlockedIDs, ValidUserID, "a user ID"); err != nil {
			return err
		}
	}
	return nil
}

func validActionRef(s string) bool {
	if c, a, ok := strings.Cut(s, "."); ok {
		return ValidConnectorID(c) && ValidActionID(a)
	}
	return ValidActionID(s)
}

func validateRule(path string, mode *string, allowedName, blockedName string, allowed, blocked *[]string, valid func(string) bool, what string) error {
	switch *mode {
	case Allowlist, Blocklist:
	case "":
		switch {
		case allowed != nil && blocked == nil:
			*mode = Allowlist
		case blocked != nil && allowed == nil:
			*mode = Blocklist
		default:
			return Errorf(EInvalid, "%s.mode is required unless exactly one list is present", path).Field(path + ".mode")
		}
	default:
		return Errorf(EInvalid, "%s.mode must be allowlist or blocklist", path).Field(path + ".mode")
	}
	check := func(name string, list *[]string) error {
		if list == nil {
			return nil
		}
		if len(*list) > MaxRestrictionEntries {
			return Errorf(EInvalid, "%s.%s may hold at most %d entries", path, name, MaxRestrictionEntries).Field(path + "." + name)
		}
		for _, s := range *list {
			if !valid(s) {
				return Errorf(EInvalid, "%s.%s: %q is not %s", path, name, s, what).Field(path + "." + name)
			}
		}
		return nil
	}
	if err := check(allowedName, allowed); err != nil {
		return err
	}
	return check(blockedName, blocked)
}
