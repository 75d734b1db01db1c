//! Alerts as a message shows them: what every renderer and receiver reads, whatever produced
//! the alert (a state record, an event, a queue message).

use std::collections::BTreeMap;

use super::{Fingerprint, Labels, Severity};

/// Annotations that give an alert its title, in order of preference; else its `alertname`.
const TITLE_ANNOTATIONS: &[&str] = &["summary", "title", "message"];

/// One alert as the message shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertView {
    /// The alert's identity (the state store's key), for receivers that pass it on.
    pub fingerprint: Fingerprint,
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    /// When it started firing.
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
