//! A click on a runbook button (`dbalert.action.run.N`) on an alert message. Its value is read
//! and checked again as if typed (the button's id must name a group of a receiver that still
//! shows this action, the values must fit the action's types), the clicker must be allowed by
//! both the receiver's `allow:` and the action's, and then the request goes the way of a slash
//! command's (confirmation and approval included), its result posted in the alert's thread.

use std::sync::Arc;

use serde_json::Value;

use super::slash::{Request, refuse, waits_for};
use super::{Accepted, ActionContext, field};
use crate::action::run;
use crate::action::runbook::RunValue;
use crate::interact::access::{Decision, Requester};
use crate::render::text::clean;
use crate::state::{AlertThread, StateStore, Thread};

/// Checks a runbook button's click and starts its request, or refuses it (audited, and
/// answered to the clicker alone).
pub(super) fn click(ctx: &Arc<ActionContext>, payload: &Value, request_id: &str) -> Accepted {
    let user = field(payload, &["user", "id"]);
    let team = Some(field(payload, &["team", "id"]))
        .filter(|t| !t.is_empty())
        .unwrap_or(field(payload, &["user", "team_id"]));
    let channel = Some(field(payload, &["container", "channel_id"]))
        .filter(|c| !c.is_empty())
        .or(Some(field(payload, &["channel", "id"])).filter(|c| !c.is_empty()));
    let raw = payload["actions"][0]["value"].as_str().unwrap_or("");
    let value = RunValue::read(raw);
    let name = value.as_ref().map_or("runbook", |v| v.action.as_str());
    // Until the action is found, the audit trail shows what the value asked for, cleaned.
    let mut audit = ctx.audit(request_id, user, channel, &clean(name), clean(raw));
    let refused = |audit: &crate::action::audit::Audit<'_>, outcome: &str, text: String| {
        refuse(audit, outcome, &format!("{text} Nothing was run."))
    };
    let value = match value {
        Ok(value) => value,
        Err(error) => {
            return refused(
                &audit,
                "invalid",
                format!("This button is broken: {error}."),
            );
        }
    };
    let row = match StateStore::open(&ctx.state_path).and_then(|s| s.button(&value.id)) {
        Ok(Some(row)) => row,
        Ok(None) => {
            return refused(&audit, "invalid", "This button is unknown here.".to_owned());
        }
        Err(error) => {
            tracing::error!(%error, "A runbook button could not be looked up in the state file.");
            return refused(
                &audit,
                "failed",
                "The state file could not be read.".to_owned(),
            );
        }
    };
    let shown = ctx.receivers.get(&row.receiver).filter(|r| {
        r.receiver
            .run_buttons(true)
            .any(|button| button.action == value.action)
    });
    let (Some(receiver), Some(action)) = (shown, ctx.action(&value.action)) else {
        let text = format!(
            "Receiver `{}` no longer shows this button.",
            clean(&row.receiver.0)
        );
        return refused(&audit, "invalid", text);
    };
    audit.target = run::audit_target(action, &value.params);
    let binds = match value.binds(action) {
        Ok(binds) => binds,
        Err(error) => {
            let text = format!("The button's values do not fit `{}`: {error}.", action.name);
            return refused(&audit, "invalid", text);
        }
    };
    let who = Requester {
        user,
        team,
        channel,
    };
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
        if let Decision::Denied { reason } = ctx.decide(allow, &who) {
            let text = format!("You may not {what} (`{}`): {reason}.", action.name);
            return refused(&audit, "denied", text);
        }
    }
    let Some(thread) = alert_thread(payload, channel) else {
        let text = "The click does not say which message it came from.".to_owned();
        return refused(&audit, "invalid", text);
    };
    let detail = format!(
        "runbook button on an alert of receiver {} (group {}); source {}; {}",
        row.receiver,
        row.group_key,
        action.source,
        waits_for(action)
    );
    if let Err(error) = audit.intent(&detail) {
        tracing::error!(%error, "The audit trail cannot be written; the action was not run.");
        return Accepted::say(
            "The audit trail cannot be written, so nothing was run; tell the dbalert operator.",
        );
    }
    let request = Request {
        ctx: ctx.clone(),
        action: action.clone(),
        args: value.params,
        binds,
        requested_by: user.to_owned(),
        team: team.to_owned(),
        channel: channel.map(str::to_owned),
        request_id: request_id.to_owned(),
        response_url: field(payload, &["response_url"]).to_owned(),
        thread: Some(AlertThread {
            receiver: row.receiver,
            thread,
        }),
    };
    request.start()
}

/// The thread of the clicked message: its parent when the message is itself a reply.
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
