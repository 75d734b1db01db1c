-- sql/oracle/99_uninstall.sql: remove everything 01 to 03 made.
--
-- Run as SYS:  sqlplus / as sysdba @99_uninstall.sql
-- Order: the ALERT_QUE subscription (same steps as 04_remove_alert_que.sql), the
-- application queue and its owner, the producer and reader roles, the DBALERT user.
-- Messages still in DBALERT_OWNER.ALERT_QT are lost. Safe to re-run: every step ignores
-- "does not exist" (ORA-24088 agent, ORA-24035 subscriber, ORA-24002 queue table,
-- ORA-01918 user, ORA-01919 role, ORA-01927/ORA-01917 grant or grantee).
-- Stop dbalert first: DROP USER fails (ORA-01940) while DBALERT is connected.

WHENEVER SQLERROR EXIT SQL.SQLCODE
SET SERVEROUTPUT ON

-- 1. SYS.ALERT_QUE: subscriber, agent, grants (as in 04_remove_alert_que.sql).
BEGIN
  BEGIN
    DBMS_AQADM.REMOVE_SUBSCRIBER(
      queue_name => 'SYS.ALERT_QUE',
      subscriber => SYS.AQ$_AGENT('DBALERT', NULL, NULL));
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE <> -24035 THEN
        RAISE;
      END IF;
  END;
  BEGIN
    DBMS_AQADM.DISABLE_DB_ACCESS(agent_name => 'DBALERT', db_username => 'DBALERT');
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE NOT IN (-24088, -1917) THEN
        RAISE;
      END IF;
  END;
  BEGIN
    DBMS_AQADM.DROP_AQ_AGENT(agent_name => 'DBALERT');
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE <> -24088 THEN
        RAISE;
      END IF;
  END;
END;
/

-- 2. The application queue (FORCE stops and drops its queues, exception queue included),
--    then its owner with the package.
BEGIN
  DBMS_AQADM.DROP_QUEUE_TABLE(queue_table => 'DBALERT_OWNER.ALERT_QT', force => TRUE);
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE NOT IN (-24002, -1918) THEN  -- no such queue table / no such user
      RAISE;
    END IF;
END;
/

-- 3. Users and roles. Dropping a role or user also drops the grants made to it.
BEGIN
  FOR r IN (SELECT 'DROP USER dbalert_owner CASCADE' AS stmt, -1918 AS absent FROM dual
            UNION ALL SELECT 'DROP ROLE dbalert_producer', -1919 FROM dual
            UNION ALL SELECT 'DROP ROLE dbalert_reader', -1919 FROM dual
            UNION ALL SELECT 'DROP USER dbalert CASCADE', -1918 FROM dual)
  LOOP
    BEGIN
      EXECUTE IMMEDIATE r.stmt;
      DBMS_OUTPUT.PUT_LINE('done: ' || r.stmt);
    EXCEPTION
      WHEN OTHERS THEN
        IF SQLCODE = r.absent THEN  -- ORA-01918 user / ORA-01919 role does not exist
          DBMS_OUTPUT.PUT_LINE('absent: ' || r.stmt);
        ELSE
          RAISE;
        END IF;
    END;
  END LOOP;
END;
/

-- Check: nothing named DBALERT% should remain.
SELECT username AS name, 'USER' AS kind FROM dba_users WHERE username LIKE 'DBALERT%'
UNION ALL
SELECT role, 'ROLE' FROM dba_roles WHERE role LIKE 'DBALERT%';
