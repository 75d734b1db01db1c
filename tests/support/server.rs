//! The HTTP server under the test peers: hyper 1 on a loopback port, in a thread of its own
//! with its own runtime (so it answers whatever the test's thread is doing), optionally
//! behind TLS, until it is stopped.

use std::future::Future;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What a peer answers one request with; an error closes the connection without an answer.
pub type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

pub struct Server {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves every request with `handle`, behind `tls` when given.
    pub fn start<F, Fut>(tls: Option<tokio_rustls::TlsAcceptor>, handle: F) -> Self
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Answer> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let (shutdown, mut stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("test server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                loop {
                    tokio::select! {
                        _ = &mut stop => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let handle = handle.clone();
                            let tls = tls.clone();
                            tokio::spawn(async move {
                                let service = service_fn(handle);
                                let http = http1::Builder::new();
                                let _ = match tls {
                                    // A failed handshake (an untrusted certificate) is recorded
                                    // by the client's error; the server just drops it.
                                    Some(tls) => match tls.accept(stream).await {
                                        Ok(stream) => http.serve_connection(TokioIo::new(stream), service).await,
                                        Err(_) => Ok(()),
                                    },
                                    None => http.serve_connection(TokioIo::new(stream), service).await,
                                };
                            });
                        }
                    }
                }
            });
        });
        Self {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// Stops accepting and waits for the server's thread.
    pub fn stop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A request read whole: what the peers record and check.
pub struct Arrived {
    pub method: String,
    pub path: String,
    pub content_type: String,
    pub user_agent: String,
    pub authorization: String,
    pub body: Vec<u8>,
}

impl Arrived {
    pub async fn read(req: Request<Incoming>) -> Self {
        use http_body_util::BodyExt;
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (content_type, user_agent, authorization) = (
            header("content-type"),
            header("user-agent"),
            header("authorization"),
        );
        let (method, path) = (
            req.method().as_str().to_owned(),
            req.uri().path().to_owned(),
        );
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default();
        Self {
            method,
            path,
            content_type,
            user_agent,
            authorization,
            body,
        }
    }
}
