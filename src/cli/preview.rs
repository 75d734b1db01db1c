//! `dbalert preview`: the messages one check would produce, routed and grouped as `poll` would,
//! printed as they read in Slack (or as JSON payloads). Nothing is sent and no state is read or
//! written, so the messages are those of a first run: every row fires.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;

use super::{Cli, Failure, Outcome, load_config_with};
use crate::alert::view::reported_start;
use crate::alert::{Alert, AlertView, GroupMessage};
use crate::check::alerts::{no_rows_alert, queue_alert};
use crate::check::{Check, CheckKind, NoRows};
use crate::config::References;
use crate::route::{group_key, group_labels};
use crate::settings::Config;
use crate::sink::stdout::{Format, StdoutSink};
use crate::sink::{Encoder, Notice, ReceiverKind, ReceiverName};
use crate::source::{QueueMessage, Rows, Value};

/// The largest `--rows` file read; a preview needs a handful of rows.
const MAX_ROWS_BYTES: u64 = 16 << 20;

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// The check whose messages to show.
    #[arg(long, value_name = "NAME")]
    pub check: String,
    /// Take the rows from this JSON file (a list of objects, one per row, keyed by column)
    /// instead of running the check's query.
    #[arg(long, value_name = "FILE.json")]
    pub rows: Option<PathBuf>,
    /// Print each payload as one line of JSON, with its receiver, instead of as text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, args: &PreviewArgs) -> Result<Outcome, Failure> {
    // Rows from a file need no source, so no secret of one.
    let references = match args.rows {
        Some(_) => References::Deferred,
        None => References::Required,
    };
    let config = load_config_with(cli, references)?;
    let Some(check) = config.checks.iter().find(|c| c.name == args.check) else {
        let known: Vec<&str> = config.checks.iter().map(|c| c.name.as_str()).collect();
        return Err(Failure::usage(anyhow!(
            "no check `{}` in {}; checks there: {}",
            args.check,
            config.file.display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    };
    let alerts = match &args.rows {
        Some(file) => alerts(check, read_rows(file)?, &config)?,
        None => {
            let rows = super::runtime_multi()?
                .block_on(crate::poll::probe_one(&config, check))
                .map_err(|failure| Failure::failed(anyhow!("check `{}`: {failure}", check.name)))?;
            let Some(rows) = rows else {
                return Err(Failure::usage(anyhow!(
                    "check `{}` reads a queue, and a preview takes nothing off it; give --rows FILE.json with the messages' payloads",
                    check.name
                )));
            };
            alerts(check, rows, &config)?
        }
    };
    if alerts.is_empty() {
        outln!("check `{}`: no rows, so no message", check.name);
        return Ok(Outcome::Done);
    }
    print(&config, &alerts, args.json)?;
    Ok(Outcome::Done)
}

/// What `rows` fire for `check`, as a first run would.
fn alerts(check: &Check, rows: Rows, config: &Config) -> Result<Vec<Alert>, Failure> {
    if let CheckKind::Queue(_) = check.kind {
        return Ok(queue_alerts(check, rows));
    }
    if rows.rows.is_empty() && check.no_rows == NoRows::Alert {
        return Ok(vec![no_rows_alert(check)]);
    }
    check
        .alerts(&rows, &config.templates)
        .map_err(|e| Failure::usage(anyhow!(e)))
}

/// Each row as a queue message whose payload is the row as a JSON object.
fn queue_alerts(check: &Check, rows: Rows) -> Vec<Alert> {
    rows.rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let payload: serde_json::Map<String, serde_json::Value> = rows
                .columns
                .iter()
                .zip(row)
                .map(|(name, value)| (name.clone(), json_of(value)))
                .collect();
            let payload = Value::Json(serde_json::Value::Object(payload));
            queue_alert(
                check,
                &QueueMessage::event(i.to_string(), payload, Vec::new()),
            )
        })
        .collect()
}

fn json_of(value: Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => b.into(),
        Value::Int(i) => i.into(),
        Value::Json(json) => json,
        other => other.to_label().into(),
    }
}

/// Routes and groups `alerts` as `poll` does, and prints each group's message per receiver.
fn print(config: &Config, alerts: &[Alert], json: bool) -> Result<(), Failure> {
    let now = jiff::Timestamp::now();
    let mut groups: BTreeMap<(ReceiverName, String), GroupMessage> = BTreeMap::new();
    let route = config.route.as_ref().ok_or_else(|| {
        Failure::usage(anyhow!(
            "the config has no `route:`, so no alert goes anywhere"
        ))
    })?;
    for alert in alerts {
        for node in route.resolve(&alert.labels) {
            let key = (node.opts.receiver.clone(), group_key(node, &alert.labels));
            let group = groups.entry(key).or_insert_with(|| GroupMessage {
                group_labels: group_labels(&node.opts.group_by, &alert.labels),
                ..GroupMessage::default()
            });
            group.firing.push(AlertView {
                fingerprint: alert.fingerprint,
                labels: alert.labels.clone(),
                annotations: alert.annotations.clone(),
                starts_at: reported_start(&alert.labels).unwrap_or(now),
                ends_at: None,
            });
        }
    }
    let format = if json { Format::Json } else { Format::Text };
    for ((receiver, group_key), message) in groups {
        let receiver = &config.receivers[&receiver];
        if !json && matches!(receiver.kind, ReceiverKind::Alertmanager(_)) {
            outln!(
                "── to {}\n(an alertmanager receiver: it is sent the alerts, not a message)\n",
                receiver.name
            );
            continue;
        }
        let notice = Notice {
            group_key,
            message,
            thread: None,
            controls: None,
        };
        let printer = StdoutSink {
            receiver: Some(receiver.name.clone()),
            format,
        };
        for request in Encoder::of(receiver).encode(&[notice], now) {
            printer.print(&request.body).map_err(Failure::failed)?;
        }
    }
    Ok(())
}

/// Reads `--rows`: a JSON list of objects, each a row keyed by column name.
fn read_rows(file: &Path) -> Result<Rows, Failure> {
    let bytes = crate::config::file::read_file(file, MAX_ROWS_BYTES)
        .map_err(|e| Failure::usage(anyhow!("cannot read {}: {e}", file.display())))?;
    let shape = || {
        Failure::usage(anyhow!(
            "{}: expected a list of objects, one per row, such as [{{\"owner\": \"ORDERS\", \"pct\": 97}}]",
            file.display()
        ))
    };
    let list: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(|e| {
        if e.is_data() {
            return shape();
        }
        Failure::usage(anyhow!(
            "{}:{}:{}: not valid JSON: {e}",
            file.display(),
            e.line(),
            e.column()
        ))
    })?;
    let mut columns: Vec<String> = Vec::new();
    let mut objects = Vec::with_capacity(list.len());
    for item in list {
        let serde_json::Value::Object(object) = item else {
            return Err(shape());
        };
        let object: BTreeMap<String, serde_json::Value> = object
            .into_iter()
            .map(|(k, v)| (k.to_lowercase(), v))
            .collect();
        for name in object.keys() {
            if !columns.contains(name) {
                columns.push(name.clone());
            }
        }
        objects.push(object);
    }
    let mut rows = Rows::new(&columns);
    rows.rows = objects
        .into_iter()
        .map(|mut object| {
            columns
                .iter()
                .map(|c| value_of(object.remove(c).unwrap_or_default()))
                .collect()
        })
        .collect();
    Ok(rows)
}

/// A JSON value as the column value a database would have returned.
fn value_of(json: serde_json::Value) -> Value {
    use serde_json::Value as Json;
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => n.as_f64().map_or(Value::Null, Value::Float),
        },
        Json::String(s) => Value::text(s),
        other => Value::Json(other),
    }
}
