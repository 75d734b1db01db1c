-- sql/oracle/04_remove_alert_que.sql: undo 03_alert_que.sql (stop DBALERT consuming
-- SYS.ALERT_QUE).
--
-- Run as SYS:  sqlplus / as sysdba @04_remove_alert_que.sql
-- Run it whenever dbalert stops reading ALERT_QUE: an abandoned subscriber makes SYS.ALERT_QT
-- (SYSAUX) grow. Removing the subscriber also discards the messages still waiting for it.
--
-- Re-running is safe: each step ignores "does not exist" (agent ORA-24088, subscriber
-- ORA-24035, grant ORA-01927, user or role ORA-01917).

WHENEVER SQLERROR EXIT SQL.SQLCODE
SET SERVEROUTPUT ON

BEGIN
  BEGIN
    DBMS_AQADM.REVOKE_QUEUE_PRIVILEGE(
      privilege  => 'DEQUEUE',
      queue_name => 'SYS.ALERT_QUE',
      grantee    => 'DBALERT');
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE NOT IN (-1927, -1917) THEN  -- not granted / no such user
        RAISE;
      END IF;
  END;

  BEGIN
    DBMS_AQADM.REMOVE_SUBSCRIBER(
      queue_name => 'SYS.ALERT_QUE',
      subscriber => SYS.AQ$_AGENT('DBALERT', NULL, NULL));
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE <> -24035 THEN  -- ORA-24035: not a subscriber of this queue
        RAISE;
      END IF;
  END;

  BEGIN
    DBMS_AQADM.DISABLE_DB_ACCESS(agent_name => 'DBALERT', db_username => 'DBALERT');
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE NOT IN (-24088, -1917) THEN  -- no such agent / no such user
        RAISE;
      END IF;
  END;

  BEGIN
    DBMS_AQADM.DROP_AQ_AGENT(agent_name => 'DBALERT');
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE <> -24088 THEN  -- ORA-24088: AQ agent does not exist
        RAISE;
      END IF;
  END;

  -- 03 granted DBMS_AQ for the PL/SQL dequeue of ALERT_QUE's object payloads. If dbalert
  -- also reads an object-type queue of yours, grant it again after this script.
  BEGIN
    EXECUTE IMMEDIATE 'REVOKE EXECUTE ON SYS.DBMS_AQ FROM dbalert';
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE NOT IN (-1927, -1917) THEN  -- not granted / no such user
        RAISE;
      END IF;
  END;

  BEGIN
    EXECUTE IMMEDIATE 'REVOKE SELECT ON SYS.DBA_ALERT_HISTORY FROM dbalert_reader';
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE NOT IN (-1927, -1917) THEN  -- not granted / no such role
        RAISE;
      END IF;
  END;

  DBMS_OUTPUT.PUT_LINE('DBALERT no longer subscribes to SYS.ALERT_QUE');
END;
/

-- Check: no DBALERT row should remain.
SELECT consumer_name
  FROM dba_queue_subscribers
 WHERE owner = 'SYS'
   AND queue_name = 'ALERT_QUE'
 ORDER BY consumer_name;
