//! Phase 4, deliver: hand each notification to its receiver's sink. Each receiver has a task
//! of its own with a queue (the [`Outbox`]), so that receivers do not wait on each other, and
//! nothing else waits on them: `run` goes on fetching and planning while a paced or slow
//! receiver works through its queue. One receiver's notifications go in the order they were
//! posted, batch after batch (its sink paces them). Answers are handed back as they come, so
//! that each accepted notification is settled and saved at once.
//!
//! A stop (SIGTERM or SIGINT under `run`) ends delivery within moments: the notification in
//! flight is dropped with its pacing and retries, and it and the ones still queued count as
//! not accepted, to be sent again by the next run.

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

/// Which batch a notification belongs to: under `run`, several batches can be in delivery at
/// once, and their answers share one channel.
pub type BatchId = u64;

/// An answer: the batch, the index of the notification in its plan, and what its receiver
/// said. A notification without an answer (delivery stopped, or its task failed) was not
/// accepted.
pub type Answer = (BatchId, usize, Receipt);

/// One task per receiver, each sending what is posted to it in order. The answers arrive on
/// the channel [`Outbox::open`] returns, which closes once the outbox is dropped and every
/// task has ended (its queue sent, or delivery stopped).
pub struct Outbox {
    queues: BTreeMap<ReceiverName, mpsc::UnboundedSender<Parcel>>,
    answers: mpsc::UnboundedSender<Answer>,
}

/// One batch's notifications to one receiver.
struct Parcel {
    batch: BatchId,
    /// The index of each notice in the batch's plan.
    indexes: Vec<usize>,
    notices: Vec<Notice>,
    now: Timestamp,
}

impl Outbox {
    /// Starts a task for each of `sinks`; each ends when `stop` is set.
    pub fn open(sinks: &Sinks, stop: &Stop) -> (Self, mpsc::UnboundedReceiver<Answer>) {
        let (answers, receiver) = mpsc::unbounded_channel();
        let queues = sinks
            .iter()
            .map(|(name, sink)| {
                let (queue, parcels) = mpsc::unbounded_channel();
                tokio::spawn(send_in_turn(
                    sink.clone(),
                    parcels,
                    answers.clone(),
                    stop.clone(),
                ));
                (name.clone(), queue)
            })
            .collect();
        (Self { queues, answers }, receiver)
    }

    /// Queues `notifications` (batch `batch`, planned at `now`) behind what their receivers
    /// still have to send. Each message is moved out of its notification into the queue.
    pub fn post(&self, batch: BatchId, notifications: &mut [Notification], now: Timestamp) {
        let mut by_receiver: BTreeMap<ReceiverName, (Vec<usize>, Vec<Notice>)> = BTreeMap::new();
        for (i, n) in notifications.iter_mut().enumerate() {
            // Everything resolved with send_resolved off: nothing to show, but the log still
            // records it (Alertmanager's rule), so it counts as accepted.
            if n.message.firing.is_empty() && n.message.resolved.is_empty() {
                let _ = self.answers.send((batch, i, Ok(n.thread.clone())));
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
            let queue = self.queues.get(&receiver).unwrap_or_else(|| {
                unreachable!("routes name only receivers that exist: {receiver}")
            });
            let parcel = Parcel {
                batch,
                indexes,
                notices,
                now,
            };
            // A task that ended (delivery stopped) drops the parcel: its notifications get no
            // answer, which counts as not accepted.
            let _ = queue.send(parcel);
        }
    }
}

/// A receiver's task: sends each parcel in turn, until its queue closes or `stop` is set.
async fn send_in_turn(
    sink: Arc<Sink>,
    mut parcels: mpsc::UnboundedReceiver<Parcel>,
    answers: mpsc::UnboundedSender<Answer>,
    mut stop: Stop,
) {
    let sending = async {
        while let Some(parcel) = parcels.recv().await {
            let Parcel {
                batch,
                indexes,
                notices,
                now,
            } = parcel;
            sink.notify_each(&notices, now, |k, receipt| {
                let _ = answers.send((batch, indexes[k], receipt));
            })
            .await;
        }
    };
    tokio::select! {
        () = sending => {}
        // Also when the stop's sender is gone: nobody is left to take the answers.
        _ = stop.wait_for(|stopped| *stopped) => {}
    }
}
