//! The poll engine: one run of the checks, in named phases, each in its own file with a named
//! hand-off to the next (after Alertmanager's notification stages):
//!
//! 1. [`fetch`]: each source runs its checks' queries or dequeues their batches ([`Fetch`]);
//! 2. [`ingest`]: what came back becomes alert changes, per kind of check ([`ingest::Intake`]);
//!    the changed alerts are saved before anything is sent, which also proves that the state
//!    file can be written;
//! 3. [`plan`]: inhibition, routing, grouping and the dedup decision ([`plan::Plan`]); then
//!    [`controls`] gives Slack app messages their buttons;
//! 4. [`deliver`]: every receiver's sink sends, answers coming back as they arrive;
//! 5. [`settle`]: each answer becomes state changes, saved as it comes ([`settle::Ledger`]);
//! 6. [`commit`]: cursors, forgotten alerts and log entries are saved, then queue batches are
//!    committed or rolled back.
//!
//! The order is what makes delivery at-least-once: nothing is recorded as sent and no queue
//! message is committed until the notification that carries it was accepted, and each accepted
//! notification is recorded at once. A crash (even `kill -9`) repeats at most the notification
//! in flight (a queue check's batch is committed at the end, so its messages come back); it
//! never loses one. `poll`, `run` ([`service`]) and `check --connect` ([`probe`]) drive the
//! same phases; [`batch`] holds those from ingest to commit in the pieces `poll` takes one
//! after another and `run` takes with several batches in delivery at once.

pub mod batch;
pub mod commit;
pub mod controls;
pub mod deliver;
pub mod fetch;
pub mod gather;
pub mod ingest;
pub mod lifecycle;
pub mod plan;
pub mod schedule;
pub mod service;
pub mod settle;

use std::collections::BTreeMap;

use jiff::Timestamp;
use tracing::info;

use crate::check::{Check, CheckFailure, FailureReason};
use crate::settings::Config;
use crate::sink::{BuildError, ReceiverName};
use crate::source::{QueueWait, Rows, SourceError, SourceName};
use crate::state::{StateError, StateStore};
use batch::Books;
use deliver::Outbox;
pub use deliver::{Sinks, Stop, build_sinks};
pub use fetch::{Fetch, Fetched, Mode, QUEUE_BATCH};
use ingest::Intake;

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
    /// Firing alerts and events muted by a silence.
    pub silenced: usize,
    /// Acknowledged groups not repeated.
    pub acked: usize,
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
    /// How long after its slot the check began (`run` only, see [`schedule`]); `None` under
    /// `poll` and for a queue check woken by a notification.
    pub lateness: Option<std::time::Duration>,
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

    /// What the checks gave and the plan decided, before anything is sent.
    fn planned(intake: &Intake, plan: &plan::Plan) -> Self {
        if plan.time_muted > 0 {
            info!(
                groups = plan.time_muted,
                "Groups not notified: their route is in a mute time interval (events in them are dropped)."
            );
        }
        let failed = intake.outcomes.iter().filter(|c| !c.ok).count();
        Self {
            checks_ok: intake.outcomes.len() - failed,
            checks_failed: failed,
            alerts_firing: intake
                .records
                .values()
                .filter(|r| r.resolved_at.is_none())
                .count(),
            inhibited: plan.inhibited,
            silenced: plan.silenced,
            acked: plan.acked,
            deferred: plan.deferred,
            time_muted: plan.time_muted,
            checks: intake.outcomes.clone(),
            ..Self::default()
        }
    }

    /// Counts one notification to `receiver`, accepted or not.
    fn count(&mut self, receiver: &ReceiverName, accepted: bool) {
        let deliveries = self.deliveries.entry(receiver.clone()).or_default();
        match accepted {
            true => {
                self.notifications_sent += 1;
                deliveries.sent += 1;
            }
            false => {
                self.notifications_failed += 1;
                deliveries.failed += 1;
            }
        }
    }

    fn log(&self) {
        info!(
            checks_ok = self.checks_ok,
            checks_failed = self.checks_failed,
            alerts_firing = self.alerts_firing,
            notifications_sent = self.notifications_sent,
            notifications_failed = self.notifications_failed,
            inhibited = self.inhibited,
            silenced = self.silenced,
            acked = self.acked,
            "Poll done."
        );
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
    let sources = fetch::build_sources(config, &checks);
    let sinks = build_sinks(config, options.dry_run)?;
    let cursors = ingest::load_cursors(store, &checks)?;
    // Run from cron: an empty queue must not hold the poll.
    let mode = Mode::Take(QueueWait::NoWait);
    let fetching = fetch::start(&checks, &sources, &cursors, mode);
    // The remembered alerts are read while the sources answer (their tasks run on the
    // runtime's threads): with many alerts, the two take about as long.
    let books = Books::read(store)?;
    let fetched = fetching.results().await;
    // Nothing stops a poll but the process ending.
    let (_keep, stop) = tokio::sync::watch::channel(false);
    process(
        config, store, books, &sinks, &checks, fetched, options, &stop,
    )
    .await
}

/// `dbalert check --connect`: fetches every check of `config` as a probe (queries run,
/// queues are only connected to), changing nothing.
pub async fn probe(config: &Config) -> Vec<(&Check, Fetch)> {
    let checks: Vec<&Check> = config.checks.iter().collect();
    let sources = fetch::build_sources(config, &checks);
    let fetched = fetch::fetch_all(&checks, &sources, &Default::default(), Mode::Probe).await;
    checks.into_iter().zip(fetched).collect()
}

/// Runs `check`'s query once, taking nothing off a queue (`dbalert preview`): its rows, or
/// `None` for a queue check, whose source was only reached.
pub async fn probe_one(config: &Config, check: &Check) -> Result<Option<Rows>, CheckFailure> {
    let sources = fetch::build_sources(config, &[check]);
    let mut fetched = fetch::fetch_all(&[check], &sources, &Default::default(), Mode::Probe).await;
    match fetched.pop().map(|(result, _)| result) {
        Some(Ok(Fetched::Probed(rows))) => Ok(rows),
        Some(Err(failure)) => Err(failure),
        _ => Err(CheckFailure {
            reason: FailureReason::Internal,
            message: "the probe gave no result".to_owned(),
        }),
    }
}

/// Turns what `checks` fetched into alert changes, notifies, and saves, phase by phase (see
/// the module's documentation); `stop` ends delivery early.
#[allow(clippy::too_many_arguments)]
async fn process(
    config: &Config,
    store: &mut StateStore,
    mut books: Books,
    sinks: &Sinks,
    checks: &[&Check],
    fetched: Vec<Fetch>,
    options: &Options,
    stop: &Stop,
) -> Result<Summary, PollError> {
    let mut batch = batch::prepare(config, store, &mut books, checks, fetched, options, None)?;
    let (outbox, mut answers) = Outbox::open(sinks, stop);
    outbox.post(0, &mut batch.notifications, options.now);
    // The channel closes once every receiver is done.
    drop(outbox);
    while let Some((_, i, receipt)) = answers.recv().await {
        batch.settle(i, receipt, store, &mut books)?;
    }
    let (summary, queues) = batch.finish(store, &mut books)?;
    queues.end().await;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::source::{Effect, QueueBatch, QueueMessage, Value};

    /// A queue check delivering to stdout. Its messages below are made as Oracle's server
    /// alerts (SYS.ALERT_QUE) make them, firing and resolving a state alert; the engine does
    /// not care which source kind dequeued them.
    fn config(dir: &std::path::Path) -> Config {
        let text = "state: {path: state.db}\n\
            sources:\n  prod: {postgres: {url: \"postgres://db1/prod\"}}\n\
            receivers:\n  dba: {stdout: {format: json}}\n\
            route: {receiver: dba, group_by: [alertname, object_name]}\n\
            checks:\n  - {name: server_alerts, source: prod, queue: {table: dbalert_queue}}\n";
        crate::settings::parse(text, &dir.join("alerts.yaml"), Box::new(|_| None)).unwrap()
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
        let (_keep, stop) = tokio::sync::watch::channel(false);
        let books = Books::default();
        let summary = process(
            &config, &mut store, books, &sinks, &checks, fetched, &options, &stop,
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
