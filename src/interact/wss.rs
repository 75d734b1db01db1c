//! Opening Socket Mode's WebSocket: a TCP connection to the URL's host, or an HTTP `CONNECT`
//! tunnel through the proxy that `HTTPS_PROXY`/`ALL_PROXY` name (unless `NO_PROXY` exempts the
//! host), as the HTTP client does; then TLS, trusting the same roots as the HTTP client; then
//! the WebSocket handshake.
//!
//! The URL carries a one-time ticket, a credential: it is never logged, and errors name only
//! the host.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// An open socket to Slack.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The longest the TCP, proxy, TLS and WebSocket handshakes may take together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest proxy answer to `CONNECT` read.
const MAX_PROXY_ANSWER: usize = 8 * 1024;

/// Connects to the `wss://` (or, for a local test peer, `ws://`) URL Slack handed out.
pub async fn connect(url: &str) -> Result<Socket, String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| "the socket URL Slack answered is not a URL".to_owned())?;
    let secure = match uri.scheme_str() {
        Some("wss") => true,
        Some("ws") => false,
        _ => return Err("the socket URL Slack answered is not a ws:// or wss:// URL".to_owned()),
    };
    let host = uri
        .host()
        .ok_or("the socket URL Slack answered has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let opening = async {
        // The proxy is chosen as for an https:// (or http://) request to the same host.
        let as_http: hyper::Uri = format!(
            "{}://{}:{port}/",
            if secure { "https" } else { "http" },
            uri.host().unwrap_or_default()
        )
        .parse()
        .map_err(|_| format!("cannot reach {host}: not a valid host"))?;
        let tcp = match Matcher::from_env().intercept(&as_http) {
            Some(proxy) => tunnel(&proxy, &host, port).await?,
            None => TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?,
        };
        // Acks are small frames that must leave at once.
        let _ = tcp.set_nodelay(true);
        let tls = crate::config::tls::client_config(Vec::new())?;
        let (socket, _) = tokio_tungstenite::client_async_tls_with_config(
            url,
            tcp,
            None,
            Some(Connector::Rustls(Arc::new(tls))),
        )
        .await
        .map_err(|e| format!("the WebSocket handshake with {host} failed: {e}"))?;
        Ok(socket)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, opening)
        .await
        .map_err(|_| format!("connecting to {host} took more than {CONNECT_TIMEOUT:?}"))?
}

/// A TCP stream to `host:port` through the HTTP proxy `proxy` (`CONNECT`, with
/// `Proxy-Authorization` when the proxy URL carries a user).
async fn tunnel(proxy: &Intercept, host: &str, port: u16) -> Result<TcpStream, String> {
    let uri = proxy.uri();
    let proxy_host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if let Some(scheme) = uri.scheme_str().filter(|s| *s != "http") {
        return Err(format!(
            "the proxy {proxy_host} is a {scheme}:// URL; the Socket Mode connection goes through an http:// proxy (CONNECT; the tunnel is still TLS to Slack)"
        ));
    }
    let proxy_port = uri.port_u16().unwrap_or(80);
    let failed = |e: String| format!("cannot open a tunnel through the proxy {proxy_host}: {e}");
    let mut stream = TcpStream::connect((proxy_host, proxy_port))
        .await
        .map_err(|e| failed(e.to_string()))?;
    let target = match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    };
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = proxy.basic_auth().and_then(|v| v.to_str().ok()) {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| failed(e.to_string()))?;
    // The answer ends with an empty line; nothing follows it before the TLS handshake starts,
    // so reading in chunks cannot swallow the server's first bytes.
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        let mut chunk = [0u8; 512];
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| failed(e.to_string()))?;
        if n == 0 || answer.len() + n > MAX_PROXY_ANSWER {
            return Err(failed(
                "the proxy closed or sent no proper answer".to_owned(),
            ));
        }
        answer.extend_from_slice(&chunk[..n]);
    }
    let status_line = String::from_utf8_lossy(&answer);
    let status_line = status_line.lines().next().unwrap_or_default();
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(stream),
        _ => Err(failed(format!(
            "it answered `{}`",
            crate::sink::http::reason(status_line)
        ))),
    }
}
