//! `dbalert check`: validates the config file; `--connect` also runs every check's query.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::{Cli, Failure, load_config};
use crate::check::CheckKind;
use crate::config::Config;
use crate::source::{Source, SourceName};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also open every source and run every check's query (nothing is delivered, no queue
    /// message is taken), printing per check `ok` or the error, the rows and the time.
    #[arg(long)]
    pub connect: bool,
}

pub fn run(cli: &Cli, args: &CheckArgs) -> Result<ExitCode, Failure> {
    let config = load_config(cli)?;
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    println!(
        "ok: {} ({}, {}, {})",
        config.file.display(),
        count(config.sources.len(), "source"),
        count(config.receivers.len(), "receiver"),
        count(config.checks.len(), "check"),
    );
    if !args.connect {
        return Ok(ExitCode::SUCCESS);
    }
    let all_ok = super::runtime_multi()?.block_on(connect(&config));
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs each check's query once and prints the outcome; true when every one worked.
async fn connect(config: &Config) -> bool {
    let mut sources: BTreeMap<&SourceName, Result<Source, String>> = BTreeMap::new();
    let mut all_ok = true;
    for check in &config.checks {
        let source = sources.entry(&check.source).or_insert_with(|| {
            config.sources[&check.source]
                .build(check.source.clone())
                .map_err(|e| e.to_string())
        });
        let started = Instant::now();
        let outcome = match source {
            Err(error) => Err(error.clone()),
            // Taking messages off a queue would hide them from the real poll: only connect.
            Ok(source) if matches!(check.kind, CheckKind::Queue(_)) => source
                .check()
                .await
                .map(|()| "connected".to_owned())
                .map_err(|e| e.to_string()),
            Ok(source) => match source.fetch(&check.sql, None).await {
                Err(error) => Err(error.to_string()),
                Ok(rows) => check
                    .alerts(&rows, &config.templates)
                    .map(|alerts| {
                        format!(
                            "{} row{}",
                            alerts.len(),
                            if alerts.len() == 1 { "" } else { "s" }
                        )
                    })
                    .map_err(|e| e.to_string()),
            },
        };
        let ms = started.elapsed().as_millis();
        match outcome {
            Ok(what) => println!("ok     {}  {what}  {ms} ms", check.name),
            Err(error) => {
                all_ok = false;
                println!("error  {}  {error}", check.name);
            }
        }
    }
    all_ok
}
