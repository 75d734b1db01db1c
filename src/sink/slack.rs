//! The `slack` receiver: Slack Incoming Webhooks.
//!
//! Slack's contract (<https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks>,
//! <https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks>):
//! success is HTTP 200 with the body `ok`; errors are a 4xx or 5xx with a bare string body such
//! as `invalid_payload` (400), `action_prohibited` (403), `channel_not_found` or `no_service`
//! (404), `channel_is_archived` (410), `rollup_error` (500); 429 carries `Retry-After` in
//! seconds. The webhook URL is itself the credential, so it is never logged: messages name the
//! receiver and the host with the URL's last four characters at most.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::http::{self, TransportConfig};
use super::pacer::Pacer;
use super::{BuildError, SendError};
use crate::config::secret::{Secret, redact_url};
use crate::config::{Delivery, ReceiverName};

/// The wait after a 429 that carries no usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(2);
/// The first back-off after a 5xx or a network error; it doubles on each retry.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// The longest back-off between two attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The longest `Retry-After` taken as it is.
const MAX_RETRY_AFTER_SECS: u64 = 86_400;
/// How much of an error body is kept; Slack's reasons are one short word.
const REASON_MAX_CHARS: usize = 120;

/// `slack:` in a receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackReceiverConfig {
    /// The Incoming Webhook URL. It is a credential: write `${env:NAME}` or `${file:PATH}`.
    pub webhook_url: Secret,
    /// A PEM file of extra CA certificates to trust (private CA, TLS-inspecting proxy).
    pub ca_file: Option<std::path::PathBuf>,
    /// A proxy for this receiver, e.g. `http://proxy.example:3128`.
    pub proxy: Option<Secret>,
}

/// A problem with a `slack:` block, found when the config is checked.
pub struct ConfigProblem {
    pub key: &'static str,
    pub message: String,
}

impl SlackReceiverConfig {
    /// Checks what can be checked without the network. Messages never include the URL.
    pub fn check(&self) -> Result<(), ConfigProblem> {
        check_webhook_url(self.webhook_url.expose()).map_err(|message| ConfigProblem {
            key: "webhook_url",
            message,
        })?;
        if let Some(path) = &self.ca_file {
            http::read_ca_file(path).map_err(|message| ConfigProblem {
                key: "ca_file",
                message: format!(
                    "cannot use {}: {message}; give a PEM file of CA certificates",
                    path.display()
                ),
            })?;
        }
        Ok(())
    }

    pub fn build(&self, name: &ReceiverName, delivery: &Delivery) -> Result<SlackSink, BuildError> {
        let transport = TransportConfig {
            ca_file: self.ca_file.clone(),
            proxy: self.proxy.clone(),
        };
        Ok(SlackSink::new(
            name.clone(),
            self.webhook_url.clone(),
            http::client(name, &transport, delivery.timeout.get())?,
            delivery,
        ))
    }
}

/// Checks that a webhook URL is an absolute http(s) URL; the message never repeats it.
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    http::check_url(url).map_err(|problem| {
        format!("{problem}; copy the webhook URL from the Slack app's Incoming Webhooks page")
    })
}

#[derive(Debug)]
pub struct SlackSink {
    receiver: ReceiverName,
    url: Secret,
    endpoint: String,
    client: reqwest::Client,
    delivery: Delivery,
    pacer: Arc<Pacer>,
}

impl SlackSink {
    pub fn new(
        receiver: ReceiverName,
        url: Secret,
        client: reqwest::Client,
        delivery: &Delivery,
    ) -> Self {
        Self {
            endpoint: redact_url(url.expose()),
            pacer: Pacer::for_destination(url.expose()),
            receiver,
            url,
            client,
            delivery: delivery.clone(),
        }
    }

    /// Posts `payload`, retrying 429s after `Retry-After` and 5xx or network errors with
    /// exponential back-off and jitter, within `max_retries` and the deadline.
    pub async fn send(&self, payload: &serde_json::Value) -> Result<(), SendError> {
        let started = Instant::now();
        let deadline = started + self.delivery.deadline.get();
        let mut attempts = 0;
        loop {
            self.pacer.wait_turn().await;
            attempts += 1;
            let error = match self.post(payload).await {
                Ok(()) => {
                    debug!(receiver = %self.receiver, endpoint = %self.endpoint, attempts, "Delivered.");
                    return Ok(());
                }
                Err(error) if !error.is_retryable() => return Err(error),
                Err(error) => error,
            };
            let wait = match &error {
                SendError::RateLimited { retry_after, .. } => {
                    *retry_after + Duration::from_millis(fastrand::u64(0..250))
                }
                _ => backoff(attempts),
            };
            if attempts > self.delivery.max_retries || Instant::now() + wait > deadline {
                return Err(SendError::Exhausted {
                    attempts,
                    elapsed: started.elapsed(),
                    last: Box::new(error),
                });
            }
            warn!(
                receiver = %self.receiver,
                attempt = attempts,
                wait_ms = wait.as_millis() as u64,
                %error,
                "Delivery failed; retrying."
            );
            if matches!(error, SendError::RateLimited { .. }) {
                self.pacer.hold_for(wait).await;
            } else {
                tokio::time::sleep(wait).await;
            }
        }
    }

    async fn post(&self, payload: &serde_json::Value) -> Result<(), SendError> {
        let transport = |e: reqwest::Error| SendError::Transport {
            endpoint: self.endpoint.clone(),
            message: describe_transport(e),
        };
        let response = self
            .client
            .post(self.url.expose())
            .json(payload)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            // A day is already past any deadline; larger values would overflow an Instant.
            .map(|secs| Duration::from_secs(secs.min(MAX_RETRY_AFTER_SECS)));
        let body = response.text().await.map_err(transport)?;
        classify(&self.endpoint, status, retry_after, &body)
    }
}

/// What a webhook answer means. Classified by body first, then by status, after the table in
/// Slack's changelog and what real webhooks answer.
pub fn classify(
    endpoint: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
) -> Result<(), SendError> {
    let reason: String = body
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(REASON_MAX_CHARS)
        .collect();
    let endpoint = endpoint.to_owned();
    match status {
        429 => Err(SendError::RateLimited {
            endpoint,
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        }),
        // Some Slack edges have answered 200 with an error word; believe the word.
        200..=299 => match permanent_hint(&reason) {
            Some(hint) => Err(SendError::Rejected {
                endpoint,
                status,
                reason,
                hint,
            }),
            // A page (a captive portal, a proxy's login, a wrong URL) is not Slack accepting
            // the message: retry, and fail the run if it persists, rather than lose it.
            None if reason.starts_with('<') => Err(SendError::Unavailable {
                endpoint,
                status,
                reason: "an HTML page instead of Slack's `ok`; is a proxy or portal answering?"
                    .to_owned(),
            }),
            None => {
                if reason != "ok" {
                    debug!(%endpoint, status, body = %reason, "Accepted with an unusual body.");
                }
                Ok(())
            }
        },
        500..=599 => Err(SendError::Unavailable {
            endpoint,
            status,
            reason: if reason.starts_with('<') {
                "an HTML error page".to_owned()
            } else {
                reason
            },
        }),
        _ => Err(SendError::Rejected {
            endpoint,
            status,
            hint: permanent_hint(&reason)
                .unwrap_or("retrying will not help; check the webhook in Slack"),
            reason,
        }),
    }
}

/// What a user should do about each permanent error Slack documents; `None` for other bodies.
fn permanent_hint(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "invalid_payload"
        | "no_text"
        | "missing_text_or_fallback_or_attachments"
        | "invalid_blocks"
        | "invalid_blocks_format"
        | "invalid_attachments"
        | "too_many_attachments" => {
            "Slack could not read the message; if dbalert built it, please report this as a bug with the -vv output"
        }
        "no_service" | "no_service_id" | "no_team" | "team_disabled" | "no_active_hooks"
        | "invalid_token" => {
            "the webhook was removed or disabled; create a new one in Slack and update the receiver"
        }
        "channel_not_found" => "the webhook's channel no longer exists; create a new webhook",
        "channel_is_archived" => {
            "the webhook's channel is archived; unarchive it or point the receiver at another webhook"
        }
        "action_prohibited" | "posting_to_general_channel_denied" => {
            "a workspace admin has restricted posting to this channel"
        }
        "user_not_found" => "the webhook's user no longer exists; create a new webhook",
        _ => return None,
    })
}

/// Exponential back-off with equal jitter: half the step fixed, half random.
fn backoff(attempt: u32) -> Duration {
    let step = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    let half = step / 2;
    half + Duration::from_millis(fastrand::u64(0..=half.as_millis() as u64))
}

/// A transport error without its URL.
fn describe_transport(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    // reqwest puts the full URL, secret path included, into its errors: strip it.
    format!("{kind} ({})", http::error_chain(&error.without_url()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(status: u16, body: &str) -> &'static str {
        match classify("host", status, Some(Duration::from_secs(3)), body) {
            Ok(()) => "ok",
            Err(SendError::Rejected { .. }) => "permanent",
            Err(SendError::RateLimited { .. }) => "rate-limited",
            Err(SendError::Unavailable { .. }) => "retry",
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn classifies_slack_answers_like_its_documentation() {
        for (status, body, want) in [
            (200, "ok", "ok"),
            (200, "", "ok"),
            (200, "{\"success\":true}", "ok"),
            (200, "<html><body>Login required</body></html>", "retry"),
            (200, "no_service", "permanent"),
            (400, "invalid_payload", "permanent"),
            (400, "invalid_blocks", "permanent"),
            (403, "action_prohibited", "permanent"),
            (404, "channel_not_found", "permanent"),
            (404, "no_service", "permanent"),
            (410, "channel_is_archived", "permanent"),
            (418, "teapot", "permanent"),
            (429, "", "rate-limited"),
            (500, "rollup_error", "retry"),
            (503, "<html>Server Error</html>", "retry"),
        ] {
            assert_eq!(class(status, body), want, "{status} {body}");
        }
    }

    #[test]
    fn rate_limit_keeps_retry_after_or_defaults() {
        let Err(SendError::RateLimited { retry_after, .. }) = classify("h", 429, None, "") else {
            panic!("429 must be rate limited")
        };
        assert_eq!(retry_after, DEFAULT_RETRY_AFTER);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..20 {
            let wait = backoff(attempt);
            assert!(wait <= BACKOFF_MAX, "{attempt}: {wait:?}");
            assert!(wait >= BACKOFF_BASE / 2, "{attempt}: {wait:?}");
        }
        assert!(backoff(4) >= Duration::from_secs(2));
    }

    #[test]
    fn hostile_error_bodies_are_cut_and_cleaned() {
        let body = format!("bad\u{0}\n{}", "x".repeat(10_000));
        let Err(SendError::Rejected { reason, .. }) = classify("h", 400, None, &body) else {
            panic!()
        };
        assert_eq!(reason.chars().count(), REASON_MAX_CHARS);
        assert!(!reason.contains('\0'));
    }
}
