package catalog

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/connector"
)

// The tests in this file run built-in actions through the real connector
// runtime against an httptest fake of each platform. The fake asserts the
// request the platform's API reference prescribes (method, host, path,
// query, auth header, body) and answers with a response shaped like the
// platform's. The connector's host is rewritten to a name under example.com,
// which the TLS test certificate covers; a host placeholder stays in place
// ({shop}.example.com) and the path, placeholders included, is kept, so the
// filling of base URL placeholders from credential config is exercised too.

// staticCredentials is the credential source of one call.
type staticCredentials struct{ m *patchbay.CredentialMaterial }

func (s staticCredentials) Material(context.Context) (*patchbay.CredentialMaterial, error) {
	return s.m, nil
}

func (s staticCredentials) Refresh(context.Context, *patchbay.CredentialMaterial) (*patchbay.CredentialMaterial, error) {
	return nil, errors.New("refresh not expected: the fake never answers 401")
}

func secrets(kv ...string) map[string]patchbay.Secret {
	out := make(map[string]patchbay.Secret, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = patchbay.NewSecret(kv[i+1])
	}
	return out
}

func bearerCred(token string, config map[string]string) *patchbay.CredentialMaterial {
	return &patchbay.CredentialMaterial{CredentialID: "cred_TestBearer0000000000", AuthType: patchbay.AuthBearer, Config: config, Secrets: secrets("token", token)}
}

func oauthCred(token string, config map[string]string) *patchbay.CredentialMaterial {
	return &patchbay.CredentialMaterial{CredentialID: "cred_TestOAuth00000000000", AuthType: patchbay.AuthOAuth2, Config: config, AccessToken: patchbay.NewSecret(token)}
}

func basicCred(user, pass string, config map[string]string) *patchbay.CredentialMaterial {
	return &patchbay.CredentialMaterial{CredentialID: "cred_TestBasic0000000000", AuthType: patchbay.AuthBasic, Config: config, Secrets: secrets("username", user, "password", pass)}
}

func apiKeyCred(key string, config map[string]string) *patchbay.CredentialMaterial {
	return &patchbay.CredentialMaterial{CredentialID: "cred_TestAPIKey000000000", AuthType: patchbay.AuthAPIKey, Config: config, Secrets: secrets("apiKey", key)}
}

// upstreamRequest is what the fake saw.
type upstreamRequest struct {
	method, host, path string // path as sent, percent-encoding included
	query              url.Values
	header             http.Header
	body               []byte
}

// platformCase is one action call and the request it must produce.
type platformCase struct {
	name      string
	connector string
	action    string
	params    string // JSON; @query@ is replaced by the action's fixed GraphQL document
	cred      *patchbay.CredentialMaterial

	wantMethod string
	wantHost   string // "" means upstream.example.com
	wantPath   string
	wantQuery  url.Values
	// wantHeader lists headers that must have exactly this value; "" means
	// the header must be absent.
	wantHeader map[string]string
	wantJSON   string     // JSON body, compared structurally; "" with wantForm nil: no body
	wantForm   url.Values // form body

	status   int // upstream status; 0 means 200
	response string
}

func basicAuth(user, pass string) string {
	return "Basic " + base64Std(user+":"+pass)
}

func platformCases() []platformCase {
	const jiraCloud = "3f1c2a9e-5b7d-4c8e-9a1f-0e2d4b6c8a10"
	const asanaTask = `{"gid":"1207000000000042","resource_type":"task","name":"Draft Q3 launch plan","completed":false,"due_on":"2026-12-18","assignee":{"gid":"1200000000000001","resource_type":"user","name":"Ana Diaz"},"permalink_url":"https://app.asana.com/0/1204000000000001/1207000000000042"}`
	return []platformCase{
		// Slack: read methods are POST with form bodies; writes take JSON.
		{
			name: "SlackReadHistory", connector: "slack", action: "conversations_history",
			params:     `{"channel":"C024BE91L","limit":2,"oldest":"1733300000.000000"}`,
			cred:       bearerCred("xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy", nil),
			wantMethod: "POST", wantPath: "/api/conversations.history",
			wantHeader: map[string]string{"Authorization": "Bearer xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy", "Content-Type": "application/x-www-form-urlencoded"},
			wantForm:   url.Values{"channel": {"C024BE91L"}, "limit": {"2"}, "oldest": {"1733300000.000000"}},
			response:   `{"ok":true,"messages":[{"type":"message","user":"U061F7AUR","text":"Deploy finished","ts":"1733301234.000200"},{"type":"message","user":"U0G9QF9C6","text":"Thanks!","ts":"1733301300.000300"}],"has_more":false,"pin_count":0,"response_metadata":{"next_cursor":""}}`,
		},
		{
			name: "SlackSendMessage", connector: "slack", action: "chat_postMessage",
			params:     `{"channel":"C024BE91L","text":"Deploy finished :rocket:","thread_ts":"1733301234.000200"}`,
			cred:       oauthCred("xoxb-oauth-2f1e9c", nil),
			wantMethod: "POST", wantPath: "/api/chat.postMessage",
			wantHeader: map[string]string{"Authorization": "Bearer xoxb-oauth-2f1e9c", "Content-Type": "application/json"},
			wantJSON:   `{"channel":"C024BE91L","text":"Deploy finished :rocket:","thread_ts":"1733301234.000200"}`,
			response:   `{"ok":true,"channel":"C024BE91L","ts":"1733301400.000400","message":{"type":"message","subtype":"bot_message","text":"Deploy finished :rocket:","ts":"1733301400.000400","bot_id":"B123ABC456"}}`,
		},
		// GitHub
		{
			name: "GitHubListIssues", connector: "github", action: "issues_list",
			params:     `{"owner":"octo-org","repo":"hello-world","state":"open","labels":"bug,ui","per_page":2}`,
			cred:       bearerCred("github_pat_11ABCDEFG0123456789", nil),
			wantMethod: "GET", wantPath: "/repos/octo-org/hello-world/issues",
			wantQuery:  url.Values{"state": {"open"}, "labels": {"bug,ui"}, "per_page": {"2"}},
			wantHeader: map[string]string{"Authorization": "Bearer github_pat_11ABCDEFG0123456789", "Content-Type": ""},
			response:   `[{"id":1,"number":1347,"state":"open","title":"Found a bug","body":"I'm having a problem with this.","labels":[{"name":"bug"},{"name":"ui"}],"html_url":"https://github.com/octo-org/hello-world/issues/1347"}]`,
		},
		{
			name: "GitHubCreateIssue", connector: "github", action: "issues_create",
			params:     `{"owner":"octo-org","repo":"hello-world","title":"Login button misaligned","body":"Seen on Safari 18.","labels":["bug"],"assignees":["octocat"]}`,
			cred:       oauthCred("gho_16C7e42F292c6912E7710c838347Ae178B4a", nil),
			wantMethod: "POST", wantPath: "/repos/octo-org/hello-world/issues",
			wantHeader: map[string]string{"Authorization": "Bearer gho_16C7e42F292c6912E7710c838347Ae178B4a", "Content-Type": "application/json"},
			wantJSON:   `{"title":"Login button misaligned","body":"Seen on Safari 18.","labels":["bug"],"assignees":["octocat"]}`,
			status:     201,
			response:   `{"id":2,"number":1348,"state":"open","title":"Login button misaligned","html_url":"https://github.com/octo-org/hello-world/issues/1348","labels":[{"name":"bug"}],"assignees":[{"login":"octocat"}]}`,
		},
		// Notion: the version header travels as a header parameter.
		{
			name: "NotionQueryDatabase", connector: "notion", action: "databases_query",
			params:     `{"notionVersion":"2022-06-28","database_id":"897e5a76ae524b489fdfe71f5945d1af","filter":{"property":"Status","status":{"equals":"Done"}},"page_size":2}`,
			cred:       bearerCred("ntn_4567890123456789012345678901234567890123abcd", nil),
			wantMethod: "POST", wantPath: "/v1/databases/897e5a76ae524b489fdfe71f5945d1af/query",
			wantHeader: map[string]string{"Authorization": "Bearer ntn_4567890123456789012345678901234567890123abcd", "Notion-Version": "2022-06-28", "Content-Type": "application/json"},
			wantJSON:   `{"filter":{"property":"Status","status":{"equals":"Done"}},"page_size":2}`,
			response:   `{"object":"list","results":[{"object":"page","id":"59833787-2cf9-4fdf-8782-e53db20768a5","properties":{"Name":{"id":"title","type":"title","title":[{"plain_text":"Ship v2"}]}}}],"next_cursor":null,"has_more":false,"type":"page_or_database","page_or_database":{}}`,
		},
		{
			name: "NotionCreatePage", connector: "notion", action: "pages_create",
			params:     `{"notionVersion":"2022-06-28","parent":{"database_id":"897e5a76ae524b489fdfe71f5945d1af"},"properties":{"Name":{"title":[{"text":{"content":"Write release notes"}}]}}}`,
			cred:       oauthCred("secret_oauth_notion_abc", nil),
			wantMethod: "POST", wantPath: "/v1/pages",
			wantHeader: map[string]string{"Authorization": "Bearer secret_oauth_notion_abc", "Notion-Version": "2022-06-28"},
			wantJSON:   `{"parent":{"database_id":"897e5a76ae524b489fdfe71f5945d1af"},"properties":{"Name":{"title":[{"text":{"content":"Write release notes"}}]}}}`,
			response:   `{"object":"page","id":"a3f1c2d4-0000-4000-8000-000000000001","url":"https://www.notion.so/Write-release-notes-a3f1c2d4000040008000000000000001","parent":{"type":"database_id","database_id":"897e5a76-ae52-4b48-9fdf-e71f5945d1af"}}`,
		},
		// HubSpot
		{
			name: "HubSpotListContacts", connector: "hubspot", action: "contacts_list",
			params:     `{"limit":2,"properties":["email","firstname"]}`,
			cred:       bearerCred("pat-na1-11111111-2222-3333-4444-555555555555", nil),
			wantMethod: "GET", wantPath: "/crm/v3/objects/contacts",
			wantQuery:  url.Values{"limit": {"2"}, "properties": {"email", "firstname"}},
			wantHeader: map[string]string{"Authorization": "Bearer pat-na1-11111111-2222-3333-4444-555555555555"},
			response:   `{"results":[{"id":"512","properties":{"email":"ana@example.com","firstname":"Ana","hs_object_id":"512"},"createdAt":"2026-11-02T09:00:00Z","updatedAt":"2026-11-30T10:00:00Z","archived":false}],"paging":{"next":{"after":"513","link":"https://api.hubapi.com/crm/v3/objects/contacts?after=513"}}}`,
		},
		{
			name: "HubSpotCreateContact", connector: "hubspot", action: "contacts_create",
			params:     `{"properties":{"email":"li.wei@example.com","firstname":"Li","lastname":"Wei"}}`,
			cred:       oauthCred("CJSP5qf1KhICAQEYs-gDIIGOBii1", nil),
			wantMethod: "POST", wantPath: "/crm/v3/objects/contacts",
			wantHeader: map[string]string{"Authorization": "Bearer CJSP5qf1KhICAQEYs-gDIIGOBii1", "Content-Type": "application/json"},
			wantJSON:   `{"properties":{"email":"li.wei@example.com","firstname":"Li","lastname":"Wei"}}`,
			status:     201,
			response:   `{"id":"601","properties":{"email":"li.wei@example.com","firstname":"Li","lastname":"Wei","hs_object_id":"601"},"createdAt":"2026-12-04T10:00:00Z","archived":false}`,
		},
		// Linear: GraphQL documents are fixed per action.
		{
			name: "LinearListIssues", connector: "linear", action: "issues_list",
			params:     `{"query":@query@,"variables":{"first":2,"filter":{"team":{"key":{"eq":"ENG"}}}}}`,
			cred:       apiKeyCred("lin_api_0123456789abcdefghijklmnopqrstuvwxyzABCD", nil),
			wantMethod: "POST", wantPath: "/graphql",
			wantHeader: map[string]string{"Authorization": "lin_api_0123456789abcdefghijklmnopqrstuvwxyzABCD", "Content-Type": "application/json"},
			wantJSON:   `{"query":@query@,"variables":{"first":2,"filter":{"team":{"key":{"eq":"ENG"}}}}}`,
			response:   `{"data":{"issues":{"nodes":[{"id":"9cfb482a-81e3-4154-b5b9-2c805e70a02d","identifier":"ENG-123","title":"Crash on login","priority":1,"url":"https://linear.app/acme/issue/ENG-123","updatedAt":"2026-12-03T16:00:00.000Z","state":{"name":"In Progress","type":"started"},"assignee":{"name":"Ana"},"team":{"key":"ENG"}}],"pageInfo":{"hasNextPage":false,"endCursor":"9cfb482a-81e3-4154-b5b9-2c805e70a02d"}}}}`,
		},
		{
			name: "LinearCreateIssue", connector: "linear", action: "issues_create",
			params:     `{"query":@query@,"variables":{"input":{"teamId":"72b2a2dc-6f4f-4423-9d34-24b5bd10634a","title":"Add dark mode","priority":3}}}`,
			cred:       oauthCred("lin_oauth_8f8a3b2c1d", nil),
			wantMethod: "POST", wantPath: "/graphql",
			wantHeader: map[string]string{"Authorization": "Bearer lin_oauth_8f8a3b2c1d"},
			wantJSON:   `{"query":@query@,"variables":{"input":{"teamId":"72b2a2dc-6f4f-4423-9d34-24b5bd10634a","title":"Add dark mode","priority":3}}}`,
			response:   `{"data":{"issueCreate":{"success":true,"issue":{"id":"5f2b3c4d-1111-4222-8333-944455556666","identifier":"ENG-124","title":"Add dark mode","url":"https://linear.app/acme/issue/ENG-124"}}}}`,
		},
		// Jira: the cloud ID fills a path segment of the base URL.
		{
			name: "JiraSearchJQL", connector: "jira", action: "issues_search",
			params:     `{"jql":"project = ENG AND status = \"In Progress\" ORDER BY updated DESC","fields":"summary,status","maxResults":2}`,
			cred:       basicCred("ana@example.com", "ATATT3xFfGF0T4JNjDTbB2Zx", map[string]string{"cloudId": jiraCloud}),
			wantMethod: "GET", wantPath: "/ex/jira/" + jiraCloud + "/rest/api/3/search/jql",
			wantQuery:  url.Values{"jql": {`project = ENG AND status = "In Progress" ORDER BY updated DESC`}, "fields": {"summary,status"}, "maxResults": {"2"}},
			wantHeader: map[string]string{"Authorization": basicAuth("ana@example.com", "ATATT3xFfGF0T4JNjDTbB2Zx")},
			response:   `{"issues":[{"id":"10068","key":"ENG-42","self":"https://api.atlassian.com/ex/jira/` + jiraCloud + `/rest/api/3/issue/10068","fields":{"summary":"Crash on login","status":{"name":"In Progress"}}}],"isLast":true}`,
		},
		{
			name: "JiraCreateIssue", connector: "jira", action: "issues_create",
			params:     `{"fields":{"project":{"key":"ENG"},"issuetype":{"name":"Task"},"summary":"Rotate API keys","labels":["security"]}}`,
			cred:       oauthCred("eyJraWQiOiJhdGxhc3NpYW4", map[string]string{"cloudId": jiraCloud}),
			wantMethod: "POST", wantPath: "/ex/jira/" + jiraCloud + "/rest/api/3/issue",
			wantHeader: map[string]string{"Authorization": "Bearer eyJraWQiOiJhdGxhc3NpYW4", "Content-Type": "application/json"},
			wantJSON:   `{"fields":{"project":{"key":"ENG"},"issuetype":{"name":"Task"},"summary":"Rotate API keys","labels":["security"]}}`,
			status:     201,
			response:   `{"id":"10069","key":"ENG-43","self":"https://api.atlassian.com/ex/jira/` + jiraCloud + `/rest/api/3/issue/10069"}`,
		},
		// Stripe: form bodies, bracketed wire names, Idempotency-Key.
		{
			name: "StripeListCustomers", connector: "stripe", action: "customers_list",
			params:     `{"email":"jenny.rosen@example.com","limit":3,"createdGte":1733000000}`,
			cred:       bearerCred("sk_test_4eC39HqLyjWDarjtT1zdp7dc", nil),
			wantMethod: "GET", wantPath: "/v1/customers",
			wantQuery:  url.Values{"email": {"jenny.rosen@example.com"}, "limit": {"3"}, "created[gte]": {"1733000000"}},
			wantHeader: map[string]string{"Authorization": "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc"},
			response:   `{"object":"list","url":"/v1/customers","has_more":false,"data":[{"id":"cus_NffrFeUfNV2Hib","object":"customer","email":"jenny.rosen@example.com","name":"Jenny Rosen","created":1733001234,"livemode":false}]}`,
		},
		{
			name: "StripeCreatePaymentIntent", connector: "stripe", action: "paymentIntents_create",
			params:     `{"amount":2000,"currency":"usd","customer":"cus_NffrFeUfNV2Hib","automaticPaymentMethods":true,"idempotencyKey":"order-7781"}`,
			cred:       bearerCred("sk_test_4eC39HqLyjWDarjtT1zdp7dc", nil),
			wantMethod: "POST", wantPath: "/v1/payment_intents",
			wantHeader: map[string]string{"Authorization": "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc", "Content-Type": "application/x-www-form-urlencoded", "Idempotency-Key": "order-7781"},
			wantForm:   url.Values{"amount": {"2000"}, "currency": {"usd"}, "customer": {"cus_NffrFeUfNV2Hib"}, "automatic_payment_methods[enabled]": {"true"}},
			response:   `{"id":"pi_3MtwBwLkdIwHu7ix28a3tqPa","object":"payment_intent","amount":2000,"currency":"usd","customer":"cus_NffrFeUfNV2Hib","status":"requires_payment_method","client_secret":"pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH","automatic_payment_methods":{"enabled":true}}`,
		},
		{
			name: "StripeRefund", connector: "stripe", action: "refunds_create",
			params:     `{"payment_intent":"pi_3MtwBwLkdIwHu7ix28a3tqPa","amount":500,"reason":"requested_by_customer"}`,
			cred:       bearerCred("rk_test_51Hx", nil),
			wantMethod: "POST", wantPath: "/v1/refunds",
			wantHeader: map[string]string{"Authorization": "Bearer rk_test_51Hx", "Content-Type": "application/x-www-form-urlencoded", "Idempotency-Key": ""},
			wantForm:   url.Values{"payment_intent": {"pi_3MtwBwLkdIwHu7ix28a3tqPa"}, "amount": {"500"}, "reason": {"requested_by_customer"}},
			response:   `{"id":"re_1Nispe2eZvKYlo2Cd31jOCgZ","object":"refund","amount":500,"currency":"usd","payment_intent":"pi_3MtwBwLkdIwHu7ix28a3tqPa","status":"succeeded"}`,
		},
		// Shopify: the shop subdomain fills the host; the token is its own header.
		{
			name: "ShopifyListProducts", connector: "shopify", action: "products_list",
			params:     `{"limit":2,"status":"active"}`,
			cred:       apiKeyCred("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", map[string]string{"shop": "acme-store"}),
			wantMethod: "GET", wantHost: "acme-store.example.com", wantPath: "/admin/api/2026-07/products.json",
			wantQuery:  url.Values{"limit": {"2"}, "status": {"active"}},
			wantHeader: map[string]string{"X-Shopify-Access-Token": "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", "Authorization": ""},
			response:   `{"products":[{"id":632910392,"title":"IPod Nano - 8GB","vendor":"Apple","product_type":"Cult Products","status":"active","variants":[{"id":808950810,"price":"199.00","sku":"IPOD2008PINK"}]}]}`,
		},
		{
			name: "ShopifyCreateProduct", connector: "shopify", action: "products_create",
			params:     `{"product":{"title":"Burton Custom Freestyle 151","vendor":"Burton","product_type":"Snowboard","status":"draft","variants":[{"price":"299.00","sku":"BRT-151"}]}}`,
			cred:       apiKeyCred("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", map[string]string{"shop": "acme-store"}),
			wantMethod: "POST", wantHost: "acme-store.example.com", wantPath: "/admin/api/2026-07/products.json",
			wantHeader: map[string]string{"X-Shopify-Access-Token": "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", "Content-Type": "application/json"},
			wantJSON:   `{"product":{"title":"Burton Custom Freestyle 151","vendor":"Burton","product_type":"Snowboard","status":"draft","variants":[{"price":"299.00","sku":"BRT-151"}]}}`,
			status:     201,
			response:   `{"product":{"id":1072481042,"title":"Burton Custom Freestyle 151","vendor":"Burton","status":"draft","variants":[{"id":1070325019,"price":"299.00","sku":"BRT-151"}]}}`,
		},
		// Google Calendar
		{
			name: "CalendarListEvents", connector: "google-calendar", action: "events_list",
			params:     `{"calendarId":"primary","timeMin":"2026-12-07T00:00:00Z","singleEvents":true,"orderBy":"startTime","maxResults":2}`,
			cred:       oauthCred("ya29.a0AfH6SMBx-calendar", nil),
			wantMethod: "GET", wantPath: "/calendar/v3/calendars/primary/events",
			wantQuery:  url.Values{"timeMin": {"2026-12-07T00:00:00Z"}, "singleEvents": {"true"}, "orderBy": {"startTime"}, "maxResults": {"2"}},
			wantHeader: map[string]string{"Authorization": "Bearer ya29.a0AfH6SMBx-calendar"},
			response:   `{"kind":"calendar#events","summary":"ana@example.com","timeZone":"Europe/Madrid","items":[{"kind":"calendar#event","id":"7cbh8rpc10lrc0ckih9tafss99","status":"confirmed","summary":"Weekly sync","start":{"dateTime":"2026-12-07T10:00:00+01:00"},"end":{"dateTime":"2026-12-07T10:30:00+01:00"}}]}`,
		},
		{
			name: "CalendarCreateEvent", connector: "google-calendar", action: "events_insert",
			params:     `{"calendarId":"team.calendar@example.com","sendUpdates":"all","summary":"Design review","start":{"dateTime":"2026-12-09T15:00:00+01:00","timeZone":"Europe/Madrid"},"end":{"dateTime":"2026-12-09T16:00:00+01:00","timeZone":"Europe/Madrid"},"attendees":[{"email":"li.wei@example.com"}]}`,
			cred:       oauthCred("ya29.a0AfH6SMBx-calendar", nil),
			wantMethod: "POST", wantPath: "/calendar/v3/calendars/team.calendar%40example.com/events",
			wantQuery:  url.Values{"sendUpdates": {"all"}},
			wantHeader: map[string]string{"Authorization": "Bearer ya29.a0AfH6SMBx-calendar", "Content-Type": "application/json"},
			wantJSON:   `{"summary":"Design review","start":{"dateTime":"2026-12-09T15:00:00+01:00","timeZone":"Europe/Madrid"},"end":{"dateTime":"2026-12-09T16:00:00+01:00","timeZone":"Europe/Madrid"},"attendees":[{"email":"li.wei@example.com"}]}`,
			response:   `{"kind":"calendar#event","id":"0j5d3kq2m4","status":"confirmed","htmlLink":"https://www.google.com/calendar/event?eid=MGo1ZDNrcTJtNA","summary":"Design review","attendees":[{"email":"li.wei@example.com","responseStatus":"needsAction"}]}`,
		},
		// Gmail
		{
			name: "GmailSearch", connector: "gmail", action: "messages_list",
			params:     `{"userId":"me","q":"from:ana@example.com is:unread","labelIds":["INBOX","UNREAD"],"maxResults":5}`,
			cred:       oauthCred("ya29.a0AfH6SMC-gmail", nil),
			wantMethod: "GET", wantPath: "/gmail/v1/users/me/messages",
			wantQuery:  url.Values{"q": {"from:ana@example.com is:unread"}, "labelIds": {"INBOX", "UNREAD"}, "maxResults": {"5"}},
			wantHeader: map[string]string{"Authorization": "Bearer ya29.a0AfH6SMC-gmail"},
			response:   `{"messages":[{"id":"193a1b2c3d4e5f60","threadId":"193a1b2c3d4e5f60"}],"resultSizeEstimate":1}`,
		},
		{
			name: "GmailSend", connector: "gmail", action: "messages_send",
			params:     `{"userId":"me","raw":"VG86IGxpLndlaUBleGFtcGxlLmNvbQ0KU3ViamVjdDogSGVsbG8NCg0KSGkgTGkh"}`,
			cred:       oauthCred("ya29.a0AfH6SMC-gmail", nil),
			wantMethod: "POST", wantPath: "/gmail/v1/users/me/messages/send",
			wantHeader: map[string]string{"Authorization": "Bearer ya29.a0AfH6SMC-gmail", "Content-Type": "application/json"},
			wantJSON:   `{"raw":"VG86IGxpLndlaUBleGFtcGxlLmNvbQ0KU3ViamVjdDogSGVsbG8NCg0KSGkgTGkh"}`,
			response:   `{"id":"193a1b2c3d4e5f99","threadId":"193a1b2c3d4e5f99","labelIds":["SENT"]}`,
		},
		// Salesforce: the My Domain name fills the host.
		{
			name: "SalesforceSOQL", connector: "salesforce", action: "query",
			params:     `{"q":"SELECT Id, Name FROM Account WHERE Industry = 'Energy' LIMIT 2"}`,
			cred:       oauthCred("00D5e000000Abcd!AQ0AQ.sf", map[string]string{"instance": "acme-corp"}),
			wantMethod: "GET", wantHost: "acme-corp.example.com", wantPath: "/services/data/v60.0/query",
			wantQuery:  url.Values{"q": {"SELECT Id, Name FROM Account WHERE Industry = 'Energy' LIMIT 2"}},
			wantHeader: map[string]string{"Authorization": "Bearer 00D5e000000Abcd!AQ0AQ.sf"},
			response:   `{"totalSize":1,"done":true,"records":[{"attributes":{"type":"Account","url":"/services/data/v60.0/sobjects/Account/001D000000IqhSLIAZ"},"Id":"001D000000IqhSLIAZ","Name":"Edge Energy"}]}`,
		},
		{
			name: "SalesforceCreateLead", connector: "salesforce", action: "records_create",
			params:     `{"sobjectType":"Lead","fields":{"LastName":"Diaz","Company":"Acme","Email":"ana@example.com"}}`,
			cred:       bearerCred("00D5e000000Abcd!AQ0AQ.session", map[string]string{"instance": "acme-corp"}),
			wantMethod: "POST", wantHost: "acme-corp.example.com", wantPath: "/services/data/v60.0/sobjects/Lead",
			wantHeader: map[string]string{"Authorization": "Bearer 00D5e000000Abcd!AQ0AQ.session", "Content-Type": "application/json"},
			wantJSON:   `{"LastName":"Diaz","Company":"Acme","Email":"ana@example.com"}`,
			status:     201,
			response:   `{"id":"00Q5e00000AbCdEFGH","success":true,"errors":[]}`,
		},
		{
			name: "SalesforceUpdateNoContent", connector: "salesforce", action: "records_update",
			params:     `{"sobjectType":"Opportunity","recordId":"006D000000IqhSLIAZ","fields":{"StageName":"Closed Won"}}`,
			cred:       oauthCred("00D5e000000Abcd!AQ0AQ.sf", map[string]string{"instance": "acme-corp"}),
			wantMethod: "PATCH", wantHost: "acme-corp.example.com", wantPath: "/services/data/v60.0/sobjects/Opportunity/006D000000IqhSLIAZ",
			wantHeader: map[string]string{"Authorization": "Bearer 00D5e000000Abcd!AQ0AQ.sf"},
			wantJSON:   `{"StageName":"Closed Won"}`,
			status:     204,
		},
		// Asana: writes wrap fields in data.
		{
			name: "AsanaListTasks", connector: "asana", action: "tasks_list",
			params:     `{"project":"1204000000000001","completed_since":"now","opt_fields":"name,completed,due_on","limit":2}`,
			cred:       bearerCred("2/1200000000000001/1207000000000000:abcdef0123456789", nil),
			wantMethod: "GET", wantPath: "/api/1.0/tasks",
			wantQuery:  url.Values{"project": {"1204000000000001"}, "completed_since": {"now"}, "opt_fields": {"name,completed,due_on"}, "limit": {"2"}},
			wantHeader: map[string]string{"Authorization": "Bearer 2/1200000000000001/1207000000000000:abcdef0123456789"},
			response:   `{"data":[` + asanaTask + `],"next_page":null}`,
		},
		{
			name: "AsanaCreateTask", connector: "asana", action: "tasks_create",
			params:     `{"data":{"name":"Draft Q3 launch plan","workspace":"1200000000000000","assignee":"me","due_on":"2026-12-18"}}`,
			cred:       oauthCred("2/asana-oauth-token", nil),
			wantMethod: "POST", wantPath: "/api/1.0/tasks",
			wantHeader: map[string]string{"Authorization": "Bearer 2/asana-oauth-token", "Content-Type": "application/json"},
			wantJSON:   `{"data":{"name":"Draft Q3 launch plan","workspace":"1200000000000000","assignee":"me","due_on":"2026-12-18"}}`,
			status:     201,
			response:   `{"data":` + asanaTask + `}`,
		},
		// Airtable: table names are path segments; fields[] repeats.
		{
			name: "AirtableListRecords", connector: "airtable", action: "records_list",
			params:     `{"baseId":"appLkNDICXNqxSDhG","tableIdOrName":"Launch Tasks","filterByFormula":"{Status} = 'Done'","fields":["Name","Status"],"pageSize":2}`,
			cred:       bearerCred("patAbCdEfGh12345.0123456789abcdef", nil),
			wantMethod: "GET", wantPath: "/v0/appLkNDICXNqxSDhG/Launch%20Tasks",
			wantQuery:  url.Values{"filterByFormula": {"{Status} = 'Done'"}, "fields[]": {"Name", "Status"}, "pageSize": {"2"}},
			wantHeader: map[string]string{"Authorization": "Bearer patAbCdEfGh12345.0123456789abcdef"},
			response:   `{"records":[{"id":"rec560UJdUtocSouk","createdTime":"2026-11-20T21:03:48.000Z","fields":{"Name":"Write copy","Status":"Done"}}],"offset":"itrXyz/rec560UJdUtocSouk"}`,
		},
		{
			name: "AirtableCreateRecords", connector: "airtable", action: "records_create",
			params:     `{"baseId":"appLkNDICXNqxSDhG","tableIdOrName":"tblaG0bK6u7PdyPbv","records":[{"fields":{"Name":"Book venue","Status":"Todo"}}],"typecast":true}`,
			cred:       oauthCred("oaaAbCdEf.v1.airtable", nil),
			wantMethod: "POST", wantPath: "/v0/appLkNDICXNqxSDhG/tblaG0bK6u7PdyPbv",
			wantHeader: map[string]string{"Authorization": "Bearer oaaAbCdEf.v1.airtable", "Content-Type": "application/json"},
			wantJSON:   `{"records":[{"fields":{"Name":"Book venue","Status":"Todo"}}],"typecast":true}`,
			response:   `{"records":[{"id":"recQx1Z2Y3W4V5U6T","createdTime":"2026-12-04T10:00:00.000Z","fields":{"Name":"Book venue","Status":"Todo"}}]}`,
		},
		// Zendesk: email/token basic auth, subdomain host.
		{
			name: "ZendeskSearch", connector: "zendesk", action: "search",
			params:     `{"query":"type:ticket status:open priority:high","sort_by":"updated_at","sort_order":"desc"}`,
			cred:       basicCred("agent@acme.com/token", "6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv", map[string]string{"subdomain": "acme"}),
			wantMethod: "GET", wantHost: "acme.example.com", wantPath: "/api/v2/search",
			wantQuery:  url.Values{"query": {"type:ticket status:open priority:high"}, "sort_by": {"updated_at"}, "sort_order": {"desc"}},
			wantHeader: map[string]string{"Authorization": basicAuth("agent@acme.com/token", "6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv")},
			response:   `{"results":[{"id":35436,"result_type":"ticket","subject":"Printer on fire","status":"open","priority":"high","url":"https://acme.zendesk.com/api/v2/tickets/35436.json"}],"facets":null,"next_page":null,"previous_page":null,"count":1}`,
		},
		{
			name: "ZendeskCreateTicket", connector: "zendesk", action: "tickets_create",
			params:     `{"ticket":{"subject":"Cannot reset password","comment":{"body":"The reset link expires immediately."},"priority":"high","requester":{"name":"Li Wei","email":"li.wei@example.com"}}}`,
			cred:       bearerCred("zd-oauth-37a8e2f", map[string]string{"subdomain": "acme"}),
			wantMethod: "POST", wantHost: "acme.example.com", wantPath: "/api/v2/tickets",
			wantHeader: map[string]string{"Authorization": "Bearer zd-oauth-37a8e2f", "Content-Type": "application/json"},
			wantJSON:   `{"ticket":{"subject":"Cannot reset password","comment":{"body":"The reset link expires immediately."},"priority":"high","requester":{"name":"Li Wei","email":"li.wei@example.com"}}}`,
			status:     201,
			response:   `{"ticket":{"id":35437,"subject":"Cannot reset password","status":"new","priority":"high","requester_id":20978392},"audit":{"id":2127301143,"events":[]}}`,
		},
		// Intercom
		{
			name: "IntercomListConversations", connector: "intercom", action: "conversations_list",
			params:     `{"per_page":2}`,
			cred:       bearerCred("dG9rOmE1NjlhMjk5XzQyMmRfNDk2NV9iNzI5X2I3MmRhYjg1ODk5ZjoxOjA=", nil),
			wantMethod: "GET", wantPath: "/conversations",
			wantQuery:  url.Values{"per_page": {"2"}},
			wantHeader: map[string]string{"Authorization": "Bearer dG9rOmE1NjlhMjk5XzQyMmRfNDk2NV9iNzI5X2I3MmRhYjg1ODk5ZjoxOjA="},
			response:   `{"type":"conversation.list","conversations":[{"type":"conversation","id":"1295","title":null,"state":"open","open":true,"updated_at":1733301234}],"total_count":1,"pages":{"type":"pages","page":1,"per_page":2,"total_pages":1}}`,
		},
		{
			name: "IntercomReply", connector: "intercom", action: "conversations_reply",
			params:     `{"conversation_id":"1295","message_type":"comment","type":"admin","admin_id":"991267","body":"Thanks, we are on it."}`,
			cred:       oauthCred("dG9rOmOAuthIntercom", nil),
			wantMethod: "POST", wantPath: "/conversations/1295/reply",
			wantHeader: map[string]string{"Authorization": "Bearer dG9rOmOAuthIntercom", "Content-Type": "application/json"},
			wantJSON:   `{"message_type":"comment","type":"admin","admin_id":"991267","body":"Thanks, we are on it."}`,
			response:   `{"type":"conversation","id":"1295","state":"open","conversation_parts":{"type":"conversation_part.list","conversation_parts":[{"type":"conversation_part","part_type":"comment","body":"<p>Thanks, we are on it.</p>","author":{"type":"admin","id":"991267"}}],"total_count":1}}`,
		},
		// SendGrid: mail send answers 202 without a body.
		{
			name: "SendGridLists", connector: "sendgrid", action: "lists_list",
			params:     `{"page_size":10}`,
			cred:       bearerCred("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", nil),
			wantMethod: "GET", wantPath: "/v3/marketing/lists",
			wantQuery:  url.Values{"page_size": {"10"}},
			wantHeader: map[string]string{"Authorization": "Bearer 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"},
			response:   `{"result":[{"id":"ca7a3796-e8a8-4029-9ccb-df8937940562","name":"Newsletter","contact_count":1042,"_metadata":{"self":"https://api.sendgrid.com/v3/marketing/lists/ca7a3796-e8a8-4029-9ccb-df8937940562"}}],"_metadata":{"self":"https://api.sendgrid.com/v3/marketing/lists?page_size=10","count":1}}`,
		},
		{
			name: "SendGridMailSend", connector: "sendgrid", action: "mail_send",
			params:     `{"personalizations":[{"to":[{"email":"li.wei@example.com","name":"Li Wei"}]}],"from":{"email":"noreply@acme.com","name":"Acme"},"subject":"Your invoice","content":[{"type":"text/plain","value":"Invoice #1042 is attached."}]}`,
			cred:       bearerCred("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", nil),
			wantMethod: "POST", wantPath: "/v3/mail/send",
			wantHeader: map[string]string{"Authorization": "Bearer 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", "Content-Type": "application/json"},
			wantJSON:   `{"personalizations":[{"to":[{"email":"li.wei@example.com","name":"Li Wei"}]}],"from":{"email":"noreply@acme.com","name":"Acme"},"subject":"Your invoice","content":[{"type":"text/plain","value":"Invoice #1042 is attached."}]}`,
			status:     202,
		},
		// Mailchimp: any username plus the API key; the data center is the host.
		{
			name: "MailchimpListMembers", connector: "mailchimp", action: "members_list",
			params:     `{"list_id":"57afe96172","status":"subscribed","count":2}`,
			cred:       basicCred("anystring", "0123456789abcdef0123456789abcdef-us21", map[string]string{"dc": "us21"}),
			wantMethod: "GET", wantHost: "us21.example.com", wantPath: "/3.0/lists/57afe96172/members",
			wantQuery:  url.Values{"status": {"subscribed"}, "count": {"2"}},
			wantHeader: map[string]string{"Authorization": basicAuth("anystring", "0123456789abcdef0123456789abcdef-us21")},
			response:   `{"members":[{"id":"62eeb292278cc15f5817cb78f7790b08","email_address":"ana@example.com","status":"subscribed","merge_fields":{"FNAME":"Ana","LNAME":"Diaz"},"list_id":"57afe96172"}],"list_id":"57afe96172","total_items":1}`,
		},
		{
			name: "MailchimpUpsertMember", connector: "mailchimp", action: "members_upsert",
			params:     `{"list_id":"57afe96172","subscriber_hash":"62eeb292278cc15f5817cb78f7790b08","email_address":"ana@example.com","status_if_new":"subscribed","merge_fields":{"FNAME":"Ana"}}`,
			cred:       oauthCred("mc-oauth-5d8f0a", map[string]string{"dc": "us21"}),
			wantMethod: "PUT", wantHost: "us21.example.com", wantPath: "/3.0/lists/57afe96172/members/62eeb292278cc15f5817cb78f7790b08",
			wantHeader: map[string]string{"Authorization": "Bearer mc-oauth-5d8f0a", "Content-Type": "application/json"},
			wantJSON:   `{"email_address":"ana@example.com","status_if_new":"subscribed","merge_fields":{"FNAME":"Ana"}}`,
			response:   `{"id":"62eeb292278cc15f5817cb78f7790b08","email_address":"ana@example.com","status":"subscribed","merge_fields":{"FNAME":"Ana","LNAME":"Diaz"},"list_id":"57afe96172"}`,
		},
	}
}

// compileForFake rewrites the connector's host to a name under example.com
// (keeping a host placeholder as the first label, and the whole path) and
// compiles it.
func compileForFake(t *testing.T, c *patchbay.Connector) *connector.Compiled {
	t.Helper()
	rest, ok := strings.CutPrefix(c.BaseURL, "https://")
	if !ok {
		t.Fatalf("%s: baseUrl %q is not https", c.ID, c.BaseURL)
	}
	host, path, _ := strings.Cut(rest, "/")
	newHost := "upstream.example.com"
	if strings.HasPrefix(host, "{") {
		newHost = host[:strings.IndexByte(host, '}')+1] + ".example.com"
	}
	c.BaseURL = "https://" + newHost + "/" + path
	if path == "" {
		c.BaseURL = "https://" + newHost
	}
	cc, err := connector.Compile(c)
	if err != nil {
		t.Fatalf("%s: Compile with base URL %s: %v", c.ID, c.BaseURL, err)
	}
	return cc
}

// fakePlatform starts a TLS server answering every request with the case's
// response and reporting what it received. The returned client sends every
// connection to it, whatever the host name.
func fakePlatform(t *testing.T, tc *platformCase) (*http.Client, <-chan upstreamRequest) {
	t.Helper()
	seen := make(chan upstreamRequest, 4)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen <- upstreamRequest{method: r.Method, host: r.Host, path: r.URL.EscapedPath(), query: r.URL.Query(), header: r.Header.Clone(), body: body}
		status := tc.status
		if status == 0 {
			status = http.StatusOK
		}
		if tc.response != "" {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, tc.response)
	}))
	t.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	addr := srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr}, seen
}

// graphQLDocument returns the fixed "query" of a Linear-style action.
func graphQLDocument(t *testing.T, c *patchbay.Connector, actionID string) string {
	t.Helper()
	_, a := c.FindAction(actionID)
	if a == nil {
		t.Fatalf("%s has no action %s", c.ID, actionID)
	}
	var schema struct {
		Properties struct {
			Query struct {
				Const string `json:"const"`
			} `json:"query"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(a.Parameters, &schema); err != nil || schema.Properties.Query.Const == "" {
		t.Fatalf("%s/%s has no fixed query: %v", c.ID, actionID, err)
	}
	doc, _ := json.Marshal(schema.Properties.Query.Const)
	return string(doc)
}

// itemsAt follows a §10.1 dot path.
func itemsAt(v any, path string) (any, bool) {
	for _, key := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[key]; !ok {
			return nil, false
		}
	}
	return v, true
}

func TestPlatformRequests(t *testing.T) {
	conns := mustBuiltin(t)
	byID := make(map[string]*patchbay.Connector, len(conns))
	for _, c := range conns {
		byID[c.ID] = c
	}
	compiled := make(map[string]*connector.Compiled, len(conns))
	for _, c := range conns {
		compiled[c.ID] = compileForFake(t, c)
	}

	for _, tc := range platformCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := byID[tc.connector]
			if c == nil {
				t.Fatalf("no built-in connector %q", tc.connector)
			}
			_, action := c.FindAction(tc.action)
			if action == nil {
				t.Fatalf("connector %s has no action %s", tc.connector, tc.action)
			}
			if strings.Contains(tc.params, "@query@") {
				doc := graphQLDocument(t, c, tc.action)
				tc.params = strings.ReplaceAll(tc.params, "@query@", doc)
				tc.wantJSON = strings.ReplaceAll(tc.wantJSON, "@query@", doc)
			}
			client, seen := fakePlatform(t, &tc)
			rt := connector.New(client, &connector.Options{Version: "test"})
			res, err := rt.Execute(t.Context(), &connector.Call{
				AccountID:   "acme",
				Connector:   compiled[tc.connector],
				ActionID:    tc.action,
				Params:      json.RawMessage(tc.params),
				Credentials: staticCredentials{tc.cred},
			})
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}

			var got upstreamRequest
			select {
			case got = <-seen:
			default:
				t.Fatal("the fake platform received no request")
			}
			if len(seen) > 0 {
				t.Errorf("the fake platform received %d extra requests", len(seen))
			}
			wantHost := tc.wantHost
			if wantHost == "" {
				wantHost = "upstream.example.com"
			}
			if got.method != tc.wantMethod || got.host != wantHost || got.path != tc.wantPath {
				t.Errorf("request = %s https://%s%s, want %s https://%s%s", got.method, got.host, got.path, tc.wantMethod, wantHost, tc.wantPath)
			}
			if diff := cmp.Diff(tc.wantQuery, got.query, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("query mismatch (-want +got):\n%s", diff)
			}
			for name, want := range tc.wantHeader {
				if g := got.header.Get(name); g != want {
					t.Errorf("header %s = %q, want %q", name, g, want)
				}
			}
			if g := got.header.Get("Accept"); g != "application/json" {
				t.Errorf("Accept = %q, want application/json", g)
			}
			switch {
			case tc.wantForm != nil:
				if ct := got.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
					t.Errorf("Content-Type = %q, want a form", ct)
				}
				form, err := url.ParseQuery(string(got.body))
				if err != nil {
					t.Fatalf("form body %q: %v", got.body, err)
				}
				if diff := cmp.Diff(tc.wantForm, form); diff != "" {
					t.Errorf("form body mismatch (-want +got):\n%s", diff)
				}
			case tc.wantJSON != "":
				var want, gotBody any
				if err := json.Unmarshal([]byte(tc.wantJSON), &want); err != nil {
					t.Fatalf("bad wantJSON: %v", err)
				}
				if err := json.Unmarshal(got.body, &gotBody); err != nil {
					t.Fatalf("body %q is not JSON: %v", got.body, err)
				}
				if diff := cmp.Diff(want, gotBody); diff != "" {
					t.Errorf("JSON body mismatch (-want +got):\n%s", diff)
				}
			default:
				if len(got.body) != 0 {
					t.Errorf("body = %q, want none", got.body)
				}
			}

			wantStatus := tc.status
			if wantStatus == 0 {
				wantStatus = http.StatusOK
			}
			if res.Status != wantStatus {
				t.Errorf("result status = %d, want %d", res.Status, wantStatus)
			}
			var value any
			if err := json.Unmarshal(res.Value, &value); err != nil {
				t.Fatalf("result value %q: %v", res.Value, err)
			}
			if tc.response == "" {
				if value != nil {
					t.Errorf("result value = %s, want null for an empty body", res.Value)
				}
				return
			}
			// The declared itemsPath must find the list in a realistic answer,
			// or response shaping (§10.1) would never apply.
			if p := action.ItemsPath(); p != "" {
				items, ok := itemsAt(value, p)
				if list, isList := items.([]any); !ok || !isList || len(list) == 0 {
					t.Errorf("itemsPath %q does not lead to a non-empty list in %s", p, res.Value)
				}
			}
		})
	}
}

// TestPlatformCoverage: every built-in connector has at least one read and
// one write action exercised against its fake.
func TestPlatformCoverage(t *testing.T) {
	type rw struct{ read, write bool }
	seen := map[string]*rw{}
	conns := mustBuiltin(t)
	byID := map[string]*patchbay.Connector{}
	for _, c := range conns {
		byID[c.ID] = c
		seen[c.ID] = &rw{}
	}
	for _, tc := range platformCases() {
		c := byID[tc.connector]
		if c == nil {
			t.Errorf("case %s: unknown connector %s", tc.name, tc.connector)
			continue
		}
		_, a := c.FindAction(tc.action)
		if a == nil {
			t.Errorf("case %s: unknown action %s", tc.name, tc.action)
			continue
		}
		if a.IsReadOnly() {
			seen[c.ID].read = true
		} else {
			seen[c.ID].write = true
		}
	}
	for _, c := range conns {
		if s := seen[c.ID]; !s.read || !s.write {
			t.Errorf("%s: read tested %v, write tested %v; want both", c.ID, s.read, s.write)
		}
	}
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
