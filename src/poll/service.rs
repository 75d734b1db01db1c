//! `dbalert run`: the poll engine as a long-running service.
//!
//! Each check runs on its own `interval`, on a grid that does not drift ([`super::schedule`]);
//! a queue check on a PostgreSQL queue table also runs as soon as its source's LISTEN
//! connection hears of a new message ([`crate::source::Wakeups`]). Fetching is one task per
//! source, so a slow or failing source never delays the others; whatever a source returns is
//! processed (lifecycle, routing,
//! delivery, save) as soon as it arrives, one batch at a time, with the routes' `group_wait`
//! and `group_interval` applied. SIGTERM or SIGINT stops at once: delivery stops pacing and
//! retrying, what was accepted is saved, queries in flight are dropped (a queue batch among
//! them is rolled back), and `run` exits 0.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn};

use super::fetch::{Sources, build_sources, fetch_all};
use super::ingest::load_cursors;
use super::schedule::{Schedule, Taken};
use super::{Fetch, Mode, Options, PollError, Sinks, Stop, Summary, build_sinks, process};
use crate::check::Check;
use crate::settings::Config;
use crate::source::{QueueTable, QueueWait, SourceName, Value, Wakeups};
use crate::state::StateStore;

/// How soon groups held back by `group_wait` or `group_interval` are looked at again when no
/// check result arrives in between.
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

/// The service loop, until `stop` says so.
async fn serve_until(
    config: &Config,
    store: &mut StateStore,
    stop: Stop,
    mut on_batch: impl FnMut(&Summary),
) -> Result<Summary, PollError> {
    let all: Vec<&Check> = config.checks.iter().collect();
    let sources = build_sources(config, &all);
    let sinks = build_sinks(config, false)?;
    let wakeups = Wakeups::default();
    // Dropped when the loop returns, which aborts the listeners and closes their connections.
    let _listeners = start_listeners(&all, &sources, &wakeups);
    let mut schedule = Schedule::new(&all, Instant::now());
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Batch>();
    let mut total = Summary::default();
    let mut flush = Flush::new(config);
    info!(checks = all.len(), sources = sources.len(), "Running.");

    loop {
        for (source, taken) in schedule.take_due(Instant::now()) {
            let checks: Vec<&Check> = taken.iter().map(|&(i, _)| all[i]).collect();
            let cursors = load_cursors(store, &checks)?;
            let one_source = BTreeMap::from([(source.clone(), sources[&source].clone())]);
            start_fetch(&checks, taken, one_source, cursors, done_tx.clone());
        }
        // Wait for a source to finish, the next check to fall due, a queue to wake, a flush,
        // or the signal.
        let next_due = schedule.next(Instant::now());
        let flush_at = flush.at().filter(|at| next_due.is_none_or(|due| *at < due));
        let sleep = async {
            match flush_at.or(next_due) {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let (checks, fetched, lateness) = tokio::select! {
            _ = stopped(&stop) => return Ok(total),
            _ = sleep => match flush_at {
                Some(_) => {
                    flush.flushing();
                    (Vec::new(), Vec::new(), Vec::new())
                }
                None => continue,
            },
            woken = wakeups.next() => {
                for source in &woken {
                    schedule.wake(source, |i| all[i].queue_table().is_some());
                }
                continue;
            }
            Some(batch) = done_rx.recv() => {
                schedule.finished(&batch.source);
                let lateness = batch.lateness();
                let checks: Vec<&Check> = batch.taken.iter().map(|&(i, _)| all[i]).collect();
                (checks, batch.fetched, lateness)
            }
        };
        flush.planned();
        let mut summary = handle(config, store, &sinks, &checks, fetched, &stop).await?;
        for (outcome, late) in summary.checks.iter_mut().zip(lateness) {
            outcome.lateness = late;
        }
        flush.held_back(summary.deferred);
        add(&mut total, &summary);
        on_batch(&summary);
    }
}

/// When held-back groups are planned again with no check result in between: `group_wait` and
/// `group_interval` need a look every [`FLUSH_TICK`], and Alertmanager receivers a resend
/// every `resend_interval`.
struct Flush {
    held_back: Option<Instant>,
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
            resend,
            planned_at: Instant::now(),
        }
    }

    fn at(&self) -> Option<Instant> {
        let resend_at = self.resend.map(|every| self.planned_at + every);
        [self.held_back, resend_at].into_iter().flatten().min()
    }

    /// A plan is being made now.
    fn planned(&mut self) {
        self.planned_at = Instant::now();
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

/// What one source task hands back: the checks it ran, when it began, and their outcomes.
struct Batch {
    source: SourceName,
    taken: Vec<Taken>,
    started: Instant,
    fetched: Vec<Fetch>,
}

impl Batch {
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
}

/// Fetches `checks` (of one source) in a task of their own; the batch is handed back on `done`.
fn start_fetch(
    checks: &[&Check],
    taken: Vec<Taken>,
    source: Sources,
    cursors: HashMap<String, Option<Value>>,
    done: mpsc::UnboundedSender<Batch>,
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
        let _ = done.send(Batch {
            source: name,
            taken,
            started,
            fetched,
        });
    });
}

/// Completes once `stop` is set.
async fn stopped(stop: &Stop) {
    let mut stop = stop.clone();
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Processes one batch (or, with no checks, re-plans held-back groups). Only a state file
/// failure stops the service: nothing after it could be saved.
async fn handle(
    config: &Config,
    store: &mut StateStore,
    sinks: &Sinks,
    checks: &[&Check],
    fetched: Vec<Fetch>,
    stop: &Stop,
) -> Result<Summary, PollError> {
    let options = Options {
        dry_run: false,
        only: Vec::new(),
        now: jiff::Timestamp::now(),
    };
    match process(config, store, sinks, checks, fetched, &options, true, stop).await {
        Ok(summary) => Ok(summary),
        Err(PollError::State(error)) => Err(PollError::State(error)),
        Err(error) => {
            warn!(%error, "Batch failed; retried at the next interval.");
            Ok(Summary::default())
        }
    }
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
