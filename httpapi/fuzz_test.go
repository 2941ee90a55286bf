package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/strictjson"
)

// FuzzDecodeServerBody drives the body decoding of POST and PUT
// /api/servers with arbitrary bytes, as the handlers do: strict decoding,
// then applying the members to a server. Any outcome but a panic, an error
// that is not INVALID_REQUEST, or an accepted server that breaks the §5.1
// rules is a bug.
func FuzzDecodeServerBody(f *testing.F) {
	for _, s := range []string{
		`{}`,
		``,
		`{"name":"Support Bot","description":"Helpdesk assistant","tokenExpiresInDays":90,
		 "restrictions":{"connectors":{"mode":"allowlist","allowedIds":["acme-crm","slack"]},
		                 "actions":{"blockedActions":["acme-crm.deals_delete"]}}}`,
		`{"name":"x","mode":"direct","isPublic":true,"rateLimit":{"requestsPerMinute":5},"cache":false,
		 "allowUnverifiedUserIds":true,"allowSecretsInToolArguments":true,"customInstructions":"hi"}`,
		`{"name":"x","restrictions":{"users":{"mode":"blocklist","blockedIds":["u1"],"allowedIds":["u2"]}}}`,
		`{"name":null,"description":null,"rateLimit":null,"restrictions":null}`,
		`{"name":"x","restrictions":{"permissions":[]}}`,
		`{"Name":"x"}`,
		`{"name":"x","name":"y"}`,
		`{"name":"x"} trailing`,
		`{"name":"\ud800"}`,
		`{"name":"x","tokenExpiresInDays":5.5}`,
		`{"name":"x","tokenExpiresInDays":"5"}`,
		`{"name":"x","tokenExpiresInDays":1e400}`,
		`{"name":"x","rateLimit":{"requestsPerMinute":-9223372036854775809}}`,
		`{"serverId":"a","accessToken":"b","updatedAt":1}`,
		`[{"name":"x"}]`,
		`{"name":` + strings.Repeat(`[`, 600) + strings.Repeat(`]`, 600) + `}`,
		`{"name":"x","restrictions":{"connectors":{"allowedIds":[` + strings.Repeat(`"a",`, 1000) + `"a"]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c := &call{body: body}
		now := time.Unix(1796378100, 0).UTC()
		check := func(err error, s *patchbay.Server) {
			if err != nil {
				if patchbay.ErrorCode(err) != patchbay.EInvalid {
					t.Fatalf("error %v is not INVALID_REQUEST", err)
				}
				if f, ok := patchbay.ErrorDetails(err)["field"].(string); ok && strings.Contains(f, "serverFields") {
					t.Fatalf("field %q names a Go type", f)
				}
				return
			}
			if err := s.Validate(); err != nil {
				t.Fatalf("accepted a server that fails validation: %v", err)
			}
			if strings.TrimSpace(s.Name) != s.Name {
				t.Fatalf("name %q not trimmed", s.Name)
			}
			out, err := json.Marshal(&s.Restrictions)
			if err != nil {
				t.Fatal(err)
			}
			// The stored form decodes strictly as restrictions again.
			var back patchbay.Restrictions
			if err := strictjson.Decode(out, &back, strictjson.Options{MaxArray: 1000}); err != nil {
				t.Fatalf("stored restrictions %s do not decode: %v", out, err)
			}
			if err := back.Validate("restrictions"); err != nil {
				t.Fatalf("stored restrictions %s do not validate: %v", out, err)
			}
		}

		var create createServerRequest
		err := c.decode(&create)
		if err == nil {
			if !create.Name.Set {
				err = patchbay.Errorf(patchbay.EInvalid, "name missing")
			} else if _, err = tokenDays(create.TokenExpiresInDays); err == nil {
				s := &patchbay.Server{Mode: patchbay.ModeConnectivity, Cache: true, CreatedAt: now, UpdatedAt: now}
				_, err = create.apply(s)
				check(err, s)
				return
			}
		}
		check(err, nil)

		var upd updateServerRequest
		if err := c.decode(&upd); err != nil {
			check(err, nil)
			return
		}
		s := &patchbay.Server{Name: "Existing", Mode: patchbay.ModeDirect, Cache: true, RateLimit: 10, CreatedAt: now, UpdatedAt: now}
		changed, err := upd.apply(s)
		check(err, s)
		if err == nil && len(changed) == 0 && (s.Name != "Existing" || s.Mode != patchbay.ModeDirect || s.RateLimit != 10 || !s.Cache) {
			t.Fatalf("server changed but no changed fields reported: %+v", s)
		}
	})
}
