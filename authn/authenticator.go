package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/patchbay-mcp/patchbay"
)

// Store is what the authenticator reads. Lookups are cached, so a warm
// request makes no database round trip.
type Store interface {
	FindAPIKeyByHash(ctx context.Context, hash []byte) (*patchbay.APIKey, error)
	FindAccount(ctx context.Context, id string) (*patchbay.Account, error)
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}

// Opener opens sealed records (signing secrets, JWT secrets).
type Opener interface {
	Open(ctx context.Context, accountID, recordID string, ciphertext []byte) ([]byte, error)
}

// Options configures an Authenticator.
type Options struct {
	Now       func() time.Time
	CacheTTL  time.Duration // bound on positive cached lookups (§17.6); default 5s
	PublicURL string        // accepted as JWT aud besides "patchbay"
	Logger    *slog.Logger
	// OnFailure receives 401s whose account is known, for the auth.failed
	// audit event (§16).
	OnFailure func(ctx context.Context, accountID, reason string)
}

// Authenticator turns API keys, user JWTs and signatures into principals.
type Authenticator struct {
	store  Store
	opener Opener
	nonces NonceStore
	opts   Options

	mu       sync.RWMutex
	keys     map[[32]byte]*keyEntry
	keyHash  map[string][32]byte // keyID -> hash, for invalidation by ID
	accounts map[string]*accountEntry
	touched  map[string]time.Time
	// keyEpoch and accountEpoch count invalidations. A lookup that read the
	// store before an invalidation must not cache what it read afterwards,
	// or a key deleted during the lookup would stay valid for CacheTTL.
	keyEpoch     uint64
	accountEpoch uint64
}

type keyEntry struct {
	key     *patchbay.APIKey
	signing patchbay.Secret
	expires time.Time
}

type accountEntry struct {
	keys    *VerifyKeys
	version int64
	expires time.Time
}

// New returns an Authenticator.
func New(store Store, opener Opener, nonces NonceStore, opts *Options) *Authenticator {
	a := &Authenticator{store: store, opener: opener, nonces: nonces,
		keys: map[[32]byte]*keyEntry{}, keyHash: map[string][32]byte{}, accounts: map[string]*accountEntry{}, touched: map[string]time.Time{}}
	if opts != nil {
		a.opts = *opts
	}
	if a.opts.Now == nil {
		a.opts.Now = time.Now
	}
	if a.opts.CacheTTL <= 0 {
		a.opts.CacheTTL = 5 * time.Second
	}
	if a.opts.Logger == nil {
		a.opts.Logger = slog.New(slog.DiscardHandler)
	}
	return a
}

func fail(reason string) *patchbay.Error {
	e := &patchbay.Error{Code: patchbay.EUnauthorized, Message: UnauthorizedMessage}
	if reason != "" {
		e.Reason(reason)
	}
	return e
}

// Body returns the raw request body. Authenticate calls it only to verify
// a request signature, so that a request with an unknown key is refused
// before its body is read (§6.2 step 5); an error from it is returned as is.
type Body func() ([]byte, error)

// Authenticate applies the management rules of §4.2 (also used by the MCP
// routes that take an API key or JWT).
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request, body Body) (*patchbay.Principal, error) {
	userToken := strings.TrimSpace(r.Header.Get("x-alloy-user-token"))
	var key *keyEntry
	if h := r.Header.Get("Authorization"); h != "" {
		v, ok := ParseBearer(h)
		switch {
		case !ok:
			return nil, fail("")
		case strings.HasPrefix(v, APIKeyPrefix):
			var err error
			if key, err = a.lookupKey(ctx, v); err != nil {
				return nil, err
			}
		case LooksLikeJWT(v):
			if userToken == "" {
				userToken = v
			}
		default:
			return nil, fail("")
		}
	}
	if key == nil {
		if userToken == "" {
			return nil, fail("")
		}
		return a.jwtOnly(ctx, userToken)
	}
	k := key.key
	if k.RequireSignature || r.Header.Get("x-alloy-signature") != "" {
		raw, err := body()
		if err != nil {
			return nil, err
		}
		if err := CheckSignedRequest(ctx, r, raw, k.ID, key.signing, a.nonces, a.opts.Now()); err != nil {
			a.failed(ctx, k.AccountID, patchbay.ErrorDetails(err))
			return nil, err
		}
	}
	p := &patchbay.Principal{AccountID: k.AccountID, UserID: k.UserID, Role: k.Role, Kind: patchbay.ActorAPIKey, KeyID: k.ID, KeyUserID: k.UserID}
	a.touch(k.ID)
	if userToken != "" {
		claims, err := a.VerifyJWT(ctx, userToken, k.AccountID, false)
		if err != nil {
			return nil, err
		}
		p.UserID = claims.UserID
		return p, nil
	}
	uid, err := UserIDHeader(r)
	if err != nil {
		return nil, err
	}
	if uid != "" && uid != k.UserID {
		if k.Role != patchbay.RoleAdmin {
			return nil, patchbay.Errorf(patchbay.EForbidden, "a user key may act only as its own user").Reason("user_mismatch").
				Wrap(&DeniedError{Principal: p})
		}
		p.UserID = uid
	}
	return p, nil
}

// DeniedError is the cause wrapped in a 403 from Authenticate: the request
// did authenticate, as Principal, but asked for something that principal may
// not do. The faces record it as access.denied (§16), which needs the account.
type DeniedError struct {
	Principal *patchbay.Principal
}

func (e *DeniedError) Error() string { return "authn: authenticated principal denied" }

// UserIDHeader returns x-alloy-userid ("" when absent or blank), or a 400
// for a malformed value.
func UserIDHeader(r *http.Request) (string, error) {
	v := strings.TrimSpace(r.Header.Get("x-alloy-userid"))
	if v == "" {
		return "", nil
	}
	if !patchbay.ValidUserID(v) {
		return "", patchbay.Errorf(patchbay.EInvalid, "x-alloy-userid is not a valid user ID").Field("x-alloy-userid")
	}
	return v, nil
}

func (a *Authenticator) jwtOnly(ctx context.Context, token string) (*patchbay.Principal, error) {
	iss, err := PeekIssuer(token)
	if err != nil || iss == "" || !patchbay.ValidAccountID(iss) {
		return nil, fail(ReasonTokenInvalid)
	}
	claims, err := a.VerifyJWT(ctx, token, iss, true)
	if err != nil {
		return nil, err
	}
	return &patchbay.Principal{AccountID: iss, UserID: claims.UserID, Role: patchbay.RoleUser, Kind: patchbay.ActorUserJWT}, nil
}

// VerifyJWT verifies a user JWT with the keys of accountID.
func (a *Authenticator) VerifyJWT(ctx context.Context, token, accountID string, requireIssuer bool) (*Claims, error) {
	keys, err := a.accountKeys(ctx, accountID)
	if err != nil {
		return nil, err
	}
	claims, err := VerifyUserJWT(token, keys, VerifyOptions{Now: a.opts.Now(), RequireIssuer: requireIssuer, AccountID: accountID, PublicURL: a.opts.PublicURL})
	if err != nil {
		a.failed(ctx, accountID, patchbay.ErrorDetails(err))
		return nil, err
	}
	return claims, nil
}

func (a *Authenticator) failed(ctx context.Context, accountID string, details map[string]any) {
	if a.opts.OnFailure == nil {
		return
	}
	reason, _ := details["reason"].(string)
	a.opts.OnFailure(ctx, accountID, reason)
}

func (a *Authenticator) lookupKey(ctx context.Context, key string) (*keyEntry, error) {
	if !ValidAPIKeyFormat(key, true) {
		return nil, fail("")
	}
	h := HashAPIKey(key)
	now := a.opts.Now()
	a.mu.RLock()
	e := a.keys[h]
	a.mu.RUnlock()
	if e == nil || !now.Before(e.expires) {
		a.mu.RLock()
		epoch := a.keyEpoch
		a.mu.RUnlock()
		k, err := a.store.FindAPIKeyByHash(ctx, h[:])
		if patchbay.IsCode(err, patchbay.ENotFound) {
			a.forgetHash(h)
			return nil, fail("")
		}
		if err != nil {
			if e == nil || !a.usableStale(a.cachedKey(h) == e, e.expires, now) {
				return nil, patchbay.Errorf(patchbay.EUnavailable, "authentication store unavailable").Wrap(err)
			}
			// A key this instance verified recently keeps working through
			// a store outage (§17.5); a deleted one was dropped from the
			// cache when the deletion was announced.
		} else {
			if e, err = a.keyEntry(ctx, k, now); err != nil {
				return nil, err
			}
			a.mu.Lock()
			if a.keyEpoch == epoch {
				a.keys[h] = e
				a.keyHash[k.ID] = h
			}
			a.mu.Unlock()
		}
	}
	if e.key.Expired(now) {
		return nil, fail("")
	}
	return e, nil
}

// keyEntry is what the cache keeps of a key read from the store.
func (a *Authenticator) keyEntry(ctx context.Context, k *patchbay.APIKey, now time.Time) (*keyEntry, error) {
	e := &keyEntry{key: k, expires: now.Add(a.opts.CacheTTL)}
	if len(k.SigningSecretSealed) > 0 {
		secret, err := a.opener.Open(ctx, k.AccountID, k.ID, k.SigningSecretSealed)
		if err != nil {
			return nil, err
		}
		e.signing = patchbay.NewSecret(string(secret))
	}
	return e, nil
}

// staleLimit is how long a key or an account's JWT verification keys, last
// read from the store that long ago, keep being used while the store is
// unreachable (§17.5).
const staleLimit = 5 * time.Minute

// usableStale reports whether an entry that is still cached (not
// invalidated since it was read) and whose TTL ended at expires may serve
// while the store is unreachable.
func (a *Authenticator) usableStale(cached bool, expires, now time.Time) bool {
	return cached && now.Sub(expires.Add(-a.opts.CacheTTL)) < staleLimit
}

func (a *Authenticator) cachedKey(h [32]byte) *keyEntry {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.keys[h]
}

func (a *Authenticator) forgetHash(h [32]byte) {
	a.mu.Lock()
	if e := a.keys[h]; e != nil {
		delete(a.keyHash, e.key.ID)
		delete(a.keys, h)
	}
	a.mu.Unlock()
}

// touch records lastUsedAt at most once per minute per key (§4.3), off the
// request path.
func (a *Authenticator) touch(keyID string) {
	now := a.opts.Now()
	a.mu.Lock()
	last, ok := a.touched[keyID]
	due := !ok || now.Sub(last) >= time.Minute
	if due {
		a.touched[keyID] = now
	}
	a.mu.Unlock()
	if !due {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.store.TouchAPIKey(ctx, keyID, now); err != nil {
			a.opts.Logger.Warn("could not record API key use", "key_id", keyID, "error", err.Error())
		}
	}()
}

func (a *Authenticator) accountKeys(ctx context.Context, accountID string) (*VerifyKeys, error) {
	now := a.opts.Now()
	a.mu.RLock()
	e := a.accounts[accountID]
	fresh := e != nil && now.Before(e.expires) // expires changes under the lock
	a.mu.RUnlock()
	if fresh {
		return e.keys, nil
	}
	a.mu.RLock()
	epoch := a.accountEpoch
	a.mu.RUnlock()
	acct, err := a.store.FindAccount(ctx, accountID)
	if patchbay.IsCode(err, patchbay.ENotFound) {
		return nil, fail(ReasonTokenInvalid)
	}
	if err != nil {
		a.mu.RLock()
		stale := e != nil && a.usableStale(a.accounts[accountID] == e, e.expires, now)
		a.mu.RUnlock()
		if stale { // through a store outage (§17.5)
			return e.keys, nil
		}
		return nil, patchbay.Errorf(patchbay.EUnavailable, "authentication store unavailable").Wrap(err)
	}
	if e != nil && e.version == acct.Version {
		a.mu.Lock()
		if a.accountEpoch == epoch {
			e.expires = now.Add(a.opts.CacheTTL)
		}
		a.mu.Unlock()
		return e.keys, nil
	}
	keys, err := a.buildKeys(ctx, acct)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.accountEpoch == epoch {
		a.accounts[accountID] = &accountEntry{keys: keys, version: acct.Version, expires: now.Add(a.opts.CacheTTL)}
	}
	a.mu.Unlock()
	return keys, nil
}

func (a *Authenticator) buildKeys(ctx context.Context, acct *patchbay.Account) (*VerifyKeys, error) {
	cur, err := a.opener.Open(ctx, acct.ID, patchbay.JWTSecretRecordID(acct.JWTCurrent.Version), acct.JWTCurrent.Sealed)
	if err != nil {
		return nil, err
	}
	keys := &VerifyKeys{Current: HSKey{Version: acct.JWTCurrent.Version, Secret: cur}}
	if p := acct.JWTPrevious; p != nil {
		prev, err := a.opener.Open(ctx, acct.ID, patchbay.JWTSecretRecordID(p.Version), p.Sealed)
		if err != nil {
			return nil, err
		}
		keys.Previous = &HSKey{Version: p.Version, Secret: prev}
		keys.PreviousValidUntil = acct.JWTPreviousValidUntil
	}
	if len(acct.JWTPublicKeys) > 0 {
		set, err := ParseJWKS(acct.JWTPublicKeys)
		if err != nil {
			return nil, err
		}
		keys.Public = set
	}
	return keys, nil
}

// InvalidateKey drops a cached API key (deleted on this instance, or a
// change notice from another).
func (a *Authenticator) InvalidateKey(keyID string) {
	a.mu.Lock()
	a.keyEpoch++
	if h, ok := a.keyHash[keyID]; ok {
		delete(a.keys, h)
		delete(a.keyHash, keyID)
	}
	a.mu.Unlock()
}

// InvalidateAll drops every cached key and account: change notices may
// have been missed (the subscription to them was re-established).
func (a *Authenticator) InvalidateAll() {
	a.mu.Lock()
	a.keyEpoch++
	a.accountEpoch++
	clear(a.keys)
	clear(a.keyHash)
	clear(a.accounts)
	a.mu.Unlock()
}

// InvalidateAccount drops an account's cached JWT keys.
func (a *Authenticator) InvalidateAccount(accountID string) {
	a.mu.Lock()
	a.accountEpoch++
	delete(a.accounts, accountID)
	a.mu.Unlock()
}

// CheckServerToken reports whether token is the server's current access
// token and unexpired at now: SHA-256 compared in constant time (§6.4).
func CheckServerToken(srv *patchbay.Server, token string, now time.Time) bool {
	h := sha256.Sum256([]byte(token))
	ok := subtle.ConstantTimeCompare(h[:], srv.TokenHash) == 1
	return ok && !srv.TokenExpired(now)
}
