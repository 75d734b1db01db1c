//! `dbalert serve` through the real binary: Socket Mode against the local Socket Mode peer and
//! the fake Web API (`apps.connections.open`, `auth.test`), HTTP mode with requests signed as
//! Slack signs them, and the audit rows each request leaves in the state file.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use dbalert::state::{AuditEntry, AuditPhase, StateStore};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio_tungstenite::tungstenite::Message;

use crate::support::fake_slack_api::FakeSlackApi;
use crate::support::socket_peer::{SocketPeer, click_envelope, disconnect};
use crate::support::{dbalert_process, stderr_of, workdir};

const APP_TOKEN: &str = "xapp-1-A0FAKEAPP-1-secret-app-token-77";
const BOT_TOKEN: &str = "xoxb-1-secret-bot-token-88";
const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TEAM: &str = "T0TEAM";
/// How long a test waits for something that takes milliseconds: only to fail, never to time.
const PATIENCE: Duration = Duration::from_secs(30);

/// A Socket Mode `serve` and its peers.
struct Socket {
    dir: tempfile::TempDir,
    api: FakeSlackApi,
    peer: SocketPeer,
}

impl Socket {
    /// The peers, with `auth.test` answering `team`.
    fn new(team: &str) -> Self {
        let api = FakeSlackApi::start(BOT_TOKEN, &[]);
        let peer = SocketPeer::start();
        api.socket_mode(APP_TOKEN, &peer.url(), team);
        let config = format!(
            "state:\n  path: state.db\n\
             slack_app:\n  app_token: ${{env:APP_TOKEN}}\n  bot_token: ${{env:BOT_TOKEN}}\n  \
             team_id: {TEAM}\n  api_url: {}\n",
            api.api_url()
        );
        let dir = workdir(&[("alerts.yaml", &config)]);
        Self { dir, api, peer }
    }

    fn serve(&self, args: &[&str]) -> Child {
        start(self.dir.path(), args)
    }

    fn connections_opened(&self) -> usize {
        self.api.calls_to("apps.connections.open").len()
    }
}

/// Starts `dbalert ARGS serve` with the tokens in its environment; stderr goes to a file.
fn start(dir: &Path, args: &[&str]) -> Child {
    let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
    dbalert_process(dir)
        .env("APP_TOKEN", APP_TOKEN)
        .env("BOT_TOKEN", BOT_TOKEN)
        .env("SIGNING_SECRET", SIGNING_SECRET)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// Sends SIGTERM and waits for the exit; the output's stderr is the log file's.
fn terminate(child: Child, dir: &Path) -> Output {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    finish(child, dir)
}

/// Waits for the process to exit by itself (failing the test if it does not).
fn finish(mut child: Child, dir: &Path) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("dbalert did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut output = child.wait_with_output().unwrap();
    output.stderr = std::fs::read(dir.join("stderr.log")).unwrap();
    output
}

fn audit(dir: &Path) -> Vec<AuditEntry> {
    StateStore::open(&dir.join("state.db"))
        .unwrap()
        .audit_trail(1000)
        .unwrap()
}

/// Waits until the audit trail has a row for `request_id`, and returns the rows for it.
fn wait_audited(dir: &Path, request_id: &str) -> Vec<AuditEntry> {
    let started = Instant::now();
    loop {
        let rows: Vec<_> = audit(dir)
            .into_iter()
            .filter(|r| r.request_id == request_id)
            .collect();
        if !rows.is_empty() {
            return rows;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "no audit row for {request_id}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the audit trail has the outcome of `request_id`, and returns its outcome rows.
/// The test peers' clicks carry a button id no poll made, so their outcome is `invalid`.
fn wait_outcome(dir: &Path, request_id: &str) -> Vec<AuditEntry> {
    let outcomes = || -> Vec<AuditEntry> {
        (audit(dir).into_iter())
            .filter(|r| r.request_id == request_id && r.phase == AuditPhase::Outcome)
            .collect()
    };
    wait_until(&format!("the outcome of {request_id}"), || {
        !outcomes().is_empty()
    });
    outcomes()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn an_envelope_is_acked_then_audited_once_and_sigterm_exits_0() {
    let s = Socket::new(TEAM);
    let child = s.serve(&["-v", "serve"]);
    s.peer.wait_connections(1);
    s.peer
        .send(0, &click_envelope("env-1", "U0DBA", "C0ALERTS"));
    s.peer.wait_ack(0, "env-1");
    let rows = wait_outcome(s.dir.path(), "env-1");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].outcome, "invalid");
    assert_eq!(rows[0].actor, "U0DBA");
    assert_eq!(rows[0].channel.as_deref(), Some("C0ALERTS"));
    assert_eq!(rows[0].what, "dbalert.ack");

    // Slack retries: the same envelope is acked again but handled once. The next envelope is
    // read after the repeat, so once it is audited the repeat was already dropped.
    s.peer
        .send(0, &click_envelope("env-1", "U0DBA", "C0ALERTS"));
    s.peer
        .send(0, &click_envelope("env-2", "U0DBA", "C0ALERTS"));
    s.peer.wait_ack(0, "env-2");
    wait_outcome(s.dir.path(), "env-2");
    assert_eq!(s.peer.acks(0), ["env-1", "env-1", "env-2"]);
    assert_eq!(wait_outcome(s.dir.path(), "env-1").len(), 1);

    let output = terminate(child, s.dir.path());
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Stopping: signal received."), "{stderr}");
    s.peer.wait_closed(0);
    assert_eq!(s.connections_opened(), 1);
    // The self-test ran with the bot token, the socket was opened with the app token.
    let auth = s.api.calls_to("auth.test");
    assert_eq!(auth.len(), 1);
    assert_eq!(auth[0].authorization, format!("Bearer {BOT_TOKEN}"));
    assert_eq!(
        s.api.calls_to("apps.connections.open")[0].authorization,
        format!("Bearer {APP_TOKEN}")
    );
}

#[test]
fn binary_and_non_json_frames_are_ignored() {
    let s = Socket::new(TEAM);
    let child = s.serve(&["-vv", "serve"]);
    s.peer.wait_connections(1);
    s.peer
        .send_frame(0, Message::binary(b"\x00\x01binary".to_vec()));
    s.peer.send(0, "this is not JSON {");
    s.peer.send(0, r#"{"type":"something_new"}"#);
    s.peer
        .send(0, &click_envelope("env-after", "U0DBA", "C0ALERTS"));
    s.peer.wait_ack(0, "env-after");
    wait_outcome(s.dir.path(), "env-after");
    assert_eq!(s.peer.acks(0), ["env-after"], "nothing else was acked");
    let rows = audit(s.dir.path());
    assert!(rows.iter().all(|r| r.request_id == "env-after"), "{rows:?}");
    let output = terminate(child, s.dir.path());
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Ignored a binary frame"), "{stderr}");
    assert!(stderr.contains("not JSON"), "{stderr}");
    assert_eq!(s.connections_opened(), 1, "the socket was kept");
}

#[test]
fn refresh_requested_opens_the_new_socket_first_and_loses_nothing() {
    let s = Socket::new(TEAM);
    let child = s.serve(&["-vv", "serve"]);
    s.peer.wait_connections(1);
    s.peer.send(0, &disconnect("refresh_requested"));
    // Sent on the old socket after the disconnect: still acked and handled.
    s.peer
        .send(0, &click_envelope("env-old", "U0DBA", "C0ALERTS"));
    s.peer.wait_connections(2);
    assert_eq!(s.connections_opened(), 2);
    s.peer
        .send(1, &click_envelope("env-new", "U0DBA", "C0ALERTS"));
    s.peer.wait_ack(1, "env-new");
    s.peer.wait_ack(0, "env-old");
    wait_audited(s.dir.path(), "env-new");
    wait_audited(s.dir.path(), "env-old");
    // The old socket is closed by dbalert once the new one said hello.
    s.peer.wait_closed(0);
    assert!(!s.peer.closed(1));
    let output = terminate(child, s.dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

#[test]
fn a_warning_also_refreshes_the_socket() {
    let s = Socket::new(TEAM);
    let child = s.serve(&["serve"]);
    s.peer.wait_connections(1);
    s.peer.send(0, &disconnect("warning"));
    s.peer.wait_connections(2);
    s.peer
        .send(1, &click_envelope("env-w", "U0DBA", "C0ALERTS"));
    s.peer.wait_ack(1, "env-w");
    wait_audited(s.dir.path(), "env-w");
    s.peer.wait_closed(0);
    let output = terminate(child, s.dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

#[test]
fn the_socket_goes_through_the_proxy_and_no_proxy_is_honoured() {
    let s = Socket::new(TEAM);
    // The socket's host is `localhost`; the Web API's, 127.0.0.1, is exempt by NO_PROXY.
    let url = s.peer.url().replace("127.0.0.1", "localhost");
    s.api.socket_mode(APP_TOKEN, &url, TEAM);
    let proxy = crate::support::connect_proxy::ConnectProxy::start();
    let stderr = std::fs::File::create(s.dir.path().join("stderr.log")).unwrap();
    let child = dbalert_process(s.dir.path())
        .env("APP_TOKEN", APP_TOKEN)
        .env("BOT_TOKEN", BOT_TOKEN)
        .env(
            "HTTP_PROXY",
            format!("http://proxyuser:proxy-pass-99@{}", proxy.addr),
        )
        .env("NO_PROXY", "127.0.0.1")
        .args(["-vv", "serve"])
        .stderr(stderr)
        .spawn()
        .unwrap();
    s.peer.wait_connections(1);
    s.peer
        .send(0, &click_envelope("env-proxied", "U0DBA", "C0ALERTS"));
    s.peer.wait_ack(0, "env-proxied");
    wait_audited(s.dir.path(), "env-proxied");
    let tunnels = proxy.tunnels();
    assert_eq!(tunnels.len(), 1, "{tunnels:?}");
    assert_eq!(
        tunnels[0].target,
        format!("localhost:{}", s.peer.addr.port())
    );
    // Basic base64("proxyuser:proxy-pass-99").
    assert_eq!(
        tunnels[0].authorization,
        "Basic cHJveHl1c2VyOnByb3h5LXBhc3MtOTk="
    );
    let output = terminate(child, s.dir.path());
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("proxy-pass-99"), "{stderr}");
}

#[test]
fn link_disabled_at_start_exits_2() {
    let s = Socket::new(TEAM);
    s.peer.greet_with(vec![disconnect("link_disabled")]);
    let child = s.serve(&["serve"]);
    let output = finish(child, s.dir.path());
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("link_disabled"), "{stderr}");
    assert!(stderr.contains("turn on Socket Mode"), "{stderr}");
}

#[test]
fn link_disabled_later_exits_1() {
    let s = Socket::new(TEAM);
    let child = s.serve(&["serve"]);
    s.peer.wait_connections(1);
    s.peer.send(0, &disconnect("link_disabled"));
    let output = finish(child, s.dir.path());
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("link_disabled"), "{stderr}");
}

#[test]
fn a_silent_peer_is_replaced_after_the_idle_deadline() {
    let s = Socket::new(TEAM);
    let child = s.serve(&["-v", "serve", "--socket-idle", "1s"]);
    s.peer.wait_connections(1);
    s.peer.freeze(0);
    s.peer.wait_connections(2);
    assert_eq!(s.connections_opened(), 2);
    s.peer
        .send(1, &click_envelope("env-idle", "U0DBA", "C0ALERTS"));
    s.peer.wait_ack(1, "env-idle");
    wait_audited(s.dir.path(), "env-idle");
    let output = terminate(child, s.dir.path());
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("no frame from Slack for 1 s"), "{stderr}");
}

#[test]
fn a_bot_token_of_another_workspace_exits_2() {
    let s = Socket::new("T0OTHER");
    let child = s.serve(&["serve"]);
    let output = finish(child, s.dir.path());
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("belongs to workspace T0OTHER") && stderr.contains("team_id: T0OTHER"),
        "{stderr}"
    );
    assert_eq!(
        s.connections_opened(),
        0,
        "no socket before the self-test passed"
    );
}

#[test]
fn a_refused_app_token_exits_2() {
    let s = Socket::new(TEAM);
    s.api
        .socket_mode("xapp-1-another-token", &s.peer.url(), TEAM);
    let child = s.serve(&["serve"]);
    let output = finish(child, s.dir.path());
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid_auth"), "{stderr}");
    assert!(stderr.contains("slack_app.app_token"), "{stderr}");
}

#[test]
fn tokens_and_the_socket_ticket_never_appear_at_any_verbosity() {
    let s = Socket::new(TEAM);
    let child = s.serve(&["-vvv", "serve"]);
    s.peer.wait_connections(1);
    s.peer
        .send(0, &click_envelope("env-t", "U0DBA", "C0ALERTS"));
    s.peer.send(0, &disconnect("refresh_requested"));
    s.peer.wait_connections(2);
    wait_audited(s.dir.path(), "env-t");
    let output = terminate(child, s.dir.path());
    let all = format!(
        "{}{}",
        stderr_of(&output),
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(all.contains("Connected to Slack"), "{all}");
    for secret in [APP_TOKEN, BOT_TOKEN, "secret", "fake-ticket-1234"] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
}

#[test]
fn run_serve_polls_and_serves_in_one_process_and_stops_both_on_sigterm() {
    let s = Socket::new(TEAM);
    let run_config = "sources:\n  app:\n    sqlite:\n      path: app.db\n\
        receivers:\n  console:\n    stdout: {}\n\
        route:\n  receiver: console\n  group_wait: 0s\n\
        checks:\n  - name: problem\n    source: app\n    interval: 1s\n    \
        sql: select 'disk full' as name\n    key: [name]\n";
    let path = s.dir.path().join("alerts.yaml");
    let config = std::fs::read_to_string(&path).unwrap() + run_config;
    std::fs::write(&path, config).unwrap();
    rusqlite::Connection::open(s.dir.path().join("app.db")).unwrap();
    let child = s.serve(&["-v", "run", "--serve"]);
    s.peer.wait_connections(1);
    s.peer
        .send(0, &click_envelope("env-run", "U0DBA", "C0ALERTS"));
    s.peer.wait_ack(0, "env-run");
    wait_audited(s.dir.path(), "env-run");
    // The poll service ran beside it: the alert it fired is in the state file.
    wait_until("the check's alert", || {
        rusqlite::Connection::open(s.dir.path().join("state.db"))
            .unwrap()
            .query_row("SELECT count(*) FROM alerts", [], |r| r.get::<_, i64>(0))
            .unwrap_or(0)
            > 0
    });
    let output = terminate(child, s.dir.path());
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("disk full"),
        "the console receiver printed the alert: {stderr}"
    );
    s.peer.wait_closed(0);
}

#[test]
fn run_serve_without_slack_app_exits_2() {
    let dir = workdir(&[(
        "alerts.yaml",
        "state:\n  path: state.db\nsources:\n  app:\n    sqlite:\n      path: app.db\n\
         receivers:\n  console:\n    stdout: {}\nroute:\n  receiver: console\n\
         checks:\n  - name: p\n    source: app\n    sql: select 1 as x\n",
    )]);
    let output = finish(start(dir.path(), &["run", "--serve"]), dir.path());
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no `slack_app:` section"), "{stderr}");
}

#[test]
fn a_socket_idle_under_a_second_exits_2() {
    let config = format!(
        "state:\n  path: state.db\nslack_app:\n  app_token: ${{env:APP_TOKEN}}\n  \
         bot_token: ${{env:BOT_TOKEN}}\n  team_id: {TEAM}\n  api_url: http://127.0.0.1:9/api/\n"
    );
    let dir = workdir(&[("alerts.yaml", &config)]);
    let output = finish(
        start(dir.path(), &["serve", "--socket-idle", "500ms"]),
        dir.path(),
    );
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--socket-idle must be at least 1s"),
        "{stderr}"
    );
}

#[test]
fn serve_without_slack_app_exits_2() {
    let dir = workdir(&[("alerts.yaml", "state:\n  path: state.db\n")]);
    let output = finish(start(dir.path(), &["serve"]), dir.path());
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no `slack_app:` section"), "{stderr}");
}

/// An HTTP-mode `serve` on a free loopback port.
struct Http {
    dir: tempfile::TempDir,
    api: FakeSlackApi,
    addr: std::net::SocketAddr,
}

impl Http {
    fn new() -> Self {
        let api = FakeSlackApi::start(BOT_TOKEN, &[]);
        api.socket_mode(APP_TOKEN, "ws://127.0.0.1:9/", TEAM);
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let config = format!(
            "state:\n  path: state.db\n\
             slack_app:\n  mode: http\n  bot_token: ${{env:BOT_TOKEN}}\n  \
             signing_secret: ${{env:SIGNING_SECRET}}\n  team_id: {TEAM}\n  listen: {addr}\n  \
             api_url: {}\n",
            api.api_url()
        );
        let dir = workdir(&[("alerts.yaml", &config)]);
        Self { dir, api, addr }
    }

    /// POSTs `body` with `headers`; the status, once the server listens.
    fn post(&self, headers: &[(&str, String)], body: &str) -> (u16, String) {
        self.request("POST", headers, body)
    }

    fn request(&self, method: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
        let started = Instant::now();
        let mut stream = loop {
            match std::net::TcpStream::connect(self.addr) {
                Ok(stream) => break stream,
                Err(_) if started.elapsed() < PATIENCE => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("serve does not listen: {e}"),
            }
        };
        let mut request = format!(
            "{method} /slack/events HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = answer
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        (status, body)
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The headers Slack sends with `body` signed at `at`.
fn signed(at: i64, body: &str, content_type: &str) -> Vec<(&'static str, String)> {
    let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{at}:{body}").as_bytes());
    let tag: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    vec![
        ("Content-Type", content_type.to_owned()),
        ("X-Slack-Request-Timestamp", at.to_string()),
        ("X-Slack-Signature", format!("v0={tag}")),
    ]
}

const FORM: &str = "application/x-www-form-urlencoded";

fn click_form(id: &str) -> String {
    let envelope: serde_json::Value =
        serde_json::from_str(&click_envelope(id, "U0DBA", "C0ALERTS")).unwrap();
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &envelope["payload"].to_string())
        .finish()
}

#[test]
fn http_mode_answers_signed_requests_and_refuses_the_rest_with_401() {
    let h = Http::new();
    let child = start(h.dir.path(), &["-vv", "serve"]);
    let body = click_form("unused");
    let at = now();
    let (status, answer) = h.post(&signed(at, &body, FORM), &body);
    assert_eq!((status, answer.as_str()), (200, ""));
    let first = wait_until_rows(h.dir.path(), 1);
    let rows = wait_outcome(h.dir.path(), &first[0].request_id);
    assert_eq!(rows[0].actor, "U0DBA");
    assert_eq!(rows[0].what, "dbalert.ack");
    assert_eq!(rows[0].outcome, "invalid");
    assert!(rows[0].request_id.starts_with("http-"), "{:?}", rows[0]);

    // The same signed request again: a replay.
    assert_eq!(h.post(&signed(at, &body, FORM), &body).0, 401);
    // A body that was not signed so.
    let mut tampered = signed(at + 1, &body, FORM);
    tampered[2].1 = tampered[2].1.replace('a', "b").replace('0', "1");
    assert_eq!(h.post(&tampered, &body).0, 401);
    // No signature headers at all, or only one of them.
    assert_eq!(h.post(&[("Content-Type", FORM.to_owned())], &body).0, 401);
    assert_eq!(h.post(&signed(now(), &body, FORM)[..2], &body).0, 401);
    // Signed, but 301 s away from now, either way.
    for at in [now() - 301, now() + 301] {
        assert_eq!(h.post(&signed(at, &body, FORM), &body).0, 401, "{at}");
    }
    // A slash command form, and only POST.
    // A slash command form (this config has no actions: the answer says so), and only POST.
    let command = form_urlencoded::Serializer::new(String::new())
        .append_pair("command", "/dbalert")
        .append_pair("text", "status")
        .append_pair("user_id", "U0DBA")
        .append_pair("channel_id", "C0ALERTS")
        .append_pair("team_id", TEAM)
        .append_pair("response_url", &h.api.response_url_for("cmd"))
        .finish();
    assert_eq!(h.post(&signed(now(), &command, FORM), &command).0, 200);
    assert_eq!(h.request("GET", &[], "").0, 405);
    wait_until("the command's answer", || {
        !h.api.responses_to("cmd").is_empty()
    });
    let answer = &h.api.responses_to("cmd")[0];
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("There is no action `status`"),
        "{answer}"
    );
    // Slack's documented probes.
    assert_eq!(
        h.post(&[("Content-Type", FORM.to_owned())], "ssl_check=1&token=x")
            .0,
        200
    );
    let challenge = r#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let (status, answer) = h.post(&signed(now(), challenge, "application/json"), challenge);
    assert_eq!(status, 200);
    assert!(
        answer.contains("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"),
        "{answer}"
    );

    let output = terminate(child, h.dir.path());
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(
        audit(h.dir.path()).len(),
        2,
        "refused requests leave no row"
    );
    assert!(stderr.contains("already accepted"), "{stderr}");
    assert!(stderr.contains("more than 5 minutes"), "{stderr}");
    for secret in [BOT_TOKEN, SIGNING_SECRET] {
        assert!(!stderr.contains(secret), "{stderr}");
    }
    assert_eq!(h.api.calls_to("auth.test").len(), 1);
}

fn wait_until_rows(dir: &Path, n: usize) -> Vec<AuditEntry> {
    wait_until(&format!("{n} audit rows"), || audit(dir).len() >= n);
    audit(dir)
}

/// `dbalert slack manifest` for `config`, with `args`.
fn manifest(config: &str, args: &[&str]) -> Output {
    let dir = workdir(&[("alerts.yaml", config)]);
    crate::support::dbalert(dir.path())
        .args(["slack", "manifest"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_manifest_is_yaml_for_socket_mode_with_the_least_scopes() {
    // No token is needed to print it: the references stay unresolved.
    let config =
        "slack_app:\n  app_token: ${env:APP}\n  bot_token: ${env:BOT}\n  team_id: T0123ABCD\n";
    let output = manifest(config, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let yaml = String::from_utf8(output.stdout).unwrap();
    let m: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(m["settings"]["socket_mode_enabled"], true, "{yaml}");
    assert_eq!(m["settings"]["interactivity"]["is_enabled"], true);
    assert!(m["settings"]["interactivity"]["request_url"].is_null());
    assert_eq!(
        m["oauth_config"]["scopes"]["bot"],
        serde_json::json!(["chat:write", "commands", "usergroups:read"])
    );
    let commands = m["features"]["slash_commands"].as_array().unwrap();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0]["command"], "/dbalert");
    assert!(commands[0]["url"].is_null());
    assert_eq!(m["display_information"]["name"], "dbalert");
    assert_eq!(m["features"]["bot_user"]["display_name"], "dbalert");
    // A URL has no place in Socket Mode.
    let output = manifest(
        config,
        &["--url", "https://dbalert.example.com/slack/events"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("--url goes with `slack_app.mode: http`"));
}

#[test]
fn the_http_mode_manifest_has_request_urls_and_the_renamed_command() {
    let config = "slack_app:\n  mode: http\n  bot_token: ${env:BOT}\n  signing_secret: ${env:SECRET}\n  \
        team_id: T0123ABCD\n  listen: 127.0.0.1:3000\n  command: /db\n";
    let url = "https://dbalert.example.com/slack/events";
    let output = manifest(config, &["--url", url, "--name", "DB Alerts"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let yaml = String::from_utf8(output.stdout).unwrap();
    let m: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(m["settings"]["socket_mode_enabled"], false, "{yaml}");
    assert_eq!(m["settings"]["interactivity"]["request_url"], url);
    assert_eq!(m["features"]["slash_commands"][0]["command"], "/db");
    assert_eq!(m["features"]["slash_commands"][0]["url"], url);
    assert_eq!(m["display_information"]["name"], "DB Alerts");
    // HTTP mode without a URL, or with a plain http:// one.
    for args in [
        &[][..],
        &["--url", "http://dbalert.example.com/slack/events"][..],
    ] {
        let output = manifest(config, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr_of(&output).contains("https://"),
            "{}",
            stderr_of(&output)
        );
    }
}
