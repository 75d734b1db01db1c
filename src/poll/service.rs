//! `dbalert run`: the poll engine as a long-running service.
//!
//! Each check runs on its own `interval`; a queue check on a PostgreSQL queue table also runs
//! as soon as its source's LISTEN connection hears of a new message ([`crate::source::Wakeups`]).
//! Fetching is one task per source, so a slow or failing source never delays the others; whatever a source returns is processed (lifecycle, routing,
//! delivery, save) as soon as it arrives, one batch at a time, with the routes' `group_wait`
//! and `group_interval` applied. SIGTERM or SIGINT stops at once: delivery stops pacing and
//! retrying, what was accepted is saved, queries in flight are dropped (a queue batch among
//! them is rolled back), and `run` exits 0.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn};

use super::fetch::{Sources, build_sources, fetch_all};
use super::ingest::load_cursors;
use super::{Fetch, Mode, Options, PollError, Sinks, Stop, Summary, build_sinks, process};
use crate::check::Check;
use crate::settings::Config;
use crate::source::{QueueTable, QueueWait, SourceName, Value, Wakeups};
use crate::state::StateStore;

/// What one source task hands back: the checks it ran (indexes into `config.checks`) and
/// their outcomes.
type Batch = (SourceName, Vec<usize>, Vec<Fetch>);

/// How soon groups held back by `group_wait` or `group_interval` are looked at again when no
/// check result arrives in between.
const FLUSH_TICK: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs until `shutdown` completes. Returns a summary of everything done.
pub async fn serve(
    config: &Config,
    store: &mut StateStore,
    shutdown: impl Future<Output = ()>,
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
        result = serve_until(config, store, stop) => result,
    }
}

/// The service loop, until `stop` says so.
async fn serve_until(
    config: &Config,
    store: &mut StateStore,
    stop: Stop,
) -> Result<Summary, PollError> {
    let all: Vec<&Check> = config.checks.iter().collect();
    let sources = build_sources(config, &all);
    let sinks = build_sinks(config, false)?;
    let wakeups = Wakeups::default();
    // Dropped when the loop returns, which aborts the listeners and closes their connections.
    let _listeners = start_listeners(&all, &sources, &wakeups);
    let mut due = Due::new(&all);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Batch>();
    let mut total = Summary::default();
    let mut flush_at: Option<Instant> = None;
    // Alertmanager takes a firing alert it stops hearing about for resolved, so with such a
    // receiver the alerts are planned (and resent) at least this often, whatever the checks'
    // intervals.
    let resend = config
        .receivers
        .values()
        .filter_map(|r| r.kind.resend_interval())
        .map(|d| d.get())
        .min();
    let mut planned_at = Instant::now();
    info!(checks = all.len(), sources = sources.len(), "Running.");

    loop {
        for (source, indexes) in due.take_due(&all, Instant::now()) {
            let checks: Vec<&Check> = indexes.iter().map(|&i| all[i]).collect();
            let cursors = load_cursors(store, &checks)?;
            let one_source = BTreeMap::from([(source.clone(), sources[&source].clone())]);
            start_fetch(&checks, indexes, one_source, cursors, done_tx.clone());
        }

        // Wait for a source to finish, the next check to fall due, a queue to wake, or the
        // signal.
        let next_due = due.next(&all);
        let resend_at = resend.map(|every| planned_at + every);
        let flush = [flush_at, resend_at]
            .into_iter()
            .flatten()
            .min()
            .filter(|at| next_due.is_none_or(|due| *at < due));
        let next_due = flush.or(next_due);
        let sleep = async {
            match next_due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stopped(&stop) => return Ok(total),
            _ = sleep => {
                if flush.is_some() {
                    flush_at = None;
                    planned_at = Instant::now();
                    let summary = handle(config, store, &sinks, &[], Vec::new(), &stop).await?;
                    add(&mut total, &summary, &mut flush_at);
                }
            }
            woken = wakeups.next() => due.wake(&all, &woken, Instant::now()),
            Some((source, indexes, fetched)) = done_rx.recv() => {
                due.finished(&all, &source, &indexes, Instant::now());
                let checks: Vec<&Check> = indexes.iter().map(|&i| all[i]).collect();
                planned_at = Instant::now();
                let summary = handle(config, store, &sinks, &checks, fetched, &stop).await?;
                add(&mut total, &summary, &mut flush_at);
            }
        }
    }
}

/// When each check runs next, and which sources are fetching now.
struct Due {
    /// By index into the checks.
    at: Vec<Instant>,
    /// Sources with a fetch under way: their checks wait for it.
    busy: BTreeSet<SourceName>,
    /// Queue checks woken while their source was busy: they run again as soon as it is free.
    woken: BTreeSet<usize>,
}

impl Due {
    /// Every check due now.
    fn new(all: &[&Check]) -> Self {
        Self {
            at: vec![Instant::now(); all.len()],
            busy: BTreeSet::new(),
            woken: BTreeSet::new(),
        }
    }

    /// The checks due at `now` on idle sources, by source; those sources are busy from now on.
    fn take_due(&mut self, all: &[&Check], now: Instant) -> BTreeMap<SourceName, Vec<usize>> {
        let mut by_source: BTreeMap<SourceName, Vec<usize>> = BTreeMap::new();
        for (i, check) in all.iter().enumerate() {
            if self.at[i] <= now && !self.busy.contains(&check.source) {
                by_source.entry(check.source.clone()).or_default().push(i);
            }
        }
        self.busy.extend(by_source.keys().cloned());
        by_source
    }

    /// When the next check on an idle source falls due.
    fn next(&self, all: &[&Check]) -> Option<Instant> {
        all.iter()
            .enumerate()
            .filter(|(_, c)| !self.busy.contains(&c.source))
            .map(|(i, _)| self.at[i])
            .min()
    }

    /// The queue-table checks of the `woken` sources are due now, or once their source is free.
    fn wake(&mut self, all: &[&Check], woken: &BTreeSet<SourceName>, now: Instant) {
        for (i, check) in all.iter().enumerate() {
            if !woken.contains(&check.source) || check.queue_table().is_none() {
                continue;
            }
            match self.busy.contains(&check.source) {
                true => {
                    self.woken.insert(i);
                }
                false => self.at[i] = now,
            }
        }
    }

    /// `source` finished the checks `indexes` at `now`; each runs again after its interval, or
    /// at once if it was woken meanwhile.
    fn finished(&mut self, all: &[&Check], source: &SourceName, indexes: &[usize], now: Instant) {
        self.busy.remove(source);
        for &i in indexes {
            self.at[i] = match self.woken.remove(&i) {
                true => now,
                false => now + all[i].interval.get(),
            };
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

/// Fetches `checks` (of one source) in a task of their own; the batch is handed back on `done`
/// with the checks' `indexes`.
fn start_fetch(
    checks: &[&Check],
    indexes: Vec<usize>,
    source: Sources,
    cursors: HashMap<String, Option<Value>>,
    done: mpsc::UnboundedSender<Batch>,
) {
    let owned: Vec<Check> = checks.iter().map(|c| (*c).clone()).collect();
    let name = owned[0].source.clone();
    tokio::spawn(async move {
        let refs: Vec<&Check> = owned.iter().collect();
        // A long-running service may wait a little on an empty AQ queue (its `wait`).
        let mode = Mode::Take(QueueWait::Bounded);
        let fetched = fetch_all(&refs, &source, &cursors, mode).await;
        // The receiver is gone only when `serve` returned; nothing to hand back then.
        let _ = done.send((name, indexes, fetched));
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

/// Adds a batch to the running totals, and schedules a flush when groups were held back.
fn add(total: &mut Summary, batch: &Summary, flush_at: &mut Option<Instant>) {
    if batch.deferred > 0 && flush_at.is_none() {
        *flush_at = Some(Instant::now() + FLUSH_TICK);
    }
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
