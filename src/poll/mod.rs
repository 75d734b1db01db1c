//! One poll: run the checks, update the alert lifecycle, route and group, deliver, and save.
//!
//! The order is what makes delivery at-least-once: nothing is saved and no queue message is
//! committed until the notifications that carry it were accepted. A crash (even `kill -9`)
//! between sending and saving repeats a notification on the next run; it never loses one.
//! A check that fails changes none of its alerts and raises `dbalert_check_failed` instead.

pub mod dispatch;
pub mod lifecycle;
pub mod service;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::check::{Alert, Alerts, Check, CheckKind, Fingerprint, NoRows, Start};
use crate::config::{Config, ReceiverName};
use crate::sink::{BuildError, Notice, Receipt, SendError, Sink};
use crate::source::{
    Effect, Queue, QueueBatch, QueueMessage, QueueWait, Rows, Source, SourceError, SourceName,
    Value,
};
use crate::state::{AlertRecord, Changes, NotificationEntry, StateError, StateStore};
use dispatch::{Event, Notification};
use lifecycle::Records;

/// How long a notification log entry that no notification refreshed is kept.
const LOG_RETENTION: std::time::Duration = std::time::Duration::from_secs(120 * 3600);

/// The most messages one queue check takes off its queue in one run.
pub const QUEUE_BATCH: usize = 500;

/// How a poll runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Print what would be sent; change no state and no queue.
    pub dry_run: bool,
    /// Run only these checks (all when empty).
    pub only: Vec<String>,
    pub now: Timestamp,
}

/// What a poll did, for the `-v` summary and the exit code.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub checks_ok: usize,
    pub checks_failed: usize,
    pub alerts_firing: usize,
    pub notifications_sent: usize,
    pub notifications_failed: usize,
    pub inhibited: usize,
    /// Groups held back by `group_wait` or `group_interval` (`run` only).
    pub deferred: usize,
    /// Groups not notified because their route is in a mute time interval.
    pub time_muted: usize,
    /// Each check run, in config order.
    pub checks: Vec<CheckOutcome>,
    /// Notifications accepted and failed, per receiver.
    pub deliveries: BTreeMap<ReceiverName, Deliveries>,
}

/// How one check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub name: String,
    pub source: SourceName,
    pub ok: bool,
    pub duration: std::time::Duration,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Deliveries {
    pub sent: usize,
    pub failed: usize,
}

impl Summary {
    /// Everything ran and every notification was accepted.
    pub fn all_ok(&self) -> bool {
        self.checks_failed == 0 && self.notifications_failed == 0
    }
}

/// Why a poll could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("no check named `{0}`; see `dbalert check` for the checks in the config")]
    UnknownCheck(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] BuildError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// A fetched check, its rows made into alerts.
enum Outcome<'a> {
    /// A state check's alerts, made as they are applied.
    State(Alerts<'a>),
    Rows(Rows, Vec<Alert>),
    Queue(QueueBatch),
}

/// What fetching one check gave.
pub(crate) enum Fetched {
    Rows(Rows),
    Queue(QueueBatch),
}

/// The checks `options.only` selects, in config order.
pub fn select<'a>(config: &'a Config, only: &[String]) -> Result<Vec<&'a Check>, PollError> {
    for name in only {
        if !config.checks.iter().any(|c| &c.name == name) {
            return Err(PollError::UnknownCheck(name.clone()));
        }
    }
    Ok(config
        .checks
        .iter()
        .filter(|c| only.is_empty() || only.contains(&c.name))
        .collect())
}

/// Runs one poll against `store`. The caller holds the state lock.
pub async fn poll(
    config: &Config,
    store: &mut StateStore,
    options: &Options,
) -> Result<Summary, PollError> {
    let checks = select(config, &options.only)?;
    let sources = build_sources(config, &checks);
    let sinks = build_sinks(config, options.dry_run)?;
    let cursors = load_cursors(store, &checks)?;
    // Run from cron: an empty queue must not hold the poll.
    let fetched = fetch_all(&checks, &sources, &cursors, QueueWait::NoWait).await;
    process(config, store, &sinks, &checks, fetched, options, false).await
}

/// The saved cursor of each event check among `checks`.
fn load_cursors(
    store: &StateStore,
    checks: &[&Check],
) -> Result<HashMap<String, Option<Value>>, PollError> {
    let mut cursors = HashMap::new();
    for check in checks {
        if matches!(check.kind, CheckKind::Events { .. }) {
            cursors.insert(check.name.clone(), store.load(&check.name)?.cursor);
        }
    }
    Ok(cursors)
}

/// Turns what `checks` fetched into alert changes, notifies, and saves. `paced` applies the
/// routes' `group_wait` and `group_interval`, as `run` does.
async fn process(
    config: &Config,
    store: &mut StateStore,
    sinks: &BTreeMap<ReceiverName, Arc<Sink>>,
    checks: &[&Check],
    fetched: Vec<(Result<Fetched, String>, std::time::Duration)>,
    options: &Options,
    paced: bool,
) -> Result<Summary, PollError> {
    let now = options.now;
    let mut stored = Vec::new();
    store.each_alert(|record| match Fingerprint::parse(&record.fingerprint) {
        Some(fingerprint) => stored.push((fingerprint, Box::new(record))),
        // dbalert writes only fingerprints it made (16 hex digits); another comes from an
        // edited file, and is left in it untouched.
        None => warn!(fingerprint = %record.fingerprint, "Stored alert without a valid fingerprint; ignored."),
    })?;
    // Collected at once, the map is built with full nodes (see `Records`).
    let mut records: Records = stored.into_iter().collect();
    let mut cursors = HashMap::new();
    let mut seen = HashMap::new();
    for check in checks {
        if !matches!(check.kind, CheckKind::State) {
            let state = store.load(&check.name)?;
            cursors.insert(check.name.clone(), state.cursor);
            seen.insert(check.name.clone(), state.seen_events);
        }
    }

    let mut summary = Summary::default();
    let mut changed = lifecycle::Changed::new();
    let mut events = Vec::new();
    let mut new_cursors: Vec<(String, Value)> = Vec::new();
    let mut batches: Vec<(String, QueueBatch)> = Vec::new();
    let mut skipped: Vec<(String, String)> = Vec::new();
    for (check, (outcome, duration)) in checks.iter().zip(fetched) {
        // Rows become alerts here, once; a row the check cannot use (a missing key or cursor
        // column) fails the check like an SQL error would.
        let outcome = outcome.and_then(|fetched| match fetched {
            Fetched::Queue(batch) => Ok(Outcome::Queue(batch)),
            Fetched::Rows(rows) => {
                debug!(check = %check.name, rows = rows.rows.len(), "Check ran.");
                match check.kind {
                    CheckKind::State => check
                        .into_alerts(rows, &config.templates)
                        .map(Outcome::State),
                    _ => check
                        .alerts(&rows, &config.templates)
                        .map(|alerts| Outcome::Rows(rows, alerts)),
                }
                .map_err(|e| e.to_string())
            }
        });
        summary.checks.push(CheckOutcome {
            name: check.name.clone(),
            source: check.source.clone(),
            ok: outcome.is_ok(),
            duration,
        });
        let fetched = match outcome {
            Ok(fetched) => fetched,
            Err(error) => {
                warn!(check = %check.name, source = %check.source, %error, "Check failed; its alerts stay as they were.");
                summary.checks_failed += 1;
                lifecycle::apply_failure(&mut records, check, &error, now, &mut changed);
                continue;
            }
        };
        summary.checks_ok += 1;
        lifecycle::clear_failure(&mut records, check, now, &mut changed);
        match (&check.kind, fetched) {
            (CheckKind::State, Outcome::State(alerts)) => {
                let no_rows = (alerts.len() == 0 && check.no_rows == NoRows::Alert)
                    .then(|| no_rows_alert(check));
                let alerts = alerts.chain(no_rows);
                lifecycle::apply_run(&mut records, &check.name, alerts, now, &mut changed);
            }
            (CheckKind::Events { cursor, start }, Outcome::Rows(rows, alerts)) => {
                let column = rows
                    .column(cursor)
                    .expect("the cursor column was checked above");
                // No cursor row at all means this check never ran successfully. Its first
                // successful run saves one, NULL when it saw no rows, so that the next run
                // does not take real events for history.
                let first_run = !matches!(cursors.get(&check.name), Some(Some(_)));
                let previous = cursors.get(&check.name).cloned().flatten();
                let largest = rows
                    .rows
                    .iter()
                    .map(|row| &row[column])
                    .filter(|v| !matches!(v, Value::Null))
                    .fold(previous.clone(), |max, v| match max {
                        Some(m) if m.compare(v).is_some_and(|o| o.is_ge()) => Some(m),
                        _ => Some(v.clone()),
                    });
                match largest {
                    Some(largest) if Some(&largest) != previous.as_ref() => {
                        new_cursors.push((check.name.clone(), largest));
                    }
                    None if first_run => new_cursors.push((check.name.clone(), Value::Null)),
                    _ => {}
                }
                if first_run && *start == Start::Now {
                    info!(check = %check.name, skipped = alerts.len(), "First run: history skipped (start: now).");
                    // Remembered as seen, so a query that reads its last row again
                    // (`id >= :cursor`) does not send history on the next run.
                    skipped.extend(
                        alerts
                            .into_iter()
                            .map(|a| (check.name.clone(), a.fingerprint.to_string())),
                    );
                    continue;
                }
                let already = seen.get(&check.name);
                events.extend(
                    alerts
                        .into_iter()
                        .filter(|a| already.is_none_or(|s| !s.contains(&a.fingerprint.to_string())))
                        .map(|alert| Event { alert }),
                );
            }
            (CheckKind::Queue(_), Outcome::Queue(batch)) => {
                let mut transitions = Vec::new();
                for message in &batch.messages {
                    for warning in &message.warnings {
                        warn!(check = %check.name, message_id = %message.id, %warning, "Queue message not read as it is; sent anyway.");
                    }
                    let alert = queue_alert(check, message);
                    match message.effect {
                        Effect::Event => events.push(Event { alert }),
                        Effect::Fire => transitions.push((alert, lifecycle::Transition::Fire)),
                        Effect::Resolve => {
                            transitions.push((alert, lifecycle::Transition::Resolve));
                        }
                    }
                }
                lifecycle::apply_transitions(&mut records, transitions, now, &mut changed);
                batches.push((check.name.clone(), batch));
            }
            _ => unreachable!("fetch_all returns rows for row checks and a batch for queue checks"),
        }
    }

    let configured = config.checks.iter().map(|c| c.name.as_str()).collect();
    lifecycle::retire_unknown(&mut records, &configured, now, &mut changed);
    // Read only now that the rows are gone: a group's entry lists every alert in it.
    let log: HashMap<(String, ReceiverName), NotificationEntry> = store
        .notifications()?
        .into_iter()
        .map(|e| ((e.group_key.clone(), e.receiver.clone()), e))
        .collect();
    let plan = dispatch::plan(config, &records, &events, &log, now, paced);
    summary.inhibited = plan.inhibited;
    summary.deferred = plan.deferred;
    summary.time_muted = plan.time_muted;
    if plan.time_muted > 0 {
        info!(
            groups = plan.time_muted,
            "Groups not notified: their route is in a mute time interval (events in them are dropped)."
        );
    }
    summary.alerts_firing = records.values().filter(|r| r.resolved_at.is_none()).count();
    let mut notifications = plan.notifications;
    let results = deliver(&mut notifications, sinks, now).await;

    let mut failed_checks: BTreeSet<&str> = BTreeSet::new();
    let mut delivered_events: BTreeSet<(String, String)> = BTreeSet::new();
    let mut undelivered_events: BTreeSet<(String, String)> = BTreeSet::new();
    let mut changes = Changes {
        seen_events: skipped,
        ..Changes::default()
    };
    let mut log = log;
    for (notification, result) in notifications.iter().zip(results) {
        match result {
            Ok(thread) => {
                summary.notifications_sent += 1;
                summary
                    .deliveries
                    .entry(notification.receiver.clone())
                    .or_default()
                    .sent += 1;
                for fingerprint in notification
                    .firing
                    .iter()
                    .filter_map(|f| Fingerprint::parse(f))
                {
                    if let Some(record) = records.get_mut(&fingerprint) {
                        record.last_notified_at = Some(now);
                        changed.insert(fingerprint);
                    }
                }
                let key = (
                    notification.group_key.clone(),
                    notification.receiver.clone(),
                );
                if notification.firing.is_empty() {
                    log.remove(&key);
                    changes.removed_notifications.push(key);
                } else {
                    let entry = NotificationEntry {
                        group_key: notification.group_key.clone(),
                        receiver: notification.receiver.clone(),
                        firing: notification.firing.clone(),
                        resolved: notification.resolved.clone(),
                        notified_at: now,
                        thread,
                    };
                    log.insert(key, entry.clone());
                    changes.notifications.push(entry);
                }
                delivered_events.extend(notification.events.iter().cloned());
            }
            Err(error) => {
                summary.notifications_failed += 1;
                summary
                    .deliveries
                    .entry(notification.receiver.clone())
                    .or_default()
                    .failed += 1;
                warn!(receiver = %notification.receiver, group = %notification.group_key, %error, "Notification not accepted; it is retried next run.");
                failed_checks.extend(notification.events.iter().map(|(check, _)| check.as_str()));
                undelivered_events.extend(notification.events.iter().cloned());
            }
        }
    }
    // An event goes to every receiver its routes name; it counts as sent only when all of them
    // accepted it, so one that failed gets it next run (the others may get it twice).
    changes.seen_events.extend(
        delivered_events
            .into_iter()
            .filter(|event| !undelivered_events.contains(event)),
    );

    // Cursors move, and queue messages are committed, only for checks whose every event was
    // accepted; the others read the same rows again next run and skip the ones already sent.
    changes.cursors = new_cursors
        .into_iter()
        .filter(|(check, _)| !failed_checks.contains(check.as_str()))
        .collect();
    if options.dry_run {
        for (check, batch) in batches {
            if let Err(error) = batch.rollback().await {
                warn!(check = %check, %error, "Queue transaction did not finish; its messages stay queued.");
            }
        }
        info!(?summary, "Dry run: nothing saved.");
        return Ok(summary);
    }

    // Entries no notification refreshed for a long time belong to groups the current routes no
    // longer make (Alertmanager keeps its log 120h too); without them their resolved alerts
    // can be forgotten.
    let expired: Vec<(String, ReceiverName)> = log
        .iter()
        .filter(|(_, entry)| now.duration_since(entry.notified_at).unsigned_abs() > LOG_RETENTION)
        .map(|(key, _)| key.clone())
        .collect();
    for key in expired {
        log.remove(&key);
        changes.removed_notifications.push(key);
    }
    // A resolved alert is forgotten once no group still reports it as firing.
    let reported: BTreeSet<&String> = log.values().flat_map(|e| e.firing.iter()).collect();
    for (fingerprint, record) in &records {
        if record.resolved_at.is_some() && !reported.contains(&record.fingerprint) {
            changes.removed_alerts.push(record.fingerprint.clone());
        } else if changed.contains(fingerprint) {
            changes.alerts.push(AlertRecord::clone(record));
        }
    }
    store.save(&changes)?;
    // Queue batches end only after the save. A message that fired or resolved a state alert
    // (an Oracle server alert) lives on in the saved state, which notifies it until accepted;
    // committing before the save, a crash in between would lose the fire, and then the clear
    // would find nothing to resolve. Saved first, a crash before the commit redelivers the
    // message, whose change is already made (see `lifecycle::apply_transitions`). Such a check
    // fails only through its events, so a failed notification of a state alert does not roll
    // its batch back: the state retries it, and a rollback would only move the message to the
    // exception queue after `max_retries`. If the save fails, the batches are dropped, which
    // rolls them back.
    for (check, batch) in batches {
        let result = if failed_checks.contains(check.as_str()) {
            batch.rollback().await
        } else {
            batch.commit().await
        };
        // Either way the messages are safe: a failed commit leaves them in the queue, to be
        // sent again next run.
        if let Err(error) = result {
            warn!(check = %check, %error, "Queue transaction did not finish; its messages stay queued.");
        }
    }
    info!(
        checks_ok = summary.checks_ok,
        checks_failed = summary.checks_failed,
        alerts_firing = summary.alerts_firing,
        notifications_sent = summary.notifications_sent,
        notifications_failed = summary.notifications_failed,
        inhibited = summary.inhibited,
        "Poll done."
    );
    Ok(summary)
}

/// The sources `checks` read. One that cannot be built fails only its own checks.
fn build_sources(config: &Config, checks: &[&Check]) -> Sources {
    let mut sources = BTreeMap::new();
    for check in checks {
        sources.entry(check.source.clone()).or_insert_with(|| {
            config
                .sources
                .get(&check.source)
                .expect("the config loader checks that every check's source exists")
                .build(check.source.clone())
                .map(Arc::new)
                .map_err(|e| e.to_string())
        });
    }
    sources
}

/// Built sources by name, or why one could not be built.
type Sources = BTreeMap<SourceName, Result<Arc<Source>, String>>;

/// Every receiver as a sink; with `dry_run`, every one prints instead.
fn build_sinks(
    config: &Config,
    dry_run: bool,
) -> Result<BTreeMap<ReceiverName, Arc<Sink>>, PollError> {
    config
        .receivers
        .values()
        .map(|receiver| {
            let sink = if dry_run {
                Sink::dry_run(receiver)
            } else {
                Sink::build(receiver)?
            };
            Ok((receiver.name.clone(), Arc::new(sink)))
        })
        .collect()
}

/// Fetches every check, one task per source so that a slow or failing source never delays
/// the others; the checks of one source run one after another. Results are in `checks` order.
async fn fetch_all(
    checks: &[&Check],
    sources: &Sources,
    cursors: &HashMap<String, Option<Value>>,
    wait: QueueWait,
) -> Vec<(Result<Fetched, String>, std::time::Duration)> {
    let mut by_source: BTreeMap<&SourceName, Vec<(usize, Check)>> = BTreeMap::new();
    for (i, check) in checks.iter().enumerate() {
        by_source
            .entry(&check.source)
            .or_default()
            .push((i, (*check).clone()));
    }
    let mut tasks = JoinSet::new();
    for (name, jobs) in by_source {
        let source = sources[name].clone();
        let cursors: Vec<Option<Value>> = jobs
            .iter()
            .map(|(_, c)| cursors.get(&c.name).cloned().flatten())
            .collect();
        tasks.spawn(async move {
            let mut out = Vec::new();
            for ((i, check), cursor) in jobs.into_iter().zip(cursors) {
                let started = std::time::Instant::now();
                let source = match &source {
                    Ok(source) => source,
                    Err(error) => {
                        out.push((i, (Err(error.clone()), started.elapsed())));
                        continue;
                    }
                };
                let result = match &check.kind {
                    CheckKind::Queue(Queue::Table(table)) => {
                        source.dequeue(table, QUEUE_BATCH).await.map(Fetched::Queue)
                    }
                    CheckKind::Queue(Queue::Aq(aq)) => source
                        .dequeue_aq(aq, QUEUE_BATCH, wait)
                        .await
                        .map(Fetched::Queue),
                    _ => match source.fetch(&check.sql, cursor.as_ref()).await {
                        Ok(rows) if check.deadlock_trace => Ok(Fetched::Rows(
                            source.add_deadlock_labels(&check.name, rows).await,
                        )),
                        fetched => fetched.map(Fetched::Rows),
                    },
                };
                out.push((i, (result.map_err(|e| e.to_string()), started.elapsed())));
            }
            out
        });
    }
    let mut results: Vec<Option<(Result<Fetched, String>, std::time::Duration)>> =
        (0..checks.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(done) => {
                for (i, result) in done {
                    results[i] = Some(result);
                }
            }
            Err(panic) => warn!(error = %panic, "A source task failed."),
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                let error = Err("the check's task stopped unexpectedly".to_owned());
                (error, std::time::Duration::ZERO)
            })
        })
        .collect()
}

/// Sends every notification, one task per receiver so that receivers do not wait on each
/// other; one receiver's notifications go in order (its sink paces them). Each message is
/// moved out of its notification into the task. Answers are in `notifications` order.
async fn deliver(
    notifications: &mut [Notification],
    sinks: &BTreeMap<ReceiverName, Arc<Sink>>,
    now: Timestamp,
) -> Vec<Receipt> {
    let mut receipts: Vec<Option<Receipt>> = (0..notifications.len()).map(|_| None).collect();
    let mut by_receiver: BTreeMap<ReceiverName, (Vec<usize>, Vec<Notice>)> = BTreeMap::new();
    for (i, n) in notifications.iter_mut().enumerate() {
        // Everything resolved with send_resolved off: nothing to show, but the log still
        // records it (Alertmanager's rule), so it counts as accepted.
        if n.message.firing.is_empty() && n.message.resolved.is_empty() {
            receipts[i] = Some(Ok(n.thread.clone()));
            continue;
        }
        let (indexes, notices) = by_receiver.entry(n.receiver.clone()).or_default();
        indexes.push(i);
        notices.push(Notice {
            group_key: n.group_key.clone(),
            message: std::mem::take(&mut n.message),
            thread: n.thread.clone(),
        });
    }
    let mut tasks = JoinSet::new();
    for (receiver, (indexes, notices)) in by_receiver {
        let sink = sinks
            .get(&receiver)
            .cloned()
            .unwrap_or_else(|| unreachable!("routes name only receivers that exist: {receiver}"));
        tasks.spawn(async move {
            let answers = sink.notify_all(&notices, now).await;
            indexes.into_iter().zip(answers).collect::<Vec<_>>()
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(done) => {
                for (i, receipt) in done {
                    receipts[i] = Some(receipt);
                }
            }
            Err(panic) => warn!(error = %panic, "A delivery task failed."),
        }
    }
    receipts
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(Arc::new(SendError::Stdout(std::io::Error::other(
                    "the delivery task stopped unexpectedly",
                ))))
            })
        })
        .collect()
}

/// The alert a `no_rows: alert` check raises while its query returns nothing.
fn no_rows_alert(check: &Check) -> Alert {
    let labels = [
        ("alertname".to_owned(), check.name.clone()),
        ("source".to_owned(), check.source.0.clone()),
        ("reason".to_owned(), "no_rows".to_owned()),
    ]
    .into();
    Alert {
        fingerprint: Fingerprint::of(
            &check.name,
            &check.source.0,
            [("reason", "no_rows".to_owned())].into_iter(),
        ),
        check: check.name.clone(),
        labels,
        annotations: [(
            "summary".to_owned(),
            format!("Check {} returned no rows", check.name),
        )]
        .into(),
    }
}

/// A queue message as an alert: a JSON object's keys become labels (and `summary` and
/// `description` annotations too); any other payload becomes the summary. The message's
/// identity makes the fingerprint.
fn queue_alert(check: &Check, message: &QueueMessage) -> Alert {
    let mut labels = crate::alert::Labels::new();
    let mut annotations = BTreeMap::new();
    match &message.payload {
        Value::Json(serde_json::Value::Object(map)) => {
            for (key, value) in map {
                let text = match value {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => continue,
                    other => other.to_string(),
                };
                if matches!(key.as_str(), "summary" | "description") {
                    annotations.insert(key.clone(), text.clone());
                }
                labels.insert(key.to_lowercase(), text);
            }
        }
        // A JSON string (`dbalert_enqueue(to_jsonb('text'))`) is text, not JSON to quote.
        Value::Json(serde_json::Value::String(text)) => {
            annotations.insert("summary".to_owned(), text.clone());
        }
        other => {
            annotations.insert("summary".to_owned(), other.to_label());
        }
    }
    labels.insert("alertname".to_owned(), check.name.clone());
    labels.insert("source".to_owned(), check.source.0.clone());
    let identity = message
        .identity
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()));
    Alert {
        fingerprint: Fingerprint::of(&check.name, &check.source.0, identity),
        check: check.name.clone(),
        labels,
        annotations,
    }
}

// The checks under test read Oracle's SYS.ALERT_QUE, which only a build with Oracle accepts.
#[cfg(all(test, feature = "oracle"))]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A server-alert queue check (SYS.ALERT_QUE), delivering to stdout.
    fn config(dir: &std::path::Path) -> Config {
        let text = "state: {path: state.db}\n\
            sources:\n  prod: {oracle: {connect: //db1/PROD}}\n\
            receivers:\n  dba: {stdout: {format: json}}\n\
            route: {receiver: dba, group_by: [alertname, object_name]}\n\
            checks:\n  - {name: server_alerts, source: prod, queue: {name: SYS.ALERT_QUE, consumer: DBALERT}}\n";
        crate::config::parse(text, &dir.join("alerts.yaml"), Box::new(|_| None)).unwrap()
    }

    fn message(effect: Effect, level: &str) -> QueueMessage {
        let labels = serde_json::json!({
            "reason_id": "9", "owner": "SYS", "object_type": "TABLESPACE",
            "object_name": "USERS", "severity": "warning", "message_level": level,
            "summary": "Tablespace [USERS] is [91 percent] full",
        });
        QueueMessage {
            id: format!("enqueued 2026-11-23 08:14:0{level} #1"),
            payload: Value::Json(labels),
            identity: vec![
                ("reason_id".into(), "9".into()),
                ("object_name".into(), "USERS".into()),
            ],
            effect,
            warnings: Vec::new(),
        }
    }

    /// One run with `messages` dequeued; returns the summary and, for each way the batch
    /// ended, the alerts the state file held at that moment (firing ones, by starts).
    async fn run(
        dir: &std::path::Path,
        messages: Vec<QueueMessage>,
        dry_run: bool,
    ) -> (Summary, Vec<(&'static str, usize)>) {
        let config = config(dir);
        let state = dir.join("state.db");
        let mut store = StateStore::open(&state).unwrap();
        let ended = Arc::new(Mutex::new(Vec::new()));
        let seen = ended.clone();
        let batch = QueueBatch::observed(messages, move |how| {
            // What a crash right after this commit would leave: the state as saved.
            let saved = StateStore::open(&state).unwrap().alerts().unwrap();
            let firing = saved.iter().filter(|r| r.resolved_at.is_none()).count();
            seen.lock().unwrap().push((how, firing));
        });
        let checks: Vec<&Check> = config.checks.iter().collect();
        let sinks = build_sinks(&config, false).unwrap();
        let options = Options {
            dry_run,
            only: Vec::new(),
            now: Timestamp::from_second(1_800_000_000).unwrap(),
        };
        let fetched = vec![(Ok(Fetched::Queue(batch)), std::time::Duration::ZERO)];
        let summary = process(
            &config, &mut store, &sinks, &checks, fetched, &options, false,
        )
        .await
        .unwrap();
        let ended = ended.lock().unwrap().clone();
        (summary, ended)
    }

    #[tokio::test]
    async fn a_server_alert_fires_and_its_clear_resolves_it_with_the_queue_committed_after_the_save()
     {
        let dir = tempfile::tempdir().unwrap();
        let (summary, ended) = run(dir.path(), vec![message(Effect::Fire, "5")], false).await;
        assert_eq!(summary.notifications_sent, 1);
        assert_eq!(summary.alerts_firing, 1);
        assert_eq!(ended, [("commit", 1)], "committed once the fire was saved");

        // Redelivered (a crash before the commit, or the same alert raised again): already
        // firing and notified, so nothing new is sent.
        let (summary, ended) = run(dir.path(), vec![message(Effect::Fire, "5")], false).await;
        assert_eq!((summary.notifications_sent, summary.alerts_firing), (0, 1));
        assert_eq!(ended, [("commit", 1)]);

        let (summary, ended) = run(dir.path(), vec![message(Effect::Resolve, "32")], false).await;
        assert_eq!(summary.notifications_sent, 1, "the resolved notification");
        assert_eq!(summary.alerts_firing, 0);
        assert_eq!(ended, [("commit", 0)], "committed once the clear was saved");

        // A redelivered clear finds nothing firing.
        let (summary, ended) = run(dir.path(), vec![message(Effect::Resolve, "32")], false).await;
        assert_eq!((summary.notifications_sent, summary.alerts_firing), (0, 0));
        assert_eq!(ended, [("commit", 0)]);
    }

    /// A log that tests can read back.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_message_read_with_warnings_is_sent_and_logged_with_check_and_message_id() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mut odd = message(Effect::Fire, "5");
        odd.warnings = vec!["payload is not UTF-8 (invalid byte at offset 3); sent as hex".into()];
        let (summary, ended) = run(dir.path(), vec![odd], false).await;
        assert_eq!(summary.notifications_sent, 1, "still sent");
        assert_eq!(ended, [("commit", 1)]);
        let logged = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        let line = logged
            .lines()
            .find(|l| l.contains("Queue message not read as it is"))
            .unwrap_or_else(|| panic!("{logged}"));
        assert!(line.contains("check=server_alerts"), "{line}");
        assert!(
            line.contains("message_id=enqueued 2026-11-23 08:14:05 #1"),
            "{line}"
        );
        assert!(line.contains("invalid byte at offset 3"), "{line}");
    }

    #[tokio::test]
    async fn a_dry_run_rolls_the_batch_back_and_saves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (summary, ended) = run(dir.path(), vec![message(Effect::Fire, "5")], true).await;
        assert_eq!(summary.notifications_sent, 1);
        assert_eq!(ended, [("rollback", 0)]);
    }
}
