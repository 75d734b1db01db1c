//! The Oracle driver layer, on the `oracle` crate (ODPI-C): connect, tag the session, run one
//! query with `:cursor` bound, dequeue AQ messages, read trace files. Everything it reads is
//! handed as (type, text) to the pure code beside it ([`super::value`], [`super::aq`],
//! [`super::trace`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use jiff::civil::DateTime;
use oracle::aq::{DeqMode, DeqNavigation, DeqOptions, Visibility};
use oracle::sql_type::{OracleType, ToSql};
use serde::Deserialize;
use tracing::warn;

use super::aq::{self as oracle_aq, Attribute, Envelope, ObjectDequeue, Reason, ServerAlert};
use super::trace::{self as oracle_trace, TraceError, TraceRef};
use super::value::value_of;
use crate::config::duration::Duration;
use crate::config::secret::Secret;
use crate::source::{Access, Bind, Outcome, Rows, SourceError, SourceName, Statement, Value};
use crate::source::{AqPayload, AqQueue, OracleName, QueueBatch, QueueMessage, QueueWait};

/// Rows fetched per round trip; alert queries return tens to thousands of rows.
const FETCH_ARRAY_SIZE: u32 = 500;
/// The most text read from one trace file. A longer trace is not parsed: the newest deadlock,
/// the one the alert line points at, could lie beyond what was read.
const MAX_TRACE_BYTES: usize = 8 * 1024 * 1024;
/// What `DPI-1047` (no client library) is followed by in the error.
const INSTANT_CLIENT_HINT: &str = "install Oracle Instant Client (Basic or Basic Light, 19 or later) and put its directory in LD_LIBRARY_PATH or set lib_dir on the source; on Debian and Ubuntu it also needs libaio1 (libaio1t64 on Ubuntu 24.04, with a libaio.so.1 symlink); see docs/oracle.md";

/// `sources.<name>.oracle` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OracleSourceConfig {
    /// EZConnect (`//db1.example.com:1521/PROD`, `tcps://…`) or a TNS alias from
    /// `tnsnames.ora` (found through `TNS_ADMIN`, where a wallet also lives).
    pub connect: String,
    /// The database user; `proxy_user[target_user]` for a proxy connection. Leave out `user`
    /// and `password` for external authentication (a wallet or OS authentication, `"/"`).
    pub user: Option<String>,
    /// The user's password: `${env:NAME}` or `${file:PATH}`.
    pub password: Option<Secret>,
    /// The Instant Client directory, when it is not on the library path.
    pub lib_dir: Option<PathBuf>,
    /// The longest one round trip to the database may take (a query included), e.g. `30s`.
    /// Needs an 18c or later client. Default: no limit. Not 0, which Oracle reads as no limit.
    #[serde(default, deserialize_with = "crate::config::duration::non_zero")]
    pub call_timeout: Option<Duration>,
}

impl OracleSourceConfig {
    /// Checks what can be checked without a client; nothing connects.
    pub fn build(&self, name: SourceName) -> Result<OracleSource, SourceError> {
        if self.user.is_some() != self.password.is_some() {
            return Err(SourceError::Config {
                name,
                message: "give both `user` and `password`, or neither for external authentication (a wallet)".to_owned(),
            });
        }
        Ok(OracleSource {
            name,
            config: self.clone(),
            connection: Arc::new(Mutex::new(None)),
            idle_queue_connection: Arc::new(Mutex::new(None)),
        })
    }
}

/// An Oracle database that checks read from.
#[derive(Debug)]
pub struct OracleSource {
    name: SourceName,
    config: OracleSourceConfig,
    /// Kept between runs of `dbalert run`; dropped after an error so the next run reconnects.
    connection: Arc<Mutex<Option<Connection>>>,
    /// A connection for queue batches, back here once a batch's transaction ended, so that the
    /// next batch does not log in again. A batch in flight holds its own.
    idle_queue_connection: Arc<Mutex<Option<Connection>>>,
}

/// `oracle::Connection` without the `Debug` the crate does not give it.
struct Connection(oracle::Connection);

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connection")
    }
}

impl OracleSource {
    pub fn name(&self) -> &SourceName {
        &self.name
    }

    pub async fn fetch(&self, sql: &str, cursor: Option<&Value>) -> Result<Rows, SourceError> {
        let sql = sql.to_owned();
        let cursor = cursor.cloned();
        self.blocking(move |conn| query(conn, &sql, cursor.as_ref()))
            .await
    }

    pub async fn check(&self) -> Result<(), SourceError> {
        self.blocking(|conn| conn.ping()).await
    }

    /// Runs an action's statement on a connection of its own, tagged with who asked.
    pub async fn execute(&self, statement: &Statement) -> Result<Outcome, SourceError> {
        let config = self.config.clone();
        let statement = statement.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let conn = connect(&config)?;
            let outcome = run_statement(&conn, &statement);
            if outcome.is_err() {
                // Closing would roll back too; saying so keeps the rule in one place.
                let _ = conn.rollback();
            }
            outcome
        })
        .await
        .map_err(|err| self.worker_stopped(&err))?;
        outcome.map_err(|err| describe(&self.name, &err))
    }

    /// Whether a dequeue of `queue` under `run` blocks on an empty queue: its `wait`, kept
    /// under the source's `call_timeout`, is a second or more.
    pub fn dequeue_waits(&self, queue: &AqQueue) -> bool {
        let call_timeout = self.config.call_timeout.map(|t| t.get());
        queue.wait_seconds(QueueWait::Bounded, call_timeout) > 0
    }

    /// Dequeues up to `limit` messages in a transaction the returned batch owns.
    pub async fn dequeue(
        &self,
        queue: &AqQueue,
        limit: usize,
        wait: QueueWait,
    ) -> Result<QueueBatch, SourceError> {
        let config = self.config.clone();
        let idle = self.idle_queue_connection.clone();
        let queue = queue.clone();
        let wait_seconds = queue.wait_seconds(wait, config.call_timeout.map(|t| t.get()));
        let outcome = tokio::task::spawn_blocking(move || {
            let reused = idle.lock().unwrap_or_else(|p| p.into_inner()).take();
            let connection = match reused {
                Some(connection) => connection,
                None => Connection(connect(&config)?),
            };
            // On an error the connection is dropped here, and closing it rolls back whatever
            // this call dequeued.
            let messages = dequeue_on(&connection.0, &queue, limit, wait_seconds)?;
            Ok((connection, messages))
        })
        .await
        .map_err(|err| self.worker_stopped(&err))?;
        let (connection, messages) = outcome.map_err(|err| describe(&self.name, &err))?;
        Ok(QueueBatch::oracle(
            messages,
            AqTransaction {
                name: self.name.clone(),
                connection,
                idle: self.idle_queue_connection.clone(),
            },
        ))
    }

    /// Reads the deadlock trace each row names and adds its labels (see
    /// [`oracle_trace::add_labels`]); on any problem the rows are kept as they are and the
    /// check goes on, with a warning.
    pub async fn add_deadlock_labels(&self, check: &str, rows: Rows) -> Rows {
        let kept = rows.clone();
        let outcome = self
            .blocking(move |conn| {
                let mut rows = rows;
                let warnings = oracle_trace::add_labels(&mut rows, |trace| read_trace(conn, trace));
                Ok((rows, warnings))
            })
            .await;
        match outcome {
            Ok((rows, warnings)) => {
                for warning in warnings {
                    warn!(check, source = %self.name, %warning, "Deadlock trace not read; the alert goes without its deadlock labels.");
                }
                rows
            }
            Err(error) => {
                warn!(check, source = %self.name, %error, "Deadlock traces not read; the alerts go without their deadlock labels.");
                kept
            }
        }
    }

    fn worker_stopped(&self, err: &tokio::task::JoinError) -> SourceError {
        SourceError::Query {
            name: self.name.clone(),
            message: format!("the Oracle worker stopped: {err}"),
        }
    }

    /// Runs `work` on a connection, on the blocking pool; errors name this source.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&oracle::Connection) -> oracle::Result<T> + Send + 'static,
    ) -> Result<T, SourceError> {
        let config = self.config.clone();
        let slot = self.connection.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(Connection(connect(&config)?));
            }
            let conn = &slot.as_ref().expect("connected just above").0;
            let result = work(conn);
            if result.is_err() {
                // A broken session is not reused; a fresh one costs one round trip.
                *slot = None;
            }
            result
        })
        .await
        .map_err(|err| self.worker_stopped(&err))?;
        outcome.map_err(|err| describe(&self.name, &err))
    }
}

/// The open transaction of a dequeued AQ batch: the connection it was dequeued on.
pub struct AqTransaction {
    name: SourceName,
    connection: Connection,
    /// Where the connection goes once the transaction ended.
    idle: Arc<Mutex<Option<Connection>>>,
}

impl std::fmt::Debug for AqTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oracle")
            .field("source", &self.name)
            .finish_non_exhaustive()
    }
}

impl AqTransaction {
    /// Commits (the messages are gone) or rolls back (AQ counts an attempt and, after the
    /// queue's `max_retries`, moves the message to the exception queue). Dropped without this,
    /// the connection closes, which rolls back too.
    pub async fn end(self, commit: bool) -> Result<(), SourceError> {
        let Self {
            name,
            connection,
            idle,
        } = self;
        let outcome = tokio::task::spawn_blocking(move || {
            let result = if commit {
                connection.0.commit()
            } else {
                connection.0.rollback()
            };
            if result.is_ok() {
                let mut slot = idle.lock().unwrap_or_else(|p| p.into_inner());
                if slot.is_none() {
                    *slot = Some(connection);
                }
            }
            result
        })
        .await
        .map_err(|err| SourceError::Query {
            name: name.clone(),
            message: format!("the Oracle worker stopped: {err}"),
        })?;
        outcome.map_err(|err| describe(&name, &err))
    }
}

/// Up to `limit` messages, dequeued one at a time in the connection's transaction (visibility
/// ON_COMMIT, mode REMOVE): the first dequeue takes a fresh look at the queue and waits up to
/// `wait_seconds`, the next ones take the following messages without waiting. One at a time,
/// because the crate's `dequeue_many` is OCI array dequeue, which leaks client memory on
/// every call (python-oracledb #340, node-oracledb #1524, godror #382, ODPI-C #198).
fn dequeue_on(
    conn: &oracle::Connection,
    queue: &AqQueue,
    limit: usize,
    wait_seconds: u32,
) -> oracle::Result<Vec<QueueMessage>> {
    let mut messages = Vec::new();
    match &queue.payload {
        AqPayload::Raw => {
            let mut aq = oracle::aq::Queue::<[u8]>::new(conn, &queue.name, &())?;
            set_dequeue_options(aq.deq_options()?, queue, wait_seconds, true)?;
            while messages.len() < limit {
                if messages.len() == 1 {
                    set_dequeue_options(aq.deq_options()?, queue, 0, false)?;
                }
                // `dequeue` (OCIAQDeq) copies a RAW payload. On an empty queue the crate
                // returns properties with a NULL handle, which ODPI-C refuses with DPI-1002
                // (it checks every handle): that is the end of the batch.
                let props = aq.dequeue()?;
                let attempts = match props.num_attempts() {
                    Ok(attempts) => attempts,
                    Err(err) if err.dpi_code() == Some(1002) => break,
                    Err(err) => return Err(err),
                };
                let envelope = Envelope {
                    position: messages.len() + 1,
                    enq_time: props.enq_time()?.to_string(),
                    attempts,
                };
                messages.push(oracle_aq::raw_message(&envelope, &props.payload()?));
            }
        }
        AqPayload::Object(OracleName(type_name)) => {
            let mut dequeue = ObjectQueue::new(conn, queue, &conn.object_type(type_name)?)?;
            while messages.len() < limit {
                let Some((envelope, attributes)) = dequeue.next(messages.len(), wait_seconds)?
                else {
                    break;
                };
                messages.push(oracle_aq::object_message(&envelope, &attributes));
            }
        }
        AqPayload::ServerAlert => {
            let object_type = conn.object_type("SYS.ALERT_TYPE")?;
            let mut dequeue = ObjectQueue::new(conn, queue, &object_type)?;
            while messages.len() < limit {
                let Some((envelope, attributes)) = dequeue.next(messages.len(), wait_seconds)?
                else {
                    break;
                };
                let mut alert = oracle_aq::server_alert(&attributes);
                // A clear resolves an alert that already has its text.
                let reason = if alert.is_clear() {
                    None
                } else {
                    match reason(conn, &alert) {
                        Ok(reason) => reason,
                        Err(error) => {
                            alert.warnings.push(format!(
                                "its reason text could not be read from DBA_OUTSTANDING_ALERTS/DBA_ALERT_HISTORY ({error}); see sql/oracle/03_alert_que.sql"
                            ));
                            None
                        }
                    }
                };
                messages.push(alert.into_message(&envelope, reason.as_ref()));
            }
        }
    }
    Ok(messages)
}

/// Dequeue options of a RAW queue, all set: the crate's default wait is forever, and the
/// commit-after-delivery rule needs REMOVE with ON_COMMIT visibility. The first dequeue of a
/// batch uses FIRST_MESSAGE (a fresh look at the queue, in priority order), the next ones
/// NEXT_MESSAGE.
fn set_dequeue_options(
    options: &mut DeqOptions,
    queue: &AqQueue,
    wait_seconds: u32,
    first: bool,
) -> oracle::Result<()> {
    options.set_wait(&std::time::Duration::from_secs(wait_seconds.into()))?;
    options.set_visibility(&Visibility::OnCommit)?;
    options.set_mode(&DeqMode::Remove)?;
    options.set_navigation(if first {
        &DeqNavigation::FirstMessage
    } else {
        &DeqNavigation::NextMessage
    })?;
    if let Some(consumer) = &queue.consumer {
        options.set_consumer_name(consumer)?;
    }
    Ok(())
}

/// An object-payload queue, dequeued through the PL/SQL block of [`ObjectDequeue`] (never the
/// crate's `Queue::<Object>`, whose payload is released twice): one prepared statement per
/// batch, one execution per message.
struct ObjectQueue {
    statement: oracle::Statement,
    block: ObjectDequeue,
    /// Every attribute of the type, in order.
    attributes: Vec<(String, OracleType)>,
}

impl ObjectQueue {
    fn new(
        conn: &oracle::Connection,
        queue: &AqQueue,
        object_type: &oracle::sql_type::ObjectType,
    ) -> oracle::Result<Self> {
        let attributes: Vec<(String, OracleType)> = object_type
            .attributes()
            .iter()
            .map(|a| (a.name().to_owned(), a.oracle_type().clone()))
            .collect();
        let block = ObjectDequeue::new(object_type.schema(), object_type.name(), &attributes);
        let mut statement = conn.statement(&block.plsql).build()?;
        statement.bind("queue_name", &queue.name)?;
        statement.bind("consumer_name", &queue.consumer)?;
        Ok(Self {
            statement,
            block,
            attributes,
        })
    }

    /// The next message, or `None` when the queue has no more (after waiting up to
    /// `wait_seconds` for the first of a batch).
    fn next(
        &mut self,
        position: usize,
        wait_seconds: u32,
    ) -> oracle::Result<Option<(Envelope, Vec<Attribute>)>> {
        let first = position == 0;
        let statement = &mut self.statement;
        statement.bind(
            "wait_seconds",
            &i64::from(if first { wait_seconds } else { 0 }),
        )?;
        statement.bind("first_call", &i64::from(first))?;
        // OUT binds start NULL each time: the block leaves the attributes of a NULL payload
        // unset, and they must not keep the previous message's values.
        statement.bind("found", &OracleType::Int64)?;
        statement.bind("enq_time", &OracleType::Date)?;
        statement.bind("attempts", &OracleType::Int64)?;
        for (_, bind, bind_type) in &self.block.attributes {
            statement.bind(bind.as_str(), bind_type)?;
        }
        statement.execute(&[])?;
        if statement.bind_value::<_, Option<i64>>("found")? != Some(1) {
            return Ok(None);
        }
        let enq_time: Option<oracle::sql_type::Timestamp> = statement.bind_value("enq_time")?;
        let attempts: Option<i64> = statement.bind_value("attempts")?;
        let envelope = Envelope {
            position: position + 1,
            enq_time: enq_time.map(|t| t.to_string()).unwrap_or_default(),
            attempts: attempts.and_then(|a| i32::try_from(a).ok()).unwrap_or(0),
        };
        let attributes = self
            .attributes
            .iter()
            .enumerate()
            .map(|(at, (name, oracle_type))| {
                let bind = self.block.attributes.iter().find(|(i, _, _)| *i == at);
                // Attributes that make no label are not read at all.
                let text = match bind {
                    Some((_, bind, _)) => statement
                        .bind_value::<_, Option<String>>(bind.as_str())
                        .map_err(|err| err.to_string()),
                    None => Ok(None),
                };
                Attribute {
                    name: name.clone(),
                    oracle_type: oracle_type.clone(),
                    text,
                }
            })
            .collect();
        Ok(Some((envelope, attributes)))
    }
}

/// The reason text of a server alert ([`oracle_aq::REASON_SQL`]).
fn reason(conn: &oracle::Connection, alert: &ServerAlert) -> oracle::Result<Option<Reason>> {
    let identity = |key: &str| {
        alert
            .identity
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let binds: [(&str, Option<String>); 6] = [
        ("sequence_id", alert.sequence_id.clone()),
        ("reason_id", identity("reason_id")),
        ("owner", identity("owner")),
        ("object_type", identity("object_type")),
        ("object_name", identity("object_name")),
        ("subobject_name", identity("subobject_name")),
    ];
    let named: Vec<(&str, &dyn ToSql)> = binds
        .iter()
        .map(|(name, value)| (*name, value as &dyn ToSql))
        .collect();
    let mut rows = conn.query_named(oracle_aq::REASON_SQL, &named)?;
    match rows.next() {
        None => Ok(None),
        Some(row) => {
            let row = row?;
            Ok(Some(Reason {
                reason: row.get(0)?,
                suggested_action: row.get(1)?,
                resolution: row.get(2)?,
            }))
        }
    }
}

/// The text of a trace file ([`oracle_trace::TRACE_SQL`]).
fn read_trace(conn: &oracle::Connection, trace: TraceRef<'_>) -> Result<String, TraceError> {
    let classify = |err: oracle::Error| match err.oci_code() {
        // Table or view does not exist (before 12.2, or not granted), invalid identifier
        // (an older layout), insufficient privileges.
        Some(942 | 904 | 1031) => TraceError::Unavailable(format!(
            "GV$DIAG_TRACE_FILE_CONTENTS cannot be read ({err}); it needs Oracle 12.2 or later and GRANT SELECT ON SYS.GV_$DIAG_TRACE_FILE_CONTENTS (sql/oracle/01_user.sql)"
        )),
        _ => TraceError::Failed(err.to_string()),
    };
    let mut statement = conn
        .statement(oracle_trace::TRACE_SQL)
        .fetch_array_size(FETCH_ARRAY_SIZE)
        .prefetch_rows(FETCH_ARRAY_SIZE)
        .build()
        .map_err(classify)?;
    let lines = statement
        .query_named(&[
            ("trace_filename", &trace.name),
            ("adr_home", &trace.adr_home),
            ("inst_id", &trace.inst_id),
        ])
        .map_err(classify)?;
    let mut text = String::new();
    let mut count = 0;
    for line in lines {
        let line: Option<String> = line.map_err(classify)?.get(0).map_err(classify)?;
        text.push_str(line.as_deref().unwrap_or_default());
        text.push('\n');
        count += 1;
        if text.len() > MAX_TRACE_BYTES || count >= oracle_trace::MAX_TRACE_LINES {
            return Err(TraceError::Failed(format!(
                "it is longer than {} MiB or {} lines, so its newest deadlock may not be in what was read",
                MAX_TRACE_BYTES / (1024 * 1024),
                oracle_trace::MAX_TRACE_LINES
            )));
        }
    }
    Ok(text)
}

fn connect(config: &OracleSourceConfig) -> oracle::Result<oracle::Connection> {
    if let Some(dir) = &config.lib_dir {
        // Only the first call in a process takes effect; later ones are ignored by the crate.
        let _ = oracle::InitParams::new().oracle_client_lib_dir(dir)?.init();
    }
    let password = config.password.as_ref().map_or("", Secret::expose);
    let mut connector = oracle::Connector::new(
        config.user.as_deref().unwrap_or(""),
        password,
        &config.connect,
    );
    if config.user.is_none() {
        connector.external_auth(true);
    }
    let conn = connector.connect()?;
    // Seen in V$SESSION and audit records, so DBAs know who is polling.
    conn.set_module("dbalert")?;
    conn.set_client_identifier(concat!("dbalert/", env!("CARGO_PKG_VERSION")))?;
    if let Some(timeout) = config.call_timeout {
        conn.set_call_timeout(Some(timeout.get()))?;
    }
    Ok(conn)
}

fn query(conn: &oracle::Connection, sql: &str, cursor: Option<&Value>) -> oracle::Result<Rows> {
    let mut statement = conn
        .statement(sql)
        .fetch_array_size(FETCH_ARRAY_SIZE)
        .prefetch_rows(FETCH_ARRAY_SIZE)
        .build()?;
    let bound = cursor.map(bind);
    // Ask the statement, not the text: `:cursor` in a comment or a string literal is no bind.
    let binds_cursor = statement.bind_names().contains(&"CURSOR");
    let result = match (&bound, binds_cursor) {
        (_, false) => statement.query(&[])?,
        (Some(value), true) => statement.query_named(&[("cursor", value.as_ref())])?,
        (None, true) => statement.query_named(&[("cursor", &None::<String>)])?,
    };
    let columns: Vec<(String, OracleType)> = result
        .column_info()
        .iter()
        .map(|c| (c.name().to_owned(), c.oracle_type().clone()))
        .collect();
    let mut rows = Rows::new(columns.iter().map(|(name, _)| name));
    for row in result {
        rows.rows.push(row_values(&row?, &columns)?);
    }
    Ok(rows)
}

/// Runs one action statement with its values bound by name: `SET TRANSACTION READ ONLY` for a
/// query, a commit for a call that succeeded. The session shows who asked
/// (`CLIENT_IDENTIFIER`) and which action (`ACTION`), and the action's timeout bounds each round
/// trip.
fn run_statement(conn: &oracle::Connection, statement: &Statement) -> oracle::Result<Outcome> {
    conn.set_client_identifier(&statement.client_identifier)?;
    conn.set_action(&statement.tag)?;
    conn.set_call_timeout(Some(statement.timeout.get()))?;
    if statement.access == Access::ReadOnly {
        conn.execute("SET TRANSACTION READ ONLY", &[])?;
    }
    let mut stmt = conn
        .statement(&statement.sql)
        .fetch_array_size(FETCH_ARRAY_SIZE)
        .build()?;
    let mut values: Vec<(String, Box<dyn ToSql>)> = Vec::new();
    for name in stmt.bind_names() {
        let bind = statement.bind(name).ok_or_else(|| {
            oracle::Error::new(
                oracle::ErrorKind::InvalidBindName,
                format!(":{name} is not a parameter of this action"),
            )
        })?;
        let value: Box<dyn ToSql> = match bind {
            Bind::Int(v) => Box::new(*v),
            Bind::Text(v) => Box::new(v.clone()),
        };
        values.push((name.to_owned(), value));
    }
    let named: Vec<(&str, &dyn ToSql)> = values
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_ref()))
        .collect();
    let outcome = if stmt.is_query() {
        let result = stmt.query_named(&named)?;
        let columns: Vec<(String, OracleType)> = result
            .column_info()
            .iter()
            .map(|c| (c.name().to_owned(), c.oracle_type().clone()))
            .collect();
        let mut outcome = Outcome {
            rows: Rows::new(columns.iter().map(|(name, _)| name)),
            ..Outcome::default()
        };
        for row in result {
            let row = row?;
            if outcome.rows.rows.len() == statement.max_rows {
                outcome.more = true;
                break;
            }
            outcome.rows.rows.push(row_values(&row, &columns)?);
        }
        outcome
    } else {
        stmt.execute_named(&named)?;
        Outcome {
            affected: stmt.row_count()?,
            ..Outcome::default()
        }
    };
    match statement.access {
        Access::Commit => conn.commit()?,
        Access::ReadOnly => conn.rollback()?,
    }
    Ok(outcome)
}

/// One row's columns as values, read as text with their Oracle type.
fn row_values(row: &oracle::Row, columns: &[(String, OracleType)]) -> oracle::Result<Vec<Value>> {
    let mut values = Vec::with_capacity(columns.len());
    for (i, (name, oracle_type)) in columns.iter().enumerate() {
        let text: Option<String> = row.get(i)?;
        values.push(value_of(oracle_type, text).map_err(|message| {
            oracle::Error::new(
                oracle::ErrorKind::InvalidTypeConversion,
                format!("column {name}: {message}"),
            )
        })?);
    }
    Ok(values)
}

/// A cursor value as Oracle binds it.
fn bind(value: &Value) -> Box<dyn ToSql + Send> {
    match value {
        Value::Null => Box::new(None::<String>),
        Value::Int(i) => Box::new(*i),
        Value::Float(f) => Box::new(*f),
        Value::Bool(b) => Box::new(i64::from(*b)),
        Value::Timestamp(ts) => {
            let utc = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
            Box::new(oracle_timestamp(utc, Some(0)))
        }
        Value::DateTime(dt) => Box::new(oracle_timestamp(*dt, None)),
        other => Box::new(other.to_label()),
    }
}

fn oracle_timestamp(
    dt: DateTime,
    tz_offset_secs: Option<i32>,
) -> Option<oracle::sql_type::Timestamp> {
    let ts = oracle::sql_type::Timestamp::new(
        i32::from(dt.year()),
        dt.month() as u32,
        dt.day() as u32,
        dt.hour() as u32,
        dt.minute() as u32,
        dt.second() as u32,
        dt.subsec_nanosecond() as u32,
    )
    .and_then(|ts| match tz_offset_secs {
        Some(offset) => ts.and_tz_offset(offset),
        None => Ok(ts),
    });
    // jiff's date-times are always within Oracle's range; were one not, NULL binds instead.
    ts.ok()
}

/// An Oracle error as a [`SourceError`], with what to do for the ones users hit first.
fn describe(name: &SourceName, err: &oracle::Error) -> SourceError {
    let name = name.clone();
    let message = err.to_string();
    if let Some(hint) = err.oci_code().and_then(oracle_aq::hint) {
        return SourceError::Config {
            name,
            message: format!("{message}; {hint}"),
        };
    }
    match (err.dpi_code(), err.oci_code()) {
        (Some(1047), _) => SourceError::Connect {
            name,
            message: format!("{message}; {INSTANT_CLIENT_HINT}"),
        },
        // ORA-01017 invalid username/password, ORA-28000 account locked.
        (_, Some(1017 | 28000)) => SourceError::Authentication { name, message },
        (_, Some(12154 | 12514 | 12541 | 12170)) | (Some(1080 | 1010), _) => {
            SourceError::Connect { name, message }
        }
        (_, Some(3113 | 3114 | 3135)) => SourceError::ConnectionLost { name, message },
        _ => SourceError::Query { name, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The driver's own code, without its comments and this test module.
    fn driver_code() -> String {
        let source = include_str!("driver.rs");
        source[..source.find("#[cfg(test)]").unwrap_or(source.len())]
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// No array dequeue (client memory leak) and no object payload through the crate (released
    /// twice): messages come one at a time, objects through the PL/SQL block.
    #[test]
    fn dequeues_avoid_the_crate_pitfalls() {
        let code = driver_code();
        for pitfall in [
            "dequeue_many(",
            "Queue::<Object>",
            "Queue::<oracle::sql_type::Object>",
            ".message_id(",
        ] {
            assert!(!code.contains(pitfall), "driver.rs uses {pitfall}");
        }
        assert!(code.contains("ObjectDequeue::new("));
    }

    #[test]
    fn user_and_password_come_together() {
        let config = |user: Option<&str>, password: Option<&str>| OracleSourceConfig {
            connect: "//db:1521/PROD".into(),
            user: user.map(Into::into),
            password: password.map(Secret::new),
            lib_dir: None,
            call_timeout: None,
        };
        assert!(
            config(Some("dbalert"), Some("pw"))
                .build(SourceName("prod".into()))
                .is_ok()
        );
        assert!(
            config(None, None).build(SourceName("prod".into())).is_ok(),
            "external auth"
        );
        assert!(
            config(Some("dbalert"), None)
                .build(SourceName("prod".into()))
                .is_err()
        );
    }
}
