//! Label matchers: `name=value`, `name!=value`, `name=~regex`, `name!~regex`.
//!
//! This module owns what a matcher *means*; [`super::parse`] owns how one is written. The
//! semantics are Alertmanager's (`pkg/labels/matcher.go`):
//! - a regex is compiled once, fully anchored as `^(?:regex)$`, so `=~"prod"` does not match
//!   `preprod`;
//! - a label the alert does not have reads as `""`, so `env!="prod"`, `env=~".*"` and `env=""`
//!   all match an alert without `env`;
//! - a list of matchers is an AND, and is kept sorted by (name, value, operator) because that
//!   order is part of a route's key (see [`super::tree`]).
//!
//! Regexes use Rust's `regex` crate, whose syntax is RE2's as in Go, with one difference worth
//! knowing: `\d`, `\w`, `\s` and `\b` are Unicode-aware here and ASCII-only in Go.

use std::cmp::Ordering;
use std::fmt::{self, Write};

use regex::Regex;

use crate::alert::Labels;

/// How a matcher compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchOp {
    /// `=`: the value equals.
    Equal,
    /// `!=`: the value differs.
    NotEqual,
    /// `=~`: the whole value matches the regex.
    Regex,
    /// `!~`: the whole value does not match the regex.
    NotRegex,
}

impl MatchOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equal => "=",
            Self::NotEqual => "!=",
            Self::Regex => "=~",
            Self::NotRegex => "!~",
        }
    }

    fn is_regex(self) -> bool {
        matches!(self, Self::Regex | Self::NotRegex)
    }
}

/// One label matcher, with its regex (if any) compiled.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    /// The anchored regex for `=~` and `!~`; `None` for `=` and `!=`.
    regex: Option<Regex>,
}

/// Why a matcher could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    /// The text does not follow the matcher syntax.
    #[error("{0}")]
    Syntax(String),
    /// The regex of a `=~` or `!~` matcher does not compile.
    #[error("`{pattern}` is not a valid regular expression: {reason}")]
    Regex { pattern: String, reason: String },
}

impl Matcher {
    /// Builds a matcher, compiling the regex of `=~` and `!~` anchored at both ends.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let value = value.into();
        let regex = if op.is_regex() {
            let anchored = format!("^(?:{value})$");
            Some(Regex::new(&anchored).map_err(|err| MatcherError::Regex {
                reason: regex_reason(&err),
                pattern: value.clone(),
            })?)
        } else {
            None
        };
        Ok(Self {
            name: name.into(),
            op,
            value,
            regex,
        })
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value or regex as written (without the anchors added for matching).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value satisfies the matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match (&self.regex, self.op) {
            (None, MatchOp::Equal) => value == self.value,
            (None, _) => value != self.value,
            (Some(regex), MatchOp::Regex) => regex.is_match(value),
            (Some(regex), _) => !regex.is_match(value),
        }
    }

    /// Whether the alert's labels satisfy the matcher; a missing label reads as `""`.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }

    /// Alertmanager's sort order: by name, then value, then operator.
    fn sort_key(&self) -> (&str, &str, MatchOp) {
        (&self.name, &self.value, self.op)
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.sort_key() == other.sort_key()
    }
}

impl Eq for Matcher {}

impl PartialOrd for Matcher {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Matcher {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

/// Written the way Alertmanager prints a matcher: `name="value"` with OpenMetrics escapes, or
/// with both sides Go-quoted when the name holds a character the syntax reserves.
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.chars().any(is_reserved) {
            write!(
                f,
                "{}{}{}",
                go_quote(&self.name),
                self.op.as_str(),
                go_quote(&self.value)
            )
        } else {
            write!(f, "{}{}\"", self.name, self.op.as_str())?;
            for c in self.value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    '"' => f.write_str("\\\"")?,
                    c => f.write_char(c)?,
                }
            }
            f.write_char('"')
        }
    }
}

/// A set of matchers that must all match (an empty set matches everything), sorted in
/// Alertmanager's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matchers(Vec<Matcher>);

impl Matchers {
    /// Sorts `matchers` into Alertmanager's order.
    pub fn new(mut matchers: Vec<Matcher>) -> Self {
        matchers.sort();
        Self(matchers)
    }

    /// Whether every matcher matches the labels.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }

    /// The matchers in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Matcher> {
        self.0.iter()
    }

    /// True when there are no matchers (the set matches every alert).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `{a="1",b=~"x|y"}`, as in Alertmanager route keys.
impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('{')?;
        for (i, matcher) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            write!(f, "{matcher}")?;
        }
        f.write_char('}')
    }
}

/// Characters that cannot appear in an unquoted name or value of the UTF-8 matcher syntax.
pub(crate) fn is_reserved(c: char) -> bool {
    c.is_whitespace() || "{}!=~,\\\"'`".contains(c)
}

/// Quotes like Go's `strconv.Quote`, which Alertmanager uses in keys and group labels. Control
/// characters are escaped; other non-ASCII text is kept as is.
pub(crate) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x80 && c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The last line of a regex error ("unclosed group"), without the pattern diagram, which would
/// show our anchors rather than what the user wrote.
fn regex_reason(err: &regex::Error) -> String {
    let text = err.to_string();
    let last = text.lines().last().unwrap_or(&text).trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_operator_matches_as_alertmanager_does() {
        let alert = labels(&[("env", "prod"), ("owner", "ORDERS_EU")]);
        // (operator, name, value, matches `alert`)
        let cases = [
            (MatchOp::Equal, "env", "prod", true),
            (MatchOp::Equal, "env", "pro", false),
            (MatchOp::NotEqual, "env", "prod", false),
            (MatchOp::NotEqual, "env", "dev", true),
            (MatchOp::Regex, "owner", "ORDERS|ORDERS_.*", true),
            (MatchOp::Regex, "owner", "ORDERS", false),
            (MatchOp::NotRegex, "owner", "ORDERS", true),
            (MatchOp::NotRegex, "owner", "ORDERS_.*", false),
            // a regex is anchored at both ends
            (MatchOp::Regex, "env", "rod", false),
            (MatchOp::Regex, "env", "pr", false),
            (MatchOp::Regex, "env", "p.*", true),
            // the user's own anchors are harmless
            (MatchOp::Regex, "env", "^prod$", true),
            // alternation is grouped before anchoring: not `^a|prod$`
            (MatchOp::Regex, "env", "a|pro", false),
            // a missing label reads as ""
            (MatchOp::Equal, "team", "", true),
            (MatchOp::NotEqual, "team", "x", true),
            (MatchOp::Regex, "team", ".*", true),
            (MatchOp::Regex, "team", ".+", false),
            (MatchOp::NotRegex, "team", ".+", true),
            (MatchOp::NotEqual, "team", "", false),
        ];
        for (op, name, value, expected) in cases {
            let matcher = Matcher::new(op, name, value).unwrap();
            assert_eq!(matcher.matches(&alert), expected, "{matcher}");
        }
    }

    #[test]
    fn a_bad_regex_names_the_pattern_and_the_reason() {
        let err = Matcher::new(MatchOp::Regex, "owner", "ORDERS(").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`ORDERS(` is not a valid regular expression: unclosed group"
        );
        // `=` never compiles its value
        assert!(Matcher::new(MatchOp::Equal, "owner", "ORDERS(").is_ok());
    }

    #[test]
    fn matchers_sort_and_print_like_alertmanager() {
        let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
        let set = Matchers::new(vec![
            m(MatchOp::Regex, "service", "a|b"),
            m(MatchOp::Equal, "env", "prod"),
            m(MatchOp::NotEqual, "env", "prod"),
            m(MatchOp::Equal, "msg", "say \"hi\"\\\n"),
        ]);
        assert_eq!(
            set.to_string(),
            r#"{env="prod",env!="prod",msg="say \"hi\"\\\n",service=~"a|b"}"#
        );
        assert_eq!(Matchers::default().to_string(), "{}");
        // a name the syntax reserves is quoted on both sides
        assert_eq!(
            m(MatchOp::Equal, "my label", "x\ty").to_string(),
            r#""my label"="x\ty""#
        );
    }

    #[test]
    fn an_empty_set_matches_everything_and_a_set_is_an_and() {
        let alert = labels(&[("a", "1"), ("b", "2")]);
        assert!(Matchers::default().matches(&alert));
        let m = |n: &str, v: &str| Matcher::new(MatchOp::Equal, n, v).unwrap();
        assert!(Matchers::new(vec![m("a", "1"), m("b", "2")]).matches(&alert));
        assert!(!Matchers::new(vec![m("a", "1"), m("b", "3")]).matches(&alert));
    }

    #[test]
    fn go_quote_escapes_controls() {
        assert_eq!(go_quote("a\"b\\c\u{1}é"), r#""a\"b\\c\x01é""#);
    }
}
