//! The alert lifecycle of state checks, as pure functions over the records the state store
//! keeps, with the clock passed in (the README's "`dbalert poll`" section):
//! - a new fingerprint fires (`starts_at` = now);
//! - one still returned keeps firing, with its labels and annotations refreshed;
//! - one a successful run no longer returns is resolved (`resolved_at` = now);
//! - one returned again after it resolved fires anew;
//! - a failed run changes nothing (it is not called), and raises `dbalert_check_failed`
//!   instead, which resolves when the check next succeeds.
//!
//! Queue checks whose messages are state changes rather than events (Oracle server alerts)
//! fire and resolve one alert per message instead: [`apply_transitions`].

use std::collections::{BTreeMap, BTreeSet, HashSet};

use jiff::Timestamp;

use crate::alert::{Alert, Fingerprint};
use crate::check::CHECK_FAILED;
use crate::check::alerts::Returned;
use crate::state::{AlertRecord, StoredLabels};

/// Every alert the store remembers, by fingerprint. Boxed, so that an entry is small: the map is
/// built from a list of all of them (with full nodes, where inserting one at a time would leave
/// them about half empty), and its nodes hold only keys and pointers.
pub type Records = BTreeMap<Fingerprint, Box<AlertRecord>>;

/// The fingerprints of the records a run changed; only those are written back, so a steady
/// state (nothing new) costs no writes.
pub type Changed = BTreeSet<Fingerprint>;

/// Applies a successful run of state check `check` that returned `current`. An alert made
/// from its row is dropped as soon as it is applied, so the alerts of a large result are never
/// all held at once beside the records. Returns how many rows had the identity of an earlier
/// row (they merge into one alert).
pub fn apply_run<'m>(
    records: &mut Records,
    check: &str,
    current: impl IntoIterator<Item = Returned<'m>>,
    now: Timestamp,
    changed: &mut Changed,
) -> usize {
    let mut seen = HashSet::new();
    let mut repeated = 0;
    for alert in current {
        repeated += usize::from(!seen.insert(alert.fingerprint()));
        fire(records, alert, now, changed);
    }
    for (fingerprint, record) in records.iter_mut() {
        if &*record.check == check && record.resolved_at.is_none() && !seen.contains(fingerprint) {
            record.resolved_at = Some(now);
            changed.insert(*fingerprint);
        }
    }
    repeated
}

/// What one queue message does to the alert it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Fires the alert, or keeps it firing with its labels and annotations refreshed.
    Fire,
    /// Resolves the alert if it is firing; a clear for an alert not firing (raised before
    /// dbalert subscribed, or already resolved) changes nothing.
    Resolve,
}

/// Applies messages that fire or resolve alerts by fingerprint, in queue order, so that a fire
/// and its clear in one batch leave the alert resolved. A redelivered message (after a rollback
/// or a crash before the queue commit) finds its change already made and changes nothing more.
pub fn apply_transitions(
    records: &mut Records,
    transitions: Vec<(Alert, Transition)>,
    now: Timestamp,
    changed: &mut Changed,
) {
    for (alert, transition) in transitions {
        match transition {
            Transition::Fire => fire(records, Returned::Made(alert), now, changed),
            Transition::Resolve => {
                let key = alert.fingerprint;
                if let Some(record) = records.get_mut(&key)
                    && record.resolved_at.is_none()
                {
                    record.resolved_at = Some(now);
                    changed.insert(key);
                }
            }
        }
    }
}

/// Fires `returned`, or keeps it firing: a firing alert made from the same row as before
/// (equal digests) is left as it is without being made; another is compared in full, and
/// saved if its labels, annotations or digest changed.
fn fire(records: &mut Records, returned: Returned, now: Timestamp, changed: &mut Changed) {
    let key = returned.fingerprint();
    let digest = returned.digest();
    match records.get_mut(&key) {
        Some(record) if record.resolved_at.is_none() => {
            if digest.is_some() && record.digest == digest {
                return;
            }
            let alert = returned.into_alert();
            if !record.labels.holds(&alert.labels) || !record.annotations.holds(&alert.annotations)
            {
                record.labels = StoredLabels::new(&alert.labels);
                record.annotations = StoredLabels::new(&alert.annotations);
                record.last_seen_at = now;
                changed.insert(key);
            }
            if record.digest != digest {
                record.digest = digest;
                changed.insert(key);
            }
        }
        _ => {
            let alert = returned.into_alert();
            changed.insert(key);
            records.insert(
                key,
                Box::new(AlertRecord {
                    fingerprint: key,
                    check: alert.check.into(),
                    labels: StoredLabels::new(&alert.labels),
                    annotations: StoredLabels::new(&alert.annotations),
                    digest,
                    starts_at: now,
                    last_seen_at: now,
                    last_notified_at: None,
                    resolved_at: None,
                }),
            );
        }
    }
}

/// Resolves the firing alerts of checks that are no longer in the config (removed or renamed),
/// and the failure alerts of such checks, so they do not repeat forever.
pub fn retire_unknown(
    records: &mut Records,
    configured: &BTreeSet<&str>,
    now: Timestamp,
    changed: &mut Changed,
) {
    for (fingerprint, record) in records.iter_mut() {
        if record.resolved_at.is_some() {
            continue;
        }
        let known = if &*record.check == CHECK_FAILED {
            let labels = record.labels.parse();
            labels
                .get("check")
                .is_some_and(|check| configured.contains(check.as_str()))
        } else {
            configured.contains(&*record.check)
        };
        if !known {
            record.resolved_at = Some(now);
            changed.insert(*fingerprint);
        }
    }
}

/// Fires (or keeps firing) a check's failure alert ([`crate::check::alerts::failure_alert`]).
pub fn apply_failure(records: &mut Records, alert: Alert, now: Timestamp, changed: &mut Changed) {
    fire(records, Returned::Made(alert), now, changed);
}

/// Resolves the alert `fingerprint` (a check's failure alert, once the check succeeds), if it
/// is firing.
pub fn clear(
    records: &mut Records,
    fingerprint: Fingerprint,
    now: Timestamp,
    changed: &mut Changed,
) {
    if let Some(record) = records.get_mut(&fingerprint)
        && record.resolved_at.is_none()
    {
        record.resolved_at = Some(now);
        changed.insert(fingerprint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(check: &str, key: &str) -> Alert {
        Alert {
            fingerprint: Fingerprint::of(check, "prod", [("k", key.to_owned())].into_iter()),
            check: check.to_owned(),
            labels: [("k".to_owned(), key.to_owned())].into(),
            annotations: Default::default(),
        }
    }

    /// Alerts as a run returns alerts dbalert made (with no digest).
    fn made(alerts: Vec<Alert>) -> impl Iterator<Item = Returned<'static>> {
        alerts.into_iter().map(Returned::Made)
    }

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + minute * 60).unwrap()
    }

    fn state(records: &Records) -> Vec<(String, i64, Option<i64>)> {
        records
            .values()
            .map(|r| {
                let minute = |t: Timestamp| (t.as_second() - 1_800_000_000) / 60;
                (
                    r.labels.parse()["k"].clone(),
                    minute(r.starts_at),
                    r.resolved_at.map(minute),
                )
            })
            .collect()
    }

    #[test]
    fn fire_keep_resolve_and_fire_again() {
        let mut records = Records::new();
        // (run at minute, keys returned, expected (key, starts_at, resolved_at) sorted by fingerprint)
        let _ = apply_run(
            &mut records,
            "c",
            made(vec![alert("c", "a"), alert("c", "b")]),
            at(0),
            &mut Changed::new(),
        );
        let mut got = state(&records);
        got.sort();
        assert_eq!(got, [("a".into(), 0, None), ("b".into(), 0, None)]);

        let _ = apply_run(
            &mut records,
            "c",
            made(vec![alert("c", "a")]),
            at(1),
            &mut Changed::new(),
        );
        let mut got = state(&records);
        got.sort();
        assert_eq!(
            got,
            [("a".into(), 0, None), ("b".into(), 0, Some(1))],
            "b resolved, a keeps its start"
        );

        let _ = apply_run(
            &mut records,
            "c",
            made(vec![alert("c", "a")]),
            at(2),
            &mut Changed::new(),
        );
        let mut got = state(&records);
        got.sort();
        assert_eq!(
            got,
            [("a".into(), 0, None), ("b".into(), 0, Some(1))],
            "a resolution is kept, not moved"
        );

        let _ = apply_run(
            &mut records,
            "c",
            made(vec![alert("c", "a"), alert("c", "b")]),
            at(3),
            &mut Changed::new(),
        );
        let mut got = state(&records);
        got.sort();
        assert_eq!(
            got,
            [("a".into(), 0, None), ("b".into(), 3, None)],
            "b fires anew"
        );
    }

    #[test]
    fn alerts_of_checks_no_longer_configured_resolve() {
        let mut records = Records::new();
        let _ = apply_run(
            &mut records,
            "old",
            made(vec![alert("old", "a")]),
            at(0),
            &mut Changed::new(),
        );
        let _ = apply_run(
            &mut records,
            "kept",
            made(vec![alert("kept", "b")]),
            at(0),
            &mut Changed::new(),
        );
        retire_unknown(&mut records, &["kept"].into(), at(1), &mut Changed::new());
        let mut got = state(&records);
        got.sort();
        assert_eq!(got, [("a".into(), 0, Some(1)), ("b".into(), 0, None)]);
    }

    #[test]
    fn a_run_touches_only_its_own_check() {
        let mut records = Records::new();
        let _ = apply_run(
            &mut records,
            "c",
            made(vec![alert("c", "a")]),
            at(0),
            &mut Changed::new(),
        );
        let _ = apply_run(&mut records, "d", made(vec![]), at(1), &mut Changed::new());
        assert!(records.values().all(|r| r.resolved_at.is_none()));
    }

    #[test]
    fn transitions_fire_and_resolve_by_fingerprint() {
        use Transition::{Fire, Resolve};
        // (message at minute, key, transition, expected (key, starts_at, resolved_at) after it)
        let table = [
            (0, "a", Resolve, vec![]), // a clear for an alert never seen: nothing
            (1, "a", Fire, vec![("a", 1, None)]),
            (2, "a", Fire, vec![("a", 1, None)]), // redelivered or repeated: keeps its start
            (3, "b", Fire, vec![("a", 1, None), ("b", 3, None)]),
            (4, "a", Resolve, vec![("a", 1, Some(4)), ("b", 3, None)]),
            (5, "a", Resolve, vec![("a", 1, Some(4)), ("b", 3, None)]), // redelivered clear
            (6, "a", Fire, vec![("a", 6, None), ("b", 3, None)]),       // fires anew
            (7, "b", Resolve, vec![("a", 6, None), ("b", 3, Some(7))]),
        ];
        let mut records = Records::new();
        for (minute, key, transition, expected) in table {
            let mut changed = Changed::new();
            apply_transitions(
                &mut records,
                vec![(alert("alerts", key), transition)],
                at(minute),
                &mut changed,
            );
            let mut got = state(&records);
            got.sort();
            let expected: Vec<(String, i64, Option<i64>)> = expected
                .into_iter()
                .map(|(k, s, r)| (k.to_owned(), s, r))
                .collect();
            assert_eq!(got, expected, "minute {minute}: {key} {transition:?}");
            let made_a_change = !matches!(minute, 0 | 2 | 5);
            assert_eq!(!changed.is_empty(), made_a_change, "minute {minute}");
        }
    }

    #[test]
    fn a_fire_and_its_clear_in_one_batch_leave_the_alert_resolved() {
        let mut records = Records::new();
        apply_transitions(
            &mut records,
            vec![
                (alert("alerts", "a"), Transition::Fire),
                (alert("alerts", "a"), Transition::Resolve),
            ],
            at(0),
            &mut Changed::new(),
        );
        assert_eq!(state(&records), [("a".into(), 0, Some(0))]);
    }

    #[test]
    fn failure_alert_fires_once_and_clears_on_success() {
        let check = crate::check::Check {
            name: "deadlocks".into(),
            source: crate::source::SourceName("prod".into()),
            interval: crate::check::DEFAULT_INTERVAL,
            kind: crate::check::CheckKind::State,
            sql: "select 1".into(),
            key: None,
            labels: vec![],
            annotations: vec![],
            no_rows: crate::check::NoRows::Ignore,
            deadlock_trace: false,
        };
        let mut records = Records::new();
        let failed = |message: &str| {
            let failure = crate::check::CheckFailure {
                reason: crate::check::FailureReason::Connection,
                message: message.into(),
            };
            crate::check::alerts::failure_alert(&check, &failure)
        };
        let key = failed("").fingerprint;
        apply_failure(
            &mut records,
            failed("connection refused"),
            at(0),
            &mut Changed::new(),
        );
        apply_failure(
            &mut records,
            failed("still refused"),
            at(1),
            &mut Changed::new(),
        );
        assert_eq!(records.len(), 1);
        let record = records.values().next().unwrap();
        assert_eq!(record.labels.parse()["alertname"], CHECK_FAILED);
        assert_eq!(record.labels.parse()["check"], "deadlocks");
        assert_eq!(record.annotations.parse()["description"], "still refused");
        assert_eq!(record.starts_at, at(0));
        clear(&mut records, key, at(2), &mut Changed::new());
        assert_eq!(records.values().next().unwrap().resolved_at, Some(at(2)));
    }
}
