//! `dbalert status`: the alerts firing now, from the state file.

use std::collections::HashMap;

use clap::Args;
use jiff::Timestamp;
use serde_json::json;

use super::{Cli, Failure, Outcome, load_config};
use crate::alert::Labels;
use crate::route::{Inhibitor, group_key};
use crate::settings::Config;
use crate::state::{AlertRecord, StateError, StateStore};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One JSON document for scripts instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, args: &StatusArgs) -> Result<Outcome, Failure> {
    let config = load_config(cli)?;
    let path = &config.state.path;
    let now = jiff::Timestamp::now();
    let (mut firing, muting) = read(path, now).map_err(Failure::failed)?;
    firing.sort_by(|a, b| (&a.check, a.starts_at).cmp(&(&b.check, b.starts_at)));
    let states = states(&config, &firing, &muting, now);
    if args.json {
        let alerts: Vec<_> = (firing.iter().zip(&states))
            .map(|(a, state)| {
                json!({
                    "fingerprint": a.fingerprint,
                    "check": &*a.check,
                    "state": state.name(),
                    "inhibited": state.inhibited,
                    "silenced_by": state.silenced_by,
                    "acked_by": state.acked_by,
                    "labels": a.labels.parse(),
                    "annotations": a.annotations.parse(),
                    "since": a.starts_at.to_string(),
                    "last_notified": a.last_notified_at.map(|t| t.to_string()),
                    "receivers": receivers(&config, a),
                })
            })
            .collect();
        outln!("{}", json!({"state_file": path, "firing": alerts}));
        return Ok(Outcome::Done);
    }
    if firing.is_empty() {
        outln!("no alerts firing (state file {})", path.display());
        return Ok(Outcome::Done);
    }
    let rows: Vec<[String; 6]> = (firing.iter().zip(&states))
        .map(|(a, state)| row(&config, a, state))
        .collect();
    let header = [
        "CHECK",
        "STATE",
        "SINCE",
        "LAST NOTIFIED",
        "RECEIVERS",
        "LABELS",
    ];
    print_table(header, &rows);
    Ok(Outcome::Done)
}

/// How each of `firing` is muted now. Inhibition is worked out from what fires now, as
/// Alertmanager's API does: it changes whenever a source alert fires or resolves.
fn states(config: &Config, firing: &[AlertRecord], muting: &Muting, now: Timestamp) -> Vec<Muted> {
    let labels: Vec<Labels> = firing.iter().map(|a| a.labels.parse()).collect();
    let inhibitor = Inhibitor::new(&config.inhibit_rules, &labels);
    let acked_by = |l: &Labels| {
        let route = config.route.as_ref()?;
        let nodes = route.resolve(l);
        nodes
            .iter()
            .find_map(|n| muting.acks.get(&group_key(n, l)).cloned())
    };
    labels
        .iter()
        .map(|l| Muted {
            inhibited: inhibitor.mutes(l),
            silenced_by: (muting.silences.iter())
                .filter(|s| s.mutes(l, now))
                .map(|s| s.id.clone())
                .collect(),
            acked_by: acked_by(l),
        })
        .collect()
}

/// The receivers `alert` is routed to.
fn receivers(config: &Config, alert: &AlertRecord) -> Vec<String> {
    let Some(route) = &config.route else {
        return Vec::new();
    };
    let nodes = route.resolve(&alert.labels.parse());
    nodes.iter().map(|n| n.opts.receiver.0.clone()).collect()
}

/// One alert as a table row.
fn row(config: &Config, alert: &AlertRecord, state: &Muted) -> [String; 6] {
    let all_labels = alert.labels.parse();
    let labels: Vec<String> = all_labels
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "alertname" | "source"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    // Database text on a terminal: no escape sequences, one line per alert.
    let labels = crate::render::text::clean(&labels.join(" ")).replace(['\n', '\t'], " ");
    let source = all_labels.get("source").map_or("", String::as_str);
    [
        format!("{}@{source}", alert.check),
        state.name().to_owned(),
        short_time(alert.starts_at),
        (alert.last_notified_at).map_or_else(|| "never".to_owned(), short_time),
        receivers(config, alert).join(","),
        labels,
    ]
}

/// The silences active now and the acknowledged groups (by key, with who acked).
struct Muting {
    silences: Vec<crate::route::Silence>,
    acks: HashMap<String, String>,
}

/// The firing alerts and what mutes them, from the state file (nothing when it does not exist).
fn read(
    path: &std::path::Path,
    now: jiff::Timestamp,
) -> Result<(Vec<AlertRecord>, Muting), StateError> {
    let mut muting = Muting {
        silences: Vec::new(),
        acks: HashMap::new(),
    };
    if !path.exists() {
        return Ok((Vec::new(), muting));
    }
    let store = StateStore::open(path)?;
    store.check_integrity()?;
    let mut firing = store.alerts()?;
    firing.retain(|a| a.resolved_at.is_none());
    muting.silences = store.active_silences(now)?;
    muting.acks = (store.acks()?.into_iter())
        .map(|a| (a.group_key, a.acked_by))
        .collect();
    Ok((firing, muting))
}

/// Why a firing alert is not notified, if it is not.
struct Muted {
    inhibited: bool,
    /// The ids of the silences that mute it.
    silenced_by: Vec<String>,
    /// Who acknowledged its group.
    acked_by: Option<String>,
}

impl Muted {
    /// Its STATE: a silence or an inhibit rule mutes it; an acknowledgement only stops repeats.
    fn name(&self) -> &'static str {
        match self {
            Self {
                inhibited: true, ..
            } => "inhibited",
            _ if !self.silenced_by.is_empty() => "silenced",
            Self {
                acked_by: Some(_), ..
            } => "acked",
            _ => "firing",
        }
    }
}

pub(super) fn short_time(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// Columns padded to their widest cell; the last column is not padded.
pub(super) fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        outln!("{}", text.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
