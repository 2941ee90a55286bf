package httpapi

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/authn"
	"github.com/patchbay-mcp/patchbay/ids"
	sj "github.com/patchbay-mcp/patchbay/strictjson"
)

type createKeyRequest struct {
	Name             sj.Optional[string] `json:"name"`
	UserID           sj.Optional[string] `json:"userId"`
	Role             sj.Optional[string] `json:"role"`
	ExpiresInDays    sj.Optional[int]    `json:"expiresInDays"`
	RequireSignature sj.Optional[bool]   `json:"requireSignature"`
}

type keyOut struct {
	KeyID            string `json:"keyId"`
	APIKey           string `json:"apiKey,omitempty"`
	SigningSecret    string `json:"signingSecret,omitempty"`
	Name             string `json:"name"`
	UserID           string `json:"userId"`
	Role             string `json:"role"`
	KeyPrefix        string `json:"keyPrefix"`
	RequireSignature bool   `json:"requireSignature"`
	CreatedAt        string `json:"createdAt"`
	ExpiresAt        any    `json:"expiresAt"`
	LastUsedAt       any    `json:"lastUsedAt"`
}

func keyJSON(k *patchbay.APIKey) *keyOut {
	return &keyOut{KeyID: k.ID, Name: k.Name, UserID: k.UserID, Role: k.Role, KeyPrefix: k.Prefix, RequireSignature: k.RequireSignature,
		CreatedAt: timestamp(k.CreatedAt), ExpiresAt: timestampPtr(k.ExpiresAt), LastUsedAt: timestampPtr(k.LastUsedAt)}
}

func (h *Handler) createKey(c *call) error {
	var req createKeyRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	name := strings.TrimSpace(req.Name.Value)
	if n := utf8.RuneCountInString(name); !req.Name.Set || req.Name.Null || n < 1 || n > 100 {
		return patchbay.Errorf(patchbay.EInvalid, "name must be 1 to 100 characters").Field("name")
	}
	user := c.p.UserID
	if req.UserID.Set {
		if req.UserID.Null || !patchbay.ValidUserID(req.UserID.Value) {
			return patchbay.Errorf(patchbay.EInvalid, "userId is not a valid user ID").Field("userId")
		}
		user = req.UserID.Value
	}
	if !req.Role.Set || req.Role.Null || req.Role.Value != patchbay.RoleAdmin && req.Role.Value != patchbay.RoleUser {
		return patchbay.Errorf(patchbay.EInvalid, "role must be admin or user").Field("role")
	}
	if err := notNull("requireSignature", req.RequireSignature.Null); err != nil {
		return err
	}
	now := h.now()
	k := &patchbay.APIKey{ID: ids.KeyID(), AccountID: c.p.AccountID, UserID: user, Name: name, Role: req.Role.Value,
		RequireSignature: req.RequireSignature.Value, CreatedAt: now}
	if req.ExpiresInDays.Set {
		if d := req.ExpiresInDays.Value; req.ExpiresInDays.Null || d < 1 || d > 3650 {
			return patchbay.Errorf(patchbay.EInvalid, "expiresInDays must be an integer from 1 to 3650").Field("expiresInDays")
		}
		exp := now.Add(time.Duration(req.ExpiresInDays.Value) * 24 * time.Hour)
		k.ExpiresAt = &exp
	}
	key := ids.APIKey()
	hash := authn.HashAPIKey(key)
	k.Hash, k.Prefix = hash[:], key[:7]
	var secret string
	if k.RequireSignature {
		secret = ids.SigningSecret()
		sealed, err := h.vault.Seal(c.r.Context(), k.AccountID, k.ID, []byte(secret))
		if err != nil {
			return err
		}
		k.SigningSecretSealed = sealed
	}
	if err := h.store.CreateAPIKey(c.r.Context(), k); err != nil {
		return err
	}
	// A new key holder is no longer acceptable as an unverified identity
	// (§6.5 a): caches of who holds keys must learn it now.
	h.opts.Changed(c.r.Context(), "key", k.ID)
	h.audit(c, "key.created", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) {
		e.Details = map[string]any{"keyId": k.ID, "role": k.Role}
	})
	out := keyJSON(k)
	out.APIKey, out.SigningSecret = key, secret
	return c.json(http.StatusCreated, out)
}

func (h *Handler) listKeys(c *call) error {
	keys, err := h.store.ListAPIKeys(c.r.Context(), c.p.AccountID)
	if err != nil {
		return err
	}
	out := make([]*keyOut, len(keys))
	for i, k := range keys {
		out[i] = keyJSON(k)
	}
	return c.json(http.StatusOK, map[string]any{"keys": out, "count": len(out)})
}

func (h *Handler) deleteKey(c *call) error {
	k, err := h.store.DeleteAPIKey(c.r.Context(), c.p.AccountID, c.r.PathValue("keyId"), h.opts.Now())
	if err != nil {
		return err
	}
	// The deleted key must be refused before this response is sent (§4.3).
	h.auth.InvalidateKey(k.ID)
	h.opts.Changed(c.r.Context(), "key", k.ID)
	h.audit(c, "key.deleted", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) {
		e.Details = map[string]any{"keyId": k.ID, "role": k.Role}
	})
	return c.json(http.StatusOK, map[string]any{"message": "Key deleted", "keyId": k.ID})
}
