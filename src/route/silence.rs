//! Silences: a set of matchers that mutes every alert it matches between two times, made by a
//! person (from the shell or a Slack button) with a comment. The shape is Alertmanager's
//! (`silence/silencepb`, API v2 `postableSilence`): matchers, `startsAt`, `endsAt`, `createdBy`,
//! `comment`, and an id.
//!
//! A silence mutes like an inhibit rule does, before routing: a silenced alert joins no group,
//! and a silenced event is dropped. Expiring a silence moves its end to now; expired silences
//! are kept (they are what `silence ls` shows as history), and never match.

use jiff::Timestamp;

use super::matcher::{MatchOp, Matcher, Matchers};
use crate::alert::Labels;

/// One silence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    /// A random UUID (version 4), as Alertmanager gives its silences.
    pub id: String,
    /// What it mutes; all must match. Never empty (a silence of everything is refused).
    pub matchers: Matchers,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// Who made it: a name given on the command line, or `<@U…>` for a Slack user.
    pub created_by: String,
    pub comment: String,
}

/// Where a silence is in its life, as Alertmanager names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    /// Starts later.
    Pending,
    /// Mutes now.
    Active,
    /// Ended, by its end time or by `silence expire`.
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Expired => "expired",
        }
    }
}

impl Silence {
    /// Its state at `now`.
    pub fn state(&self, now: Timestamp) -> SilenceState {
        if now >= self.ends_at {
            SilenceState::Expired
        } else if now < self.starts_at {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    /// Whether it mutes an alert with `labels` at `now`.
    pub fn mutes(&self, labels: &Labels, now: Timestamp) -> bool {
        self.state(now) == SilenceState::Active && self.matches(labels)
    }

    /// Whether its matchers match `labels`, whatever its state.
    pub fn matches(&self, labels: &Labels) -> bool {
        !self.matchers.is_empty() && self.matchers.matches(labels)
    }

    /// A silence of exactly `labels` (a group's labels: one `name="value"` matcher each, empty
    /// values left out), from `starts_at` to `ends_at`. `None` when no label has a value: it
    /// would silence everything.
    pub fn of_labels(
        labels: &Labels,
        starts_at: Timestamp,
        ends_at: Timestamp,
        created_by: String,
        comment: String,
    ) -> Option<Self> {
        let matchers: Vec<Matcher> = labels
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .filter_map(|(name, value)| Matcher::new(MatchOp::Equal, name, value).ok())
            .collect();
        (!matchers.is_empty()).then(|| Self {
            id: new_id(),
            matchers: Matchers::new(matchers),
            starts_at,
            ends_at,
            created_by,
            comment,
        })
    }

    /// Its matchers as Alertmanager's API v2 writes them, each label name passed through
    /// `name` (Alertmanager takes fewer characters in names than dbalert does).
    pub fn api_matchers(&self, name: impl Fn(&str) -> String) -> serde_json::Value {
        self.matchers
            .iter()
            .map(|m| {
                serde_json::json!({
                    "name": name(m.name()),
                    "value": m.value(),
                    "isRegex": matches!(m.op(), MatchOp::Regex | MatchOp::NotRegex),
                    "isEqual": matches!(m.op(), MatchOp::Equal | MatchOp::Regex),
                })
            })
            .collect()
    }
}

/// A new silence id: a random version 4 UUID, written as Alertmanager writes them.
pub fn new_id() -> String {
    let mut bytes: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::parse;
    use crate::route::testing::labels;

    fn silence(matchers: &str, starts: i64, ends: i64) -> Silence {
        Silence {
            id: new_id(),
            matchers: Matchers::new(parse::matchers(matchers).unwrap()),
            starts_at: Timestamp::from_second(starts).unwrap(),
            ends_at: Timestamp::from_second(ends).unwrap(),
            created_by: "ops".into(),
            comment: "maintenance".into(),
        }
    }

    #[test]
    fn a_silence_mutes_what_it_matches_only_between_its_start_and_its_end() {
        let s = silence(r#"alertname="Deadlock",owner=~"ORD.*""#, 100, 200);
        let deadlock = labels(&[("alertname", "Deadlock"), ("owner", "ORDERS")]);
        let other = labels(&[("alertname", "Deadlock"), ("owner", "BILLING")]);
        let at = |s: i64| Timestamp::from_second(s).unwrap();
        assert!(!s.mutes(&deadlock, at(99)), "pending");
        assert!(s.mutes(&deadlock, at(100)));
        assert!(s.mutes(&deadlock, at(199)));
        assert!(!s.mutes(&deadlock, at(200)), "ended");
        assert!(!s.mutes(&other, at(150)), "another owner");
        assert_eq!(
            [99, 150, 200].map(|t| s.state(at(t)).as_str()),
            ["pending", "active", "expired"]
        );
    }

    #[test]
    fn a_silence_without_matchers_mutes_nothing() {
        let s = silence("", 0, i64::from(i32::MAX));
        assert!(!s.mutes(&labels(&[("a", "b")]), Timestamp::from_second(5).unwrap()));
    }

    #[test]
    fn ids_are_version_4_uuids_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        let re = regex::Regex::new(
            "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        .unwrap();
        assert!(re.is_match(&a), "{a}");
    }
}
