//! The one retry loop every HTTP receiver uses: a 429 waits `Retry-After` (and holds the whole
//! destination), a 5xx or a network error backs off exponentially with jitter, a permanent
//! error stops at once, all within the receiver's `max_retries` and `deadline`.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, warn};

use super::SendError;
use super::delivery::{Delivery, ReceiverName};
use super::pacer::Pacer;

/// The first back-off after a 5xx or a network error; it doubles on each retry.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// The longest back-off between two attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Runs `attempt` until it succeeds, fails for good, or retries run out. Each attempt first
/// waits for its turn at `pacer`, so no retry breaks the destination's pace.
pub async fn with_retries<T, F, Fut>(
    receiver: &ReceiverName,
    delivery: &Delivery,
    pacer: &Pacer,
    mut attempt: F,
) -> Result<T, SendError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SendError>>,
{
    let started = Instant::now();
    let deadline = started + delivery.deadline.get();
    let mut attempts = 0;
    loop {
        pacer.wait_turn().await;
        attempts += 1;
        let error = match attempt().await {
            Ok(done) => {
                debug!(%receiver, attempts, "Delivered.");
                return Ok(done);
            }
            Err(error) if !error.is_retryable() => return Err(error),
            Err(error) => error,
        };
        let wait = match &error {
            SendError::RateLimited { retry_after, .. } => {
                *retry_after + Duration::from_millis(fastrand::u64(0..250))
            }
            _ => backoff(attempts),
        };
        if attempts > delivery.max_retries || Instant::now() + wait > deadline {
            return Err(SendError::Exhausted {
                attempts,
                elapsed: started.elapsed(),
                last: Box::new(error),
            });
        }
        warn!(
            %receiver,
            attempt = attempts,
            wait_ms = wait.as_millis() as u64,
            %error,
            "Delivery failed; retrying."
        );
        if matches!(error, SendError::RateLimited { .. }) {
            pacer.hold_for(wait).await;
        } else {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Exponential back-off with equal jitter: half the step fixed, half random.
fn backoff(attempt: u32) -> Duration {
    let step = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    let half = step / 2;
    half + Duration::from_millis(fastrand::u64(0..=half.as_millis() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..20 {
            let wait = backoff(attempt);
            assert!(wait <= BACKOFF_MAX, "{attempt}: {wait:?}");
            assert!(wait >= BACKOFF_BASE / 2, "{attempt}: {wait:?}");
        }
        assert!(backoff(4) >= Duration::from_secs(2));
    }
}
