use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = dbalert::cli::Cli::parse();
    match dbalert::cli::run(cli) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("dbalert: error: {:#}", failure.error);
            failure.exit_code()
        }
    }
}
