package discovery_test

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/discovery"
)

// acmeCRM is the connector of §11.2, as far as discovery reads it.
func acmeCRM() *patchbay.Connector {
	return &patchbay.Connector{
		ID:          "acme-crm",
		Name:        "Acme CRM",
		Description: "Contacts and deals in Acme CRM",
		Categories:  []string{"crm"},
		BaseURL:     "https://{region}.api.acme-crm.example/v2",
		Auth:        []patchbay.AuthScheme{{Type: patchbay.AuthOAuth2}, {Type: patchbay.AuthAPIKey, In: "header", Name: "X-Api-Key"}},
		Resources: []patchbay.Resource{
			{ID: "contacts", Name: "Contacts", Description: "People in the CRM", Actions: []patchbay.Action{
				{ID: "contacts_list", Name: "List contacts", Description: "Lists contacts, newest first", Method: "GET", Path: "/contacts"},
				{ID: "contacts_get", Name: "Get contact", Description: "Fetches one contact", Method: "GET", Path: "/contacts/{contactId}"},
			}},
			{ID: "deals", Name: "Deals", Description: "Sales opportunities", Actions: []patchbay.Action{
				{ID: "deals_create", Name: "Create deal", Description: "Creates a deal", Method: "POST", Path: "/deals"},
				{ID: "deals_delete", Name: "Delete deal", Description: "Permanently deletes a deal", Method: "DELETE", Path: "/deals/{dealId}", Destructive: patchbay.Bool(true)},
			}},
		},
	}
}

// summary drops the pointers, which cmp would otherwise walk.
type summary struct {
	ConnectorID, ActionID, Name, Description, ResourceID string
	Score                                                float64
}

func summarize(ms []discovery.Match) []summary {
	var out []summary
	for _, m := range ms {
		out = append(out, summary{m.ConnectorID, m.ActionID, m.Name, m.Description, m.ResourceID, m.Score})
	}
	return out
}

// TestContractExample is §7.8's example. The contract prints 0.83, which no
// reading of its rules yields for three goal tokens (see pointsConnector in
// discovery.go); 0.78 is 7/9 under the tiered reading.
func TestContractExample(t *testing.T) {
	c := acmeCRM()
	ix := discovery.NewIndex([]*patchbay.Connector{c})
	got := ix.Search("create a deal in acme", 0, nil)
	want := []summary{
		{"acme-crm", "deals_create", "Create deal", "Creates a deal", "deals", 0.78},
		// deal 2 + acme 3, create only in nothing: 5/9
		{"acme-crm", "deals_delete", "Delete deal", "Permanently deletes a deal", "deals", 0.56},
		// acme 3 only: 3/9
		{"acme-crm", "contacts_get", "Get contact", "Fetches one contact", "contacts", 0.33},
		{"acme-crm", "contacts_list", "List contacts", "Lists contacts, newest first", "contacts", 0.33},
	}
	if diff := cmp.Diff(want, summarize(got)); diff != "" {
		t.Fatalf("Search (-want +got):\n%s", diff)
	}
	if got[0].Connector != c || got[0].Action != &c.Resources[1].Actions[0] {
		t.Error("Match does not point at the indexed connector and action")
	}
}

// TestPointsAreTiers pins the reading documented on pointsConnector: a token
// earns the points of its most specific place only, so no score exceeds 1.
func TestPointsAreTiers(t *testing.T) {
	c := &patchbay.Connector{ID: "slack", Name: "Slack", Categories: []string{"communication"}, Resources: []patchbay.Resource{
		{ID: "slack_messages", Name: "Slack messages", Actions: []patchbay.Action{
			{ID: "slack_post", Name: "Post to Slack", Description: "Posts a Slack message"},
		}},
		{ID: "files", Name: "Files", Actions: []patchbay.Action{
			{ID: "upload", Name: "Upload file", Description: "Uploads a file that you can post"},
		}},
	}}
	ix := discovery.NewIndex([]*patchbay.Connector{c})
	tests := []struct {
		name string
		goal string
		want []summary
	}{
		{name: "ConnectorAndActionAndDescription", goal: "slack", want: []summary{
			{"slack", "slack_post", "Post to Slack", "Posts a Slack message", "slack_messages", 1},
			{"slack", "upload", "Upload file", "Uploads a file that you can post", "files", 1},
		}},
		{name: "ActionAndDescription", goal: "post", want: []summary{
			{"slack", "slack_post", "Post to Slack", "Posts a Slack message", "slack_messages", 0.67},
			{"slack", "upload", "Upload file", "Uploads a file that you can post", "files", 0.33},
		}},
		{name: "DescriptionOnly", goal: "you", want: []summary{
			{"slack", "upload", "Upload file", "Uploads a file that you can post", "files", 0.33},
		}},
		{name: "ResourceName", goal: "messages", want: []summary{
			{"slack", "slack_post", "Post to Slack", "Posts a Slack message", "slack_messages", 0.67},
		}},
		{name: "NoMatch", goal: "calendar", want: nil},
		{name: "OnlyStopWords", goal: "get all of the new", want: nil},
		{name: "ConnectorDescriptionIsNotIndexed", goal: "communication", want: []summary{
			// the category is indexed, the connector description is not
			{"slack", "slack_post", "Post to Slack", "Posts a Slack message", "slack_messages", 1},
			{"slack", "upload", "Upload file", "Uploads a file that you can post", "files", 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, summarize(ix.Search(tt.goal, 20, nil))); diff != "" {
				t.Errorf("Search(%q) (-want +got):\n%s", tt.goal, diff)
			}
		})
	}
}

func TestScoreRounding(t *testing.T) {
	c := &patchbay.Connector{ID: "x", Name: "X", Resources: []patchbay.Resource{{ID: "r", Name: "R", Actions: []patchbay.Action{
		{ID: "alpha", Name: "Alpha", Description: "bravo charlie"},
	}}}}
	ix := discovery.NewIndex([]*patchbay.Connector{c})
	tests := []struct {
		name string
		goal string
		want float64
	}{
		{name: "TwoNinths", goal: "alpha zzz zzy", want: 0.22},                         // 2/9 = 0.222
		{name: "RoundsDown", goal: "bravo z1 z2 z3 z4 z5 z6 z7", want: 0.04},           // 1/24 = 0.0417
		{name: "ExactHalfRoundsUp", goal: "alpha bravo z1 z2 z3 z4 z5 z6", want: 0.13}, // 3/24 = 0.125
		{name: "FourNinths", goal: "alpha charlie bravo", want: 0.44},                  // 4/9 = 0.444
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ix.Search(tt.goal, 5, nil)
			if len(got) != 1 || got[0].Score != tt.want {
				t.Fatalf("Search(%q) = %+v, want one match scoring %v", tt.goal, summarize(got), tt.want)
			}
		})
	}
}

func TestScoreRoundedToZeroIsDropped(t *testing.T) {
	c := &patchbay.Connector{ID: "x", Name: "X", Resources: []patchbay.Resource{{ID: "r", Name: "R", Actions: []patchbay.Action{
		{ID: "alpha", Name: "Alpha", Description: "bravo"},
	}}}}
	goal := "bravo"
	for i := range 200 { // 1 / (3 x 201) < 0.005
		goal += " q" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	if got := discovery.NewIndex([]*patchbay.Connector{c}).Search(goal, 5, nil); got != nil {
		t.Fatalf("Search = %+v, want nothing", summarize(got))
	}
}

// TestOrdering covers the tie-breaks: equal scores sort by connector ID,
// then action ID, in byte order, whatever the input order.
func TestOrdering(t *testing.T) {
	mk := func(id string, actions ...string) *patchbay.Connector {
		c := &patchbay.Connector{ID: id, Name: "Tool " + id}
		r := patchbay.Resource{ID: "items", Name: "Items"}
		for _, a := range actions {
			r.Actions = append(r.Actions, patchbay.Action{ID: a, Name: "Sync " + a})
		}
		c.Resources = []patchbay.Resource{r}
		return c
	}
	ix := discovery.NewIndex([]*patchbay.Connector{
		mk("zeta", "b_sync", "a_sync"),
		mk("alpha", "z_sync", "Y_sync", "a_sync"),
		mk("beta-2", "a_sync"),
		mk("beta", "m_sync"),
		nil,
	})
	var got [][2]string
	for _, m := range ix.Search("sync", 20, nil) {
		got = append(got, [2]string{m.ConnectorID, m.ActionID})
	}
	want := [][2]string{
		{"alpha", "Y_sync"}, {"alpha", "a_sync"}, {"alpha", "z_sync"},
		{"beta", "m_sync"}, {"beta-2", "a_sync"},
		{"zeta", "a_sync"}, {"zeta", "b_sync"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("order (-want +got):\n%s", diff)
	}

	// A higher score beats the tie-break.
	top := ix.Search("sync zeta", 20, nil)
	if top[0].ConnectorID != "zeta" || top[0].ActionID != "a_sync" || top[0].Score != 0.83 {
		t.Fatalf("first match = %+v, want zeta a_sync with 5/6", summarize(top[:1]))
	}
}

func TestLimit(t *testing.T) {
	c := &patchbay.Connector{ID: "x", Name: "X", Resources: []patchbay.Resource{{ID: "r", Name: "R"}}}
	for i := range 30 {
		c.Resources[0].Actions = append(c.Resources[0].Actions, patchbay.Action{ID: "a" + string(rune('a'+i)), Name: "Ping"})
	}
	ix := discovery.NewIndex([]*patchbay.Connector{c})
	tests := []struct {
		name  string
		limit int
		want  int
	}{
		{name: "Default", limit: 0, want: 5},
		{name: "Negative", limit: -1, want: 5},
		{name: "One", limit: 1, want: 1},
		{name: "Max", limit: 20, want: 20},
		{name: "OverMax", limit: 21, want: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := len(ix.Search("ping", tt.limit, nil)); got != tt.want {
				t.Errorf("len(Search(limit %d)) = %d, want %d", tt.limit, got, tt.want)
			}
		})
	}
}

func TestPermitted(t *testing.T) {
	c := acmeCRM()
	ix := discovery.NewIndex([]*patchbay.Connector{c})
	var asked []string
	got := ix.Search("deal", 5, func(c *patchbay.Connector, a *patchbay.Action) bool {
		asked = append(asked, c.ID+"."+a.ID)
		return a.ID != "deals_delete"
	})
	if diff := cmp.Diff([]summary{{"acme-crm", "deals_create", "Create deal", "Creates a deal", "deals", 0.67}}, summarize(got)); diff != "" {
		t.Errorf("Search (-want +got):\n%s", diff)
	}
	// Only scoring actions are offered to permitted.
	if diff := cmp.Diff([]string{"acme-crm.deals_create", "acme-crm.deals_delete"}, asked, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("permitted was asked about (-want +got):\n%s", diff)
	}
}

func TestEmptyIndex(t *testing.T) {
	var nilIndex *discovery.Index
	if got := nilIndex.Search("deal", 5, nil); got != nil {
		t.Errorf("nil Index: %+v", got)
	}
	if got := discovery.NewIndex(nil).Search("deal", 5, nil); got != nil {
		t.Errorf("empty Index: %+v", got)
	}
}

// TestConcurrentSearches shares one Index (and its recycled scratch memory)
// between goroutines; every search must see a clean slate.
func TestConcurrentSearches(t *testing.T) {
	ix := discovery.NewIndex([]*patchbay.Connector{acmeCRM()})
	goals := []string{"create a deal in acme", "list contacts", "delete deal permanently", "crm"}
	want := make([][]summary, len(goals))
	for i, g := range goals {
		want[i] = summarize(ix.Search(g, 20, nil))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				g := (w + i) % len(goals)
				if diff := cmp.Diff(want[g], summarize(ix.Search(goals[g], 20, nil))); diff != "" {
					errs <- diff
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for diff := range errs {
		t.Fatalf("concurrent Search differs (-want +got):\n%s", diff)
	}
}
