//! Queues: messages taken off a database inside a transaction that the caller ends.
//!
//! A [`QueueBatch`] holds the messages and the open transaction that locks them. The poll engine
//! commits it (the messages are gone) only after every notification for them was accepted, and
//! rolls it back (or drops it) otherwise, so that a failed delivery or a crash leaves the
//! messages for the next run: at least once, never lost. The batch API does not depend on the
//! driver: PostgreSQL and Oracle AQ are two variants of the private transaction enum, ended by
//! the same [`QueueBatch::commit`] and [`QueueBatch::rollback`].
//!
//! On PostgreSQL the queue is a table (`sql/postgres/queue.sql`) with at least `id bigint`,
//! which orders it, and `payload` (`jsonb`, `json` or `text`). A batch is
//! `SELECT id, payload … ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED` on a connection of its
//! own, so several pollers can share one queue without taking the same row; commit deletes the
//! batch's rows by id. Rows are deleted one by one rather than below a watermark, so a producer
//! whose transaction commits a smaller id late loses nothing. That SQL lives with the driver,
//! in `postgres.rs` (`QueueTransaction`), as Oracle's lives in `oracle/driver.rs` (`AqTransaction`).
//!
//! On Oracle the queue is an AQ queue (`sql/oracle/02_app_queue.sql`, or `SYS.ALERT_QUE`),
//! dequeued with visibility ON_COMMIT on a connection the batch owns (see `oracle/driver.rs`): the
//! dequeue is part of that connection's transaction, commit removes the messages, rollback puts
//! them back (AQ counts the attempt, and after the queue's `max_retries` moves the message to
//! the exception queue).

use std::fmt;

use serde::Deserialize;

use super::{SourceError, SourceKind, Value};
use crate::config::duration::Duration;

/// `queue:` of a check as written. Which keys apply depends on the kind of the check's source:
/// `table` for PostgreSQL, `name` (with `consumer`, `payload`, `wait`) for Oracle AQ.
/// [`QueueKeys::resolve`] turns it into a [`Queue`] once the source's kind is known.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueKeys {
    /// PostgreSQL: the queue table, `name` or `schema.name`, as created by
    /// `sql/postgres/queue.sql`: at least `id bigint` (the order) and `payload` (jsonb or text).
    table: Option<QueueTable>,
    /// Oracle: the AQ queue, `OWNER.QUEUE` (e.g. `DBALERT_OWNER.ALERT_Q`, `SYS.ALERT_QUE`).
    name: Option<OracleName>,
    /// Oracle: the consumer (subscriber) name on a multi-consumer queue, e.g. `DBALERT`; leave
    /// it out for a single-consumer queue.
    consumer: Option<OracleName>,
    /// Oracle: what the messages carry: `raw` (RAW holding UTF-8 JSON or text; the default),
    /// `{object: OWNER.TYPE}` (an object type, its attributes become labels) or `server_alert`
    /// (`SYS.ALERT_TYPE`; the default for `SYS.ALERT_QUE`).
    payload: Option<AqPayload>,
    /// Oracle, `dbalert run` only: how long one dequeue waits for a message when the queue is
    /// empty, in whole seconds, at most 60; default 5s. `dbalert poll` never waits.
    wait: Option<Duration>,
}

/// What a queue check reads, resolved for its source's kind.
#[derive(Debug, Clone)]
pub enum Queue {
    /// A PostgreSQL queue table.
    Table(QueueConfig),
    /// An Oracle AQ queue.
    Aq(AqQueue),
}

/// A PostgreSQL queue check's `queue:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// The queue table, `name` or `schema.name`.
    pub table: QueueTable,
}

/// An Oracle AQ queue check's `queue:`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AqQueue {
    /// `OWNER.QUEUE`, upper case.
    pub name: String,
    /// The subscriber dequeued for, on a multi-consumer queue.
    pub consumer: Option<String>,
    /// What the messages carry.
    pub payload: AqPayload,
    /// The wait of one dequeue under `dbalert run`.
    pub wait: std::time::Duration,
}

/// What the messages of an AQ queue carry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AqPayload {
    /// RAW: UTF-8 JSON (an object's keys become labels) or text (the summary).
    Raw,
    /// An object type, `OWNER.TYPE`: each attribute becomes a label.
    Object(OracleName),
    /// `SYS.ALERT_TYPE`, the server-generated alerts of `SYS.ALERT_QUE`: a warning or critical
    /// message fires a state alert, a clear message resolves it.
    ServerAlert,
}

/// The queue of server-generated alerts.
pub const ALERT_QUE: &str = "SYS.ALERT_QUE";
/// The longest wait of one AQ dequeue under `dbalert run`: a waiting dequeue holds the source,
/// whose other checks run after it.
pub const MAX_AQ_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
const DEFAULT_AQ_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a dequeue may wait for a message on an empty queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueWait {
    /// Return at once (`dbalert poll`, run from cron, must never block).
    NoWait,
    /// Wait up to the queue's `wait` (`dbalert run`).
    Bounded,
}

/// Problems with `queue:`: `(key, message)`, the key being the one under `queue:` to point at
/// (empty: `queue:` itself).
type QueueProblems = Vec<(&'static str, String)>;

impl QueueKeys {
    /// The queue for source `source` of `kind` (`postgres`, `oracle`, …).
    pub fn resolve(self, source: &str, kind: SourceKind) -> Result<Queue, QueueProblems> {
        match kind {
            SourceKind::Postgres => self.resolve_table(),
            SourceKind::Oracle => self.resolve_aq(),
            SourceKind::Sqlite => Err(vec![(
                "",
                format!(
                    "source `{source}` cannot hold a queue; queue checks need a postgres source (a queue table) or an oracle source (an AQ queue)"
                ),
            )]),
        }
    }

    fn resolve_table(self) -> Result<Queue, QueueProblems> {
        let oracle_keys = [
            ("name", self.name.is_some()),
            ("consumer", self.consumer.is_some()),
            ("payload", self.payload.is_some()),
            ("wait", self.wait.is_some()),
        ];
        let mut problems: QueueProblems = oracle_keys
            .iter()
            .filter(|(_, set)| *set)
            .map(|(key, _)| {
                (
                    *key,
                    format!(
                        "`{key}` is for Oracle AQ queues; a postgres source reads a queue table: `queue: {{table: dbalert_queue}}`"
                    ),
                )
            })
            .collect();
        match self.table {
            Some(table) if problems.is_empty() => return Ok(Queue::Table(QueueConfig { table })),
            Some(_) => {}
            None => problems.push((
                "",
                "missing key `table`: the queue table made by sql/postgres/queue.sql, e.g. `queue: {table: dbalert_queue}`".to_owned(),
            )),
        }
        Err(problems)
    }

    fn resolve_aq(self) -> Result<Queue, QueueProblems> {
        let mut problems = Vec::new();
        if self.table.is_some() {
            problems.push((
                "table",
                "`table` is for PostgreSQL queue tables; an oracle source reads an AQ queue: `queue: {name: DBALERT_OWNER.ALERT_Q, consumer: DBALERT}`".to_owned(),
            ));
        }
        let Some(OracleName(name)) = self.name else {
            problems.push((
                "",
                "missing key `name`: the AQ queue, e.g. `queue: {name: DBALERT_OWNER.ALERT_Q, consumer: DBALERT}`".to_owned(),
            ));
            return Err(problems);
        };
        let is_alert_que = name == ALERT_QUE;
        let payload = match self.payload {
            Some(payload) => payload,
            None if is_alert_que => AqPayload::ServerAlert,
            None => AqPayload::Raw,
        };
        if is_alert_que && payload != AqPayload::ServerAlert {
            problems.push((
                "payload",
                "SYS.ALERT_QUE carries SYS.ALERT_TYPE: leave `payload` out (or write `server_alert`)".to_owned(),
            ));
        }
        if is_alert_que && self.consumer.is_none() {
            problems.push((
                "",
                "SYS.ALERT_QUE is a multi-consumer queue: add `consumer:`, the agent sql/oracle/03_alert_que.sql subscribed (DBALERT)".to_owned(),
            ));
        }
        let wait = self.wait.map_or(DEFAULT_AQ_WAIT, Duration::get);
        if wait > MAX_AQ_WAIT || wait.subsec_nanos() != 0 {
            problems.push((
                "wait",
                "AQ waits in whole seconds, at most 60s (a waiting dequeue holds its source); e.g. `wait: 5s`".to_owned(),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Queue::Aq(AqQueue {
            name,
            consumer: self.consumer.map(|c| c.0),
            payload,
            wait,
        }))
    }
}

impl AqQueue {
    /// The whole seconds one dequeue may wait. Kept under the source's `call_timeout`, which
    /// would otherwise cancel the waiting round trip (DPI-1067).
    pub fn wait_seconds(&self, wait: QueueWait, call_timeout: Option<std::time::Duration>) -> u32 {
        let wanted = match wait {
            QueueWait::NoWait => return 0,
            QueueWait::Bounded => self.wait.as_secs(),
        };
        let allowed = call_timeout.map_or(wanted, |t| t.as_secs().saturating_sub(1));
        u32::try_from(wanted.min(allowed)).unwrap_or(0)
    }
}

/// An Oracle name as AQ takes it: `NAME` or `OWNER.NAME`, each part an unquoted identifier
/// (a letter, then letters, digits, `_`, `$`, `#`; at most 128 bytes), folded to upper case as
/// Oracle folds unquoted names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct OracleName(pub String);

impl TryFrom<String> for OracleName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        let part_ok = |part: &str| {
            part.len() <= 128
                && part.starts_with(|c: char| c.is_ascii_alphabetic())
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '#'))
        };
        let parts: Vec<&str> = name.split('.').collect();
        if parts.len() <= 2 && parts.iter().all(|p| part_ok(p)) {
            Ok(Self(name.to_ascii_uppercase()))
        } else {
            Err(format!(
                "`{name}` is not an Oracle name; write `NAME` or `OWNER.NAME` (letters, digits, _, $, #)"
            ))
        }
    }
}

/// A table name that is safe to write into SQL: `name` or `schema.name`, each part letters,
/// digits and `_`. Unquoted, so PostgreSQL folds it to lower case as it does in `queue.sql`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct QueueTable(String);

impl TryFrom<String> for QueueTable {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        let part_ok = |part: &str| {
            part.len() <= 63
                && part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let parts: Vec<&str> = name.split('.').collect();
        if parts.len() <= 2 && parts.iter().all(|p| part_ok(p)) {
            Ok(Self(name))
        } else {
            Err(format!(
                "`{name}` is not a table name; write `name` or `schema.name` with letters, digits and _"
            ))
        }
    }
}

impl QueueTable {
    /// The channel the table's trigger notifies on insert: the table's name without its
    /// schema, folded to lower case as PostgreSQL folds it (`TG_TABLE_NAME`).
    pub fn channel(&self) -> String {
        let name = self.0.rsplit('.').next().unwrap_or(&self.0);
        name.to_ascii_lowercase()
    }
}

impl fmt::Display for QueueTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One message off a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    /// The message's id, for logs: `id` of the queue table; for AQ, its enqueue time and place
    /// in the batch (AQ's own message id is not read: the driver's accessor for it is unsound).
    pub id: String,
    /// [`Value::Json`] for a JSON payload, whose keys become labels; [`Value::Text`] otherwise.
    pub payload: Value,
    /// The label pairs that identify the alert the message makes: `id` for an event; object,
    /// reason and instance for a server alert, so that its clear finds it.
    pub identity: Vec<(String, String)>,
    pub effect: Effect,
    /// What could not be read as it is (a payload that is not UTF-8, say); the message is still
    /// sent, and the poll engine logs each warning with the check's name and the message id.
    pub warnings: Vec<String>,
}

/// What a message does to the alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Notified once (application alerts, PostgreSQL queue rows, stateless server alerts).
    Event,
    /// Fires a state alert, or keeps it firing (a warning or critical server alert).
    Fire,
    /// Resolves the firing alert of the same identity (a server alert's clear message).
    Resolve,
}

impl QueueMessage {
    /// An event message, identified by its id.
    pub fn event(id: String, payload: Value, warnings: Vec<String>) -> Self {
        Self {
            identity: vec![("id".to_owned(), id.clone())],
            id,
            payload,
            effect: Effect::Event,
            warnings,
        }
    }
}

/// Messages taken off a queue, still locked by the transaction this batch owns. Dropping the
/// batch without [`commit`](Self::commit) rolls it back.
#[derive(Debug)]
pub struct QueueBatch {
    pub messages: Vec<QueueMessage>,
    // Boxed: the driver's connection is large, and a batch travels through the poll engine's
    // enums beside plain rows.
    transaction: Box<BatchTransaction>,
}

// Boxed as a whole in `QueueBatch`, so the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum BatchTransaction {
    Postgres(super::postgres::QueueTransaction),
    #[cfg(feature = "oracle")]
    Oracle(super::oracle::AqTransaction),
    /// Tests of the poll engine: told `"commit"` or `"rollback"` when the batch ends. The real
    /// transactions are tested on PostgreSQL (`tests/cases/sources.rs`).
    #[cfg(test)]
    Observed(Box<dyn FnOnce(&'static str) + Send>),
}

impl fmt::Debug for BatchTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postgres(transaction) => transaction.fmt(f),
            #[cfg(feature = "oracle")]
            Self::Oracle(transaction) => transaction.fmt(f),
            #[cfg(test)]
            Self::Observed(_) => f.write_str("Observed"),
        }
    }
}

impl QueueBatch {
    /// Whether each message's id names it alone, for as long as the queue lives (a PostgreSQL
    /// queue row's id). Such a message, redelivered after a crash, is known by its id and not
    /// sent again; an AQ message's id here is its place and enqueue time, which can repeat.
    pub fn ids_are_unique(&self) -> bool {
        matches!(*self.transaction, BatchTransaction::Postgres(_))
    }

    /// Removes the batch's messages from the queue, for good.
    pub async fn commit(self) -> Result<(), SourceError> {
        match *self.transaction {
            BatchTransaction::Postgres(transaction) => transaction.end(true).await,
            #[cfg(feature = "oracle")]
            BatchTransaction::Oracle(transaction) => transaction.end(true).await,
            #[cfg(test)]
            BatchTransaction::Observed(observe) => {
                observe("commit");
                Ok(())
            }
        }
    }

    /// Leaves the batch's messages in the queue for the next run.
    pub async fn rollback(self) -> Result<(), SourceError> {
        match *self.transaction {
            BatchTransaction::Postgres(transaction) => transaction.end(false).await,
            #[cfg(feature = "oracle")]
            BatchTransaction::Oracle(transaction) => transaction.end(false).await,
            #[cfg(test)]
            BatchTransaction::Observed(observe) => {
                observe("rollback");
                Ok(())
            }
        }
    }

    /// A batch whose end `observe` is told of, for tests of the poll engine.
    #[cfg(test)]
    pub(crate) fn observed(
        messages: Vec<QueueMessage>,
        observe: impl FnOnce(&'static str) + Send + 'static,
    ) -> Self {
        Self {
            messages,
            transaction: Box::new(BatchTransaction::Observed(Box::new(observe))),
        }
    }

    /// Messages dequeued from Oracle AQ in `transaction`.
    #[cfg(feature = "oracle")]
    pub(super) fn oracle(
        messages: Vec<QueueMessage>,
        transaction: super::oracle::AqTransaction,
    ) -> Self {
        Self {
            messages,
            transaction: Box::new(BatchTransaction::Oracle(transaction)),
        }
    }

    /// Messages taken off a PostgreSQL queue table in `transaction`.
    pub(super) fn postgres(
        messages: Vec<QueueMessage>,
        transaction: super::postgres::QueueTransaction,
    ) -> Self {
        Self {
            messages,
            transaction: Box::new(BatchTransaction::Postgres(transaction)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(yaml: serde_json::Value) -> QueueKeys {
        serde_json::from_value(yaml).unwrap()
    }

    #[test]
    fn postgres_takes_a_table_and_refuses_oracle_keys() {
        let queue = keys(serde_json::json!({"table": "dbalert_queue"}))
            .resolve("db", SourceKind::Postgres)
            .unwrap();
        assert!(
            matches!(queue, Queue::Table(QueueConfig { table }) if table.to_string() == "dbalert_queue")
        );
        let problems = keys(serde_json::json!({"table": "q", "name": "A.B", "consumer": "C"}))
            .resolve("db", SourceKind::Postgres)
            .unwrap_err();
        let keys_named: Vec<&str> = problems.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys_named, ["name", "consumer"]);
        assert!(
            problems[0].1.contains("queue: {table: dbalert_queue}"),
            "{problems:?}"
        );
        let problems = keys(serde_json::json!({}))
            .resolve("db", SourceKind::Postgres)
            .unwrap_err();
        assert!(
            problems[0].1.contains("missing key `table`"),
            "{problems:?}"
        );
    }

    #[test]
    fn oracle_takes_a_name_and_refuses_a_table() {
        let queue =
            keys(serde_json::json!({"name": "dbalert_owner.alert_q", "consumer": "dbalert"}))
                .resolve("db", SourceKind::Oracle)
                .unwrap();
        let Queue::Aq(aq) = queue else { panic!() };
        assert_eq!(
            aq,
            AqQueue {
                name: "DBALERT_OWNER.ALERT_Q".into(),
                consumer: Some("DBALERT".into()),
                payload: AqPayload::Raw,
                wait: std::time::Duration::from_secs(5),
            }
        );
        let problems = keys(serde_json::json!({"table": "q"}))
            .resolve("db", SourceKind::Oracle)
            .unwrap_err();
        let keys_named: Vec<&str> = problems.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys_named, ["table", ""]);
        assert!(
            problems[0].1.contains("an oracle source reads an AQ queue"),
            "{problems:?}"
        );
        let problems = keys(serde_json::json!({"table": "q"}))
            .resolve("db", SourceKind::Sqlite)
            .unwrap_err();
        assert!(
            problems[0].1.contains("source `db` cannot hold a queue"),
            "{problems:?}"
        );
    }

    #[test]
    fn object_and_server_alert_payloads() {
        let object =
            keys(serde_json::json!({"name": "APP.Q", "payload": {"object": "app.alert_t"}}))
                .resolve("db", SourceKind::Oracle)
                .unwrap();
        assert!(
            matches!(&object, Queue::Aq(AqQueue { payload: AqPayload::Object(OracleName(t)), consumer: None, .. }) if t == "APP.ALERT_T"),
            "{object:?}"
        );
        let alerts = keys(serde_json::json!({"name": "sys.alert_que", "consumer": "DBALERT"}))
            .resolve("db", SourceKind::Oracle)
            .unwrap();
        assert!(matches!(
            alerts,
            Queue::Aq(AqQueue {
                payload: AqPayload::ServerAlert,
                ..
            })
        ));
        let problems = keys(serde_json::json!({"name": "SYS.ALERT_QUE", "payload": "raw"}))
            .resolve("db", SourceKind::Oracle)
            .unwrap_err();
        let keys_named: Vec<&str> = problems.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys_named, ["payload", ""], "{problems:?}");
        assert!(
            serde_json::from_value::<QueueKeys>(
                serde_json::json!({"name": "A.B", "payload": "json"})
            )
            .is_err()
        );
    }

    #[test]
    fn aq_wait_is_whole_seconds_at_most_a_minute_and_under_the_call_timeout() {
        let aq = |wait: &str| {
            keys(serde_json::json!({"name": "A.Q", "wait": wait})).resolve("db", SourceKind::Oracle)
        };
        assert!(aq("90s").is_err());
        assert!(aq("1500ms").is_err());
        let Ok(Queue::Aq(queue)) = aq("10s") else {
            panic!()
        };
        let secs = std::time::Duration::from_secs;
        // (mode, call_timeout, seconds waited)
        for (wait, timeout, expected) in [
            (QueueWait::NoWait, None, 0),
            (QueueWait::NoWait, Some(secs(30)), 0),
            (QueueWait::Bounded, None, 10),
            (QueueWait::Bounded, Some(secs(30)), 10),
            (QueueWait::Bounded, Some(secs(4)), 3),
            (
                QueueWait::Bounded,
                Some(std::time::Duration::from_millis(500)),
                0,
            ),
        ] {
            assert_eq!(
                queue.wait_seconds(wait, timeout),
                expected,
                "{wait:?} {timeout:?}"
            );
        }
    }

    #[test]
    fn oracle_names_are_checked() {
        for good in [
            "ALERT_Q",
            "dbalert_owner.alert_q",
            "SYS.ALERT_QUE",
            "A$B#1.C",
        ] {
            assert!(OracleName::try_from(good.to_owned()).is_ok(), "{good}");
        }
        for bad in ["", "a.b.c", "1Q", "Q; DROP", "\"Q\"", "a.", "_q"] {
            assert!(OracleName::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_table_is_listened_for_on_its_name_without_schema() {
        for (table, channel) in [
            ("dbalert_queue", "dbalert_queue"),
            ("App.Alert_Queue", "alert_queue"),
        ] {
            let table = QueueTable::try_from(table.to_owned()).unwrap();
            assert_eq!(table.channel(), channel);
        }
    }

    #[test]
    fn table_names_are_checked() {
        for good in ["dbalert_queue", "app.dbalert_queue", "_q1"] {
            assert!(QueueTable::try_from(good.to_owned()).is_ok(), "{good}");
        }
        for bad in ["", "a.b.c", "q; drop table x", "1q", "\"Q\"", "a."] {
            assert!(QueueTable::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }
}
