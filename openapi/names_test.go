package openapi

import (
	"strings"
	"testing"
)

func TestActionID(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "Plain", in: "listPets", want: "listPets"},
		{name: "Dashes", in: "get-user", want: "get_user"},
		{name: "Spaces", in: "find pet by id", want: "find_pet_by_id"},
		{name: "RunsCollapse", in: "a--__..b", want: "a_b"},
		{name: "TrimEnds", in: "__list__", want: "list"},
		{name: "BoxFragment", in: "post_oauth2_token#refresh", want: "post_oauth2_token_refresh"},
		{name: "LeadingDigit", in: "2fa.enable", want: "op_2fa_enable"},
		{name: "LeadingDigitAfterTrim", in: "-9lives", want: "op_9lives"},
		{name: "NonASCII", in: "créerContact", want: "cr_erContact"},
		{name: "OnlySymbols", in: "---", want: "op"},
		{name: "Cut64", in: strings.Repeat("a", 70), want: strings.Repeat("a", 64)},
		{name: "CutTrimsUnderscore", in: strings.Repeat("a", 63) + "-b", want: strings.Repeat("a", 63)},
		{name: "PrefixThenCut", in: "1" + strings.Repeat("x", 70), want: "op_1" + strings.Repeat("x", 60)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := actionID(tt.in); got != tt.want {
				t.Errorf("actionID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMethodPathID(t *testing.T) {
	tests := []struct {
		name, method, path, want string
	}{
		{name: "Spec", method: "GET", path: "/contacts/{id}", want: "get_contacts_id"},
		{name: "Root", method: "POST", path: "/", want: "post"},
		{name: "Dashes", method: "DELETE", path: "/user-accounts/{account-id}/keys", want: "delete_user_accounts_account_id_keys"},
		{name: "Fragment", method: "PUT", path: "/files/{file_id}#add_shared_link", want: "put_files_file_id_add_shared_link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := methodPathID(tt.method, tt.path); got != tt.want {
				t.Errorf("methodPathID(%q, %q) = %q, want %q", tt.method, tt.path, got, tt.want)
			}
		})
	}
}

func TestResourceID(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "Spec", in: "(beta) Users", want: "beta_users"},
		{name: "Segment", in: "contacts", want: "contacts"},
		{name: "DashedSegment", in: "user-accounts", want: "user_accounts"},
		{name: "Upper", in: "Mail Send", want: "mail_send"},
		{name: "Digits", in: "2FA", want: "2fa"},
		{name: "NonASCII", in: "Données clients", want: "donn_es_clients"},
		{name: "OnlySymbols", in: "()", want: "r"},
		{name: "AtSegment", in: "@me", want: "me"},
		{name: "Cut64", in: strings.Repeat("ab ", 30), want: strings.TrimRight(strings.Repeat("ab_", 22)[:64], "_")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resourceID(tt.in); got != tt.want {
				t.Errorf("resourceID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestConnectorID(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "Petstore", in: "Swagger Petstore", want: "swagger-petstore"},
		{name: "Parens", in: "Discord HTTP API (Preview)", want: "discord-http-api-preview"},
		{name: "NonASCII", in: "Café  Menu!", want: "caf-menu"},
		{name: "TrimBoth", in: "--Acme--", want: "acme"},
		{name: "Cut48", in: strings.Repeat("abcd ", 12), want: strings.TrimRight(strings.Repeat("abcd-", 10)[:48], "-")},
		{name: "Empty", in: "日本", want: "server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := connectorID(tt.in); got != tt.want {
				t.Errorf("connectorID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDedupe(t *testing.T) {
	seen := map[string]bool{}
	long := strings.Repeat("x", 64)
	var got []string
	for _, id := range []string{"list", "List", "LIST", "other", long, long} {
		got = append(got, dedupe(id, seen))
	}
	want := []string{"list", "List_2", "LIST_3", "other", long, strings.Repeat("x", 62) + "_2"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("dedupe #%d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestCut(t *testing.T) {
	if got := cut("héllo", 2); got != "hé" {
		t.Errorf("cut = %q", got)
	}
	if got := cut("abc", 5); got != "abc" {
		t.Errorf("cut = %q", got)
	}
}
