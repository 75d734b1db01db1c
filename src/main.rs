use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    dbalert::cli::run(dbalert::cli::Cli::parse())
}
