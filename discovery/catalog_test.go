package discovery_test

import (
	"fmt"
	"testing"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/catalog"
	"github.com/patchbay-mcp/patchbay/discovery"
)

func catalogIndex(tb testing.TB) *discovery.Index {
	tb.Helper()
	conns, err := catalog.Builtin()
	if err != nil {
		tb.Fatalf("catalog.Builtin: %v", err)
	}
	return discovery.NewIndex(conns)
}

// TestCatalogGoals checks that the built-in catalog's names rank the obvious
// action first for the goals the contract uses as examples.
func TestCatalogGoals(t *testing.T) {
	ix := catalogIndex(t)
	tests := []struct {
		name      string
		goal      string
		connector string
		action    string
	}{
		{name: "SlackMessage", goal: "send a message to a Slack channel", connector: "slack", action: "chat_postMessage"},
		{name: "GitHubIssue", goal: "create an issue on GitHub", connector: "github", action: "issues_create"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ix.Search(tt.goal, discovery.MaxLimit, nil)
			if len(got) == 0 || got[0].ConnectorID != tt.connector || got[0].ActionID != tt.action {
				t.Fatalf("Search(%q): want %s %s first, got:\n%s", tt.goal, tt.connector, tt.action, ranking(got))
			}
			if len(got) > 1 && got[1].Score == got[0].Score {
				t.Logf("first place is decided by the tie-break:\n%s", ranking(got))
			}
		})
	}
}

func ranking(ms []discovery.Match) string {
	s := ""
	for _, m := range ms {
		s += fmt.Sprintf("  %.2f %s %s (%s)\n", m.Score, m.ConnectorID, m.ActionID, m.Name)
	}
	return s
}

func BenchmarkSearchCatalog(b *testing.B) {
	ix := catalogIndex(b)
	permitted := func(c *patchbay.Connector, a *patchbay.Action) bool { return true }
	for _, goal := range []string{
		"send a message to a Slack channel",
		"create an issue on GitHub",
		"find the latest invoices of a customer and email them a summary",
	} {
		b.Run(fmt.Sprintf("%d_chars", len(goal)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ix.Search(goal, discovery.DefaultLimit, permitted)
			}
		})
	}
}

func BenchmarkNewIndexCatalog(b *testing.B) {
	conns, err := catalog.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		discovery.NewIndex(conns)
	}
}
