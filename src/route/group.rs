//! Aggregation groups and the decision to notify one.
//!
//! An alert routed to a node joins the group named by the node's key and the alert's values of
//! the node's `group_by` labels (labels it lacks are left out), Alertmanager's
//! `routeKey:groupLabels` (`dispatch/dispatch.go` `getGroupLabels`, `aggrGroup.GroupKey`).
//!
//! Whether a group is notified is Alertmanager's `needsUpdate` (`notify/dedup_stage.go`),
//! comparing the group's firing and resolved alerts now with those of its last notification:
//! - never notified: notify if something fires;
//! - an alert fires that was not firing at the last notification: notify;
//! - nothing fires any more but something did: notify, even with `send_resolved: false`, so
//!   that the notification log forgets the firing alerts;
//! - with `send_resolved`, an alert resolved that was not resolved at the last notification:
//!   notify (so a partial resolve without `send_resolved` waits for the repeat interval);
//! - otherwise notify only once `repeat_interval` has passed since the last notification.
//!
//! Alerts are compared by a 64-bit hash of their labels, whichever the caller chooses, as long
//! as it is stable across runs.

use std::collections::BTreeSet;
use std::fmt::Write;

use jiff::{SignedDuration, Timestamp};

use super::matcher::go_quote;
use super::tree::{GroupBy, RouteNode};
use crate::alert::Labels;
use crate::config::duration::Duration;

/// The labels that name an alert's group under `group_by`.
pub fn group_labels(group_by: &GroupBy, labels: &Labels) -> Labels {
    match group_by {
        GroupBy::All => labels.clone(),
        GroupBy::Labels(names) => names
            .iter()
            .filter_map(|name| Some((name.clone(), labels.get(name)?.clone())))
            .collect(),
    }
}

/// The key of the group an alert with `labels` joins at `node`:
/// `{}/{owner="A"}:{alertname="Deadlock", source="prod"}`.
pub fn group_key(node: &RouteNode, labels: &Labels) -> String {
    let mut key = format!("{}:{{", node.key());
    for (i, (name, value)) in group_labels(&node.opts.group_by, labels).iter().enumerate() {
        if i > 0 {
            key.push_str(", ");
        }
        let _ = write!(key, "{name}={}", go_quote(value));
    }
    key.push('}');
    key
}

/// Hashes of a group's alerts, split by state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertSets {
    /// Alerts firing.
    pub firing: BTreeSet<u64>,
    /// Alerts resolved and not yet forgotten.
    pub resolved: BTreeSet<u64>,
}

/// A group's entry in the notification log: what its last notification said, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastNotified {
    /// The alerts the notification reported.
    pub alerts: AlertSets,
    /// When it was accepted.
    pub at: Timestamp,
}

/// Whether to notify a group, and why (Alertmanager's `NotifyReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing new, and the repeat interval has not passed.
    Skip,
    /// The group is notified for the first time (or again after it had fully resolved).
    First,
    /// Alerts fire that the last notification did not report as firing.
    NewAlerts,
    /// Alerts resolved since the last notification (with `send_resolved`).
    NewResolved,
    /// Every alert that was firing has resolved.
    AllResolved,
    /// Nothing changed, but `repeat_interval` has passed.
    Repeat,
}

impl Decision {
    /// Whether a notification is sent.
    pub fn notifies(self) -> bool {
        self != Self::Skip
    }
}

/// Decides whether a group is notified now, given its last notification (`None`: never).
pub fn decide(
    last: Option<&LastNotified>,
    now_alerts: &AlertSets,
    send_resolved: bool,
    repeat_interval: Duration,
    now: Timestamp,
) -> Decision {
    let Some(last) = last else {
        return if now_alerts.firing.is_empty() {
            Decision::Skip
        } else {
            Decision::First
        };
    };
    if !now_alerts.firing.is_subset(&last.alerts.firing) {
        return if last.alerts.firing.is_empty() {
            Decision::First
        } else {
            Decision::NewAlerts
        };
    }
    if now_alerts.firing.is_empty() {
        return if last.alerts.firing.is_empty() {
            // Alerts fired and resolved between two notifications: the receiver never heard.
            Decision::Skip
        } else {
            Decision::AllResolved
        };
    }
    if send_resolved && !now_alerts.resolved.is_subset(&last.alerts.resolved) {
        return Decision::NewResolved;
    }
    let repeat = SignedDuration::try_from(repeat_interval.get()).unwrap_or(SignedDuration::MAX);
    if now.duration_since(last.at) > repeat {
        Decision::Repeat
    } else {
        Decision::Skip
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::testing::{labels, route};

    fn set(hashes: &[u64]) -> BTreeSet<u64> {
        hashes.iter().copied().collect()
    }

    fn sets(firing: &[u64], resolved: &[u64]) -> AlertSets {
        AlertSets {
            firing: set(firing),
            resolved: set(resolved),
        }
    }

    #[test]
    fn decisions_follow_alertmanagers_needs_update() {
        let now: Timestamp = "2026-03-02T12:00:00Z".parse().unwrap();
        let ago = |minutes: i64| now - SignedDuration::from_mins(minutes);
        let last = |firing: &[u64], resolved: &[u64], at: Timestamp| LastNotified {
            alerts: sets(firing, resolved),
            at,
        };
        let ten_minutes = Duration::from_secs(600);
        let four_hours = Duration::from_secs(4 * 3600);
        use Decision::*;
        // (last notification, now firing, now resolved, send_resolved, repeat, decision)
        // The first eleven rows are Alertmanager's TestDedupStageNeedsUpdate, in its order.
        type Case = (
            Option<LastNotified>,
            &'static [u64],
            &'static [u64],
            bool,
            Duration,
            Decision,
        );
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            (None, &[2, 3, 4], &[], false, ten_minutes, First),
            (None, &[], &[2, 3, 4], false, ten_minutes, Skip),
            (Some(last(&[1, 2, 3], &[], now)), &[2, 3, 4], &[], false, ten_minutes, NewAlerts),
            // a zero timestamp always repeats
            (Some(last(&[1, 2, 3], &[], Timestamp::UNIX_EPOCH)), &[1, 2, 3], &[], false, Duration::from_secs(0), Repeat),
            (Some(last(&[1, 2, 3], &[], ago(9))), &[1, 2, 3], &[], false, ten_minutes, Skip),
            (Some(last(&[1, 2, 3], &[], ago(11))), &[1, 2, 3], &[], false, ten_minutes, Repeat),
            (Some(last(&[], &[1, 2, 3], ago(11))), &[], &[3, 4, 5], true, ten_minutes, Skip),
            (Some(last(&[1, 2], &[3], ago(9))), &[1], &[2, 3], false, ten_minutes, Skip),
            (Some(last(&[1, 2], &[3], ago(9))), &[1], &[2, 3], true, ten_minutes, NewResolved),
            (Some(last(&[1, 2], &[3], ago(9))), &[], &[1, 2, 3], false, ten_minutes, AllResolved),
            (Some(last(&[1, 2], &[3], ago(9))), &[], &[1, 2, 3], true, ten_minutes, AllResolved),
            // after a full resolve, a new alert is a first notification again
            (Some(last(&[], &[1, 2], ago(1))), &[3], &[1, 2], true, four_hours, First),
            // the same alert firing again after it had resolved is new
            (Some(last(&[1], &[2], ago(1))), &[1, 2], &[], true, four_hours, NewAlerts),
            // fewer alerts firing, the rest simply gone (not reported resolved): wait
            (Some(last(&[1, 2], &[], ago(1))), &[1], &[], true, four_hours, Skip),
            // the repeat interval is strict: exactly on it is not past it
            (Some(last(&[1], &[], ago(240))), &[1], &[], true, four_hours, Skip),
            (Some(last(&[1], &[], ago(241))), &[1], &[], true, four_hours, Repeat),
            // resolved alerts already reported are not news
            (Some(last(&[1], &[2], ago(1))), &[1], &[2], true, four_hours, Skip),
        ];
        for (i, (last, firing, resolved, send_resolved, repeat, expected)) in
            cases.into_iter().enumerate()
        {
            let decision = decide(
                last.as_ref(),
                &sets(firing, resolved),
                send_resolved,
                repeat,
                now,
            );
            assert_eq!(decision, expected, "case {i}");
            assert_eq!(decision.notifies(), expected != Skip);
        }
    }

    #[test]
    fn group_keys_name_the_route_and_the_group_labels() {
        let tree = route(
            r#"
route:
  receiver: dba
  group_by: [alertname, source]
  routes:
    - matchers: ['owner=~"ORDERS|ORDERS_.*"']
      receiver: orders
    - matchers: [owner=ALL]
      group_by: ['...']
    - matchers: [owner=NONE]
      group_by: []
"#,
        );
        let key = |alert: &[(&str, &str)]| {
            let alert = labels(alert);
            group_key(tree.resolve(&alert)[0], &alert)
        };
        assert_eq!(
            key(&[("alertname", "deadlock"), ("source", "prod"), ("sid", "42")]),
            r#"{}:{alertname="deadlock", source="prod"}"#
        );
        // a group_by label the alert lacks is left out
        assert_eq!(
            key(&[("alertname", "deadlock"), ("owner", "ORDERS")]),
            r#"{}/{owner=~"ORDERS|ORDERS_.*"}:{alertname="deadlock"}"#
        );
        assert_eq!(
            key(&[("owner", "ALL"), ("msg", "say \"hi\"")]),
            r#"{}/{owner="ALL"}:{msg="say \"hi\"", owner="ALL"}"#
        );
        assert_eq!(
            key(&[("owner", "NONE"), ("alertname", "x")]),
            r#"{}/{owner="NONE"}:{}"#
        );
    }
}
