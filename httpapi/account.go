package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchbay-mcp/patchbay"
	"github.com/patchbay-mcp/patchbay/authn"
	sj "github.com/patchbay-mcp/patchbay/strictjson"
)

type accountOut struct {
	AccountID           string   `json:"accountId"`
	Name                string   `json:"name"`
	AllowedRedirectURIs []string `json:"allowedRedirectUris"`
	JWT                 jwtOut   `json:"jwt"`
	CreatedAt           string   `json:"createdAt"`
	UpdatedAt           string   `json:"updatedAt"`
}

type jwtOut struct {
	HS256      hs256Out        `json:"hs256"`
	PublicKeys json.RawMessage `json:"publicKeys"`
}

type hs256Out struct {
	CurrentKid         string  `json:"currentKid"`
	PreviousKid        *string `json:"previousKid"`
	PreviousValidUntil *string `json:"previousValidUntil"`
}

func (h *Handler) accountJSON(a *patchbay.Account) *accountOut {
	out := &accountOut{AccountID: a.ID, Name: a.Name, AllowedRedirectURIs: a.AllowedRedirectURIs,
		CreatedAt: timestamp(a.CreatedAt), UpdatedAt: timestamp(a.UpdatedAt)}
	if out.AllowedRedirectURIs == nil {
		out.AllowedRedirectURIs = []string{}
	}
	out.JWT.HS256.CurrentKid = patchbay.JWTKid(a.JWTCurrent.Version)
	if a.JWTPrevious != nil && h.opts.Now().Before(a.JWTPreviousValidUntil) {
		kid, until := patchbay.JWTKid(a.JWTPrevious.Version), timestamp(a.JWTPreviousValidUntil)
		out.JWT.HS256.PreviousKid, out.JWT.HS256.PreviousValidUntil = &kid, &until
	}
	out.JWT.PublicKeys = a.JWTPublicKeys
	if len(out.JWT.PublicKeys) == 0 {
		out.JWT.PublicKeys = json.RawMessage(`{"keys":[]}`)
	}
	return out
}

func (h *Handler) getAccount(c *call) error {
	a, err := h.store.FindAccount(c.r.Context(), c.p.AccountID)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, h.accountJSON(a))
}

type updateAccountRequest struct {
	Name                sj.Optional[string]          `json:"name"`
	AllowedRedirectURIs sj.Optional[[]string]        `json:"allowedRedirectUris"`
	JWTPublicKeys       sj.Optional[json.RawMessage] `json:"jwtPublicKeys"`
}

func (h *Handler) updateAccount(c *call) error {
	var req updateAccountRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	name := strings.TrimSpace(req.Name.Value)
	if req.Name.Set {
		if n := utf8.RuneCountInString(name); req.Name.Null || n < 1 || n > 100 {
			return patchbay.Errorf(patchbay.EInvalid, "name must be 1 to 100 characters").Field("name")
		}
	}
	var uris []string
	if req.AllowedRedirectURIs.Set && !req.AllowedRedirectURIs.Null {
		uris = req.AllowedRedirectURIs.Value
		if len(uris) > 100 {
			return patchbay.Errorf(patchbay.EInvalid, "allowedRedirectUris may hold at most 100 URIs").Field("allowedRedirectUris")
		}
		for i, u := range uris {
			if !patchbay.ValidRedirectEntry(u) {
				return patchbay.Errorf(patchbay.EInvalid, "allowedRedirectUris[%d] must be an absolute https URI (or http on localhost) without fragment", i).
					Field(fmt.Sprintf("allowedRedirectUris[%d]", i))
			}
		}
	}
	var jwks json.RawMessage
	if req.JWTPublicKeys.Set && !req.JWTPublicKeys.Null {
		set, err := authn.ParseJWKS(req.JWTPublicKeys.Value)
		if err != nil {
			return err
		}
		if jwks, err = json.Marshal(set); err != nil {
			return err
		}
	}
	var changed []string
	a, err := h.store.UpdateAccount(c.r.Context(), c.p.AccountID, func(a *patchbay.Account) (bool, error) {
		if req.Name.Set && name != a.Name {
			a.Name = name
			changed = append(changed, "name")
		}
		if req.AllowedRedirectURIs.Set {
			a.AllowedRedirectURIs = uris
			changed = append(changed, "allowedRedirectUris")
		}
		if req.JWTPublicKeys.Set {
			a.JWTPublicKeys = jwks
			changed = append(changed, "jwtPublicKeys")
		}
		return len(changed) > 0, nil
	})
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		h.auth.InvalidateAccount(a.ID)
		h.opts.Changed(c.r.Context(), "account", a.ID)
		h.audit(c, "account.updated", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) {
			e.Details = map[string]any{"changedFields": changed}
		})
	}
	return c.json(http.StatusOK, h.accountJSON(a))
}

type rotateSecretRequest struct {
	GracePeriodSeconds sj.Optional[int] `json:"gracePeriodSeconds"`
}

func (h *Handler) rotateJWTSecret(c *call) error {
	var req rotateSecretRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	grace := 86400
	if req.GracePeriodSeconds.Set {
		if grace = req.GracePeriodSeconds.Value; req.GracePeriodSeconds.Null || grace < 0 || grace > 604800 {
			return patchbay.Errorf(patchbay.EInvalid, "gracePeriodSeconds must be an integer from 0 to 604800").Field("gracePeriodSeconds")
		}
	}
	ctx := c.r.Context()
	cur, err := h.store.FindAccount(ctx, c.p.AccountID)
	if err != nil {
		return err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	version := cur.JWTCurrent.Version + 1
	sealed, err := h.vault.Seal(ctx, cur.ID, patchbay.JWTSecretRecordID(version), secret)
	if err != nil {
		return err
	}
	now := h.now()
	until := now.Add(time.Duration(grace) * time.Second)
	a, err := h.store.RotateJWTSecret(ctx, cur.ID, patchbay.JWTSecret{Version: version, Sealed: sealed, CreatedAt: now}, until)
	if err != nil {
		return err
	}
	h.auth.InvalidateAccount(a.ID)
	h.opts.Changed(ctx, "account", a.ID)
	kid := patchbay.JWTKid(version)
	h.audit(c, "account.jwt_secret_rotated", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) {
		e.Details = map[string]any{"kid": kid}
	})
	return c.json(http.StatusOK, map[string]any{"kid": kid, "secret": base64.RawURLEncoding.EncodeToString(secret),
		"previousKid": patchbay.JWTKid(cur.JWTCurrent.Version), "previousValidUntil": timestamp(until)})
}

type mintRequest struct {
	ExpiresInSeconds sj.Optional[int] `json:"expiresInSeconds"`
}

func (h *Handler) mintToken(c *call) error {
	user := c.r.PathValue("userId")
	if !patchbay.ValidUserID(user) {
		return patchbay.Errorf(patchbay.EInvalid, "userId is not a valid user ID").Field("userId")
	}
	var req mintRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	ttl := 3600
	if req.ExpiresInSeconds.Set {
		if ttl = req.ExpiresInSeconds.Value; req.ExpiresInSeconds.Null || ttl < 1 || ttl > 2592000 {
			return patchbay.Errorf(patchbay.EInvalid, "expiresInSeconds must be an integer from 1 to 2592000").Field("expiresInSeconds")
		}
	}
	ctx := c.r.Context()
	a, err := h.store.FindAccount(ctx, c.p.AccountID)
	if err != nil {
		return err
	}
	secret, err := h.vault.Open(ctx, a.ID, patchbay.JWTSecretRecordID(a.JWTCurrent.Version), a.JWTCurrent.Sealed)
	if err != nil {
		return err
	}
	token, exp, err := authn.Mint(authn.HSKey{Version: a.JWTCurrent.Version, Secret: secret}, a.ID, user, h.now(), time.Duration(ttl)*time.Second)
	if err != nil {
		return err
	}
	h.audit(c, "user_token.minted", patchbay.OutcomeSuccess, func(e *patchbay.AuditEvent) {
		e.UserID = user
		e.Details = map[string]any{"expiresAt": timestamp(exp)}
	})
	return c.json(http.StatusOK, map[string]any{"token": token, "expiresAt": timestamp(exp)})
}
