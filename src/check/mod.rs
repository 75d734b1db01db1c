//! Checks: what to ask a source and how each row becomes an alert.
//!
//! A check is a query against one source. Its kind decides the lifecycle of what it returns
//! (see the spec's "Alerts" section):
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

mod fingerprint;
pub mod template;

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

pub use fingerprint::Fingerprint;
use template::{Context, Templates, Text};

use crate::alert::Labels;
use crate::config::duration::Duration;
use crate::config::reader::Reader;
use crate::config::yaml::Path;
use crate::source::{Queue, QueueKeys, Rows, SourceName, Value};

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
    /// How often `dbalert run` runs the check; `poll` runs every check each time. Default 1m.
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
    Events { cursor: String, start: Start },
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

/// An alert made from a row (or raised by dbalert itself).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub fingerprint: Fingerprint,
    /// The check that produced it.
    pub check: String,
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
}

/// A result's alerts, each made from its row when taken ([`Check::into_alerts`]).
pub struct Alerts<'a> {
    check: &'a Check,
    templates: &'a Templates,
    columns: Vec<String>,
    key: Vec<usize>,
    rows: std::vec::IntoIter<Vec<Value>>,
}

impl Iterator for Alerts<'_> {
    type Item = Alert;

    fn next(&mut self) -> Option<Alert> {
        let row = self.rows.next()?;
        Some(
            self.check
                .alert(&self.columns, &row, &self.key, self.templates),
        )
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.rows.size_hint()
    }
}

impl ExactSizeIterator for Alerts<'_> {}

/// Why rows could not be turned into alerts; the check counts as failed.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("check `{check}`: key column `{column}` is not in the result (columns: {columns})")]
    MissingKey {
        check: String,
        column: String,
        columns: String,
    },
    #[error("check `{check}`: cursor column `{column}` is not in the result (columns: {columns})")]
    MissingCursor {
        check: String,
        column: String,
        columns: String,
    },
}

/// The sources checks may name: every name under `sources:` (broken ones included, which
/// have their own problem), and the kind of each that could be read (for what `queue:` and
/// `deadlock_trace` may say).
pub(crate) struct Sources {
    pub names: BTreeSet<String>,
    pub kinds: BTreeMap<String, &'static str>,
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
            if let Some(warning) = check.first_run_warning() {
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
    let mut ok = true;
    let mut queue_ok = true;
    let mut problem = |reader: &mut Reader, key: &str, message: String| {
        reader.problem(&path.key(key), message);
        ok = false;
    };
    if raw.name.is_empty()
        || !raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        problem(
            reader,
            "name",
            format!(
                "`{}` is not a usable check name; use letters, digits, `_`, `-`, `.` or `:`",
                raw.name
            ),
        );
    }
    if raw.name == crate::poll::lifecycle::CHECK_FAILED {
        problem(
            reader,
            "name",
            format!(
                "`{}` is the name of the alert dbalert raises for a failing check; choose another",
                raw.name
            ),
        );
    }
    if !sources.names.contains(&raw.source) {
        let known: Vec<&str> = sources.names.iter().map(String::as_str).collect();
        problem(
            reader,
            "source",
            format!(
                "no source `{}`; {}",
                raw.source,
                if known.is_empty() {
                    "define it under `sources:`".to_owned()
                } else {
                    format!("sources are: {}", known.join(", "))
                }
            ),
        );
    }
    // A queue check takes no `sql:`, even when its `queue:` has problems of its own.
    let is_queue = raw.queue.is_some() && raw.events.is_none();
    let kind = match (raw.events, raw.queue) {
        (None, None) => CheckKind::State,
        (Some(events), None) => CheckKind::Events {
            cursor: events.cursor.to_lowercase(),
            start: events.start,
        },
        (None, Some(queue)) if sources.kinds.contains_key(&raw.source) => {
            match queue.resolve(&raw.source, sources.kinds[&raw.source]) {
                Ok(queue) => CheckKind::Queue(queue),
                Err(problems) => {
                    for (key, message) in problems {
                        let at = match key {
                            "" => path.key("queue"),
                            key => path.key("queue").key(key),
                        };
                        reader.problem(&at, message);
                    }
                    queue_ok = false;
                    CheckKind::State
                }
            }
        }
        // An unknown or broken source is reported on its own.
        (None, Some(_)) => CheckKind::State,
        (Some(_), Some(_)) => {
            problem(
                reader,
                "queue",
                "a check is either `events:` or `queue:`, not both".to_owned(),
            );
            CheckKind::State
        }
    };
    let sql = match (is_queue, raw.sql) {
        (true, Some(_)) => {
            problem(
                reader,
                "sql",
                "a queue check takes no `sql:`; the queue is read as it is".to_owned(),
            );
            String::new()
        }
        (true, None) => String::new(),
        (false, Some(sql)) if !sql.trim().is_empty() => sql,
        (false, _) => {
            problem(
                reader,
                "sql",
                "missing key `sql`; add the query this check runs".to_owned(),
            );
            String::new()
        }
    };
    if raw.deadlock_trace {
        if sources
            .kinds
            .get(&raw.source)
            .is_some_and(|kind| *kind != "oracle")
        {
            problem(
                reader,
                "deadlock_trace",
                "`deadlock_trace` reads Oracle trace files; it needs an oracle source".to_owned(),
            );
        }
        if is_queue {
            problem(
                reader,
                "deadlock_trace",
                "`deadlock_trace` applies to checks with `sql:`, not to queue checks".to_owned(),
            );
        }
        if raw.key.is_none() {
            problem(
                reader,
                "deadlock_trace",
                "`deadlock_trace` needs `key:` (e.g. `key: [inst_id, adr_home, record_id, originating_timestamp]`), so that the labels it adds do not change which alert a row is".to_owned(),
            );
        }
    }
    if raw.no_rows == NoRows::Alert && !matches!(kind, CheckKind::State) {
        problem(
            reader,
            "no_rows",
            "`no_rows: alert` applies to state checks only".to_owned(),
        );
    }
    let mut compile = |reader: &mut Reader, section: &str, values: BTreeMap<String, String>| {
        let mut out = Vec::new();
        for (name, source) in values {
            let template_name = format!("checks.{}.{section}.{name}", raw.name);
            match templates.add(&template_name, &source) {
                Ok(text) => out.push((name, text)),
                Err(error) => {
                    reader.problem(
                        &path.key(section).key(&name),
                        format!("template does not compile: {error}"),
                    );
                    ok = false;
                }
            }
        }
        out
    };
    let labels = compile(reader, "labels", raw.labels);
    let annotations = compile(reader, "annotations", raw.annotations);
    (ok && queue_ok).then(|| Check {
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

/// The kind of source `name` as the config writes it (`postgres`, `oracle`, `sqlite`: the one
/// key under `sources.<name>`), so that it is known even when the kind is not built in.
impl Check {
    /// An event check's first run binds NULL as the cursor (no value, and no type, is known
    /// yet); a query that compares with it without handling NULL returns nothing, on every run,
    /// silently. Said when the query does not mention NULL at all.
    pub fn first_run_warning(&self) -> Option<String> {
        let CheckKind::Events { cursor, .. } = &self.kind else {
            return None;
        };
        (!self.sql.to_ascii_lowercase().contains("null")).then(|| {
            format!(
                "check `{}`: the first run binds NULL as the cursor and this query does not handle NULL, so it may never return a row; write `(:cursor is null or {cursor} > :cursor)` (`$1` on PostgreSQL, cast: `$1::bigint is null`)",
                self.name
            )
        })
    }

    /// Turns each row into an alert: every non-empty column is a label, then the check's
    /// labels, then `alertname` and `source`, which nothing overrides. A template that fails on
    /// a row keeps its source text and is logged, so the alert is still sent.
    pub fn alerts(&self, rows: &Rows, templates: &Templates) -> Result<Vec<Alert>, RowError> {
        let key_columns = self.usable_columns(rows)?;
        Ok(rows
            .rows
            .iter()
            .map(|row| self.alert(&rows.columns, row, &key_columns, templates))
            .collect())
    }

    /// Like [`alerts`](Self::alerts), but takes the rows and makes each alert only when it is
    /// asked for, freeing its row: a large result is never held as rows and as alerts at once.
    pub fn into_alerts<'a>(
        &'a self,
        rows: Rows,
        templates: &'a Templates,
    ) -> Result<Alerts<'a>, RowError> {
        let key = self.usable_columns(&rows)?;
        Ok(Alerts {
            check: self,
            templates,
            columns: rows.columns,
            key,
            rows: rows.rows.into_iter(),
        })
    }

    /// The key columns' indices, once the columns the check needs are known to be there.
    fn usable_columns(&self, rows: &Rows) -> Result<Vec<usize>, RowError> {
        let key_columns = self.key_columns(rows)?;
        if let CheckKind::Events { cursor, .. } = &self.kind
            && rows.column(cursor).is_none()
        {
            return Err(RowError::MissingCursor {
                check: self.name.clone(),
                column: cursor.clone(),
                columns: rows.columns.join(", "),
            });
        }
        Ok(key_columns)
    }

    fn key_columns(&self, rows: &Rows) -> Result<Vec<usize>, RowError> {
        let Some(key) = &self.key else {
            return Ok((0..rows.columns.len()).collect());
        };
        key.iter()
            .map(|column| {
                rows.column(column).ok_or_else(|| RowError::MissingKey {
                    check: self.name.clone(),
                    column: column.clone(),
                    columns: rows.columns.join(", "),
                })
            })
            .collect()
    }

    fn alert(
        &self,
        columns: &[String],
        row: &[Value],
        key: &[usize],
        templates: &Templates,
    ) -> Alert {
        let source = &self.source.0;
        let mut labels = Labels::new();
        for (name, value) in columns.iter().zip(row) {
            let text = value.to_label();
            if !text.is_empty() {
                labels.insert(name.clone(), text);
            }
        }
        let context = (!self.labels.is_empty() || !self.annotations.is_empty())
            .then(|| Context::new(&self.name, source, columns, row));
        let render = |text: &Text| {
            match &context {
            Some(context) => templates.render(text, context).unwrap_or_else(|error| {
                tracing::warn!(check = %self.name, %error, "Template failed on a row; using its text.");
                match text {
                    Text::Plain(plain) | Text::Template { source: plain, .. } => plain.clone(),
                }
            }),
            None => String::new(),
        }
        };
        for (name, text) in &self.labels {
            labels.insert(name.clone(), render(text));
        }
        labels.insert("alertname".to_owned(), self.name.clone());
        labels.insert("source".to_owned(), source.clone());
        let annotations = self
            .annotations
            .iter()
            .map(|(name, text)| (name.clone(), render(text)))
            .collect();
        let identity = key
            .iter()
            .map(|&i| (columns[i].as_str(), row[i].to_label()));
        Alert {
            fingerprint: Fingerprint::of(&self.name, source, identity),
            check: self.name.clone(),
            labels,
            annotations,
        }
    }
}
