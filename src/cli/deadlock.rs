//! `dbalert deadlock [--json] FILE…`: what `deadlock_trace` reads in Oracle trace files, for a
//! DBA handed a `.trc` file. No config, no database: the parser of
//! [`crate::source::oracle::trace`], built with or without the `oracle` feature.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::{Value as Json, json};

use super::{Cli, Failure, Outcome};
use crate::source::oracle::trace::{self, Deadlock, Holder, LABELS, Layout, SessionInfo};

#[derive(Debug, Args)]
pub struct DeadlockArgs {
    /// One JSON object per file and line, `{"file": …, "deadlock": true|false, "labels": {…}}`,
    /// with exactly the labels `deadlock_trace` adds to an alert.
    #[arg(long)]
    pub json: bool,
    /// Trace files (`…_ora_1234.trc`, `…_lmd0_5678.trc`); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Exit 0 when every file held a deadlock, 1 when one did not, 2 when one could not be read.
pub fn run(_cli: &Cli, args: &DeadlockArgs) -> Result<Outcome, Failure> {
    let mut outcome = Outcome::Done;
    for file in &args.files {
        let shown = file.to_string_lossy();
        let text = match read(file) {
            Ok(text) => text,
            Err(error) => {
                let _ = writeln!(io::stderr(), "dbalert: error: {shown}: {error:#}");
                outcome = Outcome::Unreadable;
                continue;
            }
        };
        let deadlock = trace::parse_deadlock(&text);
        if deadlock.is_none() && outcome == Outcome::Done {
            outcome = Outcome::No;
        }
        if args.json {
            // Written by hand to keep the keys in this order.
            let labels = deadlock.as_ref().map(Deadlock::labels).unwrap_or_default();
            outln!(
                r#"{{"file":{},"deadlock":{},"labels":{}}}"#,
                Json::from(shown.as_ref()),
                deadlock.is_some(),
                json!(labels)
            );
        } else {
            out!("{}", summary(&shown, deadlock.as_ref()));
        }
    }
    Ok(outcome)
}

/// The file's text; `-` is standard input. Bytes that are not UTF-8 (a trace can hold SQL in
/// another character set) become U+FFFD.
fn read(file: &PathBuf) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    if file.as_os_str() == "-" {
        io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        bytes = std::fs::read(file).context("cannot read the file")?;
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The readable report of one file: who waited on whom, the sessions (users, programs, SQL,
/// objects), then the labels an alert would carry.
fn summary(file: &str, deadlock: Option<&Deadlock>) -> String {
    let Some(deadlock) = deadlock else {
        return format!(
            "{file}: no deadlock (no deadlock graph, RAC wait-for graph or `user session for deadlock lock` block)\n\n"
        );
    };
    let mut text = headline(file, deadlock);
    let waits = waits(deadlock);
    if !waits.is_empty() {
        text.push_str("  waits:\n");
        for line in waits {
            text.push_str(&format!("    {line}\n"));
        }
    }
    if !deadlock.sessions.is_empty() {
        text.push_str("  sessions:\n");
        for session in &deadlock.sessions {
            text.push_str(&session_lines(deadlock, session));
        }
    }
    for sql in &deadlock.unattributed_sql {
        let sql = one_line(sql);
        text.push_str(&format!(
            "  sql of a session the trace does not name: {sql}\n"
        ));
    }
    let labels = deadlock.labels();
    if !labels.is_empty() {
        text.push_str("  labels:\n");
        for name in LABELS {
            if let Some(value) = labels.get(name) {
                text.push_str(&format!("    {name}={value}\n"));
            }
        }
    }
    text.push('\n');
    text
}

/// `FILE: KIND, N sessions[, ITL]`.
fn headline(file: &str, deadlock: &Deadlock) -> String {
    let kind = match deadlock.layout {
        Layout::Local => "deadlock (ORA-00060)".to_owned(),
        Layout::Global => match &deadlock.ges_id {
            Some(id) => format!("RAC global deadlock, GES Deadlock ID {id}"),
            None => "RAC global deadlock".to_owned(),
        },
    };
    let sessions = match deadlock.sessions.len() {
        0 => "no session described".to_owned(),
        1 => "1 session".to_owned(),
        n => format!("{n} sessions"),
    };
    let itl = match deadlock.itl {
        true => ", a session waited for an ITL slot (enq: TX - allocate ITL entry)",
        false => "",
    };
    format!("{file}: {kind}, {sessions}{itl}\n")
}

/// Who waited on whom, a line per waiter (or per resource nobody is said to wait for).
fn waits(deadlock: &Deadlock) -> Vec<String> {
    let mut lines = Vec::new();
    for resource in &deadlock.resources {
        let blockers: Vec<String> = resource
            .blockers
            .iter()
            .map(|b| {
                let mode = b.holds.as_deref().map(|m| format!(" in {m}"));
                format!("{}{}", who(deadlock, b), mode.unwrap_or_default())
            })
            .collect();
        let held = match blockers.is_empty() {
            true => String::new(),
            false => format!(" held by {}", blockers.join(", ")),
        };
        for waiter in &resource.waiters {
            let mode = waiter.waits.as_deref().map(|m| format!("{m} on "));
            let (waiter, mode) = (who(deadlock, waiter), mode.unwrap_or_default());
            lines.push(format!("{waiter} waits for {mode}{}{held}", resource.name));
        }
        if resource.waiters.is_empty() {
            lines.push(format!("{}{held}", resource.name));
        }
    }
    lines
}

/// One session: who it is, its SQL, and the row it waited for.
fn session_lines(deadlock: &Deadlock, session: &SessionInfo) -> String {
    let mut text = format!("    {}\n", describe(deadlock, session));
    if let Some(sql) = &session.current_sql {
        text.push_str(&format!("      sql: {}\n", one_line(sql)));
    }
    if let Some(object) = &session.object {
        let parts: Vec<String> = [
            object.object_id.map(|id| format!("object {id}")),
            object.data_object_id.map(|id| format!("data object {id}")),
            object.rowid.as_ref().map(|rowid| format!("rowid {rowid}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !parts.is_empty() {
            text.push_str(&format!("      row waited for: {}\n", parts.join(", ")));
        }
    }
    text
}

/// A side of a wait, as short as the trace allows: `session 136 (TEST)`, `lock 0x5d442804 on
/// instance 3`.
fn who(deadlock: &Deadlock, holder: &Holder) -> String {
    let session = deadlock.session_of(holder);
    let sid = holder.session.or(session.and_then(|s| s.sid));
    let mut text = match (sid, &holder.lock) {
        (Some(sid), _) => format!("session {sid}"),
        (None, Some(lock)) => format!("lock {lock}"),
        (None, None) => "a session".to_owned(),
    };
    if let Some(instance) = holder.instance {
        text.push_str(&format!(" on instance {instance}"));
    }
    if let Some(user) = session.and_then(|s| s.user.as_deref()) {
        text.push_str(&format!(" ({user})"));
    }
    text
}

/// One session's line: ids, user, PDB, program, module.
fn describe(deadlock: &Deadlock, session: &SessionInfo) -> String {
    let mut parts = Vec::new();
    match session.sid {
        Some(sid) => parts.push(format!("session {sid}")),
        None => parts.push("session (sid not printed)".to_owned()),
    }
    if let Some(serial) = session.serial {
        parts.push(format!("serial {serial}"));
    }
    if let Some(process) = session.process {
        parts.push(format!("process {process}"));
    }
    if let Some(instance) = session.instance {
        parts.push(format!("instance {instance}"));
    }
    if let Some(lock) = &session.lock {
        parts.push(format!("lock {lock}"));
    }
    let mut fields = Vec::new();
    for (name, value) in [
        ("user", &session.user),
        ("pdb", &session.pdb),
        ("program", &session.program),
        ("module", &session.application),
        ("sql_id", &session.sql_id),
    ] {
        if let Some(value) = value {
            fields.push(format!("{name} {value}"));
        }
    }
    let mut line = parts.join(", ");
    if !fields.is_empty() {
        line.push_str(": ");
        line.push_str(&fields.join(", "));
    }
    if session.this_session {
        line.push_str(match deadlock.layout {
            Layout::Local => " [got ORA-00060]",
            Layout::Global => " [the victim]",
        });
    }
    line
}

fn one_line(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}
