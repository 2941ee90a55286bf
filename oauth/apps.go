package oauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/patchbay-mcp/patchbay"
)

// InstanceApp is an instance-wide OAuth app from --oauth-apps-file (§13.1),
// used for a connector when the account has no app of its own.
type InstanceApp struct {
	ClientID     string
	ClientSecret patchbay.Secret
	Scopes       []string // nil: the scheme's scopes
}

type instanceAppFile struct {
	ClientID     string   `yaml:"clientId"`
	ClientSecret string   `yaml:"clientSecret"`
	Scopes       []string `yaml:"scopes"`
}

// backquoted matches the value excerpts that YAML errors quote, so that a
// malformed file never puts a client secret into an error message.
var backquoted = regexp.MustCompile("`[^`]*`")

// LoadInstanceApps reads the YAML map of instance-wide OAuth apps
// (`<connectorId>: {clientId, clientSecret, scopes}`). Unknown members,
// invalid connector IDs and empty or oversized client IDs and secrets are
// errors; error messages never contain values from the file.
func LoadInstanceApps(path string) (map[string]InstanceApp, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("oauth apps file: %w", err)
	}
	return parseInstanceApps(raw)
}

func parseInstanceApps(raw []byte) (map[string]InstanceApp, error) {
	var doc map[string]instanceAppFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	// An empty file is io.EOF: no apps.
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("oauth apps file: %s", backquoted.ReplaceAllString(err.Error(), "`...`"))
	}
	out := make(map[string]InstanceApp, len(doc))
	for id, a := range doc {
		if !patchbay.ValidConnectorID(id) {
			return nil, fmt.Errorf("oauth apps file: %q is not a valid connector ID", id)
		}
		if n := utf8.RuneCountInString(a.ClientID); n < 1 || n > 512 {
			return nil, fmt.Errorf("oauth apps file: %s: clientId must be 1 to 512 characters", id)
		}
		if n := utf8.RuneCountInString(a.ClientSecret); n < 1 || n > 4096 {
			return nil, fmt.Errorf("oauth apps file: %s: clientSecret must be 1 to 4096 characters", id)
		}
		out[id] = InstanceApp{ClientID: a.ClientID, ClientSecret: patchbay.NewSecret(a.ClientSecret), Scopes: slices.Clone(a.Scopes)}
	}
	return out, nil
}

// app is a resolved OAuth client for one flow or refresh.
type app struct {
	clientID string
	secret   patchbay.Secret
	scopes   []string
}

func errAppNotConfigured() *patchbay.Error {
	return patchbay.Errorf(patchbay.EInvalid, "No OAuth app is configured for this connector").Reason("oauth_app_not_configured")
}

// resolveApp finds the account's app for the connector, else the
// instance-wide one (§13.1). With open, the client secret is opened too.
func (m *Manager) resolveApp(ctx context.Context, accountID, connectorID string, scheme *patchbay.AuthScheme, open bool) (*app, error) {
	a, err := m.stores.FindOAuthApp(ctx, accountID, connectorID)
	switch {
	case err == nil:
		out := &app{clientID: a.ClientID, scopes: a.Scopes}
		if open {
			pt, err := m.sealer.Open(ctx, accountID, patchbay.OAuthAppRecordID(connectorID), a.SecretSealed)
			if err != nil {
				return nil, fmt.Errorf("open OAuth app secret: %w", err)
			}
			out.secret = patchbay.NewSecret(string(pt))
		}
		if len(out.scopes) == 0 {
			out.scopes = scheme.Scopes
		}
		return out, nil
	case !patchbay.IsCode(err, patchbay.ENotFound):
		return nil, err
	}
	if ia, ok := m.opts.InstanceApps[connectorID]; ok {
		out := &app{clientID: ia.ClientID, secret: ia.ClientSecret, scopes: ia.Scopes}
		if len(out.scopes) == 0 {
			out.scopes = scheme.Scopes
		}
		return out, nil
	}
	return nil, errAppNotConfigured()
}
