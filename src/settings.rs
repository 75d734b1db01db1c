//! The settings: the config file, where it is found, how each section is resolved through its
//! domain (sources, receivers, routes, checks, actions), and every error it can hold.
//!
//! Reading happens in two steps: the YAML is parsed into a tree that keeps positions
//! ([`crate::config::yaml`]), then each section is turned into checked runtime types by the
//! domain that owns it, with every problem collected and reported at once with its file, line,
//! column and key path. This is the one file above the domains that knows them all; the
//! toolbox it and they use is [`crate::config`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path as FsPath, PathBuf};

use serde::Deserialize;

use crate::check::template::Templates;
use crate::check::{self, Check};
use crate::config::file::{MAX_CONFIG_BYTES, read_file};
use crate::config::reader::{EnvLookup, Reader, References};
use crate::config::secret::Secret;
use crate::config::yaml::{Node, Path};
use crate::config::{Problem, secret, yaml};
use crate::sink::config::{Receiver, ReceiverKind, ReceiverName};
use crate::source::{SourceConfig, SourceName};

/// The sections a config file may hold. Every one is optional.
const SECTIONS: &[&str] = &[
    "state",
    "sources",
    "receivers",
    "route",
    "inhibit_rules",
    "time_intervals",
    "checks",
    "heartbeat_url",
    "slack_app",
    "access",
    "actions",
    "action_audit",
];

/// A checked config.
#[derive(Debug)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    pub state: StateSettings,
    pub receivers: BTreeMap<ReceiverName, Receiver>,
    /// The routing tree (`route:`), when the file has one.
    pub route: Option<crate::route::Route>,
    /// `inhibit_rules:`, in file order.
    pub inhibit_rules: Vec<crate::route::InhibitRule>,
    /// `time_intervals:` by name.
    pub time_intervals: crate::route::TimeIntervals,
    /// `sources:` by name.
    pub sources: BTreeMap<SourceName, SourceConfig>,
    /// `checks:`, in file order.
    pub checks: Vec<Check>,
    /// The compiled label and annotation templates of the checks.
    pub templates: Templates,
    /// A URL fetched (GET) after every poll that fully succeeded, so that a dead-man's-switch
    /// service (healthchecks.io, Cronitor, Uptime Kuma) notices when dbalert stops running.
    pub heartbeat_url: Option<Secret>,
    /// `slack_app:`, the Slack app that receives button clicks (`dbalert serve`).
    pub slack_app: Option<crate::interact::SlackAppConfig>,
    /// `access:`, who may act on alerts from Slack, by principal name.
    pub access: crate::interact::Access,
    /// `actions:`, the vetted statements people may run from Slack, in file order.
    pub actions: Vec<crate::action::Action>,
    /// `action_audit:`, the database table that gets a copy of every action's audit rows.
    pub action_audit: Option<crate::action::audit::AuditTableConfig>,
    /// Things worth fixing that do not stop dbalert from running.
    pub warnings: Vec<String>,
    /// Key paths of credentials written in the file itself rather than referenced.
    pub inline_secrets: Vec<String>,
}

/// `state:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateConfig {
    /// The SQLite file that holds firing alerts, the notification log and cursors.
    path: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct StateSettings {
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no config file found (looked for {}); pass --config FILE or set DBALERT_CONFIG",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound { searched: Vec<PathBuf> },
    /// The io error is the source, printed once after this by the error chain.
    #[error("cannot read config file {}", .file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// Not UTF-8, or not YAML: nothing below the position can be read.
    #[error("{}:{}:{}: {message}", .file.display(), .position.line, .position.column)]
    Syntax {
        file: PathBuf,
        position: yaml::Position,
        message: String,
    },
    #[error("{}", Invalid { file, problems })]
    Invalid {
        file: PathBuf,
        problems: Vec<Problem>,
    },
}

struct Invalid<'a> {
    file: &'a FsPath,
    problems: &'a [Problem],
}

impl fmt::Display for Invalid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            f,
            "{} has {count} problem{}:",
            self.file.display(),
            if count == 1 { "" } else { "s" }
        )?;
        for p in self.problems {
            write!(
                f,
                "\n  {}:{}:{}: {}: {}",
                self.file.display(),
                p.line,
                p.column,
                p.path,
                p.message
            )?;
        }
        Ok(())
    }
}

/// Where to look when `--config` and `$DBALERT_CONFIG` are not given, in order.
pub fn search_path() -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from("alerts.yaml")];
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        paths.push(PathBuf::from(dir).join("dbalert/alerts.yaml"));
    } else if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        paths.push(PathBuf::from(home).join(".config/dbalert/alerts.yaml"));
    }
    paths.push(PathBuf::from("/etc/dbalert/alerts.yaml"));
    paths
}

/// Finds the config file: `explicit` (from `--config` or `$DBALERT_CONFIG`) or the first file
/// of [`search_path`] that exists.
pub fn find(explicit: Option<&FsPath>) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    let searched = search_path();
    searched
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(ConfigError::NotFound { searched })
}

/// Reads and checks the config file at `file`, every reference resolved.
pub fn load(file: &FsPath) -> Result<Config, ConfigError> {
    load_with(file, References::Required)
}

/// Reads and checks the config file at `file`. With [`References::Deferred`] (commands that
/// send nothing), references that cannot be resolved are left as written.
pub fn load_with(file: &FsPath, references: References) -> Result<Config, ConfigError> {
    let bytes = read_file(file, MAX_CONFIG_BYTES).map_err(|source| ConfigError::Read {
        file: file.to_owned(),
        source,
    })?;
    let env: EnvLookup = Box::new(|name| std::env::var(name).ok());
    let mut config = parse_bytes(&bytes, file, env, references)?;
    if let Some(warning) = permission_warning(file, &config.inline_secrets) {
        config.warnings.push(warning);
    }
    Ok(config)
}

/// Checks config text. `file` names it in messages and anchors relative `${file:}` paths;
/// `env` looks up `${env:}` references.
pub fn parse(text: &str, file: &FsPath, env: EnvLookup) -> Result<Config, ConfigError> {
    parse_with(text, file, env, References::Required)
}

/// [`parse_with`] on the bytes of a file, which may not be UTF-8: that is reported with the
/// line and column of the first byte that is not.
pub fn parse_bytes(
    bytes: &[u8],
    file: &FsPath,
    env: EnvLookup,
    references: References,
) -> Result<Config, ConfigError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_with(text, file, env, references),
        Err(err) => {
            let valid = err.valid_up_to();
            Err(ConfigError::Syntax {
                file: file.to_owned(),
                position: yaml::position_of_offset(&bytes[..valid]),
                message: format!(
                    "not valid UTF-8 (byte 0x{:02x} at offset {valid}); save the file as UTF-8",
                    bytes[valid]
                ),
            })
        }
    }
}

/// [`parse`], choosing what an unresolvable reference is.
pub fn parse_with(
    text: &str,
    file: &FsPath,
    env: EnvLookup,
    references: References,
) -> Result<Config, ConfigError> {
    let root = yaml::parse(text).map_err(|err| ConfigError::Syntax {
        file: file.to_owned(),
        position: err.position,
        message: err.message,
    })?;
    let base = file.parent().unwrap_or(FsPath::new("."));
    let mut reader = Reader::new(root, base, env, references);

    check_sections(&mut reader);

    let state = reader
        .parse::<Option<StateConfig>>(&Path::root().key("state"))
        .flatten()
        .unwrap_or_default();
    let receivers = crate::sink::config::resolve(&mut reader);
    let time_intervals = crate::route::config::resolve_time_intervals(&mut reader);
    let route = crate::route::config::resolve_route(&mut reader, &time_intervals);
    let inhibit_rules = crate::route::config::resolve_inhibit_rules(&mut reader);
    let sources = resolve_sources(&mut reader);
    let mut templates = Templates::default();
    let source_names = source_names(&reader, &sources);
    let mut warnings = Vec::new();
    let checks = check::resolve(&mut reader, &source_names, &mut templates, &mut warnings);
    if !checks.is_empty() && route.is_none() && reader.node(&Path::root().key("route")).is_none() {
        reader.problem(
            &Path::root().key("checks"),
            "checks need a `route:` to know where their alerts go; add at least `route: {receiver: NAME}`",
        );
    }
    let heartbeat_url = resolve_heartbeat(&mut reader);
    let slack_app = crate::interact::config::resolve_slack_app(&mut reader);
    let access = crate::interact::config::resolve_access(&mut reader);
    check_allow(
        &mut reader,
        &receivers,
        &access,
        slack_app.is_some(),
        &mut warnings,
    );
    let actions = resolve_actions(&mut reader, &sources);
    check_run_buttons(&mut reader, &receivers, &actions);
    let action_audit = crate::action::config::resolve_audit(&mut reader, &sources);
    let inline_secrets = inline_secrets(&reader, &receivers, &sources);

    let problems = reader.into_problems();
    if !problems.is_empty() {
        return Err(ConfigError::Invalid {
            file: file.to_owned(),
            problems,
        });
    }
    let mut receivers = receivers;
    share_key_labels(&mut receivers, &checks);
    Ok(Config {
        file: file.to_owned(),
        state: StateSettings {
            path: state.path.map_or_else(default_state_path, |p| base.join(p)),
        },
        receivers,
        route,
        inhibit_rules,
        time_intervals,
        sources,
        checks,
        templates,
        heartbeat_url,
        slack_app,
        access,
        actions,
        action_audit,
        warnings,
        inline_secrets,
    })
}

/// `actions:`, checked against the sources and principals written in the file (broken ones
/// included: they have their own problem).
fn resolve_actions(
    reader: &mut Reader,
    sources: &BTreeMap<SourceName, SourceConfig>,
) -> Vec<crate::action::Action> {
    let source_kinds = reader
        .keys(&Path::root().key("sources"))
        .into_iter()
        .map(|name| {
            let kind = sources
                .get(&SourceName(name.clone()))
                .map(SourceConfig::kind);
            (name, kind)
        })
        .collect();
    let principals = reader.keys(&Path::root().key("access"));
    let known = crate::action::config::Known {
        sources: &source_kinds,
        principals: &principals,
    };
    crate::action::config::resolve(reader, &known)
}

/// The sources checks may name: every name written under `sources:`, broken ones included
/// (they have their own problem, and saying they do not exist would mislead), with the kind
/// of each that could be read.
fn source_names(reader: &Reader, sources: &BTreeMap<SourceName, SourceConfig>) -> check::Sources {
    check::Sources {
        names: reader
            .keys(&Path::root().key("sources"))
            .into_iter()
            .collect(),
        kinds: sources
            .iter()
            .map(|(name, source)| (name.0.clone(), source.kind()))
            .collect(),
    }
}

/// The config is a map of known sections.
fn check_sections(reader: &mut Reader) {
    if !matches!(reader.node(&Path::root()), Some(Node::Map(_))) {
        let message = "the config must be a map of sections (state, receivers, …)";
        reader.problem(&Path::root(), message);
    }
    for key in reader.keys(&Path::root()) {
        if !SECTIONS.contains(&key.as_str()) {
            let expected = SECTIONS.join(", ");
            let message = format!("unknown section `{key}`; expected one of {expected}");
            reader.problem(&Path::root().key(&key), message);
        }
    }
}

/// `heartbeat_url:`, checked as a URL once its references are resolved.
fn resolve_heartbeat(reader: &mut Reader) -> Option<Secret> {
    let path = Path::root().key("heartbeat_url");
    let url = reader.parse::<Option<Secret>>(&path).flatten();
    if let Some(url) = &url
        && !reader.unresolved_under(&path)
        && let Err(problem) = crate::sink::http::check_url(url.expose())
    {
        reader.problem(&path, problem);
    }
    url
}

/// Messages show a check's key labels first among an alert's labels: every receiver's layout
/// learns them.
fn share_key_labels(receivers: &mut BTreeMap<ReceiverName, Receiver>, checks: &[Check]) {
    let key_labels: std::sync::Arc<BTreeMap<String, Vec<String>>> = std::sync::Arc::new(
        checks
            .iter()
            .filter_map(|c| Some((c.name.clone(), c.key.clone()?)))
            .collect(),
    );
    for receiver in receivers.values_mut() {
        receiver.layout.key_labels = key_labels.clone();
    }
}

/// Each receiver's `allow:` must name principals of `access:`. With a Slack app configured, a
/// receiver that would carry buttons but says nothing of who may use them is worth a warning:
/// access is denied by default, so its messages carry no buttons.
fn check_allow(
    reader: &mut Reader,
    receivers: &BTreeMap<ReceiverName, Receiver>,
    access: &crate::interact::Access,
    slack_app: bool,
    warnings: &mut Vec<String>,
) {
    let access_written = reader.keys(&Path::root().key("access"));
    for receiver in receivers.values() {
        let path = Path::root().key("receivers").key(&receiver.name.0);
        let Some(allow) = &receiver.interactive.allow else {
            let slack_app_kind =
                matches!(&receiver.kind, ReceiverKind::Slack(s) if s.token.is_some());
            if slack_app && slack_app_kind && !receiver.interactive.buttons.is_empty() {
                warnings.push(format!("{path}: it has no `allow:`, so nobody may use its buttons and its messages carry none (access is denied by default); add `allow: [PRINCIPAL]` naming principals of `access:`, or `buttons: []` to silence this warning"));
            }
            continue;
        };
        for (i, name) in allow.iter().enumerate() {
            // A principal written but broken has its own problem.
            if !access.contains_key(name) && !access_written.contains(name) {
                reader.problem(
                    &path.key("allow").index(i),
                    format!("no principal named `{name}` under `access:`; add it there, or remove it here"),
                );
            }
        }
    }
}

/// Each runbook button in a receiver's `buttons:` must name an action, give each of its
/// parameters and nothing else, by templates that compile.
fn check_run_buttons(
    reader: &mut Reader,
    receivers: &BTreeMap<ReceiverName, Receiver>,
    actions: &[crate::action::Action],
) {
    let section = Path::root().key("actions");
    let written: Vec<String> = match reader.node(&section) {
        Some(Node::Seq(items)) => (0..items.len())
            .filter_map(|i| match reader.node(&section.index(i).key("name")) {
                Some(Node::Str(name)) => Some(name.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    for receiver in receivers.values() {
        let path = Path::root().key("receivers").key(&receiver.name.0);
        for (i, button) in receiver.interactive.buttons.iter().enumerate() {
            let crate::sink::config::Button::Run(button) = button else {
                continue;
            };
            let at = path.key("buttons").index(i);
            for (key, message) in crate::action::runbook::check(button, actions, &written, &at) {
                reader.problem(&key, message);
            }
        }
    }
}

/// `$XDG_STATE_HOME/dbalert/state.db`, else `~/.local/state/dbalert/state.db`.
pub fn default_state_path() -> PathBuf {
    let dir = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".local/state"))
        })
        .unwrap_or_else(|| PathBuf::from("."));
    dir.join("dbalert/state.db")
}

/// Reads `sources:`, one source at a time. Relative file paths are read beside the config.
fn resolve_sources(reader: &mut Reader) -> BTreeMap<SourceName, SourceConfig> {
    let section = Path::root().key("sources");
    let mut sources = BTreeMap::new();
    for name in reader.keys(&section) {
        let Some(mut source) = reader.parse::<SourceConfig>(&section.key(&name)) else {
            continue;
        };
        match &mut source {
            SourceConfig::Sqlite(sqlite) => sqlite.path = reader.base().join(&sqlite.path),
            SourceConfig::Postgres(postgres) => {
                postgres.ca_file = postgres.ca_file.take().map(|f| reader.base().join(f));
            }
            #[cfg(feature = "oracle")]
            SourceConfig::Oracle(oracle) => {
                oracle.lib_dir = oracle.lib_dir.take().map(|d| reader.base().join(d));
            }
        }
        // Building parses what can be parsed without connecting (a PostgreSQL URL, a CA file),
        // so `dbalert check` reports it rather than the first poll.
        if reader.unresolved_under(&section.key(&name)) {
            // Left as written for a command that connects to nothing: nothing to check.
        } else if let Err(error) = source.build(SourceName(name.clone())) {
            reader.problem(&section.key(&name), error.to_string());
            continue;
        }
        sources.insert(SourceName(name), source);
    }
    sources
}

/// The keys that hold a credential.
fn secret_paths(
    receivers: &BTreeMap<ReceiverName, Receiver>,
    sources: &BTreeMap<SourceName, SourceConfig>,
) -> Vec<Path> {
    let sources = sources.iter().filter_map(|(name, source)| match source {
        SourceConfig::Postgres(_) => Some(
            Path::root()
                .key("sources")
                .key(&name.0)
                .key("postgres")
                .key("url"),
        ),
        #[cfg(feature = "oracle")]
        SourceConfig::Oracle(oracle) => oracle.password.is_some().then(|| {
            Path::root()
                .key("sources")
                .key(&name.0)
                .key("oracle")
                .key("password")
        }),
        SourceConfig::Sqlite(_) => None,
    });
    receivers
        .values()
        .flat_map(|r| {
            let block = Path::root()
                .key("receivers")
                .key(&r.name.0)
                .key(r.kind.name());
            let headers = |headers: &BTreeMap<String, secret::Secret>| {
                headers
                    .keys()
                    .map(|name| block.key("headers").key(name))
                    .collect::<Vec<_>>()
            };
            match &r.kind {
                ReceiverKind::Slack(_) => vec![block.key("webhook_url"), block.key("token")],
                // Alertmanager URLs are kept out of logs, but are not credentials by nature:
                // writing them inline is normal.
                ReceiverKind::Alertmanager(am) => headers(&am.headers),
                ReceiverKind::Webhook(webhook) => std::iter::once(block.key("url"))
                    .chain(headers(&webhook.headers))
                    .collect(),
                ReceiverKind::Stdout(_) => Vec::new(),
            }
        })
        .chain(sources)
        .collect()
}

fn inline_secrets(
    reader: &Reader,
    receivers: &BTreeMap<ReceiverName, Receiver>,
    sources: &BTreeMap<SourceName, SourceConfig>,
) -> Vec<String> {
    let top = ["heartbeat_url"].map(|key| Path::root().key(key));
    let slack_app = ["app_token", "bot_token", "signing_secret"]
        .map(|key| Path::root().key("slack_app").key(key));
    let written = top
        .into_iter()
        .chain(slack_app)
        .filter(|path| reader.node(path).is_some());
    secret_paths(receivers, sources)
        .into_iter()
        .chain(written)
        .filter(|path| reader.is_literal(path))
        .map(|path| path.to_string())
        .collect()
}

/// A file that holds a credential inline should be readable by its owner only.
#[cfg(unix)]
fn permission_warning(file: &FsPath, inline: &[String]) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    if inline.is_empty() {
        return None;
    }
    let mode = std::fs::metadata(file).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{file} holds secrets inline ({keys}) and other users may read it (mode {mode:o}); \
             run `chmod 600 {file}`, or move the secrets to `${{file:PATH}}` or `${{env:NAME}}`",
            file = file.display(),
            keys = inline.join(", "),
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_file: &FsPath, _inline: &[String]) -> Option<String> {
    None
}
