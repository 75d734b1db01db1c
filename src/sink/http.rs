//! The one way dbalert builds an HTTP client: rustls with the system's roots plus an optional
//! private CA, `HTTPS_PROXY`/`NO_PROXY` or a per-receiver proxy, timeouts, no redirects.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::delivery::ReceiverName;
use super::{BuildError, SendError};
use crate::config::secret::Secret;

/// The longest dbalert waits to open a connection, whatever the request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait after a 429 that carries no usable `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(2);
/// The longest `Retry-After` taken as it is: a day is already past any deadline, and larger
/// values would overflow an `Instant`.
const MAX_RETRY_AFTER_SECS: u64 = 86_400;
/// How much of an error body is kept in a message.
const REASON_MAX_CHARS: usize = 120;

/// Network settings shared by every HTTP receiver kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportConfig {
    /// A PEM file with one or more CA certificates to trust besides the system's (for a private
    /// CA or a TLS-inspecting proxy).
    pub ca_file: Option<PathBuf>,
    /// A proxy URL for this receiver only, e.g. `http://user:pass@proxy:3128`. Without it,
    /// `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` from the environment apply.
    pub proxy: Option<Secret>,
}

/// Builds a client for receiver `receiver` with request timeout `timeout`.
pub fn client(
    receiver: &ReceiverName,
    transport: &TransportConfig,
    timeout: Duration,
) -> Result<reqwest::Client, BuildError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("dbalert/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        // A webhook that redirects is misconfigured; following it could send the payload
        // somewhere unexpected.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &transport.ca_file {
        let ca_error = |message: String| BuildError::CaFile {
            receiver: receiver.clone(),
            path: path.display().to_string(),
            message,
        };
        builder = builder.tls_certs_merge(read_ca_file(path).map_err(ca_error)?);
    }
    if let Some(proxy) = &transport.proxy {
        let proxy = reqwest::Proxy::all(proxy.expose())
            .map_err(|_| BuildError::Client {
                receiver: receiver.clone(),
                message: "proxy is not a valid URL; write it like http://proxy.example:3128"
                    .to_owned(),
            })?
            .no_proxy(reqwest::NoProxy::from_env());
        builder = builder.proxy(proxy);
    }
    builder.build().map_err(|e| BuildError::Client {
        receiver: receiver.clone(),
        message: format!("cannot set up HTTPS: {}", error_chain(&e.without_url())),
    })
}

/// Reads a PEM bundle of CA certificates; the error says what is wrong with the file.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = crate::config::file::read_file(path, crate::config::file::MAX_CA_FILE_BYTES)
        .map_err(|e| e.to_string())?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("not a PEM certificate bundle ({e})"))?;
    if certs.is_empty() {
        return Err("no certificate in the file".to_owned());
    }
    Ok(certs)
}

/// Checks that `url` is an absolute http(s) URL. The message never repeats the URL, which may
/// hold a credential.
pub fn check_url(url: &str) -> Result<(), &'static str> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "https" | "http") && parsed.has_host() => Ok(()),
        Ok(_) => Err("the URL must start with https://"),
        Err(_) => Err("not a URL"),
    }
}

/// An error and its causes on one line, as `outer: inner: root`.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// What an endpoint answered, read whole.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: String,
}

/// Sends `request` and reads the answer. A failure to get one is a transport error that
/// names `endpoint`, never the URL.
pub async fn exchange(
    request: reqwest::RequestBuilder,
    endpoint: &str,
) -> Result<Answer, SendError> {
    let transport = |e: reqwest::Error| SendError::Transport {
        endpoint: endpoint.to_owned(),
        message: describe_transport(e),
    };
    let response = request.send().await.map_err(|e| {
        if e.is_builder() {
            SendError::Request {
                endpoint: endpoint.to_owned(),
                message: error_chain(&e.without_url()),
            }
        } else {
            transport(e)
        }
    })?;
    let status = response.status().as_u16();
    let retry_after = retry_after(&response);
    let body = response.text().await.map_err(transport)?;
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// A response's `Retry-After` in seconds, clamped to a day.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|secs| Duration::from_secs(secs.min(MAX_RETRY_AFTER_SECS)))
}

/// A transport error without its URL.
fn describe_transport(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    // reqwest puts the full URL, secret path included, into its errors: strip it.
    format!("{kind} ({})", error_chain(&error.without_url()))
}

/// An error body as one short clean line: control characters dropped, cut to a length that
/// fits a log line. Bodies come from servers dbalert does not control.
pub fn reason(body: &str) -> String {
    body.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(REASON_MAX_CHARS)
        .collect()
}

/// What a plain HTTP endpoint's answer means (a generic webhook, Alertmanager): any 2xx is
/// accepted, 429 waits `Retry-After`, a 5xx is retried, any other status is permanent and
/// `hint` says what to check.
pub fn classify_status(
    endpoint: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
    hint: &'static str,
) -> Result<(), SendError> {
    let endpoint = endpoint.to_owned();
    let reason = reason(body);
    match status {
        200..=299 => Ok(()),
        429 => Err(SendError::RateLimited {
            endpoint,
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        }),
        500..=599 => Err(SendError::Unavailable {
            endpoint,
            status,
            reason,
        }),
        _ => Err(SendError::Rejected {
            endpoint,
            status,
            reason,
            hint,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_endpoints_are_classified_by_status() {
        let class = |status| match classify_status("h", status, None, "no", "hint") {
            Ok(()) => "ok",
            Err(SendError::RateLimited { retry_after, .. }) => {
                assert_eq!(retry_after, DEFAULT_RETRY_AFTER);
                "rate-limited"
            }
            Err(SendError::Unavailable { .. }) => "retry",
            Err(SendError::Rejected { .. }) => "permanent",
            Err(other) => panic!("unexpected {other}"),
        };
        for (status, want) in [
            (200, "ok"),
            (202, "ok"),
            (204, "ok"),
            (400, "permanent"),
            (401, "permanent"),
            (404, "permanent"),
            (429, "rate-limited"),
            (500, "retry"),
            (503, "retry"),
        ] {
            assert_eq!(class(status), want, "{status}");
        }
    }

    #[test]
    fn a_request_that_cannot_be_built_is_not_retried() {
        let client = client(
            &ReceiverName("r".into()),
            &TransportConfig::default(),
            Duration::from_secs(1),
        )
        .unwrap();
        // A header value with a line break: reqwest refuses it before connecting.
        let request = client
            .post("http://127.0.0.1:9/hook")
            .header("authorization", "Bearer a\nb");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let error = runtime
            .block_on(exchange(request, "127.0.0.1:9"))
            .err()
            .unwrap();
        assert!(matches!(error, SendError::Request { .. }), "{error:?}");
        assert!(!error.is_retryable());
        assert!(!error.to_string().contains("Bearer"), "{error}");
    }

    #[test]
    fn hostile_bodies_are_cut_and_cleaned() {
        let body = format!("bad\u{0}\n{}", "x".repeat(10_000));
        let reason = reason(&body);
        assert_eq!(reason.chars().count(), REASON_MAX_CHARS);
        assert!(!reason.contains('\0'));
    }
}
