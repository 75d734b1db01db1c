//! The two entry points the Slack transports call: [`slash_command`] for `/dbalert …` and
//! [`button_click`] for the Confirm, Cancel, Approve and Reject buttons and the runbook buttons
//! on alert messages (`block_actions` payloads whose action id starts with
//! [`ACTION_ID_PREFIX`]).
//!
//! Both answer at once (the transport sends the answer as the HTTP response or the Socket Mode
//! ack, within Slack's 3 seconds) and do the database work afterwards, in a task whose handle
//! they return: the result goes to the payload's `response_url`. A `response_url` is a bearer
//! URL: it is never logged, and errors about it never name it.

mod click;
mod messages;
mod runbook;
mod slash;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::Duration as StdDuration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tracing::warn;

use super::audit::{Audit, AuditTableConfig, AuditTrail, DatabaseAudit};
use super::config::Action;
use crate::config::ReceiverName;
use crate::interact::Access;
use crate::interact::access::{Decision, GroupMembers, Requester, decide};
use crate::sink::http::{TransportConfig, client};
use crate::sink::slack_app::SlackApp;
use crate::sink::web_api::respond;
use crate::sink::{Receiver, ReceiverKind, SendError, Transport};
use crate::source::{Source, SourceConfig, SourceName};
use crate::state::AlertThread;

pub use click::button_click;
pub use slash::slash_command;

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
    audit_trail: AuditTrail,
    /// Where audit rows are copied, with `action_audit:`.
    database_audit: Option<DatabaseAudit>,
    client: reqwest::Client,
    /// Members of the user groups `access:` names, as the transport last looked them up
    /// (`usergroups.users.list`); a group missing here allows nobody.
    pub groups: RwLock<GroupMembers>,
    /// Whether acks are posted through `response_url` (by `dbalert serve`, whose transports
    /// acknowledge every request at once): an accepted request then posts its ack ("Running…",
    /// "needs your confirmation") before its result or its buttons, so they arrive in that order.
    pub acks_through_response_url: bool,
    /// The Slack app receivers with runbook buttons, by name ([`ActionContext::with_receivers`]).
    receivers: BTreeMap<ReceiverName, RunbookReceiver>,
}

/// A receiver whose messages carry runbook buttons: who may use them, which it shows, and
/// its Slack app, which posts a result in an alert's thread (paced and retried as the
/// receiver's messages are).
struct RunbookReceiver {
    receiver: Receiver,
    app: SlackApp,
}

/// The immediate answer, and the work left to do.
pub struct Accepted {
    /// The ephemeral text to answer with at once; empty for a button click.
    pub ack: String,
    /// The work that posts the result, if any; `dbalert serve` awaits it before it stops.
    pub work: Option<JoinHandle<()>>,
}

impl Accepted {
    /// The answer when a request's intent row cannot be written: nothing runs unaudited.
    fn unaudited(error: &crate::state::StateError) -> Self {
        tracing::error!(%error, "The audit trail cannot be written; the action was not run.");
        Self::say(
            "The audit trail cannot be written, so nothing was run; tell the dbalert operator.",
        )
    }

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
        audit_table: Option<&AuditTableConfig>,
    ) -> Result<Self, String> {
        let database_audit = match audit_table {
            Some(table) => {
                let source = sources
                    .get(&table.source)
                    .ok_or_else(|| format!("action_audit: no source `{}`", table.source))?;
                Some(DatabaseAudit::build(table, source)?)
            }
            None => None,
        };
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
            audit_trail: AuditTrail::new(state_path.clone()),
            state_path,
            database_audit,
            client,
            groups: RwLock::new(GroupMembers::new()),
            acks_through_response_url: false,
            receivers: BTreeMap::new(),
        })
    }

    /// Takes the Slack app receivers whose messages carry runbook buttons (`dbalert serve`),
    /// each with its Slack app as its config builds it (token, TLS and proxy settings).
    pub fn with_receivers(
        mut self,
        receivers: &BTreeMap<ReceiverName, Receiver>,
    ) -> Result<Self, String> {
        for (name, receiver) in receivers {
            let ReceiverKind::Slack(slack) = &receiver.kind else {
                continue;
            };
            if receiver.run_buttons(true).next().is_none() {
                continue;
            }
            let built = slack.build(name, &receiver.delivery);
            if let Transport::SlackApp(app) = built.map_err(|e| e.to_string())? {
                let receiver = receiver.clone();
                self.receivers
                    .insert(name.clone(), RunbookReceiver { receiver, app });
            }
        }
        Ok(self)
    }

    /// Waits until the audit rows handed to the database audit table so far are written;
    /// `dbalert serve` calls it before it stops.
    pub async fn flush_audit(&self) {
        if let Some(database) = &self.database_audit {
            database.flush().await;
        }
    }

    /// The user groups whose members a decision on some action may need (a runbook button's
    /// receiver's `allow:` included).
    pub fn groups_to_look_up(&self) -> std::collections::BTreeSet<String> {
        let receivers = (self.receivers.values()).flat_map(|r| {
            crate::interact::access::groups_to_look_up(
                &self.access,
                r.receiver.interactive.allow.as_deref(),
            )
        });
        (self.actions.iter())
            .flat_map(|action| {
                let approvers = action.approval.as_ref().map(|a| a.allow.as_slice());
                let mut groups =
                    crate::interact::access::groups_to_look_up(&self.access, Some(&action.allow));
                groups.extend(crate::interact::access::groups_to_look_up(
                    &self.access,
                    approvers,
                ));
                groups
            })
            .chain(receivers)
            .collect()
    }

    /// Posts `ack` to the `response_url` of `payload` as an ephemeral message (nothing when
    /// `ack` is empty): how `dbalert serve` answers a command it already acknowledged.
    pub async fn post_ack(&self, payload: &Value, ack: &str) {
        let url = field(payload, &["response_url"]);
        if !ack.is_empty() && !url.is_empty() {
            self.post(url, message("ephemeral", ack)).await;
        }
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
            trail: &self.audit_trail,
            database: self.database_audit.as_ref(),
            request_id: request_id.to_owned(),
            actor: actor.to_owned(),
            channel: channel.map(str::to_owned),
            what: format!("action:{action}"),
            target,
        }
    }

    /// Posts `text` as a reply in the alert thread `to`, with its receiver's token.
    async fn post_in_thread(&self, to: &AlertThread, text: &str) -> Result<(), SendError> {
        let receiver = self
            .receivers
            .get(&to.receiver)
            .ok_or_else(|| SendError::Request {
                endpoint: "chat.postMessage".to_owned(),
                message: format!("receiver `{}` has no runbook buttons now", to.receiver),
            })?;
        let body = json!({ "text": text, "unfurl_links": false, "unfurl_media": false });
        receiver.app.reply(&body, &to.thread).await.map(drop)
    }

    /// Posts `body` to a `response_url`; a failure is logged without the URL.
    async fn post(&self, response_url: &str, body: Value) {
        if let Err(error) = respond(&self.client, response_url, &body).await {
            warn!(%error, "The reply to a command could not be posted.");
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
