-- sql/oracle/chatops_api.sql: the database side of dbalert's actions, layered so that a chat
-- user can make the database do exactly what a vetted PL/SQL procedure allows, and nothing else.
--
-- Run as SYS (or a DBA), in the PDB the action source connects to:
--     sqlplus / as sysdba @chatops_api.sql
-- Re-running it is safe: existing users and tables are kept, packages are replaced.
--
-- What it makes:
--   DBALERT_API_OWNER  a schema-only account (18c+: NO AUTHENTICATION; it cannot log in) that
--                      owns the API: the allow-list of schemas, the API's own log, a helper
--                      package and the DBALERT_API package. The API runs with its rights
--                      (definer's rights), so only it holds ALTER SYSTEM and SELECT on V$SESSION.
--   DBALERT_API_UTIL   helpers, ACCESSIBLE BY the API package alone: nobody else can call them,
--                      not even the owner's other code.
--   DBALERT_API        the package actions call: kill_session(sid, serial). It refuses
--                      background sessions, SYS and SYSTEM, and any session whose user is not
--                      in KILLABLE_SCHEMAS, and logs every call, refused or done, with the
--                      CLIENT_IDENTIFIER dbalert sets (the Slack user who asked).
--   DBALERT_CHATOPS    the account dbalert's action source logs in as: CREATE SESSION and
--                      EXECUTE on DBALERT_API, nothing else. It cannot read a table, and cannot
--                      run ALTER SYSTEM itself.
--
-- The action in alerts.yaml (examples/oracle/alerts.yaml has it):
--   sql: "begin dbalert_api_owner.dbalert_api.kill_session(:sid, :serial); end;"
--   params: [{name: session, type: sid_serial}]
-- Then allow the schemas whose sessions may be killed, as SYS:
--   INSERT INTO dbalert_api_owner.killable_schemas (username) VALUES ('APP_ORDERS'); COMMIT;

WHENEVER SQLERROR EXIT SQL.SQLCODE
SET SERVEROUTPUT ON

ACCEPT chatops_password CHAR PROMPT 'Password for the new DBALERT_CHATOPS user (ignored if it exists): ' HIDE

-- The owner: no password, no login (administer it by proxy: GRANT CONNECT THROUGH a_dba).
BEGIN
  EXECUTE IMMEDIATE 'CREATE USER dbalert_api_owner NO AUTHENTICATION QUOTA 10M ON users';
  DBMS_OUTPUT.PUT_LINE('created user DBALERT_API_OWNER');
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE = -1920 THEN
      DBMS_OUTPUT.PUT_LINE('user DBALERT_API_OWNER exists: kept as it is');
    ELSE
      RAISE;
    END IF;
END;
/

-- The account dbalert's action source uses.
BEGIN
  EXECUTE IMMEDIATE 'CREATE USER dbalert_chatops IDENTIFIED BY "&chatops_password"';
  DBMS_OUTPUT.PUT_LINE('created user DBALERT_CHATOPS');
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE = -1920 THEN
      DBMS_OUTPUT.PUT_LINE('user DBALERT_CHATOPS exists: kept as it is');
    ELSE
      RAISE;
    END IF;
END;
/

-- Granted directly, not through a role: definer's-rights code does not see role grants.
GRANT SELECT ON SYS.V_$SESSION TO dbalert_api_owner;
GRANT ALTER SYSTEM TO dbalert_api_owner;
GRANT CREATE SESSION TO dbalert_chatops;

-- The allow-list and the API's own log, owned by the schema-only account.
BEGIN
  EXECUTE IMMEDIATE 'CREATE TABLE dbalert_api_owner.killable_schemas (
      username VARCHAR2(128) PRIMARY KEY)';
  EXECUTE IMMEDIATE 'CREATE TABLE dbalert_api_owner.api_log (
      logged_at         TIMESTAMP WITH TIME ZONE DEFAULT SYSTIMESTAMP NOT NULL,
      client_identifier VARCHAR2(64),
      procedure_name    VARCHAR2(64)   NOT NULL,
      arguments         VARCHAR2(400),
      outcome           VARCHAR2(16)   NOT NULL,
      message           VARCHAR2(1000))';
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE = -955 THEN      -- ORA-00955: name is already used by an existing object
      DBMS_OUTPUT.PUT_LINE('the API tables exist: kept as they are');
    ELSE
      RAISE;
    END IF;
END;
/

CREATE OR REPLACE PACKAGE dbalert_api_owner.dbalert_api_util
  ACCESSIBLE BY (PACKAGE dbalert_api_owner.dbalert_api)
AS
  -- Writes one row of the API's log in its own transaction, so a refusal is kept even when
  -- the caller rolls back.
  PROCEDURE log_call(p_procedure VARCHAR2, p_arguments VARCHAR2, p_outcome VARCHAR2,
                     p_message VARCHAR2);
END dbalert_api_util;
/

CREATE OR REPLACE PACKAGE BODY dbalert_api_owner.dbalert_api_util
AS
  PROCEDURE log_call(p_procedure VARCHAR2, p_arguments VARCHAR2, p_outcome VARCHAR2,
                     p_message VARCHAR2)
  IS
    PRAGMA AUTONOMOUS_TRANSACTION;
  BEGIN
    INSERT INTO dbalert_api_owner.api_log
      (client_identifier, procedure_name, arguments, outcome, message)
    VALUES
      (SYS_CONTEXT('USERENV', 'CLIENT_IDENTIFIER'), p_procedure, p_arguments, p_outcome,
       SUBSTR(p_message, 1, 1000));
    COMMIT;
  END log_call;
END dbalert_api_util;
/

CREATE OR REPLACE PACKAGE dbalert_api_owner.dbalert_api
AS
  -- Kills one user session of an allowed schema. Raises ORA-20001 (not found), ORA-20002
  -- (background or SYS/SYSTEM) or ORA-20003 (schema not allowed), each logged.
  PROCEDURE kill_session(p_sid NUMBER, p_serial NUMBER);
END dbalert_api;
/

CREATE OR REPLACE PACKAGE BODY dbalert_api_owner.dbalert_api
AS
  PROCEDURE refuse(p_code PLS_INTEGER, p_arguments VARCHAR2, p_message VARCHAR2)
  IS
  BEGIN
    dbalert_api_util.log_call('kill_session', p_arguments, 'refused', p_message);
    RAISE_APPLICATION_ERROR(p_code, p_message);
  END refuse;

  PROCEDURE kill_session(p_sid NUMBER, p_serial NUMBER)
  IS
    l_arguments VARCHAR2(100) := TO_CHAR(p_sid) || ',' || TO_CHAR(p_serial);
    l_username  VARCHAR2(128);
    l_type      VARCHAR2(10);
    l_allowed   PLS_INTEGER;
  BEGIN
    BEGIN
      SELECT username, type INTO l_username, l_type
        FROM v$session
       WHERE sid = p_sid AND serial# = p_serial;
    EXCEPTION
      WHEN NO_DATA_FOUND THEN
        refuse(-20001, l_arguments, 'no session ' || l_arguments);
    END;
    IF l_type = 'BACKGROUND' OR l_username IS NULL OR l_username IN ('SYS', 'SYSTEM') THEN
      refuse(-20002, l_arguments, 'session ' || l_arguments || ' is a background or SYS session');
    END IF;
    SELECT COUNT(*) INTO l_allowed
      FROM dbalert_api_owner.killable_schemas
     WHERE username = l_username;
    IF l_allowed = 0 THEN
      refuse(-20003, l_arguments, 'sessions of ' || l_username || ' may not be killed from chat');
    END IF;
    -- Only numbers reach the statement text: TO_CHAR of NUMBER parameters cannot carry SQL.
    EXECUTE IMMEDIATE 'ALTER SYSTEM KILL SESSION ''' || TO_CHAR(p_sid) || ','
                      || TO_CHAR(p_serial) || ''' IMMEDIATE';
    dbalert_api_util.log_call('kill_session', l_arguments, 'done', 'killed a session of ' || l_username);
  END kill_session;
END dbalert_api;
/

GRANT EXECUTE ON dbalert_api_owner.dbalert_api TO dbalert_chatops;
