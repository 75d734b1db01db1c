-- sql/postgres/chatops_audit.sql: an audit table in the database for ChatOps requests, beside
-- the one in dbalert's state file: one row for each request's intent and one for its outcome.
--
-- Run it after chatops_api.sql (it uses its schema and roles), as a superuser:
--     psql -d app -f sql/postgres/chatops_audit.sql
-- The login role gets INSERT and nothing else: it can add rows, never read, change or remove
-- them; the owner cannot log in. Params are stored with secret values redacted. dbalert writes
-- it when alerts.yaml says where it is:
--     action_audit: {source: app_chatops, table: dbalert_api.chatops_audit}
-- `detail` holds what the state file's audit row holds: rows, elapsed time, approver, error.

CREATE TABLE IF NOT EXISTS dbalert_api.chatops_audit (
    audit_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id       text NOT NULL,
    phase            text NOT NULL CHECK (phase IN ('intent', 'outcome')),
    occurred_at      timestamptz NOT NULL DEFAULT now(),
    actor            text NOT NULL,
    slack_channel_id text,
    action_name      text NOT NULL,
    params_json      jsonb,
    outcome          text NOT NULL,
    detail           text
);
ALTER TABLE dbalert_api.chatops_audit OWNER TO dbalert_api_owner;
REVOKE ALL ON dbalert_api.chatops_audit FROM PUBLIC;
GRANT INSERT ON dbalert_api.chatops_audit TO dbalert_chatops;
