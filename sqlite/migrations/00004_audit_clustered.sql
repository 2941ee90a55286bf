-- +goose Up
-- Audit events are written twice per MCP call and read per account, newest
-- first. Clustering the table on that order (WITHOUT ROWID) makes every
-- insert one B-tree update instead of three (rowid table, id index, account
-- index). Event IDs are ULIDs, unique by construction; a batch written
-- again after an unacknowledged commit is ignored (INSERT OR IGNORE).
CREATE TABLE audit_events_new (
    id            TEXT NOT NULL,
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
    details       TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, time_ms, id)
) WITHOUT ROWID;
INSERT INTO audit_events_new SELECT id, account_id, type, time_ms, actor_kind, actor_key_id, actor_user_id, user_id, server_id,
    connector_id, action_id, credential_id, request_id, outcome, error_code, duration_ms, client_ip, details FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;

-- +goose Down
CREATE TABLE audit_events_old (
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
INSERT INTO audit_events_old SELECT id, account_id, type, time_ms, actor_kind, actor_key_id, actor_user_id, user_id, server_id,
    connector_id, action_id, credential_id, request_id, outcome, error_code, duration_ms, client_ip, details FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_old RENAME TO audit_events;
CREATE INDEX audit_account_time ON audit_events (account_id, time_ms DESC, id DESC);
