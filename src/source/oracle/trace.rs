//! Oracle deadlock traces: find the trace file a deadlock alert-log line names, and parse the
//! deadlock in it into the sessions, schema users, programs, SQL and objects involved, so that a
//! deadlock alert can carry routing labels (`deadlock_users=TEST,ORDERS`, ...). `dbalert
//! deadlock FILE…` prints the same for a trace a DBA was handed.
//!
//! This module is pure text processing: it does not talk to Oracle, and it is built without the
//! `oracle` feature too. A check opts in with `deadlock_trace: true`; after its query, the
//! Oracle source reads the trace text of each row ([`TRACE_SQL`], on
//! `GV$DIAG_TRACE_FILE_CONTENTS`, 12.2 and later, granted by `sql/oracle/01_user.sql`) and
//! [`add_labels`] parses it with [`parse_deadlock`] and adds the labels as columns of the row.
//!
//! # Layouts parsed
//!
//! Alert-log lines ([`trace_file`]):
//!
//! - the 19c `ORA-00060: Deadlock detected. See Note 60.1 at My Oracle Support for
//!   Troubleshooting ORA-60 Errors. More info in file /…/X_ora_4562.trc.`, the 11g text without
//!   the Note 60.1 sentence, and, on RAC, `Global Enqueue Services Deadlock detected. More info
//!   in file` with the path on the next line. The path is the first word after `More info in
//!   file`, without the final full stop.
//!
//! Single-instance deadlock graphs (written by the session that got ORA-00060):
//!
//! - **12c to 23ai**: `Deadlock graph:` with a `serial` column, then `----- Information for
//!   waiting sessions -----` with one `Session N:` block per session (`sid: N ser: N audsid: N
//!   user: 107/TEST`, `pdb: 1/CDB$ROOT`, `… program: …`, `application name: …, hash value=…`,
//!   `current SQL:` and the statement).
//! - **10gR2 to 11g**: a graph without `serial`, `session N: DID …` lines, `Rows waited on:`
//!   (`Session N: obj - rowid = <hex> - <rowid>`, `(dictionary objn - N, …)` or `no row`), then
//!   `----- Information for the OTHER waiting sessions -----` (blocks as above) and
//!   `Information for THIS session:` with `----- Current SQL Statement for this session
//!   (sql_id=…) -----`.
//! - **9i and 10g**: `Current SQL statement for this session:` right after `DEADLOCK DETECTED`
//!   (9i; the statement ends where "The following deadlock is not an ORACLE error" begins), or
//!   after the other sessions (10g), `*** SESSION ID:(sid.serial)` naming this session, and
//!   `Information on the OTHER waiting sessions:` with `Session N:` blocks of `pid=… serial=…
//!   audsid=… user: 87/SCOTT`, `O/S info: …`, `program: …`, `Current SQL Statement:` and the
//!   statement, up to `End of information on OTHER waiting sessions.`
//!
//! RAC global deadlocks (written by LMD, and by the sessions involved):
//!
//! - **the global wait-for graph** `Global Wait-For-Graph(WFG) at ddTS[…] :` in its generations:
//!   10g `BLOCKED 0x5d061dc0 4 [0x9fbe][0x0],[TM] [197000-0002-0000000A] 1`, 10gR2 with `wq 2
//!   cvtops x1` before the bracketed resource, 11.1 `… TX 0xae0003.0x5149ef
//!   [8B000-0004-0036637E] 3`, 11.2 and later `… TM 0x11ffa3.0x0(ext 0x0,0x0)[…] inst 4`. Each
//!   `BLOCKED` line and the `BLOCKER` lines after it are one wait: the lock pointer, the
//!   mode (the KJUSER level: 0 NL, 1 SS, 2 SX, 3 S, 4 SSX, 5 X; what a `BLOCKED` lock asks for,
//!   what a `BLOCKER` lock holds), the resource (named as in a local graph, `TM-0011FFA3-00000000`,
//!   with the two `ext` parts when printed) and the instance (`inst N`; the last number of the
//!   10g and 11.1 forms is the 0-based node, note 1443482.1, reported plus one). `* Cancel
//!   deadlock victim lockp 0x…` marks the session rolled back.
//! - **the 12.2+ `GES Deadlock ID`**: a line holding those words starts a RAC deadlock, the id
//!   after them (`=[2_1_17]`) becomes `deadlock_id`, and `BLOCKED`/`BLOCKER` lines after it are
//!   read as above. No public 12.2+ trace was found: the layout around those words is a guess
//!   (see `tests/fixtures/oracle/README.md`).
//! - **`user session for deadlock lock 0x…` blocks**, with `sid: … ser: … user: …` (11g and
//!   later) or `pid=… serial=… user: …` (10g), `pdb:`, `program:`, `application name:` and
//!   `current SQL:` / `Current SQL Statement:`. A block names its session by lock pointer, which
//!   ties it to the graph. Some traces hold only these blocks (another instance's LMD trace, the
//!   session's own): they count as a deadlock too, with the resource of a `DUMP LOCAL
//!   BLOCKER/HOLDER: … res [0x…][0x…],[TX]` line when there is one.
//!
//! Anywhere: a session waiting for an ITL slot (`enq: TX - allocate ITL entry`, in the wait
//! stack 11g and later print) sets `deadlock_itl`; any number of resources (TX, TM, …) and of
//! sessions; `\r\n` line ends; a graph header whose first column is `instId` instead of
//! `process`.
//!
//! A trace file can hold several deadlocks (a process's trace, and above all LMD's, grows over
//! its life): only the last one is parsed, since the alert line points at the newest. That is
//! the text from the last `DEADLOCK DETECTED` on, or, when a RAC wait-for graph comes last, the
//! text after the previous deadlock's marker (the `user session` blocks come before their
//! graph). Malformed or unrelated text gives `None`; nothing here panics. Each layout is tested
//! on public samples kept in `tests/fixtures/oracle/` (their `README.md` says where each came
//! from).
//!
//! # Reading the local graph
//!
//! A graph row is `NAME  <blocker columns>  <waiter columns>`, the columns being those the
//! `Resource Name` header lists twice (`process session holds waits [serial]`). Rows are split
//! on whitespace; a `holds`/`waits` cell may be blank, so when only one lock mode is printed
//! for a side it is taken as what a blocker *holds* or what a waiter *waits* for, which is what
//! a deadlock graph shows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;

use crate::source::{Rows, Value};

/// Longest value, in characters, of a label made by [`Deadlock::labels`].
pub const MAX_LABEL_CHARS: usize = 300;

/// The text of one trace file, line by line, as `GV$DIAG_TRACE_FILE_CONTENTS` (12.2+) shows it:
/// `:trace_filename` is the file's name without its directory; `:adr_home` and `:inst_id`, when
/// the check's query returns them, pick the ADR home and the RAC instance that wrote it (NULL:
/// any). Lines come in file order: the view reads the file and the query sorts nothing
/// (unverified on a real database; the live suite compares the view's lines with the file).
/// Capped at [`MAX_TRACE_LINES`], since a process's trace grows over its life; a trace that
/// reaches the cap is not parsed.
pub const TRACE_SQL: &str = "\
select payload
  from gv$diag_trace_file_contents
 where trace_filename = :trace_filename
   and (:adr_home is null or adr_home = :adr_home)
   and (:inst_id is null or inst_id = :inst_id)
 fetch first 200000 rows only";

/// The row limit of [`TRACE_SQL`].
pub const MAX_TRACE_LINES: usize = 200_000;

/// The most trace files read for one run of a check; the rest are sent without their labels.
pub const MAX_TRACES_PER_RUN: usize = 20;

/// Every label [`Deadlock::labels`] can add, in the order `dbalert deadlock` prints them.
pub const LABELS: [&str; 10] = [
    "deadlock_users",
    "deadlock_sessions",
    "deadlock_instances",
    "deadlock_resources",
    "deadlock_pdbs",
    "deadlock_programs",
    "deadlock_object_ids",
    "deadlock_sql",
    "deadlock_itl",
    "deadlock_id",
];

/// Why a trace could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceError {
    /// The view cannot be read at all (before 12.2, or not granted): no trace will be.
    Unavailable(String),
    /// This one trace could not be read.
    Failed(String),
}

/// Which trace a row names, for the reader [`add_labels`] is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceRef<'a> {
    /// The file name, without its directory (`PROD1_lmd0_20961.trc`).
    pub name: &'a str,
    /// The row's `adr_home`, when the query returns one.
    pub adr_home: Option<&'a str>,
    /// The row's `inst_id` (RAC: the instance whose alert log named the trace).
    pub inst_id: Option<i64>,
}

/// Adds the [`Deadlock::labels`] of each row's trace as columns (`deadlock_users`, …), for a
/// check with `deadlock_trace: true`. A row names its trace in `trace_file` (a path, a bare
/// name, or the whole alert-log message) and may give `adr_home` and `inst_id`; `read`
/// returns the trace's text. Nothing here fails the check: a row whose trace cannot be read,
/// or holds no deadlock, keeps its other labels, and each problem is returned as a warning.
/// Columns the query already returns are left as they are.
pub fn add_labels(
    rows: &mut Rows,
    mut read: impl FnMut(TraceRef<'_>) -> Result<String, TraceError>,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let Some(file_column) = rows.column("trace_file") else {
        warnings.push(
            "deadlock_trace is set but the query returns no `trace_file` column (the trace path of the deadlock's alert-log line)".to_owned(),
        );
        return warnings;
    };
    let columns = [
        Some(file_column),
        rows.column("adr_home"),
        rows.column("inst_id"),
    ];
    let mut per_row: Vec<BTreeMap<String, String>> = Vec::with_capacity(rows.rows.len());
    let mut read_count = 0;
    let mut unavailable = false;
    for row in &rows.rows {
        let mut labels = BTreeMap::new();
        if let (Some(trace), false) = (trace_ref(row, columns), unavailable) {
            if read_count == MAX_TRACES_PER_RUN {
                warnings.push(format!(
                    "more than {MAX_TRACES_PER_RUN} deadlock traces in one run; {} and later ones are not read",
                    trace.name
                ));
                unavailable = true;
            } else {
                read_count += 1;
                let name = trace.name;
                match read(trace) {
                    Ok(text) => match deadlock_labels(name, &text) {
                        Ok(found) => labels = found,
                        Err(warning) => warnings.push(warning),
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
    append_columns(rows, per_row);
    warnings
}

/// The trace a row names, from its `trace_file`, `adr_home` and `inst_id` columns (in that
/// order in `columns`); `None` when it names no file.
fn trace_ref(row: &[Value], columns: [Option<usize>; 3]) -> Option<TraceRef<'_>> {
    let [file, home, instance] = columns;
    let named = match &row[file?] {
        Value::Text(text) => trace_file(text).unwrap_or(text).trim(),
        _ => return None,
    };
    let name = named
        .rsplit(['/', '\\'])
        .next()
        .filter(|name| !name.is_empty())?;
    let adr_home = home.and_then(|i| match &row[i] {
        Value::Text(home) => Some(home.as_str()),
        _ => None,
    });
    let inst_id = instance.and_then(|i| match &row[i] {
        Value::Int(n) => Some(*n),
        Value::Text(n) => n.trim().parse().ok(),
        _ => None,
    });
    Some(TraceRef {
        name,
        adr_home,
        inst_id,
    })
}

/// The deadlock labels of trace `name`'s text, or the warning saying why there are none.
fn deadlock_labels(name: &str, text: &str) -> Result<BTreeMap<String, String>, String> {
    if text.trim().is_empty() {
        return Err(format!(
            "trace file {name} is not in GV$DIAG_TRACE_FILE_CONTENTS (purged, or not in the ADR home and instance the row names)"
        ));
    }
    parse_deadlock(text)
        .map(|deadlock| deadlock.labels())
        .ok_or_else(|| format!("trace file {name} holds no deadlock"))
}

/// Appends each row's labels as columns; a row without one gets NULL, and columns the query
/// already returns are left as they are.
fn append_columns(rows: &mut Rows, mut per_row: Vec<BTreeMap<String, String>>) {
    let new_columns: Vec<String> = per_row
        .iter()
        .flat_map(|labels| labels.keys())
        .filter(|name| rows.column(name).is_none())
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for (row, labels) in rows.rows.iter_mut().zip(per_row.iter_mut()) {
        row.extend(new_columns.iter().map(|name| match labels.remove(name) {
            Some(value) => Value::text(value),
            None => Value::Null,
        }));
    }
    rows.columns.extend(new_columns);
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

/// Which kind of deadlock a trace describes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Layout {
    /// A single-instance deadlock graph (`DEADLOCK DETECTED`, `Deadlock graph:`), written by
    /// the session that got ORA-00060.
    #[default]
    Local,
    /// A RAC global deadlock (`Global Wait-For-Graph(WFG)`, `user session for deadlock lock`
    /// blocks), written by LMD.
    Global,
}

/// One deadlock as the trace file describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deadlock {
    pub layout: Layout,
    /// The waits of the graph, in trace order: for a local graph its rows, for a RAC
    /// wait-for graph each `BLOCKED` line with the `BLOCKER` lines after it.
    pub resources: Vec<Resource>,
    /// Every session involved: first those with an information block (in trace order), then
    /// the other sessions of the graph, of which often only the sid and serial are known.
    pub sessions: Vec<SessionInfo>,
    /// SQL printed for a session the trace does not identify (e.g. an elided session block);
    /// it still goes into the `deadlock_sql` label.
    pub unattributed_sql: Vec<String>,
    /// Whether a session waited for an ITL slot (`enq: TX - allocate ITL entry`): the block
    /// had no free transaction slot, which INITRANS/PCTFREE, not the application's lock order,
    /// may cure.
    pub itl: bool,
    /// The `GES Deadlock ID` of a 12.2+ RAC trace, as printed (`2_1_17`).
    pub ges_id: Option<String>,
}

/// One wait of the graph: a lock resource with who holds it and who waits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The lock name, e.g. `TX-00030013-000003CD-00000001-00000000` or
    /// `TM-000151a2-00000000` as a local graph prints it; RAC resources are written the same
    /// way, in upper case (`TM-0011FFA3-00000000-00000000-00000000`).
    pub name: String,
    /// The sessions holding the resource (the "Blocker(s)" side, `BLOCKER` lines).
    pub blockers: Vec<Holder>,
    /// The sessions waiting for it (the "Waiter(s)" side, the `BLOCKED` line).
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

/// One side of a wait: a session holding or waiting for the resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    /// Oracle process number (`V$PROCESS.PID`), when the graph has a `process` column.
    pub process: Option<u32>,
    /// RAC instance number, from an `instId` column or the wait-for graph.
    pub instance: Option<u32>,
    /// Session id (`V$SESSION.SID`); in a RAC wait-for graph, known only through the
    /// `user session` block of the lock.
    pub session: Option<u32>,
    /// Lock mode held (`X`, `S`, `SX`, `SSX`, …), if printed.
    pub holds: Option<String>,
    /// Lock mode waited for, if printed.
    pub waits: Option<String>,
    /// Session serial number, when the graph has a `serial` column (12c and later) or the
    /// lock's `user session` block gives it.
    pub serial: Option<u32>,
    /// RAC: the lock pointer of the wait-for graph (`0x551b2c698`).
    pub lock: Option<String>,
}

/// What the trace says about one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// Session id; unknown for a 10g RAC `user session` block, which prints only `pid=`.
    pub sid: Option<u32>,
    /// Session serial number, from the session block or the graph.
    pub serial: Option<u32>,
    /// Oracle process number (`pid=17`, `pid: 107`).
    pub process: Option<u32>,
    /// RAC instance number, from the wait-for graph line of the session's lock.
    pub instance: Option<u32>,
    /// RAC: the lock pointer of the `user session for deadlock lock 0x…` block.
    pub lock: Option<String>,
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
    /// Whether this is the session that got ORA-00060 (the one that wrote a local trace), or
    /// the victim LMD cancelled in a RAC deadlock, when the trace says so.
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

    /// The session a side of a wait is, when the trace describes it: by sid (and instance
    /// when both are known), else by RAC lock pointer.
    pub fn session_of(&self, holder: &Holder) -> Option<&SessionInfo> {
        let by_sid = holder.session.and_then(|sid| {
            self.sessions.iter().find(|s| {
                s.sid == Some(sid)
                    && (holder.instance.is_none()
                        || s.instance.is_none()
                        || s.instance == holder.instance)
            })
        });
        by_sid.or_else(|| {
            let lock = holder.lock.as_deref()?;
            self.sessions
                .iter()
                .find(|s| s.lock.as_deref() == Some(lock))
        })
    }

    /// Routing labels for the alert; a label is left out when the trace has nothing for it.
    ///
    /// - `deadlock_users`: distinct schema users, comma-separated (`TEST,ORDERS`);
    /// - `deadlock_sessions`: the sids (`136,254`);
    /// - `deadlock_instances`: RAC instance numbers (`4,6,5`);
    /// - `deadlock_resources`: the distinct lock names;
    /// - `deadlock_pdbs`, `deadlock_programs`: distinct PDB names and client programs;
    /// - `deadlock_object_ids`: table object ids of TM locks and dictionary object numbers of
    ///   the rows waited for;
    /// - `deadlock_sql`: the distinct statements, whitespace collapsed, joined with ` | `;
    /// - `deadlock_itl`: `true` when a session waited for an ITL slot;
    /// - `deadlock_id`: the 12.2+ RAC `GES Deadlock ID`.
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
            distinct(
                self.sessions
                    .iter()
                    .filter_map(|s| s.sid.map(|sid| sid.to_string())),
            ),
            ",",
        );
        let holders = self
            .resources
            .iter()
            .flat_map(|r| r.waiters.iter().chain(&r.blockers));
        put(
            "deadlock_instances",
            distinct(
                holders
                    .filter_map(|h| h.instance)
                    .chain(self.sessions.iter().filter_map(|s| s.instance))
                    .map(|i| i.to_string()),
            ),
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
        if self.itl {
            put("deadlock_itl", vec!["true".to_owned()], "");
        }
        put("deadlock_id", self.ges_id.iter().cloned().collect(), "");
        labels
    }
}

/// Parses the last deadlock in a trace file's text. `None` when the text holds no deadlock
/// graph, no RAC wait-for graph and no session information.
pub fn parse_deadlock(trace: &str) -> Option<Deadlock> {
    let lines: Vec<&str> = trace
        .lines()
        .map(|line| line.trim_end_matches('\r'))
        .collect();
    let (start, anchor, layout) = last_deadlock(&lines);
    let this_session_id = lines[..start]
        .iter()
        .rev()
        .find_map(|line| session_id(line))
        .or_else(|| lines[start..].iter().find_map(|line| session_id(line)));

    let mut parser = Parser {
        layout,
        ..Parser::default()
    };
    let mut i = start;
    while i < lines.len() {
        let line = lines[i].trim();
        let at = i;
        i += 1;
        if line.contains("allocate ITL entry") {
            parser.itl = true;
        }
        if let Some(id) = ges_id(line) {
            parser.ges_id = Some(id);
        }
        if anchor.is_some_and(|anchor| at >= anchor) {
            if let Some(entry) = wfg_entry(line) {
                parser.wfg.push(entry);
                continue;
            }
            if let Some(lock) = line.strip_prefix("* Cancel deadlock victim lockp") {
                parser.victim = lock.split_whitespace().next().map(str::to_owned);
                continue;
            }
        }
        if let Some(lock) = line.strip_prefix("user session for deadlock lock") {
            i = parser.user_session(lock, &lines, i);
        } else if let Some(resource) = local_blocker_resource(line) {
            parser.dumped_resources.push(resource);
        } else if layout == Layout::Global {
            // The rest belongs to a local deadlock printed before the RAC one.
        } else if line.starts_with("Resource Name") {
            i = parser.graph(line, &lines, i);
        } else if starts_with_ignore_case(line, "Rows waited on") {
            i = parser.rows_waited_on(line, &lines, i);
        } else if is_other_sessions_header(line) {
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

/// Where the trace's last deadlock starts: its first line, the line of its RAC wait-for graph
/// (when it is a global deadlock) and its layout. A trace may hold several deadlocks; the
/// last is the one the alert-log line announced.
fn last_deadlock(lines: &[&str]) -> (usize, Option<usize>, Layout) {
    // (line index, is a RAC wait-for graph) of every deadlock's marker line.
    let markers: Vec<(usize, bool)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            if is_global_marker(line) {
                Some((i, true))
            } else if line.contains("DEADLOCK DETECTED") {
                Some((i, false))
            } else {
                None
            }
        })
        .collect();
    match markers.as_slice() {
        [] => (0, None, Layout::Local),
        [.., (last, false)] => (*last, None, Layout::Local),
        [.., previous, (last, true)] => (previous.0 + 1, Some(*last), Layout::Global),
        [(last, true)] => (0, Some(*last), Layout::Global),
    }
}

/// The first line of a RAC deadlock: a wait-for graph's header, or the 12.2+ GES deadlock id.
fn is_global_marker(line: &str) -> bool {
    line.contains("Global Wait-For-Graph") || line.contains("GES Deadlock ID")
}

/// The id after `GES Deadlock ID` (`=[2_1_17]`, `: 2_1_17`), as printed.
fn ges_id(line: &str) -> Option<String> {
    let rest = line.split_once("GES Deadlock ID")?.1;
    let rest = rest.trim_start_matches(|c: char| c == '=' || c == ':' || c.is_whitespace());
    let rest = rest.strip_prefix('[').unwrap_or(rest);
    let id: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ']' | ',' | ')'))
        .collect();
    (!id.is_empty()).then_some(id)
}

/// `Information on the OTHER waiting sessions:` (9i, 10g) or `----- Information for the
/// OTHER waiting sessions -----` / `----- Information for waiting sessions -----` (10gR2+).
fn is_other_sessions_header(line: &str) -> bool {
    (line.starts_with("----- Information for") && !line.contains("THIS session"))
        || starts_with_ignore_case(line, "Information on the OTHER waiting sessions")
}

/// One line of a RAC wait-for graph.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WfgEntry {
    blocked: bool,
    lock: String,
    mode: String,
    resource: String,
    instance: Option<u32>,
}

static WFG_ENTRY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(BLOCKED|BLOCKER)\s+(0x[0-9A-Fa-f]+)\s+(\d+)\s+",
        r"(?:wq\s+\d+\s+cvtops\s+x[0-9A-Fa-f]+\s+)?",
        r"(?:\[0x([0-9A-Fa-f]+)\]\[0x([0-9A-Fa-f]+)\],\[([A-Z0-9]{2})\]",
        r"|([A-Z0-9]{2})\s+0x([0-9A-Fa-f]+)\.0x([0-9A-Fa-f]+)",
        r"(?:\(ext\s+0x([0-9A-Fa-f]+),0x([0-9A-Fa-f]+)\))?)",
        r"(?:\s*\[[^\]]*\])?",
        r"(?:\s+inst\s+(\d+)|\s+(\d+))?\s*$",
    ))
    .expect("the wait-for graph pattern is valid")
});

/// A `BLOCKED`/`BLOCKER` line of a RAC wait-for graph, in any of its generations.
fn wfg_entry(line: &str) -> Option<WfgEntry> {
    let caps = WFG_ENTRY.captures(line)?;
    let text = |i: usize| caps.get(i).map(|m| m.as_str());
    let hex = |i: usize| text(i).and_then(|h| u64::from_str_radix(h, 16).ok());
    let (kind, id1, id2, ext) = match text(6) {
        Some(kind) => (kind, hex(4)?, hex(5)?, None),
        None => {
            let ext = match (hex(10), hex(11)) {
                (Some(a), Some(b)) => Some((a, b)),
                _ => None,
            };
            (text(7)?, hex(8)?, hex(9)?, ext)
        }
    };
    let mut resource = format!("{kind}-{id1:08X}-{id2:08X}");
    if let Some((a, b)) = ext {
        resource.push_str(&format!("-{a:08X}-{b:08X}"));
    }
    let instance = match (text(12), text(13)) {
        (Some(inst), _) => inst.parse().ok(),
        // 10g and 11.1 print the 0-based node number.
        (None, Some(node)) => node.parse::<u32>().ok().and_then(|n| n.checked_add(1)),
        (None, None) => None,
    };
    let level = text(3).unwrap_or_default();
    let mode = match level {
        "0" => "NL",
        "1" => "SS",
        "2" => "SX",
        "3" => "S",
        "4" => "SSX",
        "5" => "X",
        other => other,
    };
    Some(WfgEntry {
        blocked: text(1) == Some("BLOCKED"),
        lock: text(2)?.to_ascii_lowercase(),
        mode: mode.to_owned(),
        resource,
        instance,
    })
}

/// `DUMP LOCAL BLOCKER/HOLDER: block level 5 res [0xa0006][0x7c],[TX]` → `TX-000A0006-0000007C`.
fn local_blocker_resource(line: &str) -> Option<String> {
    static RES: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^DUMP LOCAL BLOCKER\S*:.*\bres \[0x([0-9A-Fa-f]+)\]\[0x([0-9A-Fa-f]+)\],\[([A-Z0-9]{2})\]")
            .expect("the local blocker pattern is valid")
    });
    let caps = RES.captures(line)?;
    let id1 = u64::from_str_radix(&caps[1], 16).ok()?;
    let id2 = u64::from_str_radix(&caps[2], 16).ok()?;
    Some(format!("{}-{id1:08X}-{id2:08X}", &caps[3]))
}

/// What the parser has collected so far.
#[derive(Default)]
struct Parser {
    layout: Layout,
    resources: Vec<Resource>,
    wfg: Vec<WfgEntry>,
    victim: Option<String>,
    dumped_resources: Vec<String>,
    sessions: Vec<SessionInfo>,
    row_waits: Vec<(u32, RowWait)>,
    unattributed_sql: Vec<String>,
    this_sql: Option<(String, Option<String>)>,
    itl: bool,
    ges_id: Option<String>,
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

    /// Reads the `Session N: obj - rowid = …`, `Session N: no row` and `(dictionary objn - …)`
    /// lines after `Rows waited on:` (whose own line may already hold the first of them), up to
    /// the first line that is none of these: a blank line or the next section's header.
    fn rows_waited_on(&mut self, header: &str, lines: &[&str], mut i: usize) -> usize {
        if let Some((_, rest)) = header.split_once(':') {
            self.row_wait(rest.trim());
        }
        while let Some(line) = lines.get(i) {
            let line = line.trim();
            let elided = !line.is_empty() && line.chars().all(|c| c == '.');
            if !(elided || is_row_wait_line(line)) {
                break;
            }
            self.row_wait(line);
            i += 1;
        }
        i
    }

    /// One line of `Rows waited on:`.
    fn row_wait(&mut self, line: &str) {
        if let Some(objn) = line.strip_prefix("(dictionary objn -") {
            let objn = objn.split(',').next().and_then(|n| n.trim().parse().ok());
            if let Some((_, wait)) = self.row_waits.last_mut() {
                wait.object_id = objn;
            }
            return;
        }
        let Some((sid, rest)) = session_prefix(line) else {
            return;
        };
        let Some(rowid) = rest
            .split_once("rowid =")
            .or_else(|| rest.split_once("rowid="))
        else {
            return;
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

    /// Reads `Session N:` blocks up to the end of an "Information for/on … sessions" section.
    fn session_blocks(&mut self, lines: &[&str], mut i: usize) -> usize {
        let mut current: Option<SessionInfo> = None;
        while let Some(raw) = lines.get(i) {
            let line = raw.trim();
            if ends_session_section(line) {
                break;
            }
            i += 1;
            if let Some(sid) = session_header(line) {
                self.sessions.extend(current.take());
                current = Some(SessionInfo {
                    sid: Some(sid),
                    ..SessionInfo::default()
                });
                continue;
            }
            if is_session_sql_header(line) {
                let (sql, next) = statement(line_after_colon(line), lines, i);
                i = next;
                match (current.as_mut(), sql) {
                    (Some(session), sql) => session.current_sql = sql,
                    (None, Some(sql)) => self.unattributed_sql.push(sql),
                    (None, None) => {}
                }
                continue;
            }
            if let Some(session) = current.as_mut() {
                session_field(session, line);
            }
        }
        self.sessions.extend(current);
        i
    }

    /// Reads a RAC `user session for deadlock lock 0x…` block, up to a blank line or the next
    /// section.
    fn user_session(&mut self, lock: &str, lines: &[&str], mut i: usize) -> usize {
        let mut session = SessionInfo {
            lock: lock.split_whitespace().next().map(str::to_ascii_lowercase),
            ..SessionInfo::default()
        };
        while let Some(raw) = lines.get(i) {
            let line = raw.trim();
            if line.is_empty() || is_boundary(line) {
                break;
            }
            i += 1;
            if is_session_sql_header(line) {
                let (sql, next) = statement(line_after_colon(line), lines, i);
                session.current_sql = sql;
                i = next;
            } else {
                session_field(&mut session, line);
            }
        }
        self.sessions.push(session);
        i
    }

    /// Puts the pieces together: the RAC graph and its session blocks, graph sessions without
    /// a block, row waits, this session's SQL.
    fn finish(mut self, this_session_id: Option<(u32, Option<u32>)>) -> Option<Deadlock> {
        self.global_waits();
        let described: Vec<Option<u32>> = self.sessions.iter().map(|s| s.sid).collect();
        // A RAC trace's `*** SESSION ID` may be LMD's own session: it only marks a session
        // the trace describes.
        let rac = self.sessions.iter().any(|s| s.lock.is_some());
        self.add_undescribed_sessions(this_session_id.filter(|_| !rac));
        for (sid, wait) in std::mem::take(&mut self.row_waits) {
            if let Some(session) = self.sessions.iter_mut().find(|s| s.sid == Some(sid)) {
                session.object = Some(wait);
            }
        }
        let this = self.this_session(this_session_id, &described, rac);
        match (this, self.this_sql.take()) {
            (Some(at), sql) => {
                let session = &mut self.sessions[at];
                session.this_session = true;
                if let Some((sql, sql_id)) = sql {
                    session.current_sql.get_or_insert(sql);
                    session.sql_id = sql_id;
                }
            }
            (None, Some((sql, _))) => self.unattributed_sql.push(sql),
            (None, None) => {}
        }
        if self.resources.is_empty() && self.sessions.is_empty() && self.ges_id.is_none() {
            return None;
        }
        // A trace with only `user session` blocks is a RAC deadlock too.
        let layout = if rac { Layout::Global } else { self.layout };
        Some(Deadlock {
            layout,
            resources: self.resources,
            sessions: self.sessions,
            unattributed_sql: self.unattributed_sql,
            itl: self.itl,
            ges_id: self.ges_id,
        })
    }

    /// Adds the sessions the graph names and the session the trace names (`this_session_id`)
    /// that no session block described, so every session of the deadlock is listed.
    fn add_undescribed_sessions(&mut self, this_session_id: Option<(u32, Option<u32>)>) {
        let graph_sessions: Vec<(u32, Option<u32>, Option<u32>)> = self
            .resources
            .iter()
            .flat_map(|r| r.blockers.iter().chain(&r.waiters))
            .filter(|h| h.lock.is_none())
            .filter_map(|h| h.session.map(|sid| (sid, h.serial, h.instance)))
            .collect();
        for (sid, serial, instance) in graph_sessions {
            if !self.sessions.iter().any(|s| s.sid == Some(sid)) {
                self.sessions.push(SessionInfo {
                    sid: Some(sid),
                    serial,
                    instance,
                    ..SessionInfo::default()
                });
            }
        }
        if let Some((sid, serial)) = this_session_id
            && !self.sessions.iter().any(|s| s.sid == Some(sid))
        {
            self.sessions.push(SessionInfo {
                sid: Some(sid),
                serial,
                ..SessionInfo::default()
            });
        }
    }

    /// Which session is "this session": the one the trace names (RAC: the victim), or else
    /// the only one of a local graph without a block (`described` are those with one).
    fn this_session(
        &mut self,
        this_session_id: Option<(u32, Option<u32>)>,
        described: &[Option<u32>],
        rac: bool,
    ) -> Option<usize> {
        let by_id = this_session_id
            .and_then(|(sid, _)| self.sessions.iter().position(|s| s.sid == Some(sid)));
        if let (Some(at), Some((_, Some(serial)))) = (by_id, this_session_id) {
            self.sessions[at].serial.get_or_insert(serial);
        }
        let by_victim = || {
            let lock = self.victim.as_deref()?;
            self.sessions
                .iter()
                .position(|s| s.lock.as_deref() == Some(lock))
        };
        let only_without_block = || {
            if rac || this_session_id.is_some() || described.is_empty() {
                return None;
            }
            let mut others = self
                .sessions
                .iter()
                .enumerate()
                .filter(|(_, s)| !described.contains(&s.sid));
            match (others.next(), others.next()) {
                (Some((at, _)), None) => Some(at),
                _ => None,
            }
        };
        by_id.or_else(by_victim).or_else(only_without_block)
    }

    /// Turns the RAC wait-for graph into waits (each `BLOCKED` line with the `BLOCKER` lines
    /// after it), ties each lock to its `user session` block, and, without a graph, keeps the
    /// resources the local blocker dumps name.
    fn global_waits(&mut self) {
        // Blocks of locks the graph does not name are another deadlock's, printed after the
        // previous graph; without a match, every block is kept.
        let in_graph = |lock: &str| self.wfg.iter().any(|e| e.lock == lock);
        if self
            .sessions
            .iter()
            .any(|s| s.lock.as_deref().is_some_and(in_graph))
        {
            self.sessions
                .retain(|s| s.lock.as_deref().is_none_or(&in_graph));
        }
        let mut waits: Vec<Resource> = Vec::new();
        for entry in std::mem::take(&mut self.wfg) {
            let mut holder = Holder {
                instance: entry.instance,
                lock: Some(entry.lock.clone()),
                ..Holder::default()
            };
            if let Some(session) = self
                .sessions
                .iter_mut()
                .find(|s| s.lock.as_deref() == Some(entry.lock.as_str()))
            {
                holder.session = session.sid;
                holder.serial = session.serial;
                holder.process = session.process;
                session.instance = session.instance.or(entry.instance);
            }
            if entry.blocked {
                holder.waits = Some(entry.mode);
                waits.push(Resource {
                    name: entry.resource,
                    blockers: Vec::new(),
                    waiters: vec![holder],
                });
            } else {
                holder.holds = Some(entry.mode);
                match waits.last_mut() {
                    Some(wait) if wait.name == entry.resource => wait.blockers.push(holder),
                    _ => waits.push(Resource {
                        name: entry.resource,
                        blockers: vec![holder],
                        waiters: Vec::new(),
                    }),
                }
            }
        }
        if waits.is_empty() {
            for name in std::mem::take(&mut self.dumped_resources) {
                if !self.resources.iter().any(|r| r.name == name) {
                    waits.push(Resource {
                        name,
                        blockers: Vec::new(),
                        waiters: Vec::new(),
                    });
                }
            }
        }
        self.resources.extend(waits);
    }
}

/// Reads one side of a graph row following the column names of the header.
fn holder<'a>(
    tokens: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
    columns: &[&str],
    waiter: bool,
) -> Option<Holder> {
    let mut holder = Holder::default();
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
                    "session" => holder.session = value,
                    "serial" => holder.serial = value,
                    "instid" => holder.instance = value,
                    _ => holder.process = value,
                }
            }
        }
    }
    holder.session?;
    Some(holder)
}

/// One line of a session block: `sid: 24 ser: 45245 audsid: … user: 90/USER` (10gR2+),
/// `pid=17 serial=39 audsid=… user: 54/SCOTT` (9i, 10g), `pid: 107 O/S info: …`, `pdb: 3/APP1`,
/// `… program: …`, `application name: …, hash value=…`. The `user:` of an `O/S info:` line is
/// the operating-system user and is not read.
fn session_field(session: &mut SessionInfo, line: &str) {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let first = tokens.first().copied().unwrap_or_default();
    if first == "sid:" || first.starts_with("pid=") || first.starts_with("sid=") {
        for (at, token) in tokens.iter().enumerate() {
            let next = tokens.get(at + 1).copied().unwrap_or_default();
            let number = |text: &str| text.trim_end_matches(',').parse::<u32>().ok();
            match token.split_once('=') {
                Some(("sid", value)) => session.sid = session.sid.or(number(value)),
                Some(("pid", value)) => session.process = number(value),
                Some(("serial", value)) => session.serial = number(value),
                Some(_) => {}
                None => match token.to_ascii_lowercase().as_str() {
                    "sid:" => session.sid = session.sid.or(number(next)),
                    "ser:" | "serial:" => session.serial = number(next),
                    "user:" if !next.is_empty() => {
                        session.user = non_empty(without_id(next));
                    }
                    _ => {}
                },
            }
        }
    } else if first == "pid:" {
        session.process = tokens.get(1).and_then(|p| p.parse().ok());
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

/// Collects a statement: `first` (text after a colon, possibly empty) and the following lines
/// up to a blank line or the next section's header. One blank line right after a header
/// without text is skipped (10g prints one). Returns the statement and the next line index.
fn statement(first: &str, lines: &[&str], mut i: usize) -> (Option<String>, usize) {
    let mut parts: Vec<&str> = Vec::new();
    let mut skipped_blank = false;
    if !first.trim().is_empty() {
        parts.push(first.trim());
    }
    while let Some(line) = lines.get(i) {
        let line = line.trim();
        if line.is_empty() && parts.is_empty() && !skipped_blank {
            skipped_blank = true;
            i += 1;
            continue;
        }
        if line.is_empty() || is_boundary(line) {
            break;
        }
        parts.push(line);
        i += 1;
    }
    (non_empty(&parts.join(" ")), i)
}

/// A line that starts another part of a trace, so that no statement, row list or session block
/// runs into it.
fn is_boundary(line: &str) -> bool {
    const STARTS: [&str; 24] = [
        "the following deadlock is not an oracle error",
        "[transaction deadlock]",
        "deadlock graph",
        "deadlock detected",
        "resource name",
        "rows waited on",
        "information on the other waiting sessions",
        "information for the other waiting sessions",
        "information for this session",
        "end of information",
        "current sql statement for this session",
        "user session for deadlock lock",
        "dump local blocker",
        "enqueue dump request",
        "global wait-for-graph",
        "global blockers dump",
        "submitting asynchronized dump request",
        "* cancel deadlock victim",
        "blocked 0x",
        "blocker 0x",
        "current wait stack",
        "-----",
        "=====",
        "*** ",
    ];
    let lower = line.to_ascii_lowercase();
    STARTS.iter().any(|start| lower.starts_with(start))
        || session_header(line).is_some()
        || is_global_marker(line)
}

/// The end of an "Information for/on … waiting sessions" section.
fn ends_session_section(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    line.starts_with("-----")
        || lower.starts_with("information for this session")
        || lower.starts_with("end of information")
        || lower.starts_with("deadlock graph")
        || lower.starts_with("deadlock detected")
        || lower.starts_with("user session for deadlock lock")
        || line.starts_with("*** ")
        || is_this_session_sql(line)
        || is_global_marker(line)
}

/// A line of `Rows waited on:`: `Session 72: no row`, `Session 1200: obj - rowid = …`,
/// `(dictionary objn - 5004374, file - …)`.
fn is_row_wait_line(line: &str) -> bool {
    if line.starts_with("(dictionary objn") {
        return true;
    }
    match session_prefix(line) {
        Some((_, rest)) => {
            let rest = rest.to_ascii_lowercase();
            rest.starts_with("no row") || rest.contains("rowid")
        }
        None => false,
    }
}

/// `current SQL:` (10gR2 and later) or `Current SQL Statement:` (9i, 10g) in a session block.
fn is_session_sql_header(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let lower = lower.trim_end();
    lower.starts_with("current sql:") || lower.starts_with("current sql statement:")
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

fn starts_with_ignore_case(line: &str, prefix: &str) -> bool {
    line.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
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

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../tests/fixtures/oracle/", $name))
        };
    }

    const TRACE_19C: &str = fixture!("19c_tx_two_sessions.trc");
    const TRACE_19C_TWO_USERS: &str = fixture!("19c_tx_tm_two_users_synthetic.trc");
    const TRACE_11G_TM: &str = fixture!("11g_tm_other_session.trc");
    const TRACE_12C_ROWS: &str = fixture!("12c_tx_rows_waited.trc");
    const TRACE_THREE: &str = fixture!("tx_three_sessions_rows.trc");
    const TRACE_10G: &str = fixture!("10g_tm_other_sessions_on.trc");
    const TRACE_9I: &str = fixture!("9i_tm_sql_before_graph.trc");
    const TRACE_ITL: &str = fixture!("11g_tx_itl_wait_stack.trc");
    const RAC_10G_NODES: &str = fixture!("rac_10_2_wfg_tm_node_numbers.trc");
    const RAC_10G_WQ: &str = fixture!("rac_10_2_wfg_tx_wq_cvtops.trc");
    const RAC_10G_SESSION: &str = fixture!("rac_10_2_user_session_only.trc");
    const RAC_11_1: &str = fixture!("rac_11_1_wfg_tx_note_1443482.trc");
    const RAC_11_2: &str = fixture!("rac_11_2_wfg_tm_three_instances.trc");
    const RAC_11_2_ANON: &str = fixture!("rac_11_2_wfg_tx_three_sessions_anonymised.trc");
    const RAC_12C_SESSION: &str = fixture!("rac_12c_user_session_only.trc");
    const RAC_12_2_GES: &str = fixture!("rac_12_2_ges_deadlock_id_synthetic.trc");

    /// Every fixture, for the tests that run over all of them.
    const ALL: [&str; 16] = [
        TRACE_19C,
        TRACE_19C_TWO_USERS,
        TRACE_11G_TM,
        TRACE_12C_ROWS,
        TRACE_THREE,
        TRACE_10G,
        TRACE_9I,
        TRACE_ITL,
        RAC_10G_NODES,
        RAC_10G_WQ,
        RAC_10G_SESSION,
        RAC_11_1,
        RAC_11_2,
        RAC_11_2_ANON,
        RAC_12C_SESSION,
        RAC_12_2_GES,
    ];

    fn holder(
        process: u32,
        session: u32,
        holds: Option<&str>,
        waits: Option<&str>,
        serial: Option<u32>,
    ) -> Holder {
        Holder {
            process: Some(process),
            session: Some(session),
            holds: holds.map(str::to_owned),
            waits: waits.map(str::to_owned),
            serial,
            ..Holder::default()
        }
    }

    /// A side of a RAC wait: its lock pointer, instance and mode.
    fn rac(lock: &str, instance: u32, blocked: bool, mode: &str) -> Holder {
        Holder {
            instance: Some(instance),
            lock: Some(lock.to_owned()),
            holds: (!blocked).then(|| mode.to_owned()),
            waits: blocked.then(|| mode.to_owned()),
            ..Holder::default()
        }
    }

    fn parse(trace: &str) -> Deadlock {
        parse_deadlock(trace).expect("the fixture holds a deadlock")
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
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

    /// The labels of every published sample and of the two written by us, layout by layout.
    #[test]
    fn labels_of_every_fixture() {
        type Case<'a> = (&'a str, &'a str, Layout, &'a [(&'a str, &'a str)]);
        let cases: [Case; 16] = [
            (
                "19c, two sessions of one user",
                TRACE_19C,
                Layout::Local,
                &[
                    ("deadlock_users", "TEST"),
                    ("deadlock_sessions", "136,254"),
                    (
                        "deadlock_resources",
                        "TX-00030013-000003CD-00000001-00000000,TX-00060006-000003BB-00000001-00000000",
                    ),
                    ("deadlock_pdbs", "CDB$ROOT"),
                    ("deadlock_programs", "sqlplus@261d716abc02 (TNS V1-V3)"),
                    (
                        "deadlock_sql",
                        "update T set n1= 4 where id = 2 | update T set n1 = 5 where id = 1",
                    ),
                ],
            ),
            (
                "19c synthetic, TX and TM",
                TRACE_19C_TWO_USERS,
                Layout::Local,
                &[
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
                ],
            ),
            (
                "11g TM, OTHER session block",
                TRACE_11G_TM,
                Layout::Local,
                &[
                    ("deadlock_users", "USER"),
                    ("deadlock_sessions", "24,72"),
                    ("deadlock_resources", "TM-000151a2-00000000"),
                    ("deadlock_object_ids", "86434"),
                    ("deadlock_sql", "delete from EMPLOYEE where EMP_ID=:1"),
                ],
            ),
            (
                "12c excerpt with elisions",
                TRACE_12C_ROWS,
                Layout::Local,
                &[
                    ("deadlock_sessions", "1200,10"),
                    (
                        "deadlock_resources",
                        "TX-00290010-00015F75-00000000-00000000,TX-00570012-00005D9B-00000000-00000000",
                    ),
                    (
                        "deadlock_sql",
                        "update employee set name=:1 | update department set address =:1 where id=:1",
                    ),
                ],
            ),
            (
                "three sessions, rows waited on",
                TRACE_THREE,
                Layout::Local,
                &[
                    ("deadlock_sessions", "272,1019,2156"),
                    (
                        "deadlock_resources",
                        "TX-0018001f-0025006a,TX-0004000e-004a8a86,TX-00360007-001b448f",
                    ),
                    ("deadlock_object_ids", "5004374"),
                ],
            ),
            (
                "10g, Information on the OTHER waiting sessions",
                TRACE_10G,
                Layout::Local,
                &[
                    ("deadlock_users", "SCOTT"),
                    ("deadlock_sessions", "148,146"),
                    ("deadlock_resources", "TM-0000dd55-00000000"),
                    ("deadlock_programs", "plsqldev.exe"),
                    ("deadlock_object_ids", "56661"),
                    (
                        "deadlock_sql",
                        "delete t_p where id = 1 | delete t_p where id = 2",
                    ),
                ],
            ),
            (
                "9i, this session's SQL before the graph",
                TRACE_9I,
                Layout::Local,
                &[
                    ("deadlock_users", "scott"),
                    ("deadlock_sessions", "20,51"),
                    ("deadlock_resources", "TM-0000260e-00000000"),
                    ("deadlock_programs", "plsqldev.exe"),
                    ("deadlock_object_ids", "9742"),
                    (
                        "deadlock_sql",
                        "delete t_p where id = 1 | delete t_p where id = 2",
                    ),
                ],
            ),
            (
                "11g ITL wait",
                TRACE_ITL,
                Layout::Local,
                &[
                    ("deadlock_sessions", "249,9"),
                    (
                        "deadlock_resources",
                        "TX-00040001-000008EC-00000000-00000000,TX-000A001F-000008BC-00000000-00000000",
                    ),
                    ("deadlock_itl", "true"),
                ],
            ),
            (
                "RAC 10g graph, node numbers",
                RAC_10G_NODES,
                Layout::Global,
                &[
                    ("deadlock_instances", "2,3"),
                    ("deadlock_resources", "TM-00009FBE-00000000"),
                    ("deadlock_object_ids", "40894"),
                ],
            ),
            (
                "RAC 10gR2 graph, wq/cvtops",
                RAC_10G_WQ,
                Layout::Global,
                &[
                    ("deadlock_instances", "1,2"),
                    (
                        "deadlock_resources",
                        "TX-001C001B-00019644,TX-00020028-00048C3E",
                    ),
                ],
            ),
            (
                "RAC 10gR2 user session block only",
                RAC_10G_SESSION,
                Layout::Global,
                &[
                    ("deadlock_users", "TBS_ZXY"),
                    ("deadlock_resources", "TX-000A0006-0000007C"),
                    ("deadlock_programs", "sqlplus@jingfa1 (TNS V1-V3)"),
                    ("deadlock_sql", "update t_lock set a=22 where a=2"),
                ],
            ),
            (
                "RAC 11.1 graph, note 1443482.1",
                RAC_11_1,
                Layout::Global,
                &[
                    ("deadlock_instances", "4,3"),
                    (
                        "deadlock_resources",
                        "TX-00AE0003-005149EF,TX-00270010-004C2DEF",
                    ),
                ],
            ),
            (
                "RAC 11.2 graph, three instances, user session block",
                RAC_11_2,
                Layout::Global,
                &[
                    ("deadlock_users", "MP_SYS"),
                    ("deadlock_sessions", "1727"),
                    ("deadlock_instances", "4,6,5"),
                    (
                        "deadlock_resources",
                        "TM-0011FFA3-00000000-00000000-00000000",
                    ),
                    ("deadlock_programs", "iis.exe"),
                    ("deadlock_object_ids", "1179555"),
                    (
                        "deadlock_sql",
                        "INSERT INTO MP_SYS.T2( column_list) SELECT column_list FROM MP_SYS.T1 WHERE MP_SYS.T1.P_ID=:B1",
                    ),
                ],
            ),
            (
                "RAC 11.2 graph, anonymised session block",
                RAC_11_2_ANON,
                Layout::Global,
                &[
                    ("deadlock_users", "TEST"),
                    ("deadlock_instances", "3,2"),
                    (
                        "deadlock_resources",
                        "TX-0001001B-00040372-00000002-00000000,TX-0006001D-0003F91A-00000002-00000000,TX-001E0008-000026F4-0000000F-00000000",
                    ),
                    ("deadlock_programs", "sqlplus@test (TNS V1-V3)"),
                    ("deadlock_sql", "update tab3 set c1=1000"),
                ],
            ),
            (
                "RAC 12c user session block only",
                RAC_12C_SESSION,
                Layout::Global,
                &[
                    ("deadlock_users", "SYS"),
                    ("deadlock_sessions", "11303"),
                    ("deadlock_programs", "sqlplus@wsqfinc1a (TNS V1-V3)"),
                    ("deadlock_sql", "update t1 set n1=n1 where n1=200"),
                ],
            ),
            (
                "RAC 12.2+ GES Deadlock ID (synthetic)",
                RAC_12_2_GES,
                Layout::Global,
                &[
                    ("deadlock_users", "ORDERS"),
                    ("deadlock_sessions", "412"),
                    ("deadlock_instances", "1,2"),
                    (
                        "deadlock_resources",
                        "TX-000A0006-0000007C-00000003-00000000,TX-001B0011-000002F1-00000003-00000000",
                    ),
                    ("deadlock_pdbs", "APP1"),
                    ("deadlock_programs", "JDBC Thin Client"),
                    (
                        "deadlock_sql",
                        "update ORDERS.ORDER_LINES set QTY = :1 where ORDER_ID = :2",
                    ),
                    ("deadlock_id", "2_1_17"),
                ],
            ),
        ];
        for (what, trace, layout, expected) in cases {
            let deadlock = parse_deadlock(trace).unwrap_or_else(|| panic!("{what}: no deadlock"));
            assert_eq!(deadlock.layout, layout, "{what}");
            assert_eq!(deadlock.labels(), labels(expected), "{what}");
            assert!(
                deadlock
                    .labels()
                    .keys()
                    .all(|k| LABELS.contains(&k.as_str())),
                "{what}: a label outside LABELS"
            );
        }
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
                    sid: Some(136),
                    serial: Some(39548),
                    process: Some(73),
                    user: Some("TEST".into()),
                    pdb: Some("CDB$ROOT".into()),
                    program: program.clone(),
                    application: Some("SQL*Plus".into()),
                    current_sql: Some("update T set n1= 4 where id = 2".into()),
                    ..SessionInfo::default()
                },
                SessionInfo {
                    sid: Some(254),
                    serial: Some(45859),
                    process: Some(74),
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
        assert!(!deadlock.itl);
    }

    #[test]
    fn crlf_gives_the_same_result() {
        for trace in ALL {
            let crlf = trace.replace('\n', "\r\n");
            assert_eq!(parse_deadlock(&crlf), parse_deadlock(trace));
        }
    }

    #[test]
    fn parses_tx_and_tm_with_two_users() {
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
                    sid: Some(24),
                    serial: Some(45245),
                    process: Some(208),
                    user: Some("USER".into()),
                    current_sql: Some("delete from EMPLOYEE where EMP_ID=:1".into()),
                    ..SessionInfo::default()
                },
                SessionInfo {
                    sid: Some(72),
                    current_sql: Some("delete from EMPLOYEE where EMP_ID=:1".into()),
                    sql_id: Some("dyfg1wd8xa9qt".into()),
                    this_session: true,
                    ..SessionInfo::default()
                },
            ]
        );
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
    }

    #[test]
    fn parses_three_sessions_with_shared_mode_waits() {
        let deadlock = parse(TRACE_THREE);
        let waits: Vec<(Option<u32>, Option<u32>, Option<&str>)> = deadlock
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
                (Some(272), Some(1019), Some("S")),
                (Some(1019), Some(2156), Some("S")),
                (Some(2156), Some(272), Some("S"))
            ]
        );
        let objects: Vec<(Option<u32>, Option<u64>, Option<&str>)> = deadlock
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
                (Some(272), Some(5004374), Some("AATFxWAQAAOgakFAAA")),
                (Some(1019), Some(5004374), Some("AATFxWAQAAOgdrgAAA")),
                (Some(2156), Some(5004374), Some("AATFxWAQAAOgdi7AAA")),
            ]
        );
    }

    /// 10g: `Information on the OTHER waiting sessions:` with `pid=… serial=… user:`, a blank
    /// line between `Current SQL Statement:` and the statement, and this session's SQL after
    /// the section, with no blank line anywhere.
    #[test]
    fn parses_10g_other_sessions_on() {
        let deadlock = parse(TRACE_10G);
        assert_eq!(
            deadlock.sessions,
            vec![
                SessionInfo {
                    sid: Some(148),
                    serial: Some(39),
                    process: Some(17),
                    user: Some("SCOTT".into()),
                    program: Some("plsqldev.exe".into()),
                    application: Some("PL/SQL Developer".into()),
                    current_sql: Some("delete t_p where id = 1".into()),
                    ..SessionInfo::default()
                },
                SessionInfo {
                    sid: Some(146),
                    current_sql: Some("delete t_p where id = 2".into()),
                    this_session: true,
                    ..SessionInfo::default()
                },
            ]
        );
    }

    /// 9i: this session's statement is printed right after `DEADLOCK DETECTED` and runs
    /// straight into "The following deadlock is not an ORACLE error", which is not SQL.
    #[test]
    fn nine_i_sql_stops_before_the_explanation() {
        let deadlock = parse(TRACE_9I);
        let this: Vec<&SessionInfo> = deadlock
            .sessions
            .iter()
            .filter(|s| s.this_session)
            .collect();
        assert_eq!(this.len(), 1);
        assert_eq!(this[0].sid, Some(51));
        assert_eq!(
            this[0].current_sql.as_deref(),
            Some("delete t_p where id = 2")
        );
        let other = &deadlock.sessions[0];
        assert_eq!(
            (
                other.sid,
                other.process,
                other.serial,
                other.user.as_deref()
            ),
            (Some(20), Some(23), Some(53179), Some("scott"))
        );
        assert!(!deadlock.labels()["deadlock_sql"].contains("ORACLE error"));
    }

    #[test]
    fn old_session_id_header_marks_this_session() {
        // Hand-made after the AskTom 8i/9i layout: `*** SESSION ID:(sid.serial)` and
        // `Current SQL statement for this session:` before the graph.
        let trace = "*** SESSION ID:(8.3883) 2002-08-07 11:09:23.816\n\
            DEADLOCK DETECTED\n\
            Current SQL statement for this session:\n\
            update t set x = :x1 where x = :x2\n\
            The following deadlock is not an ORACLE error. It is a\n\
            deadlock due to user error in the design of an application\n\
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
        assert_eq!((this[0].sid, this[0].serial), (Some(8), Some(3883)));
        assert_eq!(
            this[0].current_sql.as_deref(),
            Some("update t set x = :x1 where x = :x2")
        );
    }

    /// A `Rows waited on:` list ends at the next section even without a blank line, and its
    /// header may carry text after the colon.
    #[test]
    fn rows_waited_on_is_bounded_by_the_next_section() {
        // 11g with the blank lines after the rows taken out.
        let tight = TRACE_11G_TM.replace("no row\n\n", "no row\n");
        assert_eq!(parse(&tight), parse(TRACE_11G_TM));
        let trace = "Deadlock graph:\n\
            Resource Name          process session holds waits  process session holds waits\n\
            TX-0009001b-0001a2b3        30      11     X             31      12           X\n\
            TX-000a0004-0000c1d2        31      12     X             30      11           X\n\
            Rows waited on:  Session 11: obj - rowid = 0009AF12 - AAAJvRAAHAAAAWjAAF\n\
            (dictionary objn - 636690, file - 7, block - 22627, slot - 5)\n\
            Session 12: no row\n\
            Current SQL statement for this session:\n\
            update ORDERS.T set x = 1 where id = 2\n";
        let deadlock = parse(trace);
        let eleven = &deadlock.sessions[0];
        assert_eq!(eleven.sid, Some(11));
        assert_eq!(
            eleven.object.as_ref().and_then(|o| o.object_id),
            Some(636690)
        );
        assert_eq!(
            deadlock.labels()["deadlock_sql"],
            "update ORDERS.T set x = 1 where id = 2",
            "the SQL after the rows is this session's, not swallowed"
        );
    }

    #[test]
    fn itl_waits_are_labelled() {
        let deadlock = parse(TRACE_ITL);
        assert!(deadlock.itl);
        // The blockers and waiters the wait stack lists (sid 357) are not the deadlock's.
        let sids: Vec<Option<u32>> = deadlock.sessions.iter().map(|s| s.sid).collect();
        assert_eq!(sids, [Some(249), Some(9)]);
        assert_eq!(deadlock.resources[1].waiters[0].waits.as_deref(), Some("S"));
        for trace in [TRACE_19C, TRACE_10G, RAC_11_2] {
            assert!(!parse(trace).labels().contains_key("deadlock_itl"));
        }
    }

    #[test]
    fn rac_wait_for_graph_pairs_blocked_and_blocker_lines() {
        let deadlock = parse(RAC_11_2);
        let tm = "TM-0011FFA3-00000000-00000000-00000000";
        let mut first_waiter = rac("0x551b2c698", 4, true, "SX");
        first_waiter.session = Some(1727);
        first_waiter.serial = Some(539);
        first_waiter.process = Some(107);
        let mut last_blocker = rac("0x551b2c698", 4, false, "SSX");
        last_blocker.session = Some(1727);
        last_blocker.serial = Some(539);
        last_blocker.process = Some(107);
        assert_eq!(
            deadlock.resources,
            vec![
                Resource {
                    name: tm.into(),
                    waiters: vec![first_waiter],
                    blockers: vec![rac("0x5513ed318", 6, false, "SX")],
                },
                Resource {
                    name: tm.into(),
                    waiters: vec![rac("0x5513ed318", 6, true, "SSX")],
                    blockers: vec![rac("0x5513ef5b8", 5, false, "SSX")],
                },
                Resource {
                    name: tm.into(),
                    waiters: vec![rac("0x5513ef5b8", 5, true, "SSX")],
                    blockers: vec![last_blocker],
                },
            ]
        );
        assert_eq!(
            deadlock.sessions,
            vec![SessionInfo {
                sid: Some(1727),
                serial: Some(539),
                process: Some(107),
                instance: Some(4),
                lock: Some("0x551b2c698".into()),
                user: Some("MP_SYS".into()),
                program: Some("iis.exe".into()),
                current_sql: Some(
                    "INSERT INTO MP_SYS.T2( column_list) SELECT column_list FROM MP_SYS.T1 WHERE MP_SYS.T1.P_ID=:B1"
                        .into()
                ),
                this_session: true,
                ..SessionInfo::default()
            }],
            "the victim LMD cancelled is this session"
        );
        let waiter = &deadlock.resources[0].waiters[0];
        assert_eq!(
            deadlock.session_of(waiter).and_then(|s| s.user.as_deref()),
            Some("MP_SYS")
        );
        assert_eq!(
            deadlock.session_of(&deadlock.resources[0].blockers[0]),
            None
        );
    }

    #[test]
    fn rac_10g_forms_read_modes_and_node_numbers() {
        let deadlock = parse(RAC_10G_NODES);
        assert_eq!(
            deadlock.resources[0],
            Resource {
                name: "TM-00009FBE-00000000".into(),
                waiters: vec![rac("0x5d061dc0", 2, true, "SSX")],
                blockers: vec![rac("0x5d442804", 3, false, "SSX")],
            }
        );
        let deadlock = parse(RAC_10G_WQ);
        assert_eq!(
            deadlock.resources[1],
            Resource {
                name: "TX-00020028-00048C3E".into(),
                waiters: vec![rac("0x1d4ac8e00", 2, true, "X")],
                blockers: vec![rac("0x1d48ee550", 1, false, "X")],
            }
        );
        let session = &parse(RAC_10G_SESSION).sessions[0];
        assert_eq!(
            (session.sid, session.process, session.serial),
            (None, Some(18), Some(57)),
            "10g prints the process, not the sid"
        );
        assert_eq!(session.lock.as_deref(), Some("0x82f5c810"));
    }

    #[test]
    fn a_graph_line_of_each_generation() {
        let cases = [
            (
                "BLOCKED 0x5d061dc0 4 [0x9fbe][0x0],[TM] [197000-0002-0000000A] 1",
                "TM-00009FBE-00000000",
                Some(2),
            ),
            (
                "BLOCKER 0x1b81f25d0 5 wq 1 cvtops x8 [0x1c001b][0x19644],[TX] [B3000-0002-00000C60] 1 ",
                "TX-001C001B-00019644",
                Some(2),
            ),
            (
                "BLOCKER 0x30d29ce90 5 wq 1 cvtops x28   TX 0xae0003.0x5149ef [5D000-0003-001E8444] 2",
                "TX-00AE0003-005149EF",
                Some(3),
            ),
            (
                "BLOCKED 0x551b2c698 2 wq 2 cvtops x1 TM 0x11ffa3.0x0(ext 0x0,0x0)[6B000-0004-0000022D] inst 4",
                "TM-0011FFA3-00000000-00000000-00000000",
                Some(4),
            ),
            (
                "BLOCKER 0x75e76e408 5 wq 2 cvtops x1 TX 0x7f0001.0x5fac(ext 0x39,0x0)[C7000-0001-00000007] inst 1",
                "TX-007F0001-00005FAC-00000039-00000000",
                Some(1),
            ),
        ];
        for (line, resource, instance) in cases {
            let entry = wfg_entry(line.trim()).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(entry.resource, resource, "{line}");
            assert_eq!(entry.instance, instance, "{line}");
        }
        for line in [
            "BLOCKED",
            "BLOCKED 0x5d061dc0",
            "BLOCKED 0x5d061dc0 4 [0xzz][0x0],[TM]",
            "BLOCKER lockp 5 TX 0x1.0x2",
            "BLOCKED 0x1 99999999999999999999 TX 0x1.0x2",
        ] {
            let _ = wfg_entry(line);
        }
    }

    #[test]
    fn twelve_two_ges_deadlock_id() {
        let deadlock = parse(RAC_12_2_GES);
        assert_eq!(deadlock.ges_id.as_deref(), Some("2_1_17"));
        let session = &deadlock.sessions[0];
        assert!(session.this_session);
        assert_eq!(session.instance, Some(1));
        // The header alone, or with only a session block, is still a deadlock.
        let header = "Global Wait-For-Graph(WFG) for GES Deadlock ID=[5_1_3]\n";
        assert_eq!(parse(header).labels(), labels(&[("deadlock_id", "5_1_3")]));
        let with_block = format!("{RAC_12C_SESSION}{header}");
        assert_eq!(
            parse(&with_block).labels()["deadlock_users"],
            "SYS",
            "the block before the header is the deadlock's"
        );
    }

    #[test]
    fn only_the_last_deadlock_of_a_trace_is_parsed() {
        let both = format!("{TRACE_11G_TM}\n{TRACE_19C}");
        assert_eq!(parse(&both), parse(TRACE_19C));
        // An LMD trace grows: the graph printed last, with the blocks of its locks.
        let lmd = format!("{RAC_11_2_ANON}\n{RAC_11_2}");
        assert_eq!(parse(&lmd), parse(RAC_11_2));
        let mixed = format!("{TRACE_19C}\n{RAC_10G_WQ}");
        assert_eq!(parse(&mixed), parse(RAC_10G_WQ));
        let back = format!("{RAC_10G_WQ}\n{TRACE_19C}");
        assert_eq!(parse(&back), parse(TRACE_19C));
    }

    #[test]
    fn an_lmd_session_id_header_does_not_add_a_session() {
        let lmd = format!("*** SESSION ID:(331.1) 2015-02-27 04:00:00.000\n{RAC_11_2}");
        assert_eq!(parse(&lmd), parse(RAC_11_2));
    }

    #[test]
    fn rac_instance_column() {
        let trace = "Deadlock graph:\n\
            Resource Name  instId session holds waits serial instId session holds waits serial\n\
            TX-0031344A-00000001   0   25   X   3   0   22   X   4\n";
        let deadlock = parse(trace);
        let blocker = &deadlock.resources[0].blockers[0];
        assert_eq!((blocker.instance, blocker.process), (Some(0), None));
        assert_eq!((blocker.session, blocker.serial), (Some(25), Some(3)));
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
            "Global Wait-For-Graph(WFG) at ddTS[0.1] :\n\nBLOCKED\n",
            "Information on the OTHER waiting sessions:\nEnd of information on OTHER waiting sessions.\n",
        ] {
            assert_eq!(parse_deadlock(text), None, "{text:?}");
        }
    }

    #[test]
    fn truncated_traces_do_not_panic() {
        for trace in ALL {
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
        let mut rows = Rows::new(["inst_id", "record_id", "adr_home", "trace_file", "pdb"]);
        for (i, file) in trace_files.iter().enumerate() {
            rows.rows.push(vec![
                Value::Int(2),
                Value::Int(i as i64 + 1),
                Value::text("diag/rdbms/orclcdb/ORCLCDB2"),
                file.clone(),
                Value::text("APP1"),
            ]);
        }
        rows
    }

    #[test]
    fn add_labels_puts_the_trace_labels_on_their_row() {
        let mut rows = deadlock_rows(&[
            Value::text("/opt/oracle/diag/rdbms/orclcdb/ORCLCDB2/trace/ORCLCDB2_ora_4562.trc"),
            Value::Null,
            Value::text(
                "Global Enqueue Services Deadlock detected. More info in file\n/u01/diag/trace/ORCLCDB2_lmd0_99.trc.",
            ),
        ]);
        let mut asked = Vec::new();
        let warnings = add_labels(&mut rows, |trace| {
            asked.push((
                trace.adr_home.map(str::to_owned),
                trace.inst_id,
                trace.name.to_owned(),
            ));
            Ok(match trace.name {
                "ORCLCDB2_ora_4562.trc" => TRACE_19C_TWO_USERS.to_owned(),
                _ => RAC_11_2.to_owned(),
            })
        });
        assert!(warnings.is_empty(), "{warnings:?}");
        let home = Some("diag/rdbms/orclcdb/ORCLCDB2".to_owned());
        assert_eq!(
            asked,
            [
                (home.clone(), Some(2), "ORCLCDB2_ora_4562.trc".to_owned()),
                (home, Some(2), "ORCLCDB2_lmd0_99.trc".to_owned()),
            ],
            "one read per named trace, by file name, ADR home and instance"
        );
        let users = rows.column("deadlock_users").unwrap();
        assert_eq!(rows.rows[0][users], Value::text("TEST,ORDERS"));
        assert_eq!(
            rows.rows[1][users],
            Value::Null,
            "no trace named: no labels"
        );
        assert_eq!(rows.rows[2][users], Value::text("MP_SYS"));
        let instances = rows.column("deadlock_instances").unwrap();
        assert_eq!(rows.rows[2][instances], Value::text("4,6,5"));
        assert_eq!(
            rows.columns[..5],
            ["inst_id", "record_id", "adr_home", "trace_file", "pdb"]
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
        let warnings = add_labels(&mut rows, |trace| match trace.name {
            "a.trc" => Err(TraceError::Failed(
                "ORA-03113: end-of-file on communication channel".into(),
            )),
            "b.trc" => Ok(String::new()),
            "c.trc" => Ok("*** 2026-11-23 08:14:02\nnothing to see\n".into()),
            _ => Err(TraceError::Unavailable(
                "GV$DIAG_TRACE_FILE_CONTENTS cannot be read".into(),
            )),
        });
        assert_eq!(rows, before, "rows are kept as they were");
        assert_eq!(
            warnings,
            [
                "trace file a.trc cannot be read: ORA-03113: end-of-file on communication channel",
                "trace file b.trc is not in GV$DIAG_TRACE_FILE_CONTENTS (purged, or not in the ADR home and instance the row names)",
                "trace file c.trc holds no deadlock",
                "GV$DIAG_TRACE_FILE_CONTENTS cannot be read",
            ]
        );

        // Once the view is unavailable, no later row asks again.
        let mut rows = deadlock_rows(&files);
        let mut reads = 0;
        let warnings = add_labels(&mut rows, |_| {
            reads += 1;
            Err(TraceError::Unavailable("not granted".into()))
        });
        assert_eq!((reads, warnings.len()), (1, 1));

        let mut no_column = Rows::new(["record_id"]);
        no_column.rows.push(vec![Value::Int(1)]);
        let warnings = add_labels(&mut no_column, |_| unreachable!());
        assert!(
            warnings[0].contains("no `trace_file` column"),
            "{warnings:?}"
        );
    }

    #[test]
    fn the_trace_query_reads_the_instance_and_is_bounded() {
        assert!(TRACE_SQL.ends_with(&format!("fetch first {MAX_TRACE_LINES} rows only")));
        assert!(TRACE_SQL.contains("from gv$diag_trace_file_contents"));
        assert!(TRACE_SQL.contains(":inst_id"));
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
        let warnings = add_labels(&mut rows, |_| {
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
