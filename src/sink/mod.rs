//! Where notifications go. Each receiver kind has the same shape: a `…ReceiverConfig` read from
//! the file, an [`Encoder`] that turns notifications into request bodies (`encode.rs`), and a
//! [`Transport`] built from the config that sends them. [`Sink::notify_each`] delivers a run's
//! group notifications to one receiver (encode, then send); a dry run encodes the same way and
//! prints. [`Sink::send`] posts one Slack message (`dbalert send`).
//!
//! Failures are classified where they happen, because the caller must know whether to retry now,
//! retry next run, or give up and tell the user what to fix.

pub mod alertmanager;
pub mod buttons;
pub mod config;
pub mod delivery;
pub mod encode;
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
use crate::state::Thread;
pub use config::{Delivery, Receiver, ReceiverKind, ReceiverName};
pub use encode::{Encoded, Encoder};

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

/// A receiver ready to send: how it encodes notifications ([`Encoder`]) and where the bodies
/// go ([`Transport`]).
#[derive(Debug)]
pub struct Sink {
    pub encoder: Encoder,
    transport: Transport,
}

/// Where a receiver's request bodies go.
#[derive(Debug)]
pub enum Transport {
    SlackWebhook(slack::IncomingWebhook),
    SlackApp(slack_app::SlackApp),
    Alertmanager(alertmanager::Alertmanager),
    Webhook(webhook::Webhook),
    Stdout(stdout::StdoutSink),
}

impl Sink {
    pub fn new(encoder: Encoder, transport: Transport) -> Self {
        Self { encoder, transport }
    }

    pub fn build(receiver: &Receiver) -> Result<Self, BuildError> {
        let (name, delivery) = (&receiver.name, &receiver.delivery);
        let transport = match &receiver.kind {
            ReceiverKind::Slack(config) => config.build(name, delivery)?,
            ReceiverKind::Alertmanager(config) => {
                Transport::Alertmanager(config.build(name, delivery)?)
            }
            ReceiverKind::Webhook(config) => Transport::Webhook(config.build(name, delivery)?),
            // Text is read by people, who want to see which team a message was for; JSON is
            // the bare payload.
            ReceiverKind::Stdout(config) => Transport::Stdout(stdout::StdoutSink {
                receiver: (config.format == stdout::Format::Text).then(|| name.clone()),
                format: config.format,
            }),
        };
        Ok(Self {
            encoder: Encoder::of(receiver),
            transport,
        })
    }

    /// What `poll --dry-run` uses for `receiver`: prints, with the receiver's name and as one
    /// line of JSON each, the bodies that receiver would be sent.
    pub fn dry_run(receiver: &Receiver) -> Self {
        Self {
            encoder: Encoder::of(receiver),
            transport: Transport::Stdout(stdout::StdoutSink {
                receiver: Some(receiver.name.clone()),
                format: stdout::Format::Json,
            }),
        }
    }

    /// Posts one Slack message, retrying as the receiver's delivery settings allow
    /// (`dbalert send`). Receivers that take alerts, not messages, refuse it.
    pub async fn send(&self, payload: &Value) -> Result<(), SendError> {
        match &self.transport {
            Transport::SlackWebhook(sink) => sink.send(payload).await,
            Transport::SlackApp(sink) => sink.send(payload).await,
            Transport::Stdout(sink) => sink.print(payload),
            Transport::Alertmanager(_) | Transport::Webhook(_) => Err(SendError::Request {
                endpoint: "this receiver".to_owned(),
                message: "it takes alerts, not messages".to_owned(),
            }),
        }
    }

    /// Delivers `notices` in order, handing each answer to `answer` (with the notice's index)
    /// as soon as it is known: the notices are encoded, then each request is sent, paced per
    /// destination (Alertmanager takes them all in one request).
    pub async fn notify_each(
        &self,
        notices: &[Notice],
        now: Timestamp,
        mut answer: impl FnMut(usize, Receipt),
    ) {
        for request in self.encoder.encode(notices, now) {
            // A threading receiver gets one notice per request.
            let thread = notices[request.notices.start].thread.as_ref();
            let result = self.transport.deliver(&request.body, thread).await;
            let result = result.map_err(Arc::new);
            for i in request.notices {
                answer(i, result.clone());
            }
        }
    }
}

impl Transport {
    /// Sends one encoded body; `thread` is the group's Slack thread, for receivers that
    /// thread. Returns the thread the group's next notifications go to, if the receiver
    /// threads.
    async fn deliver(
        &self,
        body: &Value,
        thread: Option<&Thread>,
    ) -> Result<Option<Thread>, SendError> {
        match self {
            Self::SlackWebhook(sink) => sink.send(body).await.map(|()| None),
            Self::SlackApp(sink) => sink.notify(body, thread).await.map(Some),
            Self::Alertmanager(sink) => sink.send(body).await.map(|()| None),
            Self::Webhook(sink) => sink.send(body).await.map(|()| None),
            Self::Stdout(sink) => sink.print(body).map(|()| None),
        }
    }
}
