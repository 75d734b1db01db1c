//! Checks: what to ask a source and how each row becomes an alert.
//!
//! A check is a query against one source. Its kind decides the lifecycle of what it returns
//! (the README's "`dbalert poll`" section):
//! - a **state** check (the default) returns the conditions firing now; a row that is gone
//!   from a successful run is resolved;
//! - an **event** check (`events:`) returns happenings after a saved `cursor`; each is notified
//!   once and never resolved;
//! - a **queue** check (`queue:`) consumes messages, each one an event, committed only after
//!   delivery; on `SYS.ALERT_QUE` (Oracle server alerts) a message fires or resolves a state
//!   alert instead.
//!
//! This module owns the check config, the row-to-alert mapping and the fingerprint. Running
//! checks and keeping their state is [`crate::poll`]'s job.

pub mod alerts;
pub mod template;

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

pub use alerts::{CHECK_FAILED, RowError};
use template::{Templates, Text};

use crate::alert::view::LINK_ANNOTATION;
use crate::config::duration::Duration;
use crate::config::reader::Reader;
use crate::config::yaml::Path;
use crate::source::SourceKind;
use crate::source::{Queue, QueueKeys, QueueTable, SourceError, SourceName, Value};

/// The default `interval` of a check under `dbalert run`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// An entry of `checks:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckConfig {
    /// The check's name; it becomes the `alertname` label. Letters, digits, `_`, `-`, `.`, `:`.
    name: String,
    /// A name under `sources:`.
    source: String,
    /// How often `dbalert run` runs the check; `poll` runs every check each time. Default 1m,
    /// at least 1s.
    #[serde(default, deserialize_with = "crate::config::duration::at_least_1s")]
    interval: Option<Duration>,
    /// The query. Each row is one alert; every column becomes a label (lower-case name).
    sql: Option<String>,
    /// The columns that identify an alert (with `alertname` and `source`). Default: all.
    key: Option<Vec<String>>,
    /// Labels added to every alert; values may be templates (`{{ row.owner }}`).
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// Text for the message (`summary`, `description`, …); values may be templates.
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    /// Link buttons on its messages, each `{title: Runbook, url: "https://…"}`; the URL may be
    /// a template (`{{ row.job_name }}`). http and https only.
    #[serde(default)]
    links: Vec<LinkConfig>,
    /// Makes this an event check: rows are happenings after the last `cursor` value.
    events: Option<EventsConfig>,
    /// Makes this a queue check: messages are dequeued and committed after delivery.
    /// PostgreSQL: `{table: dbalert_queue}`; Oracle AQ: `{name: OWNER.QUEUE, consumer: NAME}`.
    queue: Option<QueueKeys>,
    /// Oracle: read the deadlock trace file each row names (its `trace_file` column, and
    /// `adr_home` and `inst_id` if returned) and add the sessions' users, programs, SQL and
    /// objects as `deadlock_*` labels (single-instance and RAC traces; `dbalert deadlock FILE`
    /// shows them for a file). Needs `key:`, so that the labels do not change the alert's
    /// identity.
    #[serde(default)]
    deadlock_trace: bool,
    /// `alert` raises an alert while the query returns no rows (for views where an empty
    /// result is the problem, such as "last backup within a day"); default `ignore`.
    #[serde(default)]
    no_rows: NoRows,
}

/// An entry of `links:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkConfig {
    /// The button's text.
    title: String,
    /// Where it leads.
    url: String,
}

/// `events:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsConfig {
    /// The watermark column. Its largest delivered value is saved and bound on the next run as
    /// `:cursor` (SQLite, Oracle) or `$1` (PostgreSQL).
    cursor: String,
    /// On the first run: `now` (default) skips what is already there; `all` sends it.
    #[serde(default)]
    start: Start,
    /// The cursor bound on the first run, so that `id > :cursor` works from the start (as
    /// Logstash's `sql_last_value`): a number (`0`), or a time (`1970-01-01T00:00:00Z`, or
    /// `1970-01-01 00:00:00` for a column without a time zone). Without it the first run binds
    /// NULL on SQLite and Oracle; PostgreSQL binds the zero of `$1`'s type.
    initial: Option<Initial>,
}

/// `events.initial` as written.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Initial {
    Number(i64),
    Text(String),
}

impl Initial {
    /// The value to bind: a number, a point in time, a date and time, a date, or text.
    fn value(self) -> Value {
        match self {
            Self::Number(n) => Value::Int(n),
            Self::Text(text) => {
                if let Ok(at) = text.parse() {
                    Value::Timestamp(at)
                } else if let Ok(at) = text.replacen(' ', "T", 1).parse() {
                    Value::DateTime(at)
                } else if let Ok(day) = text.parse() {
                    Value::Date(day)
                } else {
                    Value::text(text)
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    #[default]
    Now,
    All,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoRows {
    #[default]
    Ignore,
    Alert,
}

/// What a check's rows mean.
#[derive(Debug, Clone)]
pub enum CheckKind {
    State,
    Events {
        cursor: String,
        start: Start,
        /// Bound on the first run (`events.initial`).
        initial: Option<Value>,
    },
    Queue(Queue),
}

/// A checked check.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub source: SourceName,
    pub interval: Duration,
    pub kind: CheckKind,
    pub sql: String,
    /// Identity columns; `None` means every column.
    pub key: Option<Vec<String>>,
    pub labels: Vec<(String, Text)>,
    pub annotations: Vec<(String, Text)>,
    pub no_rows: NoRows,
    /// Add the `deadlock_*` labels of the trace each row names (Oracle).
    pub deadlock_trace: bool,
}

impl Check {
    /// The PostgreSQL queue table a queue check reads, which `run` listens on.
    pub fn queue_table(&self) -> Option<&QueueTable> {
        match &self.kind {
            CheckKind::Queue(Queue::Table(config)) => Some(&config.table),
            _ => None,
        }
    }
}

/// The sources checks may name: every name under `sources:` (broken ones included, which
/// have their own problem), and the kind of each that could be read (for what `queue:` and
/// `deadlock_trace` may say).
pub(crate) struct Sources {
    pub names: BTreeSet<String>,
    pub kinds: BTreeMap<String, SourceKind>,
}

/// Reads `checks:`, one check at a time.
pub(crate) fn resolve(
    reader: &mut Reader,
    sources: &Sources,
    templates: &mut Templates,
    warnings: &mut Vec<String>,
) -> Vec<Check> {
    let section = Path::root().key("checks");
    let count = match reader.node(&section) {
        Some(crate::config::yaml::Node::Seq(items)) => items.len(),
        None | Some(crate::config::yaml::Node::Null) => 0,
        Some(_) => {
            reader.problem(&section, "expected a list of checks (`- name: …`)");
            0
        }
    };
    let mut checks = Vec::new();
    let mut names = BTreeSet::new();
    for index in 0..count {
        let path = section.index(index);
        let Some(raw) = reader.parse::<CheckConfig>(&path) else {
            continue;
        };
        let before = checks.len();
        if let Some(check) = resolve_one(reader, &path, raw, sources, templates) {
            // PostgreSQL binds the zero of `$1`'s type on a first run, not NULL.
            let postgres = sources.kinds.get(&check.source.0) == Some(&SourceKind::Postgres);
            if let Some(warning) = check.first_run_warning().filter(|_| !postgres) {
                warnings.push(format!("{}: {warning}", path.key("sql")));
            }
            if !names.insert(check.name.clone()) {
                reader.problem(
                    &path.key("name"),
                    format!(
                        "a second check is named `{}`; names must be unique",
                        check.name
                    ),
                );
                continue;
            }
            checks.push(check);
        }
        debug_assert!(checks.len() <= before + 1);
    }
    checks
}

fn resolve_one(
    reader: &mut Reader,
    path: &Path,
    raw: CheckConfig,
    sources: &Sources,
    templates: &mut Templates,
) -> Option<Check> {
    let mut ok = check_name(reader, path, &raw.name);
    ok &= check_source(reader, path, &raw.source, sources);
    // A queue check takes no `sql:`, even when its `queue:` has problems of its own.
    let is_queue = raw.queue.is_some() && raw.events.is_none();
    let (kind, kind_ok) = resolve_kind(reader, path, raw.events, raw.queue, &raw.source, sources);
    let (sql, sql_ok) = resolve_sql(reader, path, raw.sql, is_queue);
    ok &= kind_ok && sql_ok;
    if raw.deadlock_trace {
        let oracle = sources
            .kinds
            .get(&raw.source)
            .is_none_or(|k| *k == SourceKind::Oracle);
        ok &= check_deadlock_trace(reader, path, oracle, is_queue, raw.key.is_some());
    }
    if raw.no_rows == NoRows::Alert && !matches!(kind, CheckKind::State) {
        let message = "`no_rows: alert` applies to state checks only";
        reader.problem(&path.key("no_rows"), message);
        ok = false;
    }
    let mut compile = |reader: &mut Reader, section: &str, values: BTreeMap<String, String>| {
        let mut out = Vec::new();
        for (name, source) in values {
            let template_name = format!("checks.{}.{section}.{name}", raw.name);
            match templates.add(&template_name, &source) {
                Ok(text) => out.push((name, text)),
                Err(error) => {
                    let message = format!("the template cannot be used: {error}");
                    reader.problem(&path.key(section).key(&name), message);
                    ok = false;
                }
            }
        }
        out
    };
    let labels = compile(reader, "labels", raw.labels);
    let mut annotations = compile(reader, "annotations", raw.annotations);
    match resolve_links(reader, path, raw.links, &raw.name, templates) {
        Some(links) => annotations.extend(links),
        None => ok = false,
    }
    ok.then(|| Check {
        name: raw.name,
        source: SourceName(raw.source),
        interval: raw.interval.unwrap_or(DEFAULT_INTERVAL),
        kind,
        sql,
        key: raw
            .key
            .map(|k| k.into_iter().map(|c| c.to_lowercase()).collect()),
        labels,
        annotations,
        no_rows: raw.no_rows,
        deadlock_trace: raw.deadlock_trace,
    })
}

/// Whether `name` can name a check; says why not at `name`.
fn check_name(reader: &mut Reader, path: &Path, name: &str) -> bool {
    let usable = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    let message = if !usable {
        format!("`{name}` is not a usable check name; use letters, digits, `_`, `-`, `.` or `:`")
    } else if name == CHECK_FAILED {
        format!(
            "`{name}` is the name of the alert dbalert raises for a failing check; choose another"
        )
    } else {
        return true;
    };
    reader.problem(&path.key("name"), message);
    false
}

/// Whether `source` is under `sources:`; says which are at `source`.
fn check_source(reader: &mut Reader, path: &Path, source: &str, sources: &Sources) -> bool {
    if sources.names.contains(source) {
        return true;
    }
    let known: Vec<&str> = sources.names.iter().map(String::as_str).collect();
    let fix = match known.is_empty() {
        true => "define it under `sources:`".to_owned(),
        false => format!("sources are: {}", known.join(", ")),
    };
    reader.problem(&path.key("source"), format!("no source `{source}`; {fix}"));
    false
}

/// The check's kind from its `events:` and `queue:`, and whether they were usable.
fn resolve_kind(
    reader: &mut Reader,
    path: &Path,
    events: Option<EventsConfig>,
    queue: Option<QueueKeys>,
    source: &str,
    sources: &Sources,
) -> (CheckKind, bool) {
    match (events, queue) {
        (None, None) => (CheckKind::State, true),
        (Some(events), None) => {
            let kind = CheckKind::Events {
                cursor: events.cursor.to_lowercase(),
                start: events.start,
                initial: events.initial.map(Initial::value),
            };
            (kind, true)
        }
        (None, Some(queue)) if sources.kinds.contains_key(source) => {
            match queue.resolve(source, sources.kinds[source]) {
                Ok(queue) => (CheckKind::Queue(queue), true),
                Err(problems) => {
                    for (key, message) in problems {
                        let at = match key {
                            "" => path.key("queue"),
                            key => path.key("queue").key(key),
                        };
                        reader.problem(&at, message);
                    }
                    (CheckKind::State, false)
                }
            }
        }
        // An unknown or broken source is reported on its own.
        (None, Some(_)) => (CheckKind::State, true),
        (Some(_), Some(_)) => {
            let message = "a check is either `events:` or `queue:`, not both";
            reader.problem(&path.key("queue"), message);
            (CheckKind::State, false)
        }
    }
}

/// The check's query, and whether it is as its kind needs: none for a queue check, not empty
/// for the others.
fn resolve_sql(
    reader: &mut Reader,
    path: &Path,
    sql: Option<String>,
    is_queue: bool,
) -> (String, bool) {
    let message = match (is_queue, sql) {
        (true, None) => return (String::new(), true),
        (false, Some(sql)) if !sql.trim().is_empty() => return (sql, true),
        (true, Some(_)) => "a queue check takes no `sql:`; the queue is read as it is",
        (false, Some(_)) => "`sql` is empty; write the query this check runs",
        (false, None) => "missing key `sql`; add the query this check runs",
    };
    reader.problem(&path.key("sql"), message);
    (String::new(), false)
}

/// Whether `deadlock_trace` can apply: an Oracle source, a query, and a `key:`.
fn check_deadlock_trace(
    reader: &mut Reader,
    path: &Path,
    oracle: bool,
    is_queue: bool,
    has_key: bool,
) -> bool {
    let problems = [
        (
            !oracle,
            "`deadlock_trace` reads Oracle trace files; it needs an oracle source",
        ),
        (
            is_queue,
            "`deadlock_trace` applies to checks with `sql:`, not to queue checks",
        ),
        (
            !has_key,
            "`deadlock_trace` needs `key:` (e.g. `key: [inst_id, adr_home, record_id, originating_timestamp]`), so that the labels it adds do not change which alert a row is",
        ),
    ];
    let mut ok = true;
    for (wrong, message) in problems {
        if wrong {
            reader.problem(&path.key("deadlock_trace"), message);
            ok = false;
        }
    }
    ok
}

/// A check's `links:` as the `link:TITLE` annotations that messages show as buttons; `None`
/// after reporting a problem.
fn resolve_links(
    reader: &mut Reader,
    path: &Path,
    links: Vec<LinkConfig>,
    check: &str,
    templates: &mut Templates,
) -> Option<Vec<(String, Text)>> {
    let mut out: Vec<(String, Text)> = Vec::new();
    let mut ok = true;
    for (i, link) in links.into_iter().enumerate() {
        let at = path.key("links").index(i);
        let name = format!("{LINK_ANNOTATION}{}", link.title.trim());
        if link.title.trim().is_empty() || out.iter().any(|(n, _)| *n == name) {
            reader.problem(
                &at.key("title"),
                "each link needs a title of its own; it is the button's text",
            );
            ok = false;
            continue;
        }
        match templates.add(&format!("checks.{check}.{name}"), &link.url) {
            Ok(Text::Plain(url)) if !is_web_url(&url) => {
                reader.problem(
                    &at.key("url"),
                    format!("`{url}` is not an http or https URL; a button can only open those"),
                );
                ok = false;
            }
            Ok(text) => out.push((name, text)),
            Err(error) => {
                reader.problem(
                    &at.key("url"),
                    format!("template does not compile: {error}"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn is_web_url(text: &str) -> bool {
    reqwest::Url::parse(text.trim()).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

impl Check {
    /// An event check's first run binds NULL as the cursor (no value, and no type, is known
    /// yet); a query that compares with it without handling NULL returns nothing, on every run,
    /// silently. Said when the query does not mention NULL at all.
    pub fn first_run_warning(&self) -> Option<String> {
        let CheckKind::Events {
            cursor,
            initial: None,
            ..
        } = &self.kind
        else {
            return None;
        };
        (!self.sql.to_ascii_lowercase().contains("null")).then(|| {
            format!(
                "check `{}`: the first run binds NULL as the cursor and this query does not handle NULL, so it may never return a row; set `events.initial` (e.g. `initial: 0`) or write `(:cursor is null or {cursor} > :cursor)` (`$1` on PostgreSQL, cast: `$1::bigint is null`)",
                self.name
            )
        })
    }
}

/// Why a check failed, kept as a kind that `dbalert_check_failed` carries as its `reason` label
/// and the metrics count, and the message that says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CheckFailure {
    pub reason: FailureReason,
    pub message: String,
}

/// The kind of a check's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureReason {
    /// The source's settings cannot make a connection (a bad URL, an unreadable CA file).
    Config,
    /// The database could not be reached, or the connection dropped.
    Connection,
    /// The database refused the login.
    Authentication,
    /// The query ran past its time limit and was cancelled.
    Timeout,
    /// The database rejected or failed the query.
    Query,
    /// The result cannot be used: a value unreadable, a key or cursor column missing.
    Data,
    /// The source kind cannot do what the check asks.
    Unsupported,
    /// dbalert's own task for the check stopped.
    Internal,
}

impl FailureReason {
    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Connection => "connection",
            Self::Authentication => "authentication",
            Self::Timeout => "timeout",
            Self::Query => "query",
            Self::Data => "data",
            Self::Unsupported => "unsupported",
            Self::Internal => "internal",
        }
    }
}

impl From<SourceError> for CheckFailure {
    fn from(error: SourceError) -> Self {
        let reason = match &error {
            SourceError::Config { .. } => FailureReason::Config,
            SourceError::Connect { .. } | SourceError::ConnectionLost { .. } => {
                FailureReason::Connection
            }
            SourceError::Authentication { .. } => FailureReason::Authentication,
            SourceError::Query { .. } => FailureReason::Query,
            SourceError::Timeout { .. } => FailureReason::Timeout,
            SourceError::Decode { .. } => FailureReason::Data,
            SourceError::Unsupported { .. } => FailureReason::Unsupported,
        };
        Self {
            reason,
            message: error.to_string(),
        }
    }
}

impl From<RowError> for CheckFailure {
    fn from(error: RowError) -> Self {
        Self {
            reason: FailureReason::Data,
            message: error.to_string(),
        }
    }
}
