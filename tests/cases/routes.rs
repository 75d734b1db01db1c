//! `dbalert routes test` and `routes show` through the real binary, and the routing mistakes a
//! config check reports (one fixture per mistake).

use std::path::PathBuf;

use crate::support::{dbalert, stderr_of, stdout_of, workdir};

/// Receivers and a tree with nesting, `continue` and a regex; `routes test` needs nothing more.
const CONFIG: &str = r#"
receivers:
  dba: {stdout: {}}
  orders-team: {stdout: {}}
  orders-pager: {stdout: {}}
  oncall: {stdout: {}}
route:
  receiver: dba
  group_by: [alertname, source]
  routes:
    - matchers: ['owner=~"ORDERS|ORDERS_.*"']
      receiver: orders-team
      continue: true
      routes:
        - matchers: [severity="critical"]
          receiver: orders-pager
    - matchers: [severity="critical"]
      receiver: oncall
"#;

fn routes_test(args: &[&str]) -> assert_cmd::assert::Assert {
    let dir = workdir(&[("alerts.yaml", CONFIG)]);
    dbalert(dir.path())
        .args(["routes", "test"])
        .args(args)
        .assert()
}

#[test]
fn routes_test_prints_the_receivers_in_match_order() {
    for (labels, receivers) in [
        (&["owner=BILLING"][..], "dba\n"),
        (&["owner=ORDERS_EU"][..], "orders-team\n"),
        (
            &["owner=ORDERS", "severity=critical"][..],
            "orders-pager,oncall\n",
        ),
        (&["severity=critical"][..], "oncall\n"),
        (&[][..], "dba\n"),
    ] {
        let output = routes_test(labels).success().get_output().clone();
        assert_eq!(stdout_of(&output), receivers, "{labels:?}");
    }
}

#[test]
fn verify_exits_0_on_a_match_and_1_otherwise() {
    let output = routes_test(&[
        "--verify",
        "orders-pager,oncall",
        "owner=ORDERS",
        "severity=critical",
    ])
    .code(0)
    .get_output()
    .clone();
    assert_eq!(stdout_of(&output), "orders-pager,oncall\n");

    // order matters, as with amtool's --verify.receivers
    let output = routes_test(&[
        "--verify",
        "oncall,orders-pager",
        "owner=ORDERS",
        "severity=critical",
    ])
    .code(1)
    .get_output()
    .clone();
    assert_eq!(stdout_of(&output), "orders-pager,oncall\n");
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(
            "expected receivers `oncall,orders-pager`, but the alert goes to `orders-pager,oncall`"
        ),
        "{stderr}"
    );
}

#[test]
fn tree_draws_the_path_the_alert_takes() {
    let output = routes_test(&["--tree", "owner=ORDERS", "severity=critical"])
        .success()
        .get_output()
        .clone();
    assert_eq!(
        stdout_of(&output),
        "Matching routes:\n\
         default-route\n\
         ├── {owner=~\"ORDERS|ORDERS_.*\"}\n\
         │   └── {severity=\"critical\"}  receiver: orders-pager\n\
         └── {severity=\"critical\"}  receiver: oncall\n\
         \n\
         orders-pager,oncall\n"
    );
}

#[test]
fn show_draws_the_whole_tree() {
    let dir = workdir(&[("alerts.yaml", CONFIG)]);
    let output = dbalert(dir.path())
        .args(["routes", "show"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(
        stdout_of(&output),
        "Routing tree:\n\
         default-route  receiver: dba  group_by: [alertname, source]\n\
         ├── {owner=~\"ORDERS|ORDERS_.*\"}  continue: true  receiver: orders-team  group_by: [alertname, source]\n\
         │   └── {severity=\"critical\"}  receiver: orders-pager  group_by: [alertname, source]\n\
         └── {severity=\"critical\"}  receiver: oncall  group_by: [alertname, source]\n"
    );
}

#[test]
fn bad_labels_and_a_missing_route_cannot_run() {
    let output = routes_test(&["owner=~ORDERS"]).code(2).get_output().clone();
    assert!(
        stderr_of(&output).contains("give labels as LABEL=VALUE"),
        "{}",
        stderr_of(&output)
    );

    let dir = workdir(&[("alerts.yaml", "receivers:\n  dba: {stdout: {}}\n")]);
    let output = dbalert(dir.path())
        .args(["routes", "test", "a=b"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(
        stderr_of(&output).contains("has no `route:` section"),
        "{}",
        stderr_of(&output)
    );
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

#[test]
fn routing_mistakes_are_named_by_line_and_key() {
    for (file, location, key, words) in [
        (
            "route-unknown-receiver.yaml",
            ":9:7:",
            "route.routes[0].receiver",
            "no receiver is named `orders-teem`; define it under `receivers:` or use one of: dba, orders-team",
        ),
        (
            "route-bad-matcher.yaml",
            ":7:18:",
            "route.routes[0].matchers[0]",
            "`owner ~ \"ORDERS\"` is not a valid matcher: at column 7: `~` is not an operator",
        ),
        (
            "route-bad-regex.yaml",
            ":7:18:",
            "route.routes[0].matchers[0]",
            "`ORDERS(_.*` is not a valid regular expression: unclosed group",
        ),
        (
            "route-root-matchers.yaml",
            ":6:3:",
            "route.matchers",
            "the root route takes every alert, so it cannot have matchers",
        ),
    ] {
        let dir = workdir(&[]);
        let output = dbalert(dir.path())
            .arg("-c")
            .arg(fixture(file))
            .args(["routes", "test", "owner=ORDERS"])
            .assert()
            .code(2)
            .get_output()
            .clone();
        let stderr = stderr_of(&output);
        let want = format!("{file}{location} {key}: ");
        assert!(
            stderr.contains(&want),
            "{file}: expected `{want}` in:\n{stderr}"
        );
        assert!(
            stderr.contains(words),
            "{file}: expected `{words}` in:\n{stderr}"
        );
    }
}

#[test]
fn routes_test_needs_no_secret() {
    let text = "receivers:\n  dba:\n    slack:\n      webhook_url: ${env:UNSET_DBA_WEBHOOK}\n  orders:\n    slack:\n      webhook_url: ${file:missing.webhook}\n\
                route:\n  receiver: dba\n  routes:\n    - matchers: ['owner=\"ORDERS\"']\n      receiver: orders\n";
    let dir = workdir(&[("alerts.yaml", text)]);
    let output = dbalert(dir.path())
        .args(["routes", "test", "owner=ORDERS", "--verify", "orders"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "orders\n");
    // Commands that deliver still need every reference resolved.
    let check = dbalert(dir.path()).arg("check").output().unwrap();
    assert_eq!(check.status.code(), Some(2));
    assert!(
        stderr_of(&check).contains("`UNSET_DBA_WEBHOOK` is not set"),
        "{}",
        stderr_of(&check)
    );
}
