//! The `slack` receiver, Slack app mode (`token` and `channel`): messages posted through the Web
//! API's `chat.postMessage`, so that a group's later notifications can reply in the thread of
//! the message that announced it, and that message can be edited with `chat.update` to show the
//! group's current state.
//!
//! The calls and what Slack's answers mean are in `web_api.rs`; the token is sent only in the
//! `Authorization` header and never logged.

use serde_json::{Value, json};
use std::sync::Arc;
use tracing::{info, warn};

use super::delivery::ConfigProblem;
use super::delivery::{Delivery, ReceiverName};
use super::http;
use super::pacer::Pacer;
use super::web_api::{DEFAULT_API_URL, WebApi};
use super::{SendError, retry};
use crate::config::secret::Secret;
use crate::state::Thread;

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
    api: WebApi,
    delivery: Delivery,
    pacer: Arc<Pacer>,
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
        let api = WebApi::new(api_url, client);
        Self {
            // Slack paces chat.postMessage per channel ("1 message per second to a specific
            // channel"), so the pace is per app host and channel, not per token.
            pacer: Pacer::for_destination(&format!("{}#{channel}", api.url())),
            receiver,
            token,
            channel,
            api,
            delivery: delivery.clone(),
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

    /// Posts `payload` as a reply in `thread` (the result of a runbook button's action).
    pub async fn reply(&self, payload: &Value, thread: &Thread) -> Result<Thread, SendError> {
        self.post(payload, Some(thread)).await
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
        let answer = self.api.call(method, &self.token, body).await?;
        let field = |key: &str| answer[key].as_str().map(str::to_owned);
        match (field("channel"), field("ts")) {
            (Some(channel), Some(ts)) => Ok(Thread { channel, ts }),
            _ => Err(SendError::Unavailable {
                endpoint: format!("{method} on {}", self.api.host()),
                status: 200,
                reason: "the answer has no `channel` and `ts`".to_owned(),
            }),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
