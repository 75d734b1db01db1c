//! From alerts to notifications: inhibition and silences, routing, grouping, the dedup decision
//! and acknowledgements, for one run. Pure: it reads the alerts, the notification log and the clock, and returns what to send;
//! sending and saving are the caller's.

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;

pub use super::gather::{Event, Muting};
use super::gather::{Group, Tally, gather};
use super::lifecycle::Records;
use crate::alert::view::reported_start;
use crate::alert::{AlertView, Fingerprint, GroupMessage};
use crate::render::controls::Controls;
use crate::render::notification::MAX_LISTED;
use crate::route::{AlertSets, Decision, LastNotified, decide};
use crate::settings::Config;
use crate::sink::ReceiverName;
use crate::state::{AlertRecord, NotificationEntry, Thread};

/// One message to one receiver.
#[derive(Debug, Clone)]
pub struct Notification {
    pub receiver: ReceiverName,
    pub group_key: String,
    pub message: GroupMessage,
    /// The group's state alerts firing and resolved now, as the notification log will keep them.
    pub firing: BTreeSet<Fingerprint>,
    pub resolved: BTreeSet<Fingerprint>,
    /// The events it announces, as (check, fingerprint).
    pub events: Vec<(String, Fingerprint)>,
    /// The group's Slack thread, from the notification log.
    pub thread: Option<Thread>,
    /// The buttons on the group's message, for a receiver that has them (set after planning,
    /// from the state file: `poll::controls`).
    pub controls: Option<Controls>,
}

/// What one run sends, and what it decided not to.
#[derive(Debug, Default)]
pub struct Plan {
    pub notifications: Vec<Notification>,
    /// Firing alerts (and events) muted by an inhibit rule.
    pub inhibited: usize,
    /// Firing alerts (and events) muted by a silence.
    pub silenced: usize,
    /// Acknowledged groups whose repeat notification was not sent.
    pub acked: usize,
    /// Keys of acknowledged groups in which nothing fires any more: the acknowledgement ends.
    pub acks_ended: Vec<String>,
    /// Groups not notified now because their route is in a mute (or outside an active) time interval.
    pub time_muted: usize,
    /// Groups held back by `group_wait` or `group_interval` (only when paced, in `run`).
    pub deferred: usize,
}

impl From<Tally> for Plan {
    fn from(tally: Tally) -> Self {
        Self {
            inhibited: tally.inhibited,
            silenced: tally.silenced,
            acks_ended: tally.acks_ended,
            ..Self::default()
        }
    }
}

impl Plan {
    /// What the plan muted, without its notifications.
    pub fn counts(&self) -> Self {
        Self {
            inhibited: self.inhibited,
            silenced: self.silenced,
            acked: self.acked,
            time_muted: self.time_muted,
            ..Self::default()
        }
    }
}

/// Plans the notifications for `records` (state alerts) and `events` at `now`, given the
/// notification log `log`. `config.route` must be set (the config loader requires it when
/// there are checks).
///
/// A firing alert or an event that an active silence in `muting` matches is muted as an
/// inhibited one is. An acknowledged group is not repeated once `repeat_interval` has passed,
/// but an alert that joins it notifies as usual; its acknowledgement ends (`Plan::acks_ended`)
/// once nothing in it fires.
///
/// With `paced` (in `run`), a group is held back as Alertmanager's dispatcher would: a new
/// group until `group_wait` has passed since its oldest firing alert started, and a group
/// notified before until `group_interval` has passed since then (`repeat_interval` is always
/// at least as long). Events are never held back: they are announced as they come.
pub fn plan<'a>(
    config: &Config,
    records: &'a Records,
    events: &'a [Event],
    log: &HashMap<(String, ReceiverName), NotificationEntry>,
    muting: &Muting,
    now: Timestamp,
    paced: bool,
) -> Plan {
    let Some(route) = &config.route else {
        return Plan::default();
    };
    let (groups, tally) = gather(config, route, records, events, muting, now);
    let mut plan = Plan::from(tally);
    for ((group_key, receiver), group) in groups {
        if group.muted {
            plan.time_muted += 1;
            continue;
        }
        let kind = &config.receivers[&receiver].kind;
        let send_resolved = config.receivers[&receiver].delivery.send_resolved;
        let entry = log.get(&(group_key.clone(), receiver.clone()));
        let last = entry.map(|e| LastNotified {
            alerts: AlertSets {
                firing: hashes(e.firing.iter()),
                resolved: hashes(e.resolved.iter()),
            },
            at: e.notified_at,
        });
        let sets = AlertSets {
            firing: hashes(group.firing.iter().map(|r| &r.fingerprint)),
            resolved: hashes(group.resolved.iter().map(|r| &r.fingerprint)),
        };
        let mut decision = decide(
            last.as_ref(),
            &sets,
            send_resolved,
            group.repeat_interval,
            now,
        );
        if decision == Decision::Repeat && muting.acks.contains(&group_key) {
            decision = Decision::Skip;
            plan.acked += 1;
        }
        let clock = GroupClock {
            now,
            paced,
            last_at: last.as_ref().map(|l| l.at),
            oldest_firing: group.firing.iter().map(|a| a.starts_at).min(),
            group_wait: group.group_wait.get(),
            group_interval: group.group_interval.get(),
        };
        let resend = kind.resend_interval().map(|r| r.get());
        let paced_decision = pace(decision, &clock, resend);
        if decision.notifies() && !paced_decision.notifies() {
            plan.deferred += 1;
        }
        decision = paced_decision;
        // Events are announced once, whatever the group's state alerts need; so is an alert
        // that fired and resolved while its receivers failed (its firing is still owed).
        let owed = group.resolved.iter().any(|r| r.last_notified_at.is_none());
        if (!group.events.is_empty() || owed) && !decision.notifies() {
            decision = Decision::NewAlerts;
        }
        if !decision.notifies() {
            continue;
        }
        let thread = entry.and_then(|e| e.thread.clone());
        let message = Message {
            receiver,
            group_key,
            send_resolved,
            thread,
        };
        plan.notifications
            .extend(notifications(group, message, now));
    }
    plan
}

/// Where a group's notification goes.
struct Message {
    receiver: ReceiverName,
    group_key: String,
    send_resolved: bool,
    thread: Option<Thread>,
}

/// The notifications that announce `group`: one, unless it has more events than a message
/// lists ([`MAX_LISTED`]); then the events are spread over as many messages as they need, in
/// the order their checks returned them (cursor order), so none is only counted.
fn notifications(group: Group, to: Message, now: Timestamp) -> Vec<Notification> {
    let mut firing: Vec<AlertView> = group.firing.iter().map(|r| view(r)).collect();
    firing.sort_by(|a, b| {
        a.starts_at
            .cmp(&b.starts_at)
            .then_with(|| a.labels.cmp(&b.labels))
    });
    let mut resolved: Vec<AlertView> = group
        .resolved
        .iter()
        .filter(|r| to.send_resolved || r.last_notified_at.is_none())
        .map(|r| view(r))
        .collect();
    resolved.sort_by(|a, b| {
        a.ends_at
            .cmp(&b.ends_at)
            .then_with(|| a.labels.cmp(&b.labels))
    });
    let state_firing: BTreeSet<Fingerprint> = group.firing.iter().map(|r| r.fingerprint).collect();
    let state_resolved: BTreeSet<Fingerprint> =
        group.resolved.iter().map(|r| r.fingerprint).collect();
    // The first message lists the state alerts and as many events as fit beside them; the
    // other events follow, a message's worth at a time.
    let room = MAX_LISTED.saturating_sub(firing.len() + resolved.len());
    let (first, rest) = group.events.split_at(room.min(group.events.len()));
    let mut chunks = std::iter::once(first)
        .chain(rest.chunks(MAX_LISTED))
        .peekable();
    let mut out = Vec::new();
    loop {
        let events = chunks.next().unwrap_or_default();
        let mut message = GroupMessage {
            group_labels: group.labels.clone(),
            firing: std::mem::take(&mut firing),
            resolved: std::mem::take(&mut resolved),
        };
        message
            .firing
            .extend(events.iter().map(|e| event_view(e, now)));
        out.push(Notification {
            receiver: to.receiver.clone(),
            group_key: to.group_key.clone(),
            message,
            firing: state_firing.clone(),
            resolved: state_resolved.clone(),
            events: events
                .iter()
                .map(|e| (e.alert.check.clone(), e.alert.fingerprint))
                .collect(),
            thread: to.thread.clone(),
            controls: None,
        });
        if chunks.peek().is_none() {
            return out;
        }
    }
}

fn event_view(event: &Event, now: Timestamp) -> AlertView {
    AlertView {
        fingerprint: event.alert.fingerprint,
        labels: event.alert.labels.clone(),
        annotations: event.alert.annotations.clone(),
        starts_at: reported_start(&event.alert.labels).unwrap_or(now),
        ends_at: None,
    }
}

fn view(record: &AlertRecord) -> AlertView {
    let labels = record.labels.parse();
    AlertView {
        fingerprint: record.fingerprint,
        starts_at: reported_start(&labels).unwrap_or(record.starts_at),
        labels,
        annotations: record.annotations.parse(),
        ends_at: record.resolved_at,
    }
}

/// The times that decide whether a receiver's pacing lets a group be notified now.
#[derive(Debug, Clone, Copy)]
struct GroupClock {
    now: Timestamp,
    /// In `run`: `group_wait` and `group_interval` hold groups back, and Alertmanager hears
    /// again every resend interval. `poll` is paced by its caller (cron).
    paced: bool,
    /// When the group was last notified.
    last_at: Option<Timestamp>,
    /// When its oldest firing alert started; `None` when nothing fires.
    oldest_firing: Option<Timestamp>,
    group_wait: std::time::Duration,
    group_interval: std::time::Duration,
}

impl GroupClock {
    fn since(&self, at: Timestamp) -> std::time::Duration {
        self.now.duration_since(at).unsigned_abs()
    }
}

/// `decision` after the receiver's pacing: Alertmanager (`resend`, its resend interval) is
/// told what fires on every run (in `run`, every resend interval); other receivers are held
/// back by `group_wait` and `group_interval` in `run`.
fn pace(decision: Decision, clock: &GroupClock, resend: Option<std::time::Duration>) -> Decision {
    match resend {
        // Alertmanager paces and dedups itself, and takes a firing alert it stops hearing
        // about for resolved: every run tells it (`run`, every resend interval) what fires.
        Some(resend) if clock.oldest_firing.is_some() && !decision.notifies() => {
            let due = clock.last_at.is_none_or(|at| clock.since(at) >= resend);
            match !clock.paced || due {
                true => Decision::Repeat,
                false => decision,
            }
        }
        None if clock.paced && decision.notifies() && held_back(decision, clock) => Decision::Skip,
        _ => decision,
    }
}

/// Whether `run` waits longer before notifying a group (see [`plan`]).
fn held_back(decision: Decision, clock: &GroupClock) -> bool {
    match (decision, clock.last_at) {
        (Decision::First, _) => clock
            .oldest_firing
            .is_some_and(|oldest| clock.since(oldest) < clock.group_wait),
        (Decision::Repeat, _) | (_, None) => false,
        (_, Some(last)) => clock.since(last) < clock.group_interval,
    }
}

fn hashes<'a>(fingerprints: impl Iterator<Item = &'a Fingerprint>) -> BTreeSet<u64> {
    fingerprints.map(|f| f.0).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// `run`'s pacing as a table: (decision, paced, seconds since the last notification,
    /// seconds since the oldest firing alert started, the receiver's resend interval) ->
    /// the decision. group_wait is 30 s, group_interval 5 min.
    #[test]
    fn pacing_holds_groups_back_and_resends_to_alertmanager() {
        use Decision::*;
        let now: Timestamp = "2024-06-01T12:00:00Z".parse().unwrap();
        let ago = |secs: i64| now - jiff::SignedDuration::from_secs(secs);
        let am = Some(60);
        for (decision, paced, last, oldest, resend, want) in [
            // poll: never held back.
            (First, false, None, Some(1), None, First),
            (NewAlerts, false, Some(1), Some(1), None, NewAlerts),
            // run, group_wait: a new group waits 30 s from its oldest alert's start.
            (First, true, None, Some(29), None, Skip),
            (First, true, None, Some(30), None, First),
            // run, group_interval: a changed group waits 5 min from its last notification.
            (NewAlerts, true, Some(299), Some(900), None, Skip),
            (NewAlerts, true, Some(300), Some(900), None, NewAlerts),
            (AllResolved, true, Some(10), None, None, Skip),
            // A repeat already waited repeat_interval (never shorter than group_interval).
            (Repeat, true, Some(10), Some(900), None, Repeat),
            (Skip, true, Some(10), Some(900), None, Skip),
            // Alertmanager hears what fires on every poll, and every resend interval in run.
            (Skip, false, Some(1), Some(900), am, Repeat),
            (Skip, true, Some(59), Some(900), am, Skip),
            (Skip, true, Some(60), Some(900), am, Repeat),
            (Skip, true, None, Some(900), am, Repeat),
            // Nothing fires: nothing to resend; changes go at once (it paces itself).
            (Skip, true, Some(600), None, am, Skip),
            (First, true, None, Some(1), am, First),
        ] {
            let clock = GroupClock {
                now,
                paced,
                last_at: last.map(ago),
                oldest_firing: oldest.map(ago),
                group_wait: Duration::from_secs(30),
                group_interval: Duration::from_secs(300),
            };
            let resend = resend.map(Duration::from_secs);
            assert_eq!(
                pace(decision, &clock, resend),
                want,
                "{decision:?} paced={paced} last={last:?} oldest={oldest:?} resend={resend:?}"
            );
        }
    }
}
