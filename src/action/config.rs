//! `actions:` as read and checked: each action's source, kind, SQL, parameters, who may run it,
//! and the confirmation and approval it needs. Every rule is checked here, for `dbalert check`:
//! each bind has a parameter (or is reserved), each parameter a type, each pattern compiles,
//! each principal and source exists.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::audit::AuditTableConfig;
use super::binds::{Found, binds};
use super::params::{DEFAULT_STRING_CHARS, MAX_VALUE_CHARS, Param, ParamType, TypeName, anchored};
use crate::config::duration::Duration;
use crate::config::reader::Reader;
use crate::config::yaml::{Node, Path};
use crate::source::SourceKind;
use crate::source::SourceName;

/// Binds every action may use: who asked (the Slack user ID, or `cli:<unix user>`) and the
/// request's id, for database APIs that log by themselves.
pub const RESERVED_BINDS: [&str; 2] = ["requested_by", "request_id"];
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);
const DEFAULT_MAX_ROWS: usize = 50;
const MAX_MAX_ROWS: usize = 1000;

/// What an action does to its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Runs read-only and shows the rows.
    Query,
    /// Runs a statement or PL/SQL block; commits only when it succeeded.
    Call,
}

/// Who sees the result in Slack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Everyone in the channel (the default): the team sees what was done.
    #[default]
    InChannel,
    /// Only the person who asked.
    Ephemeral,
}

impl Response {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InChannel => "in_channel",
            Self::Ephemeral => "ephemeral",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawConfirm {
    Flag(bool),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    allow: Vec<String>,
    ttl: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    name: String,
    #[serde(rename = "type")]
    type_name: TypeName,
    pattern: Option<String>,
    values: Option<Vec<String>>,
    transform: Option<Transform>,
    max_length: Option<usize>,
    #[serde(default)]
    secret: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Transform {
    Upper,
}

/// One entry of `actions:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    name: String,
    #[serde(default)]
    description: String,
    source: String,
    kind: ActionKind,
    sql: String,
    #[serde(default)]
    params: Vec<RawParam>,
    #[serde(default)]
    allow: Vec<String>,
    confirm: Option<RawConfirm>,
    approval: Option<RawApproval>,
    timeout: Option<Duration>,
    max_rows: Option<usize>,
    #[serde(default)]
    response: Response,
}

/// A second person must approve before the action runs; the requester cannot.
#[derive(Debug, Clone)]
pub struct Approval {
    /// The principals who may approve.
    pub allow: Vec<String>,
    /// How long a request waits for its confirmation and approval.
    pub ttl: Duration,
}

/// One action, checked.
#[derive(Debug, Clone)]
pub struct Action {
    pub name: String,
    pub description: String,
    pub source: SourceName,
    pub kind: ActionKind,
    pub sql: String,
    pub params: Vec<Param>,
    /// The principals of `access:` who may run it.
    pub allow: Vec<String>,
    /// The question the Confirm button asks (`{{ param }}` filled in), if it needs one.
    pub confirm: Option<String>,
    pub approval: Option<Approval>,
    pub timeout: Duration,
    pub max_rows: usize,
    pub response: Response,
}

impl Action {
    /// How long a request waits for a click.
    pub fn ttl(&self) -> Duration {
        self.approval.as_ref().map_or(DEFAULT_TTL, |a| a.ttl)
    }

    /// `name PARAM…`, for help and usage messages.
    pub fn usage(&self) -> String {
        std::iter::once(self.name.clone())
            .chain(self.params.iter().map(Param::usage))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What the checks need to know of the rest of the file.
pub struct Known<'a> {
    /// Source names written under `sources:`, with the kind of each that could be read.
    pub sources: &'a BTreeMap<String, Option<SourceKind>>,
    /// Principal names written under `access:`.
    pub principals: &'a [String],
}

/// Reads `action_audit:`: its source must exist and its table be a plain name (`table` or
/// `schema.table`), since a table name cannot be bound and is written into the INSERT.
pub(crate) fn resolve_audit(
    reader: &mut Reader,
    sources: &BTreeMap<SourceName, crate::source::SourceConfig>,
) -> Option<AuditTableConfig> {
    let path = Path::root().key("action_audit");
    let config = reader.parse::<Option<AuditTableConfig>>(&path)??;
    let part = r"[A-Za-z][A-Za-z0-9_$#]{0,127}";
    let name = regex::Regex::new(&format!("^{part}(\\.{part})?$")).expect("a valid pattern");
    let mut ok = true;
    if !name.is_match(&config.table) {
        reader.problem(&path.key("table"), "must be a table name, `table` or `schema.table` (letters, digits, _, $, #), such as dbalert_api.chatops_audit");
        ok = false;
    }
    if !sources.contains_key(&config.source)
        && !reader
            .keys(&Path::root().key("sources"))
            .contains(&config.source.0)
    {
        reader.problem(
            &path.key("source"),
            format!("no source named `{}` under `sources:`", config.source),
        );
        ok = false;
    }
    ok.then_some(config)
}

/// Reads `actions:`, a list; broken entries are left out with their problems recorded.
pub(crate) fn resolve(reader: &mut Reader, known: &Known) -> Vec<Action> {
    let section = Path::root().key("actions");
    let count = match reader.node(&section) {
        Some(Node::Seq(items)) => items.len(),
        None | Some(Node::Null) => 0,
        Some(_) => {
            reader.problem(&section, "expected a list of actions (`- name: …`)");
            0
        }
    };
    let mut actions: Vec<Action> = Vec::new();
    for index in 0..count {
        let path = section.index(index);
        let Some(raw) = reader.parse::<RawAction>(&path) else {
            continue;
        };
        let Some(action) = resolve_one(reader, &path, raw, known) else {
            continue;
        };
        if actions.iter().any(|a| a.name == action.name) {
            let message = format!(
                "a second action is named `{}`; names must be unique",
                action.name
            );
            reader.problem(&path.key("name"), message);
            continue;
        }
        actions.push(action);
    }
    actions
}

fn resolve_one(reader: &mut Reader, path: &Path, raw: RawAction, known: &Known) -> Option<Action> {
    let mut problems: Vec<(Path, String)> = Vec::new();
    if !is_action_name(&raw.name) {
        problems.push((path.key("name"), "must be lower-case letters, digits, - and _, starting with a letter (at most 64), and not `help`; it is what people type after the slash command".to_owned()));
    }
    let source_kind = match known.sources.get(&raw.source) {
        None => {
            let names = known.sources.keys().cloned().collect::<Vec<_>>().join(", ");
            let message = format!(
                "no source named `{}` under `sources:` (there: {names}); add it, or fix the name",
                raw.source
            );
            problems.push((path.key("source"), message));
            None
        }
        Some(kind) => *kind,
    };
    let mut params = Vec::new();
    for (i, raw_param) in raw.params.into_iter().enumerate() {
        match resolve_param(raw_param) {
            Ok(param) => params.push(param),
            Err((key, message)) => problems.push((path.key("params").index(i).key(key), message)),
        }
    }
    let approval_allow = raw.approval.as_ref().map(|a| &a.allow);
    for (at, allow) in [
        (path.key("allow"), Some(&raw.allow)),
        (path.key("approval").key("allow"), approval_allow),
    ] {
        for message in check_principals(allow, known.principals) {
            problems.push((at.clone(), message));
        }
    }
    for message in check_binds(&raw.sql, &params, source_kind) {
        problems.push((path.key("sql"), message));
    }
    let confirm = confirm_text(raw.confirm, &raw.name).unwrap_or_else(|message| {
        problems.push((path.key("confirm"), message));
        None
    });
    let max_rows = raw.max_rows.unwrap_or(DEFAULT_MAX_ROWS);
    if !(1..=MAX_MAX_ROWS).contains(&max_rows) {
        problems.push((
            path.key("max_rows"),
            format!("must be from 1 to {MAX_MAX_ROWS}"),
        ));
    }
    let ok = problems.is_empty();
    for (at, message) in problems {
        reader.problem(&at, message);
    }
    ok.then(|| Action {
        name: raw.name,
        description: raw.description,
        source: SourceName(raw.source),
        kind: raw.kind,
        sql: raw.sql,
        params,
        allow: raw.allow,
        confirm,
        approval: raw.approval.map(|a| Approval {
            allow: a.allow,
            ttl: a.ttl.unwrap_or(DEFAULT_TTL),
        }),
        timeout: raw.timeout.unwrap_or(DEFAULT_TIMEOUT),
        max_rows,
        response: raw.response,
    })
}

/// What people type after the slash command: short, lower case, and not `help`.
fn is_action_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name != "help"
}

/// The Confirm question: a default for `confirm: true`, the template (checked) for a text.
fn confirm_text(confirm: Option<RawConfirm>, name: &str) -> Result<Option<String>, String> {
    match confirm {
        None | Some(RawConfirm::Flag(false)) => Ok(None),
        Some(RawConfirm::Flag(true)) => Ok(Some(format!("Run `{name}`?"))),
        Some(RawConfirm::Text(text)) => {
            match minijinja::Environment::new().template_from_str(&text) {
                Ok(_) => Ok(Some(text)),
                Err(err) => Err(format!("not a valid template: {err}")),
            }
        }
    }
}

/// A parameter checked, or the key that is wrong and why.
fn resolve_param(raw: RawParam) -> Result<Param, (&'static str, String)> {
    let name_ok = raw
        .name
        .starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && raw
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !name_ok || RESERVED_BINDS.contains(&raw.name.as_str()) {
        return Err((
            "name",
            format!(
                "`{}` cannot name a parameter: use lower-case letters, digits and _, and not {}",
                raw.name,
                RESERVED_BINDS.join(" or ")
            ),
        ));
    }
    let given = [
        ("pattern", raw.pattern.is_some()),
        ("values", raw.values.is_some()),
        ("transform", raw.transform.is_some()),
        ("max_length", raw.max_length.is_some()),
    ];
    let allowed: &[&str] = match raw.type_name {
        TypeName::Int | TypeName::SidSerial | TypeName::Duration => &[],
        TypeName::Identifier => &["pattern", "transform"],
        TypeName::Enum => &["values"],
        TypeName::String => &["pattern", "max_length"],
    };
    if let Some((key, _)) = given
        .iter()
        .find(|(key, set)| *set && !allowed.contains(key))
    {
        let type_name = format!("{:?}", raw.type_name).to_lowercase();
        return Err((
            key,
            format!("does not apply to a parameter of type {type_name}"),
        ));
    }
    Ok(Param {
        kind: param_type(&raw)?,
        name: raw.name,
        secret: raw.secret,
    })
}

fn param_type(raw: &RawParam) -> Result<ParamType, (&'static str, String)> {
    let pattern = || -> Result<Option<regex::Regex>, (&'static str, String)> {
        raw.pattern
            .as_deref()
            .map(|p| {
                anchored(p).map_err(|err| {
                    (
                        "pattern",
                        format!("does not compile ({})", regex_error(&err)),
                    )
                })
            })
            .transpose()
    };
    Ok(match raw.type_name {
        TypeName::Int => ParamType::Int,
        TypeName::SidSerial => ParamType::SidSerial,
        TypeName::Duration => ParamType::Duration,
        TypeName::Identifier => ParamType::Identifier {
            upper: raw.transform == Some(Transform::Upper),
            pattern: pattern()?,
        },
        TypeName::Enum => match &raw.values {
            Some(values)
                if !values.is_empty()
                    && values
                        .iter()
                        .all(|v| !v.is_empty() && !v.chars().any(char::is_control)) =>
            {
                ParamType::Enum(values.clone())
            }
            _ => {
                return Err((
                    "values",
                    "an enum needs `values`: a list of the words it accepts".to_owned(),
                ));
            }
        },
        TypeName::String => {
            let max_chars = raw.max_length.unwrap_or(DEFAULT_STRING_CHARS);
            if !(1..=MAX_VALUE_CHARS).contains(&max_chars) {
                return Err(("max_length", format!("must be from 1 to {MAX_VALUE_CHARS}")));
            }
            match pattern()? {
                Some(pattern) => ParamType::String { pattern, max_chars },
                None => return Err(("pattern", "a string needs a `pattern` its values must match whole, such as '[A-Za-z0-9 ._-]+'".to_owned())),
            }
        }
    })
}

fn check_principals(allow: Option<&Vec<String>>, principals: &[String]) -> Vec<String> {
    match allow {
        Some(allow) if allow.is_empty() => vec![
            "names nobody; name principals of `access:` (access is denied by default)".to_owned(),
        ],
        Some(allow) => allow
            .iter()
            .filter(|name| !principals.contains(name))
            .map(|name| {
                format!(
                    "no principal named `{name}` under `access:`; add it there, or remove it here"
                )
            })
            .collect(),
        None => Vec::new(),
    }
}

/// Every bind of `sql` must be a parameter's (or reserved), and every parameter used. On
/// PostgreSQL binds are `$n`: the n-th value, parameters in order (`sid_serial` gives two), then
/// `requested_by` and `request_id`.
fn check_binds(sql: &str, params: &[Param], source_kind: Option<SourceKind>) -> Vec<String> {
    let names: Vec<String> = params
        .iter()
        .flat_map(Param::bind_names)
        .chain(RESERVED_BINDS.map(str::to_owned))
        .collect();
    let found = binds(sql);
    let mut problems = Vec::new();
    if sql.trim().is_empty() {
        problems.push("is empty; write the statement the action runs".to_owned());
    }
    let postgres = source_kind == Some(SourceKind::Postgres);
    let mut used = BTreeSet::new();
    for bind in &found {
        match (bind, postgres) {
            (Found::Position(n), true) if (1..=names.len()).contains(n) => {
                used.insert(names[n - 1].clone());
            }
            (Found::Position(n), true) => problems.push(format!(
                "${n} has no value: the action binds {} values ({}), in that order",
                names.len(),
                names.join(", ")
            )),
            (Found::Named(name), false) if names.contains(name) => {
                used.insert(name.clone());
            }
            (Found::Named(name), false) => problems.push(format!(
                ":{name} is not a parameter of this action; add it to `params` (binds: {})",
                names.join(", ")
            )),
            (Found::Named(name), true) => problems.push(format!(
                ":{name}: PostgreSQL binds are $1, $2, … in parameter order ({})",
                names.join(", ")
            )),
            (Found::Position(n), false) => problems.push(format!(
                "${n}: binds are written :name on this source ({})",
                names.join(", ")
            )),
        }
    }
    for param in params {
        if !param.bind_names().iter().any(|n| used.contains(n)) && source_kind.is_some() {
            problems.push(format!(
                "parameter `{}` is not used; bind it in the SQL or remove it",
                param.name
            ));
        }
    }
    problems
}

/// The regex crate's error on one line: its last line says what is wrong.
fn regex_error(err: &regex::Error) -> String {
    let text = err.to_string();
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    last.trim().trim_start_matches("error: ").to_owned()
}
