//! `dbalert actions list` and `dbalert actions test`: the actions of the config, and one action
//! tried from the shell exactly as chat would run it (same grammar, same validation, same
//! authorization), with `--execute` to run it for real, audited as `cli:<unix user>`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use clap::{Args, Subcommand};
use serde_json::json;

use super::status::print_table;
use super::{Cli, Failure, Outcome, load_config_with};
use crate::action::audit::{Audit, AuditTrail, DatabaseAudit};
use crate::action::{Action, ActionKind, grammar, run};
use crate::config::ReceiverName;
use crate::config::References;
use crate::interact::access::{Decision, GroupMembers, Requester, decide, groups_to_look_up};
use crate::interact::usergroups::UserGroups;
use crate::settings::Config;
use crate::sink::http::{TransportConfig, client};
use crate::sink::web_api::WebApi;
use crate::source::SourceKind;
use crate::source::{Bind, Rows};

/// How long `--as` waits for each user group lookup.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub struct ActionsArgs {
    #[command(subcommand)]
    pub command: ActionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ActionsCommand {
    /// List the actions: name, source, kind, parameters, who may run them.
    List {
        /// One JSON document for scripts instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Validate arguments as chat would, print the SQL, the binds and the authorization decision.
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The action's name.
    pub name: String,
    /// Values in parameter order, or PARAM=VALUE.
    #[arg(value_name = "PARAM=VALUE")]
    pub args: Vec<String>,
    /// Decide access for this Slack user ID, as chat would: the user groups `access:` names are
    /// looked up with `slack_app.bot_token` (said when they cannot be).
    #[arg(long = "as", value_name = "USER_ID")]
    pub as_user: Option<String>,
    /// Run it (audited, as `cli:<unix user>`), and print what it returned.
    #[arg(long)]
    pub execute: bool,
}

pub fn run(cli: &Cli, args: &ActionsArgs) -> Result<Outcome, Failure> {
    match &args.command {
        ActionsCommand::List { json } => {
            let config = load_config_with(cli, References::Deferred)?;
            list(&config, *json)
        }
        ActionsCommand::Test(test_args) => {
            let references = match test_args.execute {
                true => References::Required,
                false => References::Deferred,
            };
            test(&load_config_with(cli, references)?, test_args)
        }
    }
}

fn list(config: &Config, json: bool) -> Result<Outcome, Failure> {
    let needs = |a: &Action| match (&a.confirm, &a.approval) {
        (Some(_), Some(_)) => "confirm, approval",
        (Some(_), None) => "confirm",
        (None, Some(_)) => "approval",
        (None, None) => "-",
    };
    if json {
        let actions: Vec<_> = config.actions.iter().map(|a| json!({
            "name": a.name, "description": a.description, "source": a.source.0,
            "kind": kind(a), "usage": a.usage(), "allow": a.allow,
            "confirm": a.confirm.is_some(),
            "approval": a.approval.as_ref().map(|p| json!({"allow": p.allow, "ttl": p.ttl.to_string()})),
            "response": a.response.as_str(), "timeout": a.timeout.to_string(), "max_rows": a.max_rows,
        })).collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&actions).map_err(Failure::failed)?
        );
        return Ok(Outcome::Done);
    }
    let rows: Vec<[String; 6]> = config
        .actions
        .iter()
        .map(|a| {
            [
                a.name.clone(),
                a.source.0.clone(),
                kind(a).to_owned(),
                a.usage(),
                a.allow.join(","),
                needs(a).to_owned(),
            ]
        })
        .collect();
    print_table(["NAME", "SOURCE", "KIND", "USAGE", "ALLOW", "NEEDS"], &rows);
    Ok(Outcome::Done)
}

fn kind(action: &Action) -> &'static str {
    match action.kind {
        ActionKind::Query => "query",
        ActionKind::Call => "call",
    }
}

fn test(config: &Config, args: &TestArgs) -> Result<Outcome, Failure> {
    let action = config
        .actions
        .iter()
        .find(|a| a.name == args.name)
        .ok_or_else(|| {
            let names: Vec<&str> = config.actions.iter().map(|a| a.name.as_str()).collect();
            Failure::usage(anyhow!(
                "no action named `{}` (there: {}); see `dbalert actions list`",
                args.name,
                names.join(", ")
            ))
        })?;
    let words: Vec<grammar::Word> = args.args.iter().map(|a| grammar::word(a)).collect();
    let usage = |e: String| Failure::usage(anyhow!("{e}; usage: {}", action.usage()));
    let values = grammar::assign(&action.params, &words).map_err(usage)?;
    let binds = run::validate(action, &values).map_err(usage)?;
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned())
    );
    let request_id = format!(
        "cli-{}-{:08x}",
        jiff::Timestamp::now().as_second(),
        fastrand::u32(..)
    );
    let statement = run::statement(action, binds, &actor, &request_id);
    outln!(
        "action: {} ({} on source `{}`)",
        action.name,
        kind(action),
        action.source
    );
    outln!("sql:\n  {}", action.sql.trim().replace('\n', "\n  "));
    outln!("binds:");
    let postgres = config
        .sources
        .get(&action.source)
        .is_some_and(|s| s.kind() == SourceKind::Postgres);
    for (i, (name, bind)) in statement.binds.iter().enumerate() {
        let secret = action
            .params
            .iter()
            .any(|p| p.secret && p.bind_names().contains(name));
        let shown = match bind {
            _ if secret => run::REDACTED.to_owned(),
            Bind::Int(v) => format!("{v} (int)"),
            Bind::Text(v) => format!("{v:?} (text)"),
        };
        let at = if postgres {
            format!("${} :{name}", i + 1)
        } else {
            format!(":{name}")
        };
        outln!("  {at} = {shown}");
    }
    let decision = match args.as_user.as_deref() {
        Some(user) => Some(decide_as(config, action, user)?),
        None => None,
    };
    if let Some((user, decision)) = &decision {
        match decision {
            Decision::Allowed { principal } => {
                outln!("access: {user} may run it (through `{principal}`)")
            }
            Decision::Denied { reason } => outln!("access: {user} may not run it: {reason}"),
        }
    }
    if !args.execute {
        return Ok(Outcome::Done);
    }
    if let Some((user, Decision::Denied { .. })) = &decision {
        return Err(Failure::failed(anyhow!(
            "not run: {user} may not run `{}`",
            action.name
        )));
    }
    execute(config, action, &values, statement, &actor)
}

/// The decision for `user` in the Slack app's workspace, with the members of the user groups
/// the action's `allow:` names, looked up as chat would.
fn decide_as(config: &Config, action: &Action, user: &str) -> Result<(String, Decision), Failure> {
    let team = config
        .slack_app
        .as_ref()
        .map_or("", |app| app.team_id.as_str());
    let who = Requester {
        user,
        team,
        channel: None,
    };
    let wanted = groups_to_look_up(&config.access, Some(&action.allow));
    let groups = group_members(config, &wanted, user)?;
    let decision = decide(&config.access, team, Some(&action.allow), &who, &groups);
    Ok((user.to_owned(), decision))
}

/// The members of the user groups `wanted`, looked up with the Slack app's bot token. Groups
/// that could not be looked up are named: like chat, the decision takes them to be without
/// `user`.
fn group_members(
    config: &Config,
    wanted: &BTreeSet<String>,
    user: &str,
) -> Result<GroupMembers, Failure> {
    let names = |groups: &[&String]| {
        groups
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if wanted.is_empty() {
        return Ok(GroupMembers::new());
    }
    // `dbalert check` refuses a bot token that is not `xoxb-…`: any other here is a reference
    // left unresolved, such as `${env:SLACK_BOT_TOKEN}` not set in this shell.
    let Some(app) =
        (config.slack_app.as_ref()).filter(|app| app.bot_token.expose().starts_with("xoxb-"))
    else {
        outln!(
            "groups: NOT looked up (no `slack_app.bot_token` here); {} treated as not containing {user}",
            names(&Vec::from_iter(wanted))
        );
        return Ok(GroupMembers::new());
    };
    let client = client(
        &ReceiverName("slack_app".to_owned()),
        &TransportConfig::default(),
        LOOKUP_TIMEOUT,
    )
    .map_err(Failure::failed)?;
    let groups = UserGroups::new(WebApi::new(&app.api_url, client), app.bot_token.clone());
    let found = super::runtime()?.block_on(groups.members(wanted));
    let (looked_up, missing): (Vec<&String>, Vec<&String>) =
        wanted.iter().partition(|g| found.contains_key(*g));
    if !looked_up.is_empty() {
        outln!("groups: looked up {}", names(&looked_up));
    }
    if !missing.is_empty() {
        outln!(
            "groups: NOT looked up (the lookup failed; see the warning above); {} treated as not containing {user}",
            names(&missing)
        );
    }
    Ok(found)
}

fn execute(
    config: &Config,
    action: &Action,
    values: &BTreeMap<String, String>,
    statement: crate::source::Statement,
    actor: &str,
) -> Result<Outcome, Failure> {
    let database = match &config.action_audit {
        Some(table) => {
            let source = config.sources.get(&table.source).ok_or_else(|| {
                Failure::usage(anyhow!("action_audit: no source `{}`", table.source))
            })?;
            Some(DatabaseAudit::build(table, source).map_err(|e| Failure::usage(anyhow!(e)))?)
        }
        None => None,
    };
    let trail = AuditTrail::new(config.state.path.clone());
    let audit = Audit {
        trail: &trail,
        database: database.as_ref(),
        request_id: statement
            .bind("request_id")
            .map(ToString::to_string)
            .unwrap_or_default(),
        actor: actor.to_owned(),
        channel: None,
        what: format!("action:{}", action.name),
        target: run::audit_target(action, values),
    };
    let source = config
        .sources
        .get(&action.source)
        .ok_or_else(|| Failure::usage(anyhow!("no source `{}`", action.source)))?;
    let source = source
        .build(action.source.clone())
        .map_err(Failure::usage)?;
    super::runtime()?.block_on(async {
        let done = run_audited(action, &audit, &source, &statement).await;
        if let Some(database) = &database {
            database.flush().await;
        }
        done
    })
}

/// Runs the statement between its two audit rows and prints what it returned.
async fn run_audited(
    action: &Action,
    audit: &Audit<'_>,
    source: &crate::source::Source,
    statement: &crate::source::Statement,
) -> Result<Outcome, Failure> {
    {
        audit
            .intent(&format!("source {}; from the shell", action.source))
            .map_err(Failure::failed)?;
        let started = Instant::now();
        let outcome = source.execute(statement).await;
        let elapsed = started.elapsed().as_millis();
        match outcome {
            Ok(outcome) => {
                let rows = outcome.rows.rows.len() as u64 + outcome.affected;
                audit.outcome("done", &format!("rows={rows} elapsed_ms={elapsed}"));
                print_outcome(action, &outcome, elapsed)?;
                Ok(Outcome::Done)
            }
            Err(error) => {
                let (code, text) = run::error_text(&error);
                let detail = format!("error={code} elapsed_ms={elapsed}: {text}");
                audit.outcome("failed", &detail);
                Err(Failure::failed(anyhow!(
                    "action `{}` failed: {text}",
                    action.name
                )))
            }
        }
    }
}

fn print_outcome(
    action: &Action,
    outcome: &crate::source::Outcome,
    elapsed: u128,
) -> Result<(), Failure> {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if outcome.rows.columns.is_empty() {
        let n = outcome.affected;
        outln!("done: {n} row{} changed ({elapsed} ms)", plural(n as usize));
        return Ok(());
    }
    print_rows(&outcome.rows)?;
    let more = if outcome.more {
        format!(", more left unread (max_rows {})", action.max_rows)
    } else {
        String::new()
    };
    let n = outcome.rows.rows.len();
    outln!("({n} row{}{more}; {elapsed} ms)", plural(n));
    Ok(())
}

fn print_rows(rows: &Rows) -> Result<(), Failure> {
    let table: Vec<Vec<String>> = rows
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| crate::render::text::clean(&v.to_label()).replace('\n', " "))
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = rows.columns.iter().map(|c| c.chars().count()).collect();
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    outln!("{}", line(&rows.columns));
    for row in &table {
        outln!("{}", line(row));
    }
    Ok(())
}
