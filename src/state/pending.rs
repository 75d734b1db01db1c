//! Action requests waiting for someone: the requester's confirmation, or a second person's
//! approval. A request is taken at most once (a double-clicked button runs it once) and only
//! before it expires; taking it is one conditional `UPDATE`, so two clicks racing in two
//! processes still agree on which one won.

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::store::{StateError, StateStore, Thread, parse_time};
use crate::config::ReceiverName;

/// What a request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The requester's Confirm (or Cancel).
    Confirm,
    /// A second person's Approve (or Reject).
    Approval,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::Approval => "approval",
        }
    }
}

/// One waiting request, as the slash command made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    /// The slash command's request id; the audit rows share it.
    pub id: String,
    pub action: String,
    /// The arguments as given, by parameter name (JSON), validated again when run.
    pub args: String,
    pub requested_by: String,
    pub team_id: String,
    pub channel_id: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// The alert thread a request's result is posted in: the request was made with a runbook
/// button on that message, and `receiver`'s token posts there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertThread {
    pub receiver: ReceiverName,
    pub thread: Thread,
}

/// Why a request could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotTaken {
    /// No request has this id.
    Unknown,
    /// Someone took it already (or it waits for another stage).
    Taken,
    /// It expired at this time.
    Expired(Timestamp),
}

impl StateStore {
    /// Saves a request that waits at `stage`.
    pub fn add_pending(
        &mut self,
        request: &PendingRequest,
        stage: Stage,
    ) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO action_requests (id, action, args, requested_by, team_id,
                     channel_id, stage, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    request.id,
                    request.action,
                    request.args,
                    request.requested_by,
                    request.team_id,
                    request.channel_id,
                    stage.as_str(),
                    request.created_at.to_string(),
                    request.expires_at.to_string(),
                ],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Records that request `id`'s result goes to the alert thread `to`.
    pub fn set_request_thread(&mut self, id: &str, to: &AlertThread) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO action_threads (request_id, receiver, channel, thread_ts)
                 VALUES (?1, ?2, ?3, ?4)",
                params![id, to.receiver.0, to.thread.channel, to.thread.ts],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// The alert thread request `id`'s result goes to, if it was made with a runbook button.
    pub fn request_thread(&self, id: &str) -> Result<Option<AlertThread>, StateError> {
        self.conn
            .query_row(
                "SELECT receiver, channel, thread_ts FROM action_threads WHERE request_id = ?1",
                [id],
                |row| {
                    Ok(AlertThread {
                        receiver: ReceiverName(row.get(0)?),
                        thread: Thread {
                            channel: row.get(1)?,
                            ts: row.get(2)?,
                        },
                    })
                },
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Takes request `id` waiting at `stage` for `by`, at `now`. With `next`, the request moves
    /// on to that stage instead of being used up (a confirmed request that still needs an
    /// approval).
    pub fn take_pending(
        &mut self,
        id: &str,
        stage: Stage,
        next: Option<Stage>,
        by: &str,
        now: Timestamp,
    ) -> Result<Result<PendingRequest, NotTaken>, StateError> {
        let Some((request, current)) = self.pending(id)? else {
            return Ok(Err(NotTaken::Unknown));
        };
        if current != stage.as_str() {
            return Ok(Err(NotTaken::Taken));
        }
        if request.expires_at <= now {
            return Ok(Err(NotTaken::Expired(request.expires_at)));
        }
        let stage_after = next.map_or("taken", Stage::as_str);
        let changed = self
            .conn
            .execute(
                "UPDATE action_requests SET stage = ?3, taken_by = ?4
                 WHERE id = ?1 AND stage = ?2",
                params![id, stage.as_str(), stage_after, by],
            )
            .map_err(|e| self.error(e))?;
        Ok(if changed == 1 {
            Ok(request)
        } else {
            Err(NotTaken::Taken)
        })
    }

    /// Request `id` and the stage it is at (`taken` once used), without taking it.
    pub fn pending(&self, id: &str) -> Result<Option<(PendingRequest, String)>, StateError> {
        let row = self
            .conn
            .query_row(
                "SELECT action, args, requested_by, team_id, channel_id, stage, created_at,
                        expires_at
                 FROM action_requests WHERE id = ?1",
                [id],
                |row| -> rusqlite::Result<([String; 4], Option<String>, [String; 3])> {
                    Ok((
                        [row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?],
                        row.get::<_, Option<String>>(4)?,
                        [row.get(5)?, row.get(6)?, row.get(7)?],
                    ))
                },
            )
            .optional()
            .map_err(|e| self.error(e))?;
        let Some(([action, args, requested_by, team_id], channel_id, [stage, created, expires])) =
            row
        else {
            return Ok(None);
        };
        let times = parse_time(&created).and_then(|c| Ok((c, parse_time(&expires)?)));
        let (created_at, expires_at) =
            times.map_err(|reason| self.corrupt(format!("action request {id}: {reason}")))?;
        Ok(Some((
            PendingRequest {
                id: id.to_owned(),
                action,
                args,
                requested_by,
                team_id,
                channel_id,
                created_at,
                expires_at,
            },
            stage,
        )))
    }
}
