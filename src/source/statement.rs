//! One statement run for a person rather than a check: an action's SQL with its values bound by
//! name, never spliced into the text. A `query` runs read-only and returns at most `max_rows`
//! rows (plus whether more were left); a `call` runs in a transaction that commits only when the
//! statement succeeded and rolls back otherwise. Both are cut off after `timeout`.
//!
//! Each driver finds the binds its SQL uses: SQLite and Oracle by name (`:schema`), PostgreSQL by
//! position (`$1` is the first value of [`Statement::binds`], in order).

use super::Rows;
use crate::config::duration::Duration;

/// A value bound to a statement: an integer, or text sent exactly as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Int(i64),
    Text(String),
}

impl std::fmt::Display for Bind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(v) => write!(f, "{v}"),
            Self::Text(v) => f.write_str(v),
        }
    }
}

/// What a statement may do to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only: a read-only transaction (SQLite: a read-only open).
    ReadOnly,
    /// Read and write, committed on success only (SQLite: a read-write open for this statement).
    Commit,
}

/// A statement and everything it is run with.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sql: String,
    /// The values by bind name (lower case, without the colon), in bind order.
    pub binds: Vec<(String, Bind)>,
    pub access: Access,
    /// The most rows read back.
    pub max_rows: usize,
    pub timeout: Duration,
    /// Who asked, as the database session shows it (Oracle's `CLIENT_IDENTIFIER`).
    pub client_identifier: String,
    /// What was asked (Oracle's `ACTION`), e.g. `chatops:sessions`.
    pub tag: String,
}

impl Statement {
    /// The value bound as `name` (any case).
    pub fn bind(&self, name: &str) -> Option<&Bind> {
        self.binds
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, b)| b)
    }
}

/// What a statement returned.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The rows read, at most `max_rows` (empty columns for a statement that returns none).
    pub rows: Rows,
    /// Whether more rows were left unread.
    pub more: bool,
    /// Rows changed, for a statement that returns no rows.
    pub affected: u64,
}
