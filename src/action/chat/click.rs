//! A click on Confirm, Cancel, Approve or Reject: who may click what, taking the held request
//! once, and running it as the requester.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::messages::approval_message;
use super::slash::Request;
use super::{
    ACTION_ID_PREFIX, APPROVE, Accepted, ActionContext, CANCEL, CONFIRM, REJECT, field, message,
};
use crate::action::audit::Audit;
use crate::action::config::Action;
use crate::action::run;
use crate::interact::access::{Decision, Requester};
use crate::render::controls::is_run;
use crate::render::text::mrkdwn;
use crate::state::{AlertThread, NotTaken, PendingRequest, Stage, StateStore};

/// A click on one of this module's buttons, as the `block_actions` payload says.
struct Click {
    action_id: String,
    /// The request's id (the button's `value`).
    request: String,
    user: String,
    team: String,
    channel: Option<String>,
    response_url: String,
}

impl Click {
    fn read(payload: &Value) -> Option<Self> {
        let action = payload.get("actions")?.get(0)?;
        let action_id = action.get("action_id")?.as_str()?;
        if !action_id.starts_with(ACTION_ID_PREFIX) {
            return None;
        }
        let team = Some(field(payload, &["team", "id"]))
            .filter(|t| !t.is_empty())
            .unwrap_or(field(payload, &["user", "team_id"]));
        Some(Self {
            action_id: action_id.to_owned(),
            request: action.get("value")?.as_str()?.to_owned(),
            user: field(payload, &["user", "id"]).to_owned(),
            team: team.to_owned(),
            channel: Some(field(payload, &["channel", "id"]))
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
            response_url: field(payload, &["response_url"]).to_owned(),
        })
    }
}

/// Handles one `block_actions` payload whose action id starts with [`ACTION_ID_PREFIX`] (others
/// are not this module's, and are left alone). The ack is empty; what the click did is posted
/// to the payload's `response_url`.
pub async fn button_click(ctx: &Arc<ActionContext>, payload: &Value, request_id: &str) -> Accepted {
    if is_run(payload["actions"][0]["action_id"].as_str().unwrap_or("")) {
        return super::runbook::click(ctx, payload, request_id);
    }
    let Some(click) = Click::read(payload) else {
        return Accepted::say("");
    };
    let ctx = ctx.clone();
    let request_id = request_id.to_owned();
    let work = tokio::spawn(async move { on_click(ctx, click, request_id).await });
    Accepted {
        ack: String::new(),
        work: Some(work),
    }
}

async fn on_click(ctx: Arc<ActionContext>, click: Click, click_id: String) {
    let reply = |text: String| {
        let ctx = ctx.clone();
        let url = click.response_url.clone();
        async move { ctx.post(&url, message("ephemeral", &text)).await }
    };
    let (pending, action) = match held(&ctx, &click, &click_id) {
        Ok(found) => found,
        Err(text) => return reply(text).await,
    };
    let args: BTreeMap<String, String> = serde_json::from_str(&pending.args).unwrap_or_default();
    let audit = ctx.audit(
        &pending.id,
        &click.user,
        click.channel.as_deref(),
        &action.name,
        run::audit_target(&action, &args),
    );
    let verb = click
        .action_id
        .trim_start_matches(ACTION_ID_PREFIX)
        .to_owned();
    if let Err(refusal) = may_click(&ctx, &click, &pending, &action) {
        if audit.intent(&verb).is_ok() {
            audit.outcome("denied", &refusal);
        }
        return reply(refusal).await;
    }
    if let Err(error) = audit.intent(&verb) {
        tracing::error!(%error, "The audit trail cannot be written; the click was not acted on.");
        return reply("The audit trail cannot be written, so nothing was run.".to_owned()).await;
    }
    let stage = if matches!(click.action_id.as_str(), CONFIRM | CANCEL) {
        Stage::Confirm
    } else {
        Stage::Approval
    };
    let proceed = matches!(click.action_id.as_str(), CONFIRM | APPROVE);
    let next = (proceed && stage == Stage::Confirm && action.approval.is_some())
        .then_some(Stage::Approval);
    let taken = StateStore::open(&ctx.state_path).and_then(|mut store| {
        store.take_pending(
            &pending.id,
            stage,
            next,
            &click.user,
            jiff::Timestamp::now(),
        )
    });
    let pending = match taken {
        Ok(Ok(pending)) => pending,
        Ok(Err(NotTaken::Expired(at))) => {
            audit.outcome("expired", &format!("expired at {at}"));
            return reply(format!(
                "This request expired at {at}; run the command again."
            ))
            .await;
        }
        Ok(Err(NotTaken::Taken | NotTaken::Unknown)) => {
            audit.outcome("duplicate", "the request was already handled");
            return reply("This request was already handled.".to_owned()).await;
        }
        Err(error) => {
            audit.outcome("failed", &format!("the state file: {error}"));
            return reply("The request could not be taken; nothing was run.".to_owned()).await;
        }
    };
    finish_click(ctx.clone(), click, pending, action, args, audit, verb, next).await;
}

/// The request a click is about, and its action; or what to tell the clicker.
fn held(
    ctx: &ActionContext,
    click: &Click,
    click_id: &str,
) -> Result<(PendingRequest, Action), String> {
    match StateStore::open(&ctx.state_path).and_then(|store| store.pending(&click.request)) {
        Ok(Some((pending, _))) => match ctx.action(&pending.action) {
            Some(action) => Ok((pending, action.clone())),
            None => Err(format!(
                "The action `{}` is no longer configured.",
                pending.action
            )),
        },
        Ok(None) => Err("This request is unknown here.".to_owned()),
        Err(error) => {
            tracing::error!(%error, click = %click_id, "A click could not be read against the state file.");
            Err("The request could not be read; nothing was run.".to_owned())
        }
    }
}

/// Who may click what: the requester alone confirms or cancels; someone else, allowed by the
/// action's `approval:`, approves or rejects.
fn may_click(
    ctx: &ActionContext,
    click: &Click,
    pending: &PendingRequest,
    action: &Action,
) -> Result<(), String> {
    let clicker = Requester {
        user: &click.user,
        team: &click.team,
        channel: click.channel.as_deref(),
    };
    let requester = click.user == pending.requested_by;
    match click.action_id.as_str() {
        CONFIRM | CANCEL if !requester => Err(format!(
            "Only <@{}>, who asked, may confirm or cancel this request.",
            pending.requested_by
        )),
        CONFIRM | CANCEL => match ctx.decide(&action.allow, &clicker) {
            Decision::Denied { reason } => {
                Err(format!("You may not run `{}`: {reason}.", action.name))
            }
            Decision::Allowed { .. } => Ok(()),
        },
        APPROVE | REJECT if requester => {
            Err("You cannot approve (or reject) your own request; someone else must.".to_owned())
        }
        APPROVE | REJECT => {
            let allow = action
                .approval
                .as_ref()
                .map(|a| a.allow.clone())
                .unwrap_or_default();
            match ctx.decide(&allow, &clicker) {
                Decision::Denied { reason } => {
                    Err(format!("You may not approve `{}`: {reason}.", action.name))
                }
                Decision::Allowed { .. } => Ok(()),
            }
        }
        other => Err(format!("Unknown button `{}`.", mrkdwn(other, 64))),
    }
}

/// After a request was taken: cancel, ask for the approval, or re-check and run it.
#[allow(clippy::too_many_arguments)]
async fn finish_click(
    ctx: Arc<ActionContext>,
    click: Click,
    pending: PendingRequest,
    action: Action,
    args: BTreeMap<String, String>,
    audit: Audit<'_>,
    verb: String,
    next: Option<Stage>,
) {
    let reply = |text: String| {
        let ctx = ctx.clone();
        let url = click.response_url.clone();
        async move { ctx.post(&url, message("ephemeral", &text)).await }
    };
    let invocation = mrkdwn(&run::invocation(&action, &args), 500);
    if matches!(click.action_id.as_str(), CANCEL | REJECT) {
        let outcome = if click.action_id == CANCEL {
            "cancelled"
        } else {
            "rejected"
        };
        audit.outcome(outcome, &format!("{verb} by {}", click.user));
        let text = format!("`{invocation}` was {outcome} by <@{}>.", click.user);
        return ctx
            .post(
                &click.response_url,
                message(action.response.as_str(), &text),
            )
            .await;
    }
    if next == Some(Stage::Approval) {
        audit.outcome("confirmed", "awaiting approval");
        let body = approval_message(&action, &invocation, &pending.requested_by, &pending.id);
        return ctx.post(&click.response_url, body).await;
    }
    // Run as the requester: their access and the values are checked again, as of now.
    let requester = Requester {
        user: &pending.requested_by,
        team: &pending.team_id,
        channel: pending.channel_id.as_deref(),
    };
    let binds = match run::validate(&action, &args) {
        Ok(binds) => binds,
        Err(error) => {
            audit.outcome("invalid", &error);
            return reply(format!("`{invocation}` is no longer valid: {error}")).await;
        }
    };
    if let Decision::Denied { reason } = ctx.decide(&action.allow, &requester) {
        audit.outcome("denied", &reason);
        return reply(format!(
            "<@{}> may no longer run `{}`: {reason}.",
            pending.requested_by, action.name
        ))
        .await;
    }
    let approver = (click.action_id == APPROVE).then(|| click.user.clone());
    let request = Request {
        ctx: ctx.clone(),
        action,
        args,
        binds,
        requested_by: pending.requested_by,
        team: pending.team_id,
        channel: pending.channel_id,
        thread: thread_of(&ctx, &pending.id),
        request_id: pending.id,
        response_url: click.response_url.clone(),
    };
    request.execute(approver).await;
}

/// The alert thread a held request's result goes to, if a runbook button made it. A state
/// file that cannot say sends the result to the clicker instead.
fn thread_of(ctx: &ActionContext, request_id: &str) -> Option<AlertThread> {
    match StateStore::open(&ctx.state_path).and_then(|s| s.request_thread(request_id)) {
        Ok(thread) => thread,
        Err(error) => {
            tracing::warn!(%error, "The alert thread of a request could not be read.");
            None
        }
    }
}
