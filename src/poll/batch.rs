//! One batch of check results from ingest to commit, in the steps `poll` takes one after
//! another and `run` takes as the answers come, with several batches in delivery at once:
//! [`prepare`] (ingest, save what was observed, plan, controls), [`Batch::settle`] for each
//! answer, [`Batch::finish`] after the last one, then [`QueueEnds::end`].
//!
//! What batches share lives in [`Books`]: the alerts as the last batch read and changed them,
//! the notification log, silences and acknowledgements. A `run` keeps them for its life and
//! settles every answer against them, so that a batch answered late never saves an alert
//! older than the one in the file. `run` holds the state lock and makes every change to them
//! in memory as it saves it, so it reads them again only when another process wrote to the
//! file (`dbalert silence`, `ack`, `serve`), which SQLite's `data_version` tells cheaply:
//! a batch does not read every alert, the log, the silences and the acknowledgements again.

use std::collections::HashMap;

use jiff::Timestamp;
use tracing::warn;

use super::ingest;
use super::lifecycle::{self, Records};
use super::plan::{self, Muting, Notification, Plan};
use super::settle::{Ledger, Log};
use super::{Fetch, Options, Summary, commit, controls};
use crate::check::Check;
use crate::route::SilenceState;
use crate::settings::Config;
use crate::sink::{Receipt, ReceiverName};
use crate::source::{QueueBatch, Value};
use crate::state::{StateError, StateStore};

/// Notifications still in delivery, counted by (group key, receiver).
pub type InFlight = HashMap<(String, ReceiverName), usize>;

/// What batches share (see the module's documentation).
#[derive(Default)]
pub struct Books {
    /// Every alert, as the last batch read and changed it.
    records: Records,
    log: Log,
    muting: Muting,
    /// The state file's `data_version` when the records were read; `None` before.
    version: Option<i64>,
    /// Whether the log and muting are to be read again.
    unread: bool,
    /// Whether the records were read from the file since the last batch.
    fresh: bool,
    /// What the last plan muted, which a batch that is not planned reports as its own.
    counts: Plan,
}

impl Books {
    /// The books with every alert read from `store` now.
    pub fn read(store: &StateStore) -> Result<Self, StateError> {
        let mut books = Self::default();
        books.records = books.take_records(store)?;
        Ok(books)
    }

    /// Takes every alert, read again from `store` unless another connection wrote nothing to
    /// it since they were last read; then the log and muting are read again too.
    fn take_records(&mut self, store: &StateStore) -> Result<Records, StateError> {
        let version = store.data_version()?;
        if self.version != Some(version) {
            self.records = ingest::read_records(store)?;
            self.version = Some(version);
            self.unread = true;
            self.fresh = true;
        }
        Ok(std::mem::take(&mut self.records))
    }

    /// Reads the log, the silences and the acknowledgements again if they are to be.
    fn read_log(&mut self, store: &StateStore, now: Timestamp) -> Result<(), StateError> {
        if !self.unread {
            return Ok(());
        }
        self.log = store
            .notifications()?
            .into_iter()
            .map(|e| ((e.group_key.clone(), e.receiver.clone()), e))
            .collect();
        let mut silences = store.silences()?;
        // An expired silence never mutes again; a pending one may start while kept.
        silences.retain(|s| s.state(now) != SilenceState::Expired);
        self.muting = Muting {
            silences,
            acks: store.acks()?.into_iter().map(|a| a.group_key).collect(),
        };
        self.unread = false;
        Ok(())
    }
}

/// A batch planned, whose notifications are being delivered.
pub struct Batch {
    /// What to send; [`super::deliver::Outbox::post`] moves each message out.
    pub notifications: Vec<Notification>,
    answered: Vec<bool>,
    ledger: Ledger,
    /// The cursor each event check moves to once its events are accepted.
    cursors: Vec<(String, Value)>,
    /// Each queue check's batch, ended once every answer is in.
    queues: Vec<(String, QueueBatch)>,
    acks_ended: Vec<String>,
    pub summary: Summary,
    now: Timestamp,
    dry_run: bool,
    planned: bool,
}

/// How `run` plans a batch; `poll` plans each one and holds nothing back.
pub struct Pacing<'a> {
    /// Notifications still in delivery, whose groups wait for their answers.
    pub in_flight: &'a InFlight,
    /// Whether a batch that changed nothing is planned all the same (see [`prepare`]).
    pub plan_quiet: bool,
}

/// Ingests what `checks` fetched into the alerts (read again, with the log and muting, if
/// another process wrote to the state file), saves the alert changes, and plans.
///
/// With `pacing` (`run`), the routes' `group_wait` and `group_interval` apply, and a group
/// with a notification to the same receiver still in delivery is not notified again now: it
/// is counted as deferred and planned again once that one was answered; events are announced
/// as they come all the same (they queue behind it). A quiet batch (no alert changed, no
/// event, no cursor to move, no other process's write) is not planned unless
/// `plan_quiet`: its plan would differ from the last one only by the time passed, and a fleet
/// of checks makes dozens of them a second. The caller plans again soon enough for time to
/// tell ([`Batch::planned`]).
pub fn prepare(
    config: &Config,
    store: &mut StateStore,
    books: &mut Books,
    checks: &[&Check],
    fetched: Vec<Fetch>,
    options: &Options,
    pacing: Option<Pacing>,
) -> Result<Batch, StateError> {
    let now = options.now;
    let records = books.take_records(store)?;
    let mut intake = ingest::ingest(store, records, &config.templates, checks, fetched, now)?;
    // Only alerts read from the file can belong to checks no longer configured: this process
    // makes alerts of its own checks only.
    if std::mem::take(&mut books.fresh) {
        let configured = config.checks.iter().map(|c| c.name.as_str()).collect();
        lifecycle::retire_unknown(&mut intake.records, &configured, now, &mut intake.changed);
    }
    // With nothing changed (an event check that found nothing, say) there is nothing to save;
    // the empty write that proves the file writable is made below, only if something is to be
    // sent.
    let unchanged = intake.changed.is_empty() && intake.skipped.is_empty();
    if !options.dry_run && !unchanged {
        commit::save_observed(store, &intake)?;
    }
    // `unread`: another process wrote (a silence, an acknowledgement), which the plan honours.
    let quiet = unchanged && intake.events.is_empty() && intake.cursors.is_empty() && !books.unread;
    if quiet && pacing.as_ref().is_some_and(|p| !p.plan_quiet) {
        let summary = Summary::planned(&intake, &books.counts);
        books.records = intake.records;
        return Ok(Batch::new(
            Vec::new(),
            intake.batches,
            summary,
            options,
            false,
        ));
    }
    // Read only now that the rows are gone: a group's entry lists every alert in it.
    books.read_log(store, now)?;
    let mut plan = plan::plan(
        config,
        &intake.records,
        &intake.events,
        &books.log,
        &books.muting,
        now,
        pacing.is_some(),
    );
    if let Some(pacing) = &pacing {
        hold_in_flight(&mut plan, pacing.in_flight);
    }
    if !options.dry_run && unchanged && !plan.notifications.is_empty() {
        commit::save_observed(store, &intake)?;
    }
    let summary = Summary::planned(&intake, &plan);
    books.counts = plan.counts();
    books.records = intake.records;
    let mut notifications = plan.notifications;
    controls::attach(config, store, &mut notifications, now, options.dry_run)?;
    let mut batch = Batch::new(notifications, intake.batches, summary, options, true);
    batch.cursors = intake.cursors;
    batch.acks_ended = plan.acks_ended;
    Ok(batch)
}

/// Leaves out the notifications without events whose group and receiver have one in
/// delivery, counting them as deferred.
fn hold_in_flight(plan: &mut Plan, in_flight: &InFlight) {
    if in_flight.is_empty() {
        return;
    }
    let planned = plan.notifications.len();
    plan.notifications.retain(|n| {
        let key = (n.group_key.clone(), n.receiver.clone());
        !n.events.is_empty() || !in_flight.contains_key(&key)
    });
    plan.deferred += planned - plan.notifications.len();
}

impl Batch {
    fn new(
        notifications: Vec<Notification>,
        queues: Vec<(String, QueueBatch)>,
        summary: Summary,
        options: &Options,
        planned: bool,
    ) -> Self {
        Self {
            answered: vec![false; notifications.len()],
            ledger: Ledger::new(&notifications),
            notifications,
            cursors: Vec::new(),
            queues,
            acks_ended: Vec::new(),
            summary,
            now: options.now,
            dry_run: options.dry_run,
            planned,
        }
    }

    /// Whether the batch was planned; one that was not (see [`prepare`]) notifies nothing.
    pub fn planned(&self) -> bool {
        self.planned
    }

    /// Whether every notification has its answer.
    pub fn answered(&self) -> bool {
        self.answered.iter().all(|a| *a)
    }

    /// Takes the answer to notification `i`: counts it, and saves at once what it changes.
    pub fn settle(
        &mut self,
        i: usize,
        receipt: Receipt,
        store: &mut StateStore,
        books: &mut Books,
    ) -> Result<(), StateError> {
        self.answered[i] = true;
        let notification = &self.notifications[i];
        self.summary.count(&notification.receiver, receipt.is_ok());
        if let Err(error) = &receipt {
            warn!(receiver = %notification.receiver, group = %notification.group_key, %error, "Notification not accepted; it is retried next run.");
        }
        let changes = self.ledger.settle(
            notification,
            receipt.ok(),
            &mut books.records,
            &mut books.log,
            self.now,
        );
        commit::save(store, &changes, self.dry_run)
    }

    /// Ends the batch once its answers are in, or delivery stopped (the notifications without
    /// an answer count as not accepted): saves the cursors that move, the log entries and
    /// resolved alerts that go, and the acknowledgements that ended. Returns the batch's
    /// summary and its queue batches, to end after the save.
    pub fn finish(
        self,
        store: &mut StateStore,
        books: &mut Books,
    ) -> Result<(Summary, QueueEnds), StateError> {
        let Self {
            notifications,
            answered,
            mut ledger,
            cursors,
            queues,
            acks_ended,
            mut summary,
            now,
            dry_run,
            planned: _,
        } = self;
        let unanswered = notifications.iter().zip(answered).filter(|(_, a)| !a);
        for (notification, _) in unanswered {
            warn!(receiver = %notification.receiver, group = %notification.group_key, "Notification not sent (stopped); it is retried next run.");
            summary.count(&notification.receiver, false);
            ledger.settle(notification, None, &mut books.records, &mut books.log, now);
        }
        let mut changes = ledger.finish(cursors, &books.records, &mut books.log, now);
        changes.removed_acks = acks_ended;
        commit::save(store, &changes, dry_run)?;
        for fingerprint in &changes.removed_alerts {
            books.records.remove(fingerprint);
        }
        for key in &changes.removed_acks {
            books.muting.acks.remove(key);
        }
        summary.log();
        let ends = QueueEnds {
            queues,
            ledger,
            dry_run,
        };
        Ok((summary, ends))
    }
}

/// A finished batch's queue batches, to commit or roll back.
pub struct QueueEnds {
    queues: Vec<(String, QueueBatch)>,
    ledger: Ledger,
    dry_run: bool,
}

impl QueueEnds {
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// Commits each queue batch whose every event was accepted and rolls back the others
    /// ([`commit::end_batches`]).
    pub async fn end(self) {
        commit::end_batches(self.queues, &self.ledger, self.dry_run).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Fingerprint;
    use crate::state::{Ack, AlertRecord, Changes, StoredLabels};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn alert(n: u64) -> AlertRecord {
        let labels = StoredLabels::new(&crate::alert::Labels::new());
        AlertRecord {
            fingerprint: Fingerprint(n),
            check: "c".into(),
            labels: labels.clone(),
            annotations: labels,
            digest: None,
            starts_at: at(0),
            last_seen_at: at(0),
            last_notified_at: None,
            resolved_at: None,
        }
    }

    /// What the books hold after a batch's reads, as (alerts, acks).
    fn read(books: &mut Books, store: &StateStore) -> (Vec<u64>, Vec<String>) {
        let records = books.take_records(store).unwrap();
        books.read_log(store, at(10)).unwrap();
        let alerts = records.keys().map(|f| f.0).collect();
        books.records = records;
        let mut acks: Vec<String> = books.muting.acks.iter().cloned().collect();
        acks.sort();
        (alerts, acks)
    }

    #[test]
    fn the_books_are_read_again_only_when_another_process_wrote_to_the_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut store = StateStore::open(&path).unwrap();
        let changes = |n| Changes {
            alerts: vec![alert(n)],
            ..Changes::default()
        };
        store.save(&changes(1)).unwrap();
        let mut books = Books::default();
        assert_eq!(read(&mut books, &store), (vec![1], vec![]));

        // This process's own writes are made in memory as they are saved (the file is not
        // read again for them): a write made behind the books' back stays unseen.
        store.save(&changes(2)).unwrap();
        assert_eq!(read(&mut books, &store), (vec![1], vec![]));

        // Another process (`dbalert ack`, `silence add`, `serve`) writes: everything is read
        // again, its change and this process's own.
        let mut other = StateStore::open(&path).unwrap();
        let ack = Ack {
            group_key: "{}:{alertname=\"x\"}".into(),
            acked_by: "<@U1>".into(),
            acked_at: at(5),
        };
        other.ack(&ack).unwrap();
        let read_again = read(&mut books, &store);
        assert_eq!(read_again, (vec![1, 2], vec![ack.group_key.clone()]));
        assert_eq!(read(&mut books, &store), read_again, "and then kept");
    }

    /// `run`'s batch of one state check that finds the row `a`, at `seconds`: whether it was
    /// planned.
    fn planned(
        config: &Config,
        store: &mut StateStore,
        books: &mut Books,
        seconds: i64,
        plan_quiet: bool,
    ) -> bool {
        let mut rows = crate::source::Rows::new(["name"]);
        rows.rows.push(vec![Value::Text("a".into())]);
        let fetched = vec![(Ok(super::super::Fetched::State(rows)), Default::default())];
        let options = Options {
            dry_run: false,
            only: Vec::new(),
            now: at(seconds),
        };
        let pacing = Pacing {
            in_flight: &InFlight::new(),
            plan_quiet,
        };
        let checks: Vec<&Check> = config.checks.iter().collect();
        let batch = prepare(
            config,
            store,
            books,
            &checks,
            fetched,
            &options,
            Some(pacing),
        );
        batch.unwrap().planned()
    }

    #[test]
    fn a_batch_that_changed_nothing_is_planned_only_after_another_process_wrote_or_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let text = "state: {path: state.db}\n\
            sources:\n  db: {postgres: {url: \"postgres://db1/prod\"}}\n\
            receivers:\n  dba: {stdout: {format: json}}\n\
            route: {receiver: dba}\n\
            checks:\n  - {name: c, source: db, sql: select name}\n";
        let config =
            crate::settings::parse(text, &dir.path().join("alerts.yaml"), Box::new(|_| None))
                .unwrap();
        let path = dir.path().join("state.db");
        let mut store = StateStore::open(&path).unwrap();
        let mut books = Books::default();
        assert!(
            planned(&config, &mut store, &mut books, 0, false),
            "a fires"
        );
        assert!(
            !planned(&config, &mut store, &mut books, 1, false),
            "unchanged"
        );
        assert!(planned(&config, &mut store, &mut books, 2, true), "asked");

        // `dbalert ack` (or `silence`, `serve`) writes: the next batch honours it at once.
        let ack = Ack {
            group_key: "{}:{}".into(),
            acked_by: "<@U1>".into(),
            acked_at: at(3),
        };
        StateStore::open(&path).unwrap().ack(&ack).unwrap();
        assert!(
            planned(&config, &mut store, &mut books, 4, false),
            "after the ack"
        );
        assert!(
            !planned(&config, &mut store, &mut books, 5, false),
            "and then not"
        );
    }
}
