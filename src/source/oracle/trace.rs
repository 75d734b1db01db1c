//! Oracle deadlock traces: find the trace file an ORA-00060 alert-log line names, and parse the
//! deadlock graph in it into the sessions, schema users, programs, SQL and objects involved, so
//! that a deadlock alert can carry routing labels (`deadlock_users=TEST,ORDERS`, ...).
//!
//! This module is pure text processing: it does not talk to Oracle. A check opts in with
//! `deadlock_trace: true`; after its query, the Oracle source reads the trace text of each row
//! ([`TRACE_SQL`], on `V$DIAG_TRACE_FILE_CONTENTS`, 12.2 and later, granted by
//! `sql/oracle/01_user.sql`) and [`add_labels`] parses it with [`parse_deadlock`] and adds the
//! labels as columns of the row.
//!
//! # Formats handled
//!
//! - **Alert-log line** ([`trace_file`]): the 19c text `ORA-00060: Deadlock detected. See Note 60.1
//!   at My Oracle Support for Troubleshooting ORA-60 Errors. More info in file /…/X_ora_4562.trc.`,
//!   the 11g text without the Note 60.1 sentence, and the RAC `Global Enqueue Services Deadlock
//!   detected. More info in file …` line. The path is the first word after `More info in file `,
//!   without the final full stop (the `More info in file (\S+?)\.?$` of the notes).
//! - **12c+/19c trace** (`Deadlock graph:` with a `serial` column, then `----- Information for
//!   waiting sessions -----` with one `Session N:` block per session: `sid: N ser: N audsid: N
//!   user: 107/TEST`, `pdb: 1/CDB$ROOT`, `… program: …`, `application name: …, hash value=…`,
//!   `current SQL:` followed by the statement).
//! - **10g/11g trace** (graph without `serial`, `session N: DID …` lines, `Rows waited on:` with
//!   `obj - rowid = <hex> - <rowid>` and `(dictionary objn - N, …)` or `no row`, then `-----
//!   Information for the OTHER waiting session(s) -----` and `Information for THIS session:` with
//!   `----- Current SQL Statement for this session (sql_id=…) -----`), and the 8i/9i form
//!   `*** SESSION ID:(8.3883) …` / `Current SQL statement for this session:` shown on AskTom
//!   (<http://asktom.oracle.com/pls/asktom/f?p=100:11:0::::P11_QUESTION_ID:1528515465282>).
//! - Any number of resources (TX, TM, …) and of sessions; `\r\n` line ends; a graph header whose
//!   first column is `instId` instead of `process`.
//!
//! The layouts come from Oracle's documented trace format and from the public samples kept in
//! `tests/fixtures/oracle/` (their `README.md` says where each came from).
//!
//! # Reading the graph
//!
//! A graph row is `NAME  <blocker columns>  <waiter columns>`, the columns being those the
//! `Resource Name` header lists twice (`process session holds waits [serial]`). Rows are split
//! on whitespace; a `holds`/`waits` cell may be blank, so when only one lock mode is printed
//! for a side it is taken as what a blocker *holds* or what a waiter *waits* for, which is what
//! a deadlock graph shows.
//!
//! A trace file can hold several deadlocks (one process's trace grows over its life): only the
//! last `DEADLOCK DETECTED` section is parsed, since the alert line points at the newest one.
//! Malformed or unrelated text gives `None`; nothing here panics.

use std::collections::{BTreeMap, BTreeSet};

use crate::source::{Rows, Value};

/// Longest value, in characters, of a label made by [`Deadlock::labels`].
pub const MAX_LABEL_CHARS: usize = 300;

/// The text of one trace file, line by line, as `V$DIAG_TRACE_FILE_CONTENTS` (12.2+) shows it:
/// `:trace_filename` is the file's name without its directory; `:adr_home`, when the check's
/// query returns one, picks the ADR home (NULL: any). Lines come in file order: the view reads
/// the file and the query sorts nothing (unverified on a real database; the live suite
/// checks the labels it yields). Capped at [`MAX_TRACE_LINES`], since a process's trace grows
/// over its life; a trace that reaches the cap is not parsed.
pub const TRACE_SQL: &str = "\
select payload
  from v$diag_trace_file_contents
 where trace_filename = :trace_filename
   and (:adr_home is null or adr_home = :adr_home)
 fetch first 200000 rows only";

/// The row limit of [`TRACE_SQL`].
pub const MAX_TRACE_LINES: usize = 200_000;

/// The most trace files read for one run of a check; the rest are sent without their labels.
pub const MAX_TRACES_PER_RUN: usize = 20;

/// Why a trace could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceError {
    /// The view cannot be read at all (before 12.2, or not granted): no trace will be.
    Unavailable(String),
    /// This one trace could not be read.
    Failed(String),
}

/// Adds the [`Deadlock::labels`] of each row's trace as columns (`deadlock_users`, …), for a
/// check with `deadlock_trace: true`. A row names its trace in `trace_file` (a path, a bare
/// name, or the whole ORA-00060 message) and may give `adr_home`; `read(adr_home, name)`
/// returns the trace's text. Nothing here fails the check: a row whose trace cannot be read,
/// or holds no deadlock, keeps its other labels, and each problem is returned as a warning.
/// Columns the query already returns are left as they are.
pub fn add_labels(
    rows: &mut Rows,
    mut read: impl FnMut(Option<&str>, &str) -> Result<String, TraceError>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let Some(file_column) = rows.column("trace_file") else {
        warnings.push(
            "deadlock_trace is set but the query returns no `trace_file` column (the trace path of the ORA-00060 line)".to_owned(),
        );
        return warnings;
    };
    let home_column = rows.column("adr_home");
    let mut per_row: Vec<BTreeMap<String, String>> = Vec::with_capacity(rows.rows.len());
    let mut read_count = 0;
    let mut unavailable = false;
    for row in &rows.rows {
        let mut labels = BTreeMap::new();
        let named = match &row[file_column] {
            Value::Text(text) => Some(trace_file(text).unwrap_or(text).trim()),
            _ => None,
        };
        let name = named
            .and_then(|path| path.rsplit(['/', '\\']).next())
            .filter(|name| !name.is_empty());
        if let (Some(name), false) = (name, unavailable) {
            if read_count == MAX_TRACES_PER_RUN {
                warnings.push(format!(
                    "more than {MAX_TRACES_PER_RUN} deadlock traces in one run; {name} and later ones are not read"
                ));
                unavailable = true;
            } else {
                read_count += 1;
                let home = home_column.and_then(|i| match &row[i] {
                    Value::Text(home) => Some(home.as_str()),
                    _ => None,
                });
                match read(home, name) {
                    Ok(text) if text.trim().is_empty() => warnings.push(format!(
                        "trace file {name} is not in V$DIAG_TRACE_FILE_CONTENTS (purged, or written by another RAC instance)"
                    )),
                    Ok(text) => match parse_deadlock(&text) {
                        Some(deadlock) => labels = deadlock.labels(),
                        None => warnings.push(format!("trace file {name} holds no deadlock graph")),
                    },
                    Err(TraceError::Failed(error)) => {
                        warnings.push(format!("trace file {name} cannot be read: {error}"));
                    }
                    Err(TraceError::Unavailable(error)) => {
                        warnings.push(error);
                        unavailable = true;
                    }
                }
            }
        }
        per_row.push(labels);
    }
    let new_columns: Vec<String> = per_row
        .iter()
        .flat_map(|labels| labels.keys())
        .filter(|name| rows.column(name).is_none())
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for (row, mut labels) in rows.rows.iter_mut().zip(per_row) {
        row.extend(new_columns.iter().map(|name| match labels.remove(name) {
            Some(value) => Value::text(value),
            None => Value::Null,
        }));
    }
    rows.columns.extend(new_columns);
    warnings
}

/// The trace file named by an ORA-00060 (or RAC "Global Enqueue Services Deadlock detected")
/// alert-log message, e.g. `/opt/oracle/diag/rdbms/orclcdb/ORCLCDB/trace/ORCLCDB_ora_4562.trc`.
///
/// `None` when the message is not a deadlock message or names no file.
pub fn trace_file(message_text: &str) -> Option<&str> {
    const MARKER: &str = "More info in file";
    let is_deadlock = message_text.contains("ORA-00060")
        || message_text
            .to_ascii_lowercase()
            .contains("deadlock detected");
    if !is_deadlock {
        return None;
    }
    let start = message_text.find(MARKER)? + MARKER.len();
    let path = message_text[start..].split_whitespace().next()?;
    let path = path.strip_suffix('.').unwrap_or(path);
    (!path.is_empty()).then_some(path)
}

/// One deadlock as the trace file describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deadlock {
    /// The rows of the deadlock graph, in trace order.
    pub resources: Vec<Resource>,
    /// Every session involved: first those with an information block (in trace order), then
    /// the other sessions of the graph, of which often only the sid and serial are known.
    pub sessions: Vec<SessionInfo>,
    /// SQL printed for a session the trace does not identify (e.g. an elided session block);
    /// it still goes into the `deadlock_sql` label.
    pub unattributed_sql: Vec<String>,
}

/// One row of the deadlock graph: a lock resource with who holds it and who waits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The lock name as printed, e.g. `TX-00030013-000003CD-00000001-00000000` or
    /// `TM-000151a2-00000000`.
    pub name: String,
    /// The sessions holding the resource (the "Blocker(s)" side).
    pub blockers: Vec<Holder>,
    /// The sessions waiting for it (the "Waiter(s)" side).
    pub waiters: Vec<Holder>,
}

impl Resource {
    /// The lock type, e.g. `TX` (row/transaction) or `TM` (table).
    pub fn kind(&self) -> &str {
        self.name.split('-').next().unwrap_or_default()
    }

    /// For a `TM` lock, the table's object id (`DBA_OBJECTS.OBJECT_ID`), which is the first
    /// hexadecimal part of the name (`TM-000151a2-…` is object 86434).
    pub fn table_object_id(&self) -> Option<u64> {
        if self.kind() != "TM" {
            return None;
        }
        let id = self.name.split('-').nth(1)?;
        u64::from_str_radix(id, 16).ok()
    }
}

/// One side of a graph row: a session holding or waiting for the resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    /// Oracle process number (`V$PROCESS.PID`), when the graph has a `process` column.
    pub process: Option<u32>,
    /// RAC instance number, when the graph has an `instId` column instead.
    pub instance: Option<u32>,
    /// Session id (`V$SESSION.SID`).
    pub session: u32,
    /// Lock mode held (`X`, `S`, `SX`, `SSX`, …), if printed.
    pub holds: Option<String>,
    /// Lock mode waited for, if printed.
    pub waits: Option<String>,
    /// Session serial number, when the graph has a `serial` column (12c and later).
    pub serial: Option<u32>,
}

/// What the trace says about one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// Session id.
    pub sid: u32,
    /// Session serial number, from the session block or the graph.
    pub serial: Option<u32>,
    /// Database (schema) user, from `user: 107/TEST` (the number is dropped).
    pub user: Option<String>,
    /// Pluggable database, from `pdb: 3/APP1` (the container id is dropped).
    pub pdb: Option<String>,
    /// Client program, from `program: …`.
    pub program: Option<String>,
    /// Module, from `application name: …, hash value=…`.
    pub application: Option<String>,
    /// The statement the session was running, lines joined with single spaces.
    pub current_sql: Option<String>,
    /// The SQL id, when printed (only for "this session" in 10g/11g traces).
    pub sql_id: Option<String>,
    /// The row the session waited for, from `Rows waited on:` (10g/11g traces).
    pub object: Option<RowWait>,
    /// Whether this is the session that got ORA-00060 (the one that wrote the trace), when
    /// the trace says so.
    pub this_session: bool,
}

/// The row a session waited for (`Session 272: obj - rowid = 004C5C56 - AATFxW…` followed by
/// `(dictionary objn - 5004374, file - …)`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowWait {
    /// The object number printed in hexadecimal before the rowid, as a number.
    pub data_object_id: Option<u64>,
    /// The dictionary object number (`DBA_OBJECTS.OBJECT_ID`), when printed.
    pub object_id: Option<u64>,
    /// The rowid waited for.
    pub rowid: Option<String>,
}

impl Deadlock {
    /// The distinct schema users involved, in the order the trace shows them.
    pub fn users(&self) -> Vec<String> {
        distinct(self.sessions.iter().filter_map(|s| s.user.clone()))
    }

    /// Routing labels for the alert; a label is left out when the trace has nothing for it.
    ///
    /// - `deadlock_users`: distinct schema users, comma-separated (`TEST,ORDERS`);
    /// - `deadlock_sessions`: the sids (`136,254`);
    /// - `deadlock_resources`: the distinct lock names;
    /// - `deadlock_pdbs`, `deadlock_programs`: distinct PDB names and client programs;
    /// - `deadlock_object_ids`: table object ids of TM locks and dictionary object numbers of
    ///   the rows waited for;
    /// - `deadlock_sql`: the distinct statements, whitespace collapsed, joined with ` | `.
    ///
    /// Every value is cut to [`MAX_LABEL_CHARS`] characters (ending in `…` when cut).
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        let mut put = |key: &str, values: Vec<String>, separator: &str| {
            if !values.is_empty() {
                labels.insert(key.to_owned(), cut(&values.join(separator)));
            }
        };
        put("deadlock_users", self.users(), ",");
        put(
            "deadlock_sessions",
            distinct(self.sessions.iter().map(|s| s.sid.to_string())),
            ",",
        );
        put(
            "deadlock_resources",
            distinct(self.resources.iter().map(|r| r.name.clone())),
            ",",
        );
        put(
            "deadlock_pdbs",
            distinct(self.sessions.iter().filter_map(|s| s.pdb.clone())),
            ",",
        );
        put(
            "deadlock_programs",
            distinct(self.sessions.iter().filter_map(|s| s.program.clone())),
            ",",
        );
        let objects = self
            .resources
            .iter()
            .filter_map(Resource::table_object_id)
            .chain(
                self.sessions
                    .iter()
                    .filter_map(|s| s.object.as_ref().and_then(|o| o.object_id)),
            );
        put(
            "deadlock_object_ids",
            distinct(objects.map(|id| id.to_string())),
            ",",
        );
        let sql = self
            .sessions
            .iter()
            .filter_map(|s| s.current_sql.as_deref())
            .chain(self.unattributed_sql.iter().map(String::as_str))
            .map(|sql| sql.split_whitespace().collect::<Vec<_>>().join(" "));
        put("deadlock_sql", distinct(sql), " | ");
        labels
    }
}

/// Parses the last deadlock in a trace file's text. `None` when the text holds no deadlock
/// graph and no session information.
pub fn parse_deadlock(trace: &str) -> Option<Deadlock> {
    let start = trace.rfind("DEADLOCK DETECTED").unwrap_or(0);
    let this_session_id = trace[..start]
        .rfind("*** SESSION ID:(")
        .and_then(|at| session_id(&trace[at..]))
        .or_else(|| session_id(trace.get(start..).unwrap_or_default()));
    let lines: Vec<&str> = trace[start..]
        .lines()
        .map(|line| line.trim_end_matches('\r'))
        .collect();

    let mut parser = Parser::default();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if line.starts_with("Resource Name") {
            i = parser.graph(line, &lines, i);
        } else if line == "Rows waited on:" {
            i = parser.rows_waited_on(&lines, i);
        } else if line.starts_with("----- Information for") && !line.contains("THIS session") {
            i = parser.session_blocks(&lines, i);
        } else if is_this_session_sql(line) {
            let sql_id = line
                .split("sql_id=")
                .nth(1)
                .and_then(|rest| rest.split(')').next())
                .map(str::to_owned);
            let (sql, next) = statement(line_after_colon(line), &lines, i);
            parser.this_sql = sql.map(|sql| (sql, sql_id));
            i = next;
        }
    }
    parser.finish(this_session_id)
}

/// What the parser has collected so far.
#[derive(Default)]
struct Parser {
    resources: Vec<Resource>,
    sessions: Vec<SessionInfo>,
    row_waits: Vec<(u32, RowWait)>,
    unattributed_sql: Vec<String>,
    this_sql: Option<(String, Option<String>)>,
}

impl Parser {
    /// Reads graph rows after the `Resource Name …` header; returns the next line index.
    fn graph(&mut self, header: &str, lines: &[&str], mut i: usize) -> usize {
        let columns: Vec<String> = header
            .trim_start_matches("Resource Name")
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        let half = columns.len() / 2;
        let side: Vec<&str> = if half > 0 && columns[..half] == columns[half..] {
            columns[..half].iter().map(String::as_str).collect()
        } else {
            vec!["process", "session", "holds", "waits"]
        };
        while let Some(line) = lines.get(i) {
            let mut tokens = line.split_whitespace().peekable();
            let Some(name) = tokens.next().filter(|name| is_resource_name(name)) else {
                break;
            };
            let blocker = holder(&mut tokens, &side, false);
            let waiter = holder(&mut tokens, &side, true);
            if blocker.is_none() && waiter.is_none() {
                break;
            }
            self.resources.push(Resource {
                name: name.to_owned(),
                blockers: blocker.into_iter().collect(),
                waiters: waiter.into_iter().collect(),
            });
            i += 1;
        }
        i
    }

    /// Reads `Session N: obj - rowid = … ` lines after `Rows waited on:`.
    fn rows_waited_on(&mut self, lines: &[&str], mut i: usize) -> usize {
        while let Some(line) = lines.get(i) {
            let line = line.trim();
            if line.is_empty() || line.starts_with("-----") {
                break;
            }
            i += 1;
            if let Some(objn) = line.strip_prefix("(dictionary objn -") {
                let objn = objn.split(',').next().and_then(|n| n.trim().parse().ok());
                if let Some((_, wait)) = self.row_waits.last_mut() {
                    wait.object_id = objn;
                }
                continue;
            }
            let Some((sid, rest)) = session_prefix(line) else {
                continue;
            };
            let Some(rowid) = rest
                .split_once("rowid =")
                .or_else(|| rest.split_once("rowid="))
            else {
                continue;
            };
            let mut parts = rowid.1.split(['-', '.']).map(str::trim);
            let data_object_id = parts
                .next()
                .and_then(|hex| u64::from_str_radix(hex, 16).ok());
            let rowid = parts.next().filter(|r| !r.is_empty()).map(str::to_owned);
            self.row_waits.push((
                sid,
                RowWait {
                    data_object_id,
                    object_id: None,
                    rowid,
                },
            ));
        }
        i
    }

    /// Reads `Session N:` blocks up to the end of an "Information for … sessions" section.
    fn session_blocks(&mut self, lines: &[&str], mut i: usize) -> usize {
        let mut current: Option<SessionInfo> = None;
        while let Some(raw) = lines.get(i) {
            let line = raw.trim();
            if line.starts_with("-----") || line.starts_with("Information for THIS session") {
                break;
            }
            i += 1;
            if let Some(sid) = session_header(line) {
                self.sessions.extend(current.take());
                current = Some(SessionInfo {
                    sid,
                    ..SessionInfo::default()
                });
                continue;
            }
            if line.eq_ignore_ascii_case("current SQL:") {
                let (sql, next) = statement("", lines, i);
                i = next;
                match (current.as_mut(), sql) {
                    (Some(session), sql) => session.current_sql = sql,
                    (None, Some(sql)) => self.unattributed_sql.push(sql),
                    (None, None) => {}
                }
                continue;
            }
            let Some(session) = current.as_mut() else {
                continue;
            };
            if line.starts_with("sid:") {
                let tokens: Vec<&str> = line.split_whitespace().collect();
                for pair in tokens.windows(2) {
                    match pair[0].to_ascii_lowercase().as_str() {
                        "ser:" | "serial:" => session.serial = pair[1].parse().ok(),
                        "user:" => session.user = Some(without_id(pair[1]).to_owned()),
                        _ => {}
                    }
                }
            } else if let Some(pdb) = line.strip_prefix("pdb:") {
                session.pdb = non_empty(without_id(pdb.trim()));
            } else if let Some(app) = line.strip_prefix("application name:") {
                let app = app.split(", hash value=").next().unwrap_or_default();
                session.application = non_empty(app.trim());
            } else if let Some((_, program)) = line.split_once("program:")
                && session.program.is_none()
            {
                session.program = non_empty(program.trim());
            }
        }
        self.sessions.extend(current);
        i
    }

    /// Puts the pieces together: graph sessions without a block, row waits, this session's SQL.
    fn finish(mut self, this_session_id: Option<(u32, Option<u32>)>) -> Option<Deadlock> {
        let described: Vec<u32> = self.sessions.iter().map(|s| s.sid).collect();
        let graph_sessions = self
            .resources
            .iter()
            .flat_map(|r| r.blockers.iter().chain(&r.waiters))
            .map(|h| (h.session, h.serial));
        for (sid, serial) in graph_sessions {
            if !self.sessions.iter().any(|s| s.sid == sid) {
                self.sessions.push(SessionInfo {
                    sid,
                    serial,
                    ..SessionInfo::default()
                });
            }
        }
        if let Some((sid, serial)) = this_session_id
            && !self.sessions.iter().any(|s| s.sid == sid)
        {
            self.sessions.push(SessionInfo {
                sid,
                serial,
                ..SessionInfo::default()
            });
        }
        for (sid, wait) in self.row_waits {
            if let Some(session) = self.sessions.iter_mut().find(|s| s.sid == sid) {
                session.object = Some(wait);
            }
        }
        // "This session" is the one the trace names, or else the only one without a block.
        let this_sid = this_session_id.map(|(sid, _)| sid).or_else(|| {
            let mut others = self.sessions.iter().filter(|s| !described.contains(&s.sid));
            match (others.next(), others.next()) {
                (Some(only), None) if !described.is_empty() => Some(only.sid),
                _ => None,
            }
        });
        let this = this_sid.and_then(|sid| self.sessions.iter_mut().find(|s| s.sid == sid));
        match (this, self.this_sql) {
            (Some(session), sql) => {
                session.this_session = true;
                if let Some((sql, sql_id)) = sql {
                    session.current_sql.get_or_insert(sql);
                    session.sql_id = sql_id;
                }
            }
            (None, Some((sql, _))) => self.unattributed_sql.push(sql),
            (None, None) => {}
        }
        if self.resources.is_empty() && self.sessions.is_empty() {
            return None;
        }
        Some(Deadlock {
            resources: self.resources,
            sessions: self.sessions,
            unattributed_sql: self.unattributed_sql,
        })
    }
}

/// Reads one side of a graph row following the column names of the header.
fn holder<'a>(
    tokens: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
    columns: &[&str],
    waiter: bool,
) -> Option<Holder> {
    let mut holder = Holder::default();
    let mut session = None;
    for column in columns {
        match *column {
            "holds" => {
                let mut modes = Vec::new();
                while modes.len() < 2 {
                    match tokens.next_if(|t| t.parse::<u64>().is_err()) {
                        Some(mode) => modes.push(mode.to_owned()),
                        None => break,
                    }
                }
                let mut modes = modes.into_iter();
                match (modes.next(), modes.next()) {
                    (Some(holds), Some(waits)) => {
                        holder.holds = Some(holds);
                        holder.waits = Some(waits);
                    }
                    (Some(mode), None) if waiter => holder.waits = Some(mode),
                    (Some(mode), None) => holder.holds = Some(mode),
                    _ => {}
                }
            }
            "waits" => {}
            numeric => {
                let value = tokens.next_if(|t| t.parse::<u32>().is_ok());
                let value = value.and_then(|t| t.parse::<u32>().ok());
                match numeric {
                    "session" => session = value,
                    "serial" => holder.serial = value,
                    "instid" => holder.instance = value,
                    _ => holder.process = value,
                }
            }
        }
    }
    holder.session = session?;
    Some(holder)
}

/// Collects a statement: `first` (text after a colon, possibly empty) and the following lines
/// up to a blank line or a section marker. Returns the statement and the next line index.
fn statement(first: &str, lines: &[&str], mut i: usize) -> (Option<String>, usize) {
    let mut parts: Vec<&str> = Vec::new();
    if !first.trim().is_empty() {
        parts.push(first.trim());
    }
    while let Some(line) = lines.get(i) {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with("-----")
            || line.starts_with("=====")
            || session_header(line).is_some()
        {
            break;
        }
        parts.push(line);
        i += 1;
    }
    (non_empty(&parts.join(" ")), i)
}

/// `----- Current SQL Statement for this session (sql_id=…) -----` or the older
/// `Current SQL statement for this session:`.
fn is_this_session_sql(line: &str) -> bool {
    line.trim_start_matches(['-', ' '])
        .to_ascii_lowercase()
        .starts_with("current sql statement for this session")
}

/// The text after the first colon of a `Current SQL statement for this session: …` line.
fn line_after_colon(line: &str) -> &str {
    if line.starts_with('-') {
        return "";
    }
    line.split_once(':')
        .map(|(_, rest)| rest)
        .unwrap_or_default()
}

/// `(sid, serial)` from `*** SESSION ID:(8.3883) …`.
fn session_id(text: &str) -> Option<(u32, Option<u32>)> {
    let rest = text.split_once("*** SESSION ID:(")?.1;
    let inside = rest.split(')').next()?;
    let (sid, serial) = inside.split_once('.').unwrap_or((inside, ""));
    Some((sid.trim().parse().ok()?, serial.trim().parse().ok()))
}

/// A `Session 136:` block header (the whole line).
fn session_header(line: &str) -> Option<u32> {
    match session_prefix(line) {
        Some((sid, "")) => Some(sid),
        _ => None,
    }
}

/// `Session 137: rest` (any case of "session") into `(137, "rest")`.
fn session_prefix(line: &str) -> Option<(u32, &str)> {
    let (head, rest) = line.split_once(':')?;
    let sid = head
        .strip_prefix("Session ")
        .or_else(|| head.strip_prefix("session "))
        .or_else(|| head.strip_prefix("SESSION "))?;
    Some((sid.trim().parse().ok()?, rest.trim()))
}

/// A lock name such as `TX-00030013-000003CD-00000001-00000000`.
fn is_resource_name(token: &str) -> bool {
    let mut parts = token.split('-');
    let kind = parts.next().unwrap_or_default();
    kind.len() == 2
        && kind.chars().all(|c| c.is_ascii_uppercase())
        && parts
            .next()
            .is_some_and(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `107/TEST` → `TEST`; `3/APP1` → `APP1`; `SYS` → `SYS`.
fn without_id(value: &str) -> &str {
    match value.split_once('/') {
        Some((id, name)) if id.chars().all(|c| c.is_ascii_digit()) => name,
        _ => value,
    }
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

fn distinct(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = Vec::new();
    for value in values {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen
}

/// Cuts a label value to [`MAX_LABEL_CHARS`] characters.
fn cut(value: &str) -> String {
    if value.chars().count() <= MAX_LABEL_CHARS {
        return value.to_owned();
    }
    let mut cut: String = value.chars().take(MAX_LABEL_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE_19C: &str = include_str!("../../../tests/fixtures/oracle/19c_tx_two_sessions.trc");
    const TRACE_19C_TWO_USERS: &str =
        include_str!("../../../tests/fixtures/oracle/19c_tx_tm_two_users_synthetic.trc");
    const TRACE_11G_TM: &str =
        include_str!("../../../tests/fixtures/oracle/11g_tm_other_session.trc");
    const TRACE_12C_ROWS: &str =
        include_str!("../../../tests/fixtures/oracle/12c_tx_rows_waited.trc");
    const TRACE_THREE: &str =
        include_str!("../../../tests/fixtures/oracle/tx_three_sessions_rows.trc");

    fn holder(
        process: u32,
        session: u32,
        holds: Option<&str>,
        waits: Option<&str>,
        serial: Option<u32>,
    ) -> Holder {
        Holder {
            process: Some(process),
            instance: None,
            session,
            holds: holds.map(str::to_owned),
            waits: waits.map(str::to_owned),
            serial,
        }
    }

    fn parse(trace: &str) -> Deadlock {
        parse_deadlock(trace).expect("the fixture holds a deadlock")
    }

    #[test]
    fn trace_file_from_19c_11g_and_rac_alert_lines() {
        let path = "/opt/oracle/diag/rdbms/orclcdb/ORCLCDB/trace/ORCLCDB_ora_4562.trc";
        let line_19c = format!(
            "ORA-00060: Deadlock detected. See Note 60.1 at My Oracle Support for Troubleshooting ORA-60 Errors. More info in file {path}."
        );
        assert_eq!(trace_file(&line_19c), Some(path));
        let line_11g = format!("ORA-00060: Deadlock detected. More info in file {path}.\r\n");
        assert_eq!(trace_file(&line_11g), Some(path));
        let rac = "Global Enqueue Services Deadlock detected. More info in file\n/u01/diag/rdbms/rac/RAC1/trace/RAC1_ora_3457040.trc.";
        assert_eq!(
            trace_file(rac),
            Some("/u01/diag/rdbms/rac/RAC1/trace/RAC1_ora_3457040.trc")
        );
        let no_dot = format!("PDB1(3):ORA-00060: Deadlock detected. More info in file {path}");
        assert_eq!(trace_file(&no_dot), Some(path));
    }

    #[test]
    fn trace_file_ignores_other_messages() {
        assert_eq!(trace_file(""), None);
        assert_eq!(trace_file("ORA-00060: Deadlock detected."), None);
        assert_eq!(trace_file("ORA-00060: More info in file "), None);
        assert_eq!(
            trace_file("ORA-01555: snapshot too old. More info in file /x/y.trc."),
            None
        );
    }

    #[test]
    fn parses_19c_graph_and_waiting_sessions() {
        let deadlock = parse(TRACE_19C);
        assert_eq!(
            deadlock.resources,
            vec![
                Resource {
                    name: "TX-00030013-000003CD-00000001-00000000".into(),
                    blockers: vec![holder(73, 136, Some("X"), None, Some(39548))],
                    waiters: vec![holder(74, 254, None, Some("X"), Some(45859))],
                },
                Resource {
                    name: "TX-00060006-000003BB-00000001-00000000".into(),
                    blockers: vec![holder(74, 254, Some("X"), None, Some(45859))],
                    waiters: vec![holder(73, 136, None, Some("X"), Some(39548))],
                },
            ]
        );
        let program = Some("sqlplus@261d716abc02 (TNS V1-V3)".to_owned());
        assert_eq!(
            deadlock.sessions,
            vec![
                SessionInfo {
                    sid: 136,
                    serial: Some(39548),
                    user: Some("TEST".into()),
                    pdb: Some("CDB$ROOT".into()),
                    program: program.clone(),
                    application: Some("SQL*Plus".into()),
                    current_sql: Some("update T set n1= 4 where id = 2".into()),
                    ..SessionInfo::default()
                },
                SessionInfo {
                    sid: 254,
                    serial: Some(45859),
                    user: Some("TEST".into()),
                    pdb: Some("CDB$ROOT".into()),
                    program,
                    application: Some("SQL*Plus".into()),
                    current_sql: Some("update T set n1 = 5 where id = 1".into()),
                    ..SessionInfo::default()
                },
            ]
        );
        assert!(deadlock.unattributed_sql.is_empty());
        assert_eq!(deadlock.users(), vec!["TEST"]);
    }

    #[test]
    fn crlf_gives_the_same_result() {
        let crlf = TRACE_19C.replace('\n', "\r\n");
        assert_eq!(parse(&crlf), parse(TRACE_19C));
    }

    #[test]
    fn parses_tx_and_tm_with_two_users_and_labels() {
        let deadlock = parse(TRACE_19C_TWO_USERS);
        assert_eq!(deadlock.resources.len(), 2);
        let tm = &deadlock.resources[1];
        assert_eq!(tm.kind(), "TM");
        assert_eq!(tm.table_object_id(), Some(0x11F3A));
        assert_eq!(
            tm.blockers,
            vec![holder(44, 85, Some("SX"), None, Some(60002))]
        );
        assert_eq!(
            tm.waiters,
            vec![holder(41, 27, Some("SX"), Some("SSX"), Some(5121))]
        );
        assert_eq!(deadlock.resources[0].table_object_id(), None);
        assert_eq!(deadlock.users(), vec!["TEST", "ORDERS"]);
        let first = &deadlock.sessions[0];
        assert_eq!(
            first.current_sql.as_deref(),
            Some("delete from ORDERS.ORDER_HEADERS where ORDER_ID = :1")
        );
        assert_eq!(first.program.as_deref(), Some("JDBC Thin Client"));
        assert_eq!(first.pdb.as_deref(), Some("APP1"));
        assert_eq!(
            deadlock.sessions[1].application.as_deref(),
            Some("order-sync")
        );

        let labels = deadlock.labels();
        let expected: BTreeMap<String, String> = [
            ("deadlock_users", "TEST,ORDERS"),
            ("deadlock_sessions", "27,85"),
            (
                "deadlock_resources",
                "TX-00090004-00000A12-00000003-00000000,TM-00011F3A-00000000-00000003-00000000",
            ),
            ("deadlock_pdbs", "APP1"),
            (
                "deadlock_programs",
                "JDBC Thin Client,python3@apphost02 (TNS V1-V3)",
            ),
            ("deadlock_object_ids", "73530"),
            (
                "deadlock_sql",
                "delete from ORDERS.ORDER_HEADERS where ORDER_ID = :1 | update ORDERS.ORDER_LINES set QTY = :1 where ORDER_ID = :2",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(labels, expected);
    }

    #[test]
    fn parses_11g_other_session_and_this_session_sql() {
        let deadlock = parse(TRACE_11G_TM);
        let tm = |process, session| holder(process, session, Some("SX"), Some("SSX"), None);
        assert_eq!(
            deadlock.resources,
            vec![
                Resource {
                    name: "TM-000151a2-00000000".into(),
                    blockers: vec![tm(210, 72)],
                    waiters: vec![tm(208, 24)],
                },
                Resource {
                    name: "TM-000151a2-00000000".into(),
                    blockers: vec![tm(208, 24)],
                    waiters: vec![tm(210, 72)],
                },
            ]
        );
        assert_eq!(
            deadlock.sessions,
            vec![
                SessionInfo {
                    sid: 24,
                    serial: Some(45245),
                    user: Some("USER".into()),
                    current_sql: Some("delete from EMPLOYEE where EMP_ID=:1".into()),
                    ..SessionInfo::default()
                },
                SessionInfo {
                    sid: 72,
                    current_sql: Some("delete from EMPLOYEE where EMP_ID=:1".into()),
                    sql_id: Some("dyfg1wd8xa9qt".into()),
                    this_session: true,
                    ..SessionInfo::default()
                },
            ]
        );
        let labels = deadlock.labels();
        assert_eq!(labels["deadlock_users"], "USER");
        assert_eq!(labels["deadlock_object_ids"], "86434");
        assert_eq!(
            labels["deadlock_sql"],
            "delete from EMPLOYEE where EMP_ID=:1"
        );
        assert!(!labels.contains_key("deadlock_programs"));
    }

    #[test]
    fn parses_12c_rows_waited_on_and_unattributed_sql() {
        let deadlock = parse(TRACE_12C_ROWS);
        assert_eq!(
            deadlock.resources[0],
            Resource {
                name: "TX-00290010-00015F75-00000000-00000000".into(),
                blockers: vec![holder(295, 1200, Some("X"), None, None)],
                waiters: vec![holder(288, 10, None, Some("X"), None)],
            }
        );
        let sids: Vec<u32> = deadlock.sessions.iter().map(|s| s.sid).collect();
        assert_eq!(sids, vec![1200, 10]);
        assert_eq!(
            deadlock.sessions[0].object,
            Some(RowWait {
                data_object_id: Some(0x51348),
                object_id: None,
                rowid: Some("BABRNIAARAAKfNLAAl".into()),
            })
        );
        assert_eq!(
            deadlock.unattributed_sql,
            vec![
                "update employee set name=:1",
                "update department set address =:1 where id=:1"
            ]
        );
        assert!(deadlock.users().is_empty());
        assert_eq!(
            deadlock.labels()["deadlock_sql"],
            "update employee set name=:1 | update department set address =:1 where id=:1"
        );
    }

    #[test]
    fn parses_three_sessions_with_shared_mode_waits() {
        let deadlock = parse(TRACE_THREE);
        let waits: Vec<(u32, u32, Option<&str>)> = deadlock
            .resources
            .iter()
            .map(|r| {
                (
                    r.blockers[0].session,
                    r.waiters[0].session,
                    r.waiters[0].waits.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            waits,
            vec![
                (272, 1019, Some("S")),
                (1019, 2156, Some("S")),
                (2156, 272, Some("S"))
            ]
        );
        let objects: Vec<(u32, Option<u64>, Option<&str>)> = deadlock
            .sessions
            .iter()
            .map(|s| {
                let object = s.object.as_ref();
                (
                    s.sid,
                    object.and_then(|o| o.object_id),
                    object.and_then(|o| o.rowid.as_deref()),
                )
            })
            .collect();
        assert_eq!(
            objects,
            vec![
                (272, Some(5004374), Some("AATFxWAQAAOgakFAAA")),
                (1019, Some(5004374), Some("AATFxWAQAAOgdrgAAA")),
                (2156, Some(5004374), Some("AATFxWAQAAOgdi7AAA")),
            ]
        );
        assert_eq!(deadlock.labels()["deadlock_object_ids"], "5004374");
    }

    #[test]
    fn old_session_id_header_marks_this_session() {
        // Hand-made after the AskTom 8i/9i layout: `*** SESSION ID:(sid.serial)` and
        // `Current SQL statement for this session:` before the graph.
        let trace = "*** SESSION ID:(8.3883) 2002-08-07 11:09:23.816\n\
            DEADLOCK DETECTED\n\
            Current SQL statement for this session:\n\
            update t set x = :x1 where x = :x2\n\
            \n\
            Deadlock graph:\n\
            Resource Name          process session holds waits  process session holds waits\n\
            TX-00020019-00000c7d        10       8     X             11       9           S\n\
            TX-0003001b-00000c6e        11       9     X             10       8           S\n";
        let deadlock = parse(trace);
        let this: Vec<&SessionInfo> = deadlock
            .sessions
            .iter()
            .filter(|s| s.this_session)
            .collect();
        assert_eq!(this.len(), 1);
        assert_eq!(this[0].sid, 8);
        assert_eq!(
            this[0].current_sql.as_deref(),
            Some("update t set x = :x1 where x = :x2")
        );
    }

    #[test]
    fn only_the_last_deadlock_of_a_trace_is_parsed() {
        let both = format!("{TRACE_11G_TM}\n{TRACE_19C}");
        assert_eq!(parse(&both), parse(TRACE_19C));
    }

    #[test]
    fn rac_instance_column() {
        let trace = "Deadlock graph:\n\
            Resource Name  instId session holds waits serial instId session holds waits serial\n\
            TX-0031344A-00000001   0   25   X   3   0   22   X   4\n";
        let deadlock = parse(trace);
        let blocker = &deadlock.resources[0].blockers[0];
        assert_eq!((blocker.instance, blocker.process), (Some(0), None));
        assert_eq!((blocker.session, blocker.serial), (25, Some(3)));
        assert_eq!(deadlock.resources[0].waiters[0].waits.as_deref(), Some("X"));
    }

    #[test]
    fn long_sql_is_cut_in_labels() {
        let sql = format!("update T set n1 = 'é{}'", "x".repeat(1000));
        let trace = TRACE_19C.replace("update T set n1= 4 where id = 2", &sql);
        let label = &parse(&trace).labels()["deadlock_sql"];
        assert_eq!(label.chars().count(), MAX_LABEL_CHARS);
        assert!(label.ends_with('…'));
    }

    #[test]
    fn garbage_gives_none() {
        for text in [
            "",
            "\r\n\r\n",
            "hello world",
            "DEADLOCK DETECTED ( ORA-00060 )\n",
            "Deadlock graph:\nResource Name process session holds waits\n",
            "Deadlock graph:\nResource Name\nTX-zz 1 2\n",
            "Resource Name process session\nTX-0001 x y X\n",
            "----- Information for waiting sessions -----\nsid: 1 ser: 2 user: 3/X\n",
            "\u{0}\u{ffff}Session :\nRows waited on:\n(dictionary objn - \n",
        ] {
            assert_eq!(parse_deadlock(text), None, "{text:?}");
        }
    }

    #[test]
    fn truncated_traces_do_not_panic() {
        for trace in [
            TRACE_19C,
            TRACE_19C_TWO_USERS,
            TRACE_11G_TM,
            TRACE_12C_ROWS,
            TRACE_THREE,
        ] {
            for (at, _) in trace.char_indices() {
                let _ = parse_deadlock(&trace[..at]);
            }
        }
        // Cut in the middle of the waiting sessions: the graph and the first session remain.
        let cut = &TRACE_19C[..TRACE_19C.find("Session 254:").unwrap_or(0)];
        let deadlock = parse(cut);
        assert_eq!(deadlock.resources.len(), 2);
        assert_eq!(deadlock.sessions[0].user.as_deref(), Some("TEST"));
        assert_eq!(deadlock.sessions[1].user, None);
    }

    /// Rows as the `oracle_deadlock` check of examples/oracle/alerts.yaml returns them.
    fn deadlock_rows(trace_files: &[Value]) -> Rows {
        let mut rows = Rows::new(["record_id", "adr_home", "trace_file", "pdb"]);
        for (i, file) in trace_files.iter().enumerate() {
            rows.rows.push(vec![
                Value::Int(i as i64 + 1),
                Value::text("diag/rdbms/orclcdb/ORCLCDB"),
                file.clone(),
                Value::text("APP1"),
            ]);
        }
        rows
    }

    #[test]
    fn add_labels_puts_the_trace_labels_on_their_row() {
        let mut rows = deadlock_rows(&[
            Value::text("/opt/oracle/diag/rdbms/orclcdb/ORCLCDB/trace/ORCLCDB_ora_4562.trc"),
            Value::Null,
            Value::text(
                "ORA-00060: Deadlock detected. More info in file /u01/diag/trace/ORCLCDB_ora_99.trc.",
            ),
        ]);
        let mut asked = Vec::new();
        let warnings = add_labels(&mut rows, |home, name| {
            asked.push((home.map(str::to_owned), name.to_owned()));
            Ok(match name {
                "ORCLCDB_ora_4562.trc" => TRACE_19C_TWO_USERS.to_owned(),
                _ => TRACE_19C.to_owned(),
            })
        });
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            asked,
            [
                (
                    Some("diag/rdbms/orclcdb/ORCLCDB".into()),
                    "ORCLCDB_ora_4562.trc".into()
                ),
                (
                    Some("diag/rdbms/orclcdb/ORCLCDB".into()),
                    "ORCLCDB_ora_99.trc".into()
                ),
            ],
            "one read per named trace, by file name"
        );
        let users = rows.column("deadlock_users").unwrap();
        assert_eq!(rows.rows[0][users], Value::text("TEST,ORDERS"));
        assert_eq!(
            rows.rows[1][users],
            Value::Null,
            "no trace named: no labels"
        );
        assert_eq!(
            rows.rows[2][users],
            Value::text(parse(TRACE_19C).labels()["deadlock_users"].clone())
        );
        assert_eq!(
            rows.columns[..4],
            ["record_id", "adr_home", "trace_file", "pdb"]
        );
        assert!(rows.rows.iter().all(|row| row.len() == rows.columns.len()));
        assert!(rows.column("deadlock_sql").is_some());
    }

    #[test]
    fn add_labels_never_fails_the_rows() {
        let files = [
            Value::text("a.trc"),
            Value::text("b.trc"),
            Value::text("c.trc"),
            Value::text("d.trc"),
        ];
        // A trace that fails, one that is gone, one without a deadlock, then the view is gone.
        let mut rows = deadlock_rows(&files);
        let before = rows.clone();
        let warnings = add_labels(&mut rows, |_, name| match name {
            "a.trc" => Err(TraceError::Failed(
                "ORA-03113: end-of-file on communication channel".into(),
            )),
            "b.trc" => Ok(String::new()),
            "c.trc" => Ok("*** 2026-11-23 08:14:02\nnothing to see\n".into()),
            _ => Err(TraceError::Unavailable(
                "V$DIAG_TRACE_FILE_CONTENTS cannot be read".into(),
            )),
        });
        assert_eq!(rows, before, "rows are kept as they were");
        assert_eq!(
            warnings,
            [
                "trace file a.trc cannot be read: ORA-03113: end-of-file on communication channel",
                "trace file b.trc is not in V$DIAG_TRACE_FILE_CONTENTS (purged, or written by another RAC instance)",
                "trace file c.trc holds no deadlock graph",
                "V$DIAG_TRACE_FILE_CONTENTS cannot be read",
            ]
        );

        // Once the view is unavailable, no later row asks again.
        let mut rows = deadlock_rows(&files);
        let mut reads = 0;
        let warnings = add_labels(&mut rows, |_, _| {
            reads += 1;
            Err(TraceError::Unavailable("not granted".into()))
        });
        assert_eq!((reads, warnings.len()), (1, 1));

        let mut no_column = Rows::new(["record_id"]);
        no_column.rows.push(vec![Value::Int(1)]);
        let warnings = add_labels(&mut no_column, |_, _| unreachable!());
        assert!(
            warnings[0].contains("no `trace_file` column"),
            "{warnings:?}"
        );
    }

    #[test]
    fn the_trace_query_limit_is_max_trace_lines() {
        assert!(TRACE_SQL.ends_with(&format!("fetch first {MAX_TRACE_LINES} rows only")));
    }

    #[test]
    fn add_labels_reads_a_bounded_number_of_traces_and_keeps_query_columns() {
        let files: Vec<Value> = (0..MAX_TRACES_PER_RUN + 5)
            .map(|i| Value::text(format!("t{i}.trc")))
            .collect();
        let mut rows = deadlock_rows(&files);
        rows.columns.push("deadlock_users".into());
        for row in &mut rows.rows {
            row.push(Value::text("FROM_QUERY"));
        }
        let mut reads = 0;
        let warnings = add_labels(&mut rows, |_, _| {
            reads += 1;
            Ok(TRACE_19C_TWO_USERS.to_owned())
        });
        assert_eq!(reads, MAX_TRACES_PER_RUN);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("t20.trc and later ones are not read"),
            "{warnings:?}"
        );
        let users = rows.column("deadlock_users").unwrap();
        assert!(
            rows.rows
                .iter()
                .all(|row| row[users] == Value::text("FROM_QUERY"))
        );
        assert_eq!(
            rows.columns
                .iter()
                .filter(|c| *c == "deadlock_users")
                .count(),
            1
        );
    }
}
