package catalog

import (
	"math"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/patchbay-mcp/patchbay"
)

// This file holds a test-local implementation of the §7.8 lexical ranking,
// so that the catalog's names and descriptions are checked against the goals
// the contract uses as examples. The production ranking lives in package
// discovery; this copy only has to agree with the contract text.
//
// §7.8 leaves open whether a goal token that matches both the connector and
// an action scores 3 or 3+2; the normalisation by 3 per token suggests the
// former ("max"). The contract's two example goals must pick the expected
// action under both readings; the other rows use the max reading only (under
// the cumulative one "SendGrid" splits into send+grid and ties with Gmail).

var rankStopWords = map[string]bool{
	"a": true, "an": true, "and": true, "the": true, "to": true, "of": true, "for": true, "in": true,
	"on": true, "with": true, "from": true, "by": true, "my": true, "me": true, "all": true,
	"new": true, "get": true, "set": true,
}

// rankTokens tokenizes s; camel splits on camelCase boundaries first (the
// indexed fields), the goal is only lower-cased and split.
func rankTokens(s string, camel bool) map[string]bool {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, string(cur))
			cur = cur[:0]
		}
	}
	rs := []rune(s)
	for i, r := range rs {
		if camel && unicode.IsUpper(r) && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				flush()
			}
		}
		lr := unicode.ToLower(r)
		if lr >= 'a' && lr <= 'z' || lr >= '0' && lr <= '9' {
			cur = append(cur, lr)
			continue
		}
		flush()
	}
	flush()
	out := make(map[string]bool, len(words))
	for _, w := range words {
		if len(w) < 2 || rankStopWords[w] {
			continue
		}
		if len(w) > 3 && strings.HasSuffix(w, "s") {
			w = w[:len(w)-1]
		}
		out[w] = true
	}
	return out
}

func union(sets ...map[string]bool) map[string]bool {
	out := map[string]bool{}
	for _, s := range sets {
		for k := range s {
			out[k] = true
		}
	}
	return out
}

type rankMatch struct {
	connectorID, actionID string
	score                 float64
}

func rankActions(conns []*patchbay.Connector, goal string, cumulative bool) []rankMatch {
	goalTokens := rankTokens(goal, false)
	var out []rankMatch
	for _, c := range conns {
		ct := rankTokens(c.ID+" "+c.Name, true)
		for _, cat := range c.Categories {
			ct = union(ct, rankTokens(cat, true))
		}
		for _, r := range c.Resources {
			rt := rankTokens(r.ID+" "+r.Name, true)
			for _, a := range r.Actions {
				at := union(rt, rankTokens(a.ID+" "+a.Name, true))
				dt := rankTokens(a.Description, true)
				raw := 0
				for t := range goalTokens {
					inC, inA := ct[t], at[t]
					switch {
					case cumulative:
						if inC {
							raw += 3
						}
						if inA {
							raw += 2
						}
						if !inC && !inA && dt[t] {
							raw++
						}
					case inC:
						raw += 3
					case inA:
						raw += 2
					case dt[t]:
						raw++
					}
				}
				if raw == 0 {
					continue
				}
				score := math.Round(float64(raw)/float64(3*len(goalTokens))*100) / 100
				out = append(out, rankMatch{c.ID, a.ID, score})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].score != out[j].score {
			return out[i].score > out[j].score
		}
		if out[i].connectorID != out[j].connectorID {
			return out[i].connectorID < out[j].connectorID
		}
		return out[i].actionID < out[j].actionID
	})
	return out
}

func TestRankingGoals(t *testing.T) {
	conns, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		goal          string
		wantConnector string
		wantAction    string
		bothReadings  bool
	}{
		{name: "SlackMessage", goal: "send a message to a Slack channel", wantConnector: "slack", wantAction: "chat_postMessage", bothReadings: true},
		{name: "GitHubIssue", goal: "create an issue on GitHub", wantConnector: "github", wantAction: "issues_create", bothReadings: true},
		{name: "StripeRefund", goal: "refund a Stripe payment", wantConnector: "stripe", wantAction: "refunds_create"},
		{name: "JiraIssue", goal: "create a Jira issue", wantConnector: "jira", wantAction: "issues_create"},
		{name: "GmailSend", goal: "send an email with Gmail", wantConnector: "gmail", wantAction: "messages_send"},
		{name: "CalendarEvent", goal: "create a Google Calendar event", wantConnector: "google-calendar", wantAction: "events_insert"},
		{name: "ZendeskTicket", goal: "create a Zendesk ticket", wantConnector: "zendesk", wantAction: "tickets_create"},
		{name: "HubSpotContact", goal: "create a contact in HubSpot", wantConnector: "hubspot", wantAction: "contacts_create"},
	}
	for _, tt := range tests {
		readings := []bool{false}
		if tt.bothReadings {
			readings = append(readings, true)
		}
		for _, cumulative := range readings {
			name := tt.name + "/Max"
			if cumulative {
				name = tt.name + "/Cumulative"
			}
			t.Run(name, func(t *testing.T) {
				got := rankActions(conns, tt.goal, cumulative)
				if len(got) == 0 {
					t.Fatalf("no match for %q", tt.goal)
				}
				t.Logf("top 3: %+v", got[:min(3, len(got))])
				if got[0].connectorID != tt.wantConnector || got[0].actionID != tt.wantAction {
					t.Errorf("top match for %q = %+v, want %s/%s; top 5: %+v", tt.goal, got[0], tt.wantConnector, tt.wantAction, got[:min(5, len(got))])
				}
				// A tie broken only by the ID order would make the result
				// fragile; the winner must lead outright.
				if len(got) > 1 && got[1].score == got[0].score {
					t.Errorf("top match for %q ties with %+v", tt.goal, got[1])
				}
			})
		}
	}
}

func TestRankTokens(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		camel bool
		want  []string
	}{
		{name: "CamelID", in: "chat_postMessage", camel: true, want: []string{"chat", "message", "post"}},
		{name: "BrandName", in: "GitHub", camel: true, want: []string{"git", "hub"}},
		{name: "GoalStopWordsAndPlural", in: "send a message to the Slack channels", want: []string{"channel", "message", "send", "slack"}},
		{name: "ShortPluralKept", in: "ids abs", want: []string{"abs", "ids"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rankTokens(tt.in, tt.camel)
			var keys []string
			for k := range got {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if strings.Join(keys, ",") != strings.Join(tt.want, ",") {
				t.Errorf("rankTokens(%q) = %v, want %v", tt.in, keys, tt.want)
			}
		})
	}
}
