-- What changed by the quick start's second poll: the ORDERS team freed space in ORDERS_DATA,
-- the invoice job ran again and succeeded, and a new deadlock happened.
UPDATE tablespace_usage SET used_percent = 71.0 WHERE tablespace_name = 'ORDERS_DATA';
UPDATE job_runs SET status = 'SUCCEEDED', error_code = NULL WHERE job_name = 'NIGHTLY_INVOICES';
INSERT INTO alert_log VALUES
    (1004, '2026-11-23T09:31:45Z', 'ORDERS', 'ORA-00060: deadlock detected while waiting for resource');
