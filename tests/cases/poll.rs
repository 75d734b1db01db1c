//! `dbalert poll` through the real binary: real SQLite files, the fake Slack, a real state file.

use std::path::Path;
use std::time::Duration;

use crate::support::clock;
use crate::support::fake_slack::{FakeSlack, Reply};
use crate::support::{dbalert, stderr_of, stdout_of, workdir};

/// A SQLite database with a `problems(name, owner)` table and an `events(id, msg)` table.
fn database(dir: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(dir.join("app.db")).unwrap();
    conn.execute_batch(
        "create table problems (name text primary key, owner text);
         create table events (id integer primary key, msg text);",
    )
    .unwrap();
    conn
}

/// A config whose route has `extra_route` (indented keys) or, when empty, `group_by: [alertname]`.
fn config(extra_route: &str, checks: &str) -> String {
    let extra_route = if extra_route.is_empty() {
        "  group_by: [alertname]\n"
    } else {
        extra_route
    };
    format!(
        "state:\n  path: state.db\n\
         sources:\n  app:\n    sqlite:\n      path: app.db\n\
         receivers:\n  team:\n    slack:\n      webhook_url: ${{env:HOOK}}\n    max_retries: 1\n\
         route:\n  receiver: team\n{extra_route}\
         checks:\n{checks}"
    )
}

const PROBLEMS: &str = "  - name: problem\n    source: app\n    sql: select name, owner from problems\n    key: [name]\n    annotations: {summary: 'Problem {{ row.name }}'}\n";
const EVENTS: &str = "  - name: event\n    source: app\n    events: {cursor: id}\n    sql: select id, msg from events where :cursor is null or id >= :cursor\n";

fn poll(dir: &Path, hook: &str) -> std::process::Output {
    dbalert(dir).env("HOOK", hook).arg("poll").output().unwrap()
}

/// The `text` of every message that reached the webhook, in order.
fn texts(slack: &FakeSlack, hook: &str) -> Vec<String> {
    slack
        .requests_to(hook)
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.json()["text"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn state_alerts_fire_once_resolve_and_fire_again() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-state");
    let dir = workdir(&[("alerts.yaml", &config("", PROBLEMS))]);
    let db = database(dir.path());
    db.execute_batch("insert into problems values ('a', 'ORDERS'), ('b', 'BILLING')")
        .unwrap();

    let first = poll(dir.path(), &hook);
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    assert!(
        stdout_of(&first).is_empty() && stderr_of(&first).is_empty(),
        "silent on success"
    );
    assert_eq!(texts(&slack, &hook), [":warning: [FIRING:2] problem"]);

    poll(dir.path(), &hook);
    assert_eq!(
        texts(&slack, &hook).len(),
        1,
        "no repeat before repeat_interval"
    );

    db.execute("delete from problems where name = 'b'", [])
        .unwrap();
    poll(dir.path(), &hook);
    assert_eq!(
        texts(&slack, &hook)[1],
        ":warning: [FIRING:1, RESOLVED:1] problem"
    );

    db.execute("delete from problems", []).unwrap();
    poll(dir.path(), &hook);
    assert_eq!(
        texts(&slack, &hook)[2],
        ":white_check_mark: [RESOLVED:1] problem: Problem a"
    );

    db.execute("insert into problems values ('b', 'BILLING')", [])
        .unwrap();
    poll(dir.path(), &hook);
    assert_eq!(
        texts(&slack, &hook)[3],
        ":warning: [FIRING:1] problem: Problem b",
        "re-fires"
    );
    assert_eq!(texts(&slack, &hook).len(), 4);
}

#[test]
fn still_firing_alerts_repeat_after_repeat_interval() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-repeat");
    // "Not yet" is checked with an hour, so a slow machine cannot make it true by accident;
    // the hour then passes for the state file (moved back), not by waiting.
    let route = "  group_by: [alertname]\n  repeat_interval: 1h\n";
    let dir = workdir(&[("alerts.yaml", &config(route, PROBLEMS))]);
    database(dir.path())
        .execute("insert into problems values ('a', 'X')", [])
        .unwrap();
    poll(dir.path(), &hook);
    poll(dir.path(), &hook);
    assert_eq!(texts(&slack, &hook).len(), 1);
    clock::advance(&dir.path().join("state.db"), Duration::from_secs(3601));
    poll(dir.path(), &hook);
    assert_eq!(
        texts(&slack, &hook).len(),
        2,
        "repeated once the interval passed"
    );
}

#[test]
fn events_are_sent_once_with_no_gaps_and_history_skipped() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-events");
    let dir = workdir(&[("alerts.yaml", &config("  group_by: ['...']\n", EVENTS))]);
    let db = database(dir.path());
    db.execute("insert into events values (1, 'old'), (2, 'old too')", [])
        .unwrap();

    poll(dir.path(), &hook);
    assert!(
        slack.requests_to(&hook).is_empty(),
        "start: now skips history"
    );

    db.execute("insert into events values (3, 'new'), (4, 'newer')", [])
        .unwrap();
    poll(dir.path(), &hook);
    // `id >= :cursor` reads the last row again each time; it must not be sent twice.
    poll(dir.path(), &hook);
    db.execute("insert into events values (5, 'latest')", [])
        .unwrap();
    poll(dir.path(), &hook);
    let mut ids: Vec<String> = texts(&slack, &hook)
        .iter()
        .map(|text| {
            text.split("id=")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["3", "4", "5"]);
}

#[test]
fn failed_delivery_is_retried_next_run_and_nothing_is_lost() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-retry");
    let dir = workdir(&[("alerts.yaml", &config("", &format!("{PROBLEMS}{EVENTS}")))]);
    let db = database(dir.path());
    db.execute_batch("insert into events values (1, 'history')")
        .unwrap();
    poll(dir.path(), &hook); // cursor set, history skipped
    db.execute_batch(
        "insert into problems values ('a', 'X'); insert into events values (2, 'boom');",
    )
    .unwrap();

    // Two notifications (the problem and the event), each tried twice (max_retries: 1).
    slack.script(&hook, vec![Reply::Status(500, "rollup_error"); 4]);
    let failed = poll(dir.path(), &hook);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr_of(&failed));
    assert!(
        stderr_of(&failed).contains("retried next run"),
        "{}",
        stderr_of(&failed)
    );

    let ok = poll(dir.path(), &hook);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr_of(&ok));
    let delivered = texts(&slack, &hook);
    assert_eq!(delivered.len(), 2, "{delivered:?}");
    assert!(delivered.iter().any(|t| t.contains("[FIRING:1] problem")));
    assert!(delivered.iter().any(|t| t.contains("[FIRING:1] event")));
    poll(dir.path(), &hook);
    assert_eq!(
        texts(&slack, &hook).len(),
        2,
        "and once delivered, not again"
    );
}

#[test]
fn a_failing_check_raises_its_own_alert_and_others_still_deliver() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-failing");
    let broken = "  - name: broken\n    source: app\n    sql: select * from no_such_table\n";
    let dir = workdir(&[(
        "alerts.yaml",
        &config(
            "  group_by: [alertname, check]\n",
            &format!("{PROBLEMS}{broken}"),
        ),
    )]);
    let db = database(dir.path());
    db.execute("insert into problems values ('a', 'X')", [])
        .unwrap();

    let output = poll(dir.path(), &hook);
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("check=broken") && stderr.contains("no such table: no_such_table"),
        "{stderr}"
    );
    let delivered = texts(&slack, &hook);
    assert!(
        delivered.iter().any(|t| t.contains("[FIRING:1] problem")),
        "{delivered:?}"
    );
    assert!(
        delivered
            .iter()
            .any(|t| t.contains("[FIRING:1] dbalert_check_failed (check=broken)")),
        "{delivered:?}"
    );

    // Once the check works again, its failure alert resolves.
    db.execute("create table no_such_table (x)", []).unwrap();
    let fixed = dbalert(dir.path())
        .env("HOOK", &hook)
        .args(["poll", "--check", "broken"])
        .output()
        .unwrap();
    assert_eq!(fixed.status.code(), Some(0), "{}", stderr_of(&fixed));
    let delivered = texts(&slack, &hook);
    assert_eq!(delivered.len(), 3, "{delivered:?}");
    assert!(
        delivered[2].starts_with(":white_check_mark: [RESOLVED:1] dbalert_check_failed"),
        "{delivered:?}"
    );
}

#[test]
fn dry_run_prints_and_changes_nothing() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-dry");
    let dir = workdir(&[("alerts.yaml", &config("", PROBLEMS))]);
    database(dir.path())
        .execute("insert into problems values ('a', 'X')", [])
        .unwrap();
    let output = dbalert(dir.path())
        .env("HOOK", &hook)
        .args(["poll", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let printed: serde_json::Value = serde_json::from_str(stdout_of(&output).trim()).unwrap();
    assert_eq!(printed["receiver"], "team");
    assert_eq!(
        printed["payload"]["text"],
        ":warning: [FIRING:1] problem: Problem a"
    );
    assert!(!dir.path().join("state.db").exists(), "no state written");
    poll(dir.path(), &hook);
    assert_eq!(texts(&slack, &hook).len(), 1, "the real run still sends it");
}

#[test]
fn a_second_poll_on_the_same_state_exits_75_or_waits() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-lock");
    let dir = workdir(&[("alerts.yaml", &config("", PROBLEMS))]);
    database(dir.path())
        .execute("insert into problems values ('a', 'X')", [])
        .unwrap();
    let lock = dbalert::state::StateLock::acquire(&dir.path().join("state.db")).unwrap();
    let output = poll(dir.path(), &hook);
    assert_eq!(output.status.code(), Some(75), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("another dbalert poll is using the state file"));

    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        drop(lock);
    });
    let waited = dbalert(dir.path())
        .env("HOOK", &hook)
        .args(["poll", "--wait-lock", "10s"])
        .output()
        .unwrap();
    release.join().unwrap();
    assert_eq!(waited.status.code(), Some(0), "{}", stderr_of(&waited));
    assert_eq!(texts(&slack, &hook).len(), 1);
}

#[test]
fn a_state_file_that_cannot_be_made_says_why_once() {
    // `state` is a file, so the state file's directory cannot be made.
    let dir = workdir(&[
        (
            "alerts.yaml",
            &config("", PROBLEMS).replace("path: state.db", "path: state/state.db"),
        ),
        ("state", "a file, not a directory"),
    ]);
    database(dir.path());
    let output = dbalert(dir.path())
        .env("HOOK", "http://127.0.0.1:9/x")
        .arg("poll")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(stderr.contains("cannot use "), "{stderr}");
    assert_eq!(stderr.matches("os error").count(), 1, "{stderr}");
}

#[test]
fn a_corrupt_state_file_is_refused_and_left_alone() {
    let dir = workdir(&[
        ("alerts.yaml", &config("", PROBLEMS)),
        ("state.db", "not a database at all"),
    ]);
    database(dir.path());
    let output = dbalert(dir.path())
        .env("HOOK", "http://127.0.0.1:9/x")
        .arg("poll")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("is not a usable dbalert state file"),
        "{}",
        stderr_of(&output)
    );
    assert_eq!(
        std::fs::read(dir.path().join("state.db")).unwrap(),
        b"not a database at all"
    );
}

#[test]
fn unknown_check_and_no_checks_are_usage_errors() {
    let dir = workdir(&[("alerts.yaml", &config("", PROBLEMS))]);
    let output = dbalert(dir.path())
        .env("HOOK", "http://127.0.0.1:9/x")
        .args(["poll", "--check", "nope"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("no check named `nope`"));
    let empty = workdir(&[("alerts.yaml", "receivers:\n  c: {stdout: {}}\n")]);
    let output = dbalert(empty.path()).arg("poll").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("has no checks"));
}

#[test]
fn killed_at_any_point_nothing_is_lost() {
    // Six state alerts and three events, one message each (group_by ['...']), to a webhook
    // that answers slowly; dbalert paces one message a second, so a run takes about six
    // seconds and a SIGKILL lands before, during and between deliveries and the save.
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-crash");
    let dir = workdir(&[(
        "alerts.yaml",
        &config("  group_by: ['...']\n", &format!("{PROBLEMS}{EVENTS}")),
    )]);
    let db = database(dir.path());
    db.execute_batch("insert into events values (1, 'history')")
        .unwrap();
    poll(dir.path(), &hook); // the event cursor starts here
    db.execute_batch(
        "insert into problems values ('p1','A'),('p2','A'),('p3','B'),('p4','B'),('p5','C'),('p6','C');
         insert into events values (2, 'e2'), (3, 'e3'), (4, 'e4');",
    )
    .unwrap();
    slack.script(&hook, vec![Reply::Slow(Duration::from_millis(300)); 40]);

    let binary = assert_cmd::cargo::cargo_bin("dbalert");
    for kill_after_ms in [150, 700, 1300, 1900, 2600, 3400, 4100, 5200] {
        let mut child = std::process::Command::new(&binary)
            .current_dir(dir.path())
            .env("HOOK", &hook)
            .env("HOME", dir.path())
            .env_remove("RUST_LOG")
            .arg("poll")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(kill_after_ms));
        let _ = child.kill(); // SIGKILL; the poll may also have finished by now
        child.wait().unwrap();
    }
    let last = dbalert(dir.path())
        .env("HOOK", &hook)
        .arg("poll")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(last.status.code(), Some(0), "{}", stderr_of(&last));

    let delivered = texts(&slack, &hook);
    for name in ["p1", "p2", "p3", "p4", "p5", "p6"] {
        assert!(
            delivered
                .iter()
                .any(|t| t.contains(&format!("Problem {name}"))),
            "{name} was never delivered: {delivered:#?}"
        );
    }
    for id in ["id=2", "id=3", "id=4"] {
        assert!(
            delivered.iter().any(|t| t.contains(id)),
            "event {id} was lost: {delivered:#?}"
        );
    }
    let settled = delivered.len();
    poll(dir.path(), &hook);
    assert_eq!(
        texts(&slack, &hook).len(),
        settled,
        "after a clean run, nothing is owed"
    );
}

#[test]
fn status_lists_what_fires() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-status");
    let dir = workdir(&[("alerts.yaml", &config("", PROBLEMS))]);
    let none = dbalert(dir.path())
        .env("HOOK", &hook)
        .arg("status")
        .output()
        .unwrap();
    assert!(
        stdout_of(&none).starts_with("no alerts firing"),
        "{}",
        stdout_of(&none)
    );
    database(dir.path())
        .execute("insert into problems values ('a', 'ORDERS')", [])
        .unwrap();
    poll(dir.path(), &hook);

    let table = stdout_of(
        &dbalert(dir.path())
            .env("HOOK", &hook)
            .arg("status")
            .output()
            .unwrap(),
    );
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("CHECK") && lines[0].contains("LAST NOTIFIED"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("problem@app")
            && lines[1].contains("team")
            && lines[1].ends_with("name=a owner=ORDERS"),
        "{table}"
    );

    let json: serde_json::Value = serde_json::from_str(&stdout_of(
        &dbalert(dir.path())
            .env("HOOK", &hook)
            .args(["status", "--json"])
            .output()
            .unwrap(),
    ))
    .unwrap();
    let alert = &json["firing"][0];
    assert_eq!(alert["check"], "problem");
    assert_eq!(alert["labels"]["owner"], "ORDERS");
    assert_eq!(alert["receivers"], serde_json::json!(["team"]));
    assert!(alert["last_notified"].is_string());
}

#[test]
fn check_connect_runs_every_query_and_reports_each() {
    let broken = "  - name: broken\n    source: app\n    sql: select nope from problems\n";
    let dir = workdir(&[(
        "alerts.yaml",
        &config("", &format!("{PROBLEMS}{EVENTS}{broken}")),
    )]);
    database(dir.path())
        .execute("insert into problems values ('a', 'X'), ('b', 'Y')", [])
        .unwrap();
    let output = dbalert(dir.path())
        .env("HOOK", "http://127.0.0.1:9/x")
        .args(["check", "--connect"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failing query makes it exit 1"
    );
    let stdout = stdout_of(&output);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[1].starts_with("ok     problem  2 rows  "), "{stdout}");
    assert!(lines[2].starts_with("ok     event  0 rows  "), "{stdout}");
    assert!(
        lines[3].starts_with("error  broken  source `app`: the query failed: no such column: nope"),
        "{stdout}"
    );
    assert!(
        !dir.path().join("state.db").exists(),
        "check --connect keeps no state"
    );
}

#[test]
fn metrics_file_and_heartbeat_follow_each_poll() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-metrics");
    let ping = slack.webhook("heartbeat-token");
    let broken = "  - name: broken\n    source: app\n    sql: select nope from problems\n";
    let text = format!("heartbeat_url: ${{env:PING}}\n{}", config("", PROBLEMS));
    let dir = workdir(&[
        ("alerts.yaml", &text),
        (
            "broken.yaml",
            &format!(
                "heartbeat_url: ${{env:PING}}\n{}",
                config("", &format!("{PROBLEMS}{broken}"))
            ),
        ),
    ]);
    database(dir.path())
        .execute("insert into problems values ('a', 'X')", [])
        .unwrap();
    let metrics = dir.path().join("dbalert.prom");
    let run = |file: &str| {
        dbalert(dir.path())
            .env("HOOK", &hook)
            .env("PING", &ping)
            .args(["-c", file, "poll", "--metrics-file"])
            .arg(&metrics)
            .output()
            .unwrap()
    };
    assert_eq!(run("alerts.yaml").status.code(), Some(0));
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(text.contains("dbalert_alerts_firing 1\n"), "{text}");
    assert!(
        text.contains("dbalert_check_up{check=\"problem\",source=\"app\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("dbalert_notifications{receiver=\"team\",result=\"sent\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("dbalert_last_success_timestamp_seconds "),
        "{text}"
    );
    let pings = slack.requests_to(&ping);
    assert_eq!(pings.len(), 1, "pinged after a successful poll");
    assert_eq!(pings[0].method, "GET");

    let failed = run("broken.yaml");
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        !stderr_of(&failed).contains("heartbeat-token"),
        "{}",
        stderr_of(&failed)
    );
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains("dbalert_check_up{check=\"broken\",source=\"app\"} 0\n"),
        "{text}"
    );
    assert_eq!(
        slack.requests_to(&ping).len(),
        1,
        "no ping after a failed poll"
    );
}

/// Waits (up to `limit`) until `slack` has accepted `count` messages on `hook`.
fn wait_for(slack: &FakeSlack, hook: &str, count: usize, limit: Duration) -> Vec<String> {
    let started = std::time::Instant::now();
    loop {
        let delivered = texts(slack, hook);
        if delivered.len() >= count || started.elapsed() > limit {
            return delivered;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_run(dir: &Path, hook: &str) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("dbalert"))
        .current_dir(dir)
        .env("HOOK", hook)
        .env("HOME", dir)
        .env_remove("RUST_LOG")
        .args(["-v", "run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn terminate(child: std::process::Child) -> std::process::Output {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait_with_output().unwrap()
}

#[test]
fn run_polls_on_each_interval_and_stops_cleanly_on_sigterm() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("run-interval");
    let checks = PROBLEMS.replace("    source: app\n", "    source: app\n    interval: 1s\n");
    let dir = workdir(&[(
        "alerts.yaml",
        &config(
            "  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n",
            &checks,
        ),
    )]);
    let db = database(dir.path());
    let child = start_run(dir.path(), &hook);

    db.execute("insert into problems values ('a', 'X')", [])
        .unwrap();
    let delivered = wait_for(&slack, &hook, 1, Duration::from_secs(20));
    assert_eq!(delivered, [":warning: [FIRING:1] problem: Problem a"]);
    db.execute("delete from problems", []).unwrap();
    let delivered = wait_for(&slack, &hook, 2, Duration::from_secs(20));
    assert_eq!(
        delivered.get(1).map(String::as_str),
        Some(":white_check_mark: [RESOLVED:1] problem: Problem a")
    );

    let output = terminate(child);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains("Stopping: signal received."),
        "{}",
        stderr_of(&output)
    );
    // The state it saved is the state a poll continues from: nothing more to send.
    poll(dir.path(), &hook);
    assert_eq!(texts(&slack, &hook).len(), 2);
}

#[test]
fn run_a_blocked_source_does_not_delay_the_others() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("run-blocked");
    let text = format!(
        "state:\n  path: state.db\n\
         sources:\n  app:\n    sqlite:\n      path: app.db\n  other:\n    sqlite:\n      path: other.db\n\
         receivers:\n  team:\n    slack:\n      webhook_url: ${{env:HOOK}}\n\
         route:\n  receiver: team\n  group_by: [alertname]\n  group_wait: 0s\n\
         checks:\n{PROBLEMS}  - name: other\n    source: other\n    interval: 1s\n    sql: select name from things\n"
    );
    let dir = workdir(&[("alerts.yaml", &text)]);
    database(dir.path())
        .execute("insert into problems values ('a', 'X')", [])
        .unwrap();
    let other = rusqlite::Connection::open(dir.path().join("other.db")).unwrap();
    other
        .execute_batch("create table things (name text); insert into things values ('t');")
        .unwrap();
    // An exclusive lock on app.db: the `problem` check blocks on it (for its 5 s busy timeout).
    let blocker = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    blocker.execute_batch("begin exclusive").unwrap();

    let child = start_run(dir.path(), &hook);
    // Were checks run one source after another, `problem` would block for its 5 s busy timeout
    // and its failure would be delivered in the same batch, first (its group sorts first).
    // Delivered on its own and first, `other` did not wait for the blocked source.
    let delivered = wait_for(&slack, &hook, 1, Duration::from_secs(30));
    assert_eq!(
        delivered.first().map(String::as_str),
        Some(":warning: [FIRING:1] other: other"),
        "the first message is the unblocked source's"
    );
    blocker.execute_batch("rollback").unwrap();
    let output = terminate(child);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

#[test]
fn run_a_slow_receiver_does_not_hold_up_the_other_checks() {
    let slack = FakeSlack::start();
    let (slow, fast) = (slack.webhook("run-slow"), slack.webhook("run-fast"));
    // `stuck` (on app) goes to `slow`, whose first answer takes ten minutes; `event` (on
    // other) goes to `fast`.
    let text = "state:\n  path: state.db\n\
         sources:\n  app:\n    sqlite:\n      path: app.db\n  other:\n    sqlite:\n      path: other.db\n\
         receivers:\n  slow:\n    slack:\n      webhook_url: ${env:SLOW}\n    timeout: 10m\n    deadline: 10m\n    max_retries: 0\n  \
         fast:\n    slack:\n      webhook_url: ${env:HOOK}\n\
         route:\n  receiver: fast\n  group_by: ['...']\n  group_wait: 0s\n  group_interval: 1s\n  \
         routes:\n    - {matchers: ['alertname=\"stuck\"'], receiver: slow}\n\
         checks:\n  - name: stuck\n    source: app\n    interval: 1s\n    sql: select 'x' as name\n  \
         - name: event\n    source: other\n    interval: 1s\n    events: {cursor: id}\n    \
         sql: select id, msg from events where :cursor is null or id >= :cursor\n";
    let dir = workdir(&[("alerts.yaml", text)]);
    database(dir.path());
    let other = rusqlite::Connection::open(dir.path().join("other.db")).unwrap();
    other
        .execute_batch("create table events (id integer primary key, msg text)")
        .unwrap();
    slack.script(&slow, [Reply::Slow(Duration::from_secs(600))]);
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dbalert"))
        .current_dir(dir.path())
        .env("HOOK", &fast)
        .env("SLOW", &slow)
        .env("HOME", dir.path())
        .env_remove("RUST_LOG")
        .args(["-v", "run", "--metrics-file", "run.prom"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pending = || slack.requests_to(&slow);
    // `event`'s first run takes what its table holds for history: it must be done before the
    // events below are added.
    let event_ran = || {
        let metrics = std::fs::read_to_string(dir.path().join("run.prom")).unwrap_or_default();
        metrics.contains("dbalert_check_up{check=\"event\",source=\"other\"} 1")
    };
    let started = std::time::Instant::now();
    while (pending().is_empty() || !event_ran()) && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(event_ran());
    assert_eq!(pending().len(), 1, "`stuck` was sent to the slow receiver");

    // While that answer is awaited, `event` goes on running and delivering, in order.
    for id in 1..=3 {
        other
            .execute(
                "insert into events values (?1, ?2)",
                (id as i64, format!("e{id}")),
            )
            .unwrap();
        let delivered = wait_for(&slack, &fast, id, Duration::from_secs(60));
        assert_eq!(delivered.len(), id, "{delivered:?}");
    }
    let delivered = texts(&slack, &fast);
    for (id, text) in (1..=3).zip(&delivered) {
        assert!(
            text.contains(&format!("(id={id}, msg=e{id}, ")),
            "{delivered:?}"
        );
    }
    let waited = pending();
    assert_eq!(waited.len(), 1, "nothing else went to the slow receiver");
    assert_eq!(waited[0].status, 0, "its answer is still awaited");

    // A stop does not wait for it; `stuck` was not accepted, so it is still owed, once: the
    // runs of `stuck` meanwhile did not queue it again behind the one awaited.
    let output = terminate(child);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let log = stderr_of(&output);
    let dropped = log.matches("Notification not sent (stopped)").count();
    assert_eq!(dropped, 1, "{log}");
    let poll = dbalert(dir.path())
        .env("HOOK", &fast)
        .env("SLOW", &slow)
        .arg("poll")
        .output()
        .unwrap();
    assert_eq!(poll.status.code(), Some(0), "{}", stderr_of(&poll));
    assert_eq!(
        texts(&slack, &slow),
        [":warning: [FIRING:1] stuck (name=x, source=app): stuck"]
    );
}

/// A `run` config whose `problem` check runs every second and whose groups (by `group_by`)
/// repeat every second.
fn repeating(group_by: &str) -> String {
    let checks = PROBLEMS.replace("    source: app\n", "    source: app\n    interval: 1s\n");
    let route = format!(
        "  group_by: [{group_by}]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1s\n"
    );
    config(&route, &checks)
}

// `run` does not plan a batch that changed nothing: these check that what time alone changes
// (a repeat falling due) and what another process writes (a silence) are still honoured.

#[test]
fn run_repeats_a_group_while_its_check_finds_the_same_rows() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("run-repeat");
    let dir = workdir(&[("alerts.yaml", &repeating("alertname"))]);
    database(dir.path())
        .execute("insert into problems values ('a', 'X')", [])
        .unwrap();
    let child = start_run(dir.path(), &hook);
    // After the first batch, every batch finds what the one before found: only the time passed
    // makes the repeats.
    let delivered = wait_for(&slack, &hook, 3, Duration::from_secs(60));
    let output = terminate(child);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(
        delivered,
        [":warning: [FIRING:1] problem: Problem a"; 3],
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn run_honours_a_silence_added_and_expired_while_it_runs() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("run-silence");
    let dir = workdir(&[("alerts.yaml", &repeating("name"))]);
    database(dir.path())
        .execute_batch("insert into problems values ('a', 'X'), ('b', 'Y')")
        .unwrap();
    let child = start_run(dir.path(), &hook);
    let is_b = |text: &String| text.contains("Problem b");
    let before = wait_for(&slack, &hook, 2, Duration::from_secs(60));
    assert!(before.iter().any(is_b), "{before:?}");

    let silence = dbalert(dir.path())
        .args([
            "silence",
            "add",
            "name=b",
            "--duration",
            "1h",
            "--comment",
            "test",
        ])
        .output()
        .unwrap();
    assert_eq!(silence.status.code(), Some(0), "{}", stderr_of(&silence));
    let id = stdout_of(&silence).trim().to_owned();
    // The notifications planned before the silence was read may still be on their way: one
    // batch's worth (a and b) at most. From then on only `a` repeats.
    let n = texts(&slack, &hook).len();
    let during = wait_for(&slack, &hook, n + 4, Duration::from_secs(60));
    assert!(during.len() >= n + 4, "{during:?}");
    assert!(!during[n + 2..].iter().any(is_b), "{during:?}");

    let expire = dbalert(dir.path())
        .args(["silence", "expire", &id])
        .output()
        .unwrap();
    assert_eq!(expire.status.code(), Some(0), "{}", stderr_of(&expire));
    let n = texts(&slack, &hook).len();
    let started = std::time::Instant::now();
    while !texts(&slack, &hook)[n..].iter().any(is_b) && started.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = terminate(child);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let after = texts(&slack, &hook);
    assert!(after[n..].iter().any(is_b), "b repeats again: {after:?}");
    assert!(
        stderr_of(&output).contains("silenced=1"),
        "{}",
        stderr_of(&output)
    );
}

// Regressions found in review: each was reproduced before its fix.

#[test]
fn first_events_after_an_empty_first_run_are_not_taken_for_history() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-empty-first");
    let dir = workdir(&[("alerts.yaml", &config("  group_by: ['...']\n", EVENTS))]);
    let db = database(dir.path());
    poll(dir.path(), &hook); // the table is empty: nothing to skip, but the run counts
    db.execute("insert into events values (1, 'first real event')", [])
        .unwrap();
    poll(dir.path(), &hook);
    let delivered = texts(&slack, &hook);
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert!(delivered[0].contains("id=1"), "{delivered:?}");
}

#[test]
fn an_event_one_receiver_failed_reaches_it_next_run() {
    let slack = FakeSlack::start();
    let a = slack.webhook("poll-receiver-a");
    let b = slack.webhook("poll-receiver-b");
    let text = format!(
        "state:\n  path: state.db\nsources:\n  app:\n    sqlite:\n      path: app.db\n\
         receivers:\n  a:\n    slack:\n      webhook_url: ${{env:A}}\n  b:\n    slack:\n      webhook_url: ${{env:B}}\n    max_retries: 0\n\
         route:\n  receiver: a\n  group_by: ['...']\n  routes:\n    - {{matchers: ['alertname=\"event\"'], receiver: a, continue: true}}\n    - {{matchers: ['alertname=\"event\"'], receiver: b}}\n\
         checks:\n{EVENTS}"
    );
    let dir = workdir(&[("alerts.yaml", &text)]);
    let db = database(dir.path());
    let run = || {
        dbalert(dir.path())
            .env("A", &a)
            .env("B", &b)
            .arg("poll")
            .output()
            .unwrap()
    };
    run();
    db.execute("insert into events values (2, 'boom')", [])
        .unwrap();
    slack.script(&b, [Reply::Status(500, "rollup_error")]);
    assert_eq!(run().status.code(), Some(1));
    assert_eq!(run().status.code(), Some(0));
    assert_eq!(
        texts(&slack, &b).len(),
        1,
        "b got the event on the next run"
    );
    assert!(!texts(&slack, &a).is_empty());
}

#[test]
fn alerts_of_a_renamed_check_resolve_instead_of_repeating_forever() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-renamed");
    let dir = workdir(&[("alerts.yaml", &config("", PROBLEMS))]);
    database(dir.path())
        .execute("insert into problems values ('a', 'X')", [])
        .unwrap();
    poll(dir.path(), &hook);
    std::fs::write(
        dir.path().join("alerts.yaml"),
        config("", &PROBLEMS.replace("name: problem", "name: renamed")),
    )
    .unwrap();
    poll(dir.path(), &hook);
    let delivered = texts(&slack, &hook);
    assert!(
        delivered
            .iter()
            .any(|t| t.starts_with(":white_check_mark: [RESOLVED:1] problem")),
        "{delivered:?}"
    );
    assert!(
        delivered
            .iter()
            .any(|t| t.starts_with(":warning: [FIRING:1] renamed")),
        "{delivered:?}"
    );
    let status = stdout_of(
        &dbalert(dir.path())
            .env("HOOK", &hook)
            .arg("status")
            .output()
            .unwrap(),
    );
    assert!(!status.contains("problem@app"), "{status}");
}

#[test]
fn config_mistakes_found_in_review_are_config_errors() {
    let reserved = "  - name: dbalert_check_failed\n    source: app\n    sql: select 1\n";
    let queue = "  - name: q\n    source: app\n    queue: {table: dbalert_queue}\n";
    for (checks, words) in [
        (
            reserved,
            "is the name of the alert dbalert raises for a failing check",
        ),
        (
            queue,
            "source `app` cannot hold a queue; queue checks need a postgres source",
        ),
    ] {
        let dir = workdir(&[("alerts.yaml", &config("", checks))]);
        let output = dbalert(dir.path())
            .env("HOOK", "http://127.0.0.1:9/x")
            .arg("check")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert!(stderr_of(&output).contains(words), "{}", stderr_of(&output));
    }
    let inline =
        "receivers:\n  dba:\n    slack: https://hooks.slack.com/services/T0/B0/INLINESECRET\n";
    let dir = workdir(&[("alerts.yaml", inline)]);
    let output = dbalert(dir.path()).arg("check").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("receivers.dba.slack: invalid type: a string"),
        "{}",
        stderr_of(&output)
    );
    assert!(
        !stderr_of(&output).contains("INLINESECRET"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn an_oracle_check_without_instant_client_fails_alone_with_how_to_install_it() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-oracle-missing");
    let oracle = "  - name: deadlocks\n    source: prod\n    sql: select 1 as x from dual\n";
    let text = config("", &format!("{PROBLEMS}{oracle}")).replace(
        "sources:\n",
        "sources:\n  prod:\n    oracle:\n      connect: //127.0.0.1:1/PROD\n      user: dbalert\n      password: ${env:ORACLE_PASSWORD}\n",
    );
    let dir = workdir(&[("alerts.yaml", &text)]);
    database(dir.path())
        .execute("insert into problems values ('a', 'X')", [])
        .unwrap();
    let output = dbalert(dir.path())
        .env("HOOK", &hook)
        .env("ORACLE_PASSWORD", "pw-never-printed")
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("ORACLE_HOME")
        .arg("poll")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "not a panic: {}",
        stderr_of(&output)
    );
    let stderr = stderr_of(&output);
    assert!(stderr.contains("check=deadlocks source=prod"), "{stderr}");
    assert!(stderr.contains("DPI-1047"), "{stderr}");
    assert!(stderr.contains("install Oracle Instant Client"), "{stderr}");
    assert!(!stderr.contains("pw-never-printed"), "{stderr}");
    let delivered = texts(&slack, &hook);
    assert!(
        delivered.iter().any(|t| t.contains("[FIRING:1] problem")),
        "{delivered:?}"
    );
    assert!(
        delivered.iter().any(|t| t.contains("dbalert_check_failed")
            && t.contains("Check deadlocks on source prod failed")),
        "{delivered:?}"
    );
}

#[test]
fn an_event_query_that_ignores_the_null_first_cursor_is_warned_about() {
    let careless = "  - name: careless\n    source: app\n    events: {cursor: id}\n    sql: select id, msg from events where id > :cursor\n";
    let dir = workdir(&[("alerts.yaml", &config("", &format!("{EVENTS}{careless}")))]);
    let output = dbalert(dir.path())
        .env("HOOK", "http://127.0.0.1:9/x")
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "a warning, not an error");
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("checks[1].sql: check `careless`: the first run binds NULL"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("check `event`"),
        "the query that handles NULL is not warned about: {stderr}"
    );
}

#[test]
fn inhibited_alerts_are_muted_and_shown_as_inhibited() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-inhibit");
    let checks = format!(
        "{PROBLEMS}  - name: instance_down\n    source: app\n    sql: select 'down' as state from problems where name = 'down'\n"
    );
    let text = config("", &checks)
        + "inhibit_rules:\n  - source_matchers: ['alertname=\"instance_down\"']\n    target_matchers: ['alertname=\"problem\"']\n    equal: [source]\n";
    let dir = workdir(&[("alerts.yaml", &text)]);
    database(dir.path())
        .execute_batch("insert into problems values ('a', 'ORDERS'), ('down', 'DBA')")
        .unwrap();

    let output = dbalert(dir.path())
        .env("HOOK", &hook)
        .args(["-v", "poll"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains("inhibited=2"),
        "{}",
        stderr_of(&output)
    );
    let sent = texts(&slack, &hook);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("instance_down"), "{sent:?}");

    let json: serde_json::Value = serde_json::from_str(&stdout_of(
        &dbalert(dir.path())
            .env("HOOK", &hook)
            .args(["status", "--json"])
            .output()
            .unwrap(),
    ))
    .unwrap();
    let state: Vec<(String, bool)> = json["firing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["check"].as_str().unwrap().to_owned(),
                a["inhibited"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        state,
        [
            ("instance_down".to_owned(), false),
            ("problem".to_owned(), true),
            ("problem".to_owned(), true),
        ]
    );
    let table = stdout_of(
        &dbalert(dir.path())
            .env("HOOK", &hook)
            .arg("status")
            .output()
            .unwrap(),
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("problem@app") && l.contains("inhibited")),
        "{table}"
    );
}

// Issue 11, item 2: with the state file unwritable (read-only, or the disk full), a poll used
// to send, fail to save, and send the same notifications on every run. The disk is "full"
// here through the file size limit (`ulimit -f 0`, SIGXFSZ ignored), which holds for root too.
#[test]
fn issue_11_an_unwritable_state_file_fails_the_poll_before_anything_is_sent() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-disk-full");
    let dir = workdir(&[("alerts.yaml", &config("", PROBLEMS))]);
    let db = database(dir.path());
    poll(dir.path(), &hook); // the state file exists
    db.execute("insert into problems values ('a', 'X')", [])
        .unwrap();
    let full = std::process::Command::new("sh")
        .args(["-c", "trap '' XFSZ; ulimit -f 0; exec \"$0\" poll"])
        .arg(assert_cmd::cargo::cargo_bin("dbalert"))
        .current_dir(dir.path())
        .env("HOOK", &hook)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(full.status.code(), Some(1), "{}", stderr_of(&full));
    assert_eq!(texts(&slack, &hook), Vec::<String>::new(), "nothing sent");

    // With room again, the alert is sent once.
    assert_eq!(poll(dir.path(), &hook).status.code(), Some(0));
    assert_eq!(texts(&slack, &hook).len(), 1);
}

// Issue 11, item 3: an alert that fired and resolved while the webhook was down was never
// announced, and the next poll exited 0.
#[test]
fn issue_11_an_alert_that_fired_and_cleared_during_an_outage_is_still_announced() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-outage");
    let dir = workdir(&[("alerts.yaml", &config("", PROBLEMS))]);
    let db = database(dir.path());
    db.execute("insert into problems values ('a', 'X')", [])
        .unwrap();
    slack.script(&hook, vec![Reply::Status(500, "outage"); 2]);
    let failed = poll(dir.path(), &hook);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr_of(&failed));
    db.execute("delete from problems", []).unwrap();

    let back = poll(dir.path(), &hook);
    assert_eq!(back.status.code(), Some(0), "{}", stderr_of(&back));
    assert_eq!(
        texts(&slack, &hook),
        [":white_check_mark: [RESOLVED:1] problem: Problem a"],
        "the alert that came and went is announced once the receiver is back"
    );
    poll(dir.path(), &hook);
    assert_eq!(texts(&slack, &hook).len(), 1, "and only once");
}

// Issue 11, item 5: a crash near the end of a batch repeated every notification of the poll.
// Ten events, one message each, to a webhook paced at one a second: killed after the fourth
// was accepted, the next poll sends the rest and at most the one that was in flight again.
#[test]
fn issue_11_a_crash_repeats_at_most_the_notification_in_flight() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-crash-one");
    let dir = workdir(&[("alerts.yaml", &config("  group_by: ['...']\n", EVENTS))]);
    let db = database(dir.path());
    db.execute("insert into events values (1, 'history')", [])
        .unwrap();
    poll(dir.path(), &hook); // the cursor starts here
    for id in 2..12 {
        db.execute("insert into events values (?1, 'e')", [id])
            .unwrap();
    }
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dbalert"))
        .current_dir(dir.path())
        .env("HOOK", &hook)
        .env("HOME", dir.path())
        .env_remove("RUST_LOG")
        .arg("poll")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let before = wait_for(&slack, &hook, 4, Duration::from_secs(30)).len();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let sent = texts(&slack, &hook).len();
    assert!((4..10).contains(&sent), "{before} then {sent}");

    let last = poll(dir.path(), &hook);
    assert_eq!(last.status.code(), Some(0), "{}", stderr_of(&last));
    let delivered = texts(&slack, &hook);
    for id in 2..12 {
        let id = format!("id={id},");
        assert!(
            delivered.iter().any(|t| t.contains(&id)),
            "{id} lost: {delivered:#?}"
        );
    }
    assert!(
        delivered.len() <= 10 + 1,
        "{} messages for 10 events: more than the one in flight was repeated",
        delivered.len()
    );
}

// Issue 11, item 4: SIGTERM used to wait for the whole batch (25 s with 30 paced messages).
#[test]
fn issue_11_sigterm_stops_a_paced_batch_within_seconds_and_keeps_what_was_sent() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("run-sigterm");
    let events = EVENTS.replace("    source: app\n", "    source: app\n    interval: 1s\n");
    let dir = workdir(&[("alerts.yaml", &config("  group_by: ['...']\n", &events))]);
    let db = database(dir.path());
    db.execute("insert into events values (1, 'history')", [])
        .unwrap();
    poll(dir.path(), &hook); // the cursor starts here
    for id in 2..32 {
        db.execute("insert into events values (?1, 'e')", [id])
            .unwrap();
    }
    let child = start_run(dir.path(), &hook);
    wait_for(&slack, &hook, 2, Duration::from_secs(30));
    let signalled = std::time::Instant::now();
    let output = terminate(child);
    let took = signalled.elapsed();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    let sent = texts(&slack, &hook).len();
    assert!(sent < 30, "stopped before the batch ended ({sent} sent)");

    // What was accepted is not sent again; the rest comes with the next poll.
    let last = poll(dir.path(), &hook);
    assert_eq!(last.status.code(), Some(0), "{}", stderr_of(&last));
    let delivered = texts(&slack, &hook);
    assert!(
        delivered.len() <= 30 + 1,
        "{} messages for 30 events",
        delivered.len()
    );
    for id in 2..32 {
        let id = format!("id={id},");
        assert!(delivered.iter().any(|t| t.contains(&id)), "{id} lost");
    }
}

// Issue 11 (item 12): a NULL column reads as nothing in templates, as it does as a column,
// so it neither shows "None" nor routes as `team=None`.
#[test]
fn null_renders_as_nothing_in_labels_and_annotations() {
    let checks = "  - name: problem\n    source: app\n    sql: select name, owner from problems\n    labels: {team: '{{ row.owner }}'}\n    annotations: {summary: 'owner={{ row.owner }}.'}\n";
    let dir = workdir(&[("alerts.yaml", &config("  group_by: [team]\n", checks))]);
    database(dir.path())
        .execute("insert into problems values ('a', NULL)", [])
        .unwrap();
    let output = dbalert(dir.path())
        .env("HOOK", "https://hooks.slack.com/services/T0/B0/unused")
        .args(["poll", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let stdout = stdout_of(&output);
    assert!(stdout.contains("owner=."), "{stdout}");
    assert!(!stdout.contains("None"), "{stdout}");
}

// Issue 11 (item 10): a damaged state file is named as damaged, by `poll` and by `status`
// (which exits 1), and an emptied one is warned about rather than silently taken as new.
#[test]
fn damaged_state_file_is_refused_and_an_emptied_one_warned_about() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-damaged-state");
    let dir = workdir(&[("alerts.yaml", &config("", PROBLEMS))]);
    database(dir.path())
        .execute("insert into problems values ('a', 'ORDERS')", [])
        .unwrap();
    assert_eq!(poll(dir.path(), &hook).status.code(), Some(0));
    let state = dir.path().join("state.db");
    // What a damaged page reads as: text that dbalert never wrote.
    rusqlite::Connection::open(&state)
        .unwrap()
        .execute_batch(
            "UPDATE notifications SET firing = CAST(x'5bff5d' AS TEXT);
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .unwrap();
    let status = dbalert(dir.path())
        .env("HOOK", &hook)
        .arg("status")
        .output()
        .unwrap();
    let polled = poll(dir.path(), &hook);
    for output in [&status, &polled] {
        assert_eq!(output.status.code(), Some(1), "{}", stderr_of(output));
        let stderr = stderr_of(output);
        assert!(stderr.contains("the SQLite file is damaged"), "{stderr}");
        assert!(stderr.contains("move it aside"), "{stderr}");
    }

    std::fs::write(&state, "").unwrap();
    for file in ["state.db-wal", "state.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join(file));
    }
    let polled = poll(dir.path(), &hook);
    assert_eq!(polled.status.code(), Some(0), "{}", stderr_of(&polled));
    let stderr = stderr_of(&polled);
    assert!(
        stderr.contains("The state file exists but is empty (0 bytes)"),
        "{stderr}"
    );
}

// Issue 11: the natural event query `id > :cursor` never returned a row, since the first run
// bound NULL. With `events.initial` it works from the first run, and `start` keeps its meaning.
#[test]
fn issue_11_an_event_check_with_an_initial_cursor_works_from_the_first_run() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("poll-initial");
    let natural = |start: &str| {
        format!(
            "  - name: natural\n    source: app\n    events: {{cursor: id, initial: 0{start}}}\n    sql: select id, msg from events where id > :cursor\n"
        )
    };
    for (start, history_sent) in [("", false), (", start: all", true)] {
        let dir = workdir(&[(
            "alerts.yaml",
            &config("  group_by: ['...']\n", &natural(start)),
        )]);
        let db = database(dir.path());
        db.execute("insert into events values (1, 'history')", [])
            .unwrap();
        let check = dbalert(dir.path())
            .env("HOOK", &hook)
            .arg("check")
            .output()
            .unwrap();
        assert!(
            !stderr_of(&check).contains("binds NULL"),
            "{}",
            stderr_of(&check)
        );
        let before = texts(&slack, &hook).len();
        assert_eq!(poll(dir.path(), &hook).status.code(), Some(0));
        let first = texts(&slack, &hook)[before..].to_vec();
        assert_eq!(
            first.iter().any(|t| t.contains("history")),
            history_sent,
            "{start}: {first:?}"
        );
        db.execute("insert into events values (2, 'new')", [])
            .unwrap();
        assert_eq!(poll(dir.path(), &hook).status.code(), Some(0));
        let after = texts(&slack, &hook)[before..].to_vec();
        assert_eq!(
            after.iter().filter(|t| t.contains("id=2,")).count(),
            1,
            "{start}: {after:?}"
        );
        assert_eq!(poll(dir.path(), &hook).status.code(), Some(0));
        assert_eq!(
            texts(&slack, &hook).len() - before,
            after.len(),
            "nothing sent twice"
        );
    }
}

// Issue 11, item 12: rows with the same key (NULL keys among them) merged silently.
#[test]
fn issue_11_rows_that_share_a_key_are_warned_about_once_per_run() {
    let dir = workdir(&[("alerts.yaml", &config("", PROBLEMS))]);
    let db = database(dir.path());
    db.execute_batch(
        "create table dup (name text, owner text);
         insert into dup values (null, 'A'), (null, 'B'), ('x', 'C'), ('x', 'D');",
    )
    .unwrap();
    let checks = "  - name: problem\n    source: app\n    sql: select name, owner from dup\n    key: [name]\n";
    std::fs::write(dir.path().join("alerts.yaml"), config("", checks)).unwrap();
    let output = dbalert(dir.path())
        .env("HOOK", "http://127.0.0.1:9/x")
        .args(["poll", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let stderr = stderr_of(&output);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("merged into one alert"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("check=problem") && warnings[0].contains("rows=2"),
        "{stderr}"
    );
}

// Issue 11, item 12: events beyond the 20 a message lists were only counted, and chosen by
// string order; they are spread over more messages, in cursor order. Read from the generic
// webhook's documents, whose alert list is pinned (docs/webhook.md).
#[test]
fn issue_11_many_events_are_spread_over_messages_in_cursor_order() {
    let server = FakeSlack::start();
    let hook = server.plain_webhook("many-events");
    let events = "  - name: event\n    source: app\n    events: {cursor: id, initial: 0}\n    sql: select id, msg from events where id > :cursor order by msg\n";
    let config = config("", events).replace(
        "    slack:\n      webhook_url: ${env:HOOK}\n",
        "    webhook:\n      url: ${env:HOOK}\n",
    );
    let dir = workdir(&[("alerts.yaml", &config)]);
    let db = database(dir.path());
    poll(dir.path(), &hook); // nothing yet; the cursor starts at 0
    for id in 1..=45 {
        let msg = format!("m{}", 100 - id); // string order is the reverse of cursor order
        db.execute(
            "insert into events values (?1, ?2)",
            rusqlite::params![id, msg],
        )
        .unwrap();
    }
    let run = poll(dir.path(), &hook);
    assert_eq!(run.status.code(), Some(0), "{}", stderr_of(&run));
    let documents: Vec<serde_json::Value> =
        server.requests_to(&hook).iter().map(|r| r.json()).collect();
    assert_eq!(documents.len(), 3, "45 events, 20 listed per message");
    let listed: Vec<i64> = documents
        .iter()
        .flat_map(|d| d["alerts"].as_array().unwrap().clone())
        .map(|a| a["labels"]["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        listed,
        (1..=45).collect::<Vec<_>>(),
        "each listed once, in cursor order"
    );
}
