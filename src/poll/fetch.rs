//! Phase 1, fetch: ask each source what the checks need. One task per source, so a slow or
//! failing source never delays the others; the checks of one source run one after another.
//!
//! The check's kind is matched here, once: a state or event check runs its query (with the
//! event cursor bound), a queue check dequeues a batch. What comes back says which it was, so
//! the next phase ([`super::ingest`]) never asks the kind again. `dbalert check --connect`
//! runs the same path as a probe ([`Mode::Probe`]), which takes nothing off a queue.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::check::{Check, CheckFailure, CheckKind, FailureReason, Start};
use crate::settings::Config;
use crate::source::{Queue, QueueBatch, QueueWait, Rows, Source, SourceError, SourceName, Value};

/// The most messages one queue check takes off its queue in one run.
pub const QUEUE_BATCH: usize = 500;

/// Built sources by name, or why one could not be built.
pub type Sources = BTreeMap<SourceName, Result<Arc<Source>, CheckFailure>>;

/// What fetching one check gave, by the check's kind.
pub enum Fetched {
    /// A state check's rows: the conditions firing now.
    State(Rows),
    /// An event check's rows after the cursor, with what the cursor needs.
    Events {
        rows: Rows,
        cursor: String,
        start: Start,
    },
    /// A queue check's batch, committed or rolled back by [`super::commit`].
    Queue(QueueBatch),
    /// A probe (`check --connect`): the query's rows, or `None` for a queue whose source
    /// answered.
    Probed(Option<Rows>),
}

/// One check's fetch: what it gave or why it failed, and how long it took.
pub type Fetch = (Result<Fetched, CheckFailure>, Duration);

/// How a fetch treats queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Take messages off queues; `Bounded` waits a little on an empty AQ queue (`run`).
    Take(QueueWait),
    /// Only prove each check can run: queries run, queues are not touched.
    Probe,
}

/// The sources `checks` read. One that cannot be built fails only its own checks.
pub fn build_sources(config: &Config, checks: &[&Check]) -> Sources {
    let mut sources = BTreeMap::new();
    for check in checks {
        sources.entry(check.source.clone()).or_insert_with(|| {
            config
                .sources
                .get(&check.source)
                .expect("the config loader checks that every check's source exists")
                .build(check.source.clone())
                .map(Arc::new)
                .map_err(CheckFailure::from)
        });
    }
    sources
}

/// One check for a source's task: its index in the run, the check, and its cursor.
type Job = (usize, Check, Option<Value>);

/// Fetches every check of `checks`, with `cursors` bound to event checks. Results are in
/// `checks` order.
pub async fn fetch_all(
    checks: &[&Check],
    sources: &Sources,
    cursors: &HashMap<String, Option<Value>>,
    mode: Mode,
) -> Vec<Fetch> {
    start(checks, sources, cursors, mode).results().await
}

/// Fetches under way, one task per source on the runtime's threads.
pub struct Fetching {
    tasks: JoinSet<Vec<(usize, Fetch)>>,
    checks: usize,
}

/// Starts fetching every check of `checks` (see [`fetch_all`]); the caller may do other work
/// (`poll` reads the state file) while the sources answer.
pub fn start(
    checks: &[&Check],
    sources: &Sources,
    cursors: &HashMap<String, Option<Value>>,
    mode: Mode,
) -> Fetching {
    let mut by_source: BTreeMap<&SourceName, Vec<Job>> = BTreeMap::new();
    for (i, check) in checks.iter().enumerate() {
        let cursor = cursors.get(&check.name).cloned().flatten();
        by_source
            .entry(&check.source)
            .or_default()
            .push((i, (*check).clone(), cursor));
    }
    let mut tasks = JoinSet::new();
    for (name, jobs) in by_source {
        let source = sources[name].clone();
        tasks.spawn(async move {
            let mut out = Vec::with_capacity(jobs.len());
            for (i, check, cursor) in jobs {
                let started = Instant::now();
                let result = match &source {
                    Ok(source) => fetch_one(source, &check, cursor.as_ref(), mode).await,
                    Err(failure) => Err(failure.clone()),
                };
                out.push((i, (result, started.elapsed())));
            }
            out
        });
    }
    Fetching {
        tasks,
        checks: checks.len(),
    }
}

impl Fetching {
    /// What each check gave, in the order of the checks started.
    pub async fn results(self) -> Vec<Fetch> {
        let mut results: Vec<Option<Fetch>> = (0..self.checks).map(|_| None).collect();
        for (i, fetch) in joined(self.tasks).await.into_iter().flatten() {
            results[i] = Some(fetch);
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    let failure = CheckFailure {
                        reason: FailureReason::Internal,
                        message: "the check's task stopped unexpectedly".to_owned(),
                    };
                    (Err(failure), Duration::ZERO)
                })
            })
            .collect()
    }
}

/// Fetches one check: the one place that asks what kind of check it is.
async fn fetch_one(
    source: &Source,
    check: &Check,
    cursor: Option<&Value>,
    mode: Mode,
) -> Result<Fetched, CheckFailure> {
    let wait = match (mode, &check.kind) {
        (Mode::Probe, CheckKind::Queue(_)) => {
            // Taking messages off a queue would hide them from the real poll: only connect.
            return Ok(source.check().await.map(|()| Fetched::Probed(None))?);
        }
        (Mode::Probe, _) => {
            return Ok(Fetched::Probed(Some(source.fetch(&check.sql, None).await?)));
        }
        (Mode::Take(wait), _) => wait,
    };
    let fetched = match &check.kind {
        CheckKind::Queue(queue) => Fetched::Queue(dequeue(source, queue, wait).await?),
        CheckKind::State => Fetched::State(query(source, check, cursor).await?),
        CheckKind::Events {
            cursor: column,
            start,
            ..
        } => Fetched::Events {
            rows: query(source, check, cursor).await?,
            cursor: column.clone(),
            start: *start,
        },
    };
    Ok(fetched)
}

async fn query(
    source: &Source,
    check: &Check,
    cursor: Option<&Value>,
) -> Result<Rows, SourceError> {
    let rows = source.fetch(&check.sql, cursor).await?;
    debug!(check = %check.name, rows = rows.rows.len(), "Check ran.");
    Ok(match check.deadlock_trace {
        true => source.add_deadlock_labels(&check.name, rows).await,
        false => rows,
    })
}

async fn dequeue(
    source: &Source,
    queue: &Queue,
    wait: QueueWait,
) -> Result<QueueBatch, SourceError> {
    source.dequeue(queue, QUEUE_BATCH, wait).await
}

/// The outputs of `tasks`, as each finishes; a task that panicked is logged and left out (its
/// entries stay unanswered, which the caller turns into failures).
pub async fn joined<T: 'static>(mut tasks: JoinSet<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(done) => out.push(done),
            Err(panic) => warn!(error = %panic, "A task failed."),
        }
    }
    out
}
