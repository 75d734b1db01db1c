//! What the transports share with `serve`: the request they hand on, one verified request from
//! Slack whichever way it came (a Socket Mode envelope or a signed HTTP request), which they
//! acknowledge first and the handler `serve` was given acts on; and the stop signal.

use serde_json::Value;
use tokio::sync::watch;

/// What kind of request Slack sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A click on a button or a menu (`block_actions`), a modal submission, a shortcut.
    Interactive,
    /// A slash command (`/dbalert …`).
    SlashCommand,
    /// An Events API callback (dbalert's manifest subscribes to none).
    Event,
}

impl Kind {
    /// The name Socket Mode gives the kind in an envelope's `type`.
    pub fn from_envelope_type(kind: &str) -> Option<Self> {
        match kind {
            "interactive" => Some(Self::Interactive),
            "slash_commands" => Some(Self::SlashCommand),
            "events_api" => Some(Self::Event),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interactive => "interactive",
            Self::SlashCommand => "slash_command",
            Self::Event => "event",
        }
    }
}

/// One verified request from Slack.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub kind: Kind,
    /// The request's JSON as Slack sent it (untrusted text: every field is checked before use).
    pub payload: Value,
    /// The request's id for the audit trail: the Socket Mode envelope id, or one made for an
    /// HTTP request.
    pub id: String,
}

impl Incoming {
    /// Who sent it: the user id of an interaction (`user.id`) or of a slash command
    /// (`user_id`), if the payload has one.
    pub fn user(&self) -> Option<&str> {
        self.payload["user"]["id"]
            .as_str()
            .or_else(|| self.payload["user_id"].as_str())
    }

    /// Where it came from: the channel of an interaction or of a slash command.
    pub fn channel(&self) -> Option<&str> {
        self.payload["channel"]["id"]
            .as_str()
            .or_else(|| self.payload["container"]["channel_id"].as_str())
            .or_else(|| self.payload["channel_id"].as_str())
    }
}

/// Completes once `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
