//! The `receivers:` section: where notifications go, and how hard dbalert tries.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::duration::Duration;
use super::reader::Reader;
use super::yaml::Path;
use crate::sink::slack::SlackReceiverConfig;
use crate::sink::stdout::StdoutReceiverConfig;

/// A receiver's name as written under `receivers:`; routes and `send --to` refer to it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReceiverName(pub String);

impl fmt::Display for ReceiverName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry under `receivers:` as written: exactly one kind, plus the keys common to every kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiverConfig {
    /// A Slack Incoming Webhook.
    slack: Option<SlackReceiverConfig>,
    /// Prints each payload on standard output (what `--dry-run` does for every receiver).
    stdout: Option<StdoutReceiverConfig>,
    /// Retries after a 429, a 5xx or a network error before the notification counts as failed
    /// (it is retried again on the next run). Default 5.
    max_retries: Option<u32>,
    /// Time allowed for one HTTP request, connecting included. Default 10s.
    timeout: Option<Duration>,
    /// Time allowed for one notification, every retry and `Retry-After` wait included.
    /// Default 2m.
    deadline: Option<Duration>,
    /// Whether resolved alerts are announced. Default true.
    send_resolved: Option<bool>,
}

/// How a receiver delivers; the same for every kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub max_retries: u32,
    pub timeout: Duration,
    pub deadline: Duration,
    pub send_resolved: bool,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            max_retries: 5,
            timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(120),
            send_resolved: true,
        }
    }
}

#[derive(Debug, Clone)]
pub enum ReceiverKind {
    Slack(SlackReceiverConfig),
    Stdout(StdoutReceiverConfig),
}

impl ReceiverKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Slack(_) => "slack",
            Self::Stdout(_) => "stdout",
        }
    }
}

/// A checked receiver.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub name: ReceiverName,
    pub kind: ReceiverKind,
    pub delivery: Delivery,
}

const KINDS: &str = "`slack` or `stdout`";

/// Reads `receivers:`, one receiver at a time so that every broken one is reported.
pub(super) fn resolve(reader: &mut Reader) -> BTreeMap<ReceiverName, Receiver> {
    let section = Path::root().key("receivers");
    let mut receivers = BTreeMap::new();
    if reader.node(&section).is_some()
        && !matches!(
            reader.node(&section),
            Some(super::yaml::Node::Map(_)) | Some(super::yaml::Node::Null)
        )
    {
        reader.problem(&section, "expected a map of receiver names to receivers");
        return receivers;
    }
    for name in reader.keys(&section) {
        let path = section.key(&name);
        let Some(raw) = reader.parse::<ReceiverConfig>(&path) else {
            continue;
        };
        let defaults = Delivery::default();
        let delivery = Delivery {
            max_retries: raw.max_retries.unwrap_or(defaults.max_retries),
            timeout: raw.timeout.unwrap_or(defaults.timeout),
            deadline: raw.deadline.unwrap_or(defaults.deadline),
            send_resolved: raw.send_resolved.unwrap_or(defaults.send_resolved),
        };
        let kind = match (raw.slack, raw.stdout) {
            (Some(mut slack), None) => {
                slack.ca_file = slack.ca_file.map(|file| reader.base().join(file));
                if reader.unresolved_under(&path) {
                    // A value left unresolved cannot be checked; nothing will be sent with it.
                } else if let Err(problem) = slack.check() {
                    reader.problem(&path.key("slack").key(problem.key), problem.message);
                    continue;
                }
                ReceiverKind::Slack(slack)
            }
            (None, Some(stdout)) => ReceiverKind::Stdout(stdout),
            (None, None) => {
                reader.problem(
                    &path,
                    format!("receiver `{name}` has no kind; add one of {KINDS}"),
                );
                continue;
            }
            (Some(_), Some(_)) => {
                reader.problem(&path, format!("receiver `{name}` has more than one kind; keep one of {KINDS} and make another receiver for the other"));
                continue;
            }
        };
        let name = ReceiverName(name);
        receivers.insert(
            name.clone(),
            Receiver {
                name,
                kind,
                delivery,
            },
        );
    }
    receivers
}
