//! The `route:`, `inhibit_rules:` and `time_intervals:` sections as written, and their checking
//! into [`Route`](super::Route), [`InhibitRule`](super::InhibitRule) and
//! [`TimeInterval`](super::TimeInterval): `route` (the tree), `inhibit` and `time_interval`,
//! with what they share here (matchers in their three spellings, scalars read as text).
//!
//! Every problem is reported at its key with what to do, and checking goes on so that one run
//! shows them all; what is built around a problem is never used, since a config with problems
//! is refused as a whole. The rules are Alertmanager's (`config/config.go`: `Route.UnmarshalYAML`,
//! `Config.UnmarshalYAML`, `checkReceiver`, `checkTimeInterval`).

mod inhibit;
mod route;
#[cfg(test)]
mod tests;
mod time_interval;

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Visitor};

use super::matcher::{MatchOp, Matcher, MatcherError, Matchers};
use super::parse;
use crate::config::reader::Reader;
use crate::config::yaml::{Node, Path};

pub(crate) use inhibit::resolve_inhibit_rules;
pub(crate) use route::resolve_route;
pub use time_interval::TimeIntervals;
pub(crate) use time_interval::resolve_time_intervals;

/// A scalar read as text, so that `test: 2` means the label value "2", as in Alertmanager.
#[derive(Debug)]
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            // YAML may have read `true` or `1.50` differently from how it was written; the
            // value must be quoted to mean what it says.
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Err(E::custom(format!("write the value in quotes: '{v}'")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Err(E::custom(format!("write the value in quotes: '{v}'")))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// Where the three ways of writing matchers sit for one set of them: `matchers`/`match`/
/// `match_re` on routes, `source_matchers`/`source_match`/… on inhibit rules.
struct MatcherKeys<'a> {
    path: &'a Path,
    matchers: &'a str,
    equal: &'a str,
    regex: &'a str,
}

/// Builds the matchers from the list syntax and the legacy maps, reporting each bad one at its
/// position with its text.
fn resolve_matchers(
    reader: &mut Reader,
    keys: MatcherKeys,
    list: Option<Vec<String>>,
    equal: Option<BTreeMap<String, Scalar>>,
    regex: Option<BTreeMap<String, Scalar>>,
) -> Matchers {
    let mut found = Vec::new();
    for (i, text) in list.unwrap_or_default().iter().enumerate() {
        match parse::matchers(text) {
            Ok(parsed) => found.extend(parsed),
            Err(err @ MatcherError::Regex { .. }) => reader.problem(
                &keys.path.key(keys.matchers).index(i),
                format!("in `{text}`: {err}; fix the pattern"),
            ),
            Err(err @ MatcherError::Syntax(_)) => reader.problem(
                &keys.path.key(keys.matchers).index(i),
                format!(
                    "`{text}` is not a valid matcher: {err}; write `name=\"value\"`, \
                     `name!=\"value\"`, `name=~\"regex\"` or `name!~\"regex\"`, and quote the \
                     whole entry in single quotes"
                ),
            ),
        }
    }
    for (key, map, op) in [
        (keys.equal, equal, MatchOp::Equal),
        (keys.regex, regex, MatchOp::Regex),
    ] {
        for (name, Scalar(value)) in map.unwrap_or_default() {
            let at = keys.path.key(key).key(&name);
            if !is_classic_label_name(&name) {
                reader.problem(
                    &at,
                    format!(
                        "`{name}` is not a valid label name for `{key}` (letters, digits and _, \
                         not starting with a digit); use `{}` for other names",
                        keys.matchers
                    ),
                );
                continue;
            }
            match Matcher::new(op, name, value) {
                Ok(matcher) => found.push(matcher),
                Err(err) => reader.problem(&at, format!("{err}; fix the pattern")),
            }
        }
    }
    Matchers::new(found)
}

/// Prometheus' legacy label names, `[a-zA-Z_][a-zA-Z0-9_]*`, which the legacy maps require.
fn is_classic_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The length of the list at `path`: `None` when absent, empty, or not a list (reported).
fn list_len(reader: &mut Reader, path: &Path, what: &str) -> Option<usize> {
    match reader.node(path) {
        None | Some(Node::Null) => None,
        Some(Node::Seq(items)) => Some(items.len()),
        Some(_) => {
            reader.problem(path, format!("expected {what} (entries starting with `-`)"));
            None
        }
    }
}
