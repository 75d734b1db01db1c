//! Sources: the databases checks read from, behind one small interface.
//!
//! A [`Source`] runs one check query ([`Source::fetch`]), proves it can connect
//! ([`Source::check`], behind `dbalert check --connect`) and takes messages off a queue
//! ([`Source::dequeue`]). It is an enum over the drivers rather than a trait object, so that its
//! methods can be plain `async fn`s; Oracle joins as one more variant with the same methods.
//!
//! This module owns connecting, running SQL read-only (and, for an action's `call`, in a
//! transaction committed on success: [`Statement`]), and turning column values into
//! [`Value`]s. It does not know about checks, alerts, labels or state: the poll engine decides
//! what a row means, which cursor to bind, and when to commit a [`QueueBatch`].

mod listen;
pub mod oracle;
mod postgres;
mod queue;
mod row;
mod sqlite;
mod statement;

use std::fmt;

use serde::Deserialize;

use crate::config::duration::Duration;

pub use listen::Wakeups;
#[cfg(feature = "oracle")]
pub use oracle::{OracleSource, OracleSourceConfig};
pub use postgres::{PostgresSource, PostgresSourceConfig};
pub use queue::{
    AqPayload, AqQueue, Effect, OracleName, Queue, QueueBatch, QueueConfig, QueueKeys,
    QueueMessage, QueueTable, QueueWait,
};
pub use row::{MAX_TEXT_CHARS, Rows, Value, ValueKind, from_hex};
pub use sqlite::{SqliteSource, SqliteSourceConfig};
pub use statement::{Access, Bind, Outcome, Statement};

/// A source's name as written under `sources:`; checks refer to it, and it becomes the `source`
/// label of their alerts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(transparent)]
pub struct SourceName(pub String);

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A source's kind, as the config names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKind {
    Sqlite,
    Postgres,
    Oracle,
}

impl SourceKind {
    /// The kind's name as written in the config: `sqlite`, `postgres` or `oracle`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::Oracle => "oracle",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry under `sources:` as written: exactly one kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    /// A SQLite database file, opened read-only.
    Sqlite(SqliteSourceConfig),
    /// An Oracle database (needs Oracle Instant Client at run time).
    #[cfg(feature = "oracle")]
    Oracle(OracleSourceConfig),
    /// A PostgreSQL server.
    Postgres(PostgresSourceConfig),
}

impl SourceConfig {
    pub fn kind(&self) -> SourceKind {
        match self {
            Self::Sqlite(_) => SourceKind::Sqlite,
            Self::Postgres(_) => SourceKind::Postgres,
            #[cfg(feature = "oracle")]
            Self::Oracle(_) => SourceKind::Oracle,
        }
    }

    /// Checks the config and prepares the source; nothing connects until the first query.
    pub fn build(&self, name: SourceName) -> Result<Source, SourceError> {
        Ok(match self {
            Self::Sqlite(config) => Source::Sqlite(config.build(name)),
            #[cfg(feature = "oracle")]
            Self::Oracle(config) => Source::Oracle(config.build(name)?),
            Self::Postgres(config) => Source::Postgres(config.build(name)?),
        })
    }
}

/// A database that checks read from.
// Built once per source and never moved around in bulk, so the size of the largest variant
// does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Source {
    Sqlite(SqliteSource),
    Postgres(PostgresSource),
    #[cfg(feature = "oracle")]
    Oracle(OracleSource),
}

impl Source {
    pub fn name(&self) -> &SourceName {
        match self {
            Self::Sqlite(source) => source.name(),
            #[cfg(feature = "oracle")]
            Self::Oracle(source) => source.name(),
            Self::Postgres(source) => source.name(),
        }
    }

    /// Runs one check query read-only and returns every row. `cursor` is bound to the query's
    /// cursor parameter (`:cursor` on SQLite, `$1` on PostgreSQL) with its own type; `None`
    /// binds NULL. A query without that parameter ignores it.
    pub async fn fetch(&self, sql: &str, cursor: Option<&Value>) -> Result<Rows, SourceError> {
        match self {
            Self::Sqlite(source) => source.fetch(sql, cursor).await,
            #[cfg(feature = "oracle")]
            Self::Oracle(source) => source.fetch(sql, cursor).await,
            Self::Postgres(source) => source.fetch(sql, cursor).await,
        }
    }

    /// Runs one statement for a person (an action), with its values bound; see [`Statement`].
    pub async fn execute(&self, statement: &Statement) -> Result<Outcome, SourceError> {
        match self {
            Self::Sqlite(source) => source.execute(statement).await,
            #[cfg(feature = "oracle")]
            Self::Oracle(source) => source.execute(statement).await,
            Self::Postgres(source) => source.execute(statement).await,
        }
    }

    /// Connects and runs a trivial query, for `dbalert check --connect`.
    pub async fn check(&self) -> Result<(), SourceError> {
        match self {
            Self::Sqlite(source) => source.check().await,
            #[cfg(feature = "oracle")]
            Self::Oracle(source) => source.check().await,
            Self::Postgres(source) => source.check().await,
        }
    }

    /// Takes up to `limit` messages off `queue`, in order, inside a transaction that the
    /// returned batch owns: [`QueueBatch::commit`] once every notification for them was
    /// accepted, [`QueueBatch::rollback`] (or drop the batch) to leave them for the next run.
    /// `wait` says whether an empty AQ queue is waited on (`dbalert run`) or not (`poll`).
    pub async fn dequeue(
        &self,
        queue: &Queue,
        limit: usize,
        wait: QueueWait,
    ) -> Result<QueueBatch, SourceError> {
        match (self, queue) {
            (Self::Postgres(source), Queue::Table(table)) => source.dequeue(table, limit).await,
            #[cfg(feature = "oracle")]
            (Self::Oracle(source), Queue::Aq(aq)) => source.dequeue(aq, limit, wait).await,
            // The config loader checks the queue's form against the source's kind.
            _ => {
                let _ = (limit, wait);
                Err(SourceError::Unsupported {
                    name: self.name().clone(),
                    what: "this kind of queue",
                    kind: self.kind(),
                })
            }
        }
    }

    /// Whether a dequeue of `queue` under `run` blocks until a message comes or its wait
    /// ends (an Oracle AQ queue with a `wait`), so that `run` can dequeue again at once.
    pub fn dequeue_waits(&self, queue: &Queue) -> bool {
        match (self, queue) {
            #[cfg(feature = "oracle")]
            (Self::Oracle(source), Queue::Aq(aq)) => source.dequeue_waits(aq),
            _ => false,
        }
    }

    /// Listens for new messages in the queue tables `queues` of this source, waking it in
    /// `wakeups`, until the future is dropped (see [`Wakeups`]). Only PostgreSQL can; on other
    /// sources this returns at once and their queues are polled at their interval.
    pub async fn listen(&self, queues: &[&QueueTable], wakeups: &Wakeups) {
        let Self::Postgres(source) = self else {
            return;
        };
        let mut channels: Vec<String> = queues.iter().map(|q| q.channel()).collect();
        channels.sort();
        channels.dedup();
        source.listen(&channels, wakeups).await;
    }

    /// Adds the `deadlock_*` columns of [`oracle::trace::Deadlock::labels`] to rows that name a
    /// deadlock trace file (`trace_file`, and `adr_home` and `inst_id` when the query has them). A trace that
    /// cannot be read leaves its row as it is, with a warning; the check does not fail.
    pub async fn add_deadlock_labels(&self, check: &str, rows: Rows) -> Rows {
        match self {
            #[cfg(feature = "oracle")]
            Self::Oracle(source) => source.add_deadlock_labels(check, rows).await,
            // The config loader allows `deadlock_trace` on Oracle sources only.
            _ => {
                let _ = check;
                rows
            }
        }
    }

    pub fn kind(&self) -> SourceKind {
        match self {
            Self::Sqlite(_) => SourceKind::Sqlite,
            Self::Postgres(_) => SourceKind::Postgres,
            #[cfg(feature = "oracle")]
            Self::Oracle(_) => SourceKind::Oracle,
        }
    }
}

/// Why a source could not answer. Every message names the source and says what to do; none
/// holds a password or a connection URL.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The config cannot make a source (an unparsable URL, an unreadable CA file).
    #[error("source `{name}`: {message}")]
    Config { name: SourceName, message: String },
    /// The database could not be reached, or refused the login.
    #[error(
        "source `{name}`: cannot connect: {message}; check the connection settings and that the database is up"
    )]
    Connect { name: SourceName, message: String },
    /// The database refused the login (wrong user or password, an expired or locked account).
    #[error("source `{name}`: the login was refused: {message}; check the user and password")]
    Authentication { name: SourceName, message: String },
    /// The connection dropped while the query ran.
    #[error("source `{name}`: lost the connection: {message}; the check runs again next time")]
    ConnectionLost { name: SourceName, message: String },
    /// The database rejected or failed the query.
    #[error("source `{name}`: the query failed: {message}; fix the check's sql")]
    Query { name: SourceName, message: String },
    /// The query ran longer than the source's `statement_timeout` and was cancelled.
    #[error(
        "source `{name}`: the query was cancelled after the statement_timeout of {timeout}; make it faster or raise statement_timeout"
    )]
    Timeout { name: SourceName, timeout: Duration },
    /// A column value could not be read.
    #[error("source `{name}`: column `{column}`: {message}")]
    Decode {
        name: SourceName,
        column: String,
        message: String,
    },
    /// The source kind cannot do what was asked.
    #[error("source `{name}`: {kind} sources do not support {what}")]
    Unsupported {
        name: SourceName,
        what: &'static str,
        kind: SourceKind,
    },
}
