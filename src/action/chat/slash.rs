//! `/dbalert …`: help, usage, refusals, and an accepted request held for a click or run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::messages::{approval_message, confirm_message};
use super::{Accepted, ActionContext, MAX_ERROR_CHARS, field, message};
use crate::action::audit::Audit;
use crate::action::config::{Action, Response};
use crate::action::{grammar, run};
use crate::interact::access::{Decision, Requester};
use crate::render::text::{escape, mrkdwn};
use crate::source::Bind;
use crate::state::{AlertThread, PendingRequest, Stage, StateError, StateStore};

/// Handles one slash command payload (Slack's fields, as a JSON object: `team_id`, `user_id`,
/// `channel_id`, `command`, `text`, `response_url`, …). Help, usage errors and refusals are
/// the ack itself; an accepted request is audited, then run (or held for a click) afterwards.
pub async fn slash_command(
    ctx: &Arc<ActionContext>,
    payload: &Value,
    request_id: &str,
) -> Accepted {
    let user = field(payload, &["user_id"]);
    let team = field(payload, &["team_id"]);
    let channel = Some(field(payload, &["channel_id"])).filter(|c| !c.is_empty());
    let command = Some(field(payload, &["command"]))
        .filter(|c| !c.is_empty())
        .unwrap_or("/dbalert");
    let who = Requester {
        user,
        team,
        channel,
    };
    let words = match grammar::words(field(payload, &["text"])) {
        Ok(words) => words,
        Err(error) => {
            return Accepted::say(format!("{error}. `{command} help` lists the actions."));
        }
    };
    let Some(first) = words
        .first()
        .filter(|w| w.name.is_none() && w.value != "help")
    else {
        return Accepted::say(help(ctx, &who, command));
    };
    let Some(action) = ctx.action(&first.value) else {
        return Accepted::say(format!(
            "There is no action `{}`. `{command} help` lists the ones you may run.",
            mrkdwn(&first.value, 64)
        ));
    };
    let usage = format!("Usage: `{command} {}`", action.usage());
    let (args, checked) = arguments(action, &words[1..]);
    let audit = ctx.audit(
        request_id,
        user,
        channel,
        &action.name,
        run::audit_target(action, &args),
    );
    let binds = match checked {
        Ok(binds) => binds,
        Err(error) => return refuse(&audit, "invalid", &format!("{error}. {usage}")),
    };
    if let Decision::Denied { reason } = ctx.decide(&action.allow, &who) {
        return refuse(
            &audit,
            "denied",
            &format!("You may not run `{}`: {reason}.", action.name),
        );
    }
    let detail = format!("source {}; {}", action.source, waits_for(action));
    if let Err(error) = audit.intent(&detail) {
        return Accepted::unaudited(&error);
    }
    let request = Request {
        ctx: ctx.clone(),
        action: action.clone(),
        args,
        binds,
        requested_by: user.to_owned(),
        team: team.to_owned(),
        channel: channel.map(str::to_owned),
        request_id: request_id.to_owned(),
        response_url: field(payload, &["response_url"]).to_owned(),
        thread: None,
    };
    request.start()
}

/// The values to bind, or why the arguments were refused.
type Checked = Result<Vec<(String, Bind)>, String>;

/// The arguments by parameter name and, when they fit the parameters, the values to bind.
/// Arguments that do not fit are kept by their name or position, for the audit trail.
fn arguments(action: &Action, words: &[grammar::Word]) -> (BTreeMap<String, String>, Checked) {
    match grammar::assign(&action.params, words) {
        Ok(args) => {
            let checked = run::validate(action, &args);
            (args, checked)
        }
        Err(error) => {
            let given = words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let name = w.name.clone().unwrap_or_else(|| format!("#{}", i + 1));
                    (name, w.value.clone())
                })
                .collect();
            (given, Err(error))
        }
    }
}

/// What an accepted request does next, for its intent row.
pub(super) fn waits_for(action: &Action) -> &'static str {
    match (&action.confirm, &action.approval) {
        (Some(_), _) => "awaiting confirmation",
        (None, Some(_)) => "awaiting approval",
        (None, None) => "running",
    }
}

/// Refuses a request: audited as `outcome`, answered with `text`.
fn refuse(audit: &Audit<'_>, outcome: &str, text: &str) -> Accepted {
    if audit.intent("").is_ok() {
        audit.outcome(outcome, text);
    }
    Accepted::say(text)
}

/// The actions `who` may run, with their usage.
fn help(ctx: &ActionContext, who: &Requester, command: &str) -> String {
    let lines: Vec<String> = ctx
        .actions
        .iter()
        .filter(|a| ctx.decide(&a.allow, who).is_allowed())
        .map(|a| {
            format!(
                "• `{command} {}` {}",
                a.usage(),
                mrkdwn(&a.description, 200)
            )
        })
        .collect();
    if lines.is_empty() {
        return "There are no actions you may run here.".to_owned();
    }
    format!("Actions you may run here:\n{}", lines.join("\n"))
}

/// Answers `ack` at once and starts `work`. When acks go through `response_url`, the work
/// posts the ack itself first, so that nothing it posts (the result, the buttons) arrives before
/// it.
fn answer(
    ctx: Arc<ActionContext>,
    response_url: String,
    ack: String,
    work: impl Future<Output = ()> + Send + 'static,
) -> Accepted {
    let ack_first = ctx.acks_through_response_url.then(|| ack.clone());
    let answered = if ack_first.is_some() {
        String::new()
    } else {
        ack
    };
    let work = tokio::spawn(async move {
        if let Some(ack) = ack_first {
            ctx.post(&response_url, message("ephemeral", &ack)).await;
        }
        work.await
    });
    Accepted {
        ack: answered,
        work: Some(work),
    }
}

/// An accepted, audited request, on its way to run.
pub(super) struct Request {
    pub(super) ctx: Arc<ActionContext>,
    pub(super) action: Action,
    pub(super) args: BTreeMap<String, String>,
    pub(super) binds: Vec<(String, Bind)>,
    pub(super) requested_by: String,
    pub(super) team: String,
    pub(super) channel: Option<String>,
    pub(super) request_id: String,
    pub(super) response_url: String,
    /// The alert thread the result goes to (a runbook button's request); else the
    /// `response_url`.
    pub(super) thread: Option<AlertThread>,
}

impl Request {
    /// Holds the request for its confirmation or approval, or runs it; answers at once.
    pub(super) fn start(self) -> Accepted {
        let stage = match (&self.action.confirm, &self.action.approval) {
            (Some(_), _) => Some(Stage::Confirm),
            (None, Some(_)) => Some(Stage::Approval),
            (None, None) => None,
        };
        let invocation = mrkdwn(&run::invocation(&self.action, &self.args), 500);
        let (ctx, response_url) = (self.ctx.clone(), self.response_url.clone());
        let Some(stage) = stage else {
            let ack = format!(
                "Running `{invocation}` on {}…",
                escape(&self.action.source.0)
            );
            return answer(ctx, response_url, ack, self.execute(None));
        };
        if let Err(error) = self.hold(stage) {
            tracing::error!(%error, "An action request could not be saved; it was not run.");
            let audit = self.ctx.audit(
                &self.request_id,
                &self.requested_by,
                self.channel.as_deref(),
                &self.action.name,
                run::audit_target(&self.action, &self.args),
            );
            audit.outcome("failed", "the request could not be saved in the state file");
            return Accepted::say(
                "The request could not be saved, so nothing was run; tell the dbalert operator.",
            );
        }
        let ack = match stage {
            Stage::Confirm => format!("`{invocation}` needs your confirmation."),
            Stage::Approval => format!(
                "`{invocation}` needs a second person's approval; the request is posted in the channel."
            ),
        };
        let body = match stage {
            Stage::Confirm => {
                confirm_message(&self.action, &self.args, &self.binds, &self.request_id)
            }
            Stage::Approval => approval_message(
                &self.action,
                &invocation,
                &self.requested_by,
                &self.request_id,
            ),
        };
        let post = {
            let (ctx, response_url) = (ctx.clone(), response_url.clone());
            async move { ctx.post(&response_url, body).await }
        };
        answer(ctx, response_url, ack, post)
    }

    /// Saves the request to wait at `stage`, with the alert thread its result goes to.
    fn hold(&self, stage: Stage) -> Result<(), StateError> {
        let now = jiff::Timestamp::now();
        let pending = PendingRequest {
            id: self.request_id.clone(),
            action: self.action.name.clone(),
            args: serde_json::to_string(&self.args).expect("a map of strings always serializes"),
            requested_by: self.requested_by.clone(),
            team_id: self.team.clone(),
            channel_id: self.channel.clone(),
            created_at: now,
            expires_at: now + self.action.ttl().get(),
        };
        let mut store = StateStore::open(&self.ctx.state_path)?;
        store.add_pending(&pending, stage)?;
        match &self.thread {
            Some(thread) => store.set_request_thread(&pending.id, thread),
            None => Ok(()),
        }
    }

    /// Posts the result: in the alert's thread for a runbook button's request (unless the
    /// action's `response` is ephemeral), else, or when the thread refuses it, through the
    /// `response_url`.
    async fn post_result(&self, text: &str) {
        let response = self.action.response;
        if let Some(thread) = self
            .thread
            .as_ref()
            .filter(|_| response == Response::InChannel)
        {
            match self.ctx.post_in_thread(thread, text).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, "The result could not be posted in the alert's thread; it goes to the person who clicked instead.")
                }
            }
        }
        self.ctx
            .post(&self.response_url, message(response.as_str(), text))
            .await;
    }

    /// Runs the statement, posts the result (or the error, to the requester alone) and writes
    /// the outcome row.
    pub(super) async fn execute(self, approver: Option<String>) {
        let audit = self.ctx.audit(
            &self.request_id,
            &self.requested_by,
            self.channel.as_deref(),
            &self.action.name,
            run::audit_target(&self.action, &self.args),
        );
        let approved = approver
            .map(|a| format!(" approver={a}"))
            .unwrap_or_default();
        let Some(source) = self.ctx.sources.get(&self.action.source) else {
            audit.outcome("failed", "the action's source is not configured");
            return;
        };
        let statement = run::statement(
            &self.action,
            self.binds.clone(),
            &self.requested_by,
            &self.request_id,
        );
        let started = Instant::now();
        let outcome = source.execute(&statement).await;
        let elapsed = started.elapsed().as_millis();
        match outcome {
            Ok(outcome) => {
                let text = run::result_text(&self.action, &outcome, elapsed);
                let text = format!("{text}\n_asked by <@{}>_", self.requested_by);
                self.post_result(&text).await;
                let rows = outcome.rows.rows.len() as u64 + outcome.affected;
                audit.outcome(
                    "done",
                    &format!("rows={rows} elapsed_ms={elapsed}{approved}"),
                );
            }
            Err(error) => {
                let (code, text) = run::error_text(&error);
                let shown = format!(
                    "*{}* failed: {}",
                    self.action.name,
                    mrkdwn(&text, MAX_ERROR_CHARS)
                );
                self.ctx
                    .post(&self.response_url, message("ephemeral", &shown))
                    .await;
                audit.outcome(
                    "failed",
                    &format!("error={code} elapsed_ms={elapsed}{approved}: {text}"),
                );
            }
        }
    }
}
