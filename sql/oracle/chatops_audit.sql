-- sql/oracle/chatops_audit.sql: an audit table in the database for ChatOps requests, beside
-- the one in dbalert's state file: who asked for which action with what, who approved, and
-- what came of it, one row for the intent and one for the outcome.
--
-- Run as SYS (or a DBA), after chatops_api.sql (it uses its schema-only owner):
--     sqlplus / as sysdba @chatops_audit.sql
-- The account that writes it gets INSERT and nothing else: it can add rows, never change or
-- remove them, and the owner cannot log in. Params are stored with secret values redacted.
--
-- dbalert writes it when alerts.yaml says where it is:
--     action_audit: {source: prod_chatops, table: dbalert_api_owner.dbalert_chatops_audit}
-- `detail` holds what the state file's audit row holds: rows, elapsed time, approver, error.
--
-- A database API can also write to it itself (it is INSERT-only for everyone but its owner),
-- so that rows written by PL/SQL and rows about chat requests sit in one place.

WHENEVER SQLERROR EXIT SQL.SQLCODE
SET SERVEROUTPUT ON

BEGIN
  EXECUTE IMMEDIATE 'CREATE TABLE dbalert_api_owner.dbalert_chatops_audit (
      audit_id         NUMBER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      request_id       VARCHAR2(64)   NOT NULL,
      phase            VARCHAR2(16)   NOT NULL CHECK (phase IN (''intent'', ''outcome'')),
      occurred_at      TIMESTAMP WITH TIME ZONE DEFAULT SYSTIMESTAMP NOT NULL,
      actor            VARCHAR2(64)   NOT NULL,
      slack_channel_id VARCHAR2(32),
      action_name      VARCHAR2(64)   NOT NULL,
      params_json      VARCHAR2(4000) CHECK (params_json IS JSON),
      outcome          VARCHAR2(16)   NOT NULL,
      detail           VARCHAR2(4000))';
  DBMS_OUTPUT.PUT_LINE('created table DBALERT_API_OWNER.DBALERT_CHATOPS_AUDIT');
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE = -955 THEN
      DBMS_OUTPUT.PUT_LINE('the audit table exists: kept as it is');
    ELSE
      RAISE;
    END IF;
END;
/

GRANT INSERT ON dbalert_api_owner.dbalert_chatops_audit TO dbalert_chatops;
