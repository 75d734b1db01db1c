-- sql/oracle/01_user.sql: the least-privilege runtime account of dbalert.
--
-- Run as SYS (or a DBA with ADMIN OPTION on the privileges below), in the PDB that dbalert
-- connects to, once per PDB (in a multitenant database one dbalert source per PDB is the
-- supported set-up; docs/oracle.md says why), or in a non-CDB:
--     sqlplus / as sysdba @01_user.sql
-- Re-running it is safe: an existing user or role is kept (ORA-01920, ORA-01921 ignored) and
-- GRANT is idempotent. It sets the password only when it creates the user.
--
-- What it makes:
--   DBALERT          the user dbalert logs in as: CREATE SESSION and the role below, nothing
--                    else (no SELECT ANY TABLE / SELECT ANY DICTIONARY / SELECT_CATALOG_ROLE).
--   DBALERT_READER   a role with SELECT on exactly the views the shipped check pack
--                    (examples/oracle/alerts.yaml) reads, deadlock trace files included. A
--                    test of the project compares the two, so a new check that reads a new
--                    view fails until it is granted here. Queue privileges are granted by
--                    the scripts that make or subscribe to the queues (02, 03).
--
-- V$ names cannot be granted (ORA-02030): V$X is a public synonym of SYS.V_$X, so the grants
-- name SYS.V_$X (and SYS.GV_$X for the RAC-wide GV$ views).
--
-- The queue owner (02_app_queue.sql) is a different account, DBALERT_OWNER. On 18c and later
-- it is a schema-only account (CREATE USER ... NO AUTHENTICATION): it has no password, cannot
-- log in, and is administered by proxy (ALTER USER dbalert_owner GRANT CONNECT THROUGH
-- a_dba; then connect a_dba[dbalert_owner]). So the runtime account DBALERT never owns or
-- grants anything. On 12c, create it with a password and ACCOUNT LOCK instead.

WHENEVER SQLERROR EXIT SQL.SQLCODE
SET SERVEROUTPUT ON

ACCEPT dbalert_password CHAR PROMPT 'Password for the new DBALERT user (ignored if it exists): ' HIDE

-- The runtime user. Prefer a wallet (SEPS) or IDENTIFIED EXTERNALLY in production; see
-- docs/oracle.md. PASSWORD EXPIRE is not used: dbalert cannot change a password.
BEGIN
  EXECUTE IMMEDIATE 'CREATE USER dbalert IDENTIFIED BY "&dbalert_password"';
  DBMS_OUTPUT.PUT_LINE('created user DBALERT');
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE = -1920 THEN      -- ORA-01920: user name conflicts with another user or role
      DBMS_OUTPUT.PUT_LINE('user DBALERT exists: kept as it is');
    ELSE
      RAISE;
    END IF;
END;
/

-- The role that carries the read grants, so they can be reviewed (and revoked) in one place.
BEGIN
  EXECUTE IMMEDIATE 'CREATE ROLE dbalert_reader';
  DBMS_OUTPUT.PUT_LINE('created role DBALERT_READER');
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE = -1921 THEN      -- ORA-01921: role name conflicts with another user or role
      DBMS_OUTPUT.PUT_LINE('role DBALERT_READER exists: kept as it is');
    ELSE
      RAISE;
    END IF;
END;
/

-- Log in, nothing more.
GRANT CREATE SESSION TO dbalert;

-- One grant per view the check pack reads; the check that reads it is named on the right.
-- oracle_deadlock reads the alert log of every RAC instance (GV$, INST_ID in its key; on a
-- single instance GV$ shows the one instance), ORA-00060 and RAC "Global Enqueue Services
-- Deadlock detected" lines alike.
GRANT SELECT ON SYS.GV_$DIAG_ALERT_EXT TO dbalert_reader;              -- oracle_deadlock
-- oracle_deadlock with deadlock_trace: true reads the trace file its alert-log line names, on
-- the instance that wrote it (12.2 and later; on older releases leave it out: the check then
-- warns and sends the deadlock without its deadlock_* labels).
GRANT SELECT ON SYS.GV_$DIAG_TRACE_FILE_CONTENTS TO dbalert_reader;    -- oracle_deadlock (trace labels)
GRANT SELECT ON SYS.GV_$SESSION TO dbalert_reader;                     -- oracle_blocking_session
GRANT SELECT ON SYS.DBA_TABLESPACE_USAGE_METRICS TO dbalert_reader;    -- oracle_tablespace_usage
GRANT SELECT ON SYS.DBA_TABLESPACES TO dbalert_reader;                 -- oracle_tablespace_usage (block size)
GRANT SELECT ON SYS.DBA_SCHEDULER_JOB_RUN_DETAILS TO dbalert_reader;   -- oracle_scheduler_job_failed
GRANT SELECT ON SYS.V_$RECOVERY_AREA_USAGE TO dbalert_reader;          -- oracle_fra_usage
GRANT SELECT ON SYS.V_$DATAGUARD_STATS TO dbalert_reader;              -- oracle_dataguard_lag (standby)
GRANT SELECT ON SYS.DBA_OBJECTS TO dbalert_reader;                     -- oracle_invalid_object
GRANT SELECT ON SYS.GV_$SESSION_LONGOPS TO dbalert_reader;             -- oracle_long_operation
GRANT SELECT ON SYS.DBA_OUTSTANDING_ALERTS TO dbalert_reader;          -- oracle_server_alert

-- The role is a default role of DBALERT (a new role granted to a user is, unless the user's
-- default roles were restricted with ALTER USER ... DEFAULT ROLE).
GRANT dbalert_reader TO dbalert;

-- Check: the object privileges the role now holds.
SELECT owner, table_name, privilege
  FROM dba_tab_privs
 WHERE grantee = 'DBALERT_READER'
 ORDER BY table_name;
