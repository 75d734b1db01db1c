//! `slack_app:` (the Slack app that receives button clicks) and `access:` (named principals),
//! as read and checked. A receiver's `allow:` and `buttons:` are read with the receiver
//! (`sink::config`), and checked against `access:` by the config loader.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

use crate::config::reader::Reader;
use crate::config::secret::Secret;
use crate::config::yaml::Path;
use crate::sink::web_api::DEFAULT_API_URL;

/// How Slack reaches dbalert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlackMode {
    /// dbalert opens a WebSocket to Slack (no inbound port): the default.
    #[default]
    Socket,
    /// Slack POSTs to `listen`; requests are verified with the signing secret.
    Http,
}

/// `slack_app:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlackApp {
    mode: Option<SlackMode>,
    app_token: Option<Secret>,
    bot_token: Option<Secret>,
    signing_secret: Option<Secret>,
    team_id: Option<String>,
    listen: Option<String>,
    api_url: Option<String>,
    connections: Option<u8>,
    command: Option<String>,
}

/// `slack_app:`, checked.
#[derive(Debug, Clone)]
pub struct SlackAppConfig {
    pub mode: SlackMode,
    /// `xapp-…`, Socket Mode only: opens the socket (`apps.connections.open`).
    pub app_token: Option<Secret>,
    /// `xoxb-…`: updates messages, looks up user groups, the start-up self-test.
    pub bot_token: Secret,
    /// HTTP mode only: verifies each request's signature.
    pub signing_secret: Option<Secret>,
    /// The workspace (`T…`) whose payloads are accepted; others are refused.
    pub team_id: String,
    /// HTTP mode only: where to listen.
    pub listen: Option<SocketAddr>,
    /// The Web API's base URL, ending in `/`.
    pub api_url: String,
    /// Socket Mode connections kept open at once (1 to 10).
    pub connections: u8,
    /// The slash command the app's manifest declares (`/dbalert` unless renamed).
    pub command: String,
}

/// The slash command unless `slack_app.command` renames it.
pub const DEFAULT_COMMAND: &str = "/dbalert";

/// One principal of `access:`: the Slack users, user groups and channels it stands for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// User IDs (`U…`, `W…`).
    #[serde(default)]
    pub users: Vec<String>,
    /// User group IDs (`S…`); their members, looked up with `usergroups.users.list`.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Channel IDs (`C…`, `G…`): anyone clicking in one of them.
    #[serde(default)]
    pub channels: Vec<String>,
}

/// `access:` by principal name.
pub type Access = BTreeMap<String, Principal>;

/// Reads `slack_app:`; `None` when absent or broken (the problems are recorded).
pub(crate) fn resolve_slack_app(reader: &mut Reader) -> Option<SlackAppConfig> {
    let path = Path::root().key("slack_app");
    let raw = reader.parse::<Option<RawSlackApp>>(&path)??;
    let unresolved = |key: &str| reader.unresolved_under(&path.key(key));
    let mode = raw.mode.unwrap_or_default();
    let mut problems = Vec::new();
    check_tokens(mode, &raw, unresolved, &mut problems);
    let listen = check_listen(mode, raw.listen.as_deref(), &mut problems);
    let team_id = raw.team_id.clone().unwrap_or_default();
    if !is_slack_id(&team_id, &['T', 'E']) {
        problems.push(("team_id", "must be the workspace's ID (`T…`, in the workspace's URL or `auth.test`); clicks from any other workspace are refused".to_owned()));
    }
    let api_url = raw
        .api_url
        .clone()
        .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    if let Err(problem) = crate::sink::http::check_url(&api_url) {
        problems.push((
            "api_url",
            format!("{problem}; leave it out for Slack ({DEFAULT_API_URL})"),
        ));
    }
    let connections = raw.connections.unwrap_or(1);
    if !(1..=10).contains(&connections) {
        problems.push((
            "connections",
            "must be from 1 to 10 (Slack's limit per app)".to_owned(),
        ));
    }
    let command = check_command(raw.command.clone(), &mut problems);
    let found = !problems.is_empty();
    for (key, message) in problems {
        reader.problem(&path.key(key), message);
    }
    (!found).then(|| SlackAppConfig {
        mode,
        app_token: raw.app_token,
        bot_token: raw.bot_token.unwrap_or_else(|| Secret::new("")),
        signing_secret: raw.signing_secret,
        team_id,
        listen,
        api_url: with_slash(api_url),
        connections,
        command,
    })
}

/// The tokens and keys that depend on `mode`: Socket Mode needs an app-level token and no
/// inbound port; `mode: http` needs the Signing Secret and no app-level token. A token left to
/// an unresolved `${…}` is not checked here (the reference's own error says what is missing).
fn check_tokens(
    mode: SlackMode,
    raw: &RawSlackApp,
    unresolved: impl Fn(&str) -> bool,
    problems: &mut Vec<(&'static str, String)>,
) {
    let token_problem =
        |key: &'static str, token: &Option<Secret>, prefix: &str, what: &str| match token {
            None => Some((key, format!("missing; {what}"))),
            Some(t) if !t.expose().starts_with(prefix) => Some((
                key,
                format!("not a token of this kind (they start with `{prefix}`); {what}"),
            )),
            Some(_) => None,
        };
    const BOT: &str =
        "copy the Bot User OAuth Token (`xoxb-…`) from the app's OAuth & Permissions page";
    const APP: &str = "copy an app-level token (`xapp-…`) with the `connections:write` scope from the app's Basic Information page";
    if !unresolved("bot_token") {
        problems.extend(token_problem("bot_token", &raw.bot_token, "xoxb-", BOT));
    }
    match mode {
        SlackMode::Socket => {
            if !unresolved("app_token") {
                problems.extend(token_problem("app_token", &raw.app_token, "xapp-", APP));
            }
            for key in ["signing_secret", "listen"] {
                let given = match key {
                    "listen" => raw.listen.is_some(),
                    _ => raw.signing_secret.is_some(),
                };
                if given {
                    problems.push((key, "goes with `mode: http`; Socket Mode needs no inbound port, so remove it or set `mode: http`".to_owned()));
                }
            }
        }
        SlackMode::Http => {
            if raw
                .signing_secret
                .as_ref()
                .is_none_or(|s| s.expose().is_empty())
            {
                problems.push(("signing_secret", "missing; `mode: http` verifies every request with the app's Signing Secret (Basic Information page)".to_owned()));
            }
            if raw.app_token.is_some() {
                problems.push((
                    "app_token",
                    "goes with Socket Mode; remove it, or leave `mode` out to use Socket Mode"
                        .to_owned(),
                ));
            }
        }
    }
}

/// `command`, or the default; a name Slack would refuse is a problem.
fn check_command(command: Option<String>, problems: &mut Vec<(&'static str, String)>) -> String {
    let command = command.unwrap_or_else(|| DEFAULT_COMMAND.to_owned());
    if !is_command(&command) {
        problems.push((
            "command",
            "must be a slash and up to 31 lower-case letters, digits, `-` or `_`, such as `/dbalert`"
                .to_owned(),
        ));
    }
    command
}

/// Whether `command` is a slash command name Slack accepts: `/`, then up to 31 lower-case
/// letters, digits, `-` or `_`.
fn is_command(command: &str) -> bool {
    command.strip_prefix('/').is_some_and(|name| {
        (1..=31).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    })
}

fn check_listen(
    mode: SlackMode,
    listen: Option<&str>,
    problems: &mut Vec<(&'static str, String)>,
) -> Option<SocketAddr> {
    match (mode, listen) {
        (SlackMode::Http, None) => {
            problems.push(("listen", "missing; `mode: http` needs an address to listen on, such as `127.0.0.1:3000` behind a TLS proxy".to_owned()));
            None
        }
        (SlackMode::Http, Some(text)) => match text.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                problems.push((
                    "listen",
                    format!("`{text}` is not an address; write IP:PORT, such as `127.0.0.1:3000`"),
                ));
                None
            }
        },
        (SlackMode::Socket, _) => None,
    }
}

fn with_slash(mut url: String) -> String {
    if !url.ends_with('/') {
        url.push('/');
    }
    url
}

/// Whether `id` looks like a Slack ID starting with one of `first`: an upper-case letter and
/// upper-case letters and digits.
pub fn is_slack_id(id: &str, first: &[char]) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| first.contains(&c))
        && id.len() >= 3
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Reads `access:`: principal names to their users, groups and channels, each ID checked.
pub(crate) fn resolve_access(reader: &mut Reader) -> Access {
    let section = Path::root().key("access");
    let mut access = Access::new();
    for name in reader.keys(&section) {
        let path = section.key(&name);
        let Some(principal) = reader.parse::<Principal>(&path) else {
            continue;
        };
        let lists = [
            (
                "users",
                &principal.users,
                &['U', 'W'][..],
                "a user ID (`U…`, from the user's profile: ⋮ > Copy member ID)",
            ),
            (
                "groups",
                &principal.groups,
                &['S'][..],
                "a user group ID (`S…`, from the group's page or `usergroups.list`)",
            ),
            (
                "channels",
                &principal.channels,
                &['C', 'G'][..],
                "a channel ID (`C…`, from the channel's details)",
            ),
        ];
        let mut ok = true;
        for (key, ids, first, what) in lists {
            for (i, id) in ids.iter().enumerate() {
                if !is_slack_id(id, first) {
                    reader.problem(&path.key(key).index(i), format!("`{id}` is not {what}"));
                    ok = false;
                }
            }
        }
        if principal == Principal::default() {
            reader.problem(
                &path,
                format!("principal `{name}` names nobody; give `users`, `groups` or `channels`"),
            );
            ok = false;
        }
        if ok {
            access.insert(name, principal);
        }
    }
    access
}
