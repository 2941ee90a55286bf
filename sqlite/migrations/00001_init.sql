-- +goose Up
CREATE TABLE accounts (
    id                       TEXT PRIMARY KEY,
    name                     TEXT NOT NULL,
    allowed_redirect_uris    TEXT NOT NULL DEFAULT '[]',
    jwt_public_keys          TEXT,
    jwt_current              INTEGER NOT NULL,
    jwt_previous             INTEGER,
    jwt_previous_valid_until INTEGER,
    version                  INTEGER NOT NULL DEFAULT 1,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);

CREATE TABLE jwt_secrets (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, version)
);

CREATE TABLE data_keys (
    account_id         TEXT NOT NULL,
    version            INTEGER NOT NULL,
    wrapped            BLOB NOT NULL,
    master_fingerprint TEXT NOT NULL,
    status             TEXT NOT NULL,
    encryptions        INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    PRIMARY KEY (account_id, version)
);

CREATE TABLE api_keys (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    user_id           TEXT NOT NULL,
    name              TEXT NOT NULL,
    role              TEXT NOT NULL,
    prefix            TEXT NOT NULL,
    hash              BLOB NOT NULL UNIQUE,
    require_signature INTEGER NOT NULL,
    signing_secret    BLOB,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER,
    last_used_at      INTEGER
);
CREATE INDEX api_keys_account ON api_keys (account_id, created_at);
CREATE INDEX api_keys_user ON api_keys (account_id, user_id);

CREATE TABLE servers (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    owner_id            TEXT NOT NULL,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL,
    custom_instructions TEXT NOT NULL,
    mode                TEXT NOT NULL,
    is_public           INTEGER NOT NULL,
    restrictions        TEXT NOT NULL,
    rate_limit          INTEGER NOT NULL,
    cache               INTEGER NOT NULL,
    allow_unverified    INTEGER NOT NULL,
    allow_secrets       INTEGER NOT NULL,
    token_hash          BLOB NOT NULL,
    token_sealed        BLOB NOT NULL,
    token_expires_at    INTEGER NOT NULL,
    version             INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (account_id, owner_id, name)
);
CREATE INDEX servers_owner ON servers (account_id, owner_id, created_at);

CREATE TABLE credentials (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    user_id          TEXT NOT NULL,
    connector_id     TEXT NOT NULL,
    connector_source TEXT NOT NULL,
    name             TEXT NOT NULL,
    auth_type        TEXT NOT NULL,
    status           TEXT NOT NULL,
    config           TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    bound_server_id  TEXT,
    expires_at       INTEGER,
    last_used_at     INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    sealed           BLOB NOT NULL,
    revision         INTEGER NOT NULL
);
CREATE INDEX credentials_user ON credentials (account_id, user_id, connector_id);

CREATE TABLE audit_events (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL,
    type          TEXT NOT NULL,
    time_ms       INTEGER NOT NULL,
    actor_kind    TEXT NOT NULL,
    actor_key_id  TEXT,
    actor_user_id TEXT,
    user_id       TEXT,
    server_id     TEXT,
    connector_id  TEXT,
    action_id     TEXT,
    credential_id TEXT,
    request_id    TEXT,
    outcome       TEXT,
    error_code    TEXT,
    duration_ms   INTEGER,
    client_ip     TEXT,
    details       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_account_time ON audit_events (account_id, time_ms DESC, id DESC);
CREATE INDEX audit_time ON audit_events (time_ms);

CREATE TABLE nonces (
    key_id     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX nonces_expiry ON nonces (expires_at);

-- +goose Down
DROP TABLE nonces;
DROP TABLE audit_events;
DROP TABLE credentials;
DROP TABLE servers;
DROP TABLE api_keys;
DROP TABLE data_keys;
DROP TABLE jwt_secrets;
DROP TABLE accounts;
