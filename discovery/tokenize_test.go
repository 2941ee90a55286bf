package discovery

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAppendTokens(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		camel bool
		want  []string
	}{
		{name: "Empty", in: "", want: nil},
		{name: "LowerCases", in: "Create DEAL", want: []string{"create", "deal"}},
		{name: "SplitsOnPunctuation", in: "acme-crm deals_create/v2.list", want: []string{"acme", "crm", "deal", "create", "v2", "list"}},
		{name: "DropsShortTokens", in: "a b c to x9 io", want: []string{"x9", "io"}},
		{name: "DropsStopWords", in: "a an and the to of for in on with from by my me all new get set", want: nil},
		{name: "StopWordsAreCaseInsensitive", in: "The Get SET", want: nil},
		{name: "StripsOneTrailingS", in: "deals messages class issues", want: []string{"deal", "message", "clas", "issue"}}, //nolint:misspell // "clas" is the stemmed token
		{name: "KeepsSOfShortTokens", in: "bus gas its", want: []string{"bus", "gas", "its"}},
		{name: "StripsAfterDroppingStopWords", in: "sets gets news", want: []string{"set", "get", "new"}},
		{name: "StripsUpperCaseS", in: "CHANNELS", want: []string{"channel"}},
		{name: "DigitsAreTokenCharacters", in: "oauth2 s3 2fa", want: []string{"oauth2", "s3", "2fa"}},
		{name: "NonASCIISeparates", in: "café naïve über", want: []string{"caf", "na", "ve", "ber"}},
		{name: "KelvinSignFoldsToK", in: "\u212Aey", want: []string{"key"}},
		{name: "GoalDoesNotSplitCamelCase", in: "postMessage", want: []string{"postmessage"}},
		{name: "CamelCase", in: "postMessage", camel: true, want: []string{"post", "message"}},
		{name: "PascalCase", in: "CreateIssueComment", camel: true, want: []string{"create", "issue", "comment"}},
		{name: "Acronym", in: "getHTTPServerURL", camel: true, want: []string{"http", "server", "url"}},
		{name: "DigitThenUpper", in: "oauth2Token", camel: true, want: []string{"oauth2", "token"}},
		{name: "AcronymPlural", in: "listIDs", camel: true, want: []string{"list", "ids"}}, // three characters: the s stays
		{name: "LongAcronymPlural", in: "listURLs", camel: true, want: []string{"list", "url"}},
		{name: "AcronymPluralThenWord", in: "getURLsForUser", camel: true, want: []string{"url", "user"}},
		{name: "AcronymThenWordStartingWithS", in: "HTTPServer", camel: true, want: []string{"http", "server"}},
		{name: "CamelAndSnake", in: "chat_postMessage", camel: true, want: []string{"chat", "post", "message"}},
		{name: "AllCaps", in: "CRM", camel: true, want: []string{"crm"}},
		{name: "LongToken", in: "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", want: []string{"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, appendTokens(nil, tt.in, tt.camel)); diff != "" {
				t.Errorf("appendTokens(%q, camel=%v) (-want +got):\n%s", tt.in, tt.camel, diff)
			}
		})
	}
}

func FuzzAppendTokens(f *testing.F) {
	for _, s := range []string{"create a deal in acme", "getHTTPServerURL", "café \u212A", "\xff\xfeA", "sets"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, camel := range []bool{false, true} {
			for _, tok := range appendTokens(nil, s, camel) {
				if len(tok) < 2 {
					t.Fatalf("token %q shorter than 2", tok)
				}
				for i := 0; i < len(tok); i++ {
					if c := tok[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
						t.Fatalf("token %q has %q", tok, c)
					}
				}
			}
		}
	})
}
