//! `dbalert serve`: receives clicks and commands from Slack (Socket Mode or HTTP) until SIGTERM
//! or SIGINT. `dbalert run --serve` runs the same beside the poll service.
//!
//! Each request goes to the code that acts on it ([`dispatch`]): a click on an alert's button to
//! `interact::Clicks`, a slash command and the clicks on its Confirm/Approve buttons to
//! `action::chat`. Anything else (an Events API callback, a modal) is audited as `unhandled`.

use anyhow::anyhow;
use clap::Args;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

use tracing::{debug, info, warn};

use super::poll::state_failure;
use super::{Cli, Failure, Outcome, load_config};
use crate::action::chat::{Accepted, ActionContext, button_click, slash_command};
use crate::config::duration::Duration;
use crate::interact::serve::{self, ServeError, ServeOptions};
use crate::interact::{Clicks, Incoming, Kind, SlackAppConfig};
use crate::settings::Config;
use crate::state::{AuditEntry, AuditPhase, StateError, StateStore};

/// The action ids of the buttons on alerts (ack, silence, …) and of an action's Confirm, Cancel,
/// Approve and Reject buttons.
const ALERT_BUTTONS: &str = "dbalert.";
const ACTION_BUTTONS: &str = "dbalert.action.";

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
    let handlers = Arc::new(Handlers::build(config, store)?);
    let options = ServeOptions {
        socket_idle: socket.socket_idle.get(),
    };
    let served = serve::serve(app, options, stop, {
        let handlers = handlers.clone();
        move |incoming| dispatch(handlers.clone(), incoming)
    })
    .await;
    handlers.actions.flush_audit().await;
    served.map_err(|e| match e {
        ServeError::Startup(message) => Failure::usage(anyhow!(message)),
        ServeError::Later(message) => Failure::failed(anyhow!(message)),
    })
}

/// What acts on requests.
struct Handlers {
    clicks: Clicks,
    actions: Arc<ActionContext>,
    audit: mpsc::UnboundedSender<AuditJob>,
}

impl Handlers {
    fn build(config: &Config, store: StateStore) -> Result<Self, Failure> {
        let clicks = Clicks::new(
            config.slack_app.as_ref(),
            &config.access,
            &config.receivers,
            &config.state.path,
        )
        .map_err(|e| Failure::failed(anyhow!(e)))?;
        let team_id = config
            .slack_app
            .as_ref()
            .map(|app| app.team_id.clone())
            .unwrap_or_default();
        let mut actions = ActionContext::new(
            config.actions.clone(),
            config.access.clone(),
            team_id,
            &config.sources,
            config.state.path.clone(),
            config.action_audit.as_ref(),
        )
        .and_then(|actions| actions.with_receivers(&config.receivers))
        .map_err(|e| Failure::usage(anyhow!(e)))?;
        // The transports acknowledge every request at once, empty.
        actions.acks_through_response_url = true;
        Ok(Self {
            clicks,
            actions: Arc::new(actions),
            audit: audit_writer(store),
        })
    }

    /// Looks up the members of the user groups the actions' access rules name (cached).
    async fn refresh_action_groups(&self) {
        let wanted = self.actions.groups_to_look_up();
        if wanted.is_empty() {
            return;
        }
        let members = self.clicks.user_groups().members(&wanted).await;
        *self
            .actions
            .groups
            .write()
            .unwrap_or_else(|p| p.into_inner()) = members;
    }
}

/// Hands one request to what acts on it, and waits until it is done (`serve` stops only after
/// the requests in hand).
async fn dispatch(handlers: Arc<Handlers>, incoming: Incoming) {
    let (payload, id) = (&incoming.payload, incoming.id.as_str());
    match incoming.kind {
        Kind::Interactive if payload["type"] == "block_actions" => {
            let action_id = payload["actions"][0]["action_id"].as_str().unwrap_or("");
            if action_id.starts_with(ACTION_BUTTONS) {
                handlers.refresh_action_groups().await;
                let accepted = button_click(&handlers.actions, payload, id).await;
                finish(&handlers.actions, payload, accepted).await;
            } else if action_id.starts_with(ALERT_BUTTONS) {
                handlers.clicks.handle(payload, id).await;
            } else {
                // A link button (Runbook, Dashboard): Slack opens the URL; nothing to do.
                debug!(request = id, "A link button was clicked; nothing to do.");
            }
        }
        Kind::SlashCommand => {
            handlers.refresh_action_groups().await;
            let accepted = slash_command(&handlers.actions, payload, id).await;
            finish(&handlers.actions, payload, accepted).await;
        }
        _ => record_unhandled(handlers.audit.clone(), incoming).await,
    }
}

/// Posts an accepted command's ack and waits for its work.
async fn finish(actions: &ActionContext, payload: &serde_json::Value, accepted: Accepted) {
    actions.post_ack(payload, &accepted.ack).await;
    if let Some(work) = accepted.work
        && let Err(error) = work.await
    {
        warn!(%error, "An action's work failed.");
    }
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

/// What is done with a request nothing acts on: an audit row (`unhandled`) and a log line.
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
        detail: "dbalert acts on button clicks and slash commands only".to_owned(),
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
