-- The quick start's demo database: a few tables shaped like the Oracle views dbalert's
-- checks read (tablespace usage, the alert log, scheduler job runs), with problems in them.
-- examples/quickstart/demo.db is built from this file; demo-later.db from this file
-- followed by quickstart-later.sql. A test rebuilds both and compares them.

CREATE TABLE tablespace_usage (
    tablespace_name TEXT PRIMARY KEY,
    owner           TEXT NOT NULL,   -- the schema whose team owns it
    used_percent    REAL NOT NULL
);
INSERT INTO tablespace_usage VALUES
    ('ORDERS_DATA',  'ORDERS',  97.4),
    ('ORDERS_INDEX', 'ORDERS',  93.1),
    ('BILLING_DATA', 'BILLING', 91.8),
    ('USERS',        'SYS',     42.0);

-- Like V$DIAG_ALERT_EXT: one row per alert log message.
CREATE TABLE alert_log (
    record_id    INTEGER PRIMARY KEY,
    logged_at    TEXT NOT NULL,      -- UTC, ISO 8601
    module_owner TEXT NOT NULL,
    message_text TEXT NOT NULL
);
INSERT INTO alert_log VALUES
    (1001, '2026-11-23T08:14:02Z', 'ORDERS',  'ORA-00060: deadlock detected while waiting for resource'),
    (1002, '2026-11-23T08:40:51Z', 'SYS',     'Thread 1 advanced to log sequence 4711'),
    (1003, '2026-11-23T09:02:17Z', 'BILLING', 'ORA-00060: deadlock detected while waiting for resource');

-- Like DBA_SCHEDULER_JOB_RUN_DETAILS.
CREATE TABLE job_runs (
    owner      TEXT NOT NULL,
    job_name   TEXT NOT NULL,
    status     TEXT NOT NULL,
    error_code INTEGER,
    PRIMARY KEY (owner, job_name)
);
INSERT INTO job_runs VALUES
    ('BILLING', 'NIGHTLY_INVOICES', 'FAILED',    20001),
    ('ORDERS',  'PURGE_CARTS',      'SUCCEEDED', NULL);
