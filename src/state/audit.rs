//! The audit trail in the state file: one row for each thing a person asked dbalert to do from
//! Slack or the shell (a button click, an action) and one for what came of it. The table is
//! append-only (triggers refuse updates and deletes), and, like silences, it is written in one
//! short transaction that needs no [`super::StateLock`].

use jiff::Timestamp;
use rusqlite::params;

use super::store::{StateError, StateStore, parse_time};

/// Which half of a request a row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditPhase {
    /// What was asked, by whom, before anything ran.
    Intent,
    /// What came of it.
    Outcome,
}

/// One row of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: Timestamp,
    /// Ties an intent to its outcome (Slack's envelope or trigger id, or one dbalert made).
    pub request_id: String,
    pub phase: AuditPhase,
    /// Who asked: a Slack user id (`U…`), or `cli:<unix user>`.
    pub actor: String,
    /// Where they asked, for Slack requests.
    pub channel: Option<String>,
    /// What they asked for: a button's action id (`dbalert.ack`) or `action:<name>`.
    pub what: String,
    /// What it was about: a group key, or an action's parameters as JSON (secrets redacted).
    pub target: String,
    /// `requested` for an intent; `done`, `denied`, `invalid`, `failed`, `expired`, … after.
    pub outcome: String,
    /// Why, in words: the refusal's reason, the error, the rows affected.
    pub detail: String,
}

impl AuditPhase {
    fn as_str(self) -> &'static str {
        match self {
            Self::Intent => "intent",
            Self::Outcome => "outcome",
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "intent" => Ok(Self::Intent),
            "outcome" => Ok(Self::Outcome),
            other => Err(format!("unknown phase {other:?}")),
        }
    }
}

impl StateStore {
    /// Appends `entry` to the audit trail.
    pub fn audit(&mut self, entry: &AuditEntry) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO audit (at, request_id, phase, actor, channel, what, target, outcome,
                                    detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    entry.at.to_string(),
                    entry.request_id,
                    entry.phase.as_str(),
                    entry.actor,
                    entry.channel,
                    entry.what,
                    entry.target,
                    entry.outcome,
                    entry.detail,
                ],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// The newest `limit` rows of the audit trail, oldest first.
    pub fn audit_trail(&self, limit: usize) -> Result<Vec<AuditEntry>, StateError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT at, request_id, phase, actor, channel, what, target, outcome, detail
                 FROM (SELECT * FROM audit ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
            )
            .map_err(|e| self.error(e))?;
        let rows: Vec<([String; 4], Option<String>, [String; 4])> = statement
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                Ok((
                    [row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?],
                    row.get(4)?,
                    [row.get(5)?, row.get(6)?, row.get(7)?, row.get(8)?],
                ))
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.error(e))?;
        rows.into_iter()
            .map(
                |([at, request_id, phase, actor], channel, [what, target, outcome, detail])| {
                    let at = parse_time(&at);
                    let phase = AuditPhase::parse(&phase);
                    let (at, phase) = at.and_then(|at| Ok((at, phase?))).map_err(|reason| {
                        self.corrupt(format!("audit row of request {request_id}: {reason}"))
                    })?;
                    Ok(AuditEntry {
                        at,
                        request_id,
                        phase,
                        actor,
                        channel,
                        what,
                        target,
                        outcome,
                        detail,
                    })
                },
            )
            .collect()
    }
}
