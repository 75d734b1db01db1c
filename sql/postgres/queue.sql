-- The queue table a PostgreSQL source reads with `queue: {table: dbalert_queue}`.
--
-- Producers call dbalert_enqueue(payload); `dbalert poll` takes rows in id order with
-- SELECT ... FOR UPDATE SKIP LOCKED, so several pollers can share the queue, and deletes them
-- only after every notification for them was accepted. A JSON object's keys become labels
-- (severity, team, summary, ...); any other payload becomes the summary.
--
-- Each insert also notifies the channel named after the table (NOTIFY dbalert_queue, sent when
-- the inserting transaction commits); `dbalert run` LISTENs on it and takes the message at
-- once instead of at the check's next interval.
--
-- Run it in the schema the queue belongs to, e.g. psql -d app -f sql/postgres/queue.sql.
-- The script is idempotent: running it again on an installed queue upgrades it (adds the
-- trigger) and keeps every message.
-- dbalert needs:   GRANT SELECT, DELETE, UPDATE ON dbalert_queue TO dbalert;
-- producers need:  GRANT EXECUTE ON FUNCTION dbalert_enqueue(jsonb) TO app;
-- (UPDATE is the privilege FOR UPDATE locking asks for.)

CREATE TABLE IF NOT EXISTS dbalert_queue (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payload     jsonb NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT now()
);

-- Adds one message and returns its id. SECURITY DEFINER lets producers enqueue without any
-- privilege on the table itself.
CREATE OR REPLACE FUNCTION dbalert_enqueue(payload jsonb) RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
    INSERT INTO dbalert_queue (payload) VALUES ($1) RETURNING id
$$;

-- Wakes `dbalert run`: one notification per inserting statement, on the channel named after
-- the table (TG_TABLE_NAME), so another queue table can reuse this function as it is.
CREATE OR REPLACE FUNCTION dbalert_queue_notify() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_NAME::text, '');
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS dbalert_queue_notify ON dbalert_queue;
CREATE TRIGGER dbalert_queue_notify
    AFTER INSERT ON dbalert_queue
    FOR EACH STATEMENT EXECUTE FUNCTION dbalert_queue_notify();

-- Example:
--   SELECT dbalert_enqueue('{"severity": "critical", "team": "orders", "summary": "payment backlog"}');
