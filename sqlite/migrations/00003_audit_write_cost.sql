-- +goose Up
-- Every MCP call writes two audit events; each index is one more B-tree
-- update per event. Pruning (hourly) can scan instead.
DROP INDEX audit_time;

-- +goose Down
CREATE INDEX audit_time ON audit_events (time_ms);
