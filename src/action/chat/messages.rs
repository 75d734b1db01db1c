//! The Slack messages with buttons: the requester's Confirm/Cancel question and the approval
//! request posted in the channel.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ACTION_ID_PREFIX, APPROVE, CANCEL, CONFIRM, CONFIRM_FUEL, REJECT};
use crate::action::config::Action;
use crate::render::text::escape;
use crate::source::Bind;

fn button(action_id: &str, text: &str, style: Option<&str>, value: &str) -> Value {
    let mut button = json!({
        "type": "button",
        "action_id": action_id,
        "text": { "type": "plain_text", "text": text },
        "value": value,
    });
    if let Some(style) = style {
        button["style"] = json!(style);
    }
    button
}

fn buttons_message(response_type: &str, text: &str, buttons: Vec<Value>, id: &str) -> Value {
    json!({
        "response_type": response_type,
        "replace_original": false,
        "text": text,
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": text } },
            { "type": "actions", "block_id": format!("{ACTION_ID_PREFIX}{}", id.chars().take(200).collect::<String>()), "elements": buttons },
        ],
    })
}

/// The Confirm/Cancel question: the action's `confirm` text with the values filled in.
pub(super) fn confirm_message(
    action: &Action,
    args: &BTreeMap<String, String>,
    binds: &[(String, Bind)],
    id: &str,
) -> Value {
    let template = action.confirm.clone().unwrap_or_default();
    // The values as they will be bound (upper-cased identifiers, `sid` and `serial`) win over
    // the values as typed.
    let context: BTreeMap<String, String> = args
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .chain(
            binds
                .iter()
                .map(|(name, value)| (name.clone(), value.to_string())),
        )
        .filter(|(name, _)| !action.params.iter().any(|p| &p.name == name && p.secret))
        .map(|(name, value)| (name, escape(&value)))
        .collect();
    let mut env = minijinja::Environment::new();
    // The template is the operator's, yet a loop in it must not stall the reply.
    env.set_fuel(Some(CONFIRM_FUEL));
    let text = env
        .render_str(&template, &context)
        .unwrap_or_else(|_| format!("Run `{}`?", action.name));
    // The template is the operator's; the values in it are escaped above.
    let text: String = text.chars().take(2000).collect();
    let buttons = vec![
        button(CONFIRM, "Confirm", Some("danger"), id),
        button(CANCEL, "Cancel", None, id),
    ];
    buttons_message("ephemeral", &text, buttons, id)
}

/// The request a second person approves, posted in the channel.
pub(super) fn approval_message(
    action: &Action,
    invocation: &str,
    requested_by: &str,
    id: &str,
) -> Value {
    let text = format!(
        "<@{requested_by}> asks to run `{invocation}` on {}. Someone in {} may approve it; the request expires in {}.",
        escape(&action.source.0),
        action
            .approval
            .as_ref()
            .map(|a| a.allow.join(", "))
            .unwrap_or_default(),
        action.ttl(),
    );
    let buttons = vec![
        button(APPROVE, "Approve", Some("primary"), id),
        button(REJECT, "Reject", None, id),
    ];
    buttons_message("in_channel", &text, buttons, id)
}
