//! `dbalert serve`: receives clicks and commands from Slack (Socket Mode or HTTP) until SIGTERM
//! or SIGINT. `dbalert run --serve` runs the same beside the poll service.
//!
//! Until the click handling lands, each request is written to the audit trail as `unhandled`
//! with one log line, so that a deployment can already be checked end to end.

use anyhow::anyhow;
use clap::Args;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

use super::poll::state_failure;
use super::{Cli, Failure, Outcome, load_config};
use crate::config::duration::Duration;
use crate::interact::serve::{self, ServeError, ServeOptions};
use crate::interact::{Incoming, SlackAppConfig};
use crate::settings::Config;
use crate::state::{AuditEntry, AuditPhase, StateError, StateStore};

/// The shortest `--socket-idle`: pings go out at a third of it.
const MIN_SOCKET_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
}

/// Socket Mode settings that `serve` and `run --serve` share.
#[derive(Debug, Clone, Args)]
pub struct SocketArgs {
    /// Replace a Socket Mode connection that has been silent this long (a ping goes out at a
    /// third of it); catches connections a NAT or proxy dropped without a word.
    #[arg(long, value_name = "DURATION", value_parser = Duration::parse, default_value = "60s")]
    pub socket_idle: Duration,
}

pub fn run(cli: &Cli, args: &ServeArgs) -> Result<Outcome, Failure> {
    let config = load_config(cli)?;
    let app = slack_app(&config)?;
    let runtime = super::runtime_multi()?;
    runtime.block_on(async {
        let stop = super::stop_on_signal()?;
        serve_app(&config, app, &args.socket, stop).await
    })?;
    info!("Stopped.");
    Ok(Outcome::Done)
}

/// `slack_app:`, which `serve` cannot do without.
pub(super) fn slack_app(config: &Config) -> Result<&SlackAppConfig, Failure> {
    config.slack_app.as_ref().ok_or_else(|| {
        Failure::usage(anyhow!(
            "{} has no `slack_app:` section; add one (see docs/slack-app.md) to receive clicks from Slack",
            config.file.display()
        ))
    })
}

/// Serves `app` until `stop`, writing to the state file in short transactions of its own: it
/// never takes the lock that `poll` and `run` hold.
pub(super) async fn serve_app(
    config: &Config,
    app: &SlackAppConfig,
    socket: &SocketArgs,
    stop: watch::Receiver<bool>,
) -> Result<(), Failure> {
    if socket.socket_idle.get() < MIN_SOCKET_IDLE {
        return Err(Failure::usage(anyhow!(
            "--socket-idle must be at least 1s: a socket is given that long to say anything"
        )));
    }
    let store = StateStore::open(&config.state.path).map_err(state_failure)?;
    let audit = audit_writer(store);
    let options = ServeOptions {
        socket_idle: socket.socket_idle.get(),
    };
    serve::serve(app, options, stop, move |incoming| {
        record_unhandled(audit.clone(), incoming)
    })
    .await
    .map_err(|e| match e {
        ServeError::Startup(message) => Failure::usage(anyhow!(message)),
        ServeError::Later(message) => Failure::failed(anyhow!(message)),
    })
}

/// An audit row to write, and where to say how it went.
type AuditJob = (AuditEntry, oneshot::Sender<Result<(), StateError>>);

/// One thread that writes the audit trail in arrival order: a burst of requests queues here
/// instead of starting a blocking thread each.
fn audit_writer(mut store: StateStore) -> mpsc::UnboundedSender<AuditJob> {
    let (jobs, mut queue) = mpsc::unbounded_channel::<AuditJob>();
    std::thread::spawn(move || {
        while let Some((entry, done)) = queue.blocking_recv() {
            let _ = done.send(store.audit(&entry));
        }
    });
    jobs
}

/// The handler until clicks are acted on: an audit row (`unhandled`) and a log line.
async fn record_unhandled(audit: mpsc::UnboundedSender<AuditJob>, incoming: Incoming) {
    let entry = AuditEntry {
        at: jiff::Timestamp::now(),
        request_id: incoming.id.clone(),
        phase: AuditPhase::Outcome,
        actor: incoming.user().unwrap_or("unknown").to_owned(),
        channel: incoming.channel().map(str::to_owned),
        what: incoming.kind.as_str().to_owned(),
        target: String::new(),
        outcome: "unhandled".to_owned(),
        detail: "this version of dbalert receives requests but does not act on them yet".to_owned(),
    };
    let (done, saved) = oneshot::channel();
    let (request, actor, what) = (
        entry.request_id.clone(),
        entry.actor.clone(),
        entry.what.clone(),
    );
    if audit.send((entry, done)).is_err() {
        warn!("Cannot write the audit trail: its writer stopped.");
        return;
    }
    match saved.await {
        Ok(Ok(())) => info!(
            %request,
            %actor,
            %what,
            "Received a request from Slack; not acted on (unhandled)."
        ),
        Ok(Err(error)) => warn!(%error, "Cannot write the audit trail."),
        Err(_) => warn!("Cannot write the audit trail: its writer stopped."),
    }
}
