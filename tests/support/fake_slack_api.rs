//! A local stand-in for Slack's Web API methods `chat.postMessage` and `chat.update`
//! (<https://docs.slack.dev/reference/methods/chat.postMessage>,
//! <https://docs.slack.dev/reference/methods/chat.update>), speaking their documented contract:
//! a bot token in `Authorization: Bearer …`, JSON bodies, HTTP 200 with `{"ok":false,"error":…}`
//! for every refusal, `429` with `Retry-After` and `{"ok":false,"error":"ratelimited"}` past one
//! message per second per channel (<https://docs.slack.dev/apis/web-api/rate-limits>), and
//! message timestamps (`ts`) that later calls can thread under or edit.
//!
//! It keeps each channel's messages as Slack would show them, so a test can assert on the end
//! result (a message edited on resolve, a reply in its thread) as well as on the calls. Replies
//! can be scripted per method, and every call is recorded. Dropping a `FakeSlackApi` that was
//! never called panics, so a test cannot pass by sending nothing.
//!
//! Once set up with [`FakeSlackApi::socket_mode`], it also serves `apps.connections.open`
//! (with the app-level token) and `auth.test`, for `dbalert serve`.
//!
//! Deliberate simplifications: only JSON bodies are understood (Slack also takes form-encoded
//! arguments, which dbalert never sends); other Web API methods answer `unknown_method`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

use super::server::{Answer, Arrived, Server};
use serde_json::{Value, json};

pub use super::fake_slack::LIMIT_SPACING;

/// The method names this fake serves.
pub const POST_MESSAGE: &str = "chat.postMessage";
pub const UPDATE: &str = "chat.update";
pub const USERGROUP_MEMBERS: &str = "usergroups.users.list";

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum ApiReply {
    /// HTTP 200 with `{"ok":false,"error":…}`, the way Slack refuses a call.
    Error(&'static str),
    /// `429` with `Retry-After: secs` and `{"ok":false,"error":"ratelimited"}`.
    RateLimited(u64),
    /// This raw status and body (`text/html`), e.g. a `503` error page from Slack's edge.
    Status(u16, &'static str),
    /// Close the connection without answering.
    Reset,
    /// Wait, then answer normally.
    Slow(Duration),
}

/// One call as it arrived, and what the fake answered.
#[derive(Debug, Clone)]
pub struct ApiCall {
    /// The Web API method from the path, e.g. `chat.postMessage`.
    pub method: String,
    /// The HTTP method, e.g. `POST`.
    pub http_method: String,
    /// The body parsed as JSON, or `Value::Null` when it is not JSON.
    pub body: Value,
    /// The raw `Authorization` header, empty when missing.
    pub authorization: String,
    pub content_type: String,
    pub user_agent: String,
    pub at: Instant,
    /// The status the fake answered (0 for a reset connection, or while still pending).
    pub status: u16,
    /// The JSON the fake answered, or `Value::Null` for a scripted raw or reset answer.
    pub response: Value,
}

impl ApiCall {
    /// The `error` of an `{"ok":false}` answer.
    pub fn error(&self) -> Option<&str> {
        self.response["error"].as_str()
    }

    /// Whether the answer was `{"ok":true,…}`.
    pub fn ok(&self) -> bool {
        self.response["ok"] == true
    }
}

/// A message as the channel shows it now.
#[derive(Debug, Clone, PartialEq)]
pub struct PostedMessage {
    pub ts: String,
    /// The parent's `ts` for a reply in a thread.
    pub thread_ts: Option<String>,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    pub attachments: Option<Value>,
    /// Whether `chat.update` changed it.
    pub edited: bool,
}

struct StoredMessage {
    message: PostedMessage,
    deleted: bool,
}

struct State {
    token: String,
    /// (id, name) pairs.
    channels: Vec<(String, String)>,
    scripts: HashMap<String, VecDeque<ApiReply>>,
    calls: Vec<ApiCall>,
    /// By channel id, in posting order.
    messages: HashMap<String, Vec<StoredMessage>>,
    /// By channel id: when the last message was accepted there.
    last_posted: HashMap<String, Instant>,
    /// The last `ts` issued, in microseconds since the epoch.
    last_ts: u64,
    /// User groups' members, by group id (`usergroups.users.list`).
    usergroups: HashMap<String, Vec<String>>,
    /// The paths and bodies posted to a `response_url`, in order.
    responses: Vec<(String, Value)>,
    /// `apps.connections.open` and `auth.test`, once `socket_mode` set them up.
    socket_mode: Option<SocketModeApi>,
}

/// What `apps.connections.open` and `auth.test` answer.
struct SocketModeApi {
    /// The app-level token (`xapp-…`) that may open sockets.
    app_token: String,
    /// The URL each `apps.connections.open` hands out.
    socket_url: String,
    /// The workspace the bot token belongs to.
    team_id: String,
}

pub struct FakeSlackApi {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl FakeSlackApi {
    /// Accepts only `Authorization: Bearer {token}`; knows these channels as (id, name), e.g.
    /// `[("C0ORDERS", "orders-alerts")]`.
    pub fn start(token: &str, channels: &[(&str, &str)]) -> Self {
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            channels: channels
                .iter()
                .map(|(id, name)| ((*id).to_owned(), (*name).to_owned()))
                .collect(),
            scripts: HashMap::new(),
            calls: Vec::new(),
            messages: HashMap::new(),
            last_posted: HashMap::new(),
            last_ts: 0,
            usergroups: HashMap::new(),
            responses: Vec::new(),
            socket_mode: None,
        }));
        let server_state = state.clone();
        let server = Server::start(None, move |req| handle(server_state.clone(), req));
        Self { server, state }
    }

    /// The base URL of the API, with a trailing slash: methods are POSTed to
    /// `api_url() + "chat.postMessage"`, as to `https://slack.com/api/`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/", self.server.addr)
    }

    /// Serves `apps.connections.open` (authorized by `app_token`, answering `socket_url`) and
    /// `auth.test` (authorized by the bot token, answering that it belongs to `team_id`)
    /// (<https://docs.slack.dev/reference/methods/apps.connections.open>,
    /// <https://docs.slack.dev/reference/methods/auth.test>).
    pub fn socket_mode(&self, app_token: &str, socket_url: &str, team_id: &str) {
        self.lock().socket_mode = Some(SocketModeApi {
            app_token: app_token.to_owned(),
            socket_url: socket_url.to_owned(),
            team_id: team_id.to_owned(),
        });
    }

    /// Answers the next calls to `method` (`chat.postMessage` or `chat.update`) with `replies`,
    /// in order; after them, normally.
    pub fn script(&self, method: &str, replies: impl IntoIterator<Item = ApiReply>) {
        self.lock()
            .scripts
            .entry(method.to_owned())
            .or_default()
            .extend(replies);
    }

    /// Every call as it arrived.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.lock().calls.clone()
    }

    /// The calls to one method.
    pub fn calls_to(&self, method: &str) -> Vec<ApiCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// The channel's messages as Slack would show them now (after updates, without deleted
    /// ones), top-level messages and replies together in posting order.
    pub fn messages(&self, channel_id: &str) -> Vec<PostedMessage> {
        self.lock()
            .messages
            .get(channel_id)
            .into_iter()
            .flatten()
            .filter(|m| !m.deleted)
            .map(|m| m.message.clone())
            .collect()
    }

    /// Deletes a message, as a user would: a later `chat.update` of it answers
    /// `message_not_found`, and a reply to it `thread_not_found`.
    pub fn delete(&self, channel_id: &str, ts: &str) {
        let mut state = self.lock();
        let message = state
            .messages
            .get_mut(channel_id)
            .and_then(|messages| messages.iter_mut().find(|m| m.message.ts == ts))
            .unwrap_or_else(|| panic!("no message {ts} in {channel_id} to delete"));
        message.deleted = true;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FakeSlackApi {
    fn drop(&mut self) {
        self.server.stop();
        let state = self.lock();
        let silent = state.calls.is_empty() && state.responses.is_empty();
        drop(state);
        if !std::thread::panicking() && silent {
            panic!("FakeSlackApi was never called: the test sent nothing");
        }
    }
}

fn respond(status: u16, content_type: &str, body: String, retry_after: Option<u64>) -> Answer {
    let mut response = Response::builder()
        .status(status)
        .header("content-type", content_type);
    if let Some(secs) = retry_after {
        response = response.header("retry-after", secs.to_string());
    }
    Ok(response
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response"))
}

fn refusal(error: &str) -> Value {
    json!({ "ok": false, "error": error })
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Answer {
    let arrived = Instant::now();
    let Arrived {
        method: http_method,
        path,
        content_type,
        user_agent,
        authorization,
        body: raw,
    } = Arrived::read(req).await;
    if let Some(answer) = response_url_post(&state, &path, &raw) {
        return answer;
    }
    let method = path.strip_prefix("/api/").unwrap_or(&path).to_owned();
    let body = serde_json::from_slice::<Value>(&raw).unwrap_or(Value::Null);

    // Recorded on arrival, so that a call whose answer is still pending is already visible.
    let (index, mut scripted) = {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        state.calls.push(ApiCall {
            method: method.clone(),
            http_method: http_method.clone(),
            body: body.clone(),
            authorization: authorization.clone(),
            content_type: content_type.clone(),
            user_agent,
            at: arrived,
            status: 0,
            response: Value::Null,
        });
        let scripted = state.scripts.get_mut(&method).and_then(VecDeque::pop_front);
        (state.calls.len() - 1, scripted)
    };
    if let Some(ApiReply::Slow(wait)) = scripted {
        tokio::time::sleep(wait).await;
        scripted = None;
    }

    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    let (status, response, answer) = match scripted {
        Some(ApiReply::Reset) => (
            0,
            Value::Null,
            Err(std::io::Error::other("scripted connection reset")),
        ),
        Some(ApiReply::Status(status, raw)) => (
            status,
            Value::Null,
            respond(status, "text/html", raw.to_owned(), None),
        ),
        Some(ApiReply::RateLimited(secs)) => rate_limited(secs),
        Some(ApiReply::Error(error)) => ok_json(refusal(error)),
        Some(ApiReply::Slow(_)) | None => {
            match state.call(
                &http_method,
                &method,
                &authorization,
                &content_type,
                &raw,
                arrived,
            ) {
                Outcome::Answer(json) => ok_json(json),
                Outcome::RateLimited => rate_limited(1),
            }
        }
    };
    state.calls[index].status = status;
    state.calls[index].response = response;
    answer
}

fn ok_json(json: Value) -> (u16, Value, Answer) {
    let answer = respond(
        200,
        "application/json; charset=utf-8",
        json.to_string(),
        None,
    );
    (200, json, answer)
}

fn rate_limited(secs: u64) -> (u16, Value, Answer) {
    let json = refusal("ratelimited");
    let answer = respond(
        429,
        "application/json; charset=utf-8",
        json.to_string(),
        Some(secs),
    );
    (429, json, answer)
}

enum Outcome {
    /// HTTP 200 with this JSON, `ok` or not.
    Answer(Value),
    /// 429, `Retry-After: 1`.
    RateLimited,
}

impl State {
    /// What Slack does with one unscripted call.
    fn call(
        &mut self,
        http_method: &str,
        method: &str,
        authorization: &str,
        content_type: &str,
        raw: &[u8],
        arrived: Instant,
    ) -> Outcome {
        if method == USERGROUP_MEMBERS {
            return Outcome::Answer(self.usergroup_members(http_method, authorization, raw));
        }
        if let Some(answer) = self.socket_mode_call(method, authorization) {
            return Outcome::Answer(answer);
        }
        match self.check_call(http_method, method, authorization, content_type, raw) {
            Err(error) => Outcome::Answer(refusal(error)),
            Ok(args) if method == POST_MESSAGE => self.post_message(&args, arrived),
            Ok(args) => Outcome::Answer(self.update(&args).unwrap_or_else(refusal)),
        }
    }

    /// `apps.connections.open` and `auth.test`, when set up; `None` for any other method.
    /// Like Slack, they take their token from the header, whatever the body.
    fn socket_mode_call(&self, method: &str, authorization: &str) -> Option<Value> {
        let api = self.socket_mode.as_ref()?;
        let token = authorization.strip_prefix("Bearer ").unwrap_or_default();
        Some(match method {
            "apps.connections.open" if token.is_empty() => refusal("not_authed"),
            "apps.connections.open" if token == self.token => refusal("not_allowed_token_type"),
            "apps.connections.open" if token != api.app_token => refusal("invalid_auth"),
            "apps.connections.open" => json!({ "ok": true, "url": api.socket_url }),
            "auth.test" if token.is_empty() => refusal("not_authed"),
            "auth.test" if token != self.token => refusal("invalid_auth"),
            "auth.test" => json!({
                "ok": true,
                "url": "https://fake.slack.test/",
                "team": "Fake Workspace",
                "user": "dbalert",
                "team_id": api.team_id,
                "user_id": "U0FAKEBOT",
                "bot_id": "B0FAKEBOT",
                "is_enterprise_install": false,
            }),
            _ => return None,
        })
    }

    /// The checks every method shares: the method, the request's shape, the token, then the
    /// JSON (Slack does not document its order; this one names the most basic mistake first).
    fn check_call(
        &self,
        http_method: &str,
        method: &str,
        authorization: &str,
        content_type: &str,
        raw: &[u8],
    ) -> Result<Value, &'static str> {
        // Slack answers unknown methods with HTTP 200 like every other refusal ("Slack's Web
        // API doesn't use meaningful status codes besides 429 and 200", node-slack-sdk).
        if method != POST_MESSAGE && method != UPDATE {
            return Err("unknown_method");
        }
        // Stricter than Slack, which also takes GET with query arguments: dbalert must POST.
        if http_method != "POST" {
            return Err("invalid_request");
        }
        // Slack would read a form-encoded body instead; dbalert sends JSON, so anything else
        // means a missing or wrong header.
        if !content_type
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
        {
            return Err("invalid_post_type");
        }
        // JSON bodies cannot carry the token, so the header is the only place it can be.
        let Some(token) = authorization.strip_prefix("Bearer ") else {
            return Err("not_authed");
        };
        if token.trim().is_empty() {
            return Err("not_authed");
        }
        if token != self.token {
            return Err("invalid_auth");
        }
        match serde_json::from_slice::<Value>(raw) {
            Ok(args) if args.is_object() => Ok(args),
            _ => Err("invalid_json"),
        }
    }

    /// The channel id for an id, `#name` or `name`.
    fn channel_id(&self, channel: &str, names_allowed: bool) -> Option<String> {
        self.channels
            .iter()
            .find(|(id, name)| {
                id == channel
                    || (names_allowed && channel.strip_prefix('#').unwrap_or(channel) == name)
            })
            .map(|(id, _)| id.clone())
    }

    fn post_message(&mut self, args: &Value, arrived: Instant) -> Outcome {
        let Some(channel) = args["channel"]
            .as_str()
            .and_then(|c| self.channel_id(c, true))
        else {
            return Outcome::Answer(refusal("channel_not_found"));
        };
        // Per channel, for the messages Slack accepted, as its "1 per second" allowance.
        if self
            .last_posted
            .get(&channel)
            .is_some_and(|last| arrived.duration_since(*last) < LIMIT_SPACING)
        {
            return Outcome::RateLimited;
        }
        let text = args["text"].as_str().map(str::to_owned);
        let blocks = non_null(&args["blocks"]);
        let attachments = non_null(&args["attachments"]);
        if text.as_deref().is_none_or(|t| t.trim().is_empty())
            && blocks.is_none()
            && attachments.is_none()
        {
            return Outcome::Answer(refusal("no_text"));
        }
        let thread_ts = match &args["thread_ts"] {
            Value::Null => None,
            // A deleted parent counts as missing. Slack keeps a "This message was deleted"
            // placeholder when the parent already has replies, but a sender that threads under
            // a message someone deleted should see that it is gone, and this answer is the one
            // that lets a test check that it copes.
            thread_ts => {
                let parent = thread_ts.as_str().unwrap_or_default();
                let exists = self.messages.get(&channel).is_some_and(|messages| {
                    messages.iter().any(|m| {
                        m.message.ts == parent && m.message.thread_ts.is_none() && !m.deleted
                    })
                });
                if !exists {
                    return Outcome::Answer(refusal("thread_not_found"));
                }
                Some(parent.to_owned())
            }
        };
        let ts = self.next_ts();
        let message = PostedMessage {
            ts: ts.clone(),
            thread_ts,
            text,
            blocks,
            attachments,
            edited: false,
        };
        let shown = message_json(&message);
        self.messages
            .entry(channel.clone())
            .or_default()
            .push(StoredMessage {
                message,
                deleted: false,
            });
        self.last_posted.insert(channel.clone(), arrived);
        Outcome::Answer(json!({ "ok": true, "channel": channel, "ts": ts, "message": shown }))
    }

    fn update(&mut self, args: &Value) -> Result<Value, &'static str> {
        // chat.update takes only an id: "For direct messages, ensure that this value is a DM ID".
        let channel = args["channel"]
            .as_str()
            .and_then(|c| self.channel_id(c, false))
            .ok_or("channel_not_found")?;
        let ts = args["ts"].as_str().unwrap_or_default();
        let stored = self
            .messages
            .get_mut(&channel)
            .and_then(|messages| messages.iter_mut().find(|m| m.message.ts == ts))
            .filter(|m| !m.deleted)
            .ok_or("message_not_found")?;
        let text = args["text"].as_str().map(str::to_owned);
        let blocks = non_null(&args["blocks"]);
        let attachments = non_null(&args["attachments"]);
        if text.as_deref().is_none_or(|t| t.trim().is_empty())
            && blocks.is_none()
            && attachments.is_none()
        {
            return Err("no_text");
        }
        // A field that is left out keeps its old value; an empty array clears blocks or
        // attachments ("If you don't include this field, the message's previous blocks will be
        // retained. To remove previous blocks, include an empty array").
        let message = &mut stored.message;
        if text.is_some() {
            message.text = text;
        }
        if let Some(blocks) = blocks {
            message.blocks = non_empty(blocks);
        }
        if let Some(attachments) = attachments {
            message.attachments = non_empty(attachments);
        }
        message.edited = true;
        let shown = message_json(message);
        Ok(json!({
            "ok": true,
            "channel": channel,
            "ts": message.ts,
            "text": message.text.clone().unwrap_or_default(),
            "message": shown,
        }))
    }

    /// A fresh `ts`: the current time in microseconds as `seconds.micros`, like Slack's, and
    /// strictly increasing so that two messages never share one.
    fn next_ts(&mut self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_micros();
        let micros = u64::try_from(now)
            .expect("microseconds fit in u64")
            .max(self.last_ts + 1);
        self.last_ts = micros;
        format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
    }
}

impl FakeSlackApi {
    /// Makes `group` (an `S…` id) a user group with these members, for `usergroups.users.list`.
    pub fn set_usergroup(&self, group: &str, members: &[&str]) {
        self.lock().usergroups.insert(
            group.to_owned(),
            members.iter().map(|m| (*m).to_owned()).collect(),
        );
    }

    /// A `response_url` as Slack puts in an interaction payload, served here: what is posted to
    /// it is recorded ([`Self::responses`]).
    pub fn response_url(&self) -> String {
        format!("http://{}/actions/T0TEAM/1/response", self.server.addr)
    }

    /// The JSON bodies posted to a `response_url`, in order.
    pub fn responses(&self) -> Vec<Value> {
        self.lock()
            .responses
            .iter()
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// Another `response_url` like [`Self::response_url`], one per `hook`, so that a test
    /// running several commands can tell their replies apart ([`Self::responses_to`]).
    pub fn response_url_for(&self, hook: &str) -> String {
        format!("http://{}/actions/T0TEAM/1/{hook}", self.server.addr)
    }

    /// The JSON bodies posted to the `response_url` of `hook`, in order.
    pub fn responses_to(&self, hook: &str) -> Vec<Value> {
        let path = format!("/actions/T0TEAM/1/{hook}");
        self.lock()
            .responses
            .iter()
            .filter(|(p, _)| *p == path)
            .map(|(_, body)| body.clone())
            .collect()
    }
}

/// A post to a `response_url` (`/actions/…`): recorded, answered `200 ok` as Slack does.
fn response_url_post(state: &Arc<Mutex<State>>, path: &str, raw: &[u8]) -> Option<Answer> {
    if !path.starts_with("/actions/") {
        return None;
    }
    let body = serde_json::from_slice::<Value>(raw).unwrap_or(Value::Null);
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    state.responses.push((path.to_owned(), body));
    Some(respond(200, "text/html", "ok".to_owned(), None))
}

impl State {
    /// `usergroups.users.list` (<https://docs.slack.dev/reference/methods/usergroups.users.list>):
    /// a bot token, the `usergroup` argument (form-encoded, as the method takes it, or JSON),
    /// `{"ok":true,"users":[…]}`, and `no_such_subteam` for a group it does not know.
    fn usergroup_members(&self, http_method: &str, authorization: &str, raw: &[u8]) -> Value {
        if http_method != "POST" {
            return refusal("invalid_request");
        }
        match authorization.strip_prefix("Bearer ") {
            None => return refusal("not_authed"),
            Some(token) if token != self.token => return refusal("invalid_auth"),
            Some(_) => {}
        }
        let group = serde_json::from_slice::<Value>(raw)
            .ok()
            .and_then(|v| v["usergroup"].as_str().map(str::to_owned))
            .or_else(|| {
                form_urlencoded::parse(raw)
                    .find(|(k, _)| k == "usergroup")
                    .map(|(_, v)| v.into_owned())
            });
        let Some(group) = group else {
            return refusal("invalid_arguments");
        };
        match self.usergroups.get(&group) {
            Some(users) => json!({ "ok": true, "users": users }),
            None => refusal("no_such_subteam"),
        }
    }
}

fn non_null(value: &Value) -> Option<Value> {
    (!value.is_null()).then(|| value.clone())
}

fn non_empty(value: Value) -> Option<Value> {
    (value.as_array().is_none_or(|a| !a.is_empty())).then_some(value)
}

/// The `message` object of a successful answer.
fn message_json(message: &PostedMessage) -> Value {
    let mut shown = json!({
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0FAKEBOT",
        "text": message.text.clone().unwrap_or_default(),
        "ts": message.ts,
    });
    if let Some(thread_ts) = &message.thread_ts {
        shown["thread_ts"] = json!(thread_ts);
    }
    if let Some(blocks) = &message.blocks {
        shown["blocks"] = blocks.clone();
    }
    if let Some(attachments) = &message.attachments {
        shown["attachments"] = attachments.clone();
    }
    if message.edited {
        shown["edited"] = json!({ "user": "B0FAKEBOT" });
    }
    shown
}
