package policy

import (
	"strings"

	"github.com/patchbay-mcp/patchbay"
)

// Policy is the compiled form of one server's restrictions. The zero value
// and a nil *Policy permit everything. A Policy is immutable and safe for
// concurrent use.
type Policy struct {
	connectors idSet
	actions    actionSet
	users      idSet
}

// idSet is one compiled sub-object of connectors or users.
type idSet struct {
	present bool // false: the sub-object is absent, everything is permitted
	allow   bool // allowlist (true) or blocklist (false)
	ids     map[string]struct{}
}

func (s *idSet) permits(id string) bool {
	if !s.present {
		return true
	}
	_, listed := s.ids[id]
	return listed == s.allow
}

// actionKey is a qualified entry C.A. A struct key instead of the joined
// string lets AllowAction look it up without building "C.A" on every call.
type actionKey struct{ connector, action string }

type actionSet struct {
	present   bool
	allow     bool
	bare      map[string]struct{}    // entries without '.': the action ID in any connector
	qualified map[actionKey]struct{} // entries C.A, split at the first '.'
}

func (s *actionSet) permits(connectorID, actionID string) bool {
	if !s.present {
		return true
	}
	_, listed := s.bare[actionID]
	if !listed {
		_, listed = s.qualified[actionKey{connectorID, actionID}]
	}
	return listed == s.allow
}

// Compile precomputes the lookup sets of r (§8.2). r is expected to have
// passed Restrictions.Validate, which fills in an inferred mode. A nil r or an
// absent sub-object permits everything; in allowlist mode a missing list
// permits nothing; the list that does not belong to the mode is ignored.
//
// A sub-object whose mode is still empty is inferred the way Validate infers
// it; one whose mode cannot be inferred or is unknown permits nothing, because
// failing closed is the only safe reading of a configuration that should not
// exist.
func Compile(r *patchbay.Restrictions) *Policy {
	p := &Policy{}
	if r == nil {
		return p
	}
	if c := r.Connectors; c != nil {
		p.connectors = compileIDs(c.Mode, c.AllowedIDs, c.BlockedIDs)
	}
	if u := r.Users; u != nil {
		p.users = compileIDs(u.Mode, u.AllowedIDs, u.BlockedIDs)
	}
	if a := r.Actions; a != nil {
		allow, list := modeList(a.Mode, a.AllowedActions, a.BlockedActions)
		p.actions = actionSet{present: true, allow: allow, bare: map[string]struct{}{}, qualified: map[actionKey]struct{}{}}
		for _, e := range list {
			if c, act, ok := strings.Cut(e, "."); ok {
				p.actions.qualified[actionKey{c, act}] = struct{}{}
			} else {
				p.actions.bare[e] = struct{}{}
			}
		}
	}
	return p
}

func compileIDs(mode string, allowed, blocked *[]string) idSet {
	allow, list := modeList(mode, allowed, blocked)
	s := idSet{present: true, allow: allow, ids: make(map[string]struct{}, len(list))}
	for _, id := range list {
		s.ids[id] = struct{}{}
	}
	return s
}

// modeList returns the effective mode and the list that belongs to it. An
// undecidable or unknown mode yields an empty allowlist: nothing is permitted.
func modeList(mode string, allowed, blocked *[]string) (allow bool, list []string) {
	if mode == "" {
		switch {
		case allowed != nil && blocked == nil:
			mode = patchbay.Allowlist
		case blocked != nil && allowed == nil:
			mode = patchbay.Blocklist
		}
	}
	switch mode {
	case patchbay.Allowlist:
		if allowed != nil {
			list = *allowed
		}
		return true, list
	case patchbay.Blocklist:
		if blocked != nil {
			list = *blocked
		}
		return false, list
	}
	return true, nil
}

// AllowConnector reports whether the connectors sub-object permits
// connectorID. Matching is exact and case-sensitive.
func (p *Policy) AllowConnector(connectorID string) bool {
	return p == nil || p.connectors.permits(connectorID)
}

// AllowAction reports whether action actionID of connector connectorID is
// permitted: the connector is permitted and the action passes the actions
// sub-object, where an entry A matches A in any connector and an entry C.A
// matches only in connector C. Pass canonical catalog IDs; matching is exact
// and case-sensitive.
func (p *Policy) AllowAction(connectorID, actionID string) bool {
	return p == nil || p.connectors.permits(connectorID) && p.actions.permits(connectorID, actionID)
}

// AllowUser reports whether the users sub-object permits the effective user
// userID.
func (p *Policy) AllowUser(userID string) bool {
	return p == nil || p.users.permits(userID)
}
