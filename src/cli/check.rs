//! `dbalert check`: validates the config file.

use std::process::ExitCode;

use clap::Args;

use super::{Cli, Failure, load_config};

#[derive(Debug, Args)]
pub struct CheckArgs {}

pub fn run(cli: &Cli, _args: &CheckArgs) -> Result<ExitCode, Failure> {
    let config = load_config(cli)?;
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    println!(
        "ok: {} ({}, {}, {})",
        config.file.display(),
        count(config.sources.len(), "source"),
        count(config.receivers.len(), "receiver"),
        count(config.checks.len(), "check"),
    );
    Ok(ExitCode::SUCCESS)
}
