//! PostgreSQL sources: tokio-postgres, with TLS by rustls when the URL asks for it.
//!
//! - **Connection.** One connection per source, opened at the first query and opened again
//!   when the server has closed it (an idle timeout between two `run` intervals is not a
//!   failure). Queries on one source take turns on it. A queue batch gets a connection of its
//!   own, because it holds a transaction open until delivery is done; it is kept for the next
//!   batch once the transaction ended. Under `dbalert run` a
//!   source with queue checks also keeps one connection that `LISTEN`s for new messages
//!   ([`super::listen`]).
//! - **TLS.** `sslmode=require`, `verify-ca` or `verify-full` in the URL: TLS by rustls, and the
//!   server certificate is always verified against the system's roots (rustls-platform-verifier)
//!   plus `ca_file`. So `require` here is as strict as libpq's `verify-full`. Anything else:
//!   plain TCP, never a silent fallback from TLS.
//! - **Read only, one round trip.** Every check query runs in a `READ ONLY` transaction, with
//!   `SET LOCAL statement_timeout` when the source sets one. Its statement is prepared once
//!   per connection and kept, and `BEGIN`, the query and `COMMIT` are pipelined, so a check
//!   after its first run costs one round trip to the server (a check that finds nothing, one
//!   small answer).
//! - **Values.** Results come back in binary; the types dbalert knows are decoded
//!   into [`Value`]s (`numeric` into exact text, enums as their label). For a column of any
//!   other type (arrays, `uuid`, `interval`, `inet`, ranges, extension types, domains) the query
//!   runs again wrapped as `SELECT q.c1, q.c2::text, … FROM (<sql>) AS q (c1, c2, …)`: the
//!   server turns those columns into text with the type's own output function, and the other
//!   columns keep their types. The column aliases are positional, so duplicate or odd column
//!   names do not matter. Only a query that cannot be a subquery (`SHOW …`) fails, with an
//!   error asking for a `::text` cast.
//! - **Errors.** tokio-postgres errors say little on their own ("db error"), so messages are
//!   built from the server's message, SQLSTATE, detail and hint, or from the whole `source()`
//!   chain, and then scrubbed of the URL and password.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use bytes::BytesMut;
use futures_util::TryStreamExt;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};
use tokio_postgres::{
    AsyncMessage, Client, Column, Connection, GenericClient, NoTls, Row, Statement as PgStatement,
    Transaction,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{
    Access, Outcome, QueueBatch, QueueConfig, QueueMessage, QueueTable, Rows, SourceError,
    SourceName, Statement, Value,
};
use crate::config::duration::Duration;
use crate::config::secret::Secret;

/// Used when the URL sets no `connect_timeout`, so that an unreachable host fails the check
/// instead of hanging the run.
const DEFAULT_CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(10);

type BoxError = Box<dyn StdError + Sync + Send>;

/// `sources.<name>.postgres` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSourceConfig {
    /// The connection URL, `postgres://user:password@host:5432/dbname?sslmode=require`, or a
    /// `key=value` string as libpq takes it. `sslmode=require` (or `verify-ca`, `verify-full`)
    /// turns on TLS with a verified server certificate; without it the connection is plain.
    /// Usually `${env:NAME}` or `${file:PATH}`, since it holds the password.
    pub url: Secret,
    /// Cancels a query that runs longer than this (PostgreSQL's `statement_timeout`), e.g.
    /// `30s`. Default: the server's setting. Not 0, which PostgreSQL reads as "no limit".
    #[serde(default, deserialize_with = "crate::config::duration::non_zero")]
    pub statement_timeout: Option<Duration>,
    /// A PEM file of CA certificates to trust besides the system's, for a server certificate
    /// signed by a private CA. Needs `sslmode=require` in the URL.
    pub ca_file: Option<PathBuf>,
}

impl PostgresSourceConfig {
    /// Parses the URL and prepares TLS; nothing connects yet.
    pub fn build(&self, name: SourceName) -> Result<PostgresSource, SourceError> {
        let url = self.url.expose();
        let mut secrets = vec![url.to_owned()];
        let config_error = |message: String| SourceError::Config {
            name: name.clone(),
            message,
        };
        // tokio-postgres knows `disable`, `prefer` and `require` only. dbalert verifies the
        // certificate in every TLS mode, so the verify-* modes mean `require` here.
        let url_for_driver = url
            .replace("sslmode=verify-full", "sslmode=require")
            .replace("sslmode=verify-ca", "sslmode=require");
        let mut config: tokio_postgres::Config = url_for_driver.parse().map_err(|err| {
            config_error(format!(
                "`url` is not a PostgreSQL connection URL ({}); write postgres://user:password@host:5432/dbname",
                scrub(&describe(&err), &secrets)
            ))
        })?;
        if let Some(password) = config.get_password() {
            secrets.push(String::from_utf8_lossy(password).into_owned());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            // Lets a DBA see in pg_stat_activity who runs the query.
            config.application_name("dbalert");
        }
        let tls = match (config.get_ssl_mode(), &self.ca_file) {
            (SslMode::Require, ca_file) => {
                Some(tls_connector(ca_file.as_deref()).map_err(config_error)?)
            }
            (_, Some(_)) => {
                return Err(config_error(
                    "`ca_file` is set but the url does not ask for TLS; add sslmode=require to the url"
                        .to_owned(),
                ));
            }
            (_, None) => None,
        };
        Ok(PostgresSource {
            errors: Errors {
                name,
                secrets: secrets.into(),
                statement_timeout: self.statement_timeout,
            },
            config,
            tls,
            session: Mutex::new(None),
            idle_queue: IdleClient::default(),
        })
    }
}

/// A PostgreSQL database that checks read from.
pub struct PostgresSource {
    errors: Errors,
    config: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
    /// The connection check queries share; `None` until the first query or after it closed.
    session: Mutex<Option<Session>>,
    /// The connection of the last queue batch, back once its transaction ended.
    idle_queue: IdleClient,
}

impl fmt::Debug for PostgresSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSource")
            .field("name", &self.errors.name)
            .field("tls", &self.tls.is_some())
            .field("statement_timeout", &self.errors.statement_timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresSource {
    pub fn name(&self) -> &SourceName {
        &self.errors.name
    }

    pub async fn fetch(&self, sql: &str, cursor: Option<&Value>) -> Result<Rows, SourceError> {
        let mut slot = self.session.lock().await;
        let session = match slot.take() {
            Some(session) if !session.client.is_closed() => session,
            _ => Session {
                client: self.connect().await?,
                prepared: HashMap::new(),
            },
        };
        let session = slot.insert(session);
        let outcome = self.fetch_on(session, sql, cursor).await;
        // The driver task may not have noticed yet that the server hung up; the error has.
        if session.client.is_closed() || matches!(outcome, Err(SourceError::ConnectionLost { .. }))
        {
            *slot = None;
        }
        outcome
    }

    pub async fn check(&self) -> Result<(), SourceError> {
        self.fetch("SELECT 1", None).await.map(drop)
    }

    /// Runs an action's statement on a connection of its own (an action must not wait behind
    /// the checks, nor they behind it): `$1`, `$2`, … are the statement's values in order, sent
    /// as text for the server to parse as the types it inferred. `statement_timeout` is the
    /// action's `timeout`.
    pub async fn execute(&self, statement: &Statement) -> Result<Outcome, SourceError> {
        let mut client = self.connect().await?;
        let errors = Errors {
            statement_timeout: Some(statement.timeout),
            ..self.errors.clone()
        };
        let tx = client
            .build_transaction()
            .read_only(statement.access == Access::ReadOnly)
            .start()
            .await
            .map_err(|err| errors.query(&err))?;
        errors.set_statement_timeout(&tx).await?;
        let sql = &statement.sql;
        let prepared = tx.prepare(sql).await.map_err(|err| errors.query(&err))?;
        let wanted = prepared.params().len();
        if wanted > statement.binds.len() {
            return Err(errors.query_text(&format!(
                "the statement uses ${wanted}, but the action has {} values",
                statement.binds.len()
            )));
        }
        let values: Vec<CursorParam> = statement.binds[..wanted]
            .iter()
            .map(|(_, bind)| CursorParam(Some(bind.to_string())))
            .collect();
        let outcome = if prepared.columns().is_empty() {
            let affected = tx
                .execute_raw(&prepared, values.iter())
                .await
                .map_err(|err| errors.query(&err))?;
            Outcome {
                affected,
                ..Outcome::default()
            }
        } else {
            let names = Rows::new(prepared.columns().iter().map(|c| c.name())).columns;
            let prepared = errors.readable(&tx, sql, prepared, &names).await?;
            errors
                .read_some(&tx, &prepared, values, names, statement.max_rows)
                .await?
        };
        match statement.access {
            Access::Commit => tx.commit().await,
            Access::ReadOnly => tx.rollback().await,
        }
        .map_err(|err| errors.query(&err))?;
        Ok(outcome)
    }

    /// Takes up to `limit` messages off the queue table, on a connection of the batch's own:
    /// the one the last batch gave back, or a new one. A kept connection the server has closed
    /// meanwhile is replaced, so that an idle timeout does not fail the check.
    pub async fn dequeue(
        &self,
        queue: &QueueConfig,
        limit: usize,
    ) -> Result<QueueBatch, SourceError> {
        let (errors, table, idle) = (&self.errors, &queue.table, &self.idle_queue);
        if let Some(client) = idle.take() {
            match take_batch(client, errors.clone(), table, limit, idle.clone()).await {
                Err(SourceError::ConnectionLost { .. }) => {}
                outcome => return outcome,
            }
        }
        let client = self.connect().await?;
        take_batch(client, errors.clone(), table, limit, idle.clone()).await
    }

    async fn connect(&self) -> Result<Client, SourceError> {
        let connected = match &self.tls {
            Some(tls) => self
                .config
                .connect(tls.clone())
                .await
                .map(|(client, conn)| {
                    self.errors.watch(conn);
                    client
                }),
            None => self.config.connect(NoTls).await.map(|(client, conn)| {
                self.errors.watch(conn);
                client
            }),
        };
        connected.map_err(|err| self.connect_error(&err))
    }

    /// Opens a connection of its own that `LISTEN`s on `channels` and calls `heard` for each
    /// notification. The returned task ends when the connection does (the server went away,
    /// or an administrator ended the session); dropping the client closes it.
    pub(super) async fn open_listener(
        &self,
        channels: &[String],
        heard: impl Fn() + Send + 'static,
    ) -> Result<(Client, JoinHandle<()>), SourceError> {
        let name = self.errors.name.clone();
        let connected = match &self.tls {
            Some(tls) => self
                .config
                .connect(tls.clone())
                .await
                .map(|(client, conn)| (client, tokio::spawn(forward(conn, heard, name)))),
            None => self
                .config
                .connect(NoTls)
                .await
                .map(|(client, conn)| (client, tokio::spawn(forward(conn, heard, name)))),
        };
        let (client, connection) = connected.map_err(|err| self.connect_error(&err))?;
        // Channel names are checked identifiers (see `QueueTable`), safe to write unquoted.
        let listen: String = channels.iter().map(|c| format!("LISTEN {c};")).collect();
        client
            .batch_execute(&listen)
            .await
            .map_err(|err| self.errors.query(&err))?;
        Ok((client, connection))
    }

    fn connect_error(&self, err: &tokio_postgres::Error) -> SourceError {
        let name = self.errors.name.clone();
        let message = self.errors.describe(err);
        match err.code() {
            Some(code) if *code == SqlState::INVALID_PASSWORD => {
                SourceError::Authentication { name, message }
            }
            _ => SourceError::Connect { name, message },
        }
    }

    /// Runs `sql` on the shared session, preparing it there first if it is new. A statement
    /// prepared before that the server refuses now (its table changed so that the result
    /// changed type) is prepared again, once.
    async fn fetch_on(
        &self,
        session: &mut Session,
        sql: &str,
        cursor: Option<&Value>,
    ) -> Result<Rows, SourceError> {
        let cached = session.prepared.get(sql).cloned();
        let fresh = cached.is_none();
        let prepared = match cached {
            Some(prepared) => prepared,
            None => Arc::new(self.prepare(&session.client, sql).await?),
        };
        let outcome = match self.run_prepared(&session.client, &prepared, cursor).await {
            Err(Failed::Driver(err)) if !fresh && is_stale(&err) => {
                let prepared = Arc::new(self.prepare(&session.client, sql).await?);
                self.run_prepared(&session.client, &prepared, cursor)
                    .await
                    .map(|rows| (rows, prepared))
            }
            outcome => outcome.map(|rows| (rows, prepared)),
        };
        match outcome {
            Ok((rows, prepared)) => {
                session.prepared.insert(sql.to_owned(), prepared);
                Ok(rows)
            }
            Err(failed) => {
                session.prepared.remove(sql);
                Err(match failed {
                    Failed::Driver(err) => self.errors.query(&err),
                    Failed::Decode(error) => error,
                })
            }
        }
    }

    /// Prepares a check's query: its columns, the cursor parameter, and a decoder per column
    /// (columns of types dbalert cannot read are cast to text by a wrapping query).
    async fn prepare(&self, client: &Client, sql: &str) -> Result<Prepared, SourceError> {
        let errors = &self.errors;
        let statement = client
            .prepare(sql)
            .await
            .map_err(|err| errors.query(&err))?;
        let columns: Vec<String> = statement
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let cursor = match statement.params() {
            [] => None,
            [param] => Some(first_cursor(param)),
            params => {
                return Err(errors.query_text(&format!(
                    "the query has {} parameters, and $1 (the cursor) is the only one dbalert binds",
                    params.len()
                )));
            }
        };
        let statement = errors.readable(client, sql, statement, &columns).await?;
        let decoders = errors.decoders(statement.columns(), &columns)?;
        Ok(Prepared {
            statement,
            columns,
            decoders,
            cursor,
        })
    }

    /// Runs a prepared query in a read-only transaction, in one round trip: `BEGIN` (with the
    /// statement timeout), the query and `COMMIT` are pipelined, sent together and answered
    /// in order (a failed query aborts the transaction, which the `COMMIT` then rolls back).
    async fn run_prepared(
        &self,
        client: &Client,
        prepared: &Prepared,
        cursor: Option<&Value>,
    ) -> Result<Rows, Failed> {
        let begin = match self.errors.statement_timeout {
            Some(timeout) => format!(
                "BEGIN READ ONLY; SET LOCAL statement_timeout = {}",
                timeout.get().as_millis().max(1)
            ),
            None => "BEGIN READ ONLY".to_owned(),
        };
        let cursor = prepared
            .cursor
            .as_ref()
            .map(|first| CursorParam(cursor.and_then(bind_text).or_else(|| first.clone())));
        let params: Vec<&(dyn ToSql + Sync)> = cursor.iter().map(|p| p as _).collect();
        let query = async {
            // Read as a stream, so that each row is decoded and its wire buffer freed as it
            // arrives, instead of holding the whole result twice.
            let stream = client
                .query_raw(&prepared.statement, params)
                .await
                .map_err(Failed::Driver)?;
            let mut stream = std::pin::pin!(stream);
            let mut rows = Rows::new(prepared.columns.iter().map(String::as_str));
            while let Some(row) = stream.try_next().await.map_err(Failed::Driver)? {
                let values = self
                    .errors
                    .decode_row(&row, &prepared.decoders, &rows.columns)
                    .map_err(Failed::Decode)?;
                rows.rows.push(values);
            }
            Ok(rows)
        };
        // `join!` first polls the three in this order, and each sends its request on its
        // first poll: the server gets BEGIN, the query, COMMIT.
        let (begun, rows, committed) = tokio::join!(
            client.batch_execute(&begin),
            query,
            client.batch_execute("COMMIT")
        );
        begun.map_err(Failed::Driver)?;
        let rows = rows?;
        committed.map_err(Failed::Driver)?;
        Ok(rows)
    }
}

/// A queue batch's transaction: a connection of the batch's own, inside `BEGIN`, holding the
/// batch's rows locked. Closing the connection rolls back.
pub(super) struct QueueTransaction {
    client: Client,
    errors: Errors,
    table: QueueTable,
    ids: Vec<i64>,
    /// Where the connection goes back once the transaction ended, for the next batch.
    idle: IdleClient,
}

impl fmt::Debug for QueueTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postgres")
            .field("table", &self.table)
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

impl QueueTransaction {
    /// Deletes the batch's rows and commits (`commit`), or rolls back to leave them for the
    /// next batch; then keeps the connection for it.
    pub(super) async fn end(self, commit: bool) -> Result<(), SourceError> {
        let Self {
            client,
            errors,
            table,
            ids,
            idle,
        } = self;
        if commit && !ids.is_empty() {
            // `$1::bigint[]` works for an `int` id column too and keeps its index usable.
            let delete = format!("DELETE FROM {table} WHERE id = ANY($1::bigint[])");
            client
                .execute(&delete, &[&ids])
                .await
                .map_err(|err| errors.query(&err))?;
        }
        client
            .batch_execute(if commit { "COMMIT" } else { "ROLLBACK" })
            .await
            .map_err(|err| errors.query(&err))?;
        idle.put(client);
        Ok(())
    }
}

/// Starts a transaction on `client` (a connection of the batch's own) and locks up to `limit`
/// rows of `table` that no other poller holds. The connection goes back to `idle` when the
/// batch ends; on an error here it is closed, which rolls back.
async fn take_batch(
    client: Client,
    errors: Errors,
    table: &QueueTable,
    limit: usize,
    idle: IdleClient,
) -> Result<QueueBatch, SourceError> {
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|err| errors.query(&err))?;
    errors.set_statement_timeout(&client).await?;
    // The payload is read as text and parsed here, so that one that cannot be read as JSON
    // (nested deeper than the parser allows, say) is sent as text instead of failing the
    // check on every run and blocking every message behind it.
    let select = format!(
        "SELECT id::bigint, payload::text, pg_typeof(payload) IN ('json'::regtype, 'jsonb'::regtype) \
         FROM {table} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(&select, &[&limit])
        .await
        .map_err(|err| errors.query(&err))?;
    let mut messages = Vec::with_capacity(rows.len());
    let mut ids = Vec::with_capacity(rows.len());
    for row in &rows {
        let read = || -> Result<(i64, Option<String>, bool), tokio_postgres::Error> {
            Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
        };
        let Ok((id, payload, is_json)) = read() else {
            return Err(errors.query_text(&format!(
                "`id` of queue table {table} must be an integer that is never NULL"
            )));
        };
        ids.push(id);
        let (payload, warnings) = json_payload(payload, is_json);
        messages.push(QueueMessage::event(id.to_string(), payload, warnings));
    }
    let transaction = QueueTransaction {
        client,
        errors,
        table: table.clone(),
        ids,
        idle,
    };
    Ok(QueueBatch::postgres(messages, transaction))
}

/// A queue payload read as text: parsed when its column is JSON. JSON that cannot be parsed
/// is kept as text, with a warning saying why, so the message is still delivered.
fn json_payload(text: Option<String>, is_json: bool) -> (Value, Vec<String>) {
    let Some(text) = text else {
        return (Value::Null, Vec::new());
    };
    if !is_json {
        return (Value::text(text), Vec::new());
    }
    match serde_json::from_str(&text) {
        Ok(json) => (Value::Json(json), Vec::new()),
        Err(error) => {
            let warning = format!("payload is not JSON that can be read ({error}); sent as text");
            (Value::text(text), vec![warning])
        }
    }
}

/// A connection kept between two queue batches; a batch takes it and gives it back when its
/// transaction ended.
#[derive(Clone, Default)]
pub(super) struct IdleClient(Arc<std::sync::Mutex<Option<Client>>>);

impl IdleClient {
    /// The kept connection, unless it is gone or the server closed it.
    fn take(&self) -> Option<Client> {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.take().filter(|client| !client.is_closed())
    }

    /// Keeps `client` (outside any transaction) for the next batch.
    pub(super) fn put(&self, client: Client) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(client);
    }
}

/// The connection check queries share, with the statements prepared on it by SQL text.
struct Session {
    client: Client,
    prepared: HashMap<String, Arc<Prepared>>,
}

/// A check's query, prepared once per connection.
struct Prepared {
    statement: PgStatement,
    columns: Vec<String>,
    decoders: Vec<(Type, Decoder)>,
    /// `Some` when the query takes the cursor (`$1`): what to bind when there is none yet.
    cursor: Option<Option<String>>,
}

/// Why a prepared query failed: the driver (classified by [`Errors::query`]) or a value.
enum Failed {
    Driver(tokio_postgres::Error),
    Decode(SourceError),
}

/// A prepared statement the server refuses since its table changed ("cached plan must not
/// change result type"); preparing it again fixes it.
fn is_stale(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&SqlState::FEATURE_NOT_SUPPORTED)
}

/// Drives a listening connection, calling `heard` for each notification, until it ends.
async fn forward<S, T>(mut connection: Connection<S, T>, heard: impl Fn(), name: SourceName)
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
        match message {
            Ok(AsyncMessage::Notification(_)) => heard(),
            Ok(_) => {}
            Err(err) => {
                tracing::debug!(source = %name, error = %err, "PostgreSQL LISTEN connection closed.");
                return;
            }
        }
    }
}

/// Builds the TLS connector: the system's roots plus the certificates in `ca_file`.
fn tls_connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, String> {
    let extra_roots = match ca_file {
        Some(path) => read_certificates(path)?,
        None => Vec::new(),
    };
    Ok(MakeRustlsConnect::new(crate::config::tls::client_config(
        extra_roots,
    )?))
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = crate::config::file::read_file(path, crate::config::file::MAX_CA_FILE_BYTES)
        .map_err(|err| format!("cannot read ca_file {}: {err}", path.display()))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("ca_file {} is not a PEM file: {err}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!(
            "ca_file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certificates)
}

/// Wraps `sql` so that the flagged columns come back as text (see the module docs).
fn with_text_columns(sql: &str, as_text: &[bool]) -> String {
    let aliases: Vec<String> = (1..=as_text.len()).map(|i| format!("c{i}")).collect();
    let select: Vec<String> = aliases
        .iter()
        .zip(as_text)
        .map(|(alias, text)| {
            if *text {
                format!("q.{alias}::text")
            } else {
                format!("q.{alias}")
            }
        })
        .collect();
    // The newlines keep a trailing `-- comment` in the check's SQL from swallowing the `)`.
    format!(
        "SELECT {} FROM (\n{}\n) AS q ({})",
        select.join(", "),
        sql.trim_end_matches(|c: char| c.is_whitespace() || c == ';'),
        aliases.join(", ")
    )
}

/// Turns the binary form of one column into a [`Value`].
pub(super) type Decoder = fn(&Type, &[u8]) -> Result<Value, BoxError>;

/// The decoder for the types dbalert reads natively; `None` for the rest, which are read as
/// text instead.
fn decoder(ty: &Type) -> Option<Decoder> {
    let decode: Decoder = match *ty {
        Type::BOOL => |t, raw| Ok(Value::Bool(bool::from_sql(t, raw)?)),
        Type::INT2 => |t, raw| Ok(Value::Int(i16::from_sql(t, raw)?.into())),
        Type::INT4 => |t, raw| Ok(Value::Int(i32::from_sql(t, raw)?.into())),
        Type::INT8 => |t, raw| Ok(Value::Int(i64::from_sql(t, raw)?)),
        Type::OID => |t, raw| Ok(Value::Int(u32::from_sql(t, raw)?.into())),
        // Through the shortest text form, so that real 0.1 reads as 0.1, not 0.10000000149.
        Type::FLOAT4 => |t, raw| Ok(Value::Float(f32::from_sql(t, raw)?.to_string().parse()?)),
        Type::FLOAT8 => |t, raw| Ok(Value::Float(f64::from_sql(t, raw)?)),
        Type::NUMERIC => |_, raw| Ok(Value::Numeric(numeric_text(raw)?)),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            |t, raw| Ok(Value::text(<&str>::from_sql(t, raw)?))
        }
        // `infinity` and `-infinity` have no jiff form; they stay text, which also binds back.
        Type::TIMESTAMPTZ => |t, raw| match infinity(raw) {
            Some(text) => Ok(Value::text(text)),
            None => Ok(Value::Timestamp(jiff::Timestamp::from_sql(t, raw)?)),
        },
        Type::TIMESTAMP => |t, raw| match infinity(raw) {
            Some(text) => Ok(Value::text(text)),
            None => Ok(Value::DateTime(jiff::civil::DateTime::from_sql(t, raw)?)),
        },
        Type::DATE => |t, raw| match infinity(raw) {
            Some(text) => Ok(Value::text(text)),
            None => Ok(Value::Date(jiff::civil::Date::from_sql(t, raw)?)),
        },
        Type::BYTEA => |t, raw| Ok(Value::Bytes(<&[u8]>::from_sql(t, raw)?.to_vec())),
        Type::JSON | Type::JSONB => |t, raw| Ok(Value::Json(serde_json::Value::from_sql(t, raw)?)),
        // The binary form of an enum value is its label.
        _ if matches!(ty.kind(), Kind::Enum(_)) => {
            |_, raw| Ok(Value::text(std::str::from_utf8(raw)?))
        }
        _ => return None,
    };
    Some(decode)
}

/// PostgreSQL's infinite timestamps and dates: the largest and smallest values of their 8 or 4
/// bytes.
fn infinity(raw: &[u8]) -> Option<&'static str> {
    match raw {
        [0x7f, rest @ ..] if rest.iter().all(|b| *b == 0xff) => Some("infinity"),
        [0x80, rest @ ..] if rest.iter().all(|b| *b == 0) => Some("-infinity"),
        _ => None,
    }
}

/// Writes PostgreSQL's binary `numeric` as exact decimal text: a header of digit count, weight
/// (the power of 10000 of the first digit), sign and display scale, then base-10000 digits.
fn numeric_text(raw: &[u8]) -> Result<String, BoxError> {
    use std::fmt::Write;
    let word = |i: usize| -> Result<u16, BoxError> {
        let bytes = raw.get(i..i + 2).ok_or("numeric value cut short")?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    };
    let count = usize::from(word(0)?);
    let weight = i32::from(word(2)? as i16);
    let sign = word(4)?;
    let scale = usize::from(word(6)?);
    let digits = (0..count)
        .map(|i| word(8 + 2 * i))
        .collect::<Result<Vec<u16>, _>>()?;
    if digits.iter().any(|d| *d > 9999) {
        return Err("numeric digit out of range".into());
    }
    let mut text = match sign {
        0x0000 => String::new(),
        0x4000 => "-".to_owned(),
        0xC000 => return Ok("NaN".to_owned()),
        0xD000 => return Ok("Infinity".to_owned()),
        0xF000 => return Ok("-Infinity".to_owned()),
        _ => return Err(format!("unknown numeric sign {sign:#x}").into()),
    };
    // Digit i stands for 10000^(weight - i); missing digits are zeros.
    let digit = |i: i32| usize::try_from(i).ok().and_then(|i| digits.get(i)).copied();
    if weight < 0 {
        text.push('0');
    } else {
        for i in 0..=weight {
            let d = digit(i).unwrap_or(0);
            if i == 0 {
                write!(text, "{d}")?;
            } else {
                write!(text, "{d:04}")?;
            }
        }
    }
    if scale > 0 {
        let mut fraction = String::new();
        let mut i = weight + 1;
        while fraction.len() < scale {
            write!(fraction, "{:04}", digit(i).unwrap_or(0))?;
            i += 1;
        }
        fraction.truncate(scale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

/// The text a cursor is bound with. Text parameters let the server parse the value as whatever
/// type it inferred for `$1`: `int8`, `numeric`, `timestamptz`, `text`, … (ISO 8601 for times).
fn bind_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Bytes(_) => Some(format!("\\x{value}")),
        _ => Some(value.to_string()),
    }
}

/// The cursor of a first run (nothing saved yet): the lowest value of `$1`'s type as the server
/// inferred it, so that `id > $1` and `ts > $1` return every row rather than none (`> NULL` is
/// never true). NULL for types with no such value.
fn first_cursor(ty: &Type) -> Option<String> {
    let text = match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::NUMERIC | Type::FLOAT4 | Type::FLOAT8 => "0",
        Type::TIMESTAMPTZ | Type::TIMESTAMP => "1970-01-01 00:00:00+00",
        Type::DATE => "1970-01-01",
        Type::TEXT | Type::VARCHAR => "",
        _ => return None,
    };
    Some(text.to_owned())
}

/// The cursor, sent in text format whatever `$1`'s type is (see [`bind_text`]).
#[derive(Debug)]
struct CursorParam(Option<String>);

impl ToSql for CursorParam {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match &self.0 {
            Some(text) => {
                out.extend_from_slice(text.as_bytes());
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// A column's bytes, whatever its type; decoded by a [`Decoder`] picked from the type.
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Self(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Self(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Turns driver errors into [`SourceError`]s that name the source and hold no secret; shared by
/// the source and the queue batches it hands out.
#[derive(Clone)]
pub(super) struct Errors {
    pub(super) name: SourceName,
    /// The URL and the password, removed from every message.
    secrets: Arc<[String]>,
    pub(super) statement_timeout: Option<Duration>,
}

impl Errors {
    /// Spawns the task that drives a connection; it ends when the client is dropped or the
    /// server goes away, which the next query reports.
    fn watch<F>(&self, connection: F)
    where
        F: Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
    {
        let name = self.name.clone();
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(source = %name, error = %err, "PostgreSQL connection closed.");
            }
        });
    }

    /// `statement` as it can be read: when a column has a type dbalert does not decode, the
    /// statement prepared again with those columns cast to text (see the module docs).
    async fn readable(
        &self,
        client: &impl GenericClient,
        sql: &str,
        statement: tokio_postgres::Statement,
        names: &[String],
    ) -> Result<tokio_postgres::Statement, SourceError> {
        let unknown: Vec<bool> = statement
            .columns()
            .iter()
            .map(|c| decoder(c.type_()).is_none())
            .collect();
        let Some(first) = unknown.iter().position(|u| *u) else {
            return Ok(statement);
        };
        client
            .prepare(&with_text_columns(sql, &unknown))
            .await
            .map_err(|err| SourceError::Decode {
                name: self.name.clone(),
                column: names[first].clone(),
                message: format!(
                    "dbalert cannot read type {} and could not read it as text ({}); cast it to text in the query, e.g. `{}::text`",
                    statement.columns()[first].type_().name(),
                    self.describe(&err),
                    names[first],
                ),
            })
    }

    /// Reads at most `max_rows` rows of `statement`, counting whether more came.
    async fn read_some(
        &self,
        tx: &Transaction<'_>,
        statement: &tokio_postgres::Statement,
        values: Vec<CursorParam>,
        columns: Vec<String>,
        max_rows: usize,
    ) -> Result<Outcome, SourceError> {
        let decoders = self.decoders(statement.columns(), &columns)?;
        let stream = tx
            .query_raw(statement, values.iter())
            .await
            .map_err(|err| self.query(&err))?;
        let mut stream = std::pin::pin!(stream);
        let mut rows = Rows {
            columns,
            rows: Vec::new(),
        };
        let mut more = false;
        // Read to the end, so that the connection is ready for the commit; rows past the
        // limit are counted, not decoded.
        while let Some(row) = stream.try_next().await.map_err(|err| self.query(&err))? {
            if rows.rows.len() == max_rows {
                more = true;
            } else {
                rows.rows
                    .push(self.decode_row(&row, &decoders, &rows.columns)?);
            }
        }
        Ok(Outcome {
            rows,
            more,
            affected: 0,
        })
    }

    /// `SET LOCAL statement_timeout`, inside the transaction `client` is in.
    pub(super) async fn set_statement_timeout(
        &self,
        client: &impl GenericClient,
    ) -> Result<(), SourceError> {
        if let Some(timeout) = self.statement_timeout {
            let millis = timeout.get().as_millis().max(1);
            client
                .batch_execute(&format!("SET LOCAL statement_timeout = {millis}"))
                .await
                .map_err(|err| self.query(&err))?;
        }
        Ok(())
    }

    /// Classifies an error from a query: timeout, lost connection, or the query's own fault.
    pub(super) fn query(&self, err: &tokio_postgres::Error) -> SourceError {
        let name = self.name.clone();
        let message = self.describe(err);
        match (err.code(), self.statement_timeout) {
            (Some(code), Some(timeout)) if *code == SqlState::QUERY_CANCELED => {
                SourceError::Timeout { name, timeout }
            }
            (Some(code), _) if is_disconnect(code) => SourceError::ConnectionLost { name, message },
            (None, _) if err.is_closed() || has_io_error(err) => {
                SourceError::ConnectionLost { name, message }
            }
            _ => SourceError::Query { name, message },
        }
    }

    pub(super) fn query_text(&self, message: &str) -> SourceError {
        SourceError::Query {
            name: self.name.clone(),
            message: message.to_owned(),
        }
    }

    /// The decoder for each column, or an error naming the first column of a type dbalert
    /// cannot read.
    pub(super) fn decoders(
        &self,
        columns: &[Column],
        names: &[String],
    ) -> Result<Vec<(Type, Decoder)>, SourceError> {
        columns
            .iter()
            .zip(names)
            .map(|(column, name)| {
                let ty = column.type_();
                decoder(ty)
                    .map(|decode| (ty.clone(), decode))
                    .ok_or_else(|| SourceError::Decode {
                        name: self.name.clone(),
                        column: name.clone(),
                        message: format!(
                            "dbalert cannot read type {}; cast it to text in the query",
                            ty.name()
                        ),
                    })
            })
            .collect()
    }

    /// Decodes one row with one decoder per column.
    pub(super) fn decode_row(
        &self,
        row: &Row,
        decoders: &[(Type, Decoder)],
        columns: &[String],
    ) -> Result<Vec<Value>, SourceError> {
        decoders
            .iter()
            .enumerate()
            .map(|(i, (ty, decode))| {
                let raw = row.try_get::<_, Raw>(i).map(|raw| raw.0);
                match raw {
                    Ok(None) => Ok(Value::Null),
                    Ok(Some(bytes)) => decode(ty, bytes).map_err(|err| err.to_string()),
                    Err(err) => Err(self.describe(&err)),
                }
                .map_err(|message| SourceError::Decode {
                    name: self.name.clone(),
                    column: columns.get(i).cloned().unwrap_or_default(),
                    message: format!(
                        "cannot read a {} value ({message}); cast it to text in the query",
                        ty.name()
                    ),
                })
            })
            .collect()
    }

    pub(super) fn describe(&self, err: &tokio_postgres::Error) -> String {
        scrub(&describe(err), &self.secrets)
    }
}

/// The server's message with its SQLSTATE, detail and hint; otherwise the whole error chain.
fn describe(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; detail: {detail}"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = inner.source();
    }
    text
}

fn scrub(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "(redacted)")
        })
}

/// SQLSTATEs that mean the session is gone: class 08 (connection exception) and the shutdowns
/// of class 57P (an administrator's `pg_terminate_backend`, a crash, a restart).
fn is_disconnect(code: &SqlState) -> bool {
    code.code().starts_with("08") || code.code().starts_with("57P")
}

fn has_io_error(err: &tokio_postgres::Error) -> bool {
    let mut cause = err.source();
    while let Some(inner) = cause {
        if inner.is::<std::io::Error>() {
            return true;
        }
        cause = inner.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binary form PostgreSQL sends for a numeric.
    fn numeric(weight: i16, sign: u16, scale: u16, digits: &[u16]) -> Vec<u8> {
        let mut raw = Vec::new();
        for word in [digits.len() as u16, weight as u16, sign, scale]
            .into_iter()
            .chain(digits.iter().copied())
        {
            raw.extend_from_slice(&word.to_be_bytes());
        }
        raw
    }

    #[test]
    fn numeric_is_exact_text() {
        let cases = [
            (numeric(0, 0, 0, &[]), "0"),
            (numeric(0, 0, 2, &[]), "0.00"),
            (numeric(1, 0, 0, &[10]), "100000"),
            (numeric(0, 0x4000, 1, &[0, 5000]), "-0.5"),
            (numeric(-1, 0, 4, &[1]), "0.0001"),
            (numeric(-2, 0, 6, &[1200]), "0.000012"),
            (numeric(2, 0, 3, &[12, 3456, 7890, 1230]), "1234567890.123"),
            (numeric(0, 0xC000, 0, &[]), "NaN"),
            (numeric(0, 0xD000, 0, &[]), "Infinity"),
        ];
        for (raw, expected) in cases {
            assert_eq!(numeric_text(&raw).unwrap(), expected);
        }
        assert!(numeric_text(&[0, 1]).is_err());
        assert!(numeric_text(&numeric(0, 0, 0, &[10000])).is_err());
    }

    #[test]
    fn unknown_columns_are_cast_to_text_by_position() {
        assert_eq!(
            with_text_columns("select a, b from t -- last\n ;", &[false, true]),
            "SELECT q.c1, q.c2::text FROM (\nselect a, b from t -- last\n) AS q (c1, c2)"
        );
    }

    #[test]
    fn cursors_bind_as_text() {
        assert_eq!(bind_text(&Value::Null), None);
        assert_eq!(bind_text(&Value::Int(7)).as_deref(), Some("7"));
        assert_eq!(
            bind_text(&Value::Bytes(vec![1, 0xff])).as_deref(),
            Some("\\x01ff")
        );
        assert_eq!(
            bind_text(&Value::Timestamp("2024-06-01T08:00:00Z".parse().unwrap())).as_deref(),
            Some("2024-06-01T08:00:00Z")
        );
    }

    #[test]
    fn secrets_are_scrubbed() {
        let secrets = [
            "postgres://u:hunter22@h/db".to_owned(),
            "hunter22".to_owned(),
        ];
        assert_eq!(
            scrub("bad postgres://u:hunter22@h/db and hunter22", &secrets),
            "bad (redacted) and (redacted)"
        );
    }

    #[test]
    fn build_rejects_bad_settings_without_leaking_the_url() {
        let config = |url: &str, ca_file: Option<&str>| PostgresSourceConfig {
            url: Secret::new(url),
            statement_timeout: None,
            ca_file: ca_file.map(PathBuf::from),
        };
        let name = || SourceName("billing".into());
        let err = config("postgres://u:hunter22@h/db?sslmode=bogus", None)
            .build(name())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("source `billing`: `url` is not"), "{err}");
        assert!(!err.contains("hunter22"), "{err}");
        let err = config("postgres://u@h/db", Some("/ca.pem"))
            .build(name())
            .unwrap_err()
            .to_string();
        assert!(err.contains("add sslmode=require"), "{err}");
        let err = config(
            "postgres://u@h/db?sslmode=verify-full",
            Some("/nonexistent/ca.pem"),
        )
        .build(name())
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("cannot read ca_file /nonexistent/ca.pem"),
            "{err}"
        );
        assert!(
            config("postgres://u@h/db?sslmode=verify-full", None)
                .build(name())
                .is_ok()
        );
    }
}
