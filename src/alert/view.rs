//! Alerts as a message shows them: what every renderer and receiver reads, whatever produced
//! the alert (a state record, an event, a queue message).

use std::collections::BTreeMap;

use super::{Fingerprint, Labels, Severity};

/// Annotations that give an alert its title, in order of preference; else its `alertname`.
const TITLE_ANNOTATIONS: &[&str] = &["summary", "title", "message"];

/// Annotations named `link:TITLE` (a check's `links:`) are link buttons titled TITLE.
pub const LINK_ANNOTATION: &str = "link:";

/// The label (a `starts_at` column of the query) that says when an alert happened, rather than
/// when dbalert first saw it.
pub const STARTS_AT: &str = "starts_at";

/// When the alert with `labels` happened, by its `starts_at` label: an RFC 3339 time
/// (`2026-11-23T08:14:02Z`, `…+01:00`), or a date and time without a zone
/// (`2026-11-23 08:14:02`, an Oracle `DATE`), read as UTC. `None` when there is no such label
/// or it is not a time, and the time dbalert first saw the alert stands.
pub fn reported_start(labels: &Labels) -> Option<jiff::Timestamp> {
    let text = labels.get(STARTS_AT)?.trim();
    text.parse::<jiff::Timestamp>().ok().or_else(|| {
        let civil: jiff::civil::DateTime = text.parse().ok()?;
        civil
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    })
}

/// One alert as the message shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertView {
    /// The alert's identity (the state store's key), for receivers that pass it on.
    pub fingerprint: Fingerprint,
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    /// When it happened: its `starts_at` label when that is a time ([`reported_start`]), else
    /// when dbalert first saw it.
    pub starts_at: jiff::Timestamp,
    /// When it was seen resolved; `None` while firing.
    pub ends_at: Option<jiff::Timestamp>,
}

impl AlertView {
    pub fn severity(&self) -> Severity {
        Severity::from_label(self.labels.get("severity").map(String::as_str))
    }

    pub fn title(&self) -> &str {
        TITLE_ANNOTATIONS
            .iter()
            .find_map(|name| self.annotations.get(*name))
            .or_else(|| self.labels.get("alertname"))
            .map_or("alert", String::as_str)
    }
}

/// A group's alerts for one message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupMessage {
    /// The labels every alert in the group shares (the `group_by` labels).
    pub group_labels: Labels,
    pub firing: Vec<AlertView>,
    pub resolved: Vec<AlertView>,
}

impl GroupMessage {
    /// The most urgent severity of the firing alerts; `Ok` when everything resolved.
    pub fn severity(&self) -> Severity {
        self.firing
            .iter()
            .map(AlertView::severity)
            .min()
            .unwrap_or(Severity::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_starts_at_label_says_when_it_happened() {
        let at = |value: &str| reported_start(&[(STARTS_AT.to_owned(), value.to_owned())].into());
        let expected: jiff::Timestamp = "2026-11-23T08:14:02Z".parse().unwrap();
        for value in [
            "2026-11-23T08:14:02Z",
            "2026-11-23T09:14:02+01:00",
            "2026-11-23 08:14:02",
            "2026-11-23T08:14:02",
        ] {
            assert_eq!(at(value), Some(expected), "{value}");
        }
        assert_eq!(at("yesterday"), None);
        assert_eq!(reported_start(&Labels::new()), None);
    }
}
