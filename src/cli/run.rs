//! `dbalert run`: the poll engine as a service, until SIGTERM or SIGINT.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use tokio::sync::watch;
use tracing::{info, warn};

use super::poll::state_failure;
use super::serve::{SocketArgs, serve_app, slack_app};
use super::{Cli, Failure, Outcome, load_config};
use crate::config::duration::Duration;
use crate::interact::incoming::stopped;
use crate::metrics::Running;
use crate::poll::{PollError, service};
use crate::state::{StateLock, StateStore};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Wait up to DURATION for a running poll to release the state file, instead of exiting 75.
    #[arg(long, value_name = "DURATION", value_parser = Duration::parse)]
    pub wait_lock: Option<Duration>,
    /// Also receive clicks and commands from Slack in the same process, as `dbalert serve`
    /// does (needs `slack_app:`).
    #[arg(long)]
    pub serve: bool,
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Rewrite PATH in Prometheus' text format within a second of each batch, at most once a
    /// second (for node_exporter's textfile collector): each check's last status, duration and
    /// lateness (how long after its scheduled time it began), alerts firing, notifications per
    /// receiver since the start.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
}

pub fn run(cli: &Cli, args: &RunArgs) -> Result<Outcome, Failure> {
    let config = load_config(cli)?;
    if config.checks.is_empty() {
        return Err(Failure::usage(anyhow!(
            "{} has no checks; add a `checks:` section (see alerts.yaml)",
            config.file.display()
        )));
    }
    let app = match args.serve {
        true => Some(slack_app(&config)?),
        false => None,
    };
    // Held for the service's life: a `poll` from cron on the same state file exits 75.
    let _lock = StateLock::acquire_within(
        &config.state.path,
        args.wait_lock
            .map_or(std::time::Duration::ZERO, Duration::get),
    )
    .map_err(state_failure)?;
    let mut store = StateStore::open(&config.state.path).map_err(state_failure)?;
    let runtime = super::runtime()?;
    let summary = runtime.block_on(async {
        let mut signal = super::stop_on_signal()?;
        // One stop for both halves: a signal, the service ending, or serving failing for good.
        let (stopping, stop) = watch::channel(false);
        let mut service_stop = stop.clone();
        let metrics = RefCell::new(Running::default());
        let on_batch = |batch: &crate::poll::Summary| metrics.borrow_mut().record(batch);
        let shutdown = async move { stopped(&mut service_stop).await };
        let service = service::serve(&config, &mut store, shutdown, on_batch);
        let serving = async {
            match app {
                Some(app) => serve_app(&config, app, &args.socket, stop.clone()).await,
                None => Ok(()),
            }
        };
        let mut watched = stop.clone();
        let (summary, served, (), ()) = tokio::join!(
            async {
                let summary = service.await;
                let _ = stopping.send(true);
                summary
            },
            async {
                let served = serving.await;
                if served.is_err() {
                    let _ = stopping.send(true);
                }
                served
            },
            async {
                tokio::select! {
                    () = stopped(&mut signal) => {}
                    () = stopped(&mut watched) => {}
                }
                let _ = stopping.send(true);
            },
            write_metrics(args.metrics_file.as_deref(), &metrics, stop.clone()),
        );
        // The batches that ended while the service wound down.
        write_metrics_file(args.metrics_file.as_deref(), &metrics);
        served?;
        summary.map_err(|e| match e {
            PollError::State(e) => state_failure(e),
            other => Failure::failed(other),
        })
    });
    // Fetches still in flight (an AQ dequeue waiting on an empty queue) get their `wait` to
    // end, no longer.
    runtime.shutdown_timeout(service::shutdown_grace(&config.checks));
    let summary = summary?;
    info!(
        checks_ok = summary.checks_ok,
        checks_failed = summary.checks_failed,
        notifications_sent = summary.notifications_sent,
        notifications_failed = summary.notifications_failed,
        "Stopped."
    );
    Ok(Outcome::Done)
}

/// How often the metrics file is rewritten at most.
const METRICS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Writes the metrics file (if there is one) every [`METRICS_EVERY`] when a batch came in
/// since, until `stop`.
async fn write_metrics(
    path: Option<&Path>,
    metrics: &RefCell<Running>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(path) = path else { return };
    let mut every = tokio::time::interval(METRICS_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => write_metrics_file(Some(path), metrics),
            () = stopped(&mut stop) => return,
        }
    }
}

/// Writes the metrics file (if there is one) if a batch came in since it was last written.
fn write_metrics_file(path: Option<&Path>, metrics: &RefCell<Running>) {
    let Some(path) = path else { return };
    if let Err(error) = metrics.borrow_mut().write(path, jiff::Timestamp::now()) {
        warn!(path = %path.display(), %error, "Cannot write the metrics file.");
    }
}
