//! The state file: one SQLite database (WAL) holding firing alerts, the notification log,
//! event cursors and the event fingerprints already sent, plus the lock that lets one `poll`
//! at a time use it.
//!
//! - **Schema.** `PRAGMA application_id` marks the file as dbalert's; `PRAGMA user_version` is
//!   the schema version, and [`MIGRATIONS`] lists the steps to it, applied in one transaction.
//!   Values are stored typed (`STRICT` tables; times as RFC 3339 text in UTC, maps and sets as
//!   JSON text) so the file is readable with the `sqlite3` shell.
//! - **Refusals.** A file that is not SQLite, a SQLite file dbalert did not write, a file with a
//!   missing table, and a file from a newer dbalert are reported with what to do, and are never
//!   written to: the checks that can refuse run before anything writes. A file damaged
//!   mid-way is reported as damaged wherever a read finds it (`status` reads it all).
//!   An existing empty file is started afresh with a warning (it was probably truncated).
//! - **Saving.** [`StateStore::save`] writes one run's [`Changes`] in one transaction. The caller
//!   saves only after delivery was accepted, so a crash between sending and saving repeats a
//!   notification and never loses one.
//!
//! What to change (fire, repeat, resolve) is decided elsewhere; this module only keeps it.

use std::collections::{BTreeSet, HashSet};
use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use crate::alert::{Fingerprint, Labels};
use crate::config::ReceiverName;
use crate::source::{Value, ValueKind};

/// The schema steps, in order; step `i` takes the file from version `i` to `i + 1`. Never edit
/// a released step: add one.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE alerts (
        fingerprint      TEXT PRIMARY KEY,
        check_name       TEXT NOT NULL,
        labels           TEXT NOT NULL,
        annotations      TEXT NOT NULL,
        starts_at        TEXT NOT NULL,
        last_seen_at     TEXT NOT NULL,
        last_notified_at TEXT,
        resolved_at      TEXT
    ) STRICT;
    CREATE INDEX alerts_by_check ON alerts (check_name);
    CREATE TABLE notifications (
        group_key   TEXT NOT NULL,
        receiver    TEXT NOT NULL,
        firing      TEXT NOT NULL,
        resolved    TEXT NOT NULL,
        notified_at TEXT NOT NULL,
        PRIMARY KEY (group_key, receiver)
    ) STRICT;
    CREATE TABLE cursors (
        check_name TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        value      TEXT NOT NULL
    ) STRICT;
    CREATE TABLE seen_events (
        seq         INTEGER PRIMARY KEY,
        check_name  TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        UNIQUE (check_name, fingerprint)
    ) STRICT;
    CREATE INDEX seen_events_by_age ON seen_events (check_name, seq);",
    // 2: the Slack message a group's notifications thread under (Slack app receivers).
    "ALTER TABLE notifications ADD COLUMN thread_channel TEXT;
    ALTER TABLE notifications ADD COLUMN thread_ts TEXT;",
    // 3: silences (from the shell or Slack) and acknowledged groups.
    "CREATE TABLE silences (
        id         TEXT PRIMARY KEY,
        matchers   TEXT NOT NULL,
        starts_at  TEXT NOT NULL,
        ends_at    TEXT NOT NULL,
        created_by TEXT NOT NULL,
        comment    TEXT NOT NULL
    ) STRICT;
    CREATE TABLE acks (
        group_key TEXT PRIMARY KEY,
        acked_by  TEXT NOT NULL,
        acked_at  TEXT NOT NULL
    ) STRICT;",
    // 4: the audit trail: what people asked for from Slack or the shell, and what came of it.
    // Append-only: the triggers refuse to change or remove a row.
    "CREATE TABLE audit (
        seq        INTEGER PRIMARY KEY,
        at         TEXT NOT NULL,
        request_id TEXT NOT NULL,
        phase      TEXT NOT NULL,
        actor      TEXT NOT NULL,
        channel    TEXT,
        what       TEXT NOT NULL,
        target     TEXT NOT NULL,
        outcome    TEXT NOT NULL,
        detail     TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_by_request ON audit (request_id);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit table is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit table is append-only'); END;",
    // 5: the buttons on a group's Slack messages: a random id per (receiver, group) that a
    // click names, with the group's labels and the silence made from it; and the id each
    // Alertmanager cluster gave a silence, to expire it there too.
    "CREATE TABLE buttons (
        id         TEXT PRIMARY KEY,
        receiver   TEXT NOT NULL,
        group_key  TEXT NOT NULL,
        labels     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        silence_id TEXT,
        UNIQUE (receiver, group_key)
    ) STRICT;
    CREATE TABLE cluster_silences (
        silence_id TEXT NOT NULL,
        receiver   TEXT NOT NULL,
        cluster_id TEXT NOT NULL,
        PRIMARY KEY (silence_id, receiver)
    ) STRICT;",
    // 6: action requests waiting for a confirmation or an approval; each is taken once.
    "CREATE TABLE action_requests (
        id           TEXT PRIMARY KEY,
        action       TEXT NOT NULL,
        args         TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        team_id      TEXT NOT NULL,
        channel_id   TEXT,
        stage        TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        expires_at   TEXT NOT NULL,
        taken_by     TEXT
    ) STRICT;",
    // 7: where the result of an action request made with a runbook button goes: the thread of
    // the alert message it was clicked on, posted with that receiver's token.
    "CREATE TABLE action_threads (
        request_id TEXT PRIMARY KEY,
        receiver   TEXT NOT NULL,
        channel    TEXT NOT NULL,
        thread_ts  TEXT NOT NULL
    ) STRICT;",
    // 8: a hash of what each alert of a state check was made from (its row and the check's
    // labels and annotations), so that a run finding the same row needs not make the alert
    // again to know it is unchanged. NULL until the alert is next returned.
    "ALTER TABLE alerts ADD COLUMN digest INTEGER;",
];

/// The schema version this build writes and the newest it can read.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The tables a current file must hold.
const TABLES: &[&str] = &[
    "alerts",
    "notifications",
    "cursors",
    "seen_events",
    "silences",
    "acks",
    "audit",
    "action_requests",
    "action_threads",
    "buttons",
    "cluster_silences",
];

/// Marks a SQLite file as a dbalert state file ("dbal").
const APPLICATION_ID: i32 = 0x6462_616c;

/// How many event fingerprints are remembered per check, newest first. The cursor already
/// keeps old rows out; these catch rows that share the cursor's value or arrive late.
pub const MAX_SEEN_EVENTS_PER_CHECK: u32 = 10_000;

/// How long a write waits for another connection (`status` reading, say) to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a waiting lock attempt tries again.
const LOCK_RETRY: Duration = Duration::from_millis(100);

/// Why the state file cannot be used. Every message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another `poll` holds the lock; the CLI exits 75 (EX_TEMPFAIL).
    #[error(
        "another dbalert poll is using the state file {}; let it finish, or pass --wait-lock DURATION to wait for it",
        .path.display()
    )]
    Locked { path: PathBuf },
    /// The file is not a dbalert state file, or is damaged. It was not touched.
    #[error(
        "{} is not a usable dbalert state file: {reason}; it was left untouched: move it aside to start a new one (alerts still firing will be notified again), or set state.path to another file",
        .path.display()
    )]
    Corrupt { path: PathBuf, reason: String },
    /// The file was written by a newer dbalert. It was not touched.
    #[error(
        "{} was written by a newer dbalert (state schema version {found}; this dbalert knows up to {known}); it was left untouched: run the newer dbalert, or set state.path to another file",
        .path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    // The cause is part of the message, not a `source`: error chains would print it twice.
    #[error("cannot use {}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("state file {}: {error}", .path.display())]
    Sqlite {
        path: PathBuf,
        error: rusqlite::Error,
    },
}

/// The lock that lets one `poll` at a time use a state file: an exclusive lock on
/// `<state file>.lock`, released when this is dropped (or the process dies). The lock file
/// itself stays, since removing it would let two processes lock two different files.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Takes the lock for the state file at `state_path`, or fails with
    /// [`StateError::Locked`] at once if another process holds it.
    pub fn acquire(state_path: &Path) -> Result<Self, StateError> {
        Self::acquire_within(state_path, Duration::ZERO)
    }

    /// Like [`acquire`](Self::acquire), but keeps trying for up to `wait` (`--wait-lock`). It
    /// blocks the thread while it waits.
    pub fn acquire_within(state_path: &Path, wait: Duration) -> Result<Self, StateError> {
        let mut lock_path = state_path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        create_parent(&lock_path)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|source| StateError::Io {
                path: lock_path.clone(),
                error: source,
            })?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { _file: file }),
                Err(TryLockError::WouldBlock) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(StateError::Locked {
                            path: state_path.to_owned(),
                        });
                    }
                    std::thread::sleep(left.min(LOCK_RETRY));
                }
                Err(TryLockError::Error(source)) => {
                    return Err(StateError::Io {
                        path: lock_path,
                        error: source,
                    });
                }
            }
        }
    }
}

/// One alert the store remembers: firing, or resolved and not yet notified as such.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub fingerprint: Fingerprint,
    /// The check that raised it. Shared: a check's alerts, read from the file, share one.
    pub check: Arc<str>,
    pub labels: StoredLabels,
    pub annotations: StoredLabels,
    /// What a state check's row alert was made from, hashed (`check::alerts::RowAlert`);
    /// `None` for other alerts, and for one not returned since the file got the column.
    pub digest: Option<u64>,
    /// When it first fired.
    pub starts_at: Timestamp,
    /// The last run that fired it or changed its labels or annotations (a run that returns it
    /// unchanged writes nothing, so a steady state costs no writes).
    pub last_seen_at: Timestamp,
    /// The last notification about it that a receiver accepted.
    pub last_notified_at: Option<Timestamp>,
    /// When a successful run first no longer returned it.
    pub resolved_at: Option<Timestamp>,
}

/// Labels (or annotations) as the state file keeps them: the JSON text of the map.
///
/// A poll holds every alert the store remembers; as text, one alert takes one allocation of
/// just its length instead of a map node and two strings per label, and an alert that a run
/// returns unchanged is recognised by comparing text, without parsing what was stored. The text
/// is always a JSON object of strings: it is made from a map, or checked when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLabels(Box<str>);

impl StoredLabels {
    /// The map as text. Maps are ordered and serialized one way, so equal maps give equal text.
    pub fn new(map: &Labels) -> Self {
        let text = serde_json::to_string(map).expect("a map of strings always serializes");
        Self(text.into_boxed_str())
    }

    /// The map back.
    pub fn parse(&self) -> Labels {
        serde_json::from_str(&self.0).expect("stored labels are checked when read")
    }

    /// Checks text read from the state file.
    pub(super) fn checked(text: &str) -> Result<Self, String> {
        // Checked without building anything (this runs twice for every stored alert on every
        // poll); text it refuses is parsed as a map, which says what is wrong with it.
        if serde_json::from_str::<StringMap>(text).is_err() {
            from_json::<Labels>(text)?;
        }
        Ok(Self(text.into()))
    }

    /// Writes the labels named in `names` to `out`, in name order, each name and value closed
    /// by a 0xFF byte (which text never holds): what routing reads of an alert, as one string
    /// that alerts routed alike share (`poll::gather`). Nothing is allocated but `out`.
    pub fn project(&self, names: &BTreeSet<&str>, out: &mut Vec<u8>) {
        let mut deserializer = serde_json::Deserializer::from_str(&self.0);
        let picked = Picked { names, out };
        serde::de::DeserializeSeed::deserialize(picked, &mut deserializer)
            .expect("stored labels are checked when read");
    }

    /// Whether this is the text of `map`. The map is written against the text rather than
    /// into a new string, so an alert that a run returns unchanged (every alert, in a steady
    /// state) costs no allocation, and the first byte that differs ends the comparison.
    pub fn holds(&self, map: &Labels) -> bool {
        struct Against<'a>(&'a [u8]);
        impl std::io::Write for Against<'_> {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                match self.0.strip_prefix(bytes) {
                    Some(rest) => {
                        self.0 = rest;
                        Ok(bytes.len())
                    }
                    None => Err(std::io::ErrorKind::InvalidData.into()),
                }
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut rest = Against(self.0.as_bytes());
        serde_json::to_writer(&mut rest, map).is_ok() && rest.0.is_empty()
    }
}

/// A JSON object of strings, read and let go: deserializing it only checks the text.
struct StringMap;

impl<'de> serde::Deserialize<'de> for StringMap {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = StringMap;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object of strings")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<StringMap, A::Error> {
                while map.next_entry::<Borrowed, Borrowed>()?.is_some() {}
                Ok(StringMap)
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// The labels of a JSON object whose names are in `names`, written to `out` (see
/// [`StoredLabels::project`]).
struct Picked<'a> {
    names: &'a BTreeSet<&'a str>,
    out: &'a mut Vec<u8>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Picked<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Picked<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object of strings")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Borrowed(name)) = map.next_key()? {
            if !self.names.contains(&*name) {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            let Borrowed(value) = map.next_value()?;
            for text in [&*name, &*value] {
                self.out.extend_from_slice(text.as_bytes());
                self.out.push(0xff);
            }
        }
        Ok(())
    }
}

/// A JSON string, borrowed from the text unless it holds escapes (serde's own `Cow` always
/// copies).
struct Borrowed<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Borrowed<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> serde::de::Visitor<'de> for Text {
            type Value = Borrowed<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                text: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(Borrowed(text.into()))
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Borrowed(text.to_owned().into()))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

/// What was last notified to one receiver for one group (Alertmanager's nflog entry): the
/// fingerprints notified as firing and as resolved, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationEntry {
    pub group_key: String,
    pub receiver: ReceiverName,
    pub firing: BTreeSet<Fingerprint>,
    pub resolved: BTreeSet<Fingerprint>,
    pub notified_at: Timestamp,
    /// The message that announced the group, for receivers that thread (Slack app).
    pub thread: Option<Thread>,
}

/// A Slack message that later notifications of its group reply to and update: the channel's
/// ID and the message's `ts`, as `chat.postMessage` returned them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub channel: String,
    pub ts: String,
}

/// A group someone acknowledged: its repeat notifications stop until it resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The group's key, as the notification log has it.
    pub group_key: String,
    /// Who acknowledged it: `<@U…>` for a Slack user.
    pub acked_by: String,
    pub acked_at: Timestamp,
}

/// What the store holds for one check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckState {
    /// Its alerts, firing or resolved-but-not-yet-notified, oldest first.
    pub alerts: Vec<AlertRecord>,
    /// The largest cursor value delivered, with the type it was read with.
    pub cursor: Option<Value>,
    /// Fingerprints of the events already sent (the newest [`MAX_SEEN_EVENTS_PER_CHECK`]).
    pub seen_events: HashSet<Fingerprint>,
}

/// Everything one run changes, saved in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Alerts to insert, or to replace by fingerprint.
    pub alerts: Vec<AlertRecord>,
    /// Fingerprints of alerts to forget (resolved, and the resolution notified).
    pub removed_alerts: Vec<Fingerprint>,
    /// Notification log entries to insert, or to replace by group key and receiver.
    pub notifications: Vec<NotificationEntry>,
    /// Notification log entries to forget, by group key and receiver.
    pub removed_notifications: Vec<(String, ReceiverName)>,
    /// New cursor values, by check name.
    pub cursors: Vec<(String, Value)>,
    /// Events sent, as (check name, fingerprint).
    pub seen_events: Vec<(String, Fingerprint)>,
    /// Acknowledgements that ended (their group resolved), by group key.
    pub removed_acks: Vec<String>,
}

impl Changes {
    /// Whether saving would change nothing.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
            && self.removed_alerts.is_empty()
            && self.notifications.is_empty()
            && self.removed_notifications.is_empty()
            && self.cursors.is_empty()
            && self.seen_events.is_empty()
            && self.removed_acks.is_empty()
    }
}

/// An open state file.
#[derive(Debug)]
pub struct StateStore {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
}

impl StateStore {
    /// Opens the state file at `path`, creating it (and its directories, mode 0700) if it does
    /// not exist, and brings its schema up to date. Refuses, without writing to it, a file
    /// that is not a dbalert state file or comes from a newer dbalert. Taking the
    /// [`StateLock`] first is the caller's job.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        create_parent(path)?;
        // Alert labels hold database content; keep the file private from the start, since
        // SQLite gives the -wal and -shm files the main file's mode.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => warn_if_empty(path)?,
            Err(source) => {
                return Err(StateError::Io {
                    path: path.to_owned(),
                    error: source,
                });
            }
        }
        let conn = Connection::open(path).map_err(|err| sqlite_error(path, err))?;
        let mut store = Self {
            conn,
            path: path.to_owned(),
        };
        store
            .conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| store.error(e))?;
        let version = store.check_identity()?;
        // Only now that the file is known to be ours (or empty) may anything write to it.
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .map_err(|e| store.error(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            store
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                .map_err(|e| store.error(e))?;
        }
        if version < SCHEMA_VERSION {
            store.migrate()?;
        }
        store.check_tables()?;
        Ok(store)
    }

    /// Refuses the file if it is damaged: SQLite's `PRAGMA quick_check` of every page, then
    /// every notification log entry read (alerts are read by the caller). It reads the whole
    /// file, so it is for commands run by hand, such as `status`.
    pub fn check_integrity(&self) -> Result<(), StateError> {
        let first: String = self
            .conn
            .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
            .map_err(|e| self.error(e))?;
        if first != "ok" {
            return Err(self.corrupt(format!("the SQLite file is damaged ({first})")));
        }
        self.notifications().map(drop)
    }

    /// What the store holds for `check`.
    pub fn load(&self, check: &str) -> Result<CheckState, StateError> {
        let mut alerts = Vec::new();
        self.read_alerts(Some(check), Order::Oldest, |alert| alerts.push(alert))?;
        let cursor = self
            .conn
            .prepare_cached("SELECT kind, value FROM cursors WHERE check_name = ?1")
            .and_then(|mut statement| {
                statement
                    .query_row([check], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                    })
                    .optional()
            })
            .map_err(|e| self.error(e))?
            .map(|(kind, value)| {
                ValueKind::parse(&kind)
                    .ok_or_else(|| format!("unknown value kind `{kind}`"))
                    .and_then(|kind| Value::from_text(kind, &value))
                    .map_err(|reason| {
                        self.corrupt(format!("the cursor of check {check}: {reason}"))
                    })
            })
            .transpose()?;
        let mut statement = self
            .conn
            .prepare_cached("SELECT fingerprint FROM seen_events WHERE check_name = ?1")
            .map_err(|e| self.error(e))?;
        let seen: Vec<String> = statement
            .query_map([check], |row| row.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.error(e))?;
        let seen_events = seen
            .iter()
            .map(|text| parse_fingerprint(text))
            .collect::<Result<_, _>>()
            .map_err(|reason| self.corrupt(format!("the events of check {check}: {reason}")))?;
        Ok(CheckState {
            alerts,
            cursor,
            seen_events,
        })
    }

    /// Every alert the store remembers, of every check, oldest first (for `dbalert status`).
    pub fn alerts(&self) -> Result<Vec<AlertRecord>, StateError> {
        let mut alerts = Vec::new();
        self.read_alerts(None, Order::Oldest, |alert| alerts.push(alert))?;
        Ok(alerts)
    }

    /// Hands every alert the store remembers to `each` as it is read, in no particular order,
    /// so that a caller that keeps them its own way (a poll, by fingerprint) never holds them
    /// twice, and SQLite does not sort them all first.
    pub fn each_alert(&self, each: impl FnMut(AlertRecord)) -> Result<(), StateError> {
        self.read_alerts(None, Order::Stored, each)
    }

    /// The whole notification log.
    pub fn notifications(&self) -> Result<Vec<NotificationEntry>, StateError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT group_key, receiver, firing, resolved, notified_at, thread_channel, thread_ts
                 FROM notifications ORDER BY group_key, receiver",
            )
            .map_err(|e| self.error(e))?;
        type Row = ([String; 5], Option<String>, Option<String>);
        let rows: Vec<Row> = statement
            .query_map([], |row| {
                Ok((
                    [
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ],
                    row.get(5)?,
                    row.get(6)?,
                ))
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.error(e))?;
        rows.into_iter()
            .map(|([group_key, receiver, firing, resolved, notified_at], channel, ts)| {
                let context = |reason: String| {
                    self.corrupt(format!(
                        "notification log entry for group {group_key} and receiver {receiver}: {reason}"
                    ))
                };
                Ok(NotificationEntry {
                    firing: from_json_set(&firing).map_err(context)?,
                    resolved: from_json_set(&resolved).map_err(context)?,
                    notified_at: parse_time(&notified_at).map_err(context)?,
                    thread: channel.zip(ts).map(|(channel, ts)| Thread { channel, ts }),
                    receiver: ReceiverName(receiver),
                    group_key,
                })
            })
            .collect()
    }

    /// SQLite's `PRAGMA data_version`: it changes when another connection (`dbalert silence`,
    /// `ack`, `serve`) commits to the file, and not for this one's own writes, so a
    /// long-running service can tell cheaply whether what it read is still what the file holds.
    pub fn data_version(&self) -> Result<i64, StateError> {
        // Cached: `run` asks before every batch.
        self.conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
            .map_err(|e| self.error(e))
    }

    /// Writes one run's changes, all or nothing.
    pub fn save(&mut self, changes: &Changes) -> Result<(), StateError> {
        let path = self.path.clone();
        let error = |err| sqlite_error(&path, err);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(error)?;
        write_alerts(&tx, changes)
            .and_then(|()| write_log(&tx, changes))
            .and_then(|()| write_events(&tx, changes))
            .and_then(|()| write_acks(&tx, changes))
            .map_err(error)?;
        tx.commit().map_err(error)
    }

    /// Reads the header fields that say whose file this is, and refuses what is not ours or
    /// is newer. Reads only. Returns the schema version.
    fn check_identity(&self) -> Result<u32, StateError> {
        let pragma = |name: &str| -> Result<i64, StateError> {
            self.conn
                .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
                .map_err(|e| self.error(e))
        };
        let application_id = pragma("application_id")?;
        let version = pragma("user_version")?;
        let objects: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .map_err(|e| self.error(e))?;
        let is_new = application_id == 0 && version == 0 && objects == 0;
        if application_id != i64::from(APPLICATION_ID) && !is_new {
            return Err(
                self.corrupt("it is a SQLite database, but not one that dbalert wrote".to_owned())
            );
        }
        let version = u32::try_from(version)
            .map_err(|_| self.corrupt(format!("its schema version {version} is not valid")))?;
        if version > SCHEMA_VERSION {
            return Err(StateError::TooNew {
                path: self.path.clone(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        Ok(version)
    }

    /// Applies the missing migrations, in one transaction that holds the write lock, so that
    /// two processes opening a new file do not both create the tables.
    fn migrate(&mut self) -> Result<(), StateError> {
        let path = self.path.clone();
        let error = |err| sqlite_error(&path, err);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(error)?;
        let version: u32 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(error)?;
        if version > SCHEMA_VERSION {
            return Err(StateError::TooNew {
                path: path.clone(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        for step in &MIGRATIONS[version as usize..] {
            tx.execute_batch(step).map_err(error)?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(error)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(error)?;
        tx.commit().map_err(error)
    }

    fn check_tables(&self) -> Result<(), StateError> {
        let mut statement = self
            .conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
            .map_err(|e| self.error(e))?;
        let present: HashSet<String> = statement
            .query_map([], |row| row.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| self.error(e))?;
        match TABLES.iter().find(|table| !present.contains(**table)) {
            Some(missing) => Err(self.corrupt(format!("the table `{missing}` is missing"))),
            None => Ok(()),
        }
    }

    fn read_alerts(
        &self,
        check: Option<&str>,
        order: Order,
        mut each: impl FnMut(AlertRecord),
    ) -> Result<(), StateError> {
        let select = "SELECT fingerprint, check_name, labels, annotations, starts_at, last_seen_at,
                             last_notified_at, resolved_at, digest
                      FROM alerts WHERE ?1 IS NULL OR check_name = ?1";
        let mut statement = match order {
            Order::Oldest => self
                .conn
                .prepare_cached(&format!("{select} ORDER BY starts_at, fingerprint")),
            Order::Stored => self.conn.prepare_cached(select),
        }
        .map_err(|e| self.error(e))?;
        // Each row is parsed and handed on as it is read (this runs over every stored alert on
        // every poll).
        let mut checks: HashSet<Arc<str>> = HashSet::new();
        let mut times = [(); 4].map(|()| TimeMemo::default());
        let parsed = statement
            .query_map([check], |row| {
                let name = row.get_ref(1)?.as_str()?;
                let check = match checks.get(name) {
                    Some(check) => check.clone(),
                    None => {
                        let check: Arc<str> = name.into();
                        checks.insert(check.clone());
                        check
                    }
                };
                // Text is borrowed from SQLite's row where it is only parsed: no copy of it.
                let text = |i| row.get_ref(i).and_then(|v| Ok(v.as_str()?));
                let time = |i| row.get_ref(i).and_then(|v| Ok(v.as_str_or_null()?));
                let fingerprint = text(0)?;
                let (labels, annotations) = (text(2)?, text(3)?);
                let (starts_at, last_seen_at) = (text(4)?, text(5)?);
                let (last_notified_at, resolved_at) = (time(6)?, time(7)?);
                // Stored as SQLite's signed integer, bit for bit.
                let digest = row.get::<_, Option<i64>>(8)?.map(|d| d as u64);
                let [starts, seen, notified, resolved] = &mut times;
                let record = (|| {
                    Ok(AlertRecord {
                        check,
                        labels: StoredLabels::checked(labels)?,
                        annotations: StoredLabels::checked(annotations)?,
                        digest,
                        starts_at: starts.parse(starts_at)?,
                        last_seen_at: seen.parse(last_seen_at)?,
                        last_notified_at: last_notified_at
                            .map(|t| notified.parse(t))
                            .transpose()?,
                        resolved_at: resolved_at.map(|t| resolved.parse(t)).transpose()?,
                        fingerprint: parse_fingerprint(fingerprint)?,
                    })
                })();
                Ok(record.map_err(|reason: String| format!("alert {fingerprint}: {reason}")))
            })
            .map_err(|e| self.error(e))?;
        for record in parsed {
            each(
                record
                    .map_err(|e| self.error(e))?
                    .map_err(|reason| self.corrupt(reason))?,
            );
        }
        Ok(())
    }

    pub(super) fn error(&self, err: rusqlite::Error) -> StateError {
        sqlite_error(&self.path, err)
    }

    pub(super) fn corrupt(&self, reason: String) -> StateError {
        StateError::Corrupt {
            path: self.path.clone(),
            reason,
        }
    }
}

/// Parses times, remembering the last one: the alerts a run fired or notified share that run's
/// time, so reading every alert mostly finds the time of the row before.
#[derive(Default)]
struct TimeMemo(Option<(Box<str>, Timestamp)>);

impl TimeMemo {
    fn parse(&mut self, text: &str) -> Result<Timestamp, String> {
        match &self.0 {
            Some((last, at)) if **last == *text => Ok(*at),
            _ => {
                let at = parse_time(text)?;
                self.0 = Some((text.into(), at));
                Ok(at)
            }
        }
    }
}

/// The order alerts are read in.
#[derive(Clone, Copy)]
enum Order {
    /// Oldest first, then by fingerprint: what people read.
    Oldest,
    /// As the file keeps them: no sort, for a caller that keys them itself.
    Stored,
}

/// Maps what a damaged file makes SQLite (or reading its values) fail with to
/// [`StateError::Corrupt`], which says what to do; everything else stays a SQLite error.
fn sqlite_error(path: &Path, err: rusqlite::Error) -> StateError {
    use rusqlite::Error as E;
    let reason = match (&err, err.sqlite_error_code()) {
        (_, Some(ErrorCode::NotADatabase)) => "it is not a SQLite database",
        (_, Some(ErrorCode::DatabaseCorrupt)) => "the SQLite file is damaged",
        // A damaged record can claim a huge size; SQLite then runs out of memory reading it.
        (_, Some(ErrorCode::OutOfMemory)) => {
            "the SQLite file is damaged (SQLite ran out of memory reading it)"
        }
        // dbalert writes only UTF-8 text, of the types its STRICT tables hold.
        (E::Utf8Error(..) | E::FromSqlConversionFailure(..) | E::InvalidColumnType(..), _) => {
            "the SQLite file is damaged (it holds values dbalert never wrote)"
        }
        _ => {
            return StateError::Sqlite {
                path: path.to_owned(),
                error: err,
            };
        }
    };
    StateError::Corrupt {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A state file that exists but is empty was most likely truncated: taken as new, it sends
/// events again and loses the resolves it owed, so that is said. It is not refused, since a
/// run killed between creating the file and writing its header leaves one too.
fn warn_if_empty(path: &Path) -> Result<(), StateError> {
    let len = std::fs::metadata(path)
        .map_err(|source| StateError::Io {
            path: path.to_owned(),
            error: source,
        })?
        .len();
    if len == 0 {
        tracing::warn!(
            path = %path.display(),
            "The state file exists but is empty (0 bytes), as a truncated file is; starting it afresh, so events may be sent again and resolves it owed are lost. Restore it from a backup if it was truncated by accident."
        );
    }
    Ok(())
}

/// Creates the directories above `path` that are missing, readable by the owner only.
fn create_parent(path: &Path) -> Result<(), StateError> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|source| StateError::Io {
                path: parent.to_owned(),
                error: source,
            }),
        _ => Ok(()),
    }
}

/// The alerts changed and forgotten.
fn write_alerts(tx: &rusqlite::Transaction, changes: &Changes) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT OR REPLACE INTO alerts (fingerprint, check_name, labels, annotations,
                    starts_at, last_seen_at, last_notified_at, resolved_at, digest)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for alert in &changes.alerts {
        upsert.execute(params![
            alert.fingerprint.to_string(),
            &*alert.check,
            &*alert.labels.0,
            &*alert.annotations.0,
            alert.starts_at.to_string(),
            alert.last_seen_at.to_string(),
            alert.last_notified_at.map(|t| t.to_string()),
            alert.resolved_at.map(|t| t.to_string()),
            alert.digest.map(|d| d as i64),
        ])?;
    }
    let mut delete = tx.prepare_cached("DELETE FROM alerts WHERE fingerprint = ?1")?;
    for fingerprint in &changes.removed_alerts {
        delete.execute([fingerprint.to_string()])?;
    }
    Ok(())
}

/// The notification log entries written and forgotten.
fn write_log(tx: &rusqlite::Transaction, changes: &Changes) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT OR REPLACE INTO notifications
                    (group_key, receiver, firing, resolved, notified_at, thread_channel, thread_ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for entry in &changes.notifications {
        upsert.execute(params![
            entry.group_key,
            entry.receiver.0,
            json_list(&entry.firing),
            json_list(&entry.resolved),
            entry.notified_at.to_string(),
            entry.thread.as_ref().map(|t| &t.channel),
            entry.thread.as_ref().map(|t| &t.ts),
        ])?;
    }
    let mut delete =
        tx.prepare_cached("DELETE FROM notifications WHERE group_key = ?1 AND receiver = ?2")?;
    for (group_key, receiver) in &changes.removed_notifications {
        delete.execute(params![group_key, receiver.0])?;
    }
    Ok(())
}

/// The cursors moved and the events sent, keeping the newest of each check.
fn write_events(tx: &rusqlite::Transaction, changes: &Changes) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT OR REPLACE INTO cursors (check_name, kind, value) VALUES (?1, ?2, ?3)",
    )?;
    for (check, value) in &changes.cursors {
        upsert.execute(params![check, value.kind().as_str(), value.to_string()])?;
    }
    // REPLACE gives a re-seen event a new `seq`, so it is forgotten last.
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO seen_events (check_name, fingerprint) VALUES (?1, ?2)",
    )?;
    for (check, fingerprint) in &changes.seen_events {
        insert.execute(params![check, fingerprint.to_string()])?;
    }
    let mut forget = tx.prepare_cached(
        "DELETE FROM seen_events WHERE check_name = ?1 AND seq <= (
                    SELECT seq FROM seen_events WHERE check_name = ?1
                    ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
    )?;
    let checks: BTreeSet<&String> = changes.seen_events.iter().map(|(c, _)| c).collect();
    for check in checks {
        forget.execute(params![check, MAX_SEEN_EVENTS_PER_CHECK])?;
    }
    Ok(())
}

/// The acknowledgements that ended.
fn write_acks(tx: &rusqlite::Transaction, changes: &Changes) -> rusqlite::Result<()> {
    let mut unack = tx.prepare_cached("DELETE FROM acks WHERE group_key = ?1")?;
    for group_key in &changes.removed_acks {
        unack.execute([group_key])?;
    }
    Ok(())
}

fn json_list(set: &BTreeSet<Fingerprint>) -> String {
    let items = set.iter().map(|f| serde_json::Value::String(f.to_string()));
    serde_json::Value::Array(items.collect()).to_string()
}

/// A JSON list as a set. Collected from a list, the set is built with full nodes; one
/// inserted an item at a time, as parsing into a set does, leaves them about half empty, and a
/// group's entry can list every alert there is.
fn from_json_set(text: &str) -> Result<BTreeSet<Fingerprint>, String> {
    // dbalert writes fingerprints without escapes, so they can be borrowed from the text
    // rather than copied one by one (an entry can list every alert there is).
    match serde_json::from_str::<Vec<&str>>(text) {
        Ok(items) => items.iter().map(|item| parse_fingerprint(item)).collect(),
        Err(_) => {
            let items = from_json::<Vec<String>>(text)?;
            items.iter().map(|item| parse_fingerprint(item)).collect()
        }
    }
}

/// A fingerprint as the file keeps it (16 hex digits); dbalert writes no other.
fn parse_fingerprint(text: &str) -> Result<Fingerprint, String> {
    Fingerprint::parse(text).ok_or_else(|| format!("`{text}` is not a fingerprint"))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|err| format!("`{text}` is not the JSON expected: {err}"))
}

pub(super) fn parse_time(text: &str) -> Result<Timestamp, String> {
    text.parse()
        .map_err(|err| format!("`{text}` is not a time: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn stored_labels_hold_exactly_their_map() {
        let map = labels(&[("owner", "ORDERS \"quoted\" é"), ("pct", "97")]);
        let stored = StoredLabels::new(&map);
        assert!(stored.holds(&map));
        assert!(StoredLabels::checked(&stored.0).unwrap().holds(&map));
        for other in [
            labels(&[("owner", "ORDERS \"quoted\" é")]),
            labels(&[("owner", "ORDERS \"quoted\" é"), ("pct", "98")]),
            labels(&[("owner", "ORDERS \"quoted\" é"), ("pct", "97"), ("x", "")]),
            labels(&[]),
        ] {
            assert!(!stored.holds(&other), "{other:?}");
        }
        assert!(StoredLabels::new(&labels(&[])).holds(&labels(&[])));
    }

    #[test]
    fn only_a_json_object_of_strings_is_checked_as_stored_labels() {
        for good in ["{}", r#"{"a":"1","b":"x\"y\u00e9"}"#, r#" {"a" : ""} "#] {
            assert!(StoredLabels::checked(good).is_ok(), "{good}");
        }
        for bad in [
            r#"{"a":7}"#,
            r#"{"a":null}"#,
            r#"["a"]"#,
            r#"{"a":"1"} x"#,
            r#"{"a":"1""#,
            "",
        ] {
            let error = StoredLabels::checked(bad).unwrap_err();
            assert!(error.contains("is not the JSON expected"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_remembered_time_is_the_time_parsed() {
        let mut memo = TimeMemo::default();
        for text in [
            "2024-06-01T10:00:00.5Z",
            "2024-06-01T10:00:00.5Z",
            "2024-06-01T10:00:01Z",
            "2024-06-01T10:00:00.5Z",
        ] {
            assert_eq!(memo.parse(text), parse_time(text), "{text}");
        }
        assert!(memo.parse("yesterday").is_err());
        assert_eq!(
            memo.parse("2024-06-01T10:00:01Z"),
            parse_time("2024-06-01T10:00:01Z")
        );
    }
}
