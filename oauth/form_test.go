package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/oauth"
)

const apiKeyCanary = "ak-canary-7HqP2mZr0x"

var inputRE = regexp.MustCompile(`<input id="f-[^"]*" name="([^"]*)" type="([^"]*)"( value="([^"]*)")?`)

// inputs lists the field inputs of a form page as name:type=value.
func inputs(body string) []string {
	var out []string
	for _, m := range inputRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+":"+m[2]+"="+m[4])
	}
	return out
}

func TestCredentialForm(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.canary(apiKeyCanary)
	e.canary("sk-canary-signing")
	e.createServer("support-bot-4bacaec6", "Support bot")
	ctx := context.Background()
	formURL, exp, err := e.m.StartForm(ctx, oauth.FlowRequest{AccountID: accountA, UserID: userA, ServerID: "support-bot-4bacaec6", Bind: true,
		ConnectorID: "acme-crm", AuthType: patchbay.AuthAPIKey, Name: "EU key", Fields: map[string]string{"region": "eu"},
		RedirectURI: appRedirect, Actor: apiActor})
	if err != nil {
		t.Fatal(err)
	}
	flowID := strings.TrimPrefix(formURL, e.srv.URL+"/oauth/form/")
	if len(flowID) != 32 || !exp.Equal(e.clock.Now().Add(10*60e9)) {
		t.Fatalf("formUrl %s expires %v", formURL, exp)
	}
	b := newBrowser(t)
	p := b.get(formURL)
	if p.status != http.StatusOK {
		t.Fatalf("GET: %d", p.status)
	}
	if got := p.header.Get("Content-Security-Policy"); got != "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https://app.example.com; frame-ancestors 'none'" {
		t.Errorf("CSP %q", got)
	}
	if p.header.Get("Cache-Control") != "no-store" || p.header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers %v", p.header)
	}
	if diff := cmp.Diff([]string{`<form method="post" action="/oauth/form/` + flowID + `" autocomplete="off">`}, formRE.FindAllString(p.body, -1)); diff != "" {
		t.Errorf("forms (-want +got):\n%s", diff)
	}
	wantInputs := []string{"apiKey:password=", "region:text=eu", "workspace:text=", "signingKey:password="}
	if diff := cmp.Diff(wantInputs, inputs(p.body)); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	for _, want := range []string{"Acme CRM", "Support bot", "cus***"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	csrf := csrfOf(t, p.body)

	t.Run("CSRF", func(t *testing.T) {
		for _, form := range []url.Values{{"apiKey": {apiKeyCanary}}, {"csrf": {"wrong"}, "apiKey": {apiKeyCanary}}} {
			if got := b.post(formURL, form); got.status != http.StatusForbidden {
				t.Errorf("status %d", got.status)
			}
		}
		nb := newBrowser(t)
		if got := nb.post(formURL, url.Values{"csrf": {csrf}, "apiKey": {apiKeyCanary}}); got.status != http.StatusForbidden {
			t.Errorf("without cookie: %d", got.status)
		}
	})

	tests := []struct {
		name        string
		form        url.Values
		wantProblem string
		wantInputs  []string
	}{
		{name: "BadEnum", form: url.Values{"apiKey": {apiKeyCanary}, "region": {"mars"}, "workspace": {"team"}, "signingKey": {"sk-canary-signing"}},
			wantProblem: `Field &#34;region&#34; must be one of: us, eu`,
			wantInputs:  []string{"apiKey:password=", "region:text=mars", "workspace:text=team", "signingKey:password="}},
		{name: "MissingSecret", form: url.Values{"region": {"us"}},
			wantProblem: `Field &#34;apiKey&#34; is required`, wantInputs: []string{"apiKey:password=", "region:text=us", "workspace:text=", "signingKey:password="}},
		{name: "BadPattern", form: url.Values{"apiKey": {apiKeyCanary}, "region": {"eu"}, "workspace": {`"><script>x</script>`}},
			wantProblem: `Field &#34;workspace&#34; does not have the required format`,
			wantInputs:  []string{"apiKey:password=", "region:text=eu", "workspace:text=&#34;&gt;&lt;script&gt;x&lt;/script&gt;", "signingKey:password="}},
		{name: "TooLong", form: url.Values{"apiKey": {strings.Repeat("k", 8193)}, "region": {"eu"}},
			wantProblem: `Field &#34;apiKey&#34; must be 1 to 8192 characters`, wantInputs: []string{"apiKey:password=", "region:text=eu", "workspace:text=", "signingKey:password="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("csrf", b.cookie(e.srv.URL, "pb_oauth_csrf"))
			p := b.post(formURL, tt.form)
			if p.status != http.StatusBadRequest {
				t.Fatalf("status %d", p.status)
			}
			if !strings.Contains(p.body, tt.wantProblem) {
				t.Errorf("problem %q not in page:\n%s", tt.wantProblem, p.body)
			}
			if diff := cmp.Diff(tt.wantInputs, inputs(p.body)); diff != "" {
				t.Errorf("inputs (-want +got):\n%s", diff)
			}
			if strings.Contains(p.body, apiKeyCanary) || strings.Contains(p.body, "kkkkkkkk") {
				t.Error("secret echoed")
			}
			if fresh := csrfOf(t, p.body); fresh == csrf || fresh != b.cookie(e.srv.URL, "pb_oauth_csrf") {
				t.Error("no fresh CSRF token")
			}
		})
	}

	// Valid: stored, 303 to the redirect URI, single use.
	p = b.post(formURL, url.Values{"csrf": {b.cookie(e.srv.URL, "pb_oauth_csrf")}, "apiKey": {apiKeyCanary}, "region": {"us"},
		"workspace": {"team"}, "signingKey": {"sk-canary-signing"}, "extra": {"ignored"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("valid POST: %d\n%s", p.status, p.body)
	}
	final, _ := url.Parse(p.location())
	credID := final.Query().Get("credentialId")
	if p.location() != appRedirect+"?status=success&credentialId="+credID+"&connectorId=acme-crm" {
		t.Fatalf("Location %s", p.location())
	}
	if sc := p.header.Get("Set-Cookie"); sc != "pb_oauth_csrf=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" {
		t.Errorf("Set-Cookie %q", sc)
	}
	c := e.findCredential(accountA, userA, credID)
	want := credView{ConnectorID: "acme-crm", Name: "EU key", AuthType: patchbay.AuthAPIKey, Status: patchbay.CredentialActive,
		BoundServerID: "support-bot-4bacaec6", Config: map[string]string{"region": "us", "workspace": "team"}, Scopes: []string{}}
	if diff := cmp.Diff(want, view(c)); diff != "" {
		t.Errorf("credential (-want +got):\n%s", diff)
	}
	mat, err := e.m.Source(c, "", "").Material(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if mat.Secrets["apiKey"].Reveal() != apiKeyCanary || mat.Secrets["signingKey"].Reveal() != "sk-canary-signing" || len(mat.Secrets) != 2 {
		t.Errorf("secrets %v", mat.Secrets)
	}
	if got := b.post(formURL, url.Values{"csrf": {csrf}, "apiKey": {apiKeyCanary}}); got.status != http.StatusGone {
		t.Errorf("second POST: %d", got.status)
	}
	if got := b.get(formURL); got.status != http.StatusGone {
		t.Errorf("GET after use: %d", got.status)
	}
	if ev := e.auditEvents(accountA, "credential.created"); len(ev) != 1 || ev[0].CredentialID != credID || ev[0].ServerID != "support-bot-4bacaec6" {
		t.Errorf("credential.created: %+v", ev)
	}
}

func TestStartFormValidation(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		name              string
		connector, auth   string
		fields            map[string]string
		wantCode, wantWhy string
		wantField         string
	}{
		{name: "SecretField", connector: "acme-crm", auth: patchbay.AuthAPIKey, fields: map[string]string{"apiKey": "k"},
			wantCode: patchbay.EInvalid, wantWhy: "secret_field_not_allowed", wantField: "apiKey"},
		{name: "SecretExtraField", connector: "acme-crm", auth: patchbay.AuthAPIKey, fields: map[string]string{"signingKey": "k"},
			wantCode: patchbay.EInvalid, wantWhy: "secret_field_not_allowed", wantField: "signingKey"},
		{name: "UnknownField", connector: "acme-crm", auth: patchbay.AuthAPIKey, fields: map[string]string{"colour": "red"},
			wantCode: patchbay.EInvalid, wantWhy: "unknown_field", wantField: "colour"},
		{name: "BadEnum", connector: "acme-crm", auth: patchbay.AuthAPIKey, fields: map[string]string{"region": "mars"},
			wantCode: patchbay.EInvalid, wantWhy: "invalid_value", wantField: "region"},
		{name: "OAuth2", connector: "acme-crm", auth: patchbay.AuthOAuth2, wantCode: patchbay.EInvalid, wantWhy: "use_oauth_flow"},
		{name: "Unsupported", connector: "acme-crm", auth: patchbay.AuthBearer, wantCode: patchbay.EInvalid, wantWhy: "unsupported_authentication_type"},
		{name: "NoAuth", connector: "no-auth", auth: patchbay.AuthAPIKey, wantCode: patchbay.EInvalid, wantWhy: "connector_has_no_auth"},
		{name: "UnknownConnector", connector: "nope", auth: patchbay.AuthAPIKey, wantCode: patchbay.EConnectorNotFound},
		{name: "MissingIsFine", connector: "acme-crm", auth: patchbay.AuthAPIKey},
		{name: "Basic", connector: "acme-crm", auth: patchbay.AuthBasic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.m.StartForm(context.Background(), oauth.FlowRequest{AccountID: accountA, UserID: userA, ConnectorID: tt.connector,
				AuthType: tt.auth, Fields: tt.fields})
			if patchbay.ErrorCode(err) != tt.wantCode {
				t.Fatalf("err = %v, want %q", err, tt.wantCode)
			}
			if tt.wantWhy != "" && reason(err) != tt.wantWhy {
				t.Errorf("reason %v", reason(err))
			}
			if tt.wantField != "" && errDetails(err)["field"] != tt.wantField {
				t.Errorf("field %v", errDetails(err)["field"])
			}
		})
	}
}

// TestBasicForm: username and password are both secret inputs.
func TestBasicForm(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.canary("pw-canary-Lm3")
	u, _, err := e.m.StartForm(context.Background(), oauth.FlowRequest{AccountID: accountA, UserID: userA, ConnectorID: "acme-crm", AuthType: patchbay.AuthBasic})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	p := b.get(u)
	if diff := cmp.Diff([]string{"username:password=", "password:password="}, inputs(p.body)); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
	r := b.post(u, url.Values{"csrf": {csrfOf(t, p.body)}, "username": {"ada"}, "password": {"pw-canary-Lm3"}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), e.srv.URL+"/oauth/done?status=success&credentialId=cred_") {
		t.Fatalf("%d %s", r.status, r.location())
	}
	done := b.get(r.location())
	if done.status != http.StatusOK || !strings.Contains(done.body, "Connected, you can close this window") {
		t.Errorf("done page %d", done.status)
	}
}
