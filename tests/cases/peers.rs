//! The test peers themselves: the fake Slack Web API, and the real Alertmanager harness. If
//! these fail, the receiver tests that use them say nothing about dbalert.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::alertmanager::Alertmanager;
use crate::support::fake_slack::FakeSlack;
use crate::support::fake_slack_api::{ApiReply, FakeSlackApi, LIMIT_SPACING, POST_MESSAGE, UPDATE};

const TOKEN: &str = "xoxb-test-token";
const USER_AGENT: &str = "dbalert-peers-test";
const CHANNELS: &[(&str, &str)] = &[("C0ORDERS", "orders-alerts"), ("C0BILLING", "billing")];

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .build()
        .expect("a reqwest client")
}

/// Calls `method` with `token` and `args`, returning the status, `Retry-After` and JSON answer.
async fn call(
    api: &FakeSlackApi,
    method: &str,
    token: Option<&str>,
    args: &Value,
) -> (u16, Option<String>, Value) {
    let mut request = client()
        .post(format!("{}{method}", api.api_url()))
        .json(args);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the fake answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ASCII").to_owned());
    let body = response.json().await.expect("a JSON answer");
    (status, retry_after, body)
}

#[tokio::test]
async fn fake_slack_api_posts_threads_and_updates() {
    let api = FakeSlackApi::start(TOKEN, CHANNELS);
    let (status, _, parent) = call(
        &api,
        POST_MESSAGE,
        Some(TOKEN),
        &json!({"channel": "#orders-alerts", "text": "Disk full", "blocks": [{"type": "divider"}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(parent["ok"], true, "{parent}");
    assert_eq!(parent["channel"], "C0ORDERS");
    let ts = parent["ts"].as_str().unwrap().to_owned();
    assert_eq!(parent["message"]["text"], "Disk full");

    // A reply is a message in the channel too, and counts against its allowance.
    tokio::time::sleep(LIMIT_SPACING).await;
    let (_, _, reply) = call(
        &api,
        POST_MESSAGE,
        Some(TOKEN),
        &json!({"channel": "C0ORDERS", "text": "Resolved", "thread_ts": ts}),
    )
    .await;
    assert_eq!(reply["ok"], true, "{reply}");
    assert!(reply["ts"].as_str().unwrap() > ts.as_str());

    let (_, _, updated) = call(
        &api,
        UPDATE,
        Some(TOKEN),
        &json!({"channel": "C0ORDERS", "ts": ts, "text": "Disk full (resolved)"}),
    )
    .await;
    assert_eq!(updated["ok"], true, "{updated}");
    assert_eq!(updated["ts"], ts.as_str());
    assert_eq!(updated["text"], "Disk full (resolved)");

    let messages = api.messages("C0ORDERS");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].text.as_deref(), Some("Disk full (resolved)"));
    assert!(messages[0].edited);
    // Left out of the update, so kept, as Slack documents.
    assert_eq!(messages[0].blocks, Some(json!([{"type": "divider"}])));
    assert_eq!(messages[1].thread_ts.as_deref(), Some(ts.as_str()));
    assert!(!messages[1].edited);
    assert!(api.messages("C0BILLING").is_empty());
    let calls = api.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].http_method, "POST");
    assert_eq!(calls[0].method, POST_MESSAGE);
    assert_eq!(calls[0].authorization, format!("Bearer {TOKEN}"));
    assert!(calls[0].content_type.starts_with("application/json"));
    assert_eq!(calls[0].user_agent, USER_AGENT);
    assert_eq!(calls[1].body["thread_ts"], ts.as_str());
    assert!(calls[1].at >= calls[0].at + LIMIT_SPACING);
    assert!(calls.iter().all(|c| c.status == 200 && c.ok()));
    assert_eq!(api.calls_to(UPDATE).len(), 1);
}

#[tokio::test]
async fn fake_slack_api_forgets_deleted_messages() {
    let api = FakeSlackApi::start(TOKEN, CHANNELS);
    let (_, _, posted) = call(
        &api,
        POST_MESSAGE,
        Some(TOKEN),
        &json!({"channel": "C0ORDERS", "text": "Disk full"}),
    )
    .await;
    let ts = posted["ts"].as_str().unwrap();
    api.delete("C0ORDERS", ts);
    assert!(api.messages("C0ORDERS").is_empty());
    let (status, _, updated) = call(
        &api,
        UPDATE,
        Some(TOKEN),
        &json!({"channel": "C0ORDERS", "ts": ts, "text": "resolved"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(updated, json!({"ok": false, "error": "message_not_found"}));
    tokio::time::sleep(LIMIT_SPACING).await;
    let (_, _, reply) = call(
        &api,
        POST_MESSAGE,
        Some(TOKEN),
        &json!({"channel": "C0ORDERS", "text": "resolved", "thread_ts": ts}),
    )
    .await;
    assert_eq!(reply["error"], "thread_not_found");
    let errors: Vec<_> = api
        .calls()
        .iter()
        .map(|c| c.error().map(str::to_owned))
        .collect();
    assert_eq!(
        errors,
        [
            None,
            Some("message_not_found".to_owned()),
            Some("thread_not_found".to_owned())
        ]
    );
}

#[tokio::test]
async fn fake_slack_api_refuses_what_slack_refuses() {
    let api = FakeSlackApi::start(TOKEN, CHANNELS);
    let text = json!({"channel": "C0ORDERS", "text": "hi"});
    let cases = [
        (POST_MESSAGE, None, text.clone(), "not_authed"),
        (
            POST_MESSAGE,
            Some("xoxb-wrong"),
            text.clone(),
            "invalid_auth",
        ),
        (
            POST_MESSAGE,
            Some(TOKEN),
            json!({"channel": "#nowhere", "text": "hi"}),
            "channel_not_found",
        ),
        (
            POST_MESSAGE,
            Some(TOKEN),
            json!({"channel": "C0ORDERS", "text": " "}),
            "no_text",
        ),
        (
            UPDATE,
            Some(TOKEN),
            json!({"channel": "orders-alerts", "ts": "1.000001", "text": "hi"}),
            "channel_not_found",
        ),
        (
            UPDATE,
            Some(TOKEN),
            json!({"channel": "C0ORDERS", "ts": "1.000001", "text": "hi"}),
            "message_not_found",
        ),
    ];
    for (method, token, args, error) in cases {
        let (status, _, answer) = call(&api, method, token, &args).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (200, Some(error)),
            "{args}"
        );
        assert_eq!(answer["ok"], false);
    }
    let raw = |content_type: &'static str, body: &'static str| {
        client()
            .post(format!("{}{POST_MESSAGE}", api.api_url()))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body)
    };
    let answer: Value = raw("application/json; charset=utf-8", "{not json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["error"], "invalid_json");
    let answer: Value = raw("text/html", r#"{"channel":"C0ORDERS","text":"hi"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["error"], "invalid_post_type");
    assert!(api.messages("C0ORDERS").is_empty());
}

#[tokio::test]
async fn fake_slack_api_limits_one_message_per_second_per_channel() {
    let api = FakeSlackApi::start(TOKEN, CHANNELS);
    let post = |channel: &str| json!({"channel": channel, "text": "hi"});
    let (_, _, first) = call(&api, POST_MESSAGE, Some(TOKEN), &post("C0ORDERS")).await;
    let (status, retry_after, second) =
        call(&api, POST_MESSAGE, Some(TOKEN), &post("#orders-alerts")).await;
    assert_eq!(status, 429);
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(second, json!({"ok": false, "error": "ratelimited"}));
    let (status, _, _) = call(&api, POST_MESSAGE, Some(TOKEN), &post("C0BILLING")).await;
    assert_eq!(status, 200, "another channel has its own allowance");
    for n in 0..3 {
        let (status, _, _) = call(
            &api,
            UPDATE,
            Some(TOKEN),
            &json!({"channel": "C0ORDERS", "ts": first["ts"], "text": format!("edit {n}")}),
        )
        .await;
        assert_eq!(status, 200, "chat.update is Tier 3, not limited per second");
    }
    tokio::time::sleep(LIMIT_SPACING).await;
    let (status, _, _) = call(&api, POST_MESSAGE, Some(TOKEN), &post("C0ORDERS")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn fake_slack_api_answers_scripted_replies_in_order() {
    let api = FakeSlackApi::start(TOKEN, CHANNELS);
    api.script(
        POST_MESSAGE,
        [
            ApiReply::Error("internal_error"),
            ApiReply::RateLimited(7),
            ApiReply::Status(503, "<html>Server Error | Slack</html>"),
            ApiReply::Reset,
            ApiReply::Slow(Duration::from_millis(300)),
        ],
    );
    let url = format!("{}{POST_MESSAGE}", api.api_url());
    let args = json!({"channel": "C0ORDERS", "text": "hi"});
    let send = || client().post(&url).bearer_auth(TOKEN).json(&args).send();
    let answer = send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<Value>().await.unwrap()["error"],
        "internal_error"
    );
    let answer = send().await.unwrap();
    assert_eq!(answer.status(), 429);
    assert_eq!(answer.headers()["retry-after"], "7");
    let answer = send().await.unwrap();
    assert_eq!(answer.status(), 503);
    assert!(answer.text().await.unwrap().contains("Server Error"));
    assert!(send().await.is_err(), "a reset connection");
    let before = Instant::now();
    assert_eq!(send().await.unwrap().status(), 200, "slow, then normal");
    assert!(before.elapsed() >= Duration::from_millis(300));
    tokio::time::sleep(LIMIT_SPACING).await;
    assert_eq!(send().await.unwrap().status(), 200, "normal");
    let statuses: Vec<u16> = api.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [200, 429, 503, 0, 200, 200]);
    assert_eq!(api.messages("C0ORDERS").len(), 2);
}

/// Waits until `slack` has a request to `hook` that `matches`, and returns it as JSON.
fn wait_for_post(
    am: &Alertmanager,
    slack: &FakeSlack,
    hook: &str,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(found) = slack
            .requests_to(hook)
            .iter()
            .map(|r| r.json())
            .find(|body| matches(body))
        {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} from Alertmanager; it posted: {:?}\nits log:\n{}",
            slack
                .requests_to(hook)
                .iter()
                .map(|r| r.json())
                .collect::<Vec<_>>(),
            am.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn alertmanager_notifies_a_webhook_of_an_alert_and_its_resolution() {
    let slack = FakeSlack::start();
    let hook = slack.plain_webhook("am");
    let Some(am) = Alertmanager::start(&hook) else {
        return;
    };
    let started = jiff::Timestamp::now().to_string();
    let alert = |ends_at: Option<String>| {
        let mut alert = json!({
            "labels": {"alertname": "DiskFull", "db": "PROD"},
            "annotations": {"summary": "USERS is 97% full"},
            "startsAt": started,
        });
        if let Some(ends_at) = ends_at {
            alert["endsAt"] = json!(ends_at);
        }
        json!([alert])
    };
    let alerts_url = format!("{}/api/v2/alerts", am.url());
    let post = |alerts: Value| {
        let request = client().post(&alerts_url).json(&alerts);
        async move {
            let response = request.send().await.expect("Alertmanager answers");
            assert_eq!(response.status(), 200);
        }
    };

    post(alert(None)).await;
    let alerts = am.wait_for("DiskFull alert", Duration::from_secs(10), |alerts| {
        alerts.as_array().is_some_and(|a| a.len() == 1)
    });
    assert_eq!(alerts[0]["labels"]["db"], "PROD");
    assert_eq!(alerts[0]["status"]["state"], "active");
    let firing = wait_for_post(&am, &slack, &hook, "firing notification", |n| {
        n["status"] == "firing"
    });
    assert_eq!(firing["version"], "4");
    assert_eq!(firing["alerts"][0]["labels"]["alertname"], "DiskFull");

    // The harness's own client, this time.
    am.post_alerts(&alert(Some(jiff::Timestamp::now().to_string())));
    let resolved = wait_for_post(&am, &slack, &hook, "resolved notification", |n| {
        n["status"] == "resolved"
    });
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert_eq!(
        resolved["alerts"][0]["fingerprint"],
        firing["alerts"][0]["fingerprint"]
    );
    // Resolved alerts are not listed at all.
    assert_eq!(am.alerts(), json!([]));
}
