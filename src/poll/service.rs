//! `dbalert run`: the poll engine as a long-running service.
//!
//! Each check runs on its own `interval`, on a grid that does not drift ([`super::schedule`]);
//! a queue check on a PostgreSQL queue table also runs as soon as its source's LISTEN
//! connection hears of a new message ([`crate::source::Wakeups`]), and an Oracle AQ queue check
//! dequeues again as soon as its last dequeue answered: each blocks until a message is
//! committed or its `wait` ends, so messages are taken as they come and a stop waits at most
//! that long ([`shutdown_grace`]). Fetching is one task per source, so a slow or failing
//! source never delays the others; whatever a source returns is ingested as soon as it arrives
//! and, if it changed anything, planned at once, with the routes' `group_wait` and
//! `group_interval` applied, and its notifications are queued to their receivers' tasks
//! ([`super::deliver::Outbox`]). A batch that changed nothing is not planned; a plan follows
//! within `FLUSH_TICK` of the last one instead, so what time alone changes (a repeat due, a
//! silence starting or ending) waits at most that long, and a fleet of checks does not plan
//! every alert dozens of times a second. Delivery
//! never holds up the schedule: while a paced or slow receiver works through its queue, fetches
//! go on starting on time. This loop stays the state file's one writer: answers come back to
//! it and are saved as they come ([`super::batch`]). Batches of one event or queue check stay
//! in order (the check is held until its last batch ended, see [`super::schedule`]), and a
//! group with a notification still in delivery is not notified again meanwhile.
//!
//! SIGTERM or SIGINT stops at once: delivery stops pacing and retrying, what was accepted is
//! saved, batches in delivery end (the rest counts as not accepted and their queue batches are
//! rolled back), queries in flight are dropped (a queue batch among them is rolled back), and
//! `run` exits 0.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn};

use super::batch::{self, Batch, Books, InFlight, Pacing};
use super::deliver::{Answer, BatchId, Outbox};
use super::fetch::{Sources, build_sources, fetch_all};
use super::ingest::load_cursors;
use super::schedule::{Schedule, Taken};
use super::{Fetch, Mode, Options, PollError, Stop, Summary, build_sinks};
use crate::check::{Check, CheckKind};
use crate::settings::Config;
use crate::source::{Queue, QueueTable, QueueWait, SourceName, Value, Wakeups};
use crate::state::StateStore;

/// How soon groups held back by `group_wait` or `group_interval` are looked at again when no
/// check result arrives in between, and the longest a batch that changed nothing leaves the
/// plan unmade (a repeat, a silence ending, a group in delivery answered wait at most this).
const FLUSH_TICK: Duration = Duration::from_secs(5);

/// Runs until `shutdown` completes, calling `on_batch` with each batch's summary (for the
/// metrics file). Returns a summary of everything done.
pub async fn serve(
    config: &Config,
    store: &mut StateStore,
    shutdown: impl Future<Output = ()>,
    on_batch: impl FnMut(&Summary),
) -> Result<Summary, PollError> {
    let (stopping, stop) = watch::channel(false);
    let signal = async {
        shutdown.await;
        info!("Stopping: signal received.");
        let _ = stopping.send(true);
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = signal => unreachable!("the signal future never ends"),
        result = serve_until(config, store, stop, on_batch) => result,
    }
}

/// The service loop, until `stop` says so; then what is in delivery is wound down.
async fn serve_until(
    config: &Config,
    store: &mut StateStore,
    stop: Stop,
    on_batch: impl FnMut(&Summary),
) -> Result<Summary, PollError> {
    let all: Vec<&Check> = config.checks.iter().collect();
    let sources = build_sources(config, &all);
    let sinks = build_sinks(config, false)?;
    let wakeups = Wakeups::default();
    // Dropped when the loop returns, which aborts the listeners and closes their connections.
    let _listeners = start_listeners(&all, &sources, &wakeups);
    let (outbox, mut answers) = Outbox::open(&sinks, &stop);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Turn>();
    let mut service = Service {
        config,
        store,
        schedule: Schedule::new(&all, Instant::now()),
        blocking: blocking_dequeues(&all, &sources),
        all,
        books: Books::default(),
        batches: HashMap::new(),
        in_flight: InFlight::new(),
        next_batch: 0,
        ends: JoinSet::new(),
        flush: Flush::new(config),
        total: Summary::default(),
        on_batch,
    };
    info!(
        checks = service.all.len(),
        sources = sources.len(),
        "Running."
    );

    loop {
        service.start_due(&sources, &done_tx)?;
        // Wait for a source to finish, an answer, a queue batch to end, the next check to fall
        // due, a queue to wake, a flush, or the signal.
        let next_due = service.schedule.next(Instant::now());
        let flush_at = (service.flush.at()).filter(|at| next_due.is_none_or(|due| *at < due));
        let sleep = async {
            match flush_at.or(next_due) {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stopped(&stop) => break,
            () = sleep => if flush_at.is_some() {
                service.flush.flushing();
                service.plan(&outbox, &[], Vec::new(), Vec::new())?;
            },
            woken = wakeups.next() => {
                for source in &woken {
                    service.schedule.wake(source, |i| service.all[i].queue_table().is_some());
                }
            }
            Some(turn) = done_rx.recv() => service.arrived(&outbox, turn)?,
            Some(answer) = answers.recv() => service.answered(answer)?,
            Some(ended) = service.ends.join_next() => service.release(ended),
        }
    }
    // The receivers' tasks end on the stop; once they have, every answer is in the channel.
    drop(outbox);
    while let Some(answer) = answers.recv().await {
        service.answered(answer)?;
    }
    service.wind_down().await
}

/// The service's state between two turns of its loop.
struct Service<'a, F> {
    config: &'a Config,
    /// Only the loop writes to the state file: batches in delivery hand their answers back.
    store: &'a mut StateStore,
    all: Vec<&'a Check>,
    schedule: Schedule,
    /// The checks whose dequeue blocks on an empty queue (Oracle AQ with a `wait`), by index.
    blocking: BTreeSet<usize>,
    books: Books,
    /// The batches in delivery, by id.
    batches: HashMap<BatchId, Pending>,
    in_flight: InFlight,
    next_batch: BatchId,
    /// Queue batches being committed or rolled back; each hands back the checks it held.
    ends: JoinSet<Vec<usize>>,
    flush: Flush,
    total: Summary,
    on_batch: F,
}

/// A batch in delivery, and the checks it holds until it has ended.
struct Pending {
    batch: Batch,
    held: Vec<usize>,
}

impl<F: FnMut(&Summary)> Service<'_, F> {
    /// Starts a fetch for each source with checks due.
    fn start_due(
        &mut self,
        sources: &Sources,
        done: &mpsc::UnboundedSender<Turn>,
    ) -> Result<(), PollError> {
        for (source, taken) in self.schedule.take_due(Instant::now()) {
            let checks: Vec<&Check> = taken.iter().map(|&(i, _)| self.all[i]).collect();
            let cursors = load_cursors(self.store, &checks)?;
            let one_source = BTreeMap::from([(source.clone(), sources[&source].clone())]);
            start_fetch(&checks, taken, one_source, cursors, done.clone());
        }
        Ok(())
    }

    /// A source's fetch is back: its event and queue checks are held until their batch has
    /// ended, and the batch is planned.
    fn arrived(&mut self, outbox: &Outbox, turn: Turn) -> Result<(), PollError> {
        self.schedule.finished(&turn.source);
        let again = turn.dequeue_again(&self.blocking);
        self.schedule.wake(&turn.source, |i| again.contains(&i));
        let lateness = turn.lateness();
        self.plan(outbox, &turn.taken, turn.fetched, lateness)
    }

    /// Plans what the checks `taken` fetched (or, with none, the held-back groups again) and
    /// posts the notifications; a batch with nothing to send ends at once. Event and queue
    /// checks are held until their batch has ended. A batch that changed nothing is not
    /// planned ([`Flush::skipped`]).
    fn plan(
        &mut self,
        outbox: &Outbox,
        taken: &[Taken],
        fetched: Vec<Fetch>,
        lateness: Vec<Option<Duration>>,
    ) -> Result<(), PollError> {
        let checks: Vec<&Check> = taken.iter().map(|&(i, _)| self.all[i]).collect();
        let held: Vec<usize> = (taken.iter().map(|&(i, _)| i))
            .filter(|&i| !matches!(self.all[i].kind, CheckKind::State))
            .collect();
        held.iter().for_each(|&i| self.schedule.hold(i));
        let options = Options {
            dry_run: false,
            only: Vec::new(),
            now: jiff::Timestamp::now(),
        };
        let pacing = Pacing {
            in_flight: &self.in_flight,
            plan_quiet: taken.is_empty(),
        };
        let mut batch = batch::prepare(
            self.config,
            self.store,
            &mut self.books,
            &checks,
            fetched,
            &options,
            Some(pacing),
        )?;
        match batch.planned() {
            true => self.flush.planned(),
            false => self.flush.skipped(),
        }
        for (outcome, late) in batch.summary.checks.iter_mut().zip(lateness) {
            outcome.lateness = late;
        }
        self.flush.held_back(batch.summary.deferred);
        let id = self.next_batch;
        self.next_batch += 1;
        for n in &batch.notifications {
            let key = (n.group_key.clone(), n.receiver.clone());
            *self.in_flight.entry(key).or_default() += 1;
        }
        outbox.post(id, &mut batch.notifications, options.now);
        self.batches.insert(id, Pending { batch, held });
        self.end_if_answered(id)
    }

    /// Settles one answer, at once; the batch ends with its last answer.
    fn answered(&mut self, (id, i, receipt): Answer) -> Result<(), PollError> {
        let Some(pending) = self.batches.get_mut(&id) else {
            return Ok(());
        };
        let n = &pending.batch.notifications[i];
        let key = (n.group_key.clone(), n.receiver.clone());
        if let Some(count) = self.in_flight.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                self.in_flight.remove(&key);
            }
        }
        pending
            .batch
            .settle(i, receipt, self.store, &mut self.books)?;
        self.end_if_answered(id)
    }

    /// Ends batch `id` if every answer is in.
    fn end_if_answered(&mut self, id: BatchId) -> Result<(), PollError> {
        match self.batches.get(&id) {
            Some(pending) if pending.batch.answered() => self.end(id),
            _ => Ok(()),
        }
    }

    /// Finishes batch `id`: saves, counts, then ends its queue batches in a task of their own
    /// and releases its checks once they have ended.
    fn end(&mut self, id: BatchId) -> Result<(), PollError> {
        let Some(Pending { batch, held }) = self.batches.remove(&id) else {
            return Ok(());
        };
        let (summary, queues) = batch.finish(self.store, &mut self.books)?;
        add(&mut self.total, &summary);
        (self.on_batch)(&summary);
        match queues.is_empty() {
            true => self.release(Ok(held)),
            false => {
                self.ends.spawn(async move {
                    queues.end().await;
                    held
                });
            }
        }
        Ok(())
    }

    /// A batch has ended: its checks can run again.
    fn release(&mut self, ended: Result<Vec<usize>, tokio::task::JoinError>) {
        match ended {
            Ok(held) => held.into_iter().for_each(|i| self.schedule.release(i)),
            // Its checks stay held: their queue batch's connection is in an unknown state.
            Err(error) => warn!(%error, "Ending a queue batch failed."),
        }
    }

    /// After a stop, once every answer is in: the batches still in delivery end (what was not
    /// answered counts as not accepted, and their queue batches are rolled back), and the
    /// queue batches being ended are waited for.
    async fn wind_down(mut self) -> Result<Summary, PollError> {
        let mut left: Vec<BatchId> = self.batches.keys().copied().collect();
        left.sort_unstable();
        for id in left {
            self.end(id)?;
        }
        while self.ends.join_next().await.is_some() {}
        Ok(self.total)
    }
}

/// When held-back groups are planned again with no check result in between: `group_wait` and
/// `group_interval` need a look every [`FLUSH_TICK`], batches that were not planned a plan
/// within [`FLUSH_TICK`] of the last one, and Alertmanager receivers a resend every
/// `resend_interval`.
struct Flush {
    held_back: Option<Instant>,
    /// When a plan is owed for batches that were not planned.
    owed: Option<Instant>,
    resend: Option<Duration>,
    planned_at: Instant,
}

impl Flush {
    fn new(config: &Config) -> Self {
        // Alertmanager takes a firing alert it stops hearing about for resolved, so with such
        // a receiver the alerts are planned (and resent) at least this often, whatever the
        // checks' intervals.
        let resend = config
            .receivers
            .values()
            .filter_map(|r| r.kind.resend_interval())
            .map(|d| d.get())
            .min();
        Self {
            held_back: None,
            owed: None,
            resend,
            planned_at: Instant::now(),
        }
    }

    fn at(&self) -> Option<Instant> {
        let resend_at = self.resend.map(|every| self.planned_at + every);
        [self.held_back, self.owed, resend_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// A plan was made now.
    fn planned(&mut self) {
        self.planned_at = Instant::now();
        self.owed = None;
    }

    /// A batch that changed nothing was not planned: what it would have sent only by the time
    /// passed since the last plan (a repeat due, a silence ended) waits for the next plan,
    /// made [`FLUSH_TICK`] after the last one at the latest.
    fn skipped(&mut self) {
        self.owed.get_or_insert(self.planned_at + FLUSH_TICK);
    }

    /// The held-back groups are being planned again now.
    fn flushing(&mut self) {
        self.held_back = None;
    }

    /// The plan held back `deferred` groups.
    fn held_back(&mut self, deferred: usize) {
        if deferred > 0 && self.held_back.is_none() {
            self.held_back = Some(Instant::now() + FLUSH_TICK);
        }
    }
}

/// The checks whose dequeue blocks on an empty queue (Oracle AQ with a `wait`), by index.
fn blocking_dequeues(all: &[&Check], sources: &Sources) -> BTreeSet<usize> {
    let blocks = |check: &Check| match (&check.kind, &sources[&check.source]) {
        (CheckKind::Queue(queue), Ok(source)) => source.dequeue_waits(queue),
        _ => false,
    };
    (0..all.len()).filter(|&i| blocks(all[i])).collect()
}

/// Starts one listener per PostgreSQL source with queue-table checks (see
/// [`crate::source::Wakeups`]). Dropping the set stops them.
fn start_listeners(all: &[&Check], sources: &Sources, wakeups: &Wakeups) -> JoinSet<()> {
    let mut tables: BTreeMap<&SourceName, Vec<QueueTable>> = BTreeMap::new();
    for check in all {
        if let Some(table) = check.queue_table() {
            tables.entry(&check.source).or_default().push(table.clone());
        }
    }
    let mut listeners = JoinSet::new();
    for (name, tables) in tables {
        // A source that could not be built fails its checks each interval; nothing to hear.
        let Ok(source) = sources[name].clone() else {
            continue;
        };
        let wakeups = wakeups.clone();
        listeners.spawn(async move {
            let tables: Vec<&QueueTable> = tables.iter().collect();
            source.listen(&tables, &wakeups).await;
        });
    }
    listeners
}

/// What one source's task hands back: the checks it ran, when it began, and their outcomes.
struct Turn {
    source: SourceName,
    taken: Vec<Taken>,
    started: Instant,
    fetched: Vec<Fetch>,
}

impl Turn {
    /// How late each check began after its slot. The checks ran one after another from
    /// `started`, so each began when the ones before it had taken their time. `None` for a
    /// woken check, which had no slot.
    fn lateness(&self) -> Vec<Option<Duration>> {
        let mut began = self.started;
        self.taken
            .iter()
            .zip(&self.fetched)
            .map(|((_, slot), (_, took))| {
                let late = slot.map(|slot| began.saturating_duration_since(slot));
                began += *took;
                late
            })
            .collect()
    }

    /// The blocking dequeues (`blocking`, by index) that answered: they dequeue again at once,
    /// so that a message is taken as soon as it is committed; each waits no longer than its
    /// `wait` on an empty queue, so a stop is never held up longer. One that failed waits for
    /// its interval instead of retrying in a tight loop.
    fn dequeue_again(&self, blocking: &BTreeSet<usize>) -> Vec<usize> {
        self.taken
            .iter()
            .zip(&self.fetched)
            .filter(|((i, _), (result, _))| result.is_ok() && blocking.contains(i))
            .map(|((i, _), _)| *i)
            .collect()
    }
}

/// Fetches `checks` (of one source) in a task of their own; the results are handed back on
/// `done`.
fn start_fetch(
    checks: &[&Check],
    taken: Vec<Taken>,
    source: Sources,
    cursors: HashMap<String, Option<Value>>,
    done: mpsc::UnboundedSender<Turn>,
) {
    let owned: Vec<Check> = checks.iter().map(|c| (*c).clone()).collect();
    let name = owned[0].source.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let refs: Vec<&Check> = owned.iter().collect();
        // A long-running service may wait a little on an empty AQ queue (its `wait`).
        let mode = Mode::Take(QueueWait::Bounded);
        let fetched = fetch_all(&refs, &source, &cursors, mode).await;
        // The receiver is gone only when `serve` returned; nothing to hand back then.
        let _ = done.send(Turn {
            source: name,
            taken,
            started,
            fetched,
        });
    });
}

/// How long `run` may wait, once stopped, for fetches still in flight on blocking threads: the
/// longest `wait` of an AQ queue check (a dequeue blocked on an empty queue returns within it),
/// and at least [`MIN_GRACE`]. A call that outlasts it is abandoned as the process exits; the
/// database then ends its session, which rolls back anything it dequeued.
pub fn shutdown_grace(checks: &[Check]) -> Duration {
    checks
        .iter()
        .filter_map(|check| match &check.kind {
            CheckKind::Queue(Queue::Aq(aq)) => Some(aq.wait),
            _ => None,
        })
        .fold(MIN_GRACE, Duration::max)
}

/// The least time given to fetches in flight to end when `run` stops.
pub const MIN_GRACE: Duration = Duration::from_secs(1);

/// Completes once `stop` is set.
async fn stopped(stop: &Stop) {
    let mut stop = stop.clone();
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Adds a batch to the running totals.
fn add(total: &mut Summary, batch: &Summary) {
    total.checks_ok += batch.checks_ok;
    total.checks_failed += batch.checks_failed;
    total.notifications_sent += batch.notifications_sent;
    total.notifications_failed += batch.notifications_failed;
    total.inhibited += batch.inhibited;
    total.silenced += batch.silenced;
    total.acked += batch.acked;
    total.deferred += batch.deferred;
    total.time_muted += batch.time_muted;
    total.alerts_firing = batch.alerts_firing;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::NoRows;
    use crate::config::duration::Duration as ConfigDuration;
    use crate::source::{AqPayload, AqQueue};

    fn check(kind: CheckKind) -> Check {
        Check {
            name: "c".into(),
            source: SourceName("db".into()),
            interval: ConfigDuration::from_secs(60),
            kind,
            sql: String::new(),
            key: None,
            labels: vec![],
            annotations: vec![],
            no_rows: NoRows::Ignore,
            deadlock_trace: false,
        }
    }

    fn aq(wait_secs: u64) -> Check {
        check(CheckKind::Queue(Queue::Aq(AqQueue {
            name: "APP.Q".into(),
            consumer: None,
            payload: AqPayload::Raw,
            wait: Duration::from_secs(wait_secs),
        })))
    }

    fn turn(taken: Vec<Taken>, outcomes: Vec<(bool, u64)>, started: Instant) -> Turn {
        let fetched = outcomes
            .into_iter()
            .map(|(ok, took_ms)| {
                let result = match ok {
                    true => Ok(super::super::Fetched::State(crate::source::Rows::new(
                        std::iter::empty::<&str>(),
                    ))),
                    false => Err(crate::check::CheckFailure {
                        reason: crate::check::FailureReason::Connection,
                        message: "down".into(),
                    }),
                };
                (result, Duration::from_millis(took_ms))
            })
            .collect();
        Turn {
            source: SourceName("db".into()),
            taken,
            started,
            fetched,
        }
    }

    #[test]
    fn each_check_of_a_batch_is_as_late_as_the_checks_before_it_took() {
        let start = Instant::now();
        let slot = start - Duration::from_millis(100);
        let turn = turn(
            vec![(0, Some(slot)), (1, None), (2, Some(slot))],
            vec![(true, 30), (true, 20), (false, 5)],
            start,
        );
        let ms = Duration::from_millis;
        assert_eq!(turn.lateness(), [Some(ms(100)), None, Some(ms(150))]);
    }

    #[test]
    fn a_blocking_dequeue_that_answered_dequeues_again_and_one_that_failed_waits() {
        let start = Instant::now();
        let turn = turn(
            vec![(0, None), (1, Some(start)), (2, Some(start)), (3, None)],
            vec![(true, 5000), (true, 1), (false, 1), (true, 1)],
            start,
        );
        // 0 and 2 block (AQ with a wait); 2 failed; 1 and 3 are other checks.
        assert_eq!(turn.dequeue_again(&BTreeSet::from([0, 2])), [0]);
    }

    #[test]
    fn shutdown_waits_for_the_longest_aq_wait_and_no_longer() {
        let secs = Duration::from_secs;
        assert_eq!(shutdown_grace(&[]), MIN_GRACE);
        assert_eq!(shutdown_grace(&[check(CheckKind::State)]), MIN_GRACE);
        assert_eq!(
            shutdown_grace(&[aq(5), check(CheckKind::State), aq(20)]),
            secs(20)
        );
        assert_eq!(shutdown_grace(&[aq(0)]), MIN_GRACE);
    }
}
