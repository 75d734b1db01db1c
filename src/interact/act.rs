//! What an allowed click does to the state file (and the Alertmanager clusters), then the
//! message update that shows it. Each change is its own short transaction; the state file is
//! never held open across a network call.

use jiff::{SignedDuration, Timestamp};

use std::path::Path;

use super::payload::{Action, Click};
use super::silences::Clusters;
use crate::config::secret::Secret;
use crate::render::controls::updated_message;
use crate::route::{Silence, SilenceState};
use crate::sink::buttons::controls;
use crate::sink::config::Button;
use crate::sink::web_api::WebApi;
use crate::state::{Ack, ButtonRow, StateError, StateStore};

/// The comment of a silence made from Slack.
pub const SILENCE_COMMENT: &str = "from Slack";

/// What an allowed click did.
#[derive(Debug)]
pub struct Done {
    /// For the audit trail.
    pub detail: String,
    /// What the clicker should hear about although the action was done (a cluster that
    /// refused the silence, a message that could not be updated).
    pub problems: Option<String>,
}

/// The button a click comes from.
pub fn button_of(action: &Action) -> Button {
    match action {
        Action::Ack { .. } | Action::Unack { .. } => Button::Ack,
        Action::Silence { .. } | Action::Unsilence { .. } => Button::Silence,
    }
}

fn text<T>(result: Result<T, StateError>) -> Result<T, String> {
    result.map_err(|e| e.to_string())
}

/// What acting needs: the state file, the clusters, and the Web API with the bot token.
pub struct Actor<'a> {
    pub state_path: &'a Path,
    pub clusters: &'a Clusters,
    pub api: &'a WebApi,
    pub token: &'a Secret,
}

impl Actor<'_> {
    fn store(&self) -> Result<StateStore, String> {
        text(StateStore::open(self.state_path))
    }

    /// Does what `click` asks for the group `row` names, then updates the message. An error
    /// means nothing was changed.
    pub async fn act(
        &self,
        click: &Click,
        row: &ButtonRow,
        buttons: &[Button],
    ) -> Result<Done, String> {
        let now = Timestamp::now();
        let by = format!("<@{}>", click.user);
        let mut problems = Vec::new();
        let detail = match &click.action {
            Action::Ack { .. } => {
                let ack = Ack {
                    group_key: row.group_key.clone(),
                    acked_by: by,
                    acked_at: now,
                };
                text(self.store()?.ack(&ack))?;
                "acknowledged".to_owned()
            }
            Action::Unack { .. } => match text(self.store()?.unack(&row.group_key))? {
                Some(_) => "acknowledgement ended".to_owned(),
                None => "was not acknowledged".to_owned(),
            },
            Action::Silence { length, .. } => {
                let (detail, refused) = self.silence(row, *length, by, now).await?;
                problems.extend(refused);
                detail
            }
            Action::Unsilence { .. } => {
                let (detail, refused) = self.unsilence(row, now).await?;
                problems.extend(refused);
                detail
            }
        };
        if let Err(error) = self.update_message(click, row, buttons, now).await {
            problems.push(format!("the message could not be updated ({error})"));
        }
        Ok(Done {
            detail: match problems.is_empty() {
                true => detail,
                false => format!("{detail}; {}", problems.join("; ")),
            },
            problems: (!problems.is_empty()).then(|| format!("Done, but {}.", problems.join("; "))),
        })
    }

    /// Silences the group's labels for `length`, here and in every cluster.
    async fn silence(
        &self,
        row: &ButtonRow,
        length: std::time::Duration,
        by: String,
        now: Timestamp,
    ) -> Result<(String, Vec<String>), String> {
        // A click on a message not yet updated (another person's view) must not stack a
        // second silence that Unsilence would not end.
        if let Some(existing) = &row.silence_id {
            let silences = text(self.store()?.silences())?;
            let active = silences
                .iter()
                .find(|s| &s.id == existing && s.state(now) == SilenceState::Active);
            if let Some(active) = active {
                let detail = format!(
                    "already silenced (silence {existing} until {})",
                    active.ends_at
                );
                return Ok((detail, Vec::new()));
            }
        }
        let ends_at = SignedDuration::try_from(length)
            .ok()
            .and_then(|d| now.checked_add(d).ok())
            .ok_or("the silence would end too far ahead")?;
        let silence = Silence::of_labels(&row.labels, now, ends_at, by, SILENCE_COMMENT.into())
            .ok_or("the group has no labels to silence it by (its route has no `group_by`)")?;
        {
            let mut store = self.store()?;
            text(store.add_silence(&silence))?;
            text(store.set_button_silence(&row.id, Some(&silence.id)))?;
        }
        let (created, refused) = self.clusters.create(&silence).await;
        let mut store = self.store()?;
        for (receiver, cluster_id) in created {
            text(store.add_cluster_silence(&silence.id, &receiver, &cluster_id))?;
        }
        Ok((format!("silence {} until {ends_at}", silence.id), refused))
    }

    /// Ends the silence made from this message, here and in every cluster that took it.
    async fn unsilence(
        &self,
        row: &ButtonRow,
        now: Timestamp,
    ) -> Result<(String, Vec<String>), String> {
        let Some(silence_id) = &row.silence_id else {
            return Ok(("no silence to end".to_owned(), Vec::new()));
        };
        let ids = {
            let mut store = self.store()?;
            text(store.expire_silence(silence_id, now))?;
            text(store.set_button_silence(&row.id, None))?;
            text(store.cluster_silences(silence_id))?
        };
        let refused = self.clusters.expire(silence_id, &ids).await;
        Ok((format!("silence {silence_id} expired"), refused))
    }

    /// `chat.update` of the clicked message, with controls that show the group's state now.
    async fn update_message(
        &self,
        click: &Click,
        row: &ButtonRow,
        buttons: &[Button],
        now: Timestamp,
    ) -> Result<(), String> {
        let shown = {
            let store = self.store()?;
            let row = text(store.button(&row.id))?.unwrap_or_else(|| row.clone());
            let ack = text(store.ack_of(&row.group_key))?;
            let silences = text(store.silences())?;
            controls(&row, buttons, ack.as_ref(), &silences, now)
        };
        let mut body = updated_message(&click.message, shown.blocks(now));
        body["channel"] = click.channel.clone().into();
        body["ts"] = click.message_ts.clone().into();
        self.api
            .call("chat.update", self.token, &body)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}
