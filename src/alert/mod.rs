//! What an alert is: its identity ([`Fingerprint`]), labels, annotations and severity, and the
//! view of it that messages show ([`view`]). Every kind of check makes [`Alert`]s (the makers are
//! in `check/alerts.rs`); the poll engine, the state store and the renderers read them.

mod fingerprint;
pub mod view;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use fingerprint::{Fingerprint, Fnv};
pub use view::{AlertView, GroupMessage};

/// Label names and values. Ordered, so that everything derived from labels (fingerprints,
/// group keys, rendered lists) is stable.
pub type Labels = BTreeMap<String, String>;

/// An alert made from a row (or raised by dbalert itself).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub fingerprint: Fingerprint,
    /// The check that produced it.
    pub check: String,
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
}

/// How urgent a message is; shown in Slack as an emoji and a colour bar.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
    Info,
    Ok,
}

impl Severity {
    /// Reads a `severity` label value; anything unknown is `Warning`, so that an alert with a
    /// misspelt severity is still shown as something to look at rather than as good news.
    pub fn from_label(value: Option<&str>) -> Self {
        match value.map(str::to_ascii_lowercase).as_deref() {
            Some("critical" | "crit" | "error" | "fatal" | "page") => Self::Critical,
            Some("info" | "informational" | "notice" | "none") => Self::Info,
            Some("ok" | "resolved" | "clear" | "cleared") => Self::Ok,
            _ => Self::Warning,
        }
    }

    /// The Slack emoji code shown before the title.
    pub fn emoji(self) -> &'static str {
        match self {
            Self::Critical => ":red_circle:",
            Self::Warning => ":warning:",
            Self::Info => ":information_source:",
            Self::Ok => ":white_check_mark:",
        }
    }

    /// The attachment colour bar (Slack's own palette).
    pub fn color(self) -> &'static str {
        match self {
            Self::Critical => "#E01E5A",
            Self::Warning => "#ECB22E",
            Self::Info => "#36C5F0",
            Self::Ok => "#2EB67D",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Warning => "warning",
            Self::Info => "info",
            Self::Ok => "ok",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_severity_reads_as_warning() {
        assert_eq!(Severity::from_label(Some("CRITICAL")), Severity::Critical);
        assert_eq!(Severity::from_label(Some("bogus")), Severity::Warning);
        assert_eq!(Severity::from_label(None), Severity::Warning);
        assert_eq!(Severity::from_label(Some("ok")), Severity::Ok);
    }
}
