//! `inhibit_rules:` as written, checked into [`InhibitRule`]s.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{MatcherKeys, Scalar, list_len, resolve_matchers};
use crate::config::reader::Reader;
use crate::config::yaml::Path;
use crate::route::inhibit::InhibitRule;

/// An entry of `inhibit_rules:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InhibitRuleConfig {
    /// A name for logs.
    name: Option<String>,
    /// Matchers a firing alert must satisfy to inhibit others.
    source_matchers: Option<Vec<String>>,
    /// Deprecated: labels the source alert must have with these values.
    source_match: Option<BTreeMap<String, Scalar>>,
    /// Deprecated: labels of the source alert that must match these regexes.
    source_match_re: Option<BTreeMap<String, Scalar>>,
    /// Matchers an alert must satisfy to be inhibited.
    target_matchers: Option<Vec<String>>,
    /// Deprecated: labels the target alert must have with these values.
    target_match: Option<BTreeMap<String, Scalar>>,
    /// Deprecated: labels of the target alert that must match these regexes.
    target_match_re: Option<BTreeMap<String, Scalar>>,
    /// Labels that must have the same value on source and target (missing counts as "").
    equal: Option<Vec<String>>,
}

/// Reads `inhibit_rules:`.
pub(crate) fn resolve_inhibit_rules(reader: &mut Reader) -> Vec<InhibitRule> {
    let section = Path::root().key("inhibit_rules");
    let Some(count) = list_len(reader, &section, "a list of inhibit rules") else {
        return Vec::new();
    };
    let mut rules = Vec::with_capacity(count);
    for i in 0..count {
        let path = section.index(i);
        let Some(raw) = reader.parse::<InhibitRuleConfig>(&path) else {
            continue;
        };
        let source = resolve_matchers(
            reader,
            MatcherKeys {
                path: &path,
                matchers: "source_matchers",
                equal: "source_match",
                regex: "source_match_re",
            },
            raw.source_matchers,
            raw.source_match,
            raw.source_match_re,
        );
        let target = resolve_matchers(
            reader,
            MatcherKeys {
                path: &path,
                matchers: "target_matchers",
                equal: "target_match",
                regex: "target_match_re",
            },
            raw.target_matchers,
            raw.target_match,
            raw.target_match_re,
        );
        let equal = raw.equal.unwrap_or_default();
        for (j, name) in equal.iter().enumerate() {
            if name.is_empty() {
                reader.problem(&path.key("equal").index(j), "a label name cannot be empty");
            }
        }
        rules.push(InhibitRule {
            name: raw.name,
            source,
            target,
            equal,
        });
    }
    rules
}
