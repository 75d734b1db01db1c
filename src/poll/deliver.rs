//! Phase 4, deliver: hand each notification to its receiver's sink, one task per receiver so
//! that receivers do not wait on each other; one receiver's notifications go in order (its
//! sink paces them). Answers are handed back as they come, so that each accepted notification
//! is settled and saved at once.
//!
//! A stop (SIGTERM or SIGINT under `run`) ends delivery within moments: the notification in
//! flight is dropped with its pacing and retries, and it and the ones not yet sent count as not
//! accepted, to be sent again by the next run.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::{mpsc, watch};

use super::plan::Notification;
use crate::settings::Config;
use crate::sink::ReceiverName;
use crate::sink::{BuildError, Notice, Receipt, Sink};

/// Every receiver's sink by name.
pub type Sinks = BTreeMap<ReceiverName, Arc<Sink>>;

/// Set to `true` to stop delivering.
pub type Stop = watch::Receiver<bool>;

/// Every receiver as a sink; with `dry_run`, every one prints instead.
pub fn build_sinks(config: &Config, dry_run: bool) -> Result<Sinks, BuildError> {
    config
        .receivers
        .values()
        .map(|receiver| {
            let sink = match dry_run {
                true => Sink::dry_run(receiver),
                false => Sink::build(receiver)?,
            };
            Ok((receiver.name.clone(), Arc::new(sink)))
        })
        .collect()
}

/// An answer: the index of the notification in the plan, and what its receiver said. A
/// notification without an answer (delivery stopped, or its task failed) was not accepted.
pub type Answer = (usize, Receipt);

/// Starts sending `notifications`; the answers arrive on the returned channel as they come,
/// and the channel closes when every receiver is done. Each message is moved out of its
/// notification into the task.
pub fn deliver(
    notifications: &mut [Notification],
    sinks: &Sinks,
    now: Timestamp,
    stop: &Stop,
) -> mpsc::UnboundedReceiver<Answer> {
    let (answers, receiver) = mpsc::unbounded_channel();
    let mut by_receiver: BTreeMap<ReceiverName, (Vec<usize>, Vec<Notice>)> = BTreeMap::new();
    for (i, n) in notifications.iter_mut().enumerate() {
        // Everything resolved with send_resolved off: nothing to show, but the log still
        // records it (Alertmanager's rule), so it counts as accepted.
        if n.message.firing.is_empty() && n.message.resolved.is_empty() {
            let _ = answers.send((i, Ok(n.thread.clone())));
            continue;
        }
        let (indexes, notices) = by_receiver.entry(n.receiver.clone()).or_default();
        indexes.push(i);
        notices.push(Notice {
            group_key: n.group_key.clone(),
            message: std::mem::take(&mut n.message),
            thread: n.thread.clone(),
            controls: n.controls.take(),
        });
    }
    for (receiver, (indexes, notices)) in by_receiver {
        let sink = sinks
            .get(&receiver)
            .cloned()
            .unwrap_or_else(|| unreachable!("routes name only receivers that exist: {receiver}"));
        let answers = answers.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let sending = sink.notify_each(&notices, now, |k, receipt| {
                let _ = answers.send((indexes[k], receipt));
            });
            tokio::select! {
                () = sending => {}
                _ = stop.wait_for(|stopped| *stopped) => {}
            }
        });
    }
    receiver
}
