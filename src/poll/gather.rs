//! Part of planning: which alerts inhibit rules and silences mute, and which groups the others
//! join. Every alert is placed on every plan, so the work per alert is kept small: routing,
//! grouping and muting read only a few labels (the routes' matchers and `group_by`, the inhibit
//! rules', the silences'), and alerts that agree on those are placed alike. Each alert's
//! stored labels are scanned for those few, and what becomes of the alerts with that set is
//! worked out once (`Fate`); a route that groups by every label (`...`) reads them all, and
//! then each alert is placed on its own.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use jiff::Timestamp;

use super::lifecycle::Records;
use crate::alert::{Alert, Labels};
use crate::config::duration::Duration;
use crate::route::{Inhibitor, Route, Silence, group_key, group_labels};
use crate::settings::Config;
use crate::sink::ReceiverName;
use crate::state::AlertRecord;

/// An event to announce once (an event check's row, a queue message).
#[derive(Debug, Clone)]
pub struct Event {
    pub alert: Alert,
}

/// The silences and acknowledgements a run honours, read from the state file.
#[derive(Debug, Default)]
pub struct Muting {
    /// Silences; only those active at the run's time mute.
    pub silences: Vec<Silence>,
    /// The keys of acknowledged groups.
    pub acks: HashSet<String>,
}

/// One group's alerts while planning: references only, so that a group that is not notified
/// (most of them, in a steady state) costs no copies.
pub struct Group<'a> {
    pub labels: Labels,
    pub firing: Vec<&'a AlertRecord>,
    pub resolved: Vec<&'a AlertRecord>,
    pub events: Vec<&'a Event>,
    pub repeat_interval: Duration,
    pub group_wait: Duration,
    pub group_interval: Duration,
    /// Its route is in a mute time interval (or outside its active ones).
    pub muted: bool,
}

/// The groups of one plan by (group key, receiver), in key order.
pub type Groups<'a> = BTreeMap<(String, ReceiverName), Group<'a>>;

/// What [`gather`] counted beside the groups.
#[derive(Default)]
pub struct Tally {
    /// Firing alerts (and events) muted by an inhibit rule.
    pub inhibited: usize,
    /// Firing alerts (and events) muted by a silence.
    pub silenced: usize,
    /// Keys of acknowledged groups in which nothing fires any more: the acknowledgement ends.
    pub acks_ended: Vec<String>,
}

/// What becomes of the alerts that have one set of the labels routing and muting read.
struct Fate {
    /// Why a firing one is muted, if it is.
    muted: Option<Muted>,
    /// The groups it joins (a muted one joins none, but its groups' acknowledgements stay), as
    /// indices into [`Placer::groups`].
    joins: Vec<usize>,
}

#[derive(Clone, Copy)]
enum Muted {
    Inhibited,
    Silenced,
}

/// Works out fates and keeps the groups they name.
struct Placer<'a, 'c> {
    route: &'c Route,
    inhibitor: Inhibitor<'c>,
    muting: &'c Muting,
    now: Timestamp,
    /// Every group a fate named, in the order first named; some may stay empty.
    groups: Vec<((String, ReceiverName), Group<'a>)>,
    index: HashMap<(String, ReceiverName), usize>,
}

impl<'a> Placer<'a, '_> {
    fn fate(&mut self, labels: &Labels) -> Fate {
        let muted = if self.inhibitor.mutes(labels) {
            Some(Muted::Inhibited)
        } else if (self.muting.silences.iter()).any(|s| s.mutes(labels, self.now)) {
            Some(Muted::Silenced)
        } else {
            None
        };
        let mut joins = Vec::new();
        for node in self.route.resolve(labels) {
            let key = (group_key(node, labels), node.opts.receiver.clone());
            let next = self.groups.len();
            let slot = *self.index.entry(key.clone()).or_insert(next);
            if slot == next {
                let group = Group {
                    labels: group_labels(&node.opts.group_by, labels),
                    firing: Vec::new(),
                    resolved: Vec::new(),
                    events: Vec::new(),
                    repeat_interval: node.opts.repeat_interval,
                    group_wait: node.opts.group_wait,
                    group_interval: node.opts.group_interval,
                    muted: node.is_muted(self.now),
                };
                self.groups.push((key, group));
            }
            joins.push(slot);
        }
        Fate { muted, joins }
    }
}

/// The label names that routing, inhibition and silences read, or `None` when a route groups
/// by every label.
fn read_names<'c>(
    config: &'c Config,
    route: &'c Route,
    muting: &'c Muting,
) -> Option<BTreeSet<&'c str>> {
    let mut names = route.label_names()?;
    names.extend(config.inhibit_rules.iter().flat_map(|r| r.label_names()));
    for silence in &muting.silences {
        names.extend(silence.matchers.iter().map(|m| m.name()));
    }
    Some(names)
}

/// The labels of a projection ([`crate::state::StoredLabels::project`]).
fn unproject(key: &[u8]) -> Labels {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let mut parts = key.split(|&b| b == 0xff);
    let mut labels = Labels::new();
    while let (Some(name), Some(value)) = (parts.next(), parts.next()) {
        labels.insert(text(name), text(value));
    }
    labels
}

/// Mutes what inhibit rules and silences mute, and places the rest in groups, counting the
/// muted alerts. Also ends the acknowledgements of groups in which nothing fires,
/// muted alerts included (a silence over an acknowledged group does not end it).
pub fn gather<'a>(
    config: &Config,
    route: &Route,
    records: &'a Records,
    events: &'a [Event],
    muting: &Muting,
    now: Timestamp,
) -> (Groups<'a>, Tally) {
    let names = read_names(config, route, muting);
    let sources = inhibitors(config, records, &names);
    let sources = sources.iter().chain(events.iter().map(|e| &e.alert.labels));
    let inhibitor = Inhibitor::new(&config.inhibit_rules, sources);
    let mut tally = Tally::default();
    let mut placer = Placer {
        route,
        inhibitor,
        muting,
        now,
        groups: Vec::new(),
        index: HashMap::new(),
    };
    // The groups of muted alerts, whose acknowledgements do not end.
    let mut muted_groups: HashSet<usize> = HashSet::new();
    let mut fates: HashMap<Vec<u8>, Fate> = HashMap::new();
    let mut key = Vec::new();
    for record in records.values() {
        let own;
        let fate = match &names {
            Some(names) => {
                key.clear();
                record.labels.project(names, &mut key);
                if !fates.contains_key(&key) {
                    fates.insert(key.clone(), placer.fate(&unproject(&key)));
                }
                &fates[&key]
            }
            None => {
                own = placer.fate(&record.labels.parse());
                &own
            }
        };
        let groups = &mut placer.groups;
        match (record.resolved_at, fate.muted) {
            (None, Some(muted)) => {
                match muted {
                    Muted::Inhibited => tally.inhibited += 1,
                    Muted::Silenced => tally.silenced += 1,
                }
                if !muting.acks.is_empty() {
                    muted_groups.extend(&fate.joins);
                }
            }
            (None, None) => fate
                .joins
                .iter()
                .for_each(|&i| groups[i].1.firing.push(record)),
            (Some(_), _) => fate
                .joins
                .iter()
                .for_each(|&i| groups[i].1.resolved.push(record)),
        }
    }
    for event in events {
        let fate = placer.fate(&event.alert.labels);
        match fate.muted {
            Some(Muted::Inhibited) => tally.inhibited += 1,
            Some(Muted::Silenced) => tally.silenced += 1,
            None => (fate.joins.iter()).for_each(|&i| placer.groups[i].1.events.push(event)),
        }
    }
    tally.acks_ended = acks_ended(&placer.groups, &muted_groups, muting);
    let groups = (placer.groups.into_iter())
        .filter(|(_, g)| !(g.firing.is_empty() && g.resolved.is_empty() && g.events.is_empty()))
        .collect();
    (groups, tally)
}

/// The keys of acknowledged groups in which nothing fires, muted alerts included.
fn acks_ended(
    groups: &[((String, ReceiverName), Group)],
    muted_groups: &HashSet<usize>,
    muting: &Muting,
) -> Vec<String> {
    let firing: HashSet<&String> = (groups.iter().enumerate())
        .filter(|(i, (_, g))| !g.firing.is_empty() || muted_groups.contains(i))
        .map(|(_, ((key, _), _))| key)
        .collect();
    let mut ended: Vec<String> = (muting.acks.iter())
        .filter(|key| !firing.contains(key))
        .cloned()
        .collect();
    ended.sort();
    ended
}

/// The labels of every firing alert, as the inhibit rules see them; none without rules.
/// Alerts that agree on the labels read (`names`) count once: inhibition asks only whether
/// some source exists.
fn inhibitors(config: &Config, records: &Records, names: &Option<BTreeSet<&str>>) -> Vec<Labels> {
    if config.inhibit_rules.is_empty() {
        return Vec::new();
    }
    let firing = records.values().filter(|r| r.resolved_at.is_none());
    match names {
        Some(names) => {
            let mut seen = HashSet::new();
            for record in firing {
                let mut key = Vec::new();
                record.labels.project(names, &mut key);
                seen.insert(key);
            }
            seen.iter().map(|key| unproject(key)).collect()
        }
        None => firing.map(|r| r.labels.parse()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StoredLabels;

    #[test]
    fn a_projection_keeps_exactly_the_labels_read_escaped_text_included() {
        let labels: Labels = [
            ("alertname", "Deadlock"),
            ("owner", "ORDERS \"quoted\" \\ é\n\u{1}"),
            ("severity", "critical"),
            ("sql_id", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let stored = StoredLabels::new(&labels);
        let names = BTreeSet::from(["owner", "severity", "team"]);
        let mut key = Vec::new();
        stored.project(&names, &mut key);
        let mut expected = labels.clone();
        expected.retain(|k, _| names.contains(k.as_str()));
        assert_eq!(unproject(&key), expected);

        // Alerts that differ only in labels nothing reads share the projection.
        let mut other = labels.clone();
        other.insert("sql_id".into(), "y".into());
        let mut other_key = Vec::new();
        StoredLabels::new(&other).project(&names, &mut other_key);
        assert_eq!(other_key, key);
        other.insert("severity".into(), "warning".into());
        other_key.clear();
        StoredLabels::new(&other).project(&names, &mut other_key);
        assert_ne!(other_key, key);
    }
}
