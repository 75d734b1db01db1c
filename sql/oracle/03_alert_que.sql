-- sql/oracle/03_alert_que.sql: let DBALERT consume server-generated alerts from SYS.ALERT_QUE.
--
-- Run as SYS after 01_user.sql:  sqlplus / as sysdba @03_alert_que.sql
-- Optional: only for the built-in ALERT_QUE consumer, a check such as
--     - name: oracle_server_alert_queue
--       source: prod
--       queue: {name: SYS.ALERT_QUE, consumer: DBALERT}
-- where a warning or critical alert fires and its clear (LEVEL_CLEAR) resolves it. The
-- polling check oracle_server_alert (DBA_OUTSTANDING_ALERTS) needs none of this; use one or
-- the other, not both.
--
-- SYS.ALERT_QUE (queue table SYS.ALERT_QT, payload SYS.ALERT_TYPE, made by catalrt.sql) is a
-- SECURE multi-consumer queue. A consumer needs:
--   1. an AQ agent, subscribed to the queue (only subscribers that exist when an alert is
--      enqueued get it: alerts raised before this script are not delivered);
--   2. on a secure queue, the agent mapped to the database user that dequeues
--      (DBMS_AQADM.ENABLE_DB_ACCESS);
--   3. the DEQUEUE object privilege on the queue: from 12.2, DEQUEUE ANY QUEUE no longer covers
--      SYS-owned queues. EXECUTE on SYS.ALERT_TYPE is granted to PUBLIC by catalrt.sql;
--   4. EXECUTE on DBMS_AQ: dbalert dequeues object payloads with a PL/SQL block calling
--      DBMS_AQ.DEQUEUE (the driver's own object dequeue releases memory twice; see
--      docs/oracle.md, "How messages are dequeued"), and PL/SQL checks that right, which an
--      OCI dequeue does not.
-- The payload carries no text: dbalert reads the reason text by the message's SEQUENCE_ID
-- from DBA_OUTSTANDING_ALERTS (granted by 01_user.sql) and, for cleared and stateless
-- alerts, DBA_ALERT_HISTORY (granted here), so no EXECUTE on DBMS_SERVER_ALERT is needed.
-- An alert found only in the history as N/A is stateless (it never clears) and is sent once.
--
-- WARNING: a subscriber that stops dequeuing makes SYS.ALERT_QT in SYSAUX grow, because each
-- message is kept until every subscriber took it. If dbalert is retired or stops consuming
-- ALERT_QUE, run 04_remove_alert_que.sql.
--
-- Re-running is safe: an existing agent (ORA-24089) or subscriber (ORA-24034) is kept;
-- ENABLE_DB_ACCESS, GRANT_QUEUE_PRIVILEGE and GRANT are idempotent.

WHENEVER SQLERROR EXIT SQL.SQLCODE
SET SERVEROUTPUT ON

BEGIN
  -- 1a. The agent; its name is the consumer name dbalert dequeues with.
  BEGIN
    DBMS_AQADM.CREATE_AQ_AGENT(agent_name => 'DBALERT');
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE <> -24089 THEN  -- ORA-24089: AQ agent already exists
        RAISE;
      END IF;
  END;

  -- 1b. The subscription.
  BEGIN
    DBMS_AQADM.ADD_SUBSCRIBER(
      queue_name => 'SYS.ALERT_QUE',
      subscriber => SYS.AQ$_AGENT('DBALERT', NULL, NULL));
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE <> -24034 THEN  -- ORA-24034: already a subscriber of this queue
        RAISE;
      END IF;
  END;

  -- 2. Secure queue: the agent acts for the database user DBALERT.
  DBMS_AQADM.ENABLE_DB_ACCESS(agent_name => 'DBALERT', db_username => 'DBALERT');

  -- 3. Dequeue right on this one queue, without grant option.
  DBMS_AQADM.GRANT_QUEUE_PRIVILEGE(
    privilege    => 'DEQUEUE',
    queue_name   => 'SYS.ALERT_QUE',
    grantee      => 'DBALERT',
    grant_option => FALSE);

  DBMS_OUTPUT.PUT_LINE('DBALERT subscribed to SYS.ALERT_QUE');
END;
/

-- 4. The PL/SQL dequeue. Granted to the user, not the role: one right, for this one use.
GRANT EXECUTE ON SYS.DBMS_AQ TO dbalert;

-- Reason and resolution of cleared and stateless alerts.
GRANT SELECT ON SYS.DBA_ALERT_HISTORY TO dbalert_reader;

-- Check: the subscribers of ALERT_QUE (look for stale ones, e.g. of retired EM agents).
SELECT consumer_name, address, protocol
  FROM dba_queue_subscribers
 WHERE owner = 'SYS'
   AND queue_name = 'ALERT_QUE'
 ORDER BY consumer_name;
