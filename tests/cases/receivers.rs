//! The receiver kinds beyond Incoming Webhooks, through `dbalert poll`: the generic webhook
//! against a local JSON endpoint, the Slack app against a local server speaking Slack's Web
//! API, and the real Alertmanager.

use std::path::Path;

use crate::support::fake_slack::{FakeSlack, Reply};
use crate::support::{dbalert, stderr_of, workdir};

/// A SQLite database with a `problems(name, owner)` table.
fn database(dir: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(dir.join("app.db")).unwrap();
    conn.execute_batch("create table problems (name text primary key, owner text);")
        .unwrap();
    conn
}

/// A config with one receiver `team` (its YAML block, indented under the name) that every
/// alert of the `problem` check routes to, grouped by alertname.
fn config(receiver: &str) -> String {
    format!(
        "state:\n  path: state.db\n\
         sources:\n  app:\n    sqlite:\n      path: app.db\n\
         receivers:\n  team:\n{receiver}\
         route:\n  receiver: team\n  group_by: [alertname]\n\
         checks:\n  - name: problem\n    source: app\n    sql: select name, owner from problems\n    key: [name]\n    annotations: {{summary: 'Problem {{{{ row.name }}}}'}}\n"
    )
}

const WEBHOOK: &str = "    webhook:\n      url: ${env:HOOK}\n      headers: {Authorization: '${env:TICKETS_AUTH}'}\n    max_retries: 1\n";
const AUTH: &str = "Bearer tickets-s3cret";

fn poll_webhook(dir: &Path, hook: &str) -> std::process::Output {
    dbalert(dir)
        .env("HOOK", hook)
        .env("TICKETS_AUTH", AUTH)
        .args(["-vv", "poll"])
        .output()
        .unwrap()
}

#[test]
fn webhook_documents_announce_firing_then_resolved_with_the_configured_headers() {
    let server = FakeSlack::start();
    let hook = server.endpoint("tickets-secret-path");
    let dir = workdir(&[("alerts.yaml", &config(WEBHOOK))]);
    let db = database(dir.path());
    db.execute_batch("insert into problems values ('a', 'ORDERS'), ('b', 'ORDERS')")
        .unwrap();

    let first = poll_webhook(dir.path(), &hook);
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    db.execute("delete from problems", []).unwrap();
    let second = poll_webhook(dir.path(), &hook);
    assert_eq!(second.status.code(), Some(0), "{}", stderr_of(&second));

    // Two processes in quick succession may meet the endpoint's 1/s limiter: only what it
    // accepted counts.
    let requests: Vec<_> = server
        .requests_to(&hook)
        .into_iter()
        .filter(|r| r.status == 200)
        .collect();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.authorization == AUTH));
    assert!(
        requests
            .iter()
            .all(|r| r.content_type.starts_with("application/json"))
    );
    let (fired, resolved) = (requests[0].json(), requests[1].json());
    assert_eq!(fired["version"], "1");
    assert_eq!(fired["receiver"], "team");
    assert_eq!(fired["status"], "firing");
    assert_eq!(
        fired["groupLabels"],
        serde_json::json!({"alertname": "problem"})
    );
    assert_eq!(fired["commonLabels"]["owner"], "ORDERS");
    assert_eq!(
        fired["counts"],
        serde_json::json!({"firing": 2, "resolved": 0})
    );
    let names: Vec<&str> = fired["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert!(fired["alerts"][0]["fingerprint"].as_str().unwrap().len() == 16);
    assert_eq!(fired["alerts"][0]["endsAt"], serde_json::Value::Null);
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(
        resolved["counts"],
        serde_json::json!({"firing": 0, "resolved": 2})
    );
    assert!(resolved["alerts"][0]["endsAt"].is_string());
    assert_eq!(fired["groupKey"], resolved["groupKey"]);

    for output in [&first, &second] {
        let stderr = stderr_of(output);
        assert!(!stderr.contains("tickets-s3cret"), "{stderr}");
        assert!(!stderr.contains("tickets-secret-path"), "{stderr}");
    }
}

#[test]
fn a_webhook_that_keeps_failing_gets_the_notification_on_the_next_run() {
    let server = FakeSlack::start();
    let hook = server.endpoint("tickets-down");
    server.script(
        &hook,
        [Reply::Status(503, "down"), Reply::Status(503, "down")],
    );
    let dir = workdir(&[("alerts.yaml", &config(WEBHOOK))]);
    database(dir.path())
        .execute("insert into problems values ('a', 'ORDERS')", [])
        .unwrap();

    let failed = poll_webhook(dir.path(), &hook);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr_of(&failed));
    assert!(
        stderr_of(&failed).contains("HTTP 503"),
        "{}",
        stderr_of(&failed)
    );
    let retried = poll_webhook(dir.path(), &hook);
    assert_eq!(retried.status.code(), Some(0), "{}", stderr_of(&retried));

    let statuses: Vec<u16> = server.requests_to(&hook).iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert_eq!(server.requests_to(&hook)[2].json()["status"], "firing");
}

#[test]
fn a_webhook_that_refuses_fails_the_run_at_once_with_its_answer() {
    let server = FakeSlack::start();
    let hook = server.endpoint("tickets-refuses");
    server.script(&hook, [Reply::Status(401, "bad credentials")]);
    let dir = workdir(&[("alerts.yaml", &config(WEBHOOK))]);
    database(dir.path())
        .execute("insert into problems values ('a', 'ORDERS')", [])
        .unwrap();
    let output = poll_webhook(dir.path(), &hook);
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr_of(&output);
    assert!(stderr.contains("HTTP 401 `bad credentials`"), "{stderr}");
    assert_eq!(server.requests_to(&hook).len(), 1, "a 401 is not retried");
}

#[test]
fn dry_run_prints_what_each_receiver_kind_would_be_sent() {
    let dir = workdir(&[(
        "alerts.yaml",
        &config(WEBHOOK).replace(
            "route:\n  receiver: team\n",
            "  cluster:\n    alertmanager:\n      urls: ['http://127.0.0.1:9']\n\
             route:\n  receiver: team\n  routes:\n    - receiver: cluster\n      continue: true\n    - receiver: team\n",
        ),
    )]);
    database(dir.path())
        .execute("insert into problems values ('a', 'ORDERS')", [])
        .unwrap();
    let output = dbalert(dir.path())
        .env("HOOK", "http://127.0.0.1:9/never")
        .env("TICKETS_AUTH", AUTH)
        .args(["poll", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let to = |name: &str| lines.iter().find(|l| l["receiver"] == name).unwrap();
    assert_eq!(to("team")["payload"]["version"], "1");
    let alerts = to("cluster")["payload"].as_array().unwrap().clone();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["labels"]["alertname"], "problem");
    assert!(alerts[0]["endsAt"].is_string());
}
