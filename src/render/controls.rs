//! The buttons that act on a group from its Slack message, and the lines that say what was done:
//! "Acknowledged by <@U…> at …" with an Unacknowledge button, "Silenced by <@U…> until …" with
//! an Unsilence button, otherwise Acknowledge and a Silence menu (1h, 4h, 24h).
//!
//! Every button's `value` is the same opaque id, a row of the state file that says which
//! receiver and group it is about; the `action_id` says what to do. The blocks' ids start with
//! [`BLOCK_PREFIX`] and change on every rendering, as Slack asks of an updated message, so that
//! a click's update can find and replace them in the message Slack sends back.
//!
//! Runbook buttons ([`RUN`]) go in a block of their own above those, whose id starts with
//! [`RUN_BLOCK_PREFIX`] instead: their values are made from the group's labels, which a click's
//! update does not have, so the update keeps that block as the message shows it.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::blockkit::{MAX_ACTIONS, MAX_BUTTON_TEXT};
use super::text;

/// What a click on each control asks for (`action_id`).
pub const ACK: &str = "dbalert.ack";
pub const UNACK: &str = "dbalert.unack";
pub const SILENCE: &str = "dbalert.silence";
pub const UNSILENCE: &str = "dbalert.unsilence";
/// The Silence menu's choices: the option's value and how long, in seconds.
pub const SILENCE_CHOICES: [(&str, u64); 3] = [("1h", 3600), ("4h", 4 * 3600), ("24h", 24 * 3600)];
/// The action id of a runbook button, followed by `.N`, its place among them (action ids are
/// unique within a block). It starts with the prefix of the actions' buttons, so `serve` hands
/// its clicks to the actions.
pub const RUN: &str = "dbalert.action.run";
/// The `block_id` of every block these controls add starts with this.
pub const BLOCK_PREFIX: &str = "dbalert.";
/// The `block_id` of the runbook buttons' block starts with this, and not [`BLOCK_PREFIX`]:
/// an update after a click keeps it.
pub const RUN_BLOCK_PREFIX: &str = "runbook.";
/// The blocks [`Controls::blocks`] adds at most: the runbook buttons, the state line and the
/// buttons.
pub const BLOCKS: usize = 3;
// The layout leaves room for them, so a message with controls stays within Slack's 50 blocks.
const _: () = assert!(BLOCKS <= super::notification::SPARE_BLOCKS);

/// The controls on one group's message, and the group's state they show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Controls {
    /// The opaque id every button carries.
    pub id: String,
    /// Whether the Acknowledge button (or Unacknowledge) is shown.
    pub ack: bool,
    /// Whether the Silence menu (or Unsilence) is shown.
    pub silence: bool,
    /// Who acknowledged the group (`<@U…>`) and when.
    pub acked: Option<(String, Timestamp)>,
    /// Who silenced the group and until when, while the silence lasts.
    pub silenced: Option<(String, Timestamp)>,
    /// The runbook buttons, made for this group (`action::runbook`).
    pub runs: Vec<RunControl>,
}

/// A runbook button as made for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunControl {
    /// Its text, as configured (cleaned and cut here).
    pub text: String,
    /// Its value: the action and its values as JSON, data only.
    pub value: String,
}

/// Whether `action_id` is a runbook button's.
pub fn is_run(action_id: &str) -> bool {
    action_id
        .strip_prefix(RUN)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl Controls {
    /// The blocks to append to the message: a context line with the group's state, when it is
    /// acknowledged or silenced, and an actions block. `now` makes the block ids new.
    pub fn blocks(&self, now: Timestamp) -> Vec<Value> {
        let stamp = now.as_millisecond();
        let mut lines = Vec::new();
        if let Some((by, at)) = self.acked.as_ref().filter(|_| self.ack) {
            lines.push(format!(
                ":white_check_mark: Acknowledged by {} at {}",
                who(by),
                text::slack_date(*at)
            ));
        }
        if let Some((by, until)) = self.silenced.as_ref().filter(|_| self.silence) {
            lines.push(format!(
                ":no_bell: Silenced by {} until {}",
                who(by),
                text::slack_date(*until)
            ));
        }
        let mut blocks = Vec::new();
        if !self.runs.is_empty() {
            blocks.push(json!({
                "type": "actions",
                "block_id": format!("{RUN_BLOCK_PREFIX}{stamp}"),
                "elements": self.run_elements(),
            }));
        }
        if !lines.is_empty() {
            blocks.push(json!({
                "type": "context",
                "block_id": format!("{BLOCK_PREFIX}state.{stamp}"),
                "elements": lines.into_iter().map(|l| json!({"type": "mrkdwn", "text": l})).collect::<Vec<_>>(),
            }));
        }
        let elements = self.elements();
        if !elements.is_empty() {
            blocks.push(json!({
                "type": "actions",
                "block_id": format!("{BLOCK_PREFIX}actions.{stamp}"),
                "elements": elements,
            }));
        }
        blocks
    }

    fn run_elements(&self) -> Vec<Value> {
        (self.runs.iter().take(MAX_ACTIONS).enumerate())
            .map(|(i, run)| {
                json!({
                    "type": "button",
                    "action_id": format!("{RUN}.{i}"),
                    "text": {"type": "plain_text", "text": text::plain(&run.text, MAX_BUTTON_TEXT)},
                    "value": run.value,
                })
            })
            .collect()
    }

    fn elements(&self) -> Vec<Value> {
        let button = |action: &str, label: &str| {
            json!({
                "type": "button",
                "action_id": action,
                "text": {"type": "plain_text", "text": label},
                "value": self.id,
            })
        };
        let mut elements = Vec::new();
        if self.ack {
            elements.push(match self.acked {
                Some(_) => button(UNACK, "Unacknowledge"),
                None => {
                    let mut ack = button(ACK, "Acknowledge");
                    ack["style"] = json!("primary");
                    ack
                }
            });
        }
        if self.silence {
            elements.push(match self.silenced {
                Some(_) => button(UNSILENCE, "Unsilence"),
                None => {
                    let options: Vec<Value> = SILENCE_CHOICES
                        .iter()
                        .map(|(choice, _)| {
                            json!({
                                "text": {"type": "plain_text", "text": format!("Silence {choice}")},
                                "value": format!("{choice} {}", self.id),
                            })
                        })
                        .collect();
                    json!({
                        "type": "static_select",
                        "action_id": SILENCE,
                        "placeholder": {"type": "plain_text", "text": "Silence…"},
                        "options": options,
                    })
                }
            });
        }
        elements
    }
}

/// Removes the blocks a rendering of [`Controls`] added, by their ids.
pub fn remove_from(blocks: &mut Vec<Value>) {
    blocks.retain(|block| {
        !block["block_id"]
            .as_str()
            .is_some_and(|id| id.starts_with(BLOCK_PREFIX))
    });
}

/// The `chat.update` body that shows `blocks` (a new rendering of the controls) in `message`,
/// a message as Slack sent it back with a click: the old controls are removed, the rest kept.
/// The controls go where the layout puts them, in the attachment beside the colour bar.
pub fn updated_message(message: &Value, blocks: Vec<Value>) -> Value {
    let mut top: Vec<Value> = message["blocks"].as_array().cloned().unwrap_or_default();
    remove_from(&mut top);
    let mut body = json!({"text": message["text"].as_str().unwrap_or_default(), "blocks": top});
    match message["attachments"].get(0) {
        Some(first) => {
            let mut details: Vec<Value> = first["blocks"].as_array().cloned().unwrap_or_default();
            remove_from(&mut details);
            details.extend(blocks);
            // Slack gives the colour back without its `#`.
            let color = first["color"].as_str().map(|c| match c.starts_with('#') {
                true => c.to_owned(),
                false => format!("#{c}"),
            });
            let mut attachment = json!({"blocks": details});
            if let Some(color) = color {
                attachment["color"] = json!(color);
            }
            if let Some(fallback) = first["fallback"].as_str() {
                attachment["fallback"] = json!(fallback);
            }
            body["attachments"] = json!([attachment]);
        }
        None => {
            if let Some(top) = body["blocks"].as_array_mut() {
                top.extend(blocks);
            }
        }
    }
    body
}

/// A Slack user as a mention (`<@U…>`), anyone else as plain escaped text.
fn who(by: &str) -> String {
    let id = by.strip_prefix("<@").and_then(|s| s.strip_suffix('>'));
    match id {
        Some(id) if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()) => {
            by.to_owned()
        }
        _ => text::mrkdwn(by, 100),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::blockkit::validate;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    fn controls() -> Controls {
        Controls {
            id: "0a1b".into(),
            ack: true,
            silence: true,
            ..Controls::default()
        }
    }

    fn payload(blocks: Vec<Value>) -> Value {
        json!({"text": "x", "blocks": blocks})
    }

    #[test]
    fn fresh_group_has_acknowledge_and_the_silence_menu() {
        let blocks = controls().blocks(at(1_800_000_000));
        assert_eq!(blocks.len(), 1);
        let elements = &blocks[0]["elements"];
        assert_eq!(elements[0]["action_id"], ACK);
        assert_eq!(elements[0]["value"], "0a1b");
        assert_eq!(elements[1]["action_id"], SILENCE);
        assert_eq!(elements[1]["options"][2]["value"], "24h 0a1b");
        validate(&payload(blocks)).unwrap();
    }

    #[test]
    fn acked_and_silenced_groups_say_so_and_offer_the_undo() {
        let mut c = controls();
        c.acked = Some(("<@U024BE7LH>".into(), at(1_800_000_000)));
        c.silenced = Some(("alice <!channel>".into(), at(1_800_003_600)));
        let blocks = c.blocks(at(1_800_000_001));
        assert_eq!(blocks.len(), 2);
        let lines = &blocks[0]["elements"];
        assert_eq!(
            lines[0]["text"],
            ":white_check_mark: Acknowledged by <@U024BE7LH> at <!date^1800000000^{date_short_pretty} {time}|2027-01-15 08:00 UTC>"
        );
        assert!(
            lines[1]["text"]
                .as_str()
                .unwrap()
                .starts_with(":no_bell: Silenced by alice &lt;!channel&gt; until"),
            "{lines}"
        );
        assert_eq!(blocks[1]["elements"][0]["action_id"], UNACK);
        assert_eq!(blocks[1]["elements"][1]["action_id"], UNSILENCE);
        validate(&payload(blocks.clone())).unwrap();

        let mut message = vec![json!({"type": "section", "block_id": "x"})];
        message.extend(blocks);
        remove_from(&mut message);
        assert_eq!(message.len(), 1);
    }

    #[test]
    fn an_update_replaces_the_old_controls_and_keeps_the_rest() {
        let old = controls().blocks(at(1_800_000_000));
        let mut details =
            vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": "ORA-00060"}})];
        details.extend(old);
        let message = json!({
            "type": "message", "ts": "1.2", "text": "fallback",
            "blocks": [{"type": "section", "block_id": "h", "text": {"type": "mrkdwn", "text": "*Deadlock*"}}],
            "attachments": [{"id": 1, "color": "E01E5A", "fallback": "f", "blocks": details}],
        });
        let mut c = controls();
        c.acked = Some(("<@U1>".into(), at(1_800_000_005)));
        let body = updated_message(&message, c.blocks(at(1_800_000_005)));
        assert_eq!(body["text"], "fallback");
        assert_eq!(body["blocks"][0]["block_id"], "h");
        let attachment = &body["attachments"][0];
        assert_eq!(attachment["color"], "#E01E5A");
        assert!(attachment.get("id").is_none());
        let blocks = attachment["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 3, "{blocks:?}");
        assert_eq!(blocks[0]["text"]["text"], "ORA-00060");
        assert_eq!(blocks[2]["elements"][0]["action_id"], UNACK);
        validate(&body).unwrap();
    }

    #[test]
    fn runbook_buttons_come_first_in_their_own_block_which_an_update_keeps() {
        let mut c = controls();
        c.runs = vec![
            RunControl {
                text: "Sessions <!channel> & co".into(),
                value: r#"{"id":"0a1b","action":"sessions","params":{"schema":"ORDERS"}}"#.into(),
            },
            RunControl {
                text: "y".repeat(200),
                value: "{}".into(),
            },
        ];
        let blocks = c.blocks(at(1_800_000_000));
        assert_eq!(blocks.len(), 2);
        let runs = &blocks[0];
        assert!(
            runs["block_id"]
                .as_str()
                .unwrap()
                .starts_with(RUN_BLOCK_PREFIX)
        );
        assert_eq!(runs["elements"][0]["action_id"], "dbalert.action.run.0");
        assert_eq!(runs["elements"][1]["action_id"], "dbalert.action.run.1");
        assert_eq!(
            runs["elements"][0]["text"],
            json!({"type": "plain_text", "text": "Sessions <!channel> & co"}),
            "plain text: Slack shows it as written, never as a mention"
        );
        assert_eq!(
            runs["elements"][0]["value"],
            r#"{"id":"0a1b","action":"sessions","params":{"schema":"ORDERS"}}"#
        );
        assert!(
            runs["elements"][1]["text"]["text"]
                .as_str()
                .unwrap()
                .chars()
                .count()
                <= 75
        );
        assert_eq!(blocks[1]["elements"][0]["action_id"], ACK);
        validate(&payload(blocks.clone())).unwrap();
        let mut kept = blocks;
        remove_from(&mut kept);
        assert_eq!(kept.len(), 1, "an update keeps the runbook buttons");
        for (id, run) in [
            ("dbalert.action.run.0", true),
            ("dbalert.action.run.12", true),
            ("dbalert.action.run", false),
            ("dbalert.action.run.", false),
            ("dbalert.action.runner.1", false),
            ("dbalert.action.confirm", false),
        ] {
            assert_eq!(is_run(id), run, "{id}");
        }
    }

    #[test]
    fn only_the_configured_buttons_and_new_block_ids_each_time() {
        let mut c = controls();
        c.silence = false;
        c.silenced = Some(("<@U1>".into(), at(1_800_003_600)));
        let first = c.blocks(at(1_800_000_000));
        assert_eq!(first.len(), 1, "no silence line without the silence button");
        assert_eq!(first[0]["elements"].as_array().unwrap().len(), 1);
        let second = c.blocks(at(1_800_000_001));
        assert_ne!(first[0]["block_id"], second[0]["block_id"]);
        c.ack = false;
        assert!(c.blocks(at(1_800_000_000)).is_empty());
    }
}
