//! The two audit rows of every request, intent then outcome, written to the state file's audit
//! trail and logged, one line each.

use std::path::Path;

use jiff::Timestamp;
use tracing::info;

use crate::state::{AuditEntry, AuditPhase, StateError, StateStore};

/// Who asked for which action, with what; each row written adds what happened.
#[derive(Debug, Clone)]
pub struct Audit<'a> {
    pub state_path: &'a Path,
    pub request_id: String,
    /// A Slack user ID, or `cli:<unix user>`.
    pub actor: String,
    pub channel: Option<String>,
    /// `action:<name>`.
    pub what: String,
    /// The arguments as JSON, secrets redacted.
    pub target: String,
}

impl Audit<'_> {
    /// The intent row: what was asked, before anything runs. An action must not run when this
    /// cannot be written.
    pub fn intent(&self, detail: &str) -> Result<(), StateError> {
        self.write(AuditPhase::Intent, "requested", detail)
    }

    /// The outcome row. A failure to write it is logged: what happened cannot be undone.
    pub fn outcome(&self, outcome: &str, detail: &str) {
        if let Err(error) = self.write(AuditPhase::Outcome, outcome, detail) {
            tracing::error!(request_id = %self.request_id, %error, "The outcome of an action could not be written to the audit trail.");
        }
    }

    fn write(&self, phase: AuditPhase, outcome: &str, detail: &str) -> Result<(), StateError> {
        let entry = AuditEntry {
            at: Timestamp::now(),
            request_id: self.request_id.clone(),
            phase,
            actor: self.actor.clone(),
            channel: self.channel.clone(),
            what: self.what.clone(),
            target: self.target.clone(),
            outcome: outcome.to_owned(),
            detail: detail.to_owned(),
        };
        StateStore::open(self.state_path)?.audit(&entry)?;
        info!(
            request_id = %entry.request_id,
            actor = %entry.actor,
            channel = entry.channel.as_deref().unwrap_or("-"),
            what = %entry.what,
            params = %entry.target,
            outcome = %entry.outcome,
            detail = %entry.detail,
            "Action {}.",
            if phase == AuditPhase::Intent { "requested" } else { "ended" }
        );
        Ok(())
    }
}
