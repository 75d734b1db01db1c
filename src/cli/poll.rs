//! `dbalert poll`: one pass over the checks, for cron and systemd timers.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;

use super::{Cli, Failure, FailureKind, Outcome, load_config};
use tracing::{debug, warn};

use crate::config::duration::Duration;
use crate::config::secret::{Secret, redact_url};
use crate::poll::{self, Options, PollError};
use crate::sink::ReceiverName;
use crate::sink::http::{self, TransportConfig};
use crate::state::{StateError, StateLock, StateStore};

#[derive(Debug, Args)]
pub struct PollArgs {
    /// Run only this check (repeatable).
    #[arg(long = "check", value_name = "NAME")]
    pub checks: Vec<String>,
    /// Print the notifications instead of sending them; change no state and no queue.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait up to DURATION for another poll to release the state file, instead of exiting 75.
    #[arg(long, value_name = "DURATION", value_parser = Duration::parse)]
    pub wait_lock: Option<Duration>,
    /// Write the outcome in Prometheus' text format to PATH (for node_exporter's textfile
    /// collector): last run and last success, alerts firing, per-check status and duration,
    /// notifications per receiver.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
}

/// How long the heartbeat ping may take.
const HEARTBEAT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub fn run(cli: &Cli, args: &PollArgs) -> Result<Outcome, Failure> {
    let config = load_config(cli)?;
    if config.checks.is_empty() {
        return Err(Failure::usage(anyhow!(
            "{} has no checks; add a `checks:` section (see alerts.yaml)",
            config.file.display()
        )));
    }
    poll::select(&config, &args.checks).map_err(Failure::usage)?;
    let state_path = config.state.path.clone();
    // A dry run never writes the real state file: without one it reads an empty, throwaway one
    // in a directory of its own.
    let scratch = match args.dry_run && !state_path.exists() {
        true => Some(scratch_dir().map_err(|e| {
            Failure::failed(anyhow!(
                "cannot make a scratch directory for the dry run: {e}"
            ))
        })?),
        false => None,
    };
    let _lock = match (&scratch, args.dry_run) {
        (None, false) => Some(
            StateLock::acquire_within(
                &state_path,
                args.wait_lock
                    .map_or(std::time::Duration::ZERO, Duration::get),
            )
            .map_err(state_failure)?,
        ),
        _ => None,
    };
    let result = (|| {
        let mut store = StateStore::open(
            &scratch
                .as_ref()
                .map_or(state_path.clone(), |d| d.join("state.db")),
        )
        .map_err(state_failure)?;
        let options = Options {
            dry_run: args.dry_run,
            only: args.checks.clone(),
            now: jiff::Timestamp::now(),
        };
        let runtime = super::runtime_multi()?;
        let summary = runtime
            .block_on(poll::poll(&config, &mut store, &options))
            .map_err(|e| match e {
                PollError::UnknownCheck(_) => Failure::usage(e),
                PollError::State(e) => state_failure(e),
                other => Failure::failed(other),
            })?;
        if !args.dry_run {
            if let Some(path) = &args.metrics_file
                && let Err(error) =
                    crate::metrics::write(path, &summary, options.now, args.checks.is_empty())
            {
                warn!(path = %path.display(), %error, "Cannot write the metrics file.");
            }
            // Only a full poll vouches for every check.
            let full_success = summary.all_ok() && args.checks.is_empty();
            if let (true, Some(url)) = (full_success, &config.heartbeat_url) {
                runtime.block_on(heartbeat(url));
            }
        }
        Ok(if summary.all_ok() {
            Outcome::Done
        } else {
            Outcome::No
        })
    })();
    if let Some(scratch) = scratch {
        let _ = std::fs::remove_dir_all(scratch);
    }
    result
}

/// Tells a dead-man's-switch service that this poll succeeded. A failure is logged and does
/// not change the exit code: the service itself will notice the missing ping.
async fn heartbeat(url: &Secret) {
    let endpoint = redact_url(url.expose());
    let client = match http::client(
        &ReceiverName("heartbeat".to_owned()),
        &TransportConfig::default(),
        HEARTBEAT_TIMEOUT,
    ) {
        Ok(client) => client,
        Err(error) => {
            warn!(%error, "Cannot ping the heartbeat URL.");
            return;
        }
    };
    match client.get(url.expose()).send().await {
        Ok(response) if response.status().is_success() => debug!(%endpoint, "Heartbeat sent."),
        Ok(response) => {
            warn!(%endpoint, status = response.status().as_u16(), "Heartbeat not accepted.")
        }
        Err(error) => {
            warn!(%endpoint, error = %http::error_chain(&error.without_url()), "Heartbeat failed.")
        }
    }
}

pub(super) fn state_failure(error: StateError) -> Failure {
    match error {
        StateError::Locked { .. } => Failure {
            kind: FailureKind::Locked,
            error: error.into(),
        },
        other => Failure::failed(other),
    }
}

/// A new, private directory under the temporary directory. Creating it fails if the name is
/// taken, so nothing planted there (a symlink) is ever written through.
fn scratch_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    loop {
        let dir = std::env::temp_dir().join(format!(
            "dbalert-dry-run-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            result => return result.map(|()| dir),
        }
    }
}
