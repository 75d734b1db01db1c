//! HTTP mode: `dbalert serve` listens on `slack_app.listen` (behind a TLS-terminating proxy)
//! for the requests Slack POSTs: interactions (a form with one `payload` field holding JSON),
//! slash commands (a form of fields), and the Events API's `url_verification`.
//!
//! Every request is verified with the signing secret before anything is read from it
//! (`signature.rs`: signature, five-minute window, replays); a refused one gets 401 and only a
//! log line saying why. An accepted one is answered 200 with an empty body at once, and handed
//! on: Slack wants the answer within 3 seconds, whatever the work takes.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::config::SlackAppConfig;
use super::incoming::{Incoming, Kind, stopped};
use super::signature::{self, Verifier};

/// The largest body read: a modal's state can reach tens of kB; nothing Slack sends is near
/// this.
const MAX_BODY: usize = 1024 * 1024;
/// How long a client may take to send a request's headers, or its body.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop waits for connections to finish the request in hand.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What every request's answer needs.
struct Context {
    verifier: Verifier,
    tx: mpsc::Sender<Incoming>,
    /// Numbers the requests, for their audit ids.
    count: AtomicU64,
}

/// Answers Slack's requests on `app.listen` until `stop` turns true.
pub async fn run(
    app: &SlackAppConfig,
    tx: mpsc::Sender<Incoming>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let addr = app
        .listen
        .expect("checked with the config: http mode has `listen`");
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} (`slack_app.listen`): {e}"))?;
    info!(%addr, "Listening for Slack's requests (HTTP mode).");
    let context = Arc::new(Context {
        verifier: Verifier::new(
            app.signing_secret
                .clone()
                .expect("checked with the config: http mode has `signing_secret`"),
        ),
        tx,
        count: AtomicU64::new(0),
    });
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors, say: wait rather than spin.
                        warn!(error = %e, "Cannot accept a connection.");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let context = context.clone();
                let service = service_fn(move |req| answer(req, context.clone()));
                let connection = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                connections.spawn(connection);
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Requests in hand get their answer; idle keep-alive connections are then cut.
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
    Ok(())
}

fn respond(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response
}

/// Answers one request.
async fn answer(
    req: Request<hyper::body::Incoming>,
    context: Arc<Context>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::POST {
        let mut response = respond(StatusCode::METHOD_NOT_ALLOWED, "");
        response.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("POST"),
        );
        return Ok(response);
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (timestamp, signature) = (
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
    );
    let is_json = header("content-type").is_some_and(|t| {
        t.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    });
    let body = match tokio::time::timeout(
        READ_TIMEOUT,
        Limited::new(req.into_body(), MAX_BODY).collect(),
    )
    .await
    {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(_)) => return Ok(respond(StatusCode::PAYLOAD_TOO_LARGE, "")),
        Err(_) => return Ok(respond(StatusCode::REQUEST_TIMEOUT, "")),
    };
    // Slack's probe of the certificate: it asks for nothing, and is answered before the
    // signature check because Slack does not sign it.
    if !is_json && form_field(&body, "ssl_check").as_deref() == Some("1") {
        return Ok(respond(StatusCode::OK, ""));
    }
    let now = jiff::Timestamp::now().as_second();
    if let Err(refused) =
        context
            .verifier
            .verify(timestamp.as_deref(), signature.as_deref(), &body, now)
    {
        warn!(reason = %refused, "Refused a request that is not Slack's (HTTP 401).");
        return Ok(respond(StatusCode::UNAUTHORIZED, ""));
    }
    let (kind, payload) = match read_request(&body, is_json) {
        Ok(Read::Challenge(challenge)) => {
            let answer = json!({ "challenge": challenge }).to_string();
            let mut response = respond(StatusCode::OK, &answer);
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            return Ok(response);
        }
        Ok(Read::Request(kind, payload)) => (kind, payload),
        Err(what) => {
            debug!(
                what,
                "Answered 400 to a signed request dbalert cannot read."
            );
            return Ok(respond(StatusCode::BAD_REQUEST, ""));
        }
    };
    let number = context.count.fetch_add(1, Ordering::Relaxed);
    let incoming = Incoming {
        kind,
        payload,
        id: format!("http-{now}-{number}"),
    };
    // Handing on is a queue push; the work happens after the answer is sent.
    let _ = context.tx.send(incoming).await;
    Ok(respond(StatusCode::OK, ""))
}

/// What a verified body holds.
enum Read {
    /// The Events API's `url_verification`: the challenge to echo.
    Challenge(String),
    Request(Kind, Value),
}

/// Decodes a verified body: JSON (Events API), a form with `payload` (interactions), or a form
/// of fields (slash commands).
fn read_request(body: &[u8], is_json: bool) -> Result<Read, &'static str> {
    if is_json {
        let event: Value =
            serde_json::from_slice(body).map_err(|_| "a JSON body that is not JSON")?;
        return Ok(match event["type"].as_str() {
            Some("url_verification") => {
                Read::Challenge(event["challenge"].as_str().unwrap_or_default().to_owned())
            }
            _ => Read::Request(Kind::Event, event),
        });
    }
    if let Some(payload) = signature::interaction_payload(body) {
        let payload = serde_json::from_str(&payload).map_err(|_| "a `payload` that is not JSON")?;
        return Ok(Read::Request(Kind::Interactive, payload));
    }
    let fields: Map<String, Value> = form_urlencoded::parse(body)
        .map(|(name, value)| (name.into_owned(), Value::String(value.into_owned())))
        .collect();
    match fields.contains_key("command") {
        true => Ok(Read::Request(Kind::SlashCommand, Value::Object(fields))),
        false => Err("a form that is neither an interaction nor a slash command"),
    }
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(field, _)| field == name)
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_read_by_kind() {
        let Ok(Read::Request(Kind::Interactive, payload)) =
            read_request(b"payload=%7B%22type%22%3A%22block_actions%22%7D", false)
        else {
            panic!("an interaction")
        };
        assert_eq!(payload["type"], "block_actions");
        let Ok(Read::Request(Kind::SlashCommand, fields)) =
            read_request(b"command=%2Fdbalert&text=ack+now&user_id=U1", false)
        else {
            panic!("a slash command")
        };
        assert_eq!(fields["text"], "ack now");
        assert_eq!(fields["user_id"], "U1");
        let Ok(Read::Challenge(challenge)) = read_request(
            br#"{"type":"url_verification","challenge":"3eZbrw1a"}"#,
            true,
        ) else {
            panic!("a challenge")
        };
        assert_eq!(challenge, "3eZbrw1a");
        assert!(read_request(b"payload=%7Bnot", false).is_err());
        assert!(read_request(b"token=x", false).is_err());
        assert!(read_request(b"{", true).is_err());
    }
}
