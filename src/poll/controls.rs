//! Between plan and deliver: the buttons on each group's Slack message (Acknowledge, Silence,
//! runbook buttons), and the state they show, from the state file. Only Slack app receivers get
//! them, and only when `slack_app:` is configured and the receiver's `allow:` names someone
//! ([`crate::sink::Receiver::buttons`]).
//!
//! Each (receiver, group) has one random id in the state file (`buttons`), which every button
//! carries; `serve` finds the group again from it. The same function
//! ([`crate::sink::buttons::controls`]) gives the controls of a poll's message and of the
//! update after a click, so both show the same state.

use std::collections::HashMap;

use jiff::Timestamp;
use tracing::debug;

use super::plan::Notification;
use crate::action::runbook;
use crate::render::controls::RunControl;
use crate::settings::Config;
use crate::sink::buttons::controls;
use crate::state::{Ack, StateError, StateStore};

/// Gives each notification to a receiver with buttons its controls. A dry run makes no id:
/// its messages show the id the group already has, or none.
pub fn attach(
    config: &Config,
    store: &mut StateStore,
    notifications: &mut [Notification],
    now: Timestamp,
    dry_run: bool,
) -> Result<(), StateError> {
    let app = config.slack_app.is_some();
    // A group with nothing firing has nothing left to acknowledge or silence.
    let wanted = |n: &Notification| {
        !n.message.firing.is_empty() && !config.receivers[&n.receiver].buttons(app).is_empty()
    };
    if !notifications.iter().any(wanted) {
        return Ok(());
    }
    let acks: HashMap<String, Ack> = store
        .acks()?
        .into_iter()
        .map(|a| (a.group_key.clone(), a))
        .collect();
    let silences = store.silences()?;
    for n in notifications.iter_mut().filter(|n| wanted(n)) {
        let buttons = config.receivers[&n.receiver].buttons(app);
        let id = match dry_run {
            true => store.existing_button_id(&n.receiver, &n.group_key)?,
            false => {
                Some(store.button_id(&n.receiver, &n.group_key, &n.message.group_labels, now)?)
            }
        };
        let Some(id) = id else { continue };
        let Some(row) = store.button(&id)? else {
            continue;
        };
        let mut shown = controls(&row, buttons, acks.get(&n.group_key), &silences, now);
        shown.runs = runbook_buttons(config, n, &id);
        n.controls = Some(shown);
    }
    Ok(())
}

/// The runbook buttons of `n`'s message, made from its group's labels. A button whose values
/// cannot be made, or that its action's types refuse, is left off this message.
fn runbook_buttons(config: &Config, n: &Notification, id: &str) -> Vec<RunControl> {
    let receiver = &config.receivers[&n.receiver];
    let labels = runbook::labels_of(&n.message);
    let mut runs = Vec::new();
    for button in receiver.run_buttons(config.slack_app.is_some()) {
        // `dbalert check` refuses a button whose action does not exist.
        let Some(action) = config.actions.iter().find(|a| a.name == button.action) else {
            continue;
        };
        match runbook::make(button, action, &labels, id) {
            Ok(run) => runs.push(run),
            Err(reason) => debug!(
                receiver = %n.receiver,
                action = %action.name,
                %reason,
                "A runbook button is left off a message: its values do not fit the group."
            ),
        }
    }
    runs
}
