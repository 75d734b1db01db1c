//! Where notifications go. Each receiver kind is a sink with the same shape: a `…ReceiverConfig`
//! read from the file, a sink built from it, and `send`.
//!
//! Failures are classified where they happen, because the caller must know whether to retry now,
//! retry next run, or give up and tell the user what to fix.

pub mod http;
pub mod pacer;
pub mod slack;
pub mod stdout;

use std::time::Duration;

use crate::config::{Receiver, ReceiverKind, ReceiverName};

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

/// A receiver ready to send.
#[derive(Debug)]
pub enum Sink {
    Slack(slack::SlackSink),
    Stdout(stdout::StdoutSink),
}

impl Sink {
    pub fn build(receiver: &Receiver) -> Result<Self, BuildError> {
        Ok(match &receiver.kind {
            ReceiverKind::Slack(config) => {
                Self::Slack(config.build(&receiver.name, &receiver.delivery)?)
            }
            // Text is read by people, who want to see which team a message was for; JSON is
            // the bare payload, as the spec has it.
            ReceiverKind::Stdout(config) => Self::Stdout(stdout::StdoutSink {
                receiver: (config.format == stdout::Format::Text).then(|| receiver.name.clone()),
                format: config.format,
            }),
        })
    }

    /// Delivers one Slack payload, retrying as the receiver's delivery settings allow.
    pub async fn send(&self, payload: &serde_json::Value) -> Result<(), SendError> {
        match self {
            Self::Slack(sink) => sink.send(payload).await,
            Self::Stdout(sink) => sink.send(payload),
        }
    }
}
