//! The two entry points the Slack transports call: [`slash_command`] for `/dbalert …` and
//! [`button_click`] for the Confirm, Cancel, Approve and Reject buttons (`block_actions`
//! payloads whose action id starts with [`ACTION_ID_PREFIX`]).
//!
//! Both answer at once (the transport sends the answer as the HTTP response or the Socket Mode
//! ack, within Slack's 3 seconds) and do the database work afterwards, in a task whose handle
//! they return: the result goes to the payload's `response_url`. A `response_url` is a bearer
//! URL: it is never logged, and errors about it never name it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration as StdDuration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tracing::warn;

use super::audit::Audit;
use super::config::Action;
use super::{grammar, run};
use crate::config::ReceiverName;
use crate::interact::Access;
use crate::interact::access::{Decision, GroupMembers, Requester, decide};
use crate::render::text::{escape, mrkdwn};
use crate::sink::http::{TransportConfig, client, exchange};
use crate::source::{Bind, Source, SourceConfig, SourceName};
use crate::state::{NotTaken, PendingRequest, Stage, StateStore};

/// The action ids of the buttons this module posts all start with this.
pub const ACTION_ID_PREFIX: &str = "dbalert.action.";
const CONFIRM: &str = "dbalert.action.confirm";
const CANCEL: &str = "dbalert.action.cancel";
const APPROVE: &str = "dbalert.action.approve";
const REJECT: &str = "dbalert.action.reject";
/// How long a post to a `response_url` may take.
const POST_TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// How much work rendering a `confirm` text may do (minijinja's fuel).
const CONFIRM_FUEL: u64 = 10_000;
/// The longest error text shown in Slack.
const MAX_ERROR_CHARS: usize = 1500;

/// What actions need at run time, built once by the transport (or `dbalert actions test`).
pub struct ActionContext {
    pub actions: Vec<Action>,
    pub access: Access,
    /// The workspace of `slack_app:`; requests from any other are refused.
    pub team_id: String,
    pub sources: BTreeMap<SourceName, Source>,
    pub state_path: PathBuf,
    client: reqwest::Client,
    /// Members of the user groups `access:` names, as the transport last looked them up
    /// (`usergroups.users.list`); a group missing here allows nobody.
    pub groups: RwLock<GroupMembers>,
}

/// The immediate answer, and the work left to do.
pub struct Accepted {
    /// The ephemeral text to answer with at once; empty for a button click.
    pub ack: String,
    /// The work that posts the result, if any; `dbalert serve` awaits it before it stops.
    pub work: Option<JoinHandle<()>>,
}

impl Accepted {
    fn say(ack: impl Into<String>) -> Self {
        Self {
            ack: ack.into(),
            work: None,
        }
    }
}

impl ActionContext {
    /// Builds the sources the actions use; nothing connects yet.
    pub fn new(
        actions: Vec<Action>,
        access: Access,
        team_id: String,
        sources: &BTreeMap<SourceName, SourceConfig>,
        state_path: PathBuf,
    ) -> Result<Self, String> {
        let mut built = BTreeMap::new();
        for action in &actions {
            if built.contains_key(&action.source) {
                continue;
            }
            let config = sources.get(&action.source).ok_or_else(|| {
                format!("action `{}`: no source `{}`", action.name, action.source)
            })?;
            let source = config
                .build(action.source.clone())
                .map_err(|e| e.to_string())?;
            built.insert(action.source.clone(), source);
        }
        let client = client(
            &ReceiverName("response_url".to_owned()),
            &TransportConfig::default(),
            POST_TIMEOUT,
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            actions,
            access,
            team_id,
            sources: built,
            state_path,
            client,
            groups: RwLock::new(GroupMembers::new()),
        })
    }

    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name == name)
    }

    /// Whether `who` may do what `allow` names.
    pub fn decide(&self, allow: &[String], who: &Requester) -> Decision {
        let groups = self.groups.read().unwrap_or_else(|p| p.into_inner());
        decide(&self.access, &self.team_id, Some(allow), who, &groups)
    }

    fn audit(
        &self,
        request_id: &str,
        actor: &str,
        channel: Option<&str>,
        action: &str,
        target: String,
    ) -> Audit<'_> {
        Audit {
            state_path: &self.state_path,
            request_id: request_id.to_owned(),
            actor: actor.to_owned(),
            channel: channel.map(str::to_owned),
            what: format!("action:{action}"),
            target,
        }
    }

    /// Posts `body` to a `response_url`; a failure is logged without the URL.
    async fn post(&self, response_url: &str, body: Value) {
        let outcome = exchange(self.client.post(response_url).json(&body), "response_url").await;
        match outcome {
            Ok(answer) if (200..300).contains(&answer.status) => {}
            Ok(answer) => {
                warn!(status = answer.status, reason = %crate::sink::http::reason(&answer.body), "Slack refused the reply to a command.")
            }
            Err(error) => warn!(%error, "The reply to a command could not be posted."),
        }
    }
}

/// The fields of a payload this module reads, as text ("" when missing).
fn field<'a>(payload: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(payload, |v, key| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A message for a `response_url`.
fn message(response_type: &str, text: &str) -> Value {
    json!({ "response_type": response_type, "replace_original": false, "text": text })
}

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
    let (args, checked) = match grammar::assign(&action.params, &words[1..]) {
        Ok(args) => {
            let checked = run::validate(action, &args);
            (args, checked)
        }
        Err(error) => {
            let given = words[1..]
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    (
                        w.name.clone().unwrap_or_else(|| format!("#{}", i + 1)),
                        w.value.clone(),
                    )
                })
                .collect();
            (given, Err(error))
        }
    };
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
    let detail = format!(
        "source {}; {}",
        action.source,
        if action.confirm.is_some() {
            "awaiting confirmation"
        } else if action.approval.is_some() {
            "awaiting approval"
        } else {
            "running"
        }
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
        args,
        binds,
        requested_by: user.to_owned(),
        team: team.to_owned(),
        channel: channel.map(str::to_owned),
        request_id: request_id.to_owned(),
        response_url: field(payload, &["response_url"]).to_owned(),
    };
    request.start()
}

/// Refuses a request: audited as `outcome`, answered with `text`.
fn refuse(audit: &Audit, outcome: &str, text: &str) -> Accepted {
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

/// An accepted, audited request, on its way to run.
struct Request {
    ctx: Arc<ActionContext>,
    action: Action,
    args: BTreeMap<String, String>,
    binds: Vec<(String, Bind)>,
    requested_by: String,
    team: String,
    channel: Option<String>,
    request_id: String,
    response_url: String,
}

impl Request {
    /// Holds the request for its confirmation or approval, or runs it; answers at once.
    fn start(self) -> Accepted {
        let stage = match (&self.action.confirm, &self.action.approval) {
            (Some(_), _) => Some(Stage::Confirm),
            (None, Some(_)) => Some(Stage::Approval),
            (None, None) => None,
        };
        let invocation = mrkdwn(&run::invocation(&self.action, &self.args), 500);
        let Some(stage) = stage else {
            let ack = format!(
                "Running `{invocation}` on {}…",
                escape(&self.action.source.0)
            );
            let work = tokio::spawn(async move { self.execute(None).await });
            return Accepted {
                ack,
                work: Some(work),
            };
        };
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
        let saved =
            StateStore::open(&self.ctx.state_path).and_then(|mut s| s.add_pending(&pending, stage));
        if let Err(error) = saved {
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
        let work = tokio::spawn(async move { self.ctx.post(&self.response_url, body).await });
        Accepted {
            ack,
            work: Some(work),
        }
    }

    /// Runs the statement, posts the result (or the error, to the requester alone) and writes
    /// the outcome row.
    async fn execute(self, approver: Option<String>) {
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
                self.ctx
                    .post(
                        &self.response_url,
                        message(self.action.response.as_str(), &text),
                    )
                    .await;
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
fn confirm_message(
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
fn approval_message(action: &Action, invocation: &str, requested_by: &str, id: &str) -> Value {
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
    let found = StateStore::open(&ctx.state_path).and_then(|store| store.pending(&click.request));
    let (pending, action) = match found {
        Ok(Some((pending, _))) => match ctx.action(&pending.action) {
            Some(action) => (pending, action.clone()),
            None => {
                return reply(format!(
                    "The action `{}` is no longer configured.",
                    pending.action
                ))
                .await;
            }
        },
        Ok(None) => return reply("This request is unknown here.".to_owned()).await,
        Err(error) => {
            tracing::error!(%error, click = %click_id, "A click could not be read against the state file.");
            return reply("The request could not be read; nothing was run.".to_owned()).await;
        }
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
        request_id: pending.id,
        response_url: click.response_url.clone(),
    };
    request.execute(approver).await;
}
