//! `dbalert serve`: the start-up self-test, the transport (Socket Mode or HTTP), and the
//! handling of each request it hands on, each in a task of its own, so one slow request never
//! holds up the next acknowledgement. A stop (SIGTERM, SIGINT) closes the transport, lets the
//! requests already acknowledged finish (for a bounded time), and returns.

use std::future::Future;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::config::{SlackAppConfig, SlackMode};
use super::incoming::Incoming;
use super::socket::{self, SocketMode};
use crate::config::ReceiverName;
use crate::sink::http::{self, TransportConfig};
use crate::sink::web_api::WebApi;

/// The timeout of each Web API call (`auth.test`, `apps.connections.open`).
const API_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests acknowledged but not yet handled, at most.
const QUEUE: usize = 256;
/// How long a stop waits for requests in hand to finish.
const DRAIN: Duration = Duration::from_secs(10);

/// Settings of `serve` that are not in the config file.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// A Socket Mode socket silent this long is replaced.
    pub socket_idle: Duration,
}

/// Why `serve` stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Before serving anything: the self-test failed, or Slack refused the app.
    #[error("{0}")]
    Startup(String),
    /// After serving for a while.
    #[error("{0}")]
    Later(String),
}

/// Serves `app` until `stop` turns true, handing each request to `handler` in a task of its
/// own.
pub async fn serve<H, F>(
    app: &SlackAppConfig,
    options: ServeOptions,
    stop: watch::Receiver<bool>,
    handler: H,
) -> Result<(), ServeError>
where
    H: Fn(Incoming) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let client = http::client(
        &ReceiverName("slack_app".to_owned()),
        &TransportConfig::default(),
        API_TIMEOUT,
    )
    .map_err(|e| ServeError::Startup(e.to_string()))?;
    let api = WebApi::new(&app.api_url, client);
    self_test(&api, app).await?;
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let transport = async {
        match app.mode {
            SlackMode::Socket => {
                let mode = SocketMode {
                    api,
                    app_token: app.app_token.clone().expect("checked with the config"),
                    connections: app.connections,
                    idle: options.socket_idle,
                };
                socket::run(mode, tx, stop)
                    .await
                    .map_err(|s| match s.at_start {
                        true => ServeError::Startup(s.fatal.to_string()),
                        false => ServeError::Later(s.fatal.to_string()),
                    })
            }
            SlackMode::Http => super::http::run(app, tx, stop)
                .await
                .map_err(ServeError::Startup),
        }
    };
    tokio::pin!(transport);
    let mut handling = JoinSet::new();
    let ended = loop {
        tokio::select! {
            ended = &mut transport => break ended,
            Some(incoming) = rx.recv() => {
                handling.spawn(handler(incoming));
            }
            Some(_) = handling.join_next(), if !handling.is_empty() => {}
        }
    };
    // The transport is closed: what it already acknowledged is still handled.
    rx.close();
    while let Some(incoming) = rx.recv().await {
        handling.spawn(handler(incoming));
    }
    if tokio::time::timeout(DRAIN, async {
        while handling.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        warn!(
            left = handling.len(),
            "Stopped before every request in hand was handled."
        );
    }
    ended
}

/// Checks the bot token with `auth.test`, and that it belongs to `slack_app.team_id`.
async fn self_test(api: &WebApi, app: &SlackAppConfig) -> Result<(), ServeError> {
    let answer = api
        .call("auth.test", &app.bot_token, &json!({}))
        .await
        .map_err(|e| {
            ServeError::Startup(format!(
                "the start-up check of `slack_app.bot_token` (auth.test) failed: {e}"
            ))
        })?;
    let team = answer["team_id"].as_str().unwrap_or_default();
    let enterprise = answer["enterprise_id"].as_str().unwrap_or_default();
    if team != app.team_id && enterprise != app.team_id {
        return Err(ServeError::Startup(format!(
            "`slack_app.bot_token` belongs to workspace {} ({}), but `slack_app.team_id` is {}; \
             set `team_id: {}`, or use the bot token of the app installed in {}",
            crate::sink::http::reason(team),
            crate::sink::http::reason(answer["team"].as_str().unwrap_or("no name")),
            app.team_id,
            crate::sink::http::reason(team),
            app.team_id,
        )));
    }
    info!(team = %app.team_id, "The bot token works for this workspace.");
    Ok(())
}
