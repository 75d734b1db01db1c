//! What dbalert remembers between runs: firing alerts, the notification log, event cursors and
//! the events already sent, silences, acknowledged groups, the buttons on Slack messages, the
//! audit trail and action requests waiting for a click, in one SQLite file that one `poll` at a time holds.
//!
//! This module owns keeping that state (`store.rs`): the file, its schema, its lock, and saving
//! a run's changes in one transaction. It does not decide what changes; the poll engine does,
//! and saves only after delivery was accepted.

mod audit;
mod buttons;
mod muting;
mod pending;
mod store;

pub use audit::{AuditEntry, AuditPhase};
pub use buttons::ButtonRow;
pub use pending::{AlertThread, NotTaken, PendingRequest, Stage};
pub use store::{
    Ack, AlertRecord, Changes, CheckState, MAX_SEEN_EVENTS_PER_CHECK, NotificationEntry,
    SCHEMA_VERSION, StateError, StateLock, StateStore, StoredLabels, Thread,
};
