package policy_test

import (
	"fmt"
	"testing"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/policy"
)

func list(ids ...string) *[]string {
	if ids == nil {
		ids = []string{}
	}
	return &ids
}

// validated runs Validate as the stores do before a Policy is compiled, so the
// tests exercise the stored form (mode filled in).
func validated(t *testing.T, r *patchbay.Restrictions) *patchbay.Restrictions {
	t.Helper()
	if err := r.Validate("restrictions"); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return r
}

func TestAllowConnector(t *testing.T) {
	tests := []struct {
		name string
		r    *patchbay.Restrictions
		id   string
		want bool
	}{
		{name: "NilRestrictions", r: nil, id: "slack", want: true},
		{name: "EmptyRestrictions", r: &patchbay.Restrictions{}, id: "slack", want: true},
		{name: "OtherSubObjectsOnly", r: &patchbay.Restrictions{Users: &patchbay.IDRule{AllowedIDs: list("u1")}}, id: "slack", want: true},
		{name: "AllowlistListed", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{AllowedIDs: list("acme-crm", "slack")}}, id: "slack", want: true},
		{name: "AllowlistNotListed", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{AllowedIDs: list("acme-crm")}}, id: "slack", want: false},
		{name: "AllowlistEmptyList", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{AllowedIDs: list()}}, id: "slack", want: false},
		{name: "AllowlistMissingList", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{Mode: patchbay.Allowlist, BlockedIDs: list("github")}}, id: "slack", want: false},
		{name: "AllowlistIgnoresBlockedList", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{Mode: patchbay.Allowlist, AllowedIDs: list("slack"), BlockedIDs: list("slack")}}, id: "slack", want: true},
		{name: "BlocklistListed", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{BlockedIDs: list("slack")}}, id: "slack", want: false},
		{name: "BlocklistNotListed", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{BlockedIDs: list("github")}}, id: "slack", want: true},
		{name: "BlocklistEmptyList", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{BlockedIDs: list()}}, id: "slack", want: true},
		{name: "BlocklistMissingList", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{Mode: patchbay.Blocklist}}, id: "slack", want: true},
		{name: "BlocklistIgnoresAllowedList", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{Mode: patchbay.Blocklist, AllowedIDs: list("github"), BlockedIDs: list("slack")}}, id: "github", want: true},
		{name: "BlocklistIgnoresAllowedListBlocked", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{Mode: patchbay.Blocklist, AllowedIDs: list("slack"), BlockedIDs: list("slack")}}, id: "slack", want: false},
		{name: "AllowlistPrefixDoesNotMatch", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{AllowedIDs: list("slack")}}, id: "slack-2", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if r != nil {
				r = validated(t, r)
			}
			if got := policy.Compile(r).AllowConnector(tt.id); got != tt.want {
				t.Errorf("AllowConnector(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestAllowAction(t *testing.T) {
	type call struct{ connector, action string }
	tests := []struct {
		name string
		r    *patchbay.Restrictions
		call call
		want bool
	}{
		{name: "NilRestrictions", call: call{"acme-crm", "deals_delete"}, want: true},
		{name: "NoActionsSubObject", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{AllowedIDs: list("acme-crm")}}, call: call{"acme-crm", "deals_delete"}, want: true},
		{name: "ConnectorNotPermitted", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{BlockedIDs: list("acme-crm")}}, call: call{"acme-crm", "deals_create"}, want: false},
		{name: "ConnectorNotPermittedDespiteActionAllowlist", r: &patchbay.Restrictions{
			Connectors: &patchbay.IDRule{AllowedIDs: list("slack")},
			Actions:    &patchbay.ActionRule{AllowedActions: list("acme-crm.deals_create")},
		}, call: call{"acme-crm", "deals_create"}, want: false},
		{name: "BlockBareAnyConnector", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{BlockedActions: list("deals_delete")}}, call: call{"other-crm", "deals_delete"}, want: false},
		{name: "BlockBareOtherAction", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{BlockedActions: list("deals_delete")}}, call: call{"acme-crm", "deals_create"}, want: true},
		{name: "BlockQualifiedSameConnector", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{BlockedActions: list("slack.chat_delete")}}, call: call{"slack", "chat_delete"}, want: false},
		{name: "BlockQualifiedOtherConnector", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{BlockedActions: list("slack.chat_delete")}}, call: call{"teams", "chat_delete"}, want: true},
		{name: "AllowBare", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{AllowedActions: list("contacts_list")}}, call: call{"acme-crm", "contacts_list"}, want: true},
		{name: "AllowBareNotListed", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{AllowedActions: list("contacts_list")}}, call: call{"acme-crm", "contacts_get"}, want: false},
		{name: "AllowQualified", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{AllowedActions: list("acme-crm.contacts_list")}}, call: call{"acme-crm", "contacts_list"}, want: true},
		{name: "AllowQualifiedOtherConnector", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{AllowedActions: list("acme-crm.contacts_list")}}, call: call{"other-crm", "contacts_list"}, want: false},
		{name: "AllowlistEmptyList", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{AllowedActions: list()}}, call: call{"acme-crm", "contacts_list"}, want: false},
		{name: "AllowlistMissingList", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{Mode: patchbay.Allowlist}}, call: call{"acme-crm", "contacts_list"}, want: false},
		{name: "AllowlistIgnoresBlockedList", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{Mode: patchbay.Allowlist,
			AllowedActions: list("contacts_list"), BlockedActions: list("contacts_list")}}, call: call{"acme-crm", "contacts_list"}, want: true},
		{name: "BlocklistMissingList", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{Mode: patchbay.Blocklist}}, call: call{"acme-crm", "deals_delete"}, want: true},
		{name: "BlocklistIgnoresAllowedList", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{Mode: patchbay.Blocklist,
			AllowedActions: list("deals_delete")}}, call: call{"acme-crm", "contacts_list"}, want: true},
		{name: "QualifiedEntryIsNotBare", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{BlockedActions: list("slack.chat_delete")}}, call: call{"slack.chat_delete", "chat_delete"}, want: true},
		{name: "BareEntryDoesNotMatchConnectorDotPrefix", r: &patchbay.Restrictions{Actions: &patchbay.ActionRule{AllowedActions: list("chat_delete")}}, call: call{"slack", "slack.chat_delete"}, want: false},
		{name: "BothListsMixed", r: &patchbay.Restrictions{
			Connectors: &patchbay.IDRule{AllowedIDs: list("acme-crm", "slack")},
			Actions:    &patchbay.ActionRule{BlockedActions: list("deals_delete", "slack.chat_delete")},
		}, call: call{"slack", "chat_post"}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if r != nil {
				r = validated(t, r)
			}
			if got := policy.Compile(r).AllowAction(tt.call.connector, tt.call.action); got != tt.want {
				t.Errorf("AllowAction(%q, %q) = %v, want %v", tt.call.connector, tt.call.action, got, tt.want)
			}
		})
	}
}

func TestAllowUser(t *testing.T) {
	tests := []struct {
		name string
		r    *patchbay.Restrictions
		user string
		want bool
	}{
		{name: "NilRestrictions", user: "cust-42", want: true},
		{name: "NoUsersSubObject", r: &patchbay.Restrictions{Connectors: &patchbay.IDRule{AllowedIDs: list()}}, user: "cust-42", want: true},
		{name: "AllowlistListed", r: &patchbay.Restrictions{Users: &patchbay.IDRule{AllowedIDs: list("cust-42", "cust-43")}}, user: "cust-43", want: true},
		{name: "AllowlistNotListed", r: &patchbay.Restrictions{Users: &patchbay.IDRule{AllowedIDs: list("cust-42")}}, user: "cust-44", want: false},
		{name: "AllowlistMissingList", r: &patchbay.Restrictions{Users: &patchbay.IDRule{Mode: patchbay.Allowlist}}, user: "cust-42", want: false},
		{name: "BlockedUser", r: &patchbay.Restrictions{Users: &patchbay.IDRule{BlockedIDs: list("u1")}}, user: "u1", want: false},
		{name: "NotBlockedUser", r: &patchbay.Restrictions{Users: &patchbay.IDRule{BlockedIDs: list("u1")}}, user: "u2", want: true},
		{name: "BlocklistIgnoresAllowedList", r: &patchbay.Restrictions{Users: &patchbay.IDRule{Mode: patchbay.Blocklist, AllowedIDs: list("u2")}}, user: "u1", want: true},
		{name: "DotsInUserIDAreNotSplit", r: &patchbay.Restrictions{Users: &patchbay.IDRule{AllowedIDs: list("a.b@example.com")}}, user: "a.b@example.com", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if r != nil {
				r = validated(t, r)
			}
			if got := policy.Compile(r).AllowUser(tt.user); got != tt.want {
				t.Errorf("AllowUser(%q) = %v, want %v", tt.user, got, tt.want)
			}
		})
	}
}

// TestCaseVariantsNeverMatch pins §8.2: matching is exact and case-sensitive,
// so a case variant of a listed ID counts as unlisted in both modes.
func TestCaseVariantsNeverMatch(t *testing.T) {
	tests := []struct {
		name  string
		r     func(allow bool) *patchbay.Restrictions
		check func(p *policy.Policy) bool
	}{
		{
			name: "Connector",
			r: func(allow bool) *patchbay.Restrictions {
				return &patchbay.Restrictions{Connectors: idRule(allow, "acme-crm")}
			},
			check: func(p *policy.Policy) bool { return p.AllowConnector("Acme-CRM") },
		},
		{
			name: "BareAction",
			r: func(allow bool) *patchbay.Restrictions {
				return &patchbay.Restrictions{Actions: actionRule(allow, "deals_delete")}
			},
			check: func(p *policy.Policy) bool { return p.AllowAction("acme-crm", "Deals_Delete") },
		},
		{
			name: "QualifiedActionActionCase",
			r: func(allow bool) *patchbay.Restrictions {
				return &patchbay.Restrictions{Actions: actionRule(allow, "acme-crm.Contacts_List")}
			},
			check: func(p *policy.Policy) bool { return p.AllowAction("acme-crm", "contacts_list") },
		},
		{
			name: "QualifiedActionConnectorCase",
			r: func(allow bool) *patchbay.Restrictions {
				return &patchbay.Restrictions{Actions: actionRule(allow, "acme-crm.contacts_list")}
			},
			check: func(p *policy.Policy) bool { return p.AllowAction("Acme-crm", "contacts_list") },
		},
		{
			name: "User",
			r: func(allow bool) *patchbay.Restrictions {
				return &patchbay.Restrictions{Users: idRule(allow, "Cust-42")}
			},
			check: func(p *policy.Policy) bool { return p.AllowUser("cust-42") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.check(policy.Compile(validated(t, tt.r(true)))) {
				t.Error("allowlist permits a case variant of a listed ID")
			}
			if !tt.check(policy.Compile(validated(t, tt.r(false)))) {
				t.Error("blocklist denies a case variant of a listed ID")
			}
		})
	}
}

func idRule(allow bool, ids ...string) *patchbay.IDRule {
	if allow {
		return &patchbay.IDRule{AllowedIDs: list(ids...)}
	}
	return &patchbay.IDRule{BlockedIDs: list(ids...)}
}

func actionRule(allow bool, ids ...string) *patchbay.ActionRule {
	if allow {
		return &patchbay.ActionRule{AllowedActions: list(ids...)}
	}
	return &patchbay.ActionRule{BlockedActions: list(ids...)}
}

// TestUnvalidatedMode covers restrictions that skipped Validate: an inferable
// mode is inferred, an undecidable or unknown one fails closed.
func TestUnvalidatedMode(t *testing.T) {
	tests := []struct {
		name string
		rule *patchbay.IDRule
		id   string
		want bool
	}{
		{name: "InferredAllowlist", rule: &patchbay.IDRule{AllowedIDs: list("u1")}, id: "u1", want: true},
		{name: "InferredBlocklist", rule: &patchbay.IDRule{BlockedIDs: list("u1")}, id: "u2", want: true},
		{name: "NoListsNoMode", rule: &patchbay.IDRule{}, id: "u1", want: false},
		{name: "BothListsNoMode", rule: &patchbay.IDRule{AllowedIDs: list("u1"), BlockedIDs: list("u2")}, id: "u1", want: false},
		{name: "UnknownMode", rule: &patchbay.IDRule{Mode: "denylist", BlockedIDs: list("u2")}, id: "u1", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := policy.Compile(&patchbay.Restrictions{Users: tt.rule}).AllowUser(tt.id); got != tt.want {
				t.Errorf("AllowUser(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestNilPolicyPermitsEverything(t *testing.T) {
	var p *policy.Policy
	if !p.AllowConnector("c") || !p.AllowAction("c", "a") || !p.AllowUser("u") {
		t.Error("a nil *Policy denied something")
	}
}

func TestChecksDoNotAllocate(t *testing.T) {
	p := policy.Compile(validated(t, bigRestrictions(100)))
	allocs := testing.AllocsPerRun(100, func() {
		p.AllowConnector("connector-50")
		p.AllowAction("connector-50", "action_50")
		p.AllowUser("user-50")
	})
	if allocs != 0 {
		t.Errorf("checks allocate %v times per run, want 0", allocs)
	}
}

// bigRestrictions has n entries in every list: half bare, half qualified
// for actions.
func bigRestrictions(n int) *patchbay.Restrictions {
	var conns, acts, users []string
	for i := range n {
		conns = append(conns, fmt.Sprintf("connector-%d", i))
		users = append(users, fmt.Sprintf("user-%d", i))
		if i%2 == 0 {
			acts = append(acts, fmt.Sprintf("action_%d", i))
		} else {
			acts = append(acts, fmt.Sprintf("connector-%d.action_%d", i, i))
		}
	}
	return &patchbay.Restrictions{
		Connectors: &patchbay.IDRule{AllowedIDs: &conns},
		Actions:    &patchbay.ActionRule{AllowedActions: &acts},
		Users:      &patchbay.IDRule{AllowedIDs: &users},
	}
}
