//! A local stand-in for Slack's Incoming Webhooks that speaks their documented contract
//! (<https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks>): `200` with the
//! body `ok` on success, bare-string error bodies (`invalid_payload`, `no_text`,
//! `invalid_blocks`, `no_service`, …) with their status codes, `429` with `Retry-After`, and a
//! limit of one message per second per webhook URL, enforced like Slack's rate limiter.
//!
//! Replies can be scripted per URL path (errors, a reset connection, a slow answer), and every
//! request is recorded so tests can assert on what arrived and when. Dropping a `FakeSlack`
//! that was never called panics, so a test cannot pass by sending nothing.
//!
//! Besides Slack's webhook URLs it serves plain ones (`plain_webhook`) that take any POST, for
//! peers that are not Slack clients, such as Alertmanager's webhook notifier.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

use super::server::{Answer, Arrived, Server};

/// The spacing below which a second message to one URL is answered with 429, as Slack does
/// past its "1 per second" allowance; a little under a second so that scheduling jitter on a
/// busy machine does not count against a client that paces correctly.
pub const LIMIT_SPACING: Duration = Duration::from_millis(950);

/// The path prefix of `plain_webhook` URLs.
const PLAIN_PREFIX: &str = "/hooks/";

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status and bare body.
    Status(u16, &'static str),
    /// `429` with `Retry-After: secs`.
    RateLimited(u64),
    /// Close the connection without answering.
    Reset,
    /// Wait, then answer normally.
    Slow(Duration),
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub at: Instant,
    pub content_type: String,
    pub user_agent: String,
    /// The `Authorization` header, as a receiver's `headers:` set it.
    pub authorization: String,
    pub body: Vec<u8>,
    /// The status the fake answered (0 for a reset connection).
    pub status: u16,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, VecDeque<Reply>>,
    requests: Vec<Recorded>,
    last_accepted: HashMap<String, Instant>,
}

pub struct FakeSlack {
    server: Server,
    state: Arc<Mutex<State>>,
}

/// A private CA and a server certificate for `localhost` signed by it, made fresh per test.
pub struct TestCa {
    pub ca_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
}

impl TestCa {
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "dbalert test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
            .expect("self-signed CA");
        let server_key = KeyPair::generate().expect("server key");
        let server = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("server params")
            .signed_by(&server_key, &ca)
            .expect("server certificate");
        Self {
            ca_pem: ca.pem(),
            server_cert_pem: server.pem(),
            server_key_pem: server_key.serialize_pem(),
        }
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let certs = vec![
            CertificateDer::from_pem_slice(self.server_cert_pem.as_bytes()).expect("cert PEM"),
        ];
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).expect("key PEM");
        let config = tokio_rustls::rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server TLS config");
        tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
    }
}

impl FakeSlack {
    pub fn start() -> Self {
        Self::serve(None)
    }

    /// The same server behind TLS with `ca`'s certificate for `localhost`.
    pub fn start_tls(ca: &TestCa) -> Self {
        Self::serve(Some(ca.acceptor()))
    }

    fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let server_state = state.clone();
        let server = Server::start(tls, move |req| handle(server_state.clone(), req));
        Self { server, state }
    }

    /// A webhook URL on this server; `name` becomes the secret last path segment.
    pub fn webhook(&self, name: &str) -> String {
        format!("http://{}/services/T0FAKE/B0FAKE/{name}", self.server.addr)
    }

    /// The same over TLS, by the name the test certificate carries.
    pub fn webhook_tls(&self, name: &str) -> String {
        format!(
            "https://localhost:{}/services/T0FAKE/B0FAKE/{name}",
            self.server.addr.port()
        )
    }

    /// A generic webhook URL on this server: every POST to it is recorded and answered `200 ok`,
    /// without Slack's payload checks or rate limit (scripted replies still apply). For peers
    /// that post their own JSON, such as Alertmanager's `webhook_configs`.
    pub fn plain_webhook(&self, name: &str) -> String {
        format!("http://{}{PLAIN_PREFIX}{name}", self.server.addr)
    }

    /// The server's own URL, for use as an HTTP proxy.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Answers the next requests to `webhook` with `replies`, in order; after them, normally.
    pub fn script(&self, webhook: &str, replies: impl IntoIterator<Item = Reply>) {
        let path = path_of(webhook);
        self.lock().scripts.entry(path).or_default().extend(replies);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    pub fn requests_to(&self, webhook: &str) -> Vec<Recorded> {
        let path = path_of(webhook);
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.server.stop();
        if !std::thread::panicking() && self.lock().requests.is_empty() {
            panic!("FakeSlack was never called: the test sent nothing");
        }
    }
}

fn path_of(webhook: &str) -> String {
    let after_scheme = webhook.split_once("://").map_or(webhook, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or("/".to_owned(), |i| after_scheme[i..].to_owned())
}

fn reply(status: u16, body: &str, retry_after: Option<u64>) -> Answer {
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "text/html");
    if let Some(secs) = retry_after {
        response = response.header("retry-after", secs.to_string());
    }
    Ok(response
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("a valid response"))
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Answer {
    let arrived = Instant::now();
    let Arrived {
        method,
        path,
        content_type,
        user_agent,
        authorization,
        body,
    } = Arrived::read(req).await;

    // Recorded on arrival, so that a request whose answer is still pending (a slow reply the
    // client has given up on) is already visible to the test.
    let index = {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        state.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            at: arrived,
            content_type: content_type.clone(),
            user_agent,
            authorization,
            body: body.clone(),
            status: 0,
        });
        state.requests.len() - 1
    };
    let mut scripted = state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .scripts
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    if let Some(Reply::Slow(wait)) = scripted {
        tokio::time::sleep(wait).await;
        scripted = None;
    }

    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    let limited = state
        .last_accepted
        .get(&path)
        .is_some_and(|last| arrived.duration_since(*last) < LIMIT_SPACING);
    let (status, answer) = match scripted {
        Some(Reply::Reset) => (0, Err(std::io::Error::other("scripted connection reset"))),
        Some(Reply::RateLimited(secs)) => (429, reply(429, "", Some(secs))),
        Some(Reply::Status(status, body)) => (status, reply(status, body, None)),
        // A ping (heartbeat) rather than a message: nothing to check or limit.
        Some(Reply::Slow(_)) | None if method == "GET" => (200, reply(200, "OK", None)),
        Some(Reply::Slow(_)) | None if path.starts_with(PLAIN_PREFIX) => {
            (200, reply(200, "ok", None))
        }
        Some(Reply::Slow(_)) | None if limited => (429, reply(429, "", Some(1))),
        Some(Reply::Slow(_)) | None => match check_payload(&content_type, &body) {
            Ok(()) => (200, reply(200, "ok", None)),
            Err(error) => (400, reply(400, error, None)),
        },
    };
    if status == 200 {
        state.last_accepted.insert(path, arrived);
    }
    state.requests[index].status = status;
    answer
}

/// What Slack checks before accepting a message.
fn check_payload(content_type: &str, body: &[u8]) -> Result<(), &'static str> {
    if !content_type.starts_with("application/json") {
        return Err("invalid_payload");
    }
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Err("invalid_payload");
    };
    let has_text = payload["text"]
        .as_str()
        .is_some_and(|t| !t.trim().is_empty());
    if !has_text && payload.get("blocks").is_none() && payload.get("attachments").is_none() {
        return Err("no_text");
    }
    dbalert::render::blockkit::validate(&payload).map_err(|_| "invalid_blocks")
}
