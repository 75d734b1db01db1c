//! `dbalert silence add|ls|expire` and `dbalert ack ls`: silences and acknowledgements in the
//! state file, from the shell (as `amtool silence` does for Alertmanager). `poll`, `run` and
//! `serve` honour them from their next run on. Where the config has `alertmanager` receivers,
//! `add` and `expire` also create and expire the silence in those clusters; a cluster that
//! refuses is reported (exit 1) and the silence still holds in dbalert.

use anyhow::anyhow;
use clap::{Args, Subcommand};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use std::io::Write;

use super::status::{print_table, short_time};
use super::{Cli, Failure, Outcome, load_config_with};
use crate::config::References;
use crate::config::duration::Duration;
use crate::interact::silences::Clusters;
use crate::route::{Matchers, Silence, SilenceState, parse, silence};
use crate::state::StateStore;

#[derive(Debug, Args)]
pub struct SilenceArgs {
    #[command(subcommand)]
    pub command: SilenceCommand,
}

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Mute the alerts that match every MATCHER for a while; prints the new silence's id.
    Add(AddArgs),
    /// List the silences that are active or pending.
    Ls(LsArgs),
    /// End a silence now.
    Expire {
        /// The silence's id, as `silence add` printed it.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Label matchers, all of which must match: alertname=Deadlock owner=~"ORD.*".
    #[arg(value_name = "MATCHER", required = true)]
    pub matchers: Vec<String>,
    /// How long the silence lasts, from now: 30m, 2h, 1d.
    #[arg(long, value_name = "DURATION")]
    pub duration: String,
    /// Why (shown wherever the silence is listed).
    #[arg(long, value_name = "TEXT")]
    pub comment: String,
    /// Who made it [default: $USER].
    #[arg(long, value_name = "NAME")]
    pub author: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// One JSON document for scripts (silences in Alertmanager's API shape) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Include expired silences.
    #[arg(long)]
    pub expired: bool,
}

#[derive(Debug, Args)]
pub struct AckArgs {
    #[command(subcommand)]
    pub command: AckCommand,
}

#[derive(Debug, Subcommand)]
pub enum AckCommand {
    /// List the acknowledged groups.
    Ls {
        /// One JSON document for scripts instead of the table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cli: &Cli, args: &SilenceArgs) -> Result<Outcome, Failure> {
    // The state file's path is all these need: no secret has to be set.
    let config = load_config_with(cli, References::Deferred)?;
    let path = &config.state.path;
    let now = Timestamp::now();
    match &args.command {
        SilenceCommand::Add(add) => {
            let silence = new_silence(add, now)?;
            StateStore::open(path)
                .and_then(|mut store| store.add_silence(&silence))
                .map_err(Failure::failed)?;
            outln!("{}", silence.id);
            return in_clusters(&config, |clusters| async move {
                let (created, refused) = clusters.create(&silence).await;
                let mut store = StateStore::open(path).map_err(Failure::failed)?;
                for (receiver, cluster_id) in created {
                    store
                        .add_cluster_silence(&silence.id, &receiver, &cluster_id)
                        .map_err(Failure::failed)?;
                }
                Ok(refused)
            });
        }
        SilenceCommand::Ls(ls) => {
            let mut silences = match path.exists() {
                true => StateStore::open(path)
                    .and_then(|store| store.silences())
                    .map_err(Failure::failed)?,
                false => Vec::new(),
            };
            silences.retain(|s| ls.expired || s.state(now) != SilenceState::Expired);
            print_silences(&silences, now, ls.json)?;
        }
        SilenceCommand::Expire { id } => {
            let mut store = StateStore::open(path).map_err(Failure::failed)?;
            match store.expire_silence(id, now).map_err(Failure::failed)? {
                None => {
                    return Err(Failure::usage(anyhow!(
                        "no silence with id {id} in {}; see `dbalert silence ls`",
                        path.display()
                    )));
                }
                Some(s) if s.ends_at < now => {
                    return Err(Failure::failed(anyhow!(
                        "silence {id} had already expired, at {}",
                        short_time(s.ends_at)
                    )));
                }
                Some(_) => {}
            }
            let ids = StateStore::open(path)
                .and_then(|store| store.cluster_silences(id))
                .map_err(Failure::failed)?;
            if !ids.is_empty() {
                return in_clusters(&config, |clusters| async move {
                    Ok(clusters.expire(id, &ids).await)
                });
            }
        }
    }
    Ok(Outcome::Done)
}

/// Runs `work` against the config's Alertmanager clusters; each refusal it returns is printed,
/// and makes the exit code 1 (the silence still holds in the state file).
fn in_clusters<F, Fut>(config: &crate::settings::Config, work: F) -> Result<Outcome, Failure>
where
    F: FnOnce(Clusters) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, Failure>>,
{
    let clusters = Clusters::build(&config.receivers).map_err(Failure::failed)?;
    let refused = super::runtime()?.block_on(work(clusters))?;
    for problem in &refused {
        let _ = writeln!(std::io::stderr(), "warning: {problem}");
    }
    Ok(match refused.is_empty() {
        true => Outcome::Done,
        false => Outcome::No,
    })
}

/// The silence `silence add` asked for, starting `now`.
fn new_silence(add: &AddArgs, now: Timestamp) -> Result<Silence, Failure> {
    let matchers = add
        .matchers
        .iter()
        .map(|text| {
            parse::matcher(text).map_err(|e| Failure::usage(anyhow!("matcher `{text}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // As Alertmanager: a silence whose every matcher matches an empty label would mute alerts
    // that do not even have the labels, which is almost never what was meant.
    if matchers.iter().all(|m| m.matches_value("")) {
        return Err(Failure::usage(anyhow!(
            "at least one matcher must not match the empty string (it would silence alerts without that label); name a label's value, as in alertname=Deadlock"
        )));
    }
    let ends_at = Duration::parse(&add.duration)
        .ok()
        .filter(|d| !d.get().is_zero())
        .and_then(|d| SignedDuration::try_from(d.get()).ok())
        .and_then(|d| now.checked_add(d).ok());
    let Some(ends_at) = ends_at else {
        return Err(Failure::usage(anyhow!(
            "--duration `{}` is not a duration; write one such as 30m, 2h or 1d",
            add.duration
        )));
    };
    if add.comment.trim().is_empty() {
        return Err(Failure::usage(anyhow!(
            "--comment is empty; say why the alerts are silenced"
        )));
    }
    let author = add.author.clone().or_else(|| std::env::var("USER").ok());
    Ok(Silence {
        id: silence::new_id(),
        matchers: Matchers::new(matchers),
        starts_at: now,
        ends_at,
        created_by: author.unwrap_or_else(|| "unknown".to_owned()),
        comment: add.comment.clone(),
    })
}

fn print_silences(silences: &[Silence], now: Timestamp, json: bool) -> Result<(), Failure> {
    if json {
        let list: Vec<_> = silences.iter().map(|s| silence_json(s, now)).collect();
        outln!("{}", serde_json::Value::Array(list));
        return Ok(());
    }
    let rows: Vec<[String; 6]> = silences
        .iter()
        .map(|s| {
            [
                s.id.clone(),
                s.state(now).as_str().to_owned(),
                short_time(s.ends_at),
                terminal(&s.created_by),
                terminal(&s.matchers.to_string()),
                terminal(&s.comment),
            ]
        })
        .collect();
    let header = ["ID", "STATE", "ENDS", "CREATED BY", "MATCHERS", "COMMENT"];
    print_table(header, &rows);
    Ok(())
}

/// A silence as Alertmanager's API v2 gives one (`gettableSilence`).
pub fn silence_json(s: &Silence, now: Timestamp) -> serde_json::Value {
    json!({
        "id": s.id,
        "matchers": s.api_matchers(str::to_owned),
        "startsAt": s.starts_at.to_string(),
        "endsAt": s.ends_at.to_string(),
        "createdBy": s.created_by,
        "comment": s.comment,
        "status": {"state": s.state(now).as_str()},
    })
}

pub fn run_ack(cli: &Cli, args: &AckArgs) -> Result<Outcome, Failure> {
    let config = load_config_with(cli, References::Deferred)?;
    let path = &config.state.path;
    let AckCommand::Ls { json } = &args.command;
    let acks = match path.exists() {
        true => StateStore::open(path)
            .and_then(|store| store.acks())
            .map_err(Failure::failed)?,
        false => Vec::new(),
    };
    if *json {
        let list: Vec<_> = acks
            .iter()
            .map(|a| json!({"group_key": a.group_key, "acked_by": a.acked_by, "acked_at": a.acked_at.to_string()}))
            .collect();
        outln!("{}", serde_json::Value::Array(list));
        return Ok(Outcome::Done);
    }
    let rows: Vec<[String; 3]> = acks
        .iter()
        .map(|a| {
            [
                short_time(a.acked_at),
                terminal(&a.acked_by),
                terminal(&a.group_key),
            ]
        })
        .collect();
    print_table(["ACKED AT", "ACKED BY", "GROUP"], &rows);
    Ok(Outcome::Done)
}

/// Text people or databases wrote, on one terminal line with no escape sequences.
fn terminal(text: &str) -> String {
    crate::render::text::clean(text).replace(['\n', '\t'], " ")
}
