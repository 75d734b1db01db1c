//! Queues: messages taken off a database inside a transaction that the caller ends.
//!
//! A [`QueueBatch`] holds the messages and the open transaction that locks them. The poll engine
//! commits it (the messages are gone) only after every notification for them was accepted, and
//! rolls it back (or drops it) otherwise, so that a failed delivery or a crash leaves the
//! messages for the next run: at least once, never lost. The batch API does not depend on the
//! driver; Oracle AQ will add a variant to the private transaction enum.
//!
//! On PostgreSQL the queue is a table (`sql/postgres/queue.sql`) with at least `id bigint`,
//! which orders it, and `payload` (`jsonb`, `json` or `text`). A batch is
//! `SELECT id, payload … ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED` on a connection of its
//! own, so several pollers can share one queue without taking the same row; commit deletes the
//! batch's rows by id. Rows are deleted one by one rather than below a watermark, so a producer
//! whose transaction commits a smaller id late loses nothing.

use std::fmt;

use serde::Deserialize;
use tokio_postgres::Client;

use super::postgres::Errors;
use super::{SourceError, Value};

/// `queue:` of a check as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// PostgreSQL: the queue table, `name` or `schema.name`, as created by
    /// `sql/postgres/queue.sql`: at least `id bigint` (the order) and `payload` (jsonb or text).
    pub table: QueueTable,
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

impl fmt::Display for QueueTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One message off a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    /// The message's id in the queue, for logs (`id` of the queue table).
    pub id: String,
    /// [`Value::Json`] for a JSON payload, whose keys become labels; [`Value::Text`] otherwise.
    pub payload: Value,
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

enum BatchTransaction {
    Postgres {
        /// A connection of the batch's own, inside `BEGIN`; closing it rolls back.
        client: Client,
        errors: Errors,
        table: QueueTable,
        ids: Vec<i64>,
    },
}

impl fmt::Debug for BatchTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postgres { table, ids, .. } => f
                .debug_struct("Postgres")
                .field("table", table)
                .field("ids", ids)
                .finish_non_exhaustive(),
        }
    }
}

impl QueueBatch {
    /// Removes the batch's messages from the queue, for good.
    pub async fn commit(self) -> Result<(), SourceError> {
        match *self.transaction {
            BatchTransaction::Postgres {
                client,
                errors,
                table,
                ids,
            } => {
                if !ids.is_empty() {
                    // `$1::bigint[]` works for an `int` id column too and keeps its index usable.
                    let delete = format!("DELETE FROM {table} WHERE id = ANY($1::bigint[])");
                    client
                        .execute(&delete, &[&ids])
                        .await
                        .map_err(|err| errors.query(&err))?;
                }
                client
                    .batch_execute("COMMIT")
                    .await
                    .map_err(|err| errors.query(&err))
            }
        }
    }

    /// Leaves the batch's messages in the queue for the next run.
    pub async fn rollback(self) -> Result<(), SourceError> {
        match *self.transaction {
            BatchTransaction::Postgres { client, errors, .. } => client
                .batch_execute("ROLLBACK")
                .await
                .map_err(|err| errors.query(&err)),
        }
    }

    /// Starts a transaction on `client` (a connection of the batch's own) and locks up to
    /// `limit` rows of `table` that no other poller holds.
    pub(super) async fn postgres(
        client: Client,
        errors: Errors,
        table: &QueueTable,
        limit: usize,
    ) -> Result<Self, SourceError> {
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|err| errors.query(&err))?;
        if let Some(timeout) = errors.statement_timeout {
            let millis = timeout.get().as_millis().max(1);
            client
                .batch_execute(&format!("SET LOCAL statement_timeout = {millis}"))
                .await
                .map_err(|err| errors.query(&err))?;
        }
        let select =
            format!("SELECT id, payload FROM {table} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let statement = client
            .prepare(&select)
            .await
            .map_err(|err| errors.query(&err))?;
        let columns = ["id".to_owned(), "payload".to_owned()];
        let decoders = errors.decoders(statement.columns(), &columns)?;
        let rows = client
            .query(&statement, &[&limit])
            .await
            .map_err(|err| errors.query(&err))?;
        let mut messages = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut values = errors.decode_row(row, &decoders, &columns)?.into_iter();
            let (Some(Value::Int(id)), Some(payload)) = (values.next(), values.next()) else {
                return Err(errors.query_text(&format!(
                    "`id` of queue table {table} must be a bigint that is never NULL"
                )));
            };
            ids.push(id);
            messages.push(QueueMessage {
                id: id.to_string(),
                payload,
            });
        }
        Ok(Self {
            messages,
            transaction: Box::new(BatchTransaction::Postgres {
                client,
                errors,
                table: table.clone(),
                ids,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
