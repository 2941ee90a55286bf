-- +goose Up
CREATE TABLE connectors (
    account_id     TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    id             TEXT COLLATE "C" NOT NULL,
    origin         TEXT NOT NULL,
    -- The definition verbatim: JSONB would reformat the raw JSON Schemas
    -- inside it.
    definition     TEXT NOT NULL,
    headers_sealed BYTEA,
    version        BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX connectors_id ON connectors (id);

-- One row per account: bumped by every change of a custom connector.
CREATE TABLE connector_versions (
    account_id TEXT COLLATE "C" PRIMARY KEY,
    version    BIGINT NOT NULL
);

CREATE TABLE oauth_apps (
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    connector_id  TEXT COLLATE "C" NOT NULL,
    client_id     TEXT NOT NULL,
    secret_sealed BYTEA NOT NULL,
    scopes        JSONB NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, connector_id)
);

CREATE TABLE flows (
    id               TEXT COLLATE "C" PRIMARY KEY,
    kind             TEXT NOT NULL,
    account_id       TEXT COLLATE "C" NOT NULL,
    user_id          TEXT COLLATE "C" NOT NULL,
    server_id        TEXT COLLATE "C",
    bind             BOOLEAN NOT NULL,
    connector_id     TEXT COLLATE "C" NOT NULL,
    connector_source TEXT NOT NULL,
    credential_id    TEXT COLLATE "C",
    auth_type        TEXT NOT NULL,
    name             TEXT NOT NULL,
    fields           JSONB NOT NULL,
    redirect_uri     TEXT NOT NULL,
    verifier_sealed  BYTEA,
    state_hash       BYTEA CONSTRAINT flows_state_hash_key UNIQUE,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    consumed_at      BIGINT,
    completed_at     BIGINT
);
CREATE INDEX flows_expiry ON flows (expires_at);
CREATE INDEX flows_account ON flows (account_id, id);

-- +goose Down
DROP TABLE flows;
DROP TABLE oauth_apps;
DROP TABLE connector_versions;
DROP TABLE connectors;
