//! Queue wake-ups: under `dbalert run`, a PostgreSQL source with queue checks keeps one
//! connection that `LISTEN`s on its queue tables' channels, so that a message is taken the
//! moment its `INSERT` commits instead of when the check's `interval` comes round.
//!
//! The trigger of `sql/postgres/queue.sql` notifies the channel named after the table on each
//! insert. Notifications only say "look now": what is taken is still whatever the dequeue finds,
//! so a notification lost (the connection was down, the table has no trigger) delays a message
//! until the check's next interval, never loses it. Bursts coalesce: any number of
//! notifications heard before the service looks again make one wake-up of the source.
//!
//! A lost connection (a restart, `pg_terminate_backend`) is opened again after a back-off of
//! [`FIRST_BACKOFF`] doubling up to [`MAX_BACKOFF`]; once listening again, the source is woken
//! once, for what was committed while nobody listened.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tracing::{info, warn};

use super::{PostgresSource, SourceName};

/// The wait before the first attempt to listen again.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The sources whose listeners heard a notification since the service last looked. Cloned into
/// every listener; the service waits on [`Wakeups::next`].
#[derive(Debug, Clone, Default)]
pub struct Wakeups {
    woken: Arc<Mutex<BTreeSet<SourceName>>>,
    notify: Arc<Notify>,
}

impl Wakeups {
    /// Marks `source` as woken.
    pub fn wake(&self, source: &SourceName) {
        self.woken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(source.clone());
        // One stored permit at most: a burst wakes the waiter once.
        self.notify.notify_one();
    }

    /// Waits until some source is woken, and returns (and forgets) every woken source.
    pub async fn next(&self) -> BTreeSet<SourceName> {
        loop {
            self.notify.notified().await;
            let woken =
                std::mem::take(&mut *self.woken.lock().unwrap_or_else(PoisonError::into_inner));
            // A permit stored for a wake-up already taken with an earlier one: wait again.
            if !woken.is_empty() {
                return woken;
            }
        }
    }
}

impl PostgresSource {
    /// Listens on `channels` for as long as the returned future is polled, waking the source
    /// in `wakeups` on each notification; never returns. Drop the future to stop.
    pub async fn listen(&self, channels: &[String], wakeups: &Wakeups) {
        let name = self.name().clone();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let (heard, source) = (wakeups.clone(), name.clone());
            match self
                .open_listener(channels, move || heard.wake(&source))
                .await
            {
                Ok((client, connection)) => {
                    info!(source = %name, channels = ?channels, "Listening for queue messages.");
                    backoff = FIRST_BACKOFF;
                    wakeups.wake(&name);
                    let _ = connection.await;
                    drop(client);
                    warn!(source = %name, "The LISTEN connection was lost; the queue is polled at its interval until it is back.");
                }
                Err(error) => {
                    warn!(source = %name, %error, retry_in = ?backoff, "Cannot listen for queue messages; the queue is polled at its interval meanwhile.");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_burst_of_wakeups_is_taken_at_once_and_nothing_is_lost() {
        let wakeups = Wakeups::default();
        let (a, b) = (SourceName("a".into()), SourceName("b".into()));
        for _ in 0..100 {
            wakeups.wake(&a);
        }
        wakeups.wake(&b);
        assert_eq!(wakeups.next().await, BTreeSet::from([a.clone(), b]));
        // Woken while nobody waited: the next wait returns at once.
        wakeups.wake(&a);
        assert_eq!(wakeups.next().await, BTreeSet::from([a]));
        // Nothing woken: the wait goes on.
        assert!(wakeups.next().now_or_never().is_none());
    }
}
