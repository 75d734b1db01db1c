//! The receiver kinds beyond Incoming Webhooks, through `dbalert poll`: the generic webhook
//! against a local JSON endpoint, the Slack app against a local server speaking Slack's Web
//! API, and the real Alertmanager.

use std::path::Path;

use crate::support::alertmanager::Alertmanager;
use crate::support::fake_slack::{FakeSlack, Reply};
use crate::support::fake_slack_api::{ApiReply, FakeSlackApi};
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
    let hook = server.plain_webhook("tickets-secret-path");
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
    let hook = server.plain_webhook("tickets-down");
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
    let hook = server.plain_webhook("tickets-refuses");
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

#[test]
fn send_refuses_receivers_that_take_alerts_not_messages() {
    let dir = workdir(&[(
        "alerts.yaml",
        "receivers:\n  cluster:\n    alertmanager:\n      urls: ['http://127.0.0.1:9']\n",
    )]);
    let output = dbalert(dir.path())
        .args(["send", "--to", "cluster", "hello"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("receiver `cluster` is an alertmanager receiver"),
        "{}",
        stderr_of(&output)
    );
}

// ---- Slack app (bot token): threads and updated messages, against a local Web API ----

const TOKEN: &str = "xoxb-test-4242-secret";
const SLACK_APP: &str = "    slack:\n      token: ${env:SLACK_BOT_TOKEN}\n      channel: '#orders-alerts'\n      api_url: ${env:SLACK_API}\n    max_retries: 2\n";

fn poll_app(dir: &Path, api: &FakeSlackApi) -> std::process::Output {
    dbalert(dir)
        .env("SLACK_BOT_TOKEN", TOKEN)
        .env("SLACK_API", api.api_url())
        .args(["-vv", "poll"])
        .output()
        .unwrap()
}

fn methods(api: &FakeSlackApi) -> Vec<String> {
    api.calls()
        .iter()
        .map(|c| match c.body.get("thread_ts") {
            Some(_) => format!("{} (reply)", c.method),
            None => c.method.clone(),
        })
        .collect()
}

#[test]
fn slack_app_fire_then_resolve_is_one_message_one_reply_and_one_update() {
    let api = FakeSlackApi::start(TOKEN, &[("C0ORDERS", "orders-alerts")]);
    let dir = workdir(&[("alerts.yaml", &config(SLACK_APP))]);
    let db = database(dir.path());
    db.execute("insert into problems values ('a', 'ORDERS')", [])
        .unwrap();

    // Each poll is its own process: the thread is found again through the state file.
    let fired = poll_app(dir.path(), &api);
    assert_eq!(fired.status.code(), Some(0), "{}", stderr_of(&fired));
    db.execute("delete from problems", []).unwrap();
    let resolved = poll_app(dir.path(), &api);
    assert_eq!(resolved.status.code(), Some(0), "{}", stderr_of(&resolved));

    assert_eq!(
        methods(&api),
        [
            "chat.postMessage",
            "chat.update",
            "chat.postMessage (reply)"
        ]
    );
    let messages = api.messages("C0ORDERS");
    assert_eq!(messages.len(), 2, "{messages:?}");
    let parent = &messages[0];
    let reply = &messages[1];
    assert_eq!(parent.thread_ts, None);
    assert_eq!(reply.thread_ts.as_deref(), Some(parent.ts.as_str()));
    assert!(parent.edited);
    let text =
        |m: &crate::support::fake_slack_api::PostedMessage| m.text.clone().unwrap_or_default();
    assert!(text(parent).contains("RESOLVED"), "{parent:?}");
    assert!(text(reply).contains("RESOLVED"), "{reply:?}");
    let calls = api.calls();
    assert!(
        calls
            .iter()
            .all(|c| c.authorization == format!("Bearer {TOKEN}"))
    );
    assert_eq!(
        calls[1].body["channel"], "C0ORDERS",
        "chat.update needs the ID"
    );
    for output in [&fired, &resolved] {
        assert!(!stderr_of(output).contains(TOKEN), "{}", stderr_of(output));
    }

    // The group fully resolved, so its thread is closed: the next firing starts a new one.
    db.execute("insert into problems values ('b', 'ORDERS')", [])
        .unwrap();
    let refired = poll_app(dir.path(), &api);
    assert_eq!(refired.status.code(), Some(0), "{}", stderr_of(&refired));
    assert_eq!(methods(&api).last().unwrap(), "chat.postMessage");
    assert_eq!(api.messages("C0ORDERS").len(), 3);
}

#[test]
fn slack_app_starts_a_new_thread_when_the_first_message_was_deleted() {
    let api = FakeSlackApi::start(TOKEN, &[("C0ORDERS", "orders-alerts")]);
    let dir = workdir(&[("alerts.yaml", &config(SLACK_APP))]);
    let db = database(dir.path());
    db.execute_batch("insert into problems values ('a', 'ORDERS'), ('b', 'ORDERS')")
        .unwrap();
    assert_eq!(poll_app(dir.path(), &api).status.code(), Some(0));
    let first = api.messages("C0ORDERS")[0].ts.clone();
    api.delete("C0ORDERS", &first);

    db.execute("delete from problems where name = 'a'", [])
        .unwrap();
    let output = poll_app(dir.path(), &api);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(
        methods(&api),
        ["chat.postMessage", "chat.update", "chat.postMessage"],
        "message_not_found on update posts anew"
    );
    let second = api.calls()[2].clone();
    assert!(second.body.get("thread_ts").is_none());

    // The new message is the group's thread from now on.
    db.execute("delete from problems", []).unwrap();
    assert_eq!(poll_app(dir.path(), &api).status.code(), Some(0));
    let calls = api.calls();
    let new_ts = api
        .messages("C0ORDERS")
        .into_iter()
        .find(|m| m.ts != first && m.thread_ts.is_none())
        .unwrap()
        .ts;
    assert_eq!(calls[3].method, "chat.update");
    assert_eq!(calls[3].body["ts"], new_ts.as_str());
    assert_eq!(calls[4].body["thread_ts"], new_ts.as_str());
}

#[test]
fn slack_app_errors_are_classified_and_reported_without_the_token() {
    let api = FakeSlackApi::start(TOKEN, &[("C0ORDERS", "orders-alerts")]);
    let dir = workdir(&[("alerts.yaml", &config(SLACK_APP))]);
    database(dir.path())
        .execute("insert into problems values ('a', 'ORDERS')", [])
        .unwrap();

    // Permanent: one call, exit 1, Slack's reason and what to do.
    api.script("chat.postMessage", [ApiReply::Error("not_in_channel")]);
    let refused = poll_app(dir.path(), &api);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = stderr_of(&refused);
    assert!(stderr.contains("`not_in_channel`"), "{stderr}");
    assert!(stderr.contains("invite it"), "{stderr}");
    assert!(!stderr.contains(TOKEN), "{stderr}");
    assert_eq!(api.calls().len(), 1);

    // Retryable: rate limited (429 + Retry-After) and internal_error, then accepted.
    api.script(
        "chat.postMessage",
        [ApiReply::RateLimited(1), ApiReply::Error("internal_error")],
    );
    let retried = poll_app(dir.path(), &api);
    assert_eq!(retried.status.code(), Some(0), "{}", stderr_of(&retried));
    let calls = api.calls();
    assert_eq!(calls.len(), 4);
    assert!(
        calls[2].at.duration_since(calls[1].at) >= std::time::Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(api.messages("C0ORDERS").len(), 1);
}

// ---- Alertmanager: the real one (Debian's prometheus-alertmanager) on loopback ----

fn am_receiver(urls: &[String]) -> String {
    let urls: Vec<String> = urls.iter().map(|u| format!("'{u}'")).collect();
    format!(
        "    alertmanager:\n      urls: [{}]\n    max_retries: 1\n",
        urls.join(", ")
    )
}

fn poll_am(dir: &Path) -> std::process::Output {
    dbalert(dir).arg("poll").output().unwrap()
}

/// The alerts Alertmanager holds, as (name label, state, endsAt).
fn am_alerts(alerts: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["name"].as_str().unwrap_or_default().to_owned(),
                a["status"]["state"].as_str().unwrap_or_default().to_owned(),
                a["endsAt"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Alertmanager's own webhook notifications, as (status, number of alerts).
fn am_notifications(hook: &FakeSlack, url: &str) -> Vec<(String, usize)> {
    hook.requests_to(url)
        .iter()
        .map(|r| {
            let body = r.json();
            (
                body["status"].as_str().unwrap().to_owned(),
                body["alerts"].as_array().unwrap().len(),
            )
        })
        .collect()
}

#[test]
fn alertmanager_gets_firing_alerts_groups_them_and_resolves_them() {
    let hook = FakeSlack::start();
    let am_hook = hook.plain_webhook("from-alertmanager");
    let Some(am) = Alertmanager::start(&am_hook) else {
        return;
    };
    let dir = workdir(&[("alerts.yaml", &config(&am_receiver(&[am.url()])))]);
    let db = database(dir.path());
    db.execute_batch("insert into problems values ('a', 'ORDERS'), ('b', 'ORDERS')")
        .unwrap();

    let fired = poll_am(dir.path());
    assert_eq!(fired.status.code(), Some(0), "{}", stderr_of(&fired));
    let alerts = am.wait_for("two active alerts", WAIT, |a| {
        am_alerts(a)
            .iter()
            .filter(|(_, s, _)| s == "active")
            .count()
            == 2
    });
    let first_ends = am_alerts(&alerts)[0].2.clone();
    let labels = &alerts[0]["labels"];
    assert_eq!(labels["alertname"], "problem");
    assert_eq!(labels["source"], "app");
    assert_eq!(labels["owner"], "ORDERS");
    assert!(
        alerts[0]["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("Problem ")
    );
    wait_until("Alertmanager's grouped notification", || {
        am_notifications(&hook, &am_hook).contains(&("firing".to_owned(), 2))
    });

    // Still firing: sent again, with endsAt moved ahead, so Alertmanager keeps it active.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(poll_am(dir.path()).status.code(), Some(0));
    let time = |t: &str| t.parse::<jiff::Timestamp>().unwrap();
    am.wait_for("endsAt moved ahead", WAIT, |a| {
        am_alerts(a)
            .first()
            .is_some_and(|(_, _, ends)| time(ends) > time(&first_ends))
    });

    db.execute("delete from problems", []).unwrap();
    let resolved = poll_am(dir.path());
    assert_eq!(resolved.status.code(), Some(0), "{}", stderr_of(&resolved));
    wait_until("Alertmanager's resolved notification", || {
        am_notifications(&hook, &am_hook).contains(&("resolved".to_owned(), 2))
    });
}

#[test]
fn alertmanager_cluster_is_fed_while_one_member_is_down() {
    let hook = FakeSlack::start();
    let am_hook = hook.plain_webhook("from-alertmanager-ha");
    let Some(am) = Alertmanager::start(&am_hook) else {
        return;
    };
    // A port nothing listens on: the cluster's other member is down.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let dir = workdir(&[("alerts.yaml", &config(&am_receiver(&[down, am.url()])))]);
    database(dir.path())
        .execute("insert into problems values ('a', 'ORDERS')", [])
        .unwrap();
    let output = poll_am(dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains("An Alertmanager did not take the alerts"),
        "{}",
        stderr_of(&output)
    );
    am.wait_for("the alert", WAIT, |a| am_alerts(a).len() == 1);
    wait_until("Alertmanager's notification", || {
        am_notifications(&hook, &am_hook).contains(&("firing".to_owned(), 1))
    });
}

const WAIT: std::time::Duration = std::time::Duration::from_secs(20);

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn send_to_a_slack_app_receiver_posts_to_its_channel() {
    let api = FakeSlackApi::start(TOKEN, &[("C0ORDERS", "orders-alerts")]);
    let dir = workdir(&[("alerts.yaml", &format!("receivers:\n  team:\n{SLACK_APP}"))]);
    let output = dbalert(dir.path())
        .env("SLACK_BOT_TOKEN", TOKEN)
        .env("SLACK_API", api.api_url())
        .args([
            "send",
            "--to",
            "team",
            "--title",
            "Batch done",
            "<!channel> 42 rows",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let calls = api.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "chat.postMessage");
    assert_eq!(calls[0].body["channel"], "#orders-alerts");
    let posted = api.messages("C0ORDERS");
    assert_eq!(posted.len(), 1);
    let text = posted[0].text.clone().unwrap_or_default();
    assert!(text.contains("&lt;!channel&gt;"), "escaped: {text}");
}
