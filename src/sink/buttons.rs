//! What the buttons on a Slack app receiver's group message show: the group's acknowledgement
//! and the silence made from the message, read from the state file. A poll's message and the
//! update after a click are made by the same function, so both show the same state.

use jiff::Timestamp;

use super::config::Button;
use crate::render::controls::Controls;
use crate::route::{Silence, SilenceState};
use crate::state::{Ack, ButtonRow};

/// The controls of the group `row` names, showing `ack` and the silence made from the row
/// while it lasts.
pub fn controls(
    row: &ButtonRow,
    buttons: &[Button],
    ack: Option<&Ack>,
    silences: &[Silence],
    now: Timestamp,
) -> Controls {
    let silence = row
        .silence_id
        .as_ref()
        .and_then(|id| silences.iter().find(|s| &s.id == id))
        .filter(|s| s.state(now) == SilenceState::Active);
    Controls {
        id: row.id.clone(),
        ack: buttons.contains(&Button::Ack),
        silence: buttons.contains(&Button::Silence),
        acked: ack.map(|a| (a.acked_by.clone(), a.acked_at)),
        silenced: silence.map(|s| (s.created_by.clone(), s.ends_at)),
        // Made from the group's labels by the poll that posts the message; an update after a
        // click keeps those the message has.
        runs: Vec::new(),
    }
}
