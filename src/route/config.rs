//! The `route:`, `inhibit_rules:` and `time_intervals:` sections as written, and their checking
//! into [`Route`], [`InhibitRule`] and [`TimeInterval`].
//!
//! Every problem is reported at its key with what to do, and checking goes on so that one run
//! shows them all; what is built around a problem is never used, since a config with problems
//! is refused as a whole. The rules are Alertmanager's (`config/config.go`: `Route.UnmarshalYAML`,
//! `Config.UnmarshalYAML`, `checkReceiver`, `checkTimeInterval`): the root route needs a
//! receiver and may not have matchers, time intervals or `continue: true`; every receiver and
//! time interval a route names must exist; `group_by` may not mix `...` with labels nor repeat a
//! label; `group_interval` and `repeat_interval` may not be zero; legacy `match`/`match_re`
//! label names must be classic Prometheus names.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, Visitor};

use super::inhibit::InhibitRule;
use super::matcher::{MatchOp, Matcher, MatcherError, Matchers};
use super::parse;
use super::time_interval::{self, TimeInterval, TimeSpec};
use super::tree::{GroupBy, Route, RouteSpec};
use crate::config::ReceiverName;
use crate::config::duration::Duration;
use crate::config::reader::Reader;
use crate::config::yaml::{Node, Path};

/// The time intervals by name, as routes refer to them.
pub type TimeIntervals = BTreeMap<String, Arc<TimeInterval>>;

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

/// An entry of `time_intervals:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeIntervalConfig {
    /// The name routes refer to.
    name: String,
    /// The interval is every instant any of these specs contains.
    #[serde(default)]
    time_intervals: Vec<TimeSpecConfig>,
}

/// One spec of a time interval as written: every field given must match, and an entry of a
/// field is enough for it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeSpecConfig {
    /// Times of day, `{start_time: '09:00', end_time: '17:00'}`; the end is excluded.
    times: Option<Vec<TimeRangeConfig>>,
    /// Weekday names or ranges, `['monday:friday', 'sunday']`.
    weekdays: Option<Vec<Scalar>>,
    /// Days of the month or ranges, `['1:5', '-1']`; negative days count from the month's end.
    days_of_month: Option<Vec<Scalar>>,
    /// Month names, numbers or ranges, `['1:3', 'may:august', 'december']`.
    months: Option<Vec<Scalar>>,
    /// Years or ranges, `['2026', '2027:2030']`.
    years: Option<Vec<Scalar>>,
    /// The IANA time zone the other fields are read in, e.g. `Europe/Paris`; `Local` is the
    /// machine's. Default UTC.
    location: Option<String>,
}

/// `{start_time: HH:MM, end_time: HH:MM}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeRangeConfig {
    /// Start of the range, included: `00:00` to `23:59`.
    start_time: Scalar,
    /// End of the range, excluded: `00:01` to `24:00`.
    end_time: Scalar,
}

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

/// Reads `time_intervals:`.
pub(crate) fn resolve_time_intervals(reader: &mut Reader) -> TimeIntervals {
    let section = Path::root().key("time_intervals");
    let mut intervals = TimeIntervals::new();
    let Some(count) = list_len(reader, &section, "a list of named time intervals") else {
        return intervals;
    };
    for i in 0..count {
        let path = section.index(i);
        let Some(raw) = reader.parse::<TimeIntervalConfig>(&path) else {
            continue;
        };
        if raw.name.is_empty() {
            reader.problem(
                &path.key("name"),
                "the name is empty; give the interval a name",
            );
            continue;
        }
        let specs = raw
            .time_intervals
            .into_iter()
            .enumerate()
            .map(|(j, spec)| resolve_time_spec(reader, &path.key("time_intervals").index(j), spec))
            .collect();
        let interval = TimeInterval {
            name: raw.name.clone(),
            specs,
        };
        if intervals
            .insert(raw.name.clone(), Arc::new(interval))
            .is_some()
        {
            reader.problem(
                &path.key("name"),
                format!(
                    "a time interval named `{}` is already defined; rename one",
                    raw.name
                ),
            );
        }
    }
    intervals
}

fn resolve_time_spec(reader: &mut Reader, path: &Path, raw: TimeSpecConfig) -> TimeSpec {
    let times = raw.times.map(|ranges| {
        let mut minutes = Vec::new();
        for (i, range) in ranges.into_iter().enumerate() {
            let at = path.key("times").index(i);
            let start = time_interval::time_of_day(&range.start_time.0);
            let end = time_interval::time_of_day(&range.end_time.0);
            match (start, end) {
                (Ok(start), Ok(end)) if start < end => minutes.push((start, end)),
                (Ok(_), Ok(_)) => reader.problem(
                    &at,
                    "the start time must be before the end time; for a range past midnight \
                     write two ranges, one ending at 24:00",
                ),
                (Err(err), _) => reader.problem(&at.key("start_time"), err),
                (_, Err(err)) => reader.problem(&at.key("end_time"), err),
            }
        }
        minutes
    });
    let weekdays = ranges(
        reader,
        &path.key("weekdays"),
        raw.weekdays,
        time_interval::weekday_range,
    );
    let days_of_month = ranges(
        reader,
        &path.key("days_of_month"),
        raw.days_of_month,
        time_interval::day_of_month_range,
    );
    let months = ranges(
        reader,
        &path.key("months"),
        raw.months,
        time_interval::month_range,
    );
    let years = ranges(
        reader,
        &path.key("years"),
        raw.years,
        time_interval::year_range,
    );
    let location = match raw.location.as_deref().map(time_interval::location) {
        None => TimeSpec::default().location,
        Some(Ok(zone)) => zone,
        Some(Err(err)) => {
            reader.problem(&path.key("location"), err);
            TimeSpec::default().location
        }
    };
    TimeSpec {
        times,
        weekdays,
        days_of_month,
        months,
        years,
        location,
    }
}

/// Reads each entry of a range list with `parse`, reporting the ones that fail at their index.
fn ranges<T>(
    reader: &mut Reader,
    path: &Path,
    raw: Option<Vec<Scalar>>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<Vec<T>> {
    raw.map(|items| {
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                parse(&item.0)
                    .map_err(|err| reader.problem(&path.index(i), err))
                    .ok()
            })
            .collect()
    })
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
    let raw = reader.parse::<RouteConfig>(&path)?;
    check_root(reader, &path, &raw, &resolver.receivers);
    let receiver = raw.receiver.clone().map(ReceiverName);
    let spec = resolver.node(reader, &path, raw);
    Some(Route::new(receiver?, spec))
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
    for key in ["mute_time_intervals", "active_time_intervals"] {
        let list = if key == "mute_time_intervals" {
            &raw.mute_time_intervals
        } else {
            &raw.active_time_intervals
        };
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
            if let Some(child) = reader.parse::<RouteConfig>(&child_path) {
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

/// "one of: a, b" or advice to define one.
fn receiver_choice(receivers: &[String]) -> String {
    if receivers.is_empty() {
        "a receiver defined under `receivers:` (none is defined yet)".to_owned()
    } else {
        format!("one of: {}", receivers.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Problem;
    use crate::route::testing::{config, labels, problems};

    const RECEIVERS: &str = "receivers:\n  dba: {stdout: {}}\n  orders: {stdout: {}}\n";

    /// The problems of `text` (with two receivers) as `line:column key: message`.
    fn report(text: &str) -> Vec<String> {
        problems(&format!("{RECEIVERS}{text}"))
            .iter()
            .map(
                |Problem {
                     line,
                     column,
                     path,
                     message,
                 }| format!("{line}:{column} {path}: {message}"),
            )
            .collect()
    }

    fn assert_one(text: &str, position: &str, path: &str, message_part: &str) {
        let found = report(text);
        assert_eq!(found.len(), 1, "{found:#?}");
        let expected = format!("{position} {path}: ");
        assert!(
            found[0].starts_with(&expected),
            "{found:#?}\nwanted {expected}"
        );
        assert!(
            found[0].contains(message_part),
            "{found:#?}\nwanted {message_part}"
        );
    }

    #[test]
    fn an_unknown_receiver_is_reported_at_its_key_with_the_ones_that_exist() {
        assert_one(
            "route:\n  receiver: dba\n  routes:\n    - matchers: [owner=X]\n      receiver: ordres\n",
            "8:7",
            "route.routes[0].receiver",
            "no receiver is named `ordres`; define it under `receivers:` or use one of: dba, orders",
        );
    }

    #[test]
    fn a_bad_matcher_shows_its_text_and_position() {
        assert_one(
            "route:\n  receiver: dba\n  routes:\n    - receiver: orders\n      matchers:\n        - team=a\n        - 'owner ~ \"X\"'\n",
            "10:11",
            "route.routes[0].matchers[1]",
            "`owner ~ \"X\"` is not a valid matcher: at column 7: `~` is not an operator; write `=~` or `!~`",
        );
    }

    #[test]
    fn a_bad_regex_names_the_pattern() {
        assert_one(
            "route:\n  receiver: dba\n  routes:\n    - receiver: orders\n      matchers: ['owner=~\"ORDERS(\"']\n",
            "8:18",
            "route.routes[0].matchers[0]",
            "`ORDERS(` is not a valid regular expression: unclosed group",
        );
        assert_one(
            "route:\n  receiver: dba\n  routes:\n    - receiver: orders\n      match_re: {owner: 'ORDERS('}\n",
            "8:18",
            "route.routes[0].match_re.owner",
            "`ORDERS(` is not a valid regular expression: unclosed group; fix the pattern",
        );
    }

    #[test]
    fn the_root_route_follows_alertmanagers_rules() {
        assert_one(
            "route:\n  receiver: dba\n  matchers: [team=a]\n",
            "6:3",
            "route.matchers",
            "the root route takes every alert, so it cannot have matchers; move `matchers` to a child route",
        );
        assert_one(
            "route:\n  receiver: dba\n  match: {team: a}\n",
            "6:3",
            "route.match",
            "cannot have matchers",
        );
        assert_one(
            "route:\n  group_by: [alertname]\n",
            "4:1",
            "route",
            "the root route needs a `receiver`, for the alerts no child route takes; add `receiver: NAME` with one of: dba, orders",
        );
        assert_one(
            "route:\n  receiver: dba\n  continue: true\n",
            "6:3",
            "route.continue",
            "remove `continue`",
        );
        assert_one(
            "time_intervals: [{name: night, time_intervals: [{times: [{start_time: '00:00', end_time: '06:00'}]}]}]\nroute:\n  receiver: dba\n  mute_time_intervals: [night]\n",
            "7:3",
            "route.mute_time_intervals",
            "cannot have time intervals",
        );
        assert_one("route:\n", "4:1", "route", "the route is empty");
    }

    #[test]
    fn group_by_timers_and_time_interval_names_are_checked() {
        let base = "route:\n  receiver: dba\n  routes:\n    - matchers: [a=b]\n";
        assert_one(
            &format!("{base}      group_by: ['...', alertname]\n"),
            "8:7",
            "route.routes[0].group_by",
            "`...` already groups by every label",
        );
        assert_one(
            &format!("{base}      group_by: [alertname, alertname]\n"),
            "8:29",
            "route.routes[0].group_by[1]",
            "`alertname` is listed twice",
        );
        assert_one(
            &format!("{base}      repeat_interval: 0s\n"),
            "8:7",
            "route.routes[0].repeat_interval",
            "`repeat_interval` cannot be zero",
        );
        assert_one(
            &format!("{base}      active_time_intervals: [office]\n"),
            "8:31",
            "route.routes[0].active_time_intervals[0]",
            "no time interval is named `office`; define it under `time_intervals:` (none is defined yet)",
        );
        assert_one(
            &format!("{base}      match: {{'bad-name': x}}\n"),
            "8:15",
            "route.routes[0].match.bad-name",
            "`bad-name` is not a valid label name for `match`",
        );
        assert_one(
            &format!("{base}      match: {{enabled: true}}\n"),
            "8:15",
            "route.routes[0].match.enabled",
            "write the value in quotes: 'true'",
        );
        assert_one(
            &format!("{base}      recevier: dba\n"),
            "8:7",
            "route.routes[0].recevier",
            "unknown key `recevier`",
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let found = report(
            "route:\n  routes:\n    - receiver: nobody\n    - matchers: ['a=~(']\n      routes:\n        - receiver: ghost\n",
        );
        assert_eq!(found.len(), 4, "{found:#?}");
    }

    #[test]
    fn time_interval_problems_point_at_the_entry() {
        assert_one(
            "time_intervals:\n  - name: office\n    time_intervals:\n      - weekdays: ['monday:friday']\n        times: [{start_time: '17:00', end_time: '09:00'}]\n",
            "8:17",
            "time_intervals[0].time_intervals[0].times[0]",
            "write two ranges, one ending at 24:00",
        );
        assert_one(
            "time_intervals:\n  - name: office\n    time_intervals: [{location: Mars/Olympus}]\n",
            "6:23",
            "time_intervals[0].time_intervals[0].location",
            "`Mars/Olympus` is not a known time zone",
        );
        assert_one(
            "time_intervals:\n  - name: a\n  - name: a\n",
            "6:5",
            "time_intervals[1].name",
            "a time interval named `a` is already defined",
        );
    }

    #[test]
    fn inhibit_rules_are_read_with_both_syntaxes() {
        let config = config(
            "inhibit_rules:\n  - name: critical-mutes-warning\n    source_matchers: [severity=critical]\n    target_match: {severity: warning}\n    equal: [alertname]\n",
        );
        let rule = &config.inhibit_rules[0];
        assert_eq!(rule.name.as_deref(), Some("critical-mutes-warning"));
        assert_eq!(rule.source.to_string(), r#"{severity="critical"}"#);
        assert_eq!(rule.target.to_string(), r#"{severity="warning"}"#);
        assert_eq!(rule.equal, ["alertname"]);
        assert_one(
            "inhibit_rules:\n  - source_matchers: ['severity=~\"(\"']\n",
            "5:23",
            "inhibit_rules[0].source_matchers[0]",
            "in `severity=~\"(\"`: `(` is not a valid regular expression: unclosed group; fix the pattern",
        );
    }

    #[test]
    fn legacy_maps_become_sorted_matchers_and_numbers_read_as_text() {
        let route = config(
            "route:\n  receiver: dba\n  routes:\n    - receiver: orders\n      match: {test: 2, env: prod}\n      match_re: {owner: 'ORDERS.*'}\n      matchers: ['a=\"1\", b!=2', '{c=~\"x|y\"}']\n",
        )
        .route
        .unwrap();
        let node = &route.root().routes[0];
        assert_eq!(
            node.matchers.to_string(),
            r#"{a="1",b!="2",c=~"x|y",env="prod",owner=~"ORDERS.*",test="2"}"#
        );
        let alert = labels(&[
            ("a", "1"),
            ("c", "y"),
            ("env", "prod"),
            ("owner", "ORDERS_EU"),
            ("test", "2"),
        ]);
        assert_eq!(route.resolve(&alert)[0].opts.receiver.0, "orders");
    }

    #[test]
    fn a_config_without_routing_sections_has_none() {
        let config = config("state: {}\n");
        assert!(config.route.is_none());
        assert!(config.inhibit_rules.is_empty());
        assert!(config.time_intervals.is_empty());
    }
}
