//! A click on a runbook button (`dbalert.action.run.N`) on an alert message. Its value is read
//! and checked again as if typed (the button's id must name a group of a receiver that still
//! shows this action, the values must fit the action's types), the clicker must be allowed by
//! both the receiver's `allow:` and the action's, and then the request goes the way of a slash
//! command's (confirmation and approval included), its result posted in the alert's thread.

use std::sync::Arc;

use serde_json::Value;

use super::slash::{Request, waits_for};
use super::{Accepted, ActionContext, field};
use crate::action::audit::Audit;
use crate::action::config::Action;
use crate::action::run;
use crate::action::runbook::RunValue;
use crate::interact::access::{Decision, Requester};
use crate::render::text::clean;
use crate::source::Bind;
use crate::state::{AlertThread, ButtonRow, StateStore, Thread};

/// Where a runbook button's request came from, as its intent row says.
const ORIGIN: &str = "runbook button on an alert";

/// A click that passed every check: what to run, and where its result goes.
struct Checked {
    row: ButtonRow,
    action: Action,
    value: RunValue,
    binds: Vec<(String, Bind)>,
    thread: Thread,
}

/// Checks a runbook button's click and starts its request, or refuses it (audited, and
/// answered to the clicker alone).
pub(super) fn click(ctx: &Arc<ActionContext>, payload: &Value, request_id: &str) -> Accepted {
    let team = Some(field(payload, &["team", "id"]))
        .filter(|t| !t.is_empty())
        .unwrap_or(field(payload, &["user", "team_id"]));
    let channel = [
        field(payload, &["container", "channel_id"]),
        field(payload, &["channel", "id"]),
    ]
    .into_iter()
    .find(|c| !c.is_empty());
    let who = Requester {
        user: field(payload, &["user", "id"]),
        team,
        channel,
    };
    let raw = payload["actions"][0]["value"].as_str().unwrap_or("");
    let value = RunValue::read(raw);
    // Until the action is found, the audit trail shows what the value asked for, cleaned.
    let name = value.as_ref().map_or("runbook", |v| v.action.as_str());
    let mut audit = ctx.audit(request_id, who.user, channel, &clean(name), clean(raw));
    let value = value.map_err(|error| ("invalid", format!("This button is broken: {error}.")));
    let checked = match value.and_then(|value| check(ctx, payload, &who, value, &mut audit)) {
        Ok(checked) => checked,
        Err((outcome, text)) => {
            let text = format!("{text} Nothing was run.");
            if audit.intent(ORIGIN).is_ok() {
                audit.outcome(outcome, &text);
            }
            return Accepted::say(text);
        }
    };
    let detail = format!(
        "{ORIGIN} of receiver {} (group {}); source {}; {}",
        checked.row.receiver,
        checked.row.group_key,
        checked.action.source,
        waits_for(&checked.action)
    );
    if let Err(error) = audit.intent(&detail) {
        return Accepted::unaudited(&error);
    }
    let request = Request {
        ctx: ctx.clone(),
        action: checked.action,
        args: checked.value.params,
        binds: checked.binds,
        requested_by: who.user.to_owned(),
        team: team.to_owned(),
        channel: channel.map(str::to_owned),
        request_id: request_id.to_owned(),
        response_url: field(payload, &["response_url"]).to_owned(),
        thread: Some(AlertThread {
            receiver: checked.row.receiver,
            thread: checked.thread,
        }),
    };
    request.start()
}

/// The checks of one click, in order; a refusal is its audit outcome and what to tell the
/// clicker. Once the action is known, `audit` shows its arguments.
fn check(
    ctx: &ActionContext,
    payload: &Value,
    who: &Requester,
    value: RunValue,
    audit: &mut Audit<'_>,
) -> Result<Checked, (&'static str, String)> {
    let invalid = |text: String| ("invalid", text);
    let row = match StateStore::open(&ctx.state_path).and_then(|s| s.button(&value.id)) {
        Ok(Some(row)) => row,
        Ok(None) => return Err(invalid("This button is unknown here.".to_owned())),
        Err(error) => {
            tracing::error!(%error, "A runbook button could not be looked up in the state file.");
            return Err(("failed", "The state file could not be read.".to_owned()));
        }
    };
    let receiver = ctx
        .receivers
        .get(&row.receiver)
        .filter(|r| (r.receiver.run_buttons(true)).any(|button| button.action == value.action));
    let (Some(receiver), Some(action)) = (receiver, ctx.action(&value.action)) else {
        let text = format!(
            "Receiver `{}` no longer shows this button.",
            clean(&row.receiver.0)
        );
        return Err(invalid(text));
    };
    audit.target = run::audit_target(action, &value.params);
    let binds = value.binds(action).map_err(|error| {
        invalid(format!(
            "The button's values do not fit `{}`: {error}.",
            action.name
        ))
    })?;
    let allow = receiver
        .receiver
        .interactive
        .allow
        .clone()
        .unwrap_or_default();
    for (allow, what) in [
        (&allow, "use this message's buttons"),
        (&action.allow, "run this action"),
    ] {
        if let Decision::Denied { reason } = ctx.decide(allow, who) {
            let text = format!("You may not {what} (`{}`): {reason}.", action.name);
            return Err(("denied", text));
        }
    }
    let thread = alert_thread(payload, who.channel)
        .ok_or_else(|| invalid("The click does not say which message it came from.".to_owned()))?;
    Ok(Checked {
        row,
        action: action.clone(),
        value,
        binds,
        thread,
    })
}

/// The thread of the clicked message: the parent's when the message is itself a reply.
fn alert_thread(payload: &Value, channel: Option<&str>) -> Option<Thread> {
    let ts = [
        field(payload, &["message", "thread_ts"]),
        field(payload, &["container", "message_ts"]),
        field(payload, &["message", "ts"]),
    ]
    .into_iter()
    .find(|ts| !ts.is_empty())?;
    Some(Thread {
        channel: channel?.to_owned(),
        ts: ts.to_owned(),
    })
}
