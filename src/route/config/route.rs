//! `route:`: the routing tree as written, checked into a [`Route`].
//!
//! Alertmanager's rules: the root route needs a receiver and may not have matchers, time
//! intervals or `continue: true`; every receiver and time interval a route names must exist;
//! `group_by` may not mix `...` with labels nor repeat a label; `group_interval` and
//! `repeat_interval` may not be zero.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{MatcherKeys, Scalar, TimeIntervals, resolve_matchers};
use crate::config::ReceiverName;
use crate::config::duration::Duration;
use crate::config::reader::Reader;
use crate::config::yaml::{Node, Path};
use crate::route::time_interval::TimeInterval;
use crate::route::tree::{GroupBy, Route, RouteSpec};

/// A node of the routing tree as written (`route:` and every entry of its `routes:`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteConfig {
    /// Where alerts this route handles are sent: a name under `receivers:`. Required on the
    /// root route; inherited from the parent otherwise.
    receiver: Option<String>,
    /// Labels that split the route's alerts into groups, one notification per group; `['...']`
    /// groups by every label (each alert alone) and `[]` puts all in one group. Inherited.
    group_by: Option<Vec<String>>,
    /// After this route matched, also try the routes after it at the same level. Default false.
    #[serde(rename = "continue", default)]
    continue_matching: bool,
    /// Label matchers the alert must all satisfy, e.g. `'owner=~"ORDERS|ORDERS_.*"'`; each
    /// entry may hold several, comma-separated. Operators `=`, `!=`, `=~`, `!~`; a regex must
    /// match the whole value; a missing label reads as "".
    matchers: Option<Vec<String>>,
    /// Deprecated: labels that must equal these values (prefer `matchers`).
    #[serde(rename = "match")]
    match_equal: Option<BTreeMap<String, Scalar>>,
    /// Deprecated: labels that must match these regexes (prefer `matchers`).
    match_re: Option<BTreeMap<String, Scalar>>,
    /// How long a new group waits for more alerts before its first notification (`run`).
    /// Default 30s; inherited.
    group_wait: Option<Duration>,
    /// How long a group waits before notifying about changes (`run`). Default 5m; inherited.
    group_interval: Option<Duration>,
    /// How long before an unchanged, still-firing group is notified again. Default 4h;
    /// inherited.
    repeat_interval: Option<Duration>,
    /// Names under `time_intervals:` during which this route sends nothing. Not inherited.
    mute_time_intervals: Option<Vec<String>>,
    /// Names under `time_intervals:` outside which this route sends nothing. Not inherited.
    active_time_intervals: Option<Vec<String>>,
    /// Child routes, tried in order; the first that matches takes the alert (see `continue`).
    routes: Option<Vec<IgnoredAny>>,
}

/// Reads `route:`; `None` when there is none (or it is broken).
pub(crate) fn resolve_route(reader: &mut Reader, intervals: &TimeIntervals) -> Option<Route> {
    let path = Path::root().key("route");
    match reader.node(&path) {
        None => return None,
        Some(Node::Null) => {
            reader.problem(
                &path,
                "the route is empty; give it at least `receiver: NAME`, where alerts go",
            );
            return None;
        }
        Some(_) => {}
    }
    let resolver = RouteResolver {
        receivers: reader.keys(&Path::root().key("receivers")),
        intervals,
    };
    let raw = parse_node(reader, &path)?;
    check_root(reader, &path, &raw, &resolver.receivers);
    let receiver = raw.receiver.clone().map(ReceiverName);
    let spec = resolver.node(reader, &path, raw);
    Some(Route::new(receiver?, spec))
}

/// Reads one node. Alertmanager reads `receiver: ''` as no receiver (inherited), and so does
/// this.
fn parse_node(reader: &mut Reader, path: &Path) -> Option<RouteConfig> {
    let mut raw = reader.parse::<RouteConfig>(path)?;
    raw.receiver = raw.receiver.filter(|name| !name.is_empty());
    Some(raw)
}

/// Alertmanager's rules for the root route, which every alert enters.
fn check_root(reader: &mut Reader, path: &Path, raw: &RouteConfig, receivers: &[String]) {
    if raw.receiver.is_none() {
        reader.problem(
            path,
            format!(
                "the root route needs a `receiver`, for the alerts no child route takes; add \
                 `receiver: NAME` with {}",
                receiver_choice(receivers)
            ),
        );
    }
    let not_on_root = |key: &str, what: &str| {
        format!(
            "the root route takes every alert, so it cannot have {what}; move `{key}` to a \
             child route under `routes:`"
        )
    };
    if raw.matchers.as_ref().is_some_and(|m| !m.is_empty()) {
        reader.problem(&path.key("matchers"), not_on_root("matchers", "matchers"));
    }
    if raw.match_equal.as_ref().is_some_and(|m| !m.is_empty()) {
        reader.problem(&path.key("match"), not_on_root("match", "matchers"));
    }
    if raw.match_re.as_ref().is_some_and(|m| !m.is_empty()) {
        reader.problem(&path.key("match_re"), not_on_root("match_re", "matchers"));
    }
    for (key, list) in [
        ("mute_time_intervals", &raw.mute_time_intervals),
        ("active_time_intervals", &raw.active_time_intervals),
    ] {
        if list.as_ref().is_some_and(|l| !l.is_empty()) {
            reader.problem(&path.key(key), not_on_root(key, "time intervals"));
        }
    }
    if raw.continue_matching {
        reader.problem(
            &path.key("continue"),
            "the root route has no siblings to continue to; remove `continue`",
        );
    }
}

struct RouteResolver<'a> {
    /// Receiver names as written under `receivers:`, broken ones included (they have their own
    /// problem, and saying they do not exist would mislead).
    receivers: Vec<String>,
    intervals: &'a TimeIntervals,
}

impl RouteResolver<'_> {
    /// Checks one node and, recursively, its children.
    fn node(&self, reader: &mut Reader, path: &Path, raw: RouteConfig) -> RouteSpec {
        let matchers = resolve_matchers(
            reader,
            MatcherKeys {
                path,
                matchers: "matchers",
                equal: "match",
                regex: "match_re",
            },
            raw.matchers,
            raw.match_equal,
            raw.match_re,
        );
        if let Some(name) = &raw.receiver
            && !self.receivers.contains(name)
        {
            reader.problem(
                &path.key("receiver"),
                format!(
                    "no receiver is named `{name}`; define it under `receivers:` or use {}",
                    receiver_choice(&self.receivers)
                ),
            );
        }
        let group_by = raw
            .group_by
            .map(|names| resolve_group_by(reader, &path.key("group_by"), names));
        for (key, value) in [
            ("group_interval", raw.group_interval),
            ("repeat_interval", raw.repeat_interval),
        ] {
            if value == Some(Duration::from_secs(0)) {
                reader.problem(
                    &path.key(key),
                    format!("`{key}` cannot be zero; give a duration such as 5m"),
                );
            }
        }
        let mute_time_intervals = self.intervals(
            reader,
            &path.key("mute_time_intervals"),
            raw.mute_time_intervals,
        );
        let active_time_intervals = self.intervals(
            reader,
            &path.key("active_time_intervals"),
            raw.active_time_intervals,
        );
        let children = raw.routes.map_or(0, |routes| routes.len());
        let mut routes = Vec::with_capacity(children);
        for i in 0..children {
            let child_path = path.key("routes").index(i);
            if let Some(child) = parse_node(reader, &child_path) {
                routes.push(self.node(reader, &child_path, child));
            }
        }
        RouteSpec {
            matchers,
            continue_matching: raw.continue_matching,
            receiver: raw.receiver.map(ReceiverName),
            group_by,
            group_wait: raw.group_wait,
            group_interval: raw.group_interval,
            repeat_interval: raw.repeat_interval,
            mute_time_intervals,
            active_time_intervals,
            routes,
        }
    }

    fn intervals(
        &self,
        reader: &mut Reader,
        path: &Path,
        names: Option<Vec<String>>,
    ) -> Vec<Arc<TimeInterval>> {
        let names = names.unwrap_or_default();
        let mut found = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            match self.intervals.get(name) {
                Some(interval) => found.push(Arc::clone(interval)),
                None => {
                    let defined: Vec<&str> = self.intervals.keys().map(String::as_str).collect();
                    let choice = if defined.is_empty() {
                        "none is defined yet".to_owned()
                    } else {
                        format!("defined: {}", defined.join(", "))
                    };
                    reader.problem(
                        &path.index(i),
                        format!(
                            "no time interval is named `{name}`; define it under \
                             `time_intervals:` ({choice})"
                        ),
                    );
                }
            }
        }
        found
    }
}

fn resolve_group_by(reader: &mut Reader, path: &Path, names: Vec<String>) -> GroupBy {
    if names.iter().any(|n| n == "...") {
        if names.len() > 1 {
            reader.problem(
                path,
                "`...` already groups by every label; remove the other labels or the `...`",
            );
        }
        return GroupBy::All;
    }
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            reader.problem(&path.index(i), "a label name cannot be empty");
        } else if names[..i].contains(name) {
            reader.problem(
                &path.index(i),
                format!("`{name}` is listed twice; remove one"),
            );
        }
    }
    GroupBy::Labels(names)
}

/// "one of: a, b" or advice to define one.
fn receiver_choice(receivers: &[String]) -> String {
    if receivers.is_empty() {
        "a receiver defined under `receivers:` (none is defined yet)".to_owned()
    } else {
        format!("one of: {}", receivers.join(", "))
    }
}
