//! Config errors and readings of the routing sections, each naming its line and key.

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
fn an_empty_receiver_is_inherited_as_in_alertmanager() {
    let route =
        config("route:\n  receiver: dba\n  routes:\n    - matchers: [a=b]\n      receiver: ''\n")
            .route
            .unwrap();
    assert_eq!(
        route.resolve(&labels(&[("a", "b")]))[0].opts.receiver.0,
        "dba"
    );
    assert_one(
        "route:\n  receiver: ''\n",
        "4:1",
        "route",
        "the root route needs a `receiver`",
    );
}

#[test]
fn a_config_without_routing_sections_has_none() {
    let config = config("state: {}\n");
    assert!(config.route.is_none());
    assert!(config.inhibit_rules.is_empty());
    assert!(config.time_intervals.is_empty());
}
