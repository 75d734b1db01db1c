//! Where notifications go. Each receiver kind is a sink with the same shape: a `…ReceiverConfig`
//! read from the file, a sink built from it, and a way to send. [`Sink::notify_each`] delivers a
//! run's group notifications to one receiver; [`Sink::send`] posts one Slack message
//! (`dbalert send`).
//!
//! Failures are classified where they happen, because the caller must know whether to retry now,
//! retry next run, or give up and tell the user what to fix.

pub mod alertmanager;
pub mod buttons;
pub mod config;
pub mod delivery;
mod headers;
pub mod http;
pub mod pacer;
mod retry;
pub mod slack;
pub mod slack_app;
pub mod stdout;
pub mod web_api;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use crate::alert::GroupMessage;
use crate::render::controls::Controls;
use crate::render::notification::Layout;
use crate::state::Thread;
pub use config::{Delivery, Receiver, ReceiverKind, ReceiverName};

/// Why a notification was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Slack refused the message for good (a 4xx other than 429); retrying will not help.
    #[error("{endpoint} rejected the message: HTTP {status} `{reason}`; {hint}")]
    Rejected {
        endpoint: String,
        status: u16,
        reason: String,
        hint: &'static str,
    },
    /// HTTP 429: try again after the given wait.
    #[error("{endpoint} is rate limiting (HTTP 429, Retry-After {}s)", .retry_after.as_secs())]
    RateLimited {
        endpoint: String,
        retry_after: Duration,
    },
    /// A 5xx: Slack's side failed; retry with back-off.
    #[error("{endpoint} failed: HTTP {status} `{reason}`")]
    Unavailable {
        endpoint: String,
        status: u16,
        reason: String,
    },
    /// The request could not be made from the receiver's settings (a header value it cannot
    /// hold, say); sending it again cannot help.
    #[error(
        "cannot make a request to {endpoint}: {message}; check the receiver's url, token and headers"
    )]
    Request { endpoint: String, message: String },
    /// No HTTP answer: connection refused or reset, timeout, TLS or proxy failure.
    #[error("cannot reach {endpoint}: {message}")]
    Transport { endpoint: String, message: String },
    /// Retries ran out, or the next wait would pass the deadline.
    #[error("gave up after {attempts} attempt{} in {}s: {last}", if *.attempts == 1 { "" } else { "s" }, .elapsed.as_secs())]
    Exhausted {
        attempts: u32,
        elapsed: Duration,
        last: Box<SendError>,
    },
    /// Writing to standard output failed (the `stdout` receiver and `--dry-run`).
    #[error("cannot write to standard output: {0}")]
    Stdout(#[from] std::io::Error),
}

impl SendError {
    /// Whether sending the same message again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Unavailable { .. } | Self::Transport { .. }
        )
    }
}

/// Why a receiver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("receiver `{receiver}`: cannot read ca_file {path}: {message}")]
    CaFile {
        receiver: ReceiverName,
        path: String,
        message: String,
    },
    #[error("receiver `{receiver}`: {message}")]
    Client {
        receiver: ReceiverName,
        message: String,
    },
}

/// One group notification for one receiver.
#[derive(Debug, Clone)]
pub struct Notice {
    pub group_key: String,
    pub message: GroupMessage,
    /// The group's Slack thread from its last notification (Slack app receivers).
    pub thread: Option<Thread>,
    /// The buttons on the group's message and the state they show (Slack app receivers with
    /// buttons; `None` for every other).
    pub controls: Option<Controls>,
}

/// What a receiver answered for one notice: the thread the group's next notifications go to,
/// if the receiver threads. An error is shared because one request may carry many notices.
pub type Receipt = Result<Option<Thread>, Arc<SendError>>;

/// A receiver ready to send.
#[derive(Debug)]
pub enum Sink {
    SlackWebhook(slack::IncomingWebhook),
    SlackApp(slack_app::SlackApp),
    Alertmanager(alertmanager::Alertmanager),
    Webhook(webhook::Webhook),
    Stdout(stdout::StdoutSink),
}

impl Sink {
    pub fn build(receiver: &Receiver) -> Result<Self, BuildError> {
        let mut sink = match &receiver.kind {
            ReceiverKind::Slack(config) => config.build(&receiver.name, &receiver.delivery)?,
            ReceiverKind::Alertmanager(config) => {
                Self::Alertmanager(config.build(&receiver.name, &receiver.delivery)?)
            }
            ReceiverKind::Webhook(config) => {
                Self::Webhook(config.build(&receiver.name, &receiver.delivery)?)
            }
            // Text is read by people, who want to see which team a message was for; JSON is
            // the bare payload.
            ReceiverKind::Stdout(config) => Self::Stdout(stdout::StdoutSink {
                receiver: (config.format == stdout::Format::Text).then(|| receiver.name.clone()),
                format: config.format,
                body: stdout::Body::Slack,
                layout: Layout::default(),
            }),
        };
        sink.set_layout(receiver.layout.clone());
        Ok(sink)
    }

    /// Lays out this sink's group notifications with `layout` (Alertmanager's take none).
    fn set_layout(&mut self, layout: Layout) {
        match self {
            Self::SlackWebhook(sink) => sink.layout = layout,
            Self::SlackApp(sink) => sink.layout = layout,
            Self::Webhook(sink) => sink.layout = layout,
            Self::Stdout(sink) => sink.layout = layout,
            Self::Alertmanager(_) => {}
        }
    }

    /// What `poll --dry-run` uses for `receiver`: prints, with the receiver's name, the body
    /// that receiver would be sent.
    pub fn dry_run(receiver: &Receiver) -> Self {
        Self::Stdout(Self::printing(receiver, stdout::Format::Json))
    }

    /// Prints, in `format` and with the receiver's name, what `receiver` would be sent
    /// (`poll --dry-run`, `dbalert preview`).
    pub fn printing(receiver: &Receiver, format: stdout::Format) -> stdout::StdoutSink {
        let body = match &receiver.kind {
            ReceiverKind::Alertmanager(config) => {
                stdout::Body::Alertmanager(config.resend_interval())
            }
            ReceiverKind::Webhook(config) => stdout::Body::Webhook(config.max_alerts),
            ReceiverKind::Slack(_) | ReceiverKind::Stdout(_) => stdout::Body::Slack,
        };
        stdout::StdoutSink {
            receiver: Some(receiver.name.clone()),
            format,
            layout: receiver.layout.clone(),
            body,
        }
    }

    /// Posts one Slack payload, retrying as the receiver's delivery settings allow
    /// (`dbalert send`). `None` for kinds that do not take Slack messages.
    pub async fn send(&self, payload: &Value) -> Option<Result<(), SendError>> {
        Some(match self {
            Self::SlackWebhook(sink) => sink.send(payload).await,
            Self::SlackApp(sink) => sink.send(payload).await,
            Self::Stdout(sink) => sink.print(payload),
            Self::Alertmanager(_) | Self::Webhook(_) => return None,
        })
    }

    /// Delivers `notices` in order, handing each answer to `answer` (with the notice's index)
    /// as soon as it is known. Alertmanager takes them all in one request; the others get one
    /// message each, paced per destination.
    pub async fn notify_each(
        &self,
        notices: &[Notice],
        now: Timestamp,
        mut answer: impl FnMut(usize, Receipt),
    ) {
        match self {
            Self::Alertmanager(sink) => {
                let messages: Vec<&GroupMessage> = notices.iter().map(|n| &n.message).collect();
                let result = sink.send(&messages, now).await.map_err(Arc::new);
                for i in 0..notices.len() {
                    answer(i, result.clone().map(|()| None));
                }
            }
            _ => {
                for (i, notice) in notices.iter().enumerate() {
                    answer(i, self.notify(notice, now).await.map_err(Arc::new));
                }
            }
        }
    }

    async fn notify(&self, notice: &Notice, now: Timestamp) -> Result<Option<Thread>, SendError> {
        match self {
            Self::SlackWebhook(sink) => sink
                .send(&sink.layout.payload(&notice.message))
                .await
                .map(|()| None),
            Self::SlackApp(sink) => sink
                .notify(&sink.payload(notice, now), notice.thread.as_ref())
                .await
                .map(Some),
            Self::Webhook(sink) => sink.notify(notice).await.map(|()| None),
            Self::Stdout(sink) => sink.notify(notice, now).map(|()| None),
            Self::Alertmanager(sink) => sink.send(&[&notice.message], now).await.map(|()| None),
        }
    }
}
