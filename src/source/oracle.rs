//! Oracle sources, on the `oracle` crate (ODPI-C). Instant Client is loaded with `dlopen` at
//! the first connection, never linked: a dbalert built with Oracle support runs every other
//! source without it, and an Oracle check on a machine without it fails that check with
//! DPI-1047 and the way to install it.
//!
//! The driver layer here is thin: connect (EZConnect, a TNS alias found through `TNS_ADMIN`,
//! external auth with `"/"` when no user is given, a proxy user written `user[target]`),
//! tag the session, run one query with `:cursor` bound, and read every column as text with its
//! Oracle type. Turning (type, text) into a [`Value`] is pure ([`value_of`]) and tested without
//! a database. The crate's calls block, so they run on tokio's blocking pool, one connection
//! per source kept between runs and reopened after an error.
//!
//! Limits of what runs here: no Oracle server or client exists on the build machines, so the
//! connection path is exercised only by the opt-in live tests (`DBALERT_TEST_ORACLE_DSN`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use jiff::civil::{Date, DateTime};
use oracle::sql_type::{OracleType, ToSql};
use serde::Deserialize;

use super::{Rows, SourceError, SourceName, Value};
use crate::config::duration::Duration;
use crate::config::secret::Secret;

/// Rows fetched per round trip; alert queries return tens to thousands of rows.
const FETCH_ARRAY_SIZE: u32 = 500;
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
    /// Needs an 18c or later client. Default: no limit.
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
        .map_err(|err| SourceError::Query {
            name: self.name.clone(),
            message: format!("the Oracle worker stopped: {err}"),
        })?;
        outcome.map_err(|err| describe(&self.name, &err))
    }
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
    let result = match (&bound, sql.to_ascii_lowercase().contains(":cursor")) {
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
        let row = row?;
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
        rows.rows.push(values);
    }
    Ok(rows)
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

/// The [`Value`] of a column of `oracle_type` read as `text` (the crate's text form).
///
/// NUMBER stays exact: an integer when it has no fraction and fits in 64 bits, else exact
/// decimal text. DATE and TIMESTAMP are a date-time without a zone; TIMESTAMP WITH (LOCAL) TIME
/// ZONE a point in time. RAW and BLOB arrive as hex. A native JSON column cannot be read by the
/// driver: select `JSON_SERIALIZE(col RETURNING CLOB)` instead.
pub fn value_of(oracle_type: &OracleType, text: Option<String>) -> Result<Value, String> {
    let Some(text) = text else {
        return Ok(Value::Null);
    };
    Ok(match oracle_type {
        OracleType::Number(_, _)
        | OracleType::Float(_)
        | OracleType::Int64
        | OracleType::UInt64 => match text.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Numeric(text),
        },
        OracleType::BinaryFloat | OracleType::BinaryDouble => text
            .parse::<f64>()
            .map(Value::Float)
            .unwrap_or(Value::Numeric(text)),
        OracleType::Date | OracleType::Timestamp(_) => {
            parse_datetime(&text)
                .map(Value::DateTime)
                .ok_or_else(|| format!("cannot read `{text}` as a date and time"))?
        }
        OracleType::TimestampTZ(_) | OracleType::TimestampLTZ(_) => parse_timestamp(&text)
            .map(Value::Timestamp)
            .ok_or_else(|| format!("cannot read `{text}` as a timestamp with a time zone"))?,
        OracleType::Raw(_) | OracleType::BLOB | OracleType::LongRaw => match from_hex(&text) {
            Some(bytes) => Value::Bytes(bytes),
            None => Value::text(text),
        },
        OracleType::Boolean => Value::Bool(text.eq_ignore_ascii_case("true")),
        OracleType::Json => {
            return Err("a JSON column cannot be read directly; select JSON_SERIALIZE(col RETURNING CLOB) instead".to_owned());
        }
        // VARCHAR2, CHAR, CLOB, ROWID, INTERVAL, objects and whatever a newer server adds:
        // text (cut to the label limit).
        _ => Value::text(text),
    })
}

/// `YYYY-MM-DD HH24:MI:SS[.fraction]`, as the crate writes DATE and TIMESTAMP.
fn parse_datetime(text: &str) -> Option<DateTime> {
    let (date, time) = text.trim().split_once(' ')?;
    let date: Date = date.parse().ok()?;
    let time: jiff::civil::Time = time.parse().ok()?;
    Some(date.to_datetime(time))
}

/// `YYYY-MM-DD HH24:MI:SS[.fraction] ±hh:mm`, as the crate writes TIMESTAMP WITH TIME ZONE.
fn parse_timestamp(text: &str) -> Option<jiff::Timestamp> {
    let (local, offset) = text.trim().rsplit_once(' ')?;
    let datetime = parse_datetime(local)?;
    let (sign, digits) = match offset.as_bytes().first()? {
        b'+' => (1, &offset[1..]),
        b'-' => (-1, &offset[1..]),
        _ => return None,
    };
    let (hours, minutes) = digits.split_once(':')?;
    let seconds = sign * (hours.parse::<i32>().ok()? * 3600 + minutes.parse::<i32>().ok()? * 60);
    jiff::tz::Offset::from_seconds(seconds)
        .ok()?
        .to_timestamp(datetime)
        .ok()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// An Oracle error as a [`SourceError`], with what to do for the ones users hit first.
fn describe(name: &SourceName, err: &oracle::Error) -> SourceError {
    let name = name.clone();
    let message = err.to_string();
    match (err.dpi_code(), err.oci_code()) {
        (Some(1047), _) => SourceError::Connect {
            name,
            message: format!("{message}; {INSTANT_CLIENT_HINT}"),
        },
        (_, Some(1017 | 12154 | 12514 | 12541 | 12170 | 28000)) | (Some(1080 | 1010), _) => {
            SourceError::Connect { name, message }
        }
        (_, Some(3113 | 3114 | 3135)) => SourceError::ConnectionLost { name, message },
        _ => SourceError::Query { name, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_exact() {
        let number = OracleType::Number(38, 0);
        assert_eq!(value_of(&number, Some("42".into())), Ok(Value::Int(42)));
        assert_eq!(
            value_of(&number, Some("-9223372036854775808".into())),
            Ok(Value::Int(i64::MIN))
        );
        assert_eq!(
            value_of(&number, Some("123456789012345678901234567890".into())),
            Ok(Value::Numeric("123456789012345678901234567890".into()))
        );
        assert_eq!(
            value_of(&OracleType::Number(10, 2), Some("97.45".into())),
            Ok(Value::Numeric("97.45".into()))
        );
        assert_eq!(value_of(&number, None), Ok(Value::Null));
    }

    #[test]
    fn dates_and_timestamps_keep_their_kind() {
        assert_eq!(
            value_of(&OracleType::Date, Some("2026-11-23 08:14:02".into())),
            Ok(Value::DateTime("2026-11-23T08:14:02".parse().unwrap()))
        );
        assert_eq!(
            value_of(
                &OracleType::Timestamp(6),
                Some("2026-11-23 08:14:02.123456".into())
            ),
            Ok(Value::DateTime(
                "2026-11-23T08:14:02.123456".parse().unwrap()
            ))
        );
        assert_eq!(
            value_of(
                &OracleType::TimestampTZ(9),
                Some("2023-06-06 05:37:54.830624000 +02:00".into())
            ),
            Ok(Value::Timestamp(
                "2023-06-06T03:37:54.830624Z".parse().unwrap()
            ))
        );
        assert!(value_of(&OracleType::TimestampTZ(9), Some("yesterday".into())).is_err());
    }

    #[test]
    fn raw_is_bytes_clob_is_cut_text_and_json_asks_for_json_serialize() {
        assert_eq!(
            value_of(&OracleType::Raw(16), Some("00FF10".into())),
            Ok(Value::Bytes(vec![0, 255, 16]))
        );
        let long = "x".repeat(super::super::MAX_TEXT_CHARS + 10);
        let Ok(Value::Text(cut)) = value_of(&OracleType::CLOB, Some(long)) else {
            panic!()
        };
        assert!(cut.chars().count() < super::super::MAX_TEXT_CHARS + 100 && cut.contains("cut"));
        let error = value_of(&OracleType::Json, Some("{}".into())).unwrap_err();
        assert!(error.contains("JSON_SERIALIZE"), "{error}");
        assert_eq!(
            value_of(&OracleType::Varchar2(30), Some("ORDERS".into())),
            Ok(Value::text("ORDERS"))
        );
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
