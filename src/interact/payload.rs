//! A button click as Slack sends it: a `block_actions` interaction payload
//! (<https://docs.slack.dev/reference/interaction-payloads/block_actions-payload>), read into
//! what dbalert needs and nothing more. Everything in it is the clicker's word: the button's
//! value is only a key to look up, and who clicked is checked against `access:` afterwards.

use std::time::Duration;

use serde_json::Value;

use crate::render::controls::{ACK, SILENCE, SILENCE_CHOICES, UNACK, UNSILENCE};

/// What a click asks for, and the button id (a row of the state file) it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Ack { id: String },
    Unack { id: String },
    Silence { id: String, length: Duration },
    Unsilence { id: String },
}

impl Action {
    /// The button id the click names.
    pub fn id(&self) -> &str {
        match self {
            Self::Ack { id } | Self::Unack { id } | Self::Unsilence { id } => id,
            Self::Silence { id, .. } => id,
        }
    }

    /// Its `action_id`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ack { .. } => ACK,
            Self::Unack { .. } => UNACK,
            Self::Silence { .. } => SILENCE,
            Self::Unsilence { .. } => UNSILENCE,
        }
    }
}

/// One click, read from its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Click {
    /// Who clicked (`U…`).
    pub user: String,
    /// The workspace the click came from (`T…`).
    pub team: String,
    /// The channel of the message.
    pub channel: String,
    /// The message's `ts`, for `chat.update`.
    pub message_ts: String,
    /// The message as the clicker saw it (its `text`, `blocks` and `attachments`).
    pub message: Value,
    pub action: Action,
    /// Where an ephemeral reply goes (valid for 30 minutes); a bearer capability, never logged.
    pub response_url: Option<String>,
}

/// Why a payload is not a click dbalert acts on. The audit trail keeps the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("a `{0}` payload, not `block_actions`")]
    NotBlockActions(String),
    #[error("the payload has no `{0}`")]
    Missing(&'static str),
    #[error("unknown action `{0}`")]
    UnknownAction(String),
    #[error("the Silence menu's choice is not one of 1h, 4h, 24h")]
    BadChoice,
}

/// The parts of `payload` every audit row wants even when the rest is broken: the user, the
/// channel and the action id, when present.
pub fn who_where_what(payload: &Value) -> (String, Option<String>, String) {
    let text = |v: &Value| v.as_str().map(clean);
    let user = text(&payload["user"]["id"]).unwrap_or_else(|| "unknown".to_owned());
    let channel =
        text(&payload["channel"]["id"]).or_else(|| text(&payload["container"]["channel_id"]));
    let what = text(&payload["actions"][0]["action_id"])
        .or_else(|| text(&payload["type"]))
        .unwrap_or_else(|| "unknown".to_owned());
    (user, channel, what)
}

/// Reads a `block_actions` payload.
pub fn parse(payload: &Value) -> Result<Click, Malformed> {
    let kind = payload["type"].as_str().ok_or(Malformed::Missing("type"))?;
    if kind != "block_actions" {
        return Err(Malformed::NotBlockActions(clean(kind)));
    }
    let field = |value: &Value, name: &'static str| {
        value
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or(Malformed::Missing(name))
    };
    let user = field(&payload["user"]["id"], "user.id")?;
    let team = field(&payload["team"]["id"], "team.id")
        .or_else(|_| field(&payload["user"]["team_id"], "team.id"))?;
    let channel = field(&payload["channel"]["id"], "channel.id")
        .or_else(|_| field(&payload["container"]["channel_id"], "channel.id"))?;
    let message_ts = field(&payload["container"]["message_ts"], "container.message_ts")
        .or_else(|_| field(&payload["message"]["ts"], "container.message_ts"))?;
    let message = payload
        .get("message")
        .filter(|m| m.is_object())
        .cloned()
        .ok_or(Malformed::Missing("message"))?;
    let action = &payload["actions"][0];
    let action_id = field(&action["action_id"], "actions[0].action_id")?;
    let value = |v: &Value| field(v, "actions[0].value");
    let action = match action_id.as_str() {
        ACK => Action::Ack {
            id: value(&action["value"])?,
        },
        UNACK => Action::Unack {
            id: value(&action["value"])?,
        },
        UNSILENCE => Action::Unsilence {
            id: value(&action["value"])?,
        },
        SILENCE => {
            let chosen = field(
                &action["selected_option"]["value"],
                "actions[0].selected_option",
            )?;
            let (choice, id) = chosen.split_once(' ').ok_or(Malformed::BadChoice)?;
            let (_, secs) = SILENCE_CHOICES
                .iter()
                .find(|(c, _)| *c == choice)
                .ok_or(Malformed::BadChoice)?;
            Action::Silence {
                id: id.to_owned(),
                length: Duration::from_secs(*secs),
            }
        }
        other => return Err(Malformed::UnknownAction(clean(other))),
    };
    Ok(Click {
        user,
        team,
        channel,
        message_ts,
        message,
        action,
        response_url: payload["response_url"].as_str().map(str::to_owned),
    })
}

/// Text from a payload, safe in a log line or the audit trail: no control characters, at
/// most 100 characters.
pub fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(100).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A `block_actions` payload shaped like the one in Slack's documentation.
    fn payload(action: Value) -> Value {
        json!({
            "type": "block_actions",
            "team": {"id": "T9TK3CUKW", "domain": "example"},
            "user": {"id": "UA8RXUSPL", "username": "jtorrance", "team_id": "T9TK3CUKW"},
            "api_app_id": "AABA1ABCD",
            "container": {"type": "message", "message_ts": "1548261231.000200", "channel_id": "CBR2V3XEX", "is_ephemeral": false},
            "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
            "channel": {"id": "CBR2V3XEX", "name": "review-updates"},
            "message": {"type": "message", "ts": "1548261231.000200", "text": "x", "blocks": []},
            "response_url": "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209",
            "actions": [action],
        })
    }

    #[test]
    fn reads_each_action_and_refuses_the_rest() {
        let button = |id: &str, value: &str| json!({"action_id": id, "block_id": "b", "type": "button", "value": value, "action_ts": "1"});
        let select = |value: &str| json!({"action_id": SILENCE, "type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": value}});
        let ok = |action| Ok::<_, Malformed>(action);
        let id = || "0a1b".to_owned();
        for (action, want) in [
            (button(ACK, "0a1b"), ok(Action::Ack { id: id() })),
            (button(UNACK, "0a1b"), ok(Action::Unack { id: id() })),
            (
                button(UNSILENCE, "0a1b"),
                ok(Action::Unsilence { id: id() }),
            ),
            (
                select("4h 0a1b"),
                ok(Action::Silence {
                    id: id(),
                    length: Duration::from_secs(4 * 3600),
                }),
            ),
            (select("5h 0a1b"), Err(Malformed::BadChoice)),
            (select("0a1b"), Err(Malformed::BadChoice)),
            (
                json!({"action_id": SILENCE}),
                Err(Malformed::Missing("actions[0].selected_option")),
            ),
            (button(ACK, ""), Err(Malformed::Missing("actions[0].value"))),
            (
                json!({"action_id": ACK}),
                Err(Malformed::Missing("actions[0].value")),
            ),
            (
                button("dbalert.run", "x"),
                Err(Malformed::UnknownAction("dbalert.run".into())),
            ),
            (json!({}), Err(Malformed::Missing("actions[0].action_id"))),
        ] {
            let got = parse(&payload(action.clone())).map(|c| c.action);
            assert_eq!(got, want, "{action}");
        }
    }

    #[test]
    fn reads_who_where_and_which_message() {
        let click = parse(&payload(json!({"action_id": ACK, "value": "v"}))).unwrap();
        assert_eq!(
            (
                click.user.as_str(),
                click.team.as_str(),
                click.channel.as_str()
            ),
            ("UA8RXUSPL", "T9TK3CUKW", "CBR2V3XEX")
        );
        assert_eq!(click.message_ts, "1548261231.000200");
        assert!(
            click
                .response_url
                .unwrap()
                .starts_with("https://hooks.slack.com/")
        );
    }

    #[test]
    fn malformed_payloads_say_what_is_missing() {
        let mut no_user = payload(json!({"action_id": ACK, "value": "v"}));
        no_user["user"] = json!(null);
        let mut no_message = payload(json!({"action_id": ACK, "value": "v"}));
        no_message.as_object_mut().unwrap().remove("message");
        let mut team_from_user = payload(json!({"action_id": ACK, "value": "v"}));
        team_from_user.as_object_mut().unwrap().remove("team");
        for (p, want) in [
            (
                json!({"type": "view_submission"}),
                Err(Malformed::NotBlockActions("view_submission".into())),
            ),
            (json!([1]), Err(Malformed::Missing("type"))),
            (no_user, Err(Malformed::Missing("user.id"))),
            (no_message, Err(Malformed::Missing("message"))),
        ] {
            assert_eq!(parse(&p).map(|c| c.user), want, "{p}");
        }
        assert_eq!(parse(&team_from_user).unwrap().team, "T9TK3CUKW");
        let (user, channel, what) = who_where_what(&json!({"type": "x\u{1b}[31m"}));
        assert_eq!(
            (user.as_str(), channel, what.as_str()),
            ("unknown", None, "x[31m")
        );
    }
}
