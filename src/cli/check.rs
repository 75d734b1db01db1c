//! `dbalert check`: validates the config file.

use std::process::ExitCode;

use clap::Args;

use super::{Cli, Failure, load_config};

#[derive(Debug, Args)]
pub struct CheckArgs {}

pub fn run(cli: &Cli, _args: &CheckArgs) -> Result<ExitCode, Failure> {
    let config = load_config(cli)?;
    println!(
        "ok: {} ({} receiver{})",
        config.file.display(),
        config.receivers.len(),
        if config.receivers.len() == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}
