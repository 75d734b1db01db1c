//! A local stand-in for Slack's Socket Mode endpoint
//! (<https://docs.slack.dev/apis/events-api/using-socket-mode>): a WebSocket server on a
//! loopback port that greets each connection with `hello` (or a scripted frame), lets a test
//! send envelopes, `disconnect` frames, binary and non-JSON frames to any connection, records
//! every frame the client sends back (acks are `{"envelope_id": …}`), and can stop answering
//! on a connection, as a half-open socket does, while keeping it open.
//!
//! Its URL is what the fake Web API's `apps.connections.open` hands out.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// How long `wait_*` waits before failing the test: far above anything on loopback.
const PATIENCE: Duration = Duration::from_secs(30);

/// What a test asks one connection to do.
enum Command {
    Send(Message),
    /// Stop reading and writing, but keep the socket open.
    Freeze,
}

/// One connection, as the peer saw it.
struct Connection {
    commands: mpsc::UnboundedSender<Command>,
    /// The text frames the client sent, in order.
    texts: Vec<String>,
    /// Whether the client closed it (or it broke).
    closed: bool,
}

struct State {
    /// The frames each new connection gets first.
    greeting: Vec<String>,
    connections: Vec<Connection>,
}

pub struct SocketPeer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// `hello` as Slack sends it.
pub fn hello() -> String {
    json!({
        "type": "hello",
        "num_connections": 1,
        "debug_info": { "host": "applink-fake", "approximate_connection_time": 18060 },
        "connection_info": { "app_id": "A0FAKEAPP" },
    })
    .to_string()
}

/// A `disconnect` frame with `reason`.
pub fn disconnect(reason: &str) -> String {
    json!({ "type": "disconnect", "reason": reason, "debug_info": { "host": "wss-fake" } })
        .to_string()
}

/// An `interactive` envelope carrying a `block_actions` click by `user` in `channel`.
pub fn click_envelope(envelope_id: &str, user: &str, channel: &str) -> String {
    json!({
        "envelope_id": envelope_id,
        "type": "interactive",
        "accepts_response_payload": false,
        "payload": {
            "type": "block_actions",
            "team": { "id": "T0TEAM", "domain": "fake" },
            "user": { "id": user, "username": "someone", "team_id": "T0TEAM" },
            "api_app_id": "A0FAKEAPP",
            "container": { "type": "message", "message_ts": "1.000001", "channel_id": channel },
            "channel": { "id": channel, "name": "alerts" },
            "trigger_id": "1.2.abc",
            "response_url": "https://hooks.slack.test/actions/T0TEAM/1/abc",
            "actions": [{
                "action_id": "dbalert.ack",
                "block_id": "b1",
                "value": "1",
                "type": "button",
                "action_ts": "1.5",
            }],
        },
    })
    .to_string()
}

impl SocketPeer {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            greeting: vec![hello()],
            connections: Vec::new(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let (shutdown, mut stop) = tokio::sync::oneshot::channel::<()>();
        let server_state = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("socket peer runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    tokio::select! {
                        _ = &mut stop => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            tokio::spawn(serve_connection(stream, server_state.clone()));
                        }
                    }
                }
            });
        });
        Self {
            addr,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The URL `apps.connections.open` hands out, with a ticket as Slack's has.
    pub fn url(&self) -> String {
        format!("ws://{}/link/?ticket=fake-ticket-1234", self.addr)
    }

    /// Greets each new connection with `frames` instead of `hello`.
    pub fn greet_with(&self, frames: Vec<String>) {
        self.lock().greeting = frames;
    }

    /// Sends a text frame on connection `index` (0 is the first accepted).
    pub fn send(&self, index: usize, text: &str) {
        self.command(index, Command::Send(Message::text(text.to_owned())));
    }

    /// Sends any frame on connection `index`.
    pub fn send_frame(&self, index: usize, message: Message) {
        self.command(index, Command::Send(message));
    }

    /// Makes connection `index` go silent: no frame read or written, not even a pong, and the
    /// socket left open.
    pub fn freeze(&self, index: usize) {
        self.command(index, Command::Freeze);
    }

    fn command(&self, index: usize, command: Command) {
        let state = self.lock();
        let connection = state
            .connections
            .get(index)
            .unwrap_or_else(|| panic!("no connection {index}"));
        connection
            .commands
            .send(command)
            .unwrap_or_else(|_| panic!("connection {index} is gone"));
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.lock().connections.len()
    }

    /// The text frames the client sent on connection `index`.
    pub fn texts(&self, index: usize) -> Vec<String> {
        self.lock().connections[index].texts.clone()
    }

    /// The envelope ids the client acknowledged on connection `index`, in order.
    pub fn acks(&self, index: usize) -> Vec<String> {
        self.texts(index)
            .iter()
            .filter_map(|t| serde_json::from_str::<Value>(t).ok())
            .filter_map(|v| v["envelope_id"].as_str().map(str::to_owned))
            .collect()
    }

    /// Whether the client closed connection `index`.
    pub fn closed(&self, index: usize) -> bool {
        self.lock().connections[index].closed
    }

    /// Waits until `n` connections were accepted.
    pub fn wait_connections(&self, n: usize) {
        self.wait_until(&format!("{n} connections"), || self.connections() >= n);
    }

    /// Waits until the client acknowledged `envelope_id` on connection `index`.
    pub fn wait_ack(&self, index: usize, envelope_id: &str) {
        self.wait_until(&format!("an ack of {envelope_id} on {index}"), || {
            self.acks(index).iter().any(|id| id == envelope_id)
        });
    }

    /// Waits until the client closed connection `index`.
    pub fn wait_closed(&self, index: usize) {
        self.wait_until(&format!("connection {index} closed"), || self.closed(index));
    }

    fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for SocketPeer {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut frames) = socket.split();
    let (commands, mut inbox) = mpsc::unbounded_channel();
    let (index, greeting) = {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        state.connections.push(Connection {
            commands,
            texts: Vec::new(),
            closed: false,
        });
        (state.connections.len() - 1, state.greeting.clone())
    };
    let record = |update: &dyn Fn(&mut Connection)| {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        update(&mut state.connections[index]);
    };
    for frame in greeting {
        if sink.send(Message::text(frame)).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            command = inbox.recv() => match command {
                Some(Command::Send(message)) => {
                    if sink.send(message).await.is_err() {
                        break;
                    }
                }
                Some(Command::Freeze) => {
                    // Hold the socket open, answering nothing, until the client gives up.
                    let _keep = (sink, frames);
                    std::future::pending::<()>().await;
                    unreachable!();
                }
                None => break,
            },
            frame = frames.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let text = text.as_str().to_owned();
                    record(&|c| c.texts.push(text.clone()));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    record(&|c| c.closed = true);
}
