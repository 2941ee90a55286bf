package patchbay

import (
	"context"
	"time"
)

// OAuthApp is the client an account uses for a connector's OAuth flow
// (§13.1). The client secret is sealed with record ID "oauthapp:<connectorId>".
type OAuthApp struct {
	AccountID    string
	ConnectorID  string
	ClientID     string
	SecretSealed []byte
	Scopes       []string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// OAuthAppRecordID is the vault record ID of an OAuth app's client secret.
func OAuthAppRecordID(connectorID string) string { return "oauthapp:" + connectorID }

// OAuthAppService stores OAuth apps.
type OAuthAppService interface {
	// PutOAuthApp creates or replaces the app. When the client ID changes,
	// the account's oauth2 credentials for the connector become revoked in
	// the same transaction; revoked reports how many.
	PutOAuthApp(ctx context.Context, app *OAuthApp) (revoked []CredentialRef, err error)
	// FindOAuthApp returns the app. ENotFound if absent.
	FindOAuthApp(ctx context.Context, accountID, connectorID string) (*OAuthApp, error)
	// DeleteOAuthApp removes the app and revokes the account's oauth2
	// credentials for the connector. ENotFound if absent.
	DeleteOAuthApp(ctx context.Context, accountID, connectorID string) (revoked []CredentialRef, err error)
}

// Flow kinds.
const (
	FlowOAuth = "oauth" // an OAuth connect flow (§13.2)
	FlowForm  = "form"  // a credential form (§13.6)
)

// Flow is a single-use browser link: an OAuth connection or a credential
// form. The PKCE verifier is sealed with record ID = flow ID.
type Flow struct {
	ID              string
	Kind            string
	AccountID       string
	UserID          string
	ServerID        string // the server it was started through; "" over REST
	Bind            bool   // the credential is bound to ServerID (unverified identity)
	ConnectorID     string
	ConnectorSource string
	CredentialID    string // a credential to reconnect; "" for a new one
	AuthType        string
	Name            string
	Fields          map[string]string // non-secret fields (config)
	RedirectURI     string
	VerifierSealed  []byte
	StateHash       []byte // SHA-256 of the OAuth state, set when the flow is consumed
	CreatedAt       time.Time
	ExpiresAt       time.Time
	ConsumedAt      *time.Time // the start link (or form) was used
	CompletedAt     *time.Time // the callback used the state
}

// FlowService stores flows.
type FlowService interface {
	CreateFlow(ctx context.Context, f *Flow) error
	// FindFlow returns a flow by ID. ENotFound if absent.
	FindFlow(ctx context.Context, id string) (*Flow, error)
	// ConsumeFlow marks an unconsumed, unexpired flow consumed at now and
	// records stateHash (nil for forms), atomically across instances.
	// ENotFound if absent; EConflict (reason "used" or "expired") otherwise.
	ConsumeFlow(ctx context.Context, id string, stateHash []byte, now time.Time) (*Flow, error)
	// CompleteFlow finds the consumed flow with this state hash and marks it
	// completed, once. ENotFound if no flow has the state; EConflict (reason
	// "used" or "expired") if it was completed or has expired.
	CompleteFlow(ctx context.Context, stateHash []byte, now time.Time) (*Flow, error)
	// PruneFlows deletes flows that expired before before.
	PruneFlows(ctx context.Context, before time.Time) (int, error)
}
