-- +goose Up
-- Identifiers use the "C" collation so that ordering and cursors compare
-- bytes, as in SQLite and Go, whatever the database's default locale.
-- Times are unix seconds (audit and nonces: milliseconds) in BIGINT.
CREATE TABLE accounts (
    id                       TEXT COLLATE "C" PRIMARY KEY,
    name                     TEXT NOT NULL,
    allowed_redirect_uris    JSONB NOT NULL DEFAULT '[]',
    -- The JWKS document verbatim (JSONB would reformat it).
    jwt_public_keys          TEXT,
    jwt_current              BIGINT NOT NULL,
    jwt_previous             BIGINT,
    jwt_previous_valid_until BIGINT,
    version                  BIGINT NOT NULL DEFAULT 1,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL
);

CREATE TABLE jwt_secrets (
    account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    sealed     BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, version)
);

-- No foreign key: the vault may create a data key before the account row
-- commits, and keys outlive nothing else.
CREATE TABLE data_keys (
    account_id         TEXT COLLATE "C" NOT NULL,
    version            BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
    wrapped            BYTEA NOT NULL,
    master_fingerprint TEXT NOT NULL,
    status             TEXT NOT NULL,
    encryptions        BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (account_id, version)
);

CREATE TABLE api_keys (
    id                TEXT COLLATE "C" PRIMARY KEY,
    account_id        TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    user_id           TEXT COLLATE "C" NOT NULL,
    name              TEXT NOT NULL,
    role              TEXT NOT NULL,
    prefix            TEXT NOT NULL,
    hash              BYTEA NOT NULL CONSTRAINT api_keys_hash_key UNIQUE,
    require_signature BOOLEAN NOT NULL,
    signing_secret    BYTEA,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT,
    last_used_at      BIGINT
);
CREATE INDEX api_keys_account ON api_keys (account_id, created_at);
CREATE INDEX api_keys_user ON api_keys (account_id, user_id);

CREATE TABLE servers (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    account_id          TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    owner_id            TEXT COLLATE "C" NOT NULL,
    name                TEXT NOT NULL,
    description         TEXT NOT NULL,
    custom_instructions TEXT NOT NULL,
    mode                TEXT NOT NULL,
    is_public           BOOLEAN NOT NULL,
    restrictions        JSONB NOT NULL,
    rate_limit          INTEGER NOT NULL,
    cache               BOOLEAN NOT NULL,
    allow_unverified    BOOLEAN NOT NULL,
    allow_secrets       BOOLEAN NOT NULL,
    token_hash          BYTEA NOT NULL,
    token_sealed        BYTEA NOT NULL,
    token_expires_at    BIGINT NOT NULL,
    version             BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    -- Names are unique per owner across instances; the store maps a
    -- violation of this constraint to CONFLICT with field "name".
    CONSTRAINT servers_name_key UNIQUE (account_id, owner_id, name)
);
CREATE INDEX servers_owner ON servers (account_id, owner_id, created_at);

CREATE TABLE credentials (
    id               TEXT COLLATE "C" PRIMARY KEY,
    account_id       TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    user_id          TEXT COLLATE "C" NOT NULL,
    connector_id     TEXT COLLATE "C" NOT NULL,
    connector_source TEXT NOT NULL,
    name             TEXT NOT NULL,
    auth_type        TEXT NOT NULL,
    status           TEXT NOT NULL,
    config           JSONB NOT NULL,
    scopes           JSONB NOT NULL,
    bound_server_id  TEXT COLLATE "C",
    expires_at       BIGINT,
    last_used_at     BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    sealed           BYTEA NOT NULL,
    revision         BIGINT NOT NULL
);
CREATE INDEX credentials_user ON credentials (account_id, user_id, connector_id);

CREATE TABLE audit_events (
    id            TEXT COLLATE "C" PRIMARY KEY,
    account_id    TEXT COLLATE "C" NOT NULL,
    type          TEXT COLLATE "C" NOT NULL,
    time_ms       BIGINT NOT NULL,
    actor_kind    TEXT NOT NULL,
    actor_key_id  TEXT,
    actor_user_id TEXT,
    user_id       TEXT COLLATE "C",
    server_id     TEXT COLLATE "C",
    connector_id  TEXT,
    action_id     TEXT,
    credential_id TEXT,
    request_id    TEXT,
    outcome       TEXT,
    error_code    TEXT,
    duration_ms   BIGINT,
    client_ip     TEXT,
    details       JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_account_time ON audit_events (account_id, time_ms DESC, id DESC);
CREATE INDEX audit_time ON audit_events (time_ms);

CREATE TABLE nonces (
    key_id     TEXT COLLATE "C" NOT NULL,
    nonce      TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL,
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
