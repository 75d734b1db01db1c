//! `dbalert send` through the real binary against the fake Slack.

use std::time::Duration;

use crate::support::fake_slack::{FakeSlack, LIMIT_SPACING, Reply, TestCa};
use crate::support::{dbalert, stderr_of, stdout_of, workdir};

/// The secret part of every test webhook URL; it must never show up on stderr.
const SECRET: &str = "S3CRETwebhookPATH";

#[test]
fn posts_a_message_from_stdin() {
    let slack = FakeSlack::start();
    let hook = slack.webhook(SECRET);
    let dir = workdir(&[]);
    dbalert(dir.path())
        .args([
            "send",
            "--webhook",
            &hook,
            "--severity",
            "critical",
            "--title",
            "Disk full",
        ])
        .write_stdin("tablespace USERS is 97% full\n")
        .assert()
        .success();
    let requests = slack.requests_to(&hook);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].status, 200);
    assert!(requests[0].content_type.starts_with("application/json"));
    assert!(requests[0].user_agent.starts_with("dbalert/"));
    let payload = requests[0].json();
    assert_eq!(
        payload["text"],
        ":red_circle: Disk full: tablespace USERS is 97% full"
    );
    assert_eq!(payload["attachments"][0]["color"], "#E01E5A");
    dbalert::render::blockkit::validate(&payload).unwrap();
}

#[test]
fn arguments_are_the_text_and_the_env_var_needs_no_config() {
    let slack = FakeSlack::start();
    let hook = slack.webhook(SECRET);
    let dir = workdir(&[]);
    dbalert(dir.path())
        .env("DBALERT_WEBHOOK_URL", &hook)
        .args([
            "send", "backup", "finished", "--field", "db=PROD", "--field", "took=5m",
        ])
        .assert()
        .success();
    let payload = slack.requests_to(&hook)[0].json();
    assert_eq!(payload["text"], ":information_source: backup finished");
    let fields = &payload["attachments"][0]["blocks"][0]["fields"];
    assert_eq!(fields[0]["text"], "*db*\nPROD");
    assert_eq!(fields[1]["text"], "*took*\n5m");
}

#[test]
fn retries_429_after_retry_after() {
    let slack = FakeSlack::start();
    let hook = slack.webhook(SECRET);
    slack.script(&hook, [Reply::RateLimited(2)]);
    let dir = workdir(&[]);
    dbalert(dir.path())
        .args(["send", "--webhook", &hook, "hello"])
        .assert()
        .success();
    let requests = slack.requests_to(&hook);
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200]
    );
    let waited = requests[1].at.duration_since(requests[0].at);
    assert!(
        waited >= Duration::from_secs(2),
        "retried after {waited:?}, before Retry-After"
    );
}

#[test]
fn retries_5xx_until_success() {
    let slack = FakeSlack::start();
    let hook = slack.webhook(SECRET);
    slack.script(
        &hook,
        [
            Reply::Status(500, "rollup_error"),
            Reply::Status(503, "<html>Server Error</html>"),
        ],
    );
    let dir = workdir(&[]);
    dbalert(dir.path())
        .args(["send", "--webhook", &hook, "hello"])
        .assert()
        .success();
    let statuses: Vec<u16> = slack.requests_to(&hook).iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 503, 200]);
}

#[test]
fn permanent_error_fails_at_once_with_slacks_reason() {
    let slack = FakeSlack::start();
    let hook = slack.webhook(SECRET);
    slack.script(&hook, [Reply::Status(404, "no_service")]);
    let dir = workdir(&[]);
    let output = dbalert(dir.path())
        .args(["send", "--webhook", &hook, "hello"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert_eq!(
        slack.requests_to(&hook).len(),
        1,
        "a 404 must not be retried"
    );
    let stderr = stderr_of(&output);
    assert!(stderr.contains("HTTP 404 `no_service`"), "{stderr}");
    assert!(stderr.contains("create a new one in Slack"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
}

#[test]
fn reset_connection_is_retried() {
    let slack = FakeSlack::start();
    let hook = slack.webhook(SECRET);
    slack.script(&hook, [Reply::Reset]);
    let dir = workdir(&[]);
    dbalert(dir.path())
        .args(["send", "--webhook", &hook, "hello"])
        .assert()
        .success();
    let statuses: Vec<u16> = slack.requests_to(&hook).iter().map(|r| r.status).collect();
    assert_eq!(statuses, [0, 200]);
}

#[test]
fn slow_reply_past_the_timeout_is_retried() {
    let slack = FakeSlack::start();
    let hook = slack.webhook(SECRET);
    slack.script(&hook, [Reply::Slow(Duration::from_secs(3))]);
    let dir = workdir(&[(
        "alerts.yaml",
        "receivers:\n  ops:\n    slack:\n      webhook_url: ${env:HOOK}\n    timeout: 1s\n",
    )]);
    let output = dbalert(dir.path())
        .env("HOOK", &hook)
        .args(["send", "--to", "ops", "hello"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(
        stderr_of(&output).contains("timed out"),
        "{}",
        stderr_of(&output)
    );
    let requests = slack.requests_to(&hook);
    assert_eq!(requests.len(), 2, "the slow request and its retry");
    assert_eq!(requests[1].status, 200);
}

#[test]
fn hostile_text_arrives_escaped_valid_and_within_limits() {
    let slack = FakeSlack::start();
    let hook = slack.webhook(SECRET);
    let mut input = b"<!channel> <@U1> & <http://x|y> \0nul ".to_vec();
    input.extend_from_slice(&[0xff, 0xfe, b' ']);
    input.extend(std::iter::repeat_n(b'A', 100_000));
    let dir = workdir(&[]);
    dbalert(dir.path())
        .args([
            "send",
            "--webhook",
            &hook,
            "--title",
            "<!here> title",
            "--field",
            "<@U2>=<!everyone>",
        ])
        .write_stdin(input)
        .assert()
        .success();
    let request = &slack.requests_to(&hook)[0];
    assert_eq!(request.status, 200, "the fake Slack accepted it");
    let raw = String::from_utf8(request.body.clone()).expect("valid UTF-8 JSON");
    for mention in [
        "<!channel>",
        "<!here>",
        "<@U1>",
        "<@U2>",
        "<!everyone>",
        "<http://x|y>",
    ] {
        assert!(!raw.contains(mention), "{mention} survived unescaped");
    }
    assert!(!raw.contains("\\u0000"), "NUL bytes must be removed");
    let payload = request.json();
    dbalert::render::blockkit::validate(&payload).unwrap();
    let body = payload["attachments"][0]["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap();
    assert!(
        body.starts_with(
            "&lt;!channel&gt; &lt;@U1&gt; &amp; &lt;http://x|y&gt; nul \u{fffd}\u{fffd} A"
        ),
        "{body}"
    );
    assert!(
        body.ends_with("… (cut)"),
        "a visible marker where the text was cut"
    );
    assert!(payload["text"].as_str().unwrap().chars().count() <= 3000);
}

#[test]
fn secret_path_never_reaches_stderr_at_any_verbosity() {
    let slack = FakeSlack::start();
    let hook = slack.webhook(SECRET);
    let dir = workdir(&[(
        "alerts.yaml",
        "receivers:\n  ops:\n    slack:\n      webhook_url: ${env:HOOK}\n    max_retries: 1\n",
    )]);
    for verbosity in [None, Some("-v"), Some("-vv"), Some("-vvv")] {
        for rust_log in [None, Some("trace")] {
            slack.script(&hook, [Reply::Status(500, "rollup_error"), Reply::Reset]);
            let mut cmd = dbalert(dir.path());
            cmd.env("HOOK", &hook).args(["send", "--to", "ops", "hi"]);
            if let Some(flag) = verbosity {
                cmd.arg(flag);
            }
            if let Some(level) = rust_log {
                cmd.env("RUST_LOG", level);
            }
            let output = cmd.assert().code(1).get_output().clone();
            let stderr = stderr_of(&output);
            assert!(stderr.contains("gave up after 2 attempts"), "{stderr}");
            assert!(
                !stderr.contains(SECRET),
                "{verbosity:?} {rust_log:?} leaked the webhook: {stderr}"
            );
        }
    }
}

#[test]
fn messages_to_one_webhook_are_a_second_apart() {
    let slack = FakeSlack::start();
    let hook = slack.webhook(SECRET);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let transport = dbalert::sink::slack::SlackReceiverConfig {
        webhook_url: Some(dbalert::config::secret::Secret::new(hook.clone())),
        ..Default::default()
    }
    .build(
        &dbalert::sink::ReceiverName("ops".into()),
        &Default::default(),
    )
    .unwrap();
    let sink =
        dbalert::sink::Sink::new(dbalert::sink::Encoder::Slack(Default::default()), transport);
    runtime.block_on(async {
        for i in 0..3 {
            sink.send(&serde_json::json!({"text": format!("message {i}")}))
                .await
                .unwrap();
        }
    });
    let requests = slack.requests_to(&hook);
    assert!(
        requests.iter().all(|r| r.status == 200),
        "the fake's 1/s limiter never fired"
    );
    assert_eq!(requests.len(), 3);
    for pair in requests.windows(2) {
        assert!(pair[1].at.duration_since(pair[0].at) >= LIMIT_SPACING);
    }
}

#[test]
fn json_payload_is_checked_then_sent_as_is() {
    let slack = FakeSlack::start();
    let hook = slack.webhook(SECRET);
    let dir = workdir(&[]);
    let payload =
        r#"{"text":"raw","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*raw*"}}]}"#;
    dbalert(dir.path())
        .args(["send", "--json", "--webhook", &hook])
        .write_stdin(payload)
        .assert()
        .success();
    assert_eq!(
        slack.requests_to(&hook)[0].json(),
        serde_json::from_str::<serde_json::Value>(payload).unwrap()
    );

    let too_many = serde_json::json!({"text": "x", "blocks": vec![serde_json::json!({"type": "divider"}); 51]});
    let output = dbalert(dir.path())
        .args(["send", "--json", "--webhook", &hook])
        .write_stdin(too_many.to_string())
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(stderr_of(&output).contains("51 blocks, over Slack's 50"));
    dbalert(dir.path())
        .args(["send", "--json", "--webhook", &hook])
        .write_stdin("{not json")
        .assert()
        .code(2);
    assert_eq!(
        slack.requests_to(&hook).len(),
        1,
        "refused payloads are not sent"
    );
}

#[test]
fn dry_run_prints_the_payload_and_sends_nothing() {
    let dir = workdir(&[]);
    let output = dbalert(dir.path())
        .args([
            "send",
            "--dry-run",
            "--severity",
            "warning",
            "<!channel> hi",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    let payload: serde_json::Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    assert_eq!(payload["text"], ":warning: &lt;!channel&gt; hi");
}

#[test]
fn stdout_receiver_prints_the_payload() {
    let dir = workdir(&[("alerts.yaml", "receivers:\n  console:\n    stdout: {}\n")]);
    let output = dbalert(dir.path())
        .args(["send", "--to", "console", "hello"])
        .assert()
        .success()
        .get_output()
        .clone();
    let payload: serde_json::Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    assert_eq!(payload["text"], ":information_source: hello");
}

#[test]
fn usage_errors_exit_2_and_never_echo_the_url() {
    let dir = workdir(&[("alerts.yaml", "receivers:\n  console:\n    stdout: {}\n")]);
    let cases: [(&[&str], &str); 5] = [
        (&["send", "hi"], "say where to send"),
        (&["send", "--to", "nope", "hi"], "no receiver `nope`"),
        (
            &["send", "--webhook", "ftp://S3CRETwebhookPATH", "hi"],
            "must start with https://",
        ),
        (
            &["send", "--webhook", "http://127.0.0.1:9/x", ""],
            "nothing to send",
        ),
        (
            &["send", "--severity", "bogus", "hi"],
            "invalid value 'bogus'",
        ),
    ];
    for (args, message) in cases {
        let output = dbalert(dir.path())
            .args(args)
            .assert()
            .code(2)
            .get_output()
            .clone();
        let stderr = stderr_of(&output);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains(SECRET), "{args:?}: {stderr}");
    }
}

#[test]
fn retry_after_past_the_deadline_gives_up_without_waiting() {
    let slack = FakeSlack::start();
    let hook = slack.webhook(SECRET);
    slack.script(&hook, [Reply::RateLimited(600)]);
    let dir = workdir(&[(
        "alerts.yaml",
        "receivers:\n  ops:\n    slack:\n      webhook_url: ${env:HOOK}\n    deadline: 5s\n",
    )]);
    let started = std::time::Instant::now();
    let output = dbalert(dir.path())
        .env("HOOK", &hook)
        .args(["send", "--to", "ops", "hello"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = stderr_of(&output);
    assert!(stderr.contains("gave up after 1 attempt"), "{stderr}");
    assert!(stderr.contains("Retry-After 600s"), "{stderr}");
    assert_eq!(slack.requests_to(&hook).len(), 1);
    // Generous bound: the point is that it did not sleep the 600 s Slack asked for.
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[test]
fn receiver_proxy_carries_the_request() {
    // The proxy is a second fake: an HTTP proxy receives `POST http://host/path` and our fake
    // answers it like the webhook would, so a recorded request proves the proxy was used.
    let proxy = FakeSlack::start();
    let hook = format!("http://hooks.slack.invalid/services/T0/B0/{SECRET}");
    let proxy_url = proxy.base_url();
    let dir = workdir(&[(
        "alerts.yaml",
        "receivers:\n  ops:\n    slack:\n      webhook_url: ${env:HOOK}\n      proxy: ${env:PROXY}\n",
    )]);
    dbalert(dir.path())
        .env("HOOK", &hook)
        .env("PROXY", &proxy_url)
        .args(["send", "--to", "ops", "via proxy"])
        .assert()
        .success();
    let requests = proxy.requests_to(&hook);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].json()["text"], ":information_source: via proxy");
}

#[test]
fn proxy_from_the_environment_is_honoured() {
    let proxy = FakeSlack::start();
    let hook = format!("http://hooks.slack.invalid/services/T0/B0/{SECRET}");
    let proxy_url = proxy.base_url();
    let dir = workdir(&[]);
    dbalert(dir.path())
        .env("HTTP_PROXY", &proxy_url)
        .args(["send", "--webhook", &hook, "via env proxy"])
        .assert()
        .success();
    assert_eq!(proxy.requests_to(&hook).len(), 1);
}

#[test]
fn ca_file_trusts_a_private_ca_that_the_system_does_not() {
    let ca = TestCa::new();
    let slack = FakeSlack::start_tls(&ca);
    let hook = slack.webhook_tls(SECRET);
    let config = |ca_line: &str| {
        format!(
            "receivers:\n  ops:\n    slack:\n      webhook_url: ${{env:HOOK}}\n{ca_line}    max_retries: 0\n"
        )
    };
    let dir = workdir(&[
        ("trusted.yaml", &config("      ca_file: ca.pem\n")),
        ("untrusted.yaml", &config("")),
        ("ca.pem", &ca.ca_pem),
    ]);
    dbalert(dir.path())
        .env("HOOK", &hook)
        .args(["-c", "trusted.yaml", "send", "--to", "ops", "over TLS"])
        .assert()
        .success();
    assert_eq!(slack.requests_to(&hook).len(), 1);

    let output = dbalert(dir.path())
        .env("HOOK", &hook)
        .args(["-c", "untrusted.yaml", "send", "--to", "ops", "over TLS"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("UnknownIssuer"),
        "without ca_file the system roots reject it: {stderr}"
    );
    assert!(!stderr.contains(SECRET), "{stderr}");
    assert_eq!(
        slack.requests_to(&hook).len(),
        1,
        "nothing arrived over the untrusted connection"
    );
}

#[test]
fn unreadable_ca_file_is_a_clear_error() {
    let dir = workdir(&[
        (
            "alerts.yaml",
            "receivers:\n  ops:\n    slack:\n      webhook_url: https://hooks.example/x\n      ca_file: bad.pem\n",
        ),
        ("bad.pem", "not a certificate"),
    ]);
    let config = dir.path().join("alerts.yaml");
    let output = dbalert(dir.path())
        .arg("-c")
        .arg(&config)
        .args(["send", "--to", "ops", "hi"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = stderr_of(&output);
    let path = dir.path().join("bad.pem");
    let want = format!(
        ":5:7: receivers.ops.slack.ca_file: cannot use {}: no certificate in the file",
        path.display()
    );
    assert!(
        stderr.contains(&want),
        "a config error, and a relative ca_file is read beside the config: {stderr}"
    );
    // Found by `check` too, before any poll or send.
    dbalert(dir.path())
        .arg("-c")
        .arg(&config)
        .arg("check")
        .assert()
        .code(2);
}

#[test]
fn an_absurd_retry_after_fails_cleanly_instead_of_panicking() {
    let slack = FakeSlack::start();
    let hook = slack.webhook(SECRET);
    slack.script(&hook, [Reply::RateLimited(u64::MAX)]);
    let dir = workdir(&[]);
    let output = dbalert(dir.path())
        .args(["send", "--webhook", &hook, "hello"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(
        stderr_of(&output).contains("gave up after 1 attempt"),
        "{}",
        stderr_of(&output)
    );
}

// Issue 11 (item 9): `yes | dbalert send` returns, with the text cut and marked.
#[test]
fn endless_stdin_is_cut_and_send_returns() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = workdir(&[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbalert"))
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .args(["send", "--dry-run"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Writes until dbalert stops reading, as `yes` does.
    let writer = std::thread::spawn(move || {
        let block = "y\n".repeat(32 * 1024);
        while stdin.write_all(block.as_bytes()).is_ok() {}
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("send kept reading an endless stdin");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let payload: serde_json::Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    let text = payload["text"].as_str().unwrap();
    assert!(text.ends_with("… (cut)"), "{text}");
}

// Issue 11 (item 9): a payload over the stdin cap is too large, not invalid JSON.
#[test]
fn json_over_the_cap_is_too_large_not_invalid() {
    let dir = workdir(&[]);
    let big = serde_json::json!({"text": "x".repeat(1_200_000)}).to_string();
    let output = dbalert(dir.path())
        .args(["send", "--json", "--dry-run"])
        .write_stdin(big)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = stderr_of(&output);
    assert!(stderr.contains("more than 1 MiB"), "{stderr}");
    assert!(!stderr.contains("not valid JSON"), "{stderr}");
}

// Issue 11 (item 9): a link Slack would refuse is refused before anything is sent; one that
// fits makes a payload within Slack's limits.
#[test]
fn link_longer_than_slack_takes_is_refused() {
    let dir = workdir(&[]);
    let link = |len: usize| format!("https://x.example/?q={}", "a".repeat(len));
    let output = dbalert(dir.path())
        .args(["send", "--dry-run", "--link", &link(2_980), "hello"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(
        stderr_of(&output).contains("shorten it"),
        "{}",
        stderr_of(&output)
    );
    let output = dbalert(dir.path())
        .args(["send", "--dry-run", "--link", &link(2_600), "hello"])
        .assert()
        .success()
        .get_output()
        .clone();
    let printed: serde_json::Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    dbalert::render::blockkit::validate(&printed).unwrap();
}

// Issue 11 (item 12): bidirectional controls in the text cannot turn dbalert's own words around.
#[test]
fn bidi_controls_are_removed_from_the_message() {
    let dir = workdir(&[]);
    let output = dbalert(dir.path())
        .args([
            "send",
            "--dry-run",
            "--title",
            "disk\u{202E}lluf",
            "db\u{2066}x\u{2069}",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = stdout_of(&output);
    for control in ['\u{202E}', '\u{2066}', '\u{2069}'] {
        assert!(!stdout.contains(control), "{stdout:?}");
    }
    assert!(stdout.contains("disklluf"), "{stdout}");
}
