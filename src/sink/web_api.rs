//! Slack's Web API: one method call, and what its answer means. The Slack app receiver posts
//! and edits messages through it, and `dbalert serve` opens sockets, checks its token and
//! updates messages through it.
//!
//! The Web API answers errors with HTTP 200 and `{"ok":false,"error":"…"}`; only rate limits
//! (429 with `Retry-After`) and rare outages use the status
//! (<https://docs.slack.dev/reference/methods/chat.postMessage>). The token is sent only in the
//! `Authorization` header and never logged.

use std::time::Duration;

use serde_json::{Value, json};

use super::SendError;
use super::http::{self, DEFAULT_RETRY_AFTER};
use crate::config::secret::Secret;

/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api/";
/// The wait after `rate_limited` ("Application has posted too many messages"), which comes
/// without `Retry-After`: long enough for Slack's per-minute window to move on.
const POSTED_TOO_MANY_WAIT: Duration = Duration::from_secs(30);

/// The Web API at one base URL.
#[derive(Debug, Clone)]
pub struct WebApi {
    /// The base URL, ending in `/`.
    api_url: String,
    /// The API's host, for messages (never the URL).
    host: String,
    client: reqwest::Client,
}

impl WebApi {
    pub fn new(api_url: &str, client: reqwest::Client) -> Self {
        let api_url = match api_url.ends_with('/') {
            true => api_url.to_owned(),
            false => format!("{api_url}/"),
        };
        let host = reqwest::Url::parse(&api_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "the Slack API".to_owned());
        Self {
            api_url,
            host,
            client,
        }
    }

    /// The base URL, ending in `/`.
    pub fn url(&self) -> &str {
        &self.api_url
    }

    /// The API's host, for messages.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Calls `method` once with a JSON `body`, authorized by `token`, and returns Slack's
    /// `{"ok":true,…}` answer. Retrying is the caller's choice.
    pub async fn call(
        &self,
        method: &str,
        token: &Secret,
        body: &Value,
    ) -> Result<Value, SendError> {
        let request = self
            .client
            .post(format!("{}{method}", self.api_url))
            .bearer_auth(token.expose())
            .json(body);
        self.exchange(method, request).await
    }

    /// Calls `method` once with form-encoded `fields`, for the methods that take no JSON
    /// (reading ones such as `usergroups.users.list`).
    pub async fn call_form(
        &self,
        method: &str,
        token: &Secret,
        fields: &[(&str, &str)],
    ) -> Result<Value, SendError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = self
            .client
            .post(format!("{}{method}", self.api_url))
            .bearer_auth(token.expose())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        self.exchange(method, request).await
    }

    async fn exchange(
        &self,
        method: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, SendError> {
        let endpoint = format!("{method} on {}", self.host);
        let answer = http::exchange(request, &endpoint).await?;
        classify(&endpoint, answer.status, answer.retry_after, &answer.body)
    }
}

/// Posts `body` to a `response_url` (the answer channel of a click or a slash command, valid
/// for 30 minutes). The URL is a bearer capability: errors name only "the response_url".
pub async fn respond(
    client: &reqwest::Client,
    response_url: &str,
    body: &Value,
) -> Result<(), SendError> {
    const ENDPOINT: &str = "the response_url";
    http::check_url(response_url).map_err(|problem| SendError::Request {
        endpoint: ENDPOINT.to_owned(),
        message: problem.to_owned(),
    })?;
    let answer = http::exchange(client.post(response_url).json(body), ENDPOINT).await?;
    http::classify_status(
        ENDPOINT,
        answer.status,
        answer.retry_after,
        &answer.body,
        "the reply was refused; a response_url works for 30 minutes after the request",
    )
}

/// What a Web API answer means: Slack's `{"ok":true,…}` answer, or why not.
pub fn classify(
    endpoint: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
) -> Result<Value, SendError> {
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
    match serde_json::from_str::<Value>(body) {
        Ok(answer) if answer["ok"] == json!(true) => Ok(answer),
        Ok(_) => Err(refusal(endpoint, status, retry_after, body)),
        // A page (a captive portal, a proxy's login) is not Slack accepting the call.
        Err(_) => Err(SendError::Unavailable {
            endpoint,
            status,
            reason: "not a Slack Web API answer; is a proxy or portal answering?".to_owned(),
        }),
    }
}

/// What an `{"ok":false,"error":…}` answer means.
fn refusal(endpoint: String, status: u16, retry_after: Option<Duration>, body: &str) -> SendError {
    let reason = error_word(body).unwrap_or_else(|| "no error given".to_owned());
    match reason.as_str() {
        "ratelimited" => SendError::RateLimited {
            endpoint,
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        },
        "rate_limited" => SendError::RateLimited {
            endpoint,
            retry_after: retry_after.unwrap_or(POSTED_TOO_MANY_WAIT),
        },
        "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout"
        | "team_added_to_org" => SendError::Unavailable {
            endpoint,
            status,
            reason,
        },
        _ => SendError::Rejected {
            endpoint,
            status,
            hint: hint(&reason),
            reason,
        },
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
            Ok(answer) => format!("ok {}", answer["ts"]),
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
            (
                200,
                r#"{"ok":true,"channel":"C1","ts":"1.2"}"#,
                r#"ok "1.2""#,
            ),
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
            (200, r#"{"ok":true}"#, "ok null"),
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
}
