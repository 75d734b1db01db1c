//! Silences and acknowledgements honoured by real `poll` runs: SQLite sources, the fake Slack,
//! the state file, and the `silence` and `ack` commands of the real binary.

use std::path::Path;
use std::time::Duration;

use crate::support::clock;
use crate::support::fake_slack::FakeSlack;
use crate::support::{dbalert, stderr_of, stdout_of, workdir};

/// A config with one state check over `problems(name, owner)`, grouped by `group_by`, repeated
/// every hour (tests pass the hour with [`Setup::pass`], not by waiting).
fn config(group_by: &str) -> String {
    format!(
        "state:\n  path: state.db\n\
         sources:\n  app:\n    sqlite:\n      path: app.db\n\
         receivers:\n  team:\n    slack:\n      webhook_url: ${{env:HOOK}}\n\
         route:\n  receiver: team\n  group_by: [{group_by}]\n  repeat_interval: 1h\n\
         checks:\n  - name: problem\n    source: app\n    sql: select name, owner from problems\n    key: [name]\n"
    )
}

struct Setup {
    dir: tempfile::TempDir,
    db: rusqlite::Connection,
    slack: FakeSlack,
    hook: String,
}

fn setup(name: &str, group_by: &str) -> Setup {
    let slack = FakeSlack::start();
    let hook = slack.webhook(name);
    let dir = workdir(&[("alerts.yaml", &config(group_by))]);
    let db = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    db.execute_batch("create table problems (name text primary key, owner text)")
        .unwrap();
    Setup {
        dir,
        db,
        slack,
        hook,
    }
}

impl Setup {
    fn poll(&self) {
        let out = dbalert(self.dir.path())
            .env("HOOK", &self.hook)
            .arg("poll")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    }

    /// The `text` of every message delivered so far.
    fn texts(&self) -> Vec<String> {
        (self.slack.requests_to(&self.hook).iter())
            .filter(|r| r.status == 200)
            .map(|r| r.json()["text"].as_str().unwrap().to_owned())
            .collect()
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        (dbalert(self.dir.path()).env("HOOK", &self.hook))
            .args(args)
            .output()
            .unwrap()
    }

    /// Lets `by` pass for the state file (see [`clock::advance`]).
    fn pass(&self, by: Duration) {
        clock::advance(&self.dir.path().join("state.db"), by);
    }

    /// Acknowledges the group of the notification that `text` names, as `serve` records a click.
    fn ack(&self, owner_or_name: &str) {
        let state = rusqlite::Connection::open(self.dir.path().join("state.db")).unwrap();
        let key: String = state
            .query_row(
                "SELECT group_key FROM notifications WHERE group_key LIKE '%' || ?1 || '%'",
                [owner_or_name],
                |r| r.get(0),
            )
            .unwrap();
        state
            .execute(
                "INSERT INTO acks (group_key, acked_by, acked_at) VALUES (?1, '<@U024BE7LH>', '2026-01-01T00:00:00Z')",
                [key],
            )
            .unwrap();
    }
}

/// Longer than the repeat interval.
const REPEAT: Duration = Duration::from_secs(2 * 3600);

fn silence_add(dir: &Path, args: &[&str]) -> String {
    let out = dbalert(dir)
        .args(["silence", "add"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    stdout_of(&out).trim().to_owned()
}

#[test]
fn an_acked_group_is_not_repeated_while_an_unacked_one_is() {
    let s = setup("ack-repeat", "owner");
    s.db.execute_batch("insert into problems values ('a', 'ORDERS'), ('b', 'BILLING')")
        .unwrap();
    s.poll();
    assert_eq!(s.texts().len(), 2);
    s.ack("ORDERS");
    s.pass(REPEAT);
    s.poll();
    let texts = s.texts();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts[2].contains("owner=BILLING"), "{texts:?}");

    let status = s.run(&["status"]);
    let table = stdout_of(&status);
    let line = |owner: &str| {
        table
            .lines()
            .find(|l| l.contains(owner))
            .unwrap_or_else(|| panic!("{table}"))
            .to_owned()
    };
    assert!(line("owner=ORDERS").contains(" acked "), "{table}");
    assert!(line("owner=BILLING").contains(" firing "), "{table}");
    let acks = s.run(&["ack", "ls", "--json"]);
    let acks: serde_json::Value = serde_json::from_slice(&acks.stdout).unwrap();
    assert_eq!(acks[0]["acked_by"], "<@U024BE7LH>");
    assert!(acks[0]["group_key"].as_str().unwrap().contains("ORDERS"));
}

#[test]
fn a_new_alert_joining_an_acked_group_notifies_and_resolve_ends_the_ack() {
    let s = setup("ack-join", "owner");
    s.db.execute("insert into problems values ('a', 'ORDERS')", [])
        .unwrap();
    s.poll();
    s.ack("ORDERS");
    s.db.execute("insert into problems values ('b', 'ORDERS')", [])
        .unwrap();
    s.poll();
    let texts = s.texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[1].contains("[FIRING:2]"), "{texts:?}");
    s.pass(REPEAT);
    s.poll();
    assert_eq!(s.texts().len(), 2, "still acked: no repeat");

    s.db.execute("delete from problems", []).unwrap();
    s.poll();
    assert!(s.texts()[2].contains("RESOLVED"), "{:?}", s.texts());
    let acks = s.run(&["ack", "ls"]);
    assert_eq!(stdout_of(&acks).lines().count(), 1, "{}", stdout_of(&acks));

    // Fired again, the group is notified and repeated as any other.
    s.db.execute("insert into problems values ('a', 'ORDERS')", [])
        .unwrap();
    s.poll();
    s.pass(REPEAT);
    s.poll();
    assert_eq!(s.texts().len(), 5, "{:?}", s.texts());
}

#[test]
fn a_silence_mutes_until_it_is_expired() {
    let s = setup("silence-expire", "owner");
    s.db.execute_batch("insert into problems values ('a', 'ORDERS'), ('b', 'BILLING')")
        .unwrap();
    let id = silence_add(
        s.dir.path(),
        &[
            "owner=~ORD.*",
            "--duration",
            "2h",
            "--comment",
            "planned maintenance",
            "--author",
            "ops",
        ],
    );
    s.poll();
    assert_eq!(s.texts().len(), 1);
    assert!(s.texts()[0].contains("owner=BILLING"), "{:?}", s.texts());

    let ls = s.run(&["silence", "ls"]);
    let table = stdout_of(&ls);
    assert!(table.contains(&id), "{table}");
    assert!(table.contains("active") && table.contains("ops"), "{table}");
    assert!(table.contains(r#"{owner=~"ORD.*"}"#), "{table}");
    let status = s.run(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let orders = (status["firing"].as_array().unwrap().iter())
        .find(|a| a["labels"]["owner"] == "ORDERS")
        .unwrap();
    assert_eq!(orders["state"], "silenced");
    assert_eq!(orders["silenced_by"][0], id.as_str());

    let expire = s.run(&["silence", "expire", &id]);
    assert_eq!(expire.status.code(), Some(0), "{}", stderr_of(&expire));
    s.poll();
    assert_eq!(s.texts().len(), 2);
    assert!(s.texts()[1].contains("owner=ORDERS"), "{:?}", s.texts());
    assert_eq!(stdout_of(&s.run(&["silence", "ls"])).lines().count(), 1);
    let all = s.run(&["silence", "ls", "--expired", "--json"]);
    let all: serde_json::Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(all[0]["status"]["state"], "expired");
    assert_eq!(all[0]["createdBy"], "ops");
    assert_eq!(
        all[0]["matchers"][0],
        serde_json::json!({"name": "owner", "value": "ORD.*", "isRegex": true, "isEqual": true})
    );
    let again = s.run(&["silence", "expire", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr_of(&again).contains("already expired"),
        "{}",
        stderr_of(&again)
    );
}

#[test]
fn an_expired_silence_stops_muting_by_itself() {
    let s = setup("silence-ends", "owner");
    s.db.execute("insert into problems values ('a', 'ORDERS')", [])
        .unwrap();
    silence_add(
        s.dir.path(),
        &["owner=ORDERS", "--duration", "1h", "--comment", "short"],
    );
    s.poll();
    assert!(s.texts().is_empty());
    s.pass(Duration::from_secs(3601));
    s.poll();
    assert_eq!(s.texts().len(), 1);
}

#[test]
fn bad_silences_are_refused_with_what_to_do() {
    let dir = workdir(&[("alerts.yaml", &config("owner"))]);
    let refused = |args: &[&str], expect: &str| {
        let out = dbalert(dir.path()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains(expect),
            "{args:?}: {}",
            stderr_of(&out)
        );
    };
    let add = |matcher: &'static str, duration: &'static str, comment: &'static str| {
        [
            "silence",
            "add",
            matcher,
            "--duration",
            duration,
            "--comment",
            comment,
        ]
    };
    for (args, expect) in [
        (add("owner=~(", "1h", "x"), "matcher `owner=~(`"),
        (
            add("owner=~.*", "1h", "x"),
            "must not match the empty string",
        ),
        (add("owner=A", "soon", "x"), "--duration `soon`"),
        (add("owner=A", "0s", "x"), "--duration `0s`"),
        (add("owner=A", "1h", " "), "--comment is empty"),
    ] {
        refused(&args, expect);
    }
    refused(&["silence", "expire", "nope"], "no silence with id nope");
    let ls = dbalert(dir.path())
        .args(["silence", "ls"])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&ls).lines().collect::<Vec<_>>(),
        ["ID  STATE  ENDS  CREATED BY  MATCHERS  COMMENT"],
        "nothing was added"
    );
}
