//! The real Prometheus Alertmanager for tests (Debian package `prometheus-alertmanager`, 0.25
//! in CI): one process per test on a free loopback port, with its own storage directory,
//! clustering off, and a config whose only receiver is a webhook, so that a test can push alerts
//! into it and watch what it forwards (a `FakeSlack` records the webhook posts).
//!
//! Without the binary the tests that need it are skipped, and say so on stderr; under `CI=true`
//! a missing binary fails them.
//!
//! What 0.25's API does, as seen on this machine:
//! - `POST /api/v2/alerts` takes a JSON array of `{labels, annotations, startsAt, endsAt,
//!   generatorURL}` and answers `200` with an empty body. Label names must match
//!   `[a-zA-Z_][a-zA-Z0-9_]*` (`400 "invalid label set: invalid name \"bad-name\""`); a label
//!   with an empty value is dropped; at least one label is needed; `endsAt` before `startsAt`
//!   is a `400`; a body that is not `application/json` is a `415`.
//! - An alert without `endsAt` is given `now + resolve_timeout` (5m).
//! - `GET /api/v2/alerts` lists active, silenced, inhibited and unprocessed alerts but never
//!   resolved ones: once `endsAt` has passed, the alert disappears from it at once. An alert
//!   posted with an `endsAt` already in the past is accepted (`200`) but never listed and never
//!   notified, since its group has nothing firing.
//! - Webhook notifications are `POST`s of `{"version":"4","status":"firing"|"resolved",
//!   "alerts":[{"status",…,"fingerprint"}],"groupKey",…}` with `User-Agent: Alertmanager/0.25.0`;
//!   a firing alert's `endsAt` is sent as `0001-01-01T00:00:00Z`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the Debian package installs it.
const DEBIAN_BINARY: &str = "/usr/bin/prometheus-alertmanager";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts at a fresh port when another process took the one picked.
const PORT_ATTEMPTS: usize = 5;

pub struct Alertmanager {
    child: Child,
    port: u16,
    stderr_path: PathBuf,
    /// Holds the config, the storage directory and the process's stderr until the drop.
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts one on a free loopback port with a fresh storage directory and a config whose
    /// only receiver is a webhook to `webhook_url` (`send_resolved: true`), grouped by
    /// `alertname` with `group_wait` and `group_interval` of 1s and `repeat_interval` 1h, and
    /// waits until `/-/ready` answers 200.
    ///
    /// Returns `None`, after saying why, when the binary is missing and `CI` is not `true`.
    pub fn start(webhook_url: &str) -> Option<Self> {
        let Some(binary) = binary() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "install prometheus-alertmanager (apt-get install prometheus-alertmanager): \
                 CI=true needs the Alertmanager tests to run"
            );
            // Straight to stderr, not through eprintln!, which the test harness captures.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: prometheus-alertmanager is not installed \
                 (apt-get install prometheus-alertmanager) and CI is not set"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(&config, config_for(webhook_url)).expect("write the config");
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port();
            let stderr_path = dir.path().join(format!("stderr-{attempt}.log"));
            let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
            let mut child = Command::new(&binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.path={}",
                    dir.path().join(format!("data-{attempt}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .arg("--log.level=debug")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
            match wait_ready(&mut child, port, &stderr_path) {
                Ok(()) => {
                    return Some(Self {
                        child,
                        port,
                        stderr_path,
                        _dir: dir,
                    });
                }
                // Another process took the port between the probe and the bind.
                Err(log) if log.contains("address already in use") && attempt < PORT_ATTEMPTS => {}
                Err(log) => panic!("Alertmanager did not start:\n{log}"),
            }
        }
        unreachable!("every attempt returns or panics")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the process has logged so far (debug level), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// `GET /api/v2/alerts`: every alert that is active, silenced, inhibited or unprocessed.
    /// Resolved alerts are never listed.
    pub fn alerts(&self) -> serde_json::Value {
        let (status, body) = http(
            self.port,
            "GET",
            "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true",
            None,
        )
        .expect("GET /api/v2/alerts");
        assert_eq!(status, 200, "GET /api/v2/alerts: {body}");
        serde_json::from_str(&body).expect("the alerts are JSON")
    }

    /// `GET /api/v2/silences`: every silence, active, pending and expired.
    pub fn silences(&self) -> serde_json::Value {
        let (status, body) =
            http(self.port, "GET", "/api/v2/silences", None).expect("GET /api/v2/silences");
        assert_eq!(status, 200, "GET /api/v2/silences: {body}");
        serde_json::from_str(&body).expect("the silences are JSON")
    }

    /// `POST /api/v2/alerts` with `alerts` (a JSON array), which must be accepted.
    pub fn post_alerts(&self, alerts: &serde_json::Value) {
        let (status, body) =
            http(self.port, "POST", "/api/v2/alerts", Some(alerts)).expect("POST /api/v2/alerts");
        assert_eq!(status, 200, "POST /api/v2/alerts: {body}");
    }

    /// Polls `alerts()` until `ready` holds, returning the alerts; panics with the last ones
    /// after `timeout`, naming `what` was awaited.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        ready: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let alerts = self.alerts();
            if ready(&alerts) {
                return alerts;
            }
            assert!(
                Instant::now() < deadline,
                "Alertmanager: no {what} after {timeout:?}; its alerts are:\n{alerts:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the child says it listens and `/-/ready` answers 200, or returns the child's
/// stderr if it exits or takes too long.
fn wait_ready(child: &mut Child, port: u16, stderr_path: &Path) -> Result<(), String> {
    let log = || std::fs::read_to_string(stderr_path).unwrap_or_default();
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            return Err(format!("it exited with {status}; stderr:\n{}", log()));
        }
        // Its own log line first: if another process holds the port, that one would answer.
        if log().contains("msg=\"Listening on\"")
            && matches!(http(port, "GET", "/-/ready", None), Ok((200, _)))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "not ready after {READY_TIMEOUT:?}; stderr:\n{}",
                log()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The binary on `PATH`, else where Debian puts it.
fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("prometheus-alertmanager"))
            .find(|path| path.is_file())
    });
    on_path.or_else(|| Some(PathBuf::from(DEBIAN_BINARY)).filter(|path| path.is_file()))
}

fn config_for(webhook_url: &str) -> String {
    // The URL goes in as a JSON string, which is also a valid YAML scalar whatever it holds.
    let url = serde_json::Value::from(webhook_url);
    format!(
        "route:
  receiver: webhook
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: {url}
        send_resolved: true
"
    )
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind loopback")
        .port()
}

/// One HTTP/1.0 request to loopback, so that the answer is never chunked and ends when the
/// server closes the connection. Returns the status and the body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    json: Option<&serde_json::Value>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = json.map(ToString::to_string).unwrap_or_default();
    let content_type = if json.is_some() {
        "Content-Type: application/json\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head:?}")))?;
    Ok((status, body.to_owned()))
}
