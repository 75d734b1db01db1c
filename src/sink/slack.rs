//! The `slack` receiver, Incoming Webhook mode (a `webhook_url`); the bot-token mode is in
//! [`super::slack_app`], and this module reads the config for both.
//!
//! Slack's webhook contract (<https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks>,
//! <https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks>):
//! success is HTTP 200 with the body `ok`; errors are a 4xx or 5xx with a bare string body such
//! as `invalid_payload` (400), `action_prohibited` (403), `channel_not_found` or `no_service`
//! (404), `channel_is_archived` (410), `rollup_error` (500); 429 carries `Retry-After` in
//! seconds. The webhook URL is itself the credential, so it is never logged: messages name the
//! receiver and the host with the URL's last four characters at most.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tracing::debug;

use super::delivery::{ConfigProblem, Delivery, ReceiverName};
use super::http::{self, DEFAULT_RETRY_AFTER, TransportConfig};
use super::pacer::Pacer;
use super::slack_app::{self, SlackApp};
use super::web_api;
use super::{BuildError, SendError, Transport, retry};
use crate::config::secret::{Secret, redact_url};

/// `slack:` in a receiver: either `webhook_url`, or `token` and `channel` (a Slack app).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackReceiverConfig {
    /// The Incoming Webhook URL. It is a credential: write `${env:NAME}` or `${file:PATH}`.
    pub webhook_url: Option<Secret>,
    /// A bot token (`xoxb-…`) with the `chat:write` scope, for threads and updated messages.
    pub token: Option<Secret>,
    /// With `token`: the channel's ID (`C…`) or `#name`.
    pub channel: Option<String>,
    /// With `token`: the Web API's base URL. Default `https://slack.com/api/`.
    pub api_url: Option<String>,
    /// A PEM file of extra CA certificates to trust (private CA, TLS-inspecting proxy).
    pub ca_file: Option<std::path::PathBuf>,
    /// A proxy for this receiver, e.g. `http://proxy.example:3128`.
    pub proxy: Option<Secret>,
}

impl SlackReceiverConfig {
    /// Checks what can be checked without the network. Messages never include a secret.
    pub fn check(&self) -> Result<(), ConfigProblem> {
        match (&self.webhook_url, &self.token) {
            (Some(url), None) => {
                check_webhook_url(url.expose())
                    .map_err(|m| ConfigProblem::new("webhook_url", m))?;
                for (key, set) in [
                    ("channel", self.channel.is_some()),
                    ("api_url", self.api_url.is_some()),
                ] {
                    if set {
                        return Err(ConfigProblem::new(
                            key,
                            format!(
                                "`{key}` goes with a bot `token`; an Incoming Webhook posts to its own channel, so remove `{key}`"
                            ),
                        ));
                    }
                }
            }
            (None, Some(token)) => {
                slack_app::check(token, self.channel.as_deref(), self.api_url.as_deref())?
            }
            (Some(_), Some(_)) => {
                return Err(ConfigProblem::new(
                    "token",
                    "give either `webhook_url` (an Incoming Webhook) or `token` and `channel` (a Slack app), not both",
                ));
            }
            (None, None) => {
                return Err(ConfigProblem::new(
                    "webhook_url",
                    "give `webhook_url` (an Incoming Webhook), or `token` and `channel` (a Slack app that threads and updates its messages)",
                ));
            }
        }
        if let Some(path) = &self.ca_file {
            http::read_ca_file(path).map_err(|message| {
                ConfigProblem::new(
                    "ca_file",
                    format!(
                        "cannot use {}: {message}; give a PEM file of CA certificates",
                        path.display()
                    ),
                )
            })?;
        }
        Ok(())
    }

    /// The sink for this block, which [`check`](Self::check) accepted.
    pub fn build(&self, name: &ReceiverName, delivery: &Delivery) -> Result<Transport, BuildError> {
        let transport = TransportConfig {
            ca_file: self.ca_file.clone(),
            proxy: self.proxy.clone(),
        };
        let client = http::client(name, &transport, delivery.timeout.get())?;
        let missing = |what: &str| BuildError::Client {
            receiver: name.clone(),
            message: format!("{what} is not set"),
        };
        Ok(match (&self.webhook_url, &self.token) {
            (Some(url), _) => Transport::SlackWebhook(IncomingWebhook::new(
                name.clone(),
                url.clone(),
                client,
                delivery,
            )),
            (None, Some(token)) => Transport::SlackApp(SlackApp::new(
                name.clone(),
                token.clone(),
                self.channel.clone().ok_or_else(|| missing("channel"))?,
                self.api_url.as_deref().unwrap_or(web_api::DEFAULT_API_URL),
                client,
                delivery,
            )),
            (None, None) => return Err(missing("webhook_url")),
        })
    }
}

/// Checks that a webhook URL is an absolute http(s) URL; the message never repeats it.
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    http::check_url(url).map_err(|problem| {
        format!("{problem}; copy the webhook URL from the Slack app's Incoming Webhooks page")
    })
}

/// A Slack Incoming Webhook, paced to one message a second.
#[derive(Debug)]
pub struct IncomingWebhook {
    receiver: ReceiverName,
    url: Secret,
    endpoint: String,
    client: reqwest::Client,
    delivery: Delivery,
    pacer: Arc<Pacer>,
}

impl IncomingWebhook {
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

    /// Posts `payload`, retrying as the receiver's delivery settings allow.
    pub async fn send(&self, payload: &serde_json::Value) -> Result<(), SendError> {
        retry::with_retries(&self.receiver, &self.delivery, &self.pacer, || {
            self.post(payload)
        })
        .await
    }

    async fn post(&self, payload: &serde_json::Value) -> Result<(), SendError> {
        let request = self.client.post(self.url.expose()).json(payload);
        let answer = http::exchange(request, &self.endpoint).await?;
        classify(
            &self.endpoint,
            answer.status,
            answer.retry_after,
            &answer.body,
        )
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
    let reason = http::reason(body);
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
}
