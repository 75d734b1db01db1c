//! Inhibition: a firing alert that matches a rule's source side mutes the alerts that match its
//! target side and carry the same values for the rule's `equal` labels.
//!
//! The meaning is Alertmanager's (`inhibit/inhibit.go`; docs `<inhibit_rule>`):
//! - only firing alerts inhibit; a label missing on either side equals an empty one, so when
//!   every `equal` label is missing on both, the rule applies;
//! - an alert that matches both sides of a rule cannot be inhibited, through that rule, by alerts
//!   that also match both sides (itself included), so a rule never lets an alert mute itself.
//!
//! Alertmanager keeps one source alert per `equal` value set and consults only that one; here
//! every firing source counts, which is the documented meaning.
//!
//! [`Inhibitor`] indexes the firing alerts once per run, so each check is a lookup per rule
//! rather than a scan of every firing alert.

use std::collections::HashMap;

use super::matcher::Matchers;
use crate::alert::Labels;

/// One entry of `inhibit_rules:`, checked.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    /// The rule's optional name, for logs.
    pub name: Option<String>,
    /// Alerts that inhibit (all must match).
    pub source: Matchers,
    /// Alerts that are inhibited (all must match).
    pub target: Matchers,
    /// Labels whose values must be the same on source and target.
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// Every label name the rule reads.
    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        let matchers = self.source.iter().chain(self.target.iter());
        (matchers.map(|m| m.name())).chain(self.equal.iter().map(String::as_str))
    }

    /// The values of the `equal` labels, with missing labels as `""`.
    fn equal_values(&self, labels: &Labels) -> Vec<String> {
        self.equal
            .iter()
            .map(|name| labels.get(name).cloned().unwrap_or_default())
            .collect()
    }
}

/// What firing source alerts exist for one rule and one set of `equal` values.
#[derive(Debug, Clone, Copy, Default)]
struct Sources {
    /// Some source alert exists.
    any: bool,
    /// Some source alert exists that does not also match the target side.
    source_only: bool,
}

/// The inhibition rules applied to one set of firing alerts.
#[derive(Debug)]
pub struct Inhibitor<'a> {
    rules: &'a [InhibitRule],
    /// Per rule (same index), the firing sources by their `equal` values.
    sources: Vec<HashMap<Vec<String>, Sources>>,
}

impl<'a> Inhibitor<'a> {
    /// Indexes the firing alerts (by their labels) as sources for `rules`.
    pub fn new<'l>(rules: &'a [InhibitRule], firing: impl IntoIterator<Item = &'l Labels>) -> Self {
        let mut sources = vec![HashMap::new(); rules.len()];
        for labels in firing {
            for (rule, by_values) in rules.iter().zip(&mut sources) {
                if !rule.source.matches(labels) {
                    continue;
                }
                let entry: &mut Sources = by_values.entry(rule.equal_values(labels)).or_default();
                entry.any = true;
                entry.source_only |= !rule.target.matches(labels);
            }
        }
        Self { rules, sources }
    }

    /// Whether an alert with these labels is muted by some rule.
    pub fn mutes(&self, labels: &Labels) -> bool {
        self.rules
            .iter()
            .zip(&self.sources)
            .any(|(rule, by_values)| {
                if !rule.target.matches(labels) {
                    return false;
                }
                let Some(found) = by_values.get(&rule.equal_values(labels)) else {
                    return false;
                };
                // An alert on both sides is only muted by a source that is not.
                if rule.source.matches(labels) {
                    found.source_only
                } else {
                    found.any
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::matcher::Matcher;
    use crate::route::parse;
    use crate::route::testing::labels;

    fn matchers(text: &str) -> Matchers {
        Matchers::new(parse::matchers(text).unwrap())
    }

    fn rule(source: &str, target: &str, equal: &[&str]) -> InhibitRule {
        InhibitRule {
            name: None,
            source: matchers(source),
            target: matchers(target),
            equal: equal.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn alert(pairs: &[(&str, &str)]) -> Labels {
        labels(pairs)
    }

    #[test]
    fn a_firing_source_mutes_matching_targets_with_equal_labels() {
        let rules = [rule(
            r#"severity="critical""#,
            r#"severity="warning""#,
            &["alertname", "cluster"],
        )];
        let critical = alert(&[
            ("alertname", "DiskFull"),
            ("cluster", "a"),
            ("severity", "critical"),
        ]);
        let firing = [critical];
        let inhibitor = Inhibitor::new(&rules, &firing);
        // (target, muted)
        let cases = [
            (
                alert(&[
                    ("alertname", "DiskFull"),
                    ("cluster", "a"),
                    ("severity", "warning"),
                ]),
                true,
            ),
            // another cluster: the equal labels differ
            (
                alert(&[
                    ("alertname", "DiskFull"),
                    ("cluster", "b"),
                    ("severity", "warning"),
                ]),
                false,
            ),
            // the target side does not match
            (
                alert(&[
                    ("alertname", "DiskFull"),
                    ("cluster", "a"),
                    ("severity", "info"),
                ]),
                false,
            ),
            // a missing equal label is not equal to a present one
            (
                alert(&[("alertname", "DiskFull"), ("severity", "warning")]),
                false,
            ),
            // the source itself is not a target
            (firing[0].clone(), false),
        ];
        for (target, expected) in cases {
            assert_eq!(inhibitor.mutes(&target), expected, "{target:?}");
        }
    }

    #[test]
    fn missing_labels_equal_empty_ones_on_both_sides() {
        let rules = [rule("kind=outage", "kind=symptom", &["zone"])];
        let firing = [alert(&[("kind", "outage")])];
        let inhibitor = Inhibitor::new(&rules, &firing);
        assert!(inhibitor.mutes(&alert(&[("kind", "symptom")])));
        assert!(inhibitor.mutes(&alert(&[("kind", "symptom"), ("zone", "")])));
        assert!(!inhibitor.mutes(&alert(&[("kind", "symptom"), ("zone", "eu")])));
        // no equal labels at all: any source mutes every target
        let rules = [rule("kind=outage", "kind=symptom", &[])];
        let inhibitor = Inhibitor::new(&rules, &firing);
        assert!(inhibitor.mutes(&alert(&[("kind", "symptom"), ("zone", "eu")])));
    }

    #[test]
    fn an_alert_on_both_sides_is_not_muted_by_alerts_on_both_sides() {
        // every database alert inhibits every other one in the same database
        let rules = [rule("team=db", "team=db", &["db"])];
        let a = alert(&[("team", "db"), ("db", "PROD"), ("alertname", "a")]);
        let b = alert(&[("team", "db"), ("db", "PROD"), ("alertname", "b")]);
        let firing = [a.clone(), b.clone()];
        let inhibitor = Inhibitor::new(&rules, &firing);
        assert!(!inhibitor.mutes(&a), "an alert never mutes itself");
        assert!(!inhibitor.mutes(&b), "nor one on both sides like it");

        // a source that matches only the source side still mutes an alert on both sides
        let rules = [rule(
            "severity=~critical|warning",
            "severity=warning",
            &["db"],
        )];
        let warning = alert(&[("severity", "warning"), ("db", "PROD")]);
        let critical = alert(&[("severity", "critical"), ("db", "PROD")]);
        let alone = [warning.clone()];
        assert!(!Inhibitor::new(&rules, &alone).mutes(&warning));
        let both = [warning.clone(), critical];
        assert!(Inhibitor::new(&rules, &both).mutes(&warning));
    }

    #[test]
    fn any_rule_is_enough_and_no_firing_alert_mutes_nothing() {
        let rules = [
            rule("alertname=InstanceDown", "alertname=~.+", &["instance"]),
            rule("alertname=Maintenance", "severity!=critical", &[]),
        ];
        let target = alert(&[
            ("alertname", "SlowQuery"),
            ("instance", "db1"),
            ("severity", "warning"),
        ]);
        assert!(!Inhibitor::new(&rules, []).mutes(&target));
        let down = [alert(&[("alertname", "InstanceDown"), ("instance", "db1")])];
        assert!(Inhibitor::new(&rules, &down).mutes(&target));
        let maintenance = [alert(&[("alertname", "Maintenance")])];
        assert!(Inhibitor::new(&rules, &maintenance).mutes(&target));
        let critical = alert(&[("alertname", "SlowQuery"), ("severity", "critical")]);
        assert!(!Inhibitor::new(&rules, &maintenance).mutes(&critical));
        // a rule without matchers on a side matches every alert there
        let everything = [InhibitRule {
            name: Some("all".into()),
            source: matchers("alertname=Maintenance"),
            target: Matchers::new(Vec::<Matcher>::new()),
            equal: vec![],
        }];
        assert!(Inhibitor::new(&everything, &maintenance).mutes(&critical));
    }
}
