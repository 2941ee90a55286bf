-- +goose Up
CREATE TABLE connectors (
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    id             TEXT NOT NULL,
    origin         TEXT NOT NULL,
    definition     TEXT NOT NULL,
    headers_sealed BLOB,
    version        INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
);

-- One row per account: bumped by every change of a custom connector.
CREATE TABLE connector_versions (
    account_id TEXT PRIMARY KEY,
    version    INTEGER NOT NULL
);

CREATE TABLE oauth_apps (
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    connector_id  TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    secret_sealed BLOB NOT NULL,
    scopes        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (account_id, connector_id)
);

CREATE TABLE flows (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    server_id        TEXT,
    bind             INTEGER NOT NULL,
    connector_id     TEXT NOT NULL,
    connector_source TEXT NOT NULL,
    credential_id    TEXT,
    auth_type        TEXT NOT NULL,
    name             TEXT NOT NULL,
    fields           TEXT NOT NULL,
    redirect_uri     TEXT NOT NULL,
    verifier_sealed  BLOB,
    state_hash       BLOB UNIQUE,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    consumed_at      INTEGER,
    completed_at     INTEGER
);
CREATE INDEX flows_expiry ON flows (expires_at);

-- +goose Down
DROP TABLE flows;
DROP TABLE oauth_apps;
DROP TABLE connector_versions;
DROP TABLE connectors;
