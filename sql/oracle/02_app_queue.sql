-- sql/oracle/02_app_queue.sql: an application alert queue that dbalert consumes, and the
-- package applications call to raise an alert from PL/SQL.
--
-- Run as SYS (or a DBA) after 01_user.sql:  sqlplus / as sysdba @02_app_queue.sql
-- Re-running is safe: existing objects are kept (ORA-01920 user, ORA-01921 role, ORA-24001
-- queue table, ORA-24006 queue, ORA-24034 subscriber, ORA-00955 name in use), the package is
-- CREATE OR REPLACE, and grants are idempotent.
--
-- What it makes:
--   DBALERT_OWNER               owns the queue and the package. 18c+: a schema-only account
--                               (NO AUTHENTICATION: no password, no login; administer it by
--                               proxy). On 12c replace NO AUTHENTICATION with
--                               IDENTIFIED BY <random> ACCOUNT LOCK.
--   DBALERT_OWNER.ALERT_QT      queue table, RAW payload carrying UTF-8 JSON text (readable by
--                               every client release, unlike the 21c JSON payload type),
--                               multi-consumer so a second consumer can be added later.
--   DBALERT_OWNER.ALERT_Q       the queue; subscriber DBALERT (dbalert dequeues with consumer
--                               name DBALERT); DBALERT holds only the DEQUEUE privilege.
--   DBALERT_OWNER.DBALERT_API   raise_alert(...), definer's rights: callers need EXECUTE on it
--                               (via role DBALERT_PRODUCER), not on DBMS_AQ or the queue.
--   DBALERT_PRODUCER            role to grant to application schemas that raise alerts.
--
-- Delivery: dbalert dequeues in a transaction and commits only after Slack accepted every
-- notification of the batch; otherwise it rolls back and AQ makes the message visible again
-- after retry_delay. After max_retries rollbacks AQ moves it to the exception queue
-- DBALERT_OWNER.AQ$_ALERT_QT_E (started below for dequeue, to inspect dead letters; see
-- docs/oracle.md for how to look at it and enqueue a message again).
--
-- The check that reads it (examples/oracle/alerts.yaml, oracle_app_alert):
--     queue: {name: DBALERT_OWNER.ALERT_Q, consumer: DBALERT}

WHENEVER SQLERROR EXIT SQL.SQLCODE
SET SERVEROUTPUT ON

-- The owner. Change USERS to the tablespace that should hold the queue table.
BEGIN
  EXECUTE IMMEDIATE 'CREATE USER dbalert_owner NO AUTHENTICATION '
                 || 'DEFAULT TABLESPACE users QUOTA 200M ON users';
  DBMS_OUTPUT.PUT_LINE('created schema-only user DBALERT_OWNER');
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE = -1920 THEN      -- ORA-01920: the user exists
      DBMS_OUTPUT.PUT_LINE('user DBALERT_OWNER exists: kept as it is');
    ELSE
      RAISE;
    END IF;
END;
/

-- Definer's-rights PL/SQL sees direct grants only (not roles): grant DBMS_AQ directly.
GRANT EXECUTE ON SYS.DBMS_AQ TO dbalert_owner;

-- The queue table, the queue, the exception queue and the DBALERT subscription.
BEGIN
  BEGIN
    DBMS_AQADM.CREATE_QUEUE_TABLE(
      queue_table        => 'DBALERT_OWNER.ALERT_QT',
      queue_payload_type => 'RAW',
      multiple_consumers => TRUE,
      comment            => 'dbalert application alerts (RAW: UTF-8 JSON)');
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE NOT IN (-24001, -955) THEN  -- queue table exists / name already used
        RAISE;
      END IF;
  END;

  BEGIN
    DBMS_AQADM.CREATE_QUEUE(
      queue_name     => 'DBALERT_OWNER.ALERT_Q',
      queue_table    => 'DBALERT_OWNER.ALERT_QT',
      max_retries    => 10,     -- rollbacks (failed deliveries) before the exception queue
      retry_delay    => 60,     -- seconds before a rolled-back message is visible again
      retention_time => 86400,  -- keep consumed messages one day (AQ$ALERT_QT, PROCESSED)
      comment        => 'dbalert application alerts');
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE NOT IN (-24006, -955) THEN  -- queue exists / name already used
        RAISE;
      END IF;
  END;

  DBMS_AQADM.START_QUEUE(queue_name => 'DBALERT_OWNER.ALERT_Q');
  DBMS_AQADM.START_QUEUE(queue_name => 'DBALERT_OWNER.AQ$_ALERT_QT_E',
                         enqueue => FALSE, dequeue => TRUE);

  -- Only subscribers present at enqueue time receive a message.
  BEGIN
    DBMS_AQADM.ADD_SUBSCRIBER(
      queue_name => 'DBALERT_OWNER.ALERT_Q',
      subscriber => SYS.AQ$_AGENT('DBALERT', NULL, NULL));
  EXCEPTION
    WHEN OTHERS THEN
      IF SQLCODE <> -24034 THEN  -- ORA-24034: already a subscriber
        RAISE;
      END IF;
  END;

  DBMS_AQADM.GRANT_QUEUE_PRIVILEGE(
    privilege    => 'DEQUEUE',
    queue_name   => 'DBALERT_OWNER.ALERT_Q',
    grantee      => 'DBALERT',
    grant_option => FALSE);
END;
/

-- The producer API. Example, from any schema granted DBALERT_PRODUCER:
--   dbalert_owner.dbalert_api.raise_alert(
--     p_severity    => 'critical',
--     p_summary     => 'ORDERS batch failed: ' || SQLERRM,
--     p_labels_json => '{"team":"orders","job":"nightly_close"}');
-- The message is one JSON object: the labels given, plus severity, summary, owner (the
-- calling session's user, unless the labels name one), pdb and instance. Its keys become
-- the alert's labels in dbalert. JSON_OBJECT_T needs 12.2 or later.
CREATE OR REPLACE PACKAGE dbalert_owner.dbalert_api AUTHID DEFINER AS
  -- Enqueue one alert. p_severity: critical, warning or info. p_labels_json: a JSON
  -- object of string labels, or NULL. p_immediate TRUE (the default) makes the alert
  -- visible at once, in its own transaction, so an alert raised in an exception handler
  -- survives the caller's ROLLBACK; FALSE enqueues it in the caller's transaction (sent
  -- only if the caller commits). p_expiration_s: seconds after which an unconsumed alert
  -- goes to the exception queue (NULL: never; needs the queue monitor).
  PROCEDURE raise_alert(
    p_severity     IN VARCHAR2,
    p_summary      IN VARCHAR2,
    p_labels_json  IN VARCHAR2 DEFAULT NULL,
    p_immediate    IN BOOLEAN DEFAULT TRUE,
    p_expiration_s IN PLS_INTEGER DEFAULT NULL);
END dbalert_api;
/

CREATE OR REPLACE PACKAGE BODY dbalert_owner.dbalert_api AS
  PROCEDURE raise_alert(
    p_severity     IN VARCHAR2,
    p_summary      IN VARCHAR2,
    p_labels_json  IN VARCHAR2 DEFAULT NULL,
    p_immediate    IN BOOLEAN DEFAULT TRUE,
    p_expiration_s IN PLS_INTEGER DEFAULT NULL)
  IS
    l_msg   JSON_OBJECT_T;
    l_enq   DBMS_AQ.ENQUEUE_OPTIONS_T;
    l_props DBMS_AQ.MESSAGE_PROPERTIES_T;
    l_id    RAW(16);
  BEGIN
    IF p_severity IS NULL OR LOWER(p_severity) NOT IN ('critical', 'warning', 'info') THEN
      RAISE_APPLICATION_ERROR(-20001, 'dbalert_api: severity must be critical, warning or info');
    END IF;
    IF p_summary IS NULL THEN
      RAISE_APPLICATION_ERROR(-20002, 'dbalert_api: summary is required');
    END IF;

    l_msg := JSON_OBJECT_T.parse(NVL(p_labels_json, '{}'));  -- raises on invalid JSON
    l_msg.put('severity', LOWER(p_severity));
    l_msg.put('summary', SUBSTR(p_summary, 1, 4000));
    IF NOT l_msg.has('owner') THEN
      l_msg.put('owner', SYS_CONTEXT('USERENV', 'SESSION_USER'));
    END IF;
    l_msg.put('pdb', SYS_CONTEXT('USERENV', 'CON_NAME'));
    l_msg.put('instance', SYS_CONTEXT('USERENV', 'INSTANCE_NAME'));

    IF p_immediate THEN
      l_enq.visibility := DBMS_AQ.IMMEDIATE;
    ELSE
      l_enq.visibility := DBMS_AQ.ON_COMMIT;
    END IF;
    l_props.correlation := SUBSTR(SYS_CONTEXT('USERENV', 'SESSION_USER'), 1, 128);
    IF p_expiration_s IS NOT NULL THEN
      l_props.expiration := p_expiration_s;
    END IF;

    -- UTF-8 whatever the database character set; PL/SQL limits a RAW payload to 32K.
    DBMS_AQ.ENQUEUE(
      queue_name         => 'DBALERT_OWNER.ALERT_Q',
      enqueue_options    => l_enq,
      message_properties => l_props,
      payload            => UTL_I18N.STRING_TO_RAW(l_msg.to_string, 'AL32UTF8'),
      msgid              => l_id);
  END raise_alert;
END dbalert_api;
/

-- Applications get the API through a role, never the queue itself.
BEGIN
  EXECUTE IMMEDIATE 'CREATE ROLE dbalert_producer';
EXCEPTION
  WHEN OTHERS THEN
    IF SQLCODE <> -1921 THEN     -- ORA-01921: the role exists
      RAISE;
    END IF;
END;
/

GRANT EXECUTE ON dbalert_owner.dbalert_api TO dbalert_producer;

-- Then, per application schema (definer's-rights callers need a direct grant instead):
--   GRANT dbalert_producer TO orders_app;

-- Check: the queue and its subscribers.
SELECT name, queue_type, enqueue_enabled, dequeue_enabled, max_retries, retry_delay
  FROM dba_queues
 WHERE owner = 'DBALERT_OWNER'
 ORDER BY name;
