//! From alerts to notifications: inhibition and silences, routing, grouping, the dedup decision
//! and acknowledgements, for one run. Pure: it reads the alerts, the notification log and the clock, and returns what to send;
//! sending and saving are the caller's.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jiff::Timestamp;

use super::lifecycle::Records;
use crate::alert::view::reported_start;
use crate::alert::{Alert, AlertView, Fingerprint, GroupMessage, Labels};
use crate::render::controls::Controls;
use crate::render::notification::MAX_LISTED;
use crate::route::{
    AlertSets, Decision, Inhibitor, LastNotified, Route, Silence, decide, group_key, group_labels,
};
use crate::settings::Config;
use crate::sink::{ReceiverKind, ReceiverName};
use crate::state::{AlertRecord, NotificationEntry, Thread};

/// An event to announce once (an event check's row, a queue message).
#[derive(Debug, Clone)]
pub struct Event {
    pub alert: Alert,
}

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

/// One group's alerts while planning: references only, so that a group that is not notified
/// (most of them, in a steady state) costs no copies.
struct Group<'a> {
    labels: Labels,
    firing: Vec<&'a AlertRecord>,
    resolved: Vec<&'a AlertRecord>,
    events: Vec<&'a Event>,
    repeat_interval: crate::config::duration::Duration,
    group_wait: crate::config::duration::Duration,
    group_interval: crate::config::duration::Duration,
    muted: bool,
}

/// The silences and acknowledgements a run honours, read from the state file.
#[derive(Debug, Default)]
pub struct Muting {
    /// Silences; only those active at the run's time mute.
    pub silences: Vec<Silence>,
    /// The keys of acknowledged groups.
    pub acks: HashSet<String>,
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
    let mut plan = Plan::default();
    let Some(route) = &config.route else {
        return plan;
    };
    let groups = gather(config, route, records, events, muting, now, &mut plan);
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
        let pacing = Pacing { now, paced };
        decision = pace(
            decision,
            &group,
            last.as_ref(),
            kind,
            pacing,
            &mut plan.deferred,
        );
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

/// Mutes what inhibit rules and silences mute, and routes the rest into groups, counting the
/// muted alerts in `plan`. Also ends the acknowledgements of groups in which nothing fires,
/// muted alerts included (a silence over an acknowledged group does not end it).
fn gather<'a>(
    config: &Config,
    route: &Route,
    records: &'a Records,
    events: &'a [Event],
    muting: &Muting,
    now: Timestamp,
    plan: &mut Plan,
) -> BTreeMap<(String, ReceiverName), Group<'a>> {
    // Records keep their labels as text; parsing all of them at once is worth it only when
    // an inhibit rule needs them.
    let parsed: Vec<Labels> = match config.inhibit_rules.is_empty() {
        true => Vec::new(),
        false => records
            .values()
            .filter(|r| r.resolved_at.is_none())
            .map(|r| r.labels.parse())
            .collect(),
    };
    let firing_labels = parsed.iter().chain(events.iter().map(|e| &e.alert.labels));
    let inhibitor = Inhibitor::new(&config.inhibit_rules, firing_labels);
    let silenced = |labels: &Labels| muting.silences.iter().any(|s| s.mutes(labels, now));

    let mut groups: BTreeMap<(String, ReceiverName), Group<'a>> = BTreeMap::new();
    let mut join = |labels: &Labels, add: &mut dyn FnMut(&mut Group<'a>)| {
        for node in route.resolve(labels) {
            let key = (group_key(node, labels), node.opts.receiver.clone());
            let group = groups.entry(key).or_insert_with(|| Group {
                labels: group_labels(&node.opts.group_by, labels),
                firing: Vec::new(),
                resolved: Vec::new(),
                events: Vec::new(),
                repeat_interval: node.opts.repeat_interval,
                group_wait: node.opts.group_wait,
                group_interval: node.opts.group_interval,
                muted: node.is_muted(now),
            });
            add(group);
        }
    };
    let mut muted_keys = HashSet::new();
    let mut mute = |labels: &Labels, count: &mut usize| {
        *count += 1;
        if !muting.acks.is_empty() {
            muted_keys.extend(route.resolve(labels).iter().map(|n| group_key(n, labels)));
        }
    };
    for record in records.values() {
        let labels = record.labels.parse();
        match record.resolved_at {
            None if inhibitor.mutes(&labels) => mute(&labels, &mut plan.inhibited),
            None if silenced(&labels) => mute(&labels, &mut plan.silenced),
            None => join(&labels, &mut |g| g.firing.push(record)),
            Some(_) => join(&labels, &mut |g| g.resolved.push(record)),
        }
    }
    for event in events {
        match &event.alert.labels {
            labels if inhibitor.mutes(labels) => plan.inhibited += 1,
            labels if silenced(labels) => plan.silenced += 1,
            labels => join(labels, &mut |g| g.events.push(event)),
        }
    }
    let firing: HashSet<&String> = groups
        .iter()
        .filter(|(_, g)| !g.firing.is_empty())
        .map(|((key, _), _)| key)
        .chain(&muted_keys)
        .collect();
    plan.acks_ended = (muting.acks.iter())
        .filter(|key| !firing.contains(key))
        .cloned()
        .collect();
    plan.acks_ended.sort();
    groups
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

/// When a run happens, and whether it paces groups (`run` does).
#[derive(Clone, Copy)]
struct Pacing {
    now: Timestamp,
    paced: bool,
}

/// `decision` after the receiver's pacing: Alertmanager is told what fires on every run (in
/// `run`, every resend interval); other receivers are held back by `group_wait` and
/// `group_interval` in `run` (counted in `deferred`).
fn pace(
    decision: Decision,
    group: &Group,
    last: Option<&LastNotified>,
    kind: &ReceiverKind,
    Pacing { now, paced }: Pacing,
    deferred: &mut usize,
) -> Decision {
    match kind.resend_interval() {
        // Alertmanager paces and dedups itself, and takes a firing alert it stops hearing
        // about for resolved: every run tells it (`run`, every resend interval) what fires.
        Some(resend) if !group.firing.is_empty() && !decision.notifies() => {
            let due = last.is_none_or(|l| now.duration_since(l.at).unsigned_abs() >= resend.get());
            match !paced || due {
                true => Decision::Repeat,
                false => decision,
            }
        }
        None if paced && decision.notifies() && held_back(group, last, decision, now) => {
            *deferred += 1;
            Decision::Skip
        }
        _ => decision,
    }
}

/// Whether `run` waits longer before notifying `group` (see [`plan`]).
fn held_back(
    group: &Group,
    last: Option<&LastNotified>,
    decision: Decision,
    now: Timestamp,
) -> bool {
    let since = |at: Timestamp| now.duration_since(at).unsigned_abs();
    match (decision, last) {
        (Decision::First, _) => group
            .firing
            .iter()
            .map(|a| a.starts_at)
            .min()
            .is_some_and(|oldest| since(oldest) < group.group_wait.get()),
        (Decision::Repeat, _) | (_, None) => false,
        (_, Some(last)) => since(last.at) < group.group_interval.get(),
    }
}

fn hashes<'a>(fingerprints: impl Iterator<Item = &'a Fingerprint>) -> BTreeSet<u64> {
    fingerprints.map(|f| f.0).collect()
}
