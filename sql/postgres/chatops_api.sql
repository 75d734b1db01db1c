-- sql/postgres/chatops_api.sql: the database side of dbalert's actions on PostgreSQL, layered
-- as on Oracle (sql/oracle/chatops_api.sql): a chat user can make the database do exactly
-- what a vetted function allows, and nothing else.
--
-- Run it once per database as a superuser, e.g. psql -d app -f sql/postgres/chatops_api.sql,
-- then give the login role a password: ALTER ROLE dbalert_chatops PASSWORD '...';
-- Re-running it is safe.
--
-- What it makes:
--   dbalert_api_owner   a NOLOGIN role that owns the schema dbalert_api and its functions.
--                       It holds pg_signal_backend, so its functions can end other roles'
--                       backends (never a superuser's: PostgreSQL refuses that).
--   dbalert_api.*       SECURITY DEFINER functions with search_path pinned to pg_catalog and
--                       pg_temp last, so no object of the caller's can stand in for a built-in;
--                       EXECUTE revoked from PUBLIC and granted to the login role only.
--   dbalert_chatops     the role dbalert's action source logs in as: USAGE on the schema and
--                       EXECUTE on the functions, nothing else (no table, no pg_signal_backend).
--
-- The action in alerts.yaml:
--   sql: select dbalert_api.terminate_backend($1, $2) as result
--   params: [{name: pid, type: int}]      # $2 is :requested_by, bound after the parameters
-- Allow the roles whose backends may be ended:
--   INSERT INTO dbalert_api.killable_roles VALUES ('app_orders');

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dbalert_api_owner') THEN
        CREATE ROLE dbalert_api_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dbalert_chatops') THEN
        CREATE ROLE dbalert_chatops LOGIN;
    END IF;
END
$$;

GRANT pg_signal_backend TO dbalert_api_owner;

CREATE SCHEMA IF NOT EXISTS dbalert_api AUTHORIZATION dbalert_api_owner;
REVOKE ALL ON SCHEMA dbalert_api FROM PUBLIC;
GRANT USAGE ON SCHEMA dbalert_api TO dbalert_chatops;

-- The roles whose backends chat may end, and the API's own log.
CREATE TABLE IF NOT EXISTS dbalert_api.killable_roles (rolname name PRIMARY KEY);
CREATE TABLE IF NOT EXISTS dbalert_api.api_log (
    logged_at    timestamptz NOT NULL DEFAULT now(),
    requested_by text,
    function     text NOT NULL,
    arguments    text,
    outcome      text NOT NULL,
    message      text
);
ALTER TABLE dbalert_api.killable_roles OWNER TO dbalert_api_owner;
ALTER TABLE dbalert_api.api_log OWNER TO dbalert_api_owner;

-- Ends backend p_pid when it belongs to an allowed role, logs it, and says what it did. A
-- refusal raises an error, so the action fails with the reason and dbalert's audit trail
-- records it (the error rolls back this function's own log row).
CREATE OR REPLACE FUNCTION dbalert_api.terminate_backend(p_pid integer, p_requested_by text)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target name;
BEGIN
    -- Without pg_read_all_stats, backend_type reads NULL for other roles' backends; a backend
    -- with a user is a client's (background workers have none).
    SELECT usename INTO target FROM pg_stat_activity WHERE pid = p_pid AND usename IS NOT NULL;
    IF target IS NULL THEN
        RAISE EXCEPTION 'no client backend %', p_pid USING ERRCODE = 'P0002';
    END IF;
    IF NOT EXISTS (SELECT FROM dbalert_api.killable_roles k JOIN pg_roles r ON r.rolname = k.rolname
                   WHERE k.rolname = target AND NOT r.rolsuper) THEN
        RAISE EXCEPTION 'backends of % may not be ended from chat', target USING ERRCODE = '42501';
    END IF;
    IF NOT pg_terminate_backend(p_pid) THEN
        RAISE EXCEPTION 'backend % could not be signalled', p_pid;
    END IF;
    INSERT INTO dbalert_api.api_log (requested_by, function, arguments, outcome, message)
    VALUES (p_requested_by, 'terminate_backend', p_pid::text, 'done', 'ended a backend of ' || target);
    RETURN 'ended backend ' || p_pid || ' of ' || target;
END
$$;
ALTER FUNCTION dbalert_api.terminate_backend(integer, text) OWNER TO dbalert_api_owner;
REVOKE ALL ON FUNCTION dbalert_api.terminate_backend(integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbalert_api.terminate_backend(integer, text) TO dbalert_chatops;
