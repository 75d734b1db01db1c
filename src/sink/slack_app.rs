//! The `slack` receiver, Slack app mode (`token` and `channel`): messages posted through the Web
//! API's `chat.postMessage`, so that a group's later notifications can reply in the thread of
//! the message that announced it, and that message can be edited with `chat.update` to show the
//! group's current state.
//!
//! The Web API answers errors with HTTP 200 and `{"ok":false,"error":"…"}`; only rate limits
//! (429 with `Retry-After`) and rare outages use the status
//! (<https://docs.slack.dev/reference/methods/chat.postMessage>). The token is sent only in the
//! `Authorization` header and never logged.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tracing::{info, warn};

use super::delivery::ConfigProblem;
use super::delivery::{Delivery, ReceiverName};
use super::http::{self, DEFAULT_RETRY_AFTER};
use super::pacer::Pacer;
use super::{SendError, retry};
use crate::config::secret::Secret;
use crate::render::notification::Layout;
use crate::state::Thread;

/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api/";
/// The wait after `rate_limited` ("Application has posted too many messages"), which comes
/// without `Retry-After`: long enough for Slack's per-minute window to move on.
const POSTED_TOO_MANY_WAIT: Duration = Duration::from_secs(30);

/// Checks the Slack app keys of a `slack:` block. Messages never include the token.
pub fn check(
    token: &Secret,
    channel: Option<&str>,
    api_url: Option<&str>,
) -> Result<(), ConfigProblem> {
    if !token.expose().starts_with("xox") {
        return Err(ConfigProblem::new(
            "token",
            "not a Slack token (they start with `xoxb-`); copy the Bot User OAuth Token from the Slack app's OAuth & Permissions page",
        ));
    }
    match channel.map(str::trim) {
        None | Some("") | Some("#") => {
            return Err(ConfigProblem::new(
                "channel",
                "a bot token needs `channel`: the channel's ID (`C0123ABC`, from the channel's details) or `#name`",
            ));
        }
        Some(_) => {}
    }
    if let Some(url) = api_url {
        http::check_url(url).map_err(|problem| {
            ConfigProblem::new(
                "api_url",
                format!("{problem}; leave it out for Slack ({DEFAULT_API_URL})"),
            )
        })?;
    }
    Ok(())
}

/// A Slack app posting to one channel, paced to one call a second there.
#[derive(Debug)]
pub struct SlackApp {
    receiver: ReceiverName,
    token: Secret,
    channel: String,
    /// The Web API's base URL, ending in `/`.
    api_url: String,
    /// The API's host, for messages.
    host: String,
    client: reqwest::Client,
    delivery: Delivery,
    pacer: Arc<Pacer>,
    /// How group notifications are laid out (set by `Sink::build`).
    pub(crate) layout: Layout,
}

impl SlackApp {
    pub fn new(
        receiver: ReceiverName,
        token: Secret,
        channel: String,
        api_url: &str,
        client: reqwest::Client,
        delivery: &Delivery,
    ) -> Self {
        let api_url = match api_url.ends_with('/') {
            true => api_url.to_owned(),
            false => format!("{api_url}/"),
        };
        let host = reqwest::Url::parse(&api_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "the Slack API".to_owned());
        Self {
            // Slack paces chat.postMessage per channel ("1 message per second to a specific
            // channel"), so the pace is per app host and channel, not per token.
            pacer: Pacer::for_destination(&format!("{api_url}#{channel}")),
            receiver,
            token,
            channel,
            api_url,
            host,
            client,
            delivery: delivery.clone(),
            layout: Layout::default(),
        }
    }

    /// Posts `payload` as a new message (`dbalert send`).
    pub async fn send(&self, payload: &Value) -> Result<(), SendError> {
        self.post(payload, None).await.map(drop)
    }

    /// Delivers a group notification: a new message when the group has no `thread` yet;
    /// otherwise the thread's parent is edited to show `payload` and `payload` is posted as a
    /// reply under it. Returns the thread the group's next notifications go to.
    ///
    /// A parent that is gone (deleted, or no longer editable by anyone) starts a new thread,
    /// so a notification is never lost to a missing message.
    pub async fn notify(
        &self,
        payload: &Value,
        thread: Option<&Thread>,
    ) -> Result<Thread, SendError> {
        let Some(thread) = thread else {
            return self.post(payload, None).await;
        };
        let mut update = without_unfurl(payload);
        update["channel"] = json!(thread.channel);
        update["ts"] = json!(thread.ts);
        match self.call("chat.update", &update).await {
            Ok(_) => {}
            Err(error) if is_gone(&error) => {
                info!(receiver = %self.receiver, %error, "The group's first message is gone; posting a new one.");
                return self.post(payload, None).await;
            }
            // Retrying later repeats the edit, which is harmless; the reply waits for it so the
            // parent never says less than its thread.
            Err(error) if !matches!(error, SendError::Rejected { .. }) => return Err(error),
            Err(error) => {
                warn!(receiver = %self.receiver, %error, "Cannot edit the group's first message; replying in its thread anyway.");
            }
        }
        match self.post(payload, Some(thread)).await {
            Ok(_) => Ok(thread.clone()),
            Err(error) if is_gone(&error) => {
                info!(receiver = %self.receiver, %error, "Cannot reply in the group's thread; posting a new message.");
                self.post(payload, None).await
            }
            Err(error) => Err(error),
        }
    }

    async fn post(&self, payload: &Value, thread: Option<&Thread>) -> Result<Thread, SendError> {
        let mut body = payload.clone();
        match thread {
            Some(thread) => {
                body["channel"] = json!(thread.channel);
                body["thread_ts"] = json!(thread.ts);
            }
            None => body["channel"] = json!(self.channel),
        }
        self.call("chat.postMessage", &body).await
    }

    /// Calls a Web API method, retrying as the receiver's delivery settings allow, and
    /// returns the message's channel ID and `ts` from the answer.
    async fn call(&self, method: &str, body: &Value) -> Result<Thread, SendError> {
        retry::with_retries(&self.receiver, &self.delivery, &self.pacer, || {
            self.request(method, body)
        })
        .await
    }

    async fn request(&self, method: &str, body: &Value) -> Result<Thread, SendError> {
        let endpoint = format!("{method} on {}", self.host);
        let request = self
            .client
            .post(format!("{}{method}", self.api_url))
            .bearer_auth(self.token.expose())
            .json(body);
        let answer = http::exchange(request, &endpoint).await?;
        classify(&endpoint, answer.status, answer.retry_after, &answer.body)
    }
}

/// `chat.update` takes the message's content but not the posting options.
fn without_unfurl(payload: &Value) -> Value {
    let mut update = payload.clone();
    if let Some(map) = update.as_object_mut() {
        map.remove("unfurl_links");
        map.remove("unfurl_media");
    }
    update
}

/// Whether the error says the message (or its thread) cannot be used any more.
fn is_gone(error: &SendError) -> bool {
    matches!(error, SendError::Rejected { reason, .. } if matches!(
        reason.as_str(),
        "message_not_found" | "cant_update_message" | "edit_window_closed"
            | "thread_not_found" | "cannot_reply_to_message"
    ))
}

/// What a Web API answer means.
pub fn classify(
    endpoint: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
) -> Result<Thread, SendError> {
    let endpoint = endpoint.to_owned();
    match status {
        429 => {
            return Err(SendError::RateLimited {
                endpoint,
                retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
            });
        }
        200..=299 => {}
        500..=599 => {
            return Err(SendError::Unavailable {
                endpoint,
                status,
                reason: http::reason(body),
            });
        }
        _ => {
            let reason = error_word(body).unwrap_or_else(|| http::reason(body));
            return Err(SendError::Rejected {
                endpoint,
                status,
                hint: hint(&reason),
                reason,
            });
        }
    }
    let answer: Value = match serde_json::from_str(body) {
        Ok(answer) => answer,
        // A page (a captive portal, a proxy's login) is not Slack accepting the message.
        Err(_) => {
            return Err(SendError::Unavailable {
                endpoint,
                status,
                reason: "not a Slack Web API answer; is a proxy or portal answering?".to_owned(),
            });
        }
    };
    if answer["ok"] == json!(true) {
        let field = |key: &str| answer[key].as_str().map(str::to_owned);
        return match (field("channel"), field("ts")) {
            (Some(channel), Some(ts)) => Ok(Thread { channel, ts }),
            _ => Err(SendError::Unavailable {
                endpoint,
                status,
                reason: "the answer has no `channel` and `ts`".to_owned(),
            }),
        };
    }
    let reason = error_word(body).unwrap_or_else(|| "no error given".to_owned());
    match reason.as_str() {
        "ratelimited" => Err(SendError::RateLimited {
            endpoint,
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        }),
        "rate_limited" => Err(SendError::RateLimited {
            endpoint,
            retry_after: retry_after.unwrap_or(POSTED_TOO_MANY_WAIT),
        }),
        "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout"
        | "team_added_to_org" => Err(SendError::Unavailable {
            endpoint,
            status,
            reason,
        }),
        _ => Err(SendError::Rejected {
            endpoint,
            status,
            hint: hint(&reason),
            reason,
        }),
    }
}

/// The `error` of a `{"ok":false}` answer, cleaned: it is shown to the user.
fn error_word(body: &str) -> Option<String> {
    let answer: Value = serde_json::from_str(body).ok()?;
    answer["error"].as_str().map(http::reason)
}

/// What a user should do about each permanent Web API error.
fn hint(reason: &str) -> &'static str {
    match reason {
        "channel_not_found" => {
            "the channel does not exist or the app cannot see it; check `channel` (an ID like C0123ABC, or #name)"
        }
        "not_in_channel" => {
            "the app is not a member of the channel; invite it (/invite @app) or give the app the chat:write.public scope"
        }
        "is_archived" | "channel_is_archived" => {
            "the channel is archived; unarchive it or set another `channel`"
        }
        "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive"
        | "no_permission" | "ekm_access_denied" => {
            "the token is not valid any more; reinstall the Slack app and update the receiver's `token`"
        }
        "missing_scope" => {
            "the token lacks a scope; add chat:write to the Slack app and reinstall it"
        }
        "restricted_action"
        | "restricted_action_read_only_channel"
        | "restricted_action_thread_only_channel"
        | "restricted_action_non_threadable_channel"
        | "restricted_action_thread_locked" => {
            "a workspace admin restricts posting in this channel"
        }
        "msg_too_long"
        | "no_text"
        | "invalid_blocks"
        | "invalid_blocks_format"
        | "too_many_attachments"
        | "invalid_attachments"
        | "invalid_arguments"
        | "invalid_json"
        | "json_not_object" => {
            "Slack could not read the message; please report this as a bug with the -vv output"
        }
        "message_not_found"
        | "cant_update_message"
        | "edit_window_closed"
        | "thread_not_found"
        | "cannot_reply_to_message" => "the message can no longer be edited or replied to",
        _ => "see the method's errors at https://docs.slack.dev/reference/methods/chat.postMessage",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(status: u16, body: &str) -> String {
        match classify(
            "chat.postMessage on h",
            status,
            Some(Duration::from_secs(3)),
            body,
        ) {
            Ok(thread) => format!("ok {} {}", thread.channel, thread.ts),
            Err(SendError::Rejected { reason, .. }) => format!("permanent {reason}"),
            Err(SendError::RateLimited { retry_after, .. }) => {
                format!("rate-limited {}", retry_after.as_secs())
            }
            Err(SendError::Unavailable { .. }) => "retry".to_owned(),
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn classifies_web_api_answers_like_slacks_documentation() {
        for (status, body, want) in [
            (200, r#"{"ok":true,"channel":"C1","ts":"1.2"}"#, "ok C1 1.2"),
            (
                200,
                r#"{"ok":false,"error":"channel_not_found"}"#,
                "permanent channel_not_found",
            ),
            (
                200,
                r#"{"ok":false,"error":"not_in_channel"}"#,
                "permanent not_in_channel",
            ),
            (
                200,
                r#"{"ok":false,"error":"invalid_auth"}"#,
                "permanent invalid_auth",
            ),
            (
                200,
                r#"{"ok":false,"error":"message_not_found"}"#,
                "permanent message_not_found",
            ),
            (
                200,
                r#"{"ok":false,"error":"ratelimited"}"#,
                "rate-limited 3",
            ),
            (200, r#"{"ok":false,"error":"internal_error"}"#, "retry"),
            (200, r#"{"ok":false,"error":"fatal_error"}"#, "retry"),
            (200, r#"{"ok":false}"#, "permanent no error given"),
            (200, r#"{"ok":true}"#, "retry"),
            (200, "<html>Sign in</html>", "retry"),
            (
                429,
                r#"{"ok":false,"error":"ratelimited"}"#,
                "rate-limited 3",
            ),
            (503, "<html>down</html>", "retry"),
            (
                404,
                r#"{"ok":false,"error":"unknown_method"}"#,
                "permanent unknown_method",
            ),
            (404, "Not Found", "permanent Not Found"),
        ] {
            assert_eq!(class(status, body), want, "{status} {body}");
        }
    }

    #[test]
    fn posting_too_much_waits_without_retry_after() {
        let Err(SendError::RateLimited { retry_after, .. }) =
            classify("e", 200, None, r#"{"ok":false,"error":"rate_limited"}"#)
        else {
            panic!("rate_limited must wait")
        };
        assert_eq!(retry_after, POSTED_TOO_MANY_WAIT);
    }

    #[test]
    fn every_permanent_error_has_a_specific_hint() {
        for reason in [
            "channel_not_found",
            "not_in_channel",
            "invalid_auth",
            "missing_scope",
        ] {
            assert!(!hint(reason).starts_with("see the method"), "{reason}");
        }
    }

    #[test]
    fn config_checks_name_the_key_without_the_token() {
        let token = Secret::new("xoxb-secret-1234".to_owned());
        assert!(check(&token, Some("#alerts"), None).is_ok());
        let missing = check(&token, None, None).unwrap_err();
        assert_eq!(missing.key, "channel");
        let bad = check(&Secret::new("hunter2".to_owned()), Some("C1"), None).unwrap_err();
        assert_eq!(bad.key, "token");
        assert!(!bad.message.contains("hunter2"));
        let url = check(&token, Some("C1"), Some("slack")).unwrap_err();
        assert_eq!(url.key, "api_url");
    }
}
