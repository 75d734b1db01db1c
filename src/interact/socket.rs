//! Socket Mode: `dbalert serve` opens WebSockets to Slack (`apps.connections.open` with the
//! app token) and receives clicks and commands on them, so it needs no inbound port.
//!
//! Every envelope is acknowledged (`{"envelope_id": …}`) the moment it is read, before it is
//! handed on, so a slow database or Slack API never makes Slack show an error or retry. A
//! retried envelope (same id, on any of the sockets) is acknowledged again but handed on once.
//! On `disconnect` with `refresh_requested` or `warning` the next socket is opened before the
//! old one is closed, and the old one is read until it closes, so no envelope is lost;
//! `link_disabled` (Socket Mode switched off in the app's settings) is fatal. A socket silent
//! for the idle deadline (pings go out at a third of it) is replaced: a half-open connection
//! behind a NAT never says it is gone. Failures back off exponentially with jitter.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, info, warn};

use super::incoming::{Incoming, Kind, stopped};
use super::wss::{self, Socket};
use crate::config::secret::Secret;
use crate::sink::SendError;
use crate::sink::web_api::WebApi;

/// How many envelope ids are remembered to drop repeats: far more than Slack retries in flight.
const RECENT_IDS: usize = 4096;
/// The first wait after a failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A socket that lasted this long was healthy: the next failure starts the back-off afresh.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// How to reach Slack over Socket Mode.
#[derive(Debug, Clone)]
pub struct SocketMode {
    pub api: WebApi,
    /// The `xapp-…` token that may open sockets.
    pub app_token: Secret,
    /// Sockets kept open at once; Slack sends each envelope to any one of them.
    pub connections: u8,
    /// A socket silent this long is replaced.
    pub idle: Duration,
}

/// Why Socket Mode stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    #[error(
        "Slack disabled Socket Mode for this app (disconnect: link_disabled); turn on Socket Mode in the app's settings, or set `slack_app.mode: http`"
    )]
    LinkDisabled,
    #[error("Slack refused to open a socket with `slack_app.app_token`: {0}")]
    Refused(SendError),
}

/// A fatal error, and whether it came before any socket was ever open.
#[derive(Debug)]
pub struct Stopped {
    pub fatal: Fatal,
    pub at_start: bool,
}

/// What every socket of one process shares.
struct Shared {
    mode: SocketMode,
    tx: mpsc::Sender<Incoming>,
    recent: Mutex<RecentIds>,
    /// Whether a socket was ever open (a `hello` arrived).
    greeted: AtomicBool,
}

/// Keeps `mode.connections` sockets open and hands each new envelope to `tx`, until `stop`
/// turns true (then `Ok`) or Slack refuses for good.
pub async fn run(
    mode: SocketMode,
    tx: mpsc::Sender<Incoming>,
    stop: watch::Receiver<bool>,
) -> Result<(), Stopped> {
    let shared = Arc::new(Shared {
        recent: Mutex::new(RecentIds::default()),
        greeted: AtomicBool::new(false),
        tx,
        mode,
    });
    let mut slots = tokio::task::JoinSet::new();
    for slot in 0..shared.mode.connections {
        slots.spawn(keep_connected(shared.clone(), slot, stop.clone()));
    }
    while let Some(ended) = slots.join_next().await {
        if let Ok(Err(fatal)) = ended {
            return Err(Stopped {
                fatal,
                at_start: !shared.greeted.load(Ordering::SeqCst),
            });
        }
    }
    Ok(())
}

/// How a socket's life ended.
enum Ended {
    Stopped,
    Fatal(Fatal),
    /// Try again, after `wait` if Slack asked for one.
    Retry {
        reason: String,
        wait: Option<Duration>,
    },
}

impl Ended {
    fn retry(reason: impl Into<String>) -> Self {
        Self::Retry {
            reason: reason.into(),
            wait: None,
        }
    }
}

/// One slot: a socket, replaced whenever it ends, until stopped or refused.
async fn keep_connected(
    shared: Arc<Shared>,
    slot: u8,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Fatal> {
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        match session(&shared, &mut stop).await {
            Ended::Stopped => return Ok(()),
            Ended::Fatal(fatal) => return Err(fatal),
            Ended::Retry { reason, wait } => {
                failures = match started.elapsed() >= HEALTHY_AFTER {
                    true => 0,
                    false => failures.saturating_add(1),
                };
                let wait = wait.unwrap_or_else(|| backoff(failures));
                warn!(slot, %reason, wait_ms = wait.as_millis() as u64, "Slack socket lost; reconnecting.");
                tokio::select! {
                    () = stopped(&mut stop) => return Ok(()),
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// The wait before reconnecting after `failures` failures in a row: none after a healthy
/// socket, then 1 s, 2 s, 4 s … up to a minute, each between half and all of that at random, so
/// that many processes do not reconnect in step.
fn backoff(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let full = FIRST_BACKOFF
        .saturating_mul(1 << (failures - 1).min(16))
        .min(MAX_BACKOFF);
    full.mul_f64(0.5 + fastrand::f64() / 2.0)
}

type Opening<'a> = Pin<Box<dyn Future<Output = Result<Link, Ended>> + Send + 'a>>;

/// One socket's life, through any number of refreshes, until it ends.
async fn session(shared: &Arc<Shared>, stop: &mut watch::Receiver<bool>) -> Ended {
    let mut link = tokio::select! {
        () = stopped(stop) => return Ended::Stopped,
        opened = open(shared) => match opened {
            Ok(link) => link,
            Err(ended) => return ended,
        },
    };
    let mut next: Option<Opening> = None;
    loop {
        let received = tokio::select! {
            () = stopped(stop) => {
                link.close().await;
                return Ended::Stopped;
            }
            opened = async { next.as_mut().expect("polled only when set").await }, if next.is_some() => {
                next = None;
                match opened {
                    Ok(fresh) => {
                        debug!("Slack socket refreshed; closing the old one.");
                        tokio::spawn(drain(std::mem::replace(&mut link, fresh), shared.clone()));
                    }
                    // The old socket still works until Slack closes it; then the slot reconnects.
                    Err(Ended::Fatal(fatal)) => return Ended::Fatal(fatal),
                    Err(_) => warn!("Cannot open the socket that replaces a refreshed one; keeping the old one."),
                }
                continue;
            }
            received = link.recv() => received,
        };
        match link.handle(received, shared).await {
            Event::Nothing | Event::Hello => {}
            Event::Disconnect(reason) if reason == "link_disabled" => {
                return Ended::Fatal(Fatal::LinkDisabled);
            }
            Event::Disconnect(reason) if reason == "refresh_requested" || reason == "warning" => {
                if next.is_none() {
                    debug!(%reason, "Slack asked for a new socket; opening it before closing this one.");
                    next = Some(Box::pin(open(shared)));
                }
            }
            Event::Disconnect(reason) => {
                link.close().await;
                return Ended::retry(format!("Slack disconnected ({reason})"));
            }
            Event::Closed(reason) => match next.take() {
                // Refreshing: the new socket is on its way; wait for it.
                Some(opening) => match opening.await {
                    Ok(fresh) => link = fresh,
                    Err(ended) => return ended,
                },
                None => return Ended::retry(reason),
            },
        }
    }
}

/// Reads a replaced socket until it closes, so that an envelope Slack sent on it just before
/// the switch is still acknowledged and handed on; then it is gone.
async fn drain(mut link: Link, shared: Arc<Shared>) {
    let _ = link.socket.send(Message::Close(None)).await;
    loop {
        let received = link.recv().await;
        if let Event::Closed(_) = link.handle(received, &shared).await {
            return;
        }
    }
}

/// Opens a socket: asks Slack for a URL, connects, and waits for `hello`.
async fn open(shared: &Shared) -> Result<Link, Ended> {
    let mode = &shared.mode;
    let answer = mode
        .api
        .call("apps.connections.open", &mode.app_token, &json!({}))
        .await
        .map_err(|error| match error {
            SendError::Rejected { .. } => Ended::Fatal(Fatal::Refused(error)),
            SendError::RateLimited { retry_after, .. } => Ended::Retry {
                reason: error.to_string(),
                wait: Some(retry_after),
            },
            other => Ended::retry(other.to_string()),
        })?;
    let url = answer["url"]
        .as_str()
        .ok_or_else(|| Ended::retry("apps.connections.open answered no `url`"))?;
    let socket = wss::connect(url).await.map_err(Ended::retry)?;
    let mut link = Link::new(socket, mode.idle);
    loop {
        let received = link.recv().await;
        match link.handle(received, shared).await {
            Event::Hello => {
                if !shared.greeted.swap(true, Ordering::SeqCst) {
                    info!("Connected to Slack (Socket Mode).");
                }
                return Ok(link);
            }
            Event::Nothing => {}
            Event::Disconnect(reason) if reason == "link_disabled" => {
                return Err(Ended::Fatal(Fatal::LinkDisabled));
            }
            Event::Disconnect(reason) => {
                return Err(Ended::retry(format!(
                    "Slack disconnected before hello ({reason})"
                )));
            }
            Event::Closed(reason) => return Err(Ended::retry(reason)),
        }
    }
}

/// What one read off a socket gave.
enum Received {
    Frame(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    /// Nothing arrived within the idle deadline.
    Silent,
    /// Time to ping.
    PingDue,
}

/// What a frame meant for the socket's life.
enum Event {
    Nothing,
    Hello,
    Disconnect(String),
    Closed(String),
}

/// One open socket and its liveness.
struct Link {
    socket: Socket,
    idle: Duration,
    last_heard: Instant,
    last_ping: Instant,
}

impl Link {
    fn new(socket: Socket, idle: Duration) -> Self {
        let now = Instant::now();
        Self {
            socket,
            idle,
            last_heard: now,
            last_ping: now,
        }
    }

    /// Waits for the next frame, the idle deadline or the time to ping. Cancel-safe: nothing
    /// is written here, so dropping it loses nothing.
    async fn recv(&mut self) -> Received {
        let silent_at = self.last_heard + self.idle;
        let ping_at = self.last_heard.max(self.last_ping) + self.idle / 3;
        tokio::select! {
            frame = self.socket.next() => Received::Frame(frame),
            () = tokio::time::sleep_until(silent_at) => Received::Silent,
            () = tokio::time::sleep_until(ping_at) => Received::PingDue,
        }
    }

    /// Acts on what [`Link::recv`] gave: acknowledges and hands on envelopes, answers the
    /// clock. Not to be cancelled: an envelope read is always acknowledged.
    async fn handle(&mut self, received: Received, shared: &Shared) -> Event {
        let message = match received {
            Received::Silent => {
                return Event::Closed(format!(
                    "no frame from Slack for {} s",
                    self.idle.as_secs_f64()
                ));
            }
            Received::PingDue => {
                self.last_ping = Instant::now();
                return match self.socket.send(Message::Ping(Default::default())).await {
                    Ok(()) => Event::Nothing,
                    Err(e) => Event::Closed(format!("cannot ping Slack: {e}")),
                };
            }
            Received::Frame(None) => return Event::Closed("Slack closed the socket".to_owned()),
            Received::Frame(Some(Err(e))) => return Event::Closed(format!("socket error: {e}")),
            Received::Frame(Some(Ok(message))) => message,
        };
        self.last_heard = Instant::now();
        match message {
            Message::Text(text) => self.on_text(text.as_str(), shared).await,
            Message::Binary(bytes) => {
                debug!(bytes = bytes.len(), "Ignored a binary frame from Slack.");
                Event::Nothing
            }
            Message::Close(_) => Event::Closed("Slack closed the socket".to_owned()),
            // tungstenite answers pings itself; a pong only proves the socket is alive.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Event::Nothing,
        }
    }

    async fn on_text(&mut self, text: &str, shared: &Shared) -> Event {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            debug!(
                bytes = text.len(),
                "Ignored a frame from Slack that is not JSON."
            );
            return Event::Nothing;
        };
        match (frame["type"].as_str(), frame["envelope_id"].as_str()) {
            (Some("hello"), _) => Event::Hello,
            (Some("disconnect"), _) => {
                let reason = frame["reason"].as_str().unwrap_or("no reason given");
                Event::Disconnect(crate::sink::http::reason(reason))
            }
            (kind, Some(id)) => {
                let ack = json!({ "envelope_id": id }).to_string();
                if let Err(e) = self.socket.send(Message::text(ack)).await {
                    // Slack retries an envelope it got no ack for; it is handed on now anyway,
                    // and the retry is dropped as a repeat.
                    warn!(error = %e, "Cannot acknowledge an envelope.");
                }
                self.hand_on(
                    kind.unwrap_or_default(),
                    id,
                    frame["payload"].clone(),
                    shared,
                )
                .await;
                Event::Nothing
            }
            _ => {
                debug!("Ignored a frame from Slack without a type or an envelope id.");
                Event::Nothing
            }
        }
    }

    async fn hand_on(&self, kind: &str, id: &str, payload: Value, shared: &Shared) {
        if !shared
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id)
        {
            debug!(envelope = id, "Dropped a repeated envelope.");
            return;
        }
        let Some(kind) = Kind::from_envelope_type(kind) else {
            debug!(
                envelope = id,
                "Ignored an envelope of a kind dbalert does not use."
            );
            return;
        };
        let incoming = Incoming {
            kind,
            payload,
            id: id.to_owned(),
        };
        // Only fails once `serve` stopped reading, when nothing more is handled anyway.
        let _ = shared.tx.send(incoming).await;
    }

    async fn close(&mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// The envelope ids seen lately, the oldest forgotten first.
#[derive(Debug, Default)]
struct RecentIds {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl RecentIds {
    /// Remembers `id`; false if it was already remembered.
    fn insert(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() == RECENT_IDS
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.ids.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_ids_are_dropped_and_old_ones_forgotten() {
        let mut recent = RecentIds::default();
        assert!(recent.insert("a"));
        assert!(!recent.insert("a"));
        for i in 0..RECENT_IDS {
            assert!(recent.insert(&i.to_string()));
        }
        assert_eq!(recent.ids.len(), RECENT_IDS);
        assert!(recent.insert("a"), "the oldest id is forgotten first");
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        assert_eq!(backoff(0), Duration::ZERO);
        for failures in 1..40 {
            let wait = backoff(failures);
            let full = FIRST_BACKOFF
                .saturating_mul(1 << (failures - 1).min(16))
                .min(MAX_BACKOFF);
            assert!(wait >= full / 2 && wait <= full, "{failures}: {wait:?}");
        }
        assert!(backoff(1) >= Duration::from_millis(500), "never a hot loop");
    }
}
