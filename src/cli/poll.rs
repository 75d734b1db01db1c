//! `dbalert poll`: one pass over the checks, for cron and systemd timers.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use clap::Args;

use super::{Cli, Failure, FailureKind, load_config};
use crate::config::duration::Duration;
use crate::poll::{self, Options, PollError};
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
}

pub fn run(cli: &Cli, args: &PollArgs) -> Result<ExitCode, Failure> {
    let config = load_config(cli)?;
    if config.checks.is_empty() {
        return Err(Failure::usage(anyhow!(
            "{} has no checks; add a `checks:` section (see alerts.yaml)",
            config.file.display()
        )));
    }
    poll::select(&config, &args.checks).map_err(Failure::usage)?;
    let state_path = config.state.path.clone();
    // A dry run never writes the real state file: without one it reads an empty, throwaway one.
    let scratch = (args.dry_run && !state_path.exists()).then(|| {
        std::env::temp_dir().join(format!("dbalert-dry-run-{}.db", std::process::id()))
    });
    let _lock = match (&scratch, args.dry_run) {
        (None, false) => Some(
            StateLock::acquire_within(&state_path, args.wait_lock.map_or(std::time::Duration::ZERO, Duration::get))
                .map_err(state_failure)?,
        ),
        _ => None,
    };
    let result = (|| {
        let mut store = StateStore::open(scratch.as_ref().unwrap_or(&state_path)).map_err(state_failure)?;
        let options = Options {
            dry_run: args.dry_run,
            only: args.checks.clone(),
            now: jiff::Timestamp::now(),
        };
        let summary = super::runtime_multi()?
            .block_on(poll::poll(&config, &mut store, &options))
            .map_err(|e| match e {
                PollError::UnknownCheck(_) => Failure::usage(e),
                PollError::State(e) => state_failure(e),
                other => Failure::failed(other),
            })?;
        Ok(if summary.all_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })();
    if let Some(scratch) = scratch {
        remove_state_files(&scratch);
    }
    result
}

fn state_failure(error: StateError) -> Failure {
    match error {
        StateError::Locked { .. } => Failure {
            kind: FailureKind::Locked,
            error: error.into(),
        },
        other => Failure::failed(other),
    }
}

fn remove_state_files(path: &PathBuf) {
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}
