//! The command line: arguments, logging, and the one place that picks the exit code.

/// `print!` for a command's output: a closed standard output ends the process quietly
/// ([`write_out`]) where `print!` would panic.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::write_out(format_args!($($arg)*)) };
}

/// `println!` for a command's output, as [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => { $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

mod actions;
mod check;
mod deadlock;
mod poll;
mod preview;
mod routes;
mod run;
mod send;
mod serve;
mod silence;
mod slack;
mod status;

use std::io::IsTerminal;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use tracing::warn;
use tracing_subscriber::EnvFilter;

use crate::config;
use crate::settings::{self, Config};

/// Routes alerts out of databases to the Slack channels of the teams that own them.
#[derive(Debug, Parser)]
#[command(
    name = "dbalert",
    version,
    about,
    max_term_width = 100,
    disable_version_flag = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Print the version, git commit, build date and features (with -v also rustc and target).
    #[arg(short = 'V', long)]
    pub version: bool,
    /// The config file [default: ./alerts.yaml, then $XDG_CONFIG_HOME/dbalert/alerts.yaml, then
    /// /etc/dbalert/alerts.yaml]
    #[arg(
        short,
        long,
        global = true,
        env = "DBALERT_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// More log output on stderr: -v for a summary, -vv for debugging.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// How log lines are written; `json` suits journald and log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once per run, so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Post one message and exit (for shell scripts).
    Send(send::SendArgs),
    /// Run every check once, notify, save, exit (for cron and systemd timers).
    Poll(poll::PollArgs),
    /// Run each check on its own interval until SIGTERM or SIGINT (a service).
    Run(run::RunArgs),
    /// Receive clicks and commands from Slack (Socket Mode or HTTP) until SIGTERM or SIGINT.
    Serve(serve::ServeArgs),
    /// Validate the config file.
    Check(check::CheckArgs),
    /// Show the alerts firing now, from the state file.
    Status(status::StatusArgs),
    /// Show the messages a check would produce, as they read in Slack (`--json` for payloads).
    Preview(preview::PreviewArgs),
    /// Mute alerts for a while (`silence add MATCHER... --duration 2h --comment TEXT`), list
    /// silences, end one.
    Silence(silence::SilenceArgs),
    /// List the alert groups acknowledged from Slack.
    Ack(silence::AckArgs),
    /// Set up the Slack app: `slack manifest` prints its manifest.
    Slack(slack::SlackArgs),
    /// Test where an alert goes (`routes test LABEL=VALUE...`) or draw the routing tree.
    Routes(routes::RoutesArgs),
    /// List the actions people may run from Slack, or try one (`actions test NAME ARG...`).
    Actions(actions::ActionsArgs),
    /// Read Oracle deadlock trace files: who waited on whom, and the labels `deadlock_trace` adds.
    Deadlock(deadlock::DeadlockArgs),
    /// Print shell completions for SHELL on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    Man,
}

/// How a command that ran to its end went; [`run()`] turns it into the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked was done: exit 0.
    Done,
    /// It ran, and the answer is "no": a check or a delivery failed, a route did not match as
    /// expected, a trace held no deadlock: exit 1.
    No,
    /// Some of its input could not be read; it did what it could with the rest: exit 2.
    Unreadable,
}

/// A command that did not succeed, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub error: anyhow::Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Ran, but something failed (a source errored, a notification was not accepted): exit 1.
    Failed,
    /// Could not run: bad arguments or config; nothing was done: exit 2.
    Usage,
    /// Another poll holds the state file's lock: exit 75 (EX_TEMPFAIL).
    Locked,
}

impl Failure {
    pub fn failed(error: impl Into<anyhow::Error>) -> Self {
        Self {
            kind: FailureKind::Failed,
            error: error.into(),
        }
    }

    pub fn usage(error: impl Into<anyhow::Error>) -> Self {
        Self {
            kind: FailureKind::Usage,
            error: error.into(),
        }
    }
}

/// Runs the command `cli` asks for, prints its error if it failed, and picks the exit code: the
/// one place that does (after ripgrep's `main`).
pub fn run(cli: Cli) -> ExitCode {
    let code = match dispatch(cli) {
        Ok(Outcome::Done) => 0,
        Ok(Outcome::No) => 1,
        Ok(Outcome::Unreadable) => 2,
        Err(failure) => {
            // Not eprintln!, which panics when stderr is a closed pipe (`… 2>&1 | head`): the
            // exit code still says what happened.
            let _ = writeln!(std::io::stderr(), "dbalert: error: {:#}", failure.error);
            match failure.kind {
                FailureKind::Failed => 1,
                FailureKind::Usage => 2,
                FailureKind::Locked => 75,
            }
        }
    };
    ExitCode::from(code)
}

/// Runs the command `cli` asks for.
fn dispatch(cli: Cli) -> Result<Outcome, Failure> {
    // --version wins over any command, as clap's own flag does.
    if cli.version {
        out!("{}", version_text(cli.verbose > 0));
        return Ok(Outcome::Done);
    }
    let Some(command) = &cli.command else {
        return Err(Failure::usage(anyhow::anyhow!(
            "no command given; see `dbalert --help`"
        )));
    };
    init_logging(cli.verbose, cli.quiet, cli.log_format);
    match command {
        Command::Send(args) => send::run(&cli, args),
        Command::Poll(args) => poll::run(&cli, args),
        Command::Run(args) => run::run(&cli, args),
        Command::Serve(args) => serve::run(&cli, args),
        Command::Check(args) => check::run(&cli, args),
        Command::Status(args) => status::run(&cli, args),
        Command::Routes(args) => routes::run(&cli, args),
        Command::Deadlock(args) => deadlock::run(&cli, args),
        Command::Actions(args) => actions::run(&cli, args),
        Command::Preview(args) => preview::run(&cli, args),
        Command::Silence(args) => silence::run(&cli, args),
        Command::Ack(args) => silence::run_ack(&cli, args),
        Command::Slack(args) => slack::run(&cli, args),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "dbalert", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            Ok(Outcome::Done)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(Failure::failed)?;
            out!("{}", String::from_utf8_lossy(&page));
            Ok(Outcome::Done)
        }
    }
}

/// Writes a command's output. When standard output is a closed pipe (`dbalert status | head -1`)
/// the reader has all it wanted: the process exits 0 at once, as ripgrep does, rather than
/// panicking as `print!` would. Any other write error (a full disk) is reported and exits 1.
/// Commands print only after their work is done and saved, so nothing is left half-way.
pub(crate) fn write_out(text: std::fmt::Arguments) {
    let mut stdout = std::io::stdout().lock();
    let Err(error) = stdout.write_fmt(text).and_then(|()| stdout.flush()) else {
        return;
    };
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    let _ = writeln!(
        std::io::stderr(),
        "dbalert: error: cannot write to standard output: {error}"
    );
    std::process::exit(1);
}

/// What `--version` prints; `verbose` adds the compiler and the target.
pub fn version_text(verbose: bool) -> String {
    let features: &[&str] = if cfg!(feature = "oracle") {
        &["oracle"]
    } else {
        &[]
    };
    let mut text = format!(
        "dbalert {}\ncommit: {}\nbuilt: {}\nfeatures: {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("DBALERT_GIT_COMMIT"),
        env!("DBALERT_BUILD_DATE"),
        if features.is_empty() {
            "none".to_owned()
        } else {
            features.join(" ")
        },
    );
    if verbose {
        text += &format!(
            "rustc: {}\ntarget: {}\n",
            env!("DBALERT_RUSTC_VERSION"),
            env!("DBALERT_TARGET")
        );
    }
    text
}

/// Finds and loads the config, logging its warnings.
fn load_config(cli: &Cli) -> Result<Config, Failure> {
    load_config_with(cli, config::References::Required)
}

/// [`load_config`] for commands that send nothing: `${env:}` and `${file:}` references that
/// cannot be resolved are left as written, so no secret is needed to run them.
fn load_config_with(cli: &Cli, references: config::References) -> Result<Config, Failure> {
    let file = settings::find(cli.config.as_deref()).map_err(Failure::usage)?;
    let config = settings::load_with(&file, references).map_err(Failure::usage)?;
    for warning in &config.warnings {
        warn!("{warning}");
    }
    Ok(config)
}

/// A runtime for the async parts (HTTP delivery, PostgreSQL), on the calling thread. `run`
/// takes it too: every source's query waits on its socket, not on a thread, and SQLite and
/// Oracle calls go to blocking threads, so sources still run side by side, while a fleet's
/// dozens of batches a second cost no hand-offs between threads.
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(anyhow::anyhow!("cannot start the async runtime: {e}")))
}

/// A runtime with worker threads, so that checks of different sources run side by side.
fn runtime_multi() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(anyhow::anyhow!("cannot start the async runtime: {e}")))
}

/// A stop signal that turns true on the first SIGTERM or SIGINT; call inside the runtime.
fn stop_on_signal() -> Result<tokio::sync::watch::Receiver<bool>, Failure> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| Failure::failed(anyhow::anyhow!("cannot listen for {name}: {e}")))
    };
    let mut term = listen(SignalKind::terminate(), "SIGTERM")?;
    let mut int = listen(SignalKind::interrupt(), "SIGINT")?;
    let (stopping, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("Stopping: signal received.");
        let _ = stopping.send(true);
    });
    Ok(stop)
}

/// Logs go to stderr. `RUST_LOG` wins when set; otherwise -v/-q set dbalert's own level and
/// other crates stay at `warn`, so that their debug output (which can name URLs) stays off.
fn init_logging(verbose: u8, quiet: bool, format: LogFormat) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::new(spec),
        _ => EnvFilter::new(match (quiet, verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "warn,dbalert=info",
            (false, 2) => "warn,dbalert=debug",
            (false, _) => "warn,dbalert=trace",
        }),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    // A second initialisation (tests calling run twice) is harmless; ignore it.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
