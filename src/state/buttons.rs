//! The buttons on a group's Slack messages, as the state file keeps them: each (receiver, group)
//! gets one random id, which is all a button carries. A click names the id; `serve` looks the
//! row up here and re-checks who clicked, so a forged or stale value finds nothing. The row
//! also remembers the group's labels (a silence's matchers) and the silence made from it.
//!
//! The id comes from SQLite's `randomblob`, which reads the operating system's randomness: it
//! cannot be guessed from the group key or the labels. Written in short transactions like
//! silences, without the [`super::StateLock`].

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::store::{StateError, StateStore, StoredLabels, parse_time};
use crate::alert::Labels;
use crate::config::ReceiverName;

/// One row: what a button's id stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonRow {
    /// The opaque id the buttons carry as their `value`.
    pub id: String,
    pub receiver: ReceiverName,
    /// The group's key, as the notification log and the acks have it.
    pub group_key: String,
    /// The group's labels (its `group_by` labels), the matchers of a silence made from it.
    pub labels: Labels,
    pub created_at: Timestamp,
    /// The silence last made with this message's Silence button.
    pub silence_id: Option<String>,
}

impl StateStore {
    /// The button id of `receiver`'s messages for `group_key`, made (and saved) the first time.
    pub fn button_id(
        &mut self,
        receiver: &ReceiverName,
        group_key: &str,
        labels: &Labels,
        now: Timestamp,
    ) -> Result<String, StateError> {
        // One statement, so that two writers cannot make two ids for one group.
        self.conn
            .execute(
                "INSERT INTO buttons (id, receiver, group_key, labels, created_at)
                 VALUES (lower(hex(randomblob(16))), ?1, ?2, ?3, ?4)
                 ON CONFLICT (receiver, group_key) DO NOTHING",
                params![
                    receiver.0,
                    group_key,
                    serde_json::to_string(labels).expect("a map of strings always serializes"),
                    now.to_string()
                ],
            )
            .map_err(|e| self.error(e))?;
        self.conn
            .query_row(
                "SELECT id FROM buttons WHERE receiver = ?1 AND group_key = ?2",
                params![receiver.0, group_key],
                |row| row.get(0),
            )
            .map_err(|e| self.error(e))
    }

    /// The button id of `receiver`'s messages for `group_key`, if one was made.
    pub fn existing_button_id(
        &self,
        receiver: &ReceiverName,
        group_key: &str,
    ) -> Result<Option<String>, StateError> {
        self.conn
            .query_row(
                "SELECT id FROM buttons WHERE receiver = ?1 AND group_key = ?2",
                params![receiver.0, group_key],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// The row a button's id names, or `None` for an id never made here.
    pub fn button(&self, id: &str) -> Result<Option<ButtonRow>, StateError> {
        let row: Option<[Option<String>; 5]> = self
            .conn
            .query_row(
                "SELECT receiver, group_key, labels, created_at, silence_id FROM buttons
                 WHERE id = ?1",
                [id],
                |row| {
                    Ok([
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ])
                },
            )
            .optional()
            .map_err(|e| self.error(e))?;
        let Some([receiver, group_key, labels, created_at, silence_id]) = row else {
            return Ok(None);
        };
        let parsed = (|| {
            let labels = StoredLabels::checked(&labels.unwrap_or_default())?.parse();
            Ok(ButtonRow {
                id: id.to_owned(),
                receiver: ReceiverName(receiver.unwrap_or_default()),
                group_key: group_key.unwrap_or_default(),
                labels,
                created_at: parse_time(&created_at.unwrap_or_default())?,
                silence_id,
            })
        })();
        parsed
            .map(Some)
            .map_err(|reason: String| self.corrupt(format!("button {id}: {reason}")))
    }

    /// Records the silence made with button `id` (`None` once it is expired).
    pub fn set_button_silence(
        &mut self,
        id: &str,
        silence_id: Option<&str>,
    ) -> Result<(), StateError> {
        self.conn
            .execute(
                "UPDATE buttons SET silence_id = ?2 WHERE id = ?1",
                params![id, silence_id],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// Remembers the id an Alertmanager cluster (the receiver `receiver`) gave silence
    /// `silence_id`.
    pub fn add_cluster_silence(
        &mut self,
        silence_id: &str,
        receiver: &ReceiverName,
        cluster_id: &str,
    ) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO cluster_silences (silence_id, receiver, cluster_id)
                 VALUES (?1, ?2, ?3)",
                params![silence_id, receiver.0, cluster_id],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// The clusters' ids of silence `silence_id`, by receiver.
    pub fn cluster_silences(
        &self,
        silence_id: &str,
    ) -> Result<Vec<(ReceiverName, String)>, StateError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT receiver, cluster_id FROM cluster_silences WHERE silence_id = ?1
                 ORDER BY receiver",
            )
            .map_err(|e| self.error(e))?;
        statement
            .query_map([silence_id], |row| {
                Ok((ReceiverName(row.get(0)?), row.get(1)?))
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_random_id_per_receiver_and_group() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::open(&dir.path().join("state.db")).unwrap();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let team = ReceiverName("team".into());
        let labels = Labels::from([("owner".to_owned(), "ORDERS".to_owned())]);
        let id = store
            .button_id(&team, "{}:{owner=\"ORDERS\"}", &labels, now)
            .unwrap();
        assert_eq!(id.len(), 32);
        assert!(!id.contains("ORDERS"));
        let again = store
            .button_id(&team, "{}:{owner=\"ORDERS\"}", &labels, now)
            .unwrap();
        assert_eq!(id, again, "the same group keeps its id");
        let other = store
            .button_id(&team, "{}:{owner=\"BILLING\"}", &labels, now)
            .unwrap();
        assert_ne!(id, other);
        let row = store.button(&id).unwrap().unwrap();
        assert_eq!(
            (row.receiver, row.labels, row.silence_id),
            (team, labels, None)
        );
        assert_eq!(store.button("0123").unwrap(), None);
        store.set_button_silence(&id, Some("s1")).unwrap();
        assert_eq!(
            store.button(&id).unwrap().unwrap().silence_id.as_deref(),
            Some("s1")
        );
    }
}
