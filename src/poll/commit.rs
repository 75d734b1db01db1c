//! Phase 6, commit: the state file and the queues. Alert changes are saved before anything is
//! sent ([`save_observed`]), each answer's changes as it comes ([`save`]), and queue batches end
//! last ([`end_batches`]), after everything they carry is saved.

use tracing::warn;

use super::ingest::Intake;
use super::settle::Ledger;
use crate::source::QueueBatch;
use crate::state::{Changes, StateError, StateStore};

/// Saves what the checks changed (new, refreshed and resolved alerts, history skipped by
/// `start: now`) before anything is sent. Taking the write first is what keeps an unwritable
/// state file (read-only, disk full) from sending the same notifications on every run: the run
/// fails here, having sent nothing.
pub fn save_observed(store: &mut StateStore, intake: &Intake) -> Result<(), StateError> {
    let changes = Changes {
        alerts: intake
            .changed
            .iter()
            .filter_map(|f| intake.records.get(f))
            .map(|record| (**record).clone())
            .collect(),
        seen_events: intake.skipped.clone(),
        ..Changes::default()
    };
    store.save(&changes)
}

/// Saves `changes`; a dry run saves nothing.
pub fn save(store: &mut StateStore, changes: &Changes, dry_run: bool) -> Result<(), StateError> {
    match dry_run || changes.is_empty() {
        true => Ok(()),
        false => store.save(changes),
    }
}

/// Commits each queue batch whose every event was accepted, and rolls back the others (and
/// every batch of a dry run), so that their messages come back next run.
///
/// Batches end only after the save. A message that fired or resolved a state alert (an Oracle
/// server alert) lives on in the saved state, which notifies it until accepted; committing
/// before the save, a crash in between would lose the fire, and then the clear would find
/// nothing to resolve. Saved first, a crash before the commit redelivers the message, whose
/// change is already made (see `lifecycle::apply_transitions`). Such a check fails only through
/// its events, so a failed notification of a state alert does not roll its batch back: the
/// state retries it, and a rollback would only move the message to the exception queue after
/// `max_retries`. If a save fails, the batches are dropped, which rolls them back.
pub async fn end_batches(batches: Vec<(String, QueueBatch)>, ledger: &Ledger, dry_run: bool) {
    for (check, batch) in batches {
        let result = match dry_run || ledger.failed(&check) {
            true => batch.rollback().await,
            false => batch.commit().await,
        };
        // Either way the messages are safe: a failed commit leaves them in the queue, to be
        // sent again next run.
        if let Err(error) = result {
            warn!(check = %check, %error, "Queue transaction did not finish; its messages stay queued.");
        }
    }
}
