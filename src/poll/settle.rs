//! Phase 5, settle: what each receiver's answer lets the state remember. Pure, like
//! [`crate::route::decide`]: it reads the plan, the answers and the clock, and returns the
//! [`Changes`] to save; saving them is [`super::commit`]'s job.
//!
//! The rules that make delivery at-least-once:
//! - an accepted notification is recorded as soon as it is accepted (its notification log
//!   entry, its alerts' `last_notified_at`), so a crash later in the run repeats at most the
//!   notification in flight;
//! - an event goes to every receiver its routes name, and counts as sent (remembered as seen)
//!   only once every one of them accepted it; one that failed gets it next run (the others may
//!   get it twice);
//! - an event check's cursor moves, and a queue check's batch is committed, only when every
//!   event of that check was accepted; otherwise the same rows or messages come back next run
//!   and the ones already sent are skipped;
//! - a resolved alert is forgotten once it was announced and no group still reports it as
//!   firing; one that fired and resolved while its receivers failed is still owed, and stays
//!   until a notification about it is accepted (or the log's retention passes).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use jiff::Timestamp;

use super::lifecycle::Records;
use super::plan::Notification;
use crate::alert::Fingerprint;
use crate::sink::ReceiverName;
use crate::source::Value;
use crate::state::{AlertRecord, Changes, NotificationEntry, Thread};

/// How long a notification log entry that no notification refreshed is kept, and how long an
/// alert owed to a receiver waits to be announced (Alertmanager keeps its log 120h too).
pub const LOG_RETENTION: Duration = Duration::from_secs(120 * 3600);

/// The notification log, by group key and receiver.
pub type Log = HashMap<(String, ReceiverName), NotificationEntry>;

/// An event, as (check, fingerprint).
type EventId = (String, Fingerprint);

/// Where one run's deliveries stand.
#[derive(Debug, Default)]
pub struct Ledger {
    /// For each event, how many of its notifications are not answered yet.
    pending: HashMap<EventId, usize>,
    /// Events a receiver did not accept.
    failed: BTreeSet<EventId>,
    /// Checks with an event a receiver did not accept.
    failed_checks: BTreeSet<String>,
}

impl Ledger {
    /// A ledger for the run that sends `notifications`.
    pub fn new(notifications: &[Notification]) -> Self {
        let mut ledger = Self::default();
        for event in notifications.iter().flat_map(|n| &n.events) {
            *ledger.pending.entry(event.clone()).or_default() += 1;
        }
        ledger
    }

    /// What the answer to `notification` changes: when accepted, its log entry, its alerts'
    /// `last_notified_at`, and the events that every receiver has now accepted. `records` and
    /// `log` are kept up to date for [`Ledger::finish`].
    pub fn settle(
        &mut self,
        notification: &Notification,
        accepted: Option<Option<Thread>>,
        records: &mut Records,
        log: &mut Log,
        now: Timestamp,
    ) -> Changes {
        let mut changes = Changes::default();
        let Some(thread) = accepted else {
            for event in &notification.events {
                self.failed.insert(event.clone());
                self.failed_checks.insert(event.0.clone());
                self.answered(event);
            }
            return changes;
        };
        let announced = notification.firing.iter().chain(&notification.resolved);
        for fingerprint in announced {
            if let Some(record) = records.get_mut(fingerprint) {
                record.last_notified_at = Some(now);
                changes.alerts.push(AlertRecord::clone(record));
            }
        }
        let key = (
            notification.group_key.clone(),
            notification.receiver.clone(),
        );
        if notification.firing.is_empty() {
            log.remove(&key);
            changes.removed_notifications.push(key);
        } else {
            let entry = NotificationEntry {
                group_key: notification.group_key.clone(),
                receiver: notification.receiver.clone(),
                firing: notification.firing.clone(),
                resolved: notification.resolved.clone(),
                notified_at: now,
                thread,
            };
            log.insert(key, entry.clone());
            changes.notifications.push(entry);
        }
        for event in &notification.events {
            if self.answered(event) && !self.failed.contains(event) {
                changes.seen_events.push(event.clone());
            }
        }
        changes
    }

    /// Counts one answer for `event`; whether it was the last one.
    fn answered(&mut self, event: &EventId) -> bool {
        let left = self.pending.entry(event.clone()).or_insert(1);
        *left = left.saturating_sub(1);
        *left == 0
    }

    /// Whether `check` had an event a receiver did not accept (its cursor stays, its batch
    /// is rolled back).
    pub fn failed(&self, check: &str) -> bool {
        self.failed_checks.contains(check)
    }

    /// What the run leaves once every answer is in: the cursors of checks whose events were
    /// all accepted, log entries past retention, and resolved alerts that nothing reports any
    /// more.
    pub fn finish(
        &self,
        cursors: Vec<(String, Value)>,
        records: &Records,
        log: &mut Log,
        now: Timestamp,
    ) -> Changes {
        let mut changes = Changes {
            cursors: cursors
                .into_iter()
                .filter(|(check, _)| !self.failed(check))
                .collect(),
            ..Changes::default()
        };
        let expired: Vec<(String, ReceiverName)> = log
            .iter()
            .filter(|(_, entry)| older_than_retention(entry.notified_at, now))
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            log.remove(&key);
            changes.removed_notifications.push(key);
        }
        let reported: BTreeSet<&Fingerprint> = log.values().flat_map(|e| &e.firing).collect();
        for (fingerprint, record) in records {
            let Some(resolved_at) = record.resolved_at else {
                continue;
            };
            let announced =
                record.last_notified_at.is_some() || older_than_retention(resolved_at, now);
            if announced && !reported.contains(fingerprint) {
                changes.removed_alerts.push(*fingerprint);
            }
        }
        changes
    }
}

fn older_than_retention(at: Timestamp, now: Timestamp) -> bool {
    now.duration_since(at).unsigned_abs() > LOG_RETENTION
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::alert::GroupMessage;
    use crate::state::StoredLabels;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn fp(n: u64) -> Fingerprint {
        Fingerprint(n)
    }

    fn record(n: u64, resolved: bool, notified: bool) -> (Fingerprint, Box<AlertRecord>) {
        let labels = StoredLabels::new(&crate::alert::Labels::new());
        let record = AlertRecord {
            fingerprint: fp(n),
            check: "c".into(),
            labels: labels.clone(),
            annotations: labels,
            digest: None,
            starts_at: at(0),
            last_seen_at: at(0),
            last_notified_at: notified.then(|| at(0)),
            resolved_at: resolved.then(|| at(1)),
        };
        (fp(n), Box::new(record))
    }

    /// A notification to `receiver` of group `g`, firing `firing` and announcing `events` of
    /// check `e`.
    fn notification(receiver: &str, firing: &[u64], events: &[(&str, u64)]) -> Notification {
        Notification {
            receiver: ReceiverName(receiver.into()),
            group_key: "g".into(),
            message: GroupMessage::default(),
            firing: firing.iter().map(|&n| fp(n)).collect(),
            resolved: BTreeSet::new(),
            events: events.iter().map(|&(c, n)| (c.to_owned(), fp(n))).collect(),
            thread: None,
            controls: None,
        }
    }

    /// Settles `answers` (receiver index into `plan`, accepted?) in order, then finishes with
    /// a cursor proposed for check `e`; returns what was saved, in order.
    fn settle_all(
        plan: &[Notification],
        answers: &[(usize, bool)],
        records: &mut Records,
    ) -> Vec<Changes> {
        let mut ledger = Ledger::new(plan);
        let mut log = Log::new();
        let mut saved = Vec::new();
        for &(i, ok) in answers {
            let accepted = ok.then_some(None);
            saved.push(ledger.settle(&plan[i], accepted, records, &mut log, at(2)));
        }
        let cursors = vec![("e".to_owned(), Value::Int(7))];
        saved.push(ledger.finish(cursors, records, &mut log, at(2)));
        saved
    }

    #[test]
    fn what_each_answer_lets_the_state_remember() {
        struct Case {
            name: &'static str,
            plan: Vec<Notification>,
            answers: Vec<(usize, bool)>,
            /// Events remembered as sent, after each answer.
            seen: Vec<usize>,
            cursor_moves: bool,
            batch_commits: bool,
        }
        let cases = [
            Case {
                name: "one receiver accepts: the event is seen at once, the cursor moves",
                plan: vec![notification("a", &[], &[("e", 1)])],
                answers: vec![(0, true)],
                seen: vec![1],
                cursor_moves: true,
                batch_commits: true,
            },
            Case {
                name: "one receiver fails: nothing is seen, the cursor stays, the batch rolls back",
                plan: vec![notification("a", &[], &[("e", 1)])],
                answers: vec![(0, false)],
                seen: vec![0],
                cursor_moves: false,
                batch_commits: false,
            },
            Case {
                name: "two receivers: seen only when the second accepts",
                plan: vec![
                    notification("a", &[], &[("e", 1)]),
                    notification("b", &[], &[("e", 1)]),
                ],
                answers: vec![(0, true), (1, true)],
                seen: vec![0, 1],
                cursor_moves: true,
                batch_commits: true,
            },
            Case {
                name: "two receivers, the second fails: never seen, so both get it again",
                plan: vec![
                    notification("a", &[], &[("e", 1)]),
                    notification("b", &[], &[("e", 1)]),
                ],
                answers: vec![(0, true), (1, false)],
                seen: vec![0, 0],
                cursor_moves: false,
                batch_commits: false,
            },
            Case {
                name: "each of two events is recorded when its own notification is accepted",
                plan: vec![
                    notification("a", &[], &[("e", 1)]),
                    notification("a", &[], &[("e", 2)]),
                ],
                answers: vec![(0, true), (1, false)],
                seen: vec![1, 0],
                cursor_moves: false,
                batch_commits: false,
            },
        ];
        for case in cases {
            let mut records = Records::new();
            let saved = settle_all(&case.plan, &case.answers, &mut records);
            let seen: Vec<usize> = saved[..case.answers.len()]
                .iter()
                .map(|c| c.seen_events.len())
                .collect();
            assert_eq!(seen, case.seen, "{}", case.name);
            let finish = saved.last().unwrap();
            assert_eq!(
                !finish.cursors.is_empty(),
                case.cursor_moves,
                "{}",
                case.name
            );
            let mut ledger = Ledger::new(&case.plan);
            let mut log = Log::new();
            for &(i, ok) in &case.answers {
                ledger.settle(
                    &case.plan[i],
                    ok.then_some(None),
                    &mut records,
                    &mut log,
                    at(2),
                );
            }
            assert_eq!(!ledger.failed("e"), case.batch_commits, "{}", case.name);
        }
    }

    #[test]
    fn an_accepted_notification_records_its_log_entry_and_alerts_at_once() {
        let mut records: Records = [record(1, false, false)].into_iter().collect();
        let plan = [notification("a", &[1], &[])];
        let saved = settle_all(&plan, &[(0, true)], &mut records);
        assert_eq!(saved[0].notifications.len(), 1);
        assert_eq!(saved[0].alerts.len(), 1);
        assert_eq!(saved[0].alerts[0].last_notified_at, Some(at(2)));
    }

    #[test]
    fn a_resolved_alert_is_forgotten_only_once_announced() {
        // Resolved and announced: forgotten. Resolved while every receiver failed: still owed.
        let mut records: Records = [record(1, true, true), record(2, true, false)]
            .into_iter()
            .collect();
        let saved = settle_all(&[], &[], &mut records);
        assert_eq!(saved.last().unwrap().removed_alerts, [fp(1)]);
        // Past the log's retention an owed alert is given up.
        let mut log = Log::new();
        let later = at(1) + jiff::SignedDuration::from_secs(LOG_RETENTION.as_secs() as i64 + 1);
        let changes = Ledger::default().finish(Vec::new(), &records, &mut log, later);
        assert_eq!(changes.removed_alerts, [fp(1), fp(2)]);
    }
}
