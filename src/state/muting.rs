//! The silences and acknowledgements in the state file. `silence add` and `serve` write them
//! while a `poll` may be running: each write is one short SQLite transaction, which the other
//! connection's busy timeout waits for, so they need no [`super::StateLock`].

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::store::{Ack, StateError, StateStore, parse_time};
use crate::route::{Matchers, Silence, SilenceState, parse};

impl StateStore {
    /// Every silence, active, pending and expired, newest first.
    pub fn silences(&self) -> Result<Vec<Silence>, StateError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT id, matchers, starts_at, ends_at, created_by, comment FROM silences
                 ORDER BY starts_at DESC, id",
            )
            .map_err(|e| self.error(e))?;
        let rows: Vec<[String; 6]> = statement
            .query_map([], |row| {
                Ok([
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ])
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.error(e))?;
        rows.into_iter()
            .map(|[id, matchers, starts_at, ends_at, created_by, comment]| {
                let parsed = (|| {
                    Ok(Silence {
                        matchers: Matchers::new(
                            parse::matchers(&matchers).map_err(|e| e.to_string())?,
                        ),
                        starts_at: parse_time(&starts_at)?,
                        ends_at: parse_time(&ends_at)?,
                        id: id.clone(),
                        created_by,
                        comment,
                    })
                })();
                parsed.map_err(|reason: String| self.corrupt(format!("silence {id}: {reason}")))
            })
            .collect()
    }

    /// The silences that mute alerts at `now`.
    pub fn active_silences(&self, now: Timestamp) -> Result<Vec<Silence>, StateError> {
        let mut silences = self.silences()?;
        silences.retain(|s| s.state(now) == SilenceState::Active);
        Ok(silences)
    }

    /// Saves a new silence.
    pub fn add_silence(&mut self, silence: &Silence) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    silence.id,
                    silence.matchers.to_string(),
                    silence.starts_at.to_string(),
                    silence.ends_at.to_string(),
                    silence.created_by,
                    silence.comment,
                ],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Ends the silence `id` at `now` if it has not ended yet (a pending one ends before it
    /// starts). Returns the silence as it is now, or `None` when there is no such silence.
    pub fn expire_silence(
        &mut self,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<Silence>, StateError> {
        let Some(mut silence) = self.silences()?.into_iter().find(|s| s.id == id) else {
            return Ok(None);
        };
        if silence.state(now) == SilenceState::Expired {
            return Ok(Some(silence));
        }
        // A pending silence ended now also starts now, so it never becomes active.
        silence.starts_at = silence.starts_at.min(now);
        silence.ends_at = now;
        self.conn
            .execute(
                "UPDATE silences SET starts_at = ?2, ends_at = ?3 WHERE id = ?1",
                params![id, silence.starts_at.to_string(), now.to_string()],
            )
            .map_err(|e| self.error(e))?;
        Ok(Some(silence))
    }

    /// Every acknowledged group, oldest acknowledgement first.
    pub fn acks(&self) -> Result<Vec<Ack>, StateError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT group_key, acked_by, acked_at FROM acks ORDER BY acked_at")
            .map_err(|e| self.error(e))?;
        let rows: Vec<[String; 3]> = statement
            .query_map([], |row| Ok([row.get(0)?, row.get(1)?, row.get(2)?]))
            .and_then(Iterator::collect)
            .map_err(|e| self.error(e))?;
        rows.into_iter()
            .map(|[group_key, acked_by, acked_at]| {
                let acked_at = parse_time(&acked_at).map_err(|reason| {
                    self.corrupt(format!("acknowledgement of group {group_key}: {reason}"))
                })?;
                Ok(Ack {
                    group_key,
                    acked_by,
                    acked_at,
                })
            })
            .collect()
    }

    /// The acknowledgement of `group_key`, if it is acknowledged.
    pub fn ack_of(&self, group_key: &str) -> Result<Option<Ack>, StateError> {
        Ok(self.acks()?.into_iter().find(|a| a.group_key == group_key))
    }

    /// Records that a group was acknowledged (again: the newest wins).
    pub fn ack(&mut self, ack: &Ack) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO acks (group_key, acked_by, acked_at) VALUES (?1, ?2, ?3)",
                params![ack.group_key, ack.acked_by, ack.acked_at.to_string()],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Ends a group's acknowledgement; returns the one that ended, if there was one.
    pub fn unack(&mut self, group_key: &str) -> Result<Option<Ack>, StateError> {
        let ack = self
            .conn
            .query_row(
                "DELETE FROM acks WHERE group_key = ?1 RETURNING acked_by, acked_at",
                [group_key],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
            )
            .optional()
            .map_err(|e| self.error(e))?;
        ack.map(|(acked_by, acked_at)| {
            Ok(Ack {
                group_key: group_key.to_owned(),
                acked_by,
                acked_at: parse_time(&acked_at).map_err(|r| self.corrupt(r))?,
            })
        })
        .transpose()
    }
}
