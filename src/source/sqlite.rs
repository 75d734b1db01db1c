//! SQLite sources: a database file, opened read-only for each query on tokio's blocking pool
//! (opening SQLite costs microseconds, and a fresh handle sees a file that was replaced). Only an
//! action's `call` opens it read-write, for that one statement.
//!
//! Values keep SQLite's storage classes: NULL, INTEGER → [`Value::Int`], REAL →
//! [`Value::Float`], TEXT → [`Value::Text`], BLOB → [`Value::Bytes`]. SQLite has no date or
//! boolean type, so a timestamp stored as text stays text and, bound back as a cursor, compares
//! exactly as it was stored. A cursor of another type (carried over from another source) is
//! bound in SQLite's own forms: booleans as 0/1, timestamps as `YYYY-MM-DD HH:MM:SS` text in
//! UTC, which is what `datetime()` writes.

use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode, InterruptHandle, OpenFlags, TransactionBehavior};
use serde::Deserialize;

use super::{Access, Bind, Outcome, Rows, SourceError, SourceName, Statement, Value};

/// How long a query waits for a writer that holds the database lock.
const BUSY_TIMEOUT: StdDuration = StdDuration::from_secs(5);

/// `sources.<name>.sqlite` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteSourceConfig {
    /// The SQLite database file. It must exist; dbalert opens it read-only.
    pub path: PathBuf,
}

impl SqliteSourceConfig {
    pub fn build(&self, name: SourceName) -> SqliteSource {
        SqliteSource {
            name,
            path: self.path.clone(),
        }
    }
}

/// A SQLite database file that checks read from.
#[derive(Debug)]
pub struct SqliteSource {
    name: SourceName,
    path: PathBuf,
}

impl SqliteSource {
    pub fn name(&self) -> &SourceName {
        &self.name
    }

    pub async fn fetch(&self, sql: &str, cursor: Option<&Value>) -> Result<Rows, SourceError> {
        let sql = sql.to_owned();
        let cursor = cursor.cloned();
        self.blocking(move |path| fetch(path, &sql, cursor.as_ref()))
            .await
    }

    /// Runs an action's statement. A `call` opens the file read-write for this statement only
    /// (checks always read it read-only). SQLite has no statement timeout: after `timeout` the
    /// statement is interrupted, which ends it at its next step.
    pub async fn execute(&self, statement: &Statement) -> Result<Outcome, SourceError> {
        let (handle_tx, handle_rx) = std::sync::mpsc::sync_channel::<InterruptHandle>(1);
        let path = self.path.clone();
        let owned = statement.clone();
        let mut task = tokio::task::spawn_blocking(move || {
            execute(&path, &owned, |handle| drop(handle_tx.send(handle)))
        });
        let joined = match tokio::time::timeout(statement.timeout.get(), &mut task).await {
            Ok(joined) => joined,
            Err(_) => {
                if let Ok(handle) = handle_rx.try_recv() {
                    handle.interrupt();
                }
                task.await
            }
        };
        let outcome = joined.map_err(|err| SourceError::Query {
            name: self.name.clone(),
            message: format!("the SQLite worker stopped: {err}"),
        })?;
        outcome.map_err(|err| match err.sqlite_error_code() {
            Some(ErrorCode::OperationInterrupted) => SourceError::Timeout {
                name: self.name.clone(),
                timeout: statement.timeout,
            },
            _ => self.error(err),
        })
    }

    pub async fn check(&self) -> Result<(), SourceError> {
        self.blocking(|path| {
            // Opening a file that is not a database succeeds; the first read finds out.
            open(path)?.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        })
        .await
    }

    /// Runs `work` on the blocking pool and names this source in its errors.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Path) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, SourceError> {
        let path = self.path.clone();
        let outcome = tokio::task::spawn_blocking(move || work(&path))
            .await
            .map_err(|err| SourceError::Query {
                name: self.name.clone(),
                message: format!("the SQLite worker stopped: {err}"),
            })?;
        outcome.map_err(|err| self.error(err))
    }

    /// A query's own fault says "fix the sql"; the file's (missing, unreadable, damaged,
    /// locked) names the file and what is wrong with it instead.
    fn error(&self, err: rusqlite::Error) -> SourceError {
        let name = self.name.clone();
        let path = self.path.display();
        let message = match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => format!(
                "{path} is locked: a writer held it for over {}s; the check runs again next time",
                BUSY_TIMEOUT.as_secs()
            ),
            Some(ErrorCode::DatabaseCorrupt) => {
                format!("{path} is damaged ({err}); restore it or point `path` at a good copy")
            }
            Some(
                ErrorCode::CannotOpen
                | ErrorCode::NotADatabase
                | ErrorCode::PermissionDenied
                | ErrorCode::SystemIoFailure
                | ErrorCode::FileLockingProtocolFailed,
            ) => {
                format!("{path}: {err}; check that the file exists and dbalert's user may read it")
            }
            _ => {
                return SourceError::Query {
                    name,
                    message: err.to_string(),
                };
            }
        };
        SourceError::Connect { name, message }
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

fn fetch(path: &Path, sql: &str, cursor: Option<&Value>) -> rusqlite::Result<Rows> {
    let conn = open(path)?;
    let mut stmt = conn.prepare(sql)?;
    let cursor_index = stmt.parameter_index(":cursor")?;
    if stmt.parameter_count() > usize::from(cursor_index.is_some()) {
        // Any other parameter would silently be NULL and match nothing.
        return Err(rusqlite::Error::InvalidParameterName(
            "the query has a parameter other than :cursor, and :cursor is the only one dbalert binds"
                .to_owned(),
        ));
    }
    if let Some(index) = cursor_index {
        stmt.raw_bind_parameter(index, to_sqlite(cursor.unwrap_or(&Value::Null)))?;
    }
    let mut rows = Rows::new(stmt.column_names());
    let width = rows.columns.len();
    let mut cursor = stmt.raw_query();
    while let Some(row) = cursor.next()? {
        let values = (0..width)
            .map(|i| row.get_ref(i).map(from_sqlite))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.rows.push(values);
    }
    Ok(rows)
}

/// Opens the file as `statement.access` allows, runs the statement in a transaction and commits
/// it only for a `call` that succeeded; dropping the transaction rolls it back.
fn execute(
    path: &Path,
    statement: &Statement,
    on_open: impl FnOnce(InterruptHandle),
) -> rusqlite::Result<Outcome> {
    let (flags, behavior) = match statement.access {
        Access::ReadOnly => (
            OpenFlags::SQLITE_OPEN_READ_ONLY,
            TransactionBehavior::Deferred,
        ),
        Access::Commit => (
            OpenFlags::SQLITE_OPEN_READ_WRITE,
            TransactionBehavior::Immediate,
        ),
    };
    let mut conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    on_open(conn.get_interrupt_handle());
    let tx = conn.transaction_with_behavior(behavior)?;
    let outcome = {
        let mut stmt = tx.prepare(&statement.sql)?;
        for index in 1..=stmt.parameter_count() {
            let name = stmt.parameter_name(index).unwrap_or("?").to_owned();
            let bind = name
                .strip_prefix(':')
                .and_then(|bare| statement.bind(bare))
                .ok_or_else(|| {
                    rusqlite::Error::InvalidParameterName(format!(
                        "{name} is not a parameter of this action; binds are written :name"
                    ))
                })?;
            let value = match bind {
                Bind::Int(v) => SqlValue::Integer(*v),
                Bind::Text(v) => SqlValue::Text(v.clone()),
            };
            stmt.raw_bind_parameter(index, value)?;
        }
        if stmt.column_count() == 0 {
            let affected = stmt.raw_execute()?;
            Outcome {
                affected: affected as u64,
                ..Outcome::default()
            }
        } else {
            read_rows(&mut stmt, statement.max_rows)?
        }
    };
    if statement.access == Access::Commit {
        tx.commit()?;
    }
    Ok(outcome)
}

/// At most `max_rows` rows, and whether more were left.
fn read_rows(stmt: &mut rusqlite::Statement<'_>, max_rows: usize) -> rusqlite::Result<Outcome> {
    let mut rows = Rows::new(stmt.column_names());
    let width = rows.columns.len();
    let mut cursor = stmt.raw_query();
    let mut more = false;
    while let Some(row) = cursor.next()? {
        if rows.rows.len() == max_rows {
            more = true;
            break;
        }
        let values = (0..width)
            .map(|i| row.get_ref(i).map(from_sqlite))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.rows.push(values);
    }
    Ok(Outcome {
        rows,
        more,
        affected: 0,
    })
}

fn from_sqlite(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Int(v),
        ValueRef::Real(v) => Value::Float(v),
        // SQLite does not check that TEXT is UTF-8; show what it can rather than fail the row.
        ValueRef::Text(bytes) => Value::text(String::from_utf8_lossy(bytes)),
        ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
    }
}

fn to_sqlite(value: &Value) -> SqlValue {
    const DATETIME: &str = "%Y-%m-%d %H:%M:%S%.f";
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(v) => SqlValue::Integer(i64::from(*v)),
        Value::Int(v) => SqlValue::Integer(*v),
        Value::Float(v) => SqlValue::Real(*v),
        Value::Timestamp(v) => SqlValue::Text(v.strftime(DATETIME).to_string()),
        Value::DateTime(v) => SqlValue::Text(v.strftime(DATETIME).to_string()),
        Value::Bytes(v) => SqlValue::Blob(v.clone()),
        Value::Numeric(_) | Value::Text(_) | Value::Date(_) | Value::Json(_) => {
            SqlValue::Text(value.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_bind_in_sqlite_forms() {
        let ts: jiff::Timestamp = "2024-06-01T10:00:00.25+02:00".parse().unwrap();
        assert_eq!(
            to_sqlite(&Value::Timestamp(ts)),
            SqlValue::Text("2024-06-01 08:00:00.25".into())
        );
        assert_eq!(
            to_sqlite(&Value::Date("2024-06-01".parse().unwrap())),
            SqlValue::Text("2024-06-01".into())
        );
        assert_eq!(to_sqlite(&Value::Bool(true)), SqlValue::Integer(1));
    }
}
