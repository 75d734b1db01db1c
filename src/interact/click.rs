//! What a button click does: the one entry point the transports of `dbalert serve` (Socket
//! Mode, HTTP) call with each interaction payload, after they verified and acknowledged it.
//!
//! [`Clicks::handle`], for one `block_actions` payload:
//! 1. refuses a payload from another workspace than `slack_app.team_id`;
//! 2. reads it ([`super::payload`]); an unknown action or a broken payload is audited as
//!    `invalid` and nothing else happens;
//! 3. looks the button's value up in the state file (`buttons`); an id never made there is
//!    `invalid`;
//! 4. re-checks, on every click, that the clicker is allowed by the receiver's `allow:`
//!    ([`super::access::decide`], user groups looked up through [`UserGroups`]);
//! 5. acts (`act.rs`): acknowledge, unacknowledge, silence (also in the Alertmanager
//!    clusters), unsilence;
//! 6. updates the message (`chat.update`) to show the group's new state and the undo button;
//! 7. answers a denied or failed click with an ephemeral message through `response_url`.
//!
//! Each click writes two audit rows (intent, then outcome: `done`, `denied`, `invalid`,
//! `failed`) and one log line. The state file is opened for each click and written in short
//! transactions, as `silence add` does: `serve` never takes the lock `poll` holds, and both can
//! share the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde_json::{Value, json};
use tracing::{info, warn};

use super::access::{self, Decision, Requester};
use super::act::{Actor, button_of};
use super::config::{Access, SlackAppConfig};
use super::payload::{self, Click, Malformed, clean};
use super::silences::Clusters;
use super::usergroups::UserGroups;
use crate::sink::http::{self, TransportConfig};
use crate::sink::web_api::{self, WebApi};
use crate::sink::{BuildError, Receiver, ReceiverName};
use crate::state::{AuditEntry, AuditPhase, ButtonRow, StateStore};

/// How long a Web API call or a reply may take.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why clicks cannot be handled with a config.
#[derive(Debug, thiserror::Error)]
pub enum ClicksError {
    #[error("the config has no `slack_app:` section; add it (docs/slack-app.md) to receive clicks")]
    NoSlackApp,
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// How a click ended, as the audit trail's outcome row says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Denied,
    Invalid,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Denied => "denied",
            Self::Invalid => "invalid",
            Self::Failed => "failed",
        }
    }
}

/// What became of one click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub outcome: Outcome,
    /// Why, in words (the audit row's `detail`).
    pub detail: String,
}

/// Everything a click needs, built once from the config; shared by every click (`&self`).
#[derive(Debug)]
pub struct Clicks {
    slack_app: SlackAppConfig,
    access: Access,
    receivers: BTreeMap<ReceiverName, Receiver>,
    clusters: Clusters,
    state_path: PathBuf,
    api: WebApi,
    client: reqwest::Client,
    groups: UserGroups,
}

impl Clicks {
    /// Builds the handler from a config's `slack_app:` (`None`: the config has none),
    /// `access:` and receivers, writing to the state file at `state_path`:
    /// `Clicks::new(config.slack_app.as_ref(), &config.access, &config.receivers, &config.state.path)`.
    pub fn new(
        slack_app: Option<&SlackAppConfig>,
        access: &Access,
        receivers: &BTreeMap<ReceiverName, Receiver>,
        state_path: &Path,
    ) -> Result<Self, ClicksError> {
        let slack_app = slack_app.cloned().ok_or(ClicksError::NoSlackApp)?;
        let client = http::client(
            &ReceiverName("slack_app".to_owned()),
            &TransportConfig::default(),
            TIMEOUT,
        )?;
        let api = WebApi::new(&slack_app.api_url, client.clone());
        Ok(Self {
            groups: UserGroups::new(api.clone(), slack_app.bot_token.clone()),
            access: access.clone(),
            receivers: receivers.clone(),
            clusters: Clusters::build(receivers)?,
            state_path: state_path.to_owned(),
            slack_app,
            api,
            client,
        })
    }

    /// The user group lookups (and their cache) the clicks use, for others deciding access.
    pub fn user_groups(&self) -> &UserGroups {
        &self.groups
    }

    /// Handles one interaction payload (Slack's JSON, e.g. a `block_actions` payload).
    /// `request_id` ties its two audit rows together (the envelope id, say). Never fails: what
    /// went wrong is the outcome, audited, logged, and told to the clicker when it is theirs to
    /// know.
    pub async fn handle(&self, payload: &Value, request_id: &str) -> Handled {
        let (user, channel, what) = payload::who_where_what(payload);
        let audit = Audit {
            path: &self.state_path,
            request_id,
            actor: user.clone(),
            channel,
            what,
        };
        let handled = self.decide_and_act(payload, &audit).await;
        info!(
            request_id,
            user = %audit.actor,
            action = %audit.what,
            outcome = handled.outcome.as_str(),
            detail = %handled.detail,
            "Click handled."
        );
        handled
    }

    async fn decide_and_act(&self, payload: &Value, audit: &Audit<'_>) -> Handled {
        let team = payload["team"]["id"]
            .as_str()
            .or_else(|| payload["user"]["team_id"].as_str());
        if let Some(team) = team.filter(|t| *t != self.slack_app.team_id) {
            let detail = format!(
                "from workspace {}, not {}; refused",
                clean(team),
                self.slack_app.team_id
            );
            return audit.both("", Outcome::Denied, detail);
        }
        let click = match payload::parse(payload) {
            Ok(click) => click,
            Err(malformed) => return audit.both("", Outcome::Invalid, invalid(&malformed)),
        };
        let row = match StateStore::open(&self.state_path).and_then(|s| s.button(click.action.id()))
        {
            Ok(Some(row)) => row,
            Ok(None) => {
                let detail = "no button with this value in the state file".to_owned();
                // The value is the clicker's text: kept short and clean in the trail.
                return audit.both(&clean(click.action.id()), Outcome::Invalid, detail);
            }
            Err(error) => {
                let handled = audit.both("", Outcome::Failed, error.to_string());
                self.reply(
                    &click,
                    "Sorry, dbalert could not read its state file; nothing was changed.",
                )
                .await;
                return handled;
            }
        };
        audit.write(AuditPhase::Intent, &row.group_key, "requested", "");
        let handled = self.checked(&click, &row).await;
        audit.write(
            AuditPhase::Outcome,
            &row.group_key,
            handled.outcome.as_str(),
            &handled.detail,
        );
        handled
    }

    /// Checks that the receiver still shows this button and that the clicker may use it,
    /// then acts and updates the message.
    async fn checked(&self, click: &Click, row: &ButtonRow) -> Handled {
        let Some(receiver) = self.receivers.get(&row.receiver) else {
            return handled(
                Outcome::Invalid,
                format!("receiver `{}` is no longer configured", row.receiver),
            );
        };
        let buttons = receiver.buttons(true);
        if !buttons.contains(&button_of(&click.action)) {
            return handled(
                Outcome::Invalid,
                format!("receiver `{}` no longer shows this button", row.receiver),
            );
        }
        let allow = receiver.interactive.allow.as_deref();
        let groups = self
            .groups
            .members(&access::groups_to_look_up(&self.access, allow))
            .await;
        let who = Requester {
            user: &click.user,
            team: &click.team,
            channel: Some(&click.channel),
        };
        match access::decide(&self.access, &self.slack_app.team_id, allow, &who, &groups) {
            Decision::Denied { reason } => {
                self.reply(
                    click,
                    &format!("You cannot do this here: {reason}. Nothing was changed."),
                )
                .await;
                handled(Outcome::Denied, reason)
            }
            Decision::Allowed { principal } => {
                let actor = Actor {
                    state_path: &self.state_path,
                    clusters: &self.clusters,
                    api: &self.api,
                    token: &self.slack_app.bot_token,
                };
                let result = actor.act(click, row, buttons).await;
                match result {
                    Ok(done) => {
                        if let Some(problems) = &done.problems {
                            self.reply(click, problems).await;
                        }
                        handled(
                            Outcome::Done,
                            format!("allowed as `{principal}`; {}", done.detail),
                        )
                    }
                    Err(error) => {
                        self.reply(
                            click,
                            &format!("Sorry, that did not work: {error}. Nothing was changed."),
                        )
                        .await;
                        handled(Outcome::Failed, error)
                    }
                }
            }
        }
    }

    /// An ephemeral message to the clicker through the payload's `response_url`; a failure is
    /// logged (without the URL, a bearer capability).
    async fn reply(&self, click: &Click, text: &str) {
        let Some(url) = click.response_url.as_deref() else {
            return;
        };
        let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
        let result = web_api::respond(&self.client, url, &body).await;
        if let Err(error) = result {
            warn!(%error, "Cannot send the ephemeral reply to a click.");
        }
    }
}

/// The audit rows of one click.
struct Audit<'a> {
    path: &'a Path,
    request_id: &'a str,
    actor: String,
    channel: Option<String>,
    what: String,
}

impl Audit<'_> {
    /// Writes a row. A trail that cannot be written is logged: the click itself already
    /// happened or was refused.
    fn write(&self, phase: AuditPhase, target: &str, outcome: &str, detail: &str) {
        let entry = AuditEntry {
            at: Timestamp::now(),
            request_id: self.request_id.to_owned(),
            phase,
            actor: self.actor.clone(),
            channel: self.channel.clone(),
            what: self.what.clone(),
            target: target.to_owned(),
            outcome: outcome.to_owned(),
            detail: detail.to_owned(),
        };
        if let Err(error) = StateStore::open(self.path).and_then(|mut s| s.audit(&entry)) {
            warn!(request_id = self.request_id, %error, "Cannot write the audit trail.");
        }
    }

    /// The intent and the outcome of a click that ends before it is looked up.
    fn both(&self, target: &str, outcome: Outcome, detail: String) -> Handled {
        self.write(AuditPhase::Intent, target, "requested", "");
        self.write(AuditPhase::Outcome, target, outcome.as_str(), &detail);
        handled(outcome, detail)
    }
}

fn handled(outcome: Outcome, detail: String) -> Handled {
    Handled { outcome, detail }
}

fn invalid(malformed: &Malformed) -> String {
    format!("not a click dbalert acts on: {malformed}")
}
