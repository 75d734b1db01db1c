//! At most one message per second to one destination, as Slack asks ("1 per second" for
//! incoming webhooks, <https://docs.slack.dev/apis/web-api/rate-limits>), and a pause for the
//! whole destination after a 429.
//!
//! Pacing is per destination within this process: two receivers that share a webhook URL share
//! one pacer.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// The spacing between two messages to one destination.
pub const MIN_SPACING: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Pacer {
    next: tokio::sync::Mutex<Option<Instant>>,
}

static PACERS: LazyLock<Mutex<HashMap<String, Arc<Pacer>>>> = LazyLock::new(Default::default);

impl Pacer {
    /// The pacer for `destination` (a full URL; it is only used as a map key, never printed).
    pub fn for_destination(destination: &str) -> Arc<Self> {
        let mut pacers = PACERS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        pacers.entry(destination.to_owned()).or_default().clone()
    }

    /// Waits for this destination's next free slot and takes it.
    pub async fn wait_turn(&self) {
        let mut next = self.next.lock().await;
        if let Some(at) = *next {
            tokio::time::sleep_until(at).await;
        }
        *next = Some(Instant::now() + MIN_SPACING);
    }

    /// Holds the destination until `wait` has passed (after a 429 with `Retry-After`).
    pub async fn hold_for(&self, wait: Duration) {
        let mut next = self.next.lock().await;
        let until = Instant::now() + wait;
        if next.is_none_or(|at| at < until) {
            *next = Some(until);
        }
    }
}
