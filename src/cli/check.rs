//! `dbalert check`: validates the config file; `--connect` also runs every check's query.

use clap::Args;

use super::{Cli, Failure, Outcome, load_config};
use crate::poll::Fetched;
use crate::settings::Config;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also open every source and run every check's query (nothing is delivered, no queue
    /// message is taken), printing per check `ok` or the error, the rows and the time.
    #[arg(long)]
    pub connect: bool,
}

pub fn run(cli: &Cli, args: &CheckArgs) -> Result<Outcome, Failure> {
    let config = load_config(cli)?;
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    outln!(
        "ok: {} ({}, {}, {})",
        config.file.display(),
        count(config.sources.len(), "source"),
        count(config.receivers.len(), "receiver"),
        count(config.checks.len(), "check"),
    );
    if !args.connect {
        return Ok(Outcome::Done);
    }
    let all_ok = super::runtime_multi()?.block_on(connect(&config));
    Ok(if all_ok { Outcome::Done } else { Outcome::No })
}

/// Runs each check's query once (through the poll engine's fetch, as a probe) and prints the
/// outcome; true when every one worked.
async fn connect(config: &Config) -> bool {
    let mut all_ok = true;
    for (check, (fetched, took)) in crate::poll::probe(config).await {
        let outcome = fetched.and_then(|fetched| match fetched {
            Fetched::Probed(Some(rows)) => {
                let alerts = check.alerts(&rows, &config.templates)?;
                let s = if alerts.len() == 1 { "" } else { "s" };
                Ok(format!("{} row{s}", alerts.len()))
            }
            _ => Ok("connected".to_owned()),
        });
        match outcome {
            Ok(what) => outln!("ok     {}  {what}  {} ms", check.name, took.as_millis()),
            Err(error) => {
                all_ok = false;
                outln!("error  {}  {error}", check.name);
            }
        }
    }
    all_ok
}
