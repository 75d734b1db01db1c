//! The state store on real files: round trips, the schema, the lock, and the files it must
//! refuse without touching them.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use dbalert::alert::{Fingerprint, Labels};
use dbalert::route::{Matchers, Silence, parse};
use dbalert::sink::ReceiverName;
use dbalert::source::Value;
use dbalert::state::{
    Ack, AlertRecord, AuditEntry, AuditPhase, Changes, MAX_SEEN_EVENTS_PER_CHECK,
    NotificationEntry, SCHEMA_VERSION, StateError, StateLock, StateStore, StoredLabels, Thread,
};
use jiff::Timestamp;

fn time(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// A fingerprint named for the test (the store keeps any 64-bit value).
fn fp(name: &str) -> Fingerprint {
    Fingerprint::of(name, "test", std::iter::empty())
}

fn alert(fingerprint: &str, check: &str) -> AlertRecord {
    AlertRecord {
        fingerprint: fp(fingerprint),
        check: check.into(),
        labels: StoredLabels::new(&Labels::from([
            ("alertname".to_owned(), check.to_owned()),
            ("owner".to_owned(), "ORDERS \"quoted\" é".to_owned()),
        ])),
        annotations: StoredLabels::new(&Labels::from([(
            "summary".to_owned(),
            "Tablespace USERS is 97% full".to_owned(),
        )])),
        // Over i64::MAX: kept bit for bit in SQLite's signed integer.
        digest: Some(0x8000_0000_0000_0001),
        starts_at: time("2024-06-01T10:00:00.123456789Z"),
        last_seen_at: time("2024-06-01T10:05:00Z"),
        last_notified_at: Some(time("2024-06-01T10:00:01Z")),
        resolved_at: None,
    }
}

fn set(items: &[&str]) -> BTreeSet<Fingerprint> {
    items.iter().map(|s| fp(s)).collect()
}

#[test]
fn state_round_trips_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/er/state.db");
    let mut store = StateStore::open(&path).unwrap();
    assert_eq!(store.load("deadlock").unwrap(), Default::default());

    let mut resolved = alert("fp-2", "tablespace_full");
    resolved.resolved_at = Some(time("2024-06-01T11:00:00Z"));
    resolved.last_notified_at = None;
    let notification = NotificationEntry {
        group_key: "{}:{alertname=\"tablespace_full\"}".to_owned(),
        receiver: ReceiverName("dba".to_owned()),
        firing: set(&["fp-1"]),
        resolved: set(&["fp-2", "fp-0"]),
        notified_at: time("2024-06-01T11:00:01Z"),
        thread: Some(Thread {
            channel: "C0ORDERS".to_owned(),
            ts: "1700000000.000100".to_owned(),
        }),
    };
    let changes = Changes {
        alerts: vec![
            alert("fp-1", "tablespace_full"),
            resolved.clone(),
            alert("fp-9", "other"),
        ],
        notifications: vec![notification.clone()],
        cursors: vec![
            (
                "deadlock".to_owned(),
                Value::Timestamp(time("2024-06-01T09:59:59.5Z")),
            ),
            ("by_id".to_owned(), Value::Int(9_007_199_254_740_993)),
            ("by_name".to_owned(), Value::Text("b'c".to_owned())),
            ("by_amount".to_owned(), Value::Numeric("10.50".to_owned())),
        ],
        seen_events: vec![
            ("deadlock".to_owned(), fp("ev-1")),
            ("deadlock".to_owned(), fp("ev-2")),
        ],
        ..Default::default()
    };
    store.save(&changes).unwrap();
    drop(store);

    let store = StateStore::open(&path).unwrap();
    let tablespace = store.load("tablespace_full").unwrap();
    // Oldest first, then by fingerprint (both started at the same time).
    let mut expected = [alert("fp-1", "tablespace_full"), resolved];
    expected.sort_by_key(|a| a.fingerprint.to_string());
    assert_eq!(tablespace.alerts, expected);
    assert_eq!(tablespace.cursor, None);
    let deadlock = store.load("deadlock").unwrap();
    assert!(deadlock.alerts.is_empty());
    assert_eq!(
        deadlock.cursor,
        Some(Value::Timestamp(time("2024-06-01T09:59:59.5Z")))
    );
    assert_eq!(deadlock.seen_events, [fp("ev-1"), fp("ev-2")].into());
    for (check, cursor) in &changes.cursors {
        assert_eq!(
            store.load(check).unwrap().cursor.as_ref(),
            Some(cursor),
            "{check}"
        );
    }
    assert_eq!(store.alerts().unwrap().len(), 3);
    assert_eq!(
        store.notifications().unwrap(),
        std::slice::from_ref(&notification)
    );

    // The next run: fp-2's resolution was notified, so it and its log entry go; fp-1 repeats.
    let mut store = store;
    let mut repeated = alert("fp-1", "tablespace_full");
    repeated.last_notified_at = Some(time("2024-06-01T14:00:00Z"));
    store
        .save(&Changes {
            alerts: vec![repeated.clone()],
            removed_alerts: vec![fp("fp-2")],
            removed_notifications: vec![(
                notification.group_key.clone(),
                notification.receiver.clone(),
            )],
            cursors: vec![(
                "deadlock".to_owned(),
                Value::Timestamp(time("2024-06-01T12:00:00Z")),
            )],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(store.load("tablespace_full").unwrap().alerts, [repeated]);
    assert!(store.notifications().unwrap().is_empty());
    assert_eq!(
        store.load("deadlock").unwrap().cursor,
        Some(Value::Timestamp(time("2024-06-01T12:00:00Z")))
    );
}

#[test]
fn new_state_file_is_private_wal_and_at_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dbalert/state.db");
    StateStore::open(&path).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(mode(&path), 0o600);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.sort();
    assert_eq!(
        tables,
        [
            "acks",
            "action_requests",
            "action_threads",
            "alerts",
            "audit",
            "buttons",
            "cluster_silences",
            "cursors",
            "notifications",
            "seen_events",
            "silences"
        ]
    );
}

/// A file written by the first release (schema 1, before Slack threads) opens with its
/// notification log intact and gains the thread columns.
#[test]
fn a_version_1_file_is_upgraded_keeping_its_notification_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA application_id = 1684169068; PRAGMA journal_mode = WAL;
             CREATE TABLE alerts (fingerprint TEXT PRIMARY KEY, check_name TEXT NOT NULL,
                labels TEXT NOT NULL, annotations TEXT NOT NULL, starts_at TEXT NOT NULL,
                last_seen_at TEXT NOT NULL, last_notified_at TEXT, resolved_at TEXT) STRICT;
             CREATE INDEX alerts_by_check ON alerts (check_name);
             CREATE TABLE notifications (group_key TEXT NOT NULL, receiver TEXT NOT NULL,
                firing TEXT NOT NULL, resolved TEXT NOT NULL, notified_at TEXT NOT NULL,
                PRIMARY KEY (group_key, receiver)) STRICT;
             CREATE TABLE cursors (check_name TEXT PRIMARY KEY, kind TEXT NOT NULL,
                value TEXT NOT NULL) STRICT;
             CREATE TABLE seen_events (seq INTEGER PRIMARY KEY, check_name TEXT NOT NULL,
                fingerprint TEXT NOT NULL, UNIQUE (check_name, fingerprint)) STRICT;
             CREATE INDEX seen_events_by_age ON seen_events (check_name, seq);
             INSERT INTO notifications VALUES ('{{}}:{{}}', 'dba', '[\"{}\"]', '[]',
                '2024-06-01T11:00:01Z');
             PRAGMA user_version = 1;",
            fp("fp-1")
        ))
        .unwrap();
    }
    let store = StateStore::open(&path).unwrap();
    let log = store.notifications().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].firing, set(&["fp-1"]));
    assert_eq!(log[0].thread, None);
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

/// A file of schema 2 (Slack threads, before silences and acknowledgements) opens with its
/// threads intact, at the current version, and holds silences and acknowledgements.
#[test]
fn a_version_2_file_is_upgraded_and_gains_silences_and_acks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA application_id = 1684169068; PRAGMA journal_mode = WAL;
             CREATE TABLE alerts (fingerprint TEXT PRIMARY KEY, check_name TEXT NOT NULL,
                labels TEXT NOT NULL, annotations TEXT NOT NULL, starts_at TEXT NOT NULL,
                last_seen_at TEXT NOT NULL, last_notified_at TEXT, resolved_at TEXT) STRICT;
             CREATE INDEX alerts_by_check ON alerts (check_name);
             CREATE TABLE notifications (group_key TEXT NOT NULL, receiver TEXT NOT NULL,
                firing TEXT NOT NULL, resolved TEXT NOT NULL, notified_at TEXT NOT NULL,
                thread_channel TEXT, thread_ts TEXT,
                PRIMARY KEY (group_key, receiver)) STRICT;
             CREATE TABLE cursors (check_name TEXT PRIMARY KEY, kind TEXT NOT NULL,
                value TEXT NOT NULL) STRICT;
             CREATE TABLE seen_events (seq INTEGER PRIMARY KEY, check_name TEXT NOT NULL,
                fingerprint TEXT NOT NULL, UNIQUE (check_name, fingerprint)) STRICT;
             CREATE INDEX seen_events_by_age ON seen_events (check_name, seq);
             INSERT INTO notifications VALUES ('{{}}:{{}}', 'dba', '[\"{}\"]', '[]',
                '2024-06-01T11:00:01Z', 'C024BE91L', '1718000000.000100');
             PRAGMA user_version = 2;",
            fp("fp-1")
        ))
        .unwrap();
    }
    let mut store = StateStore::open(&path).unwrap();
    let log = store.notifications().unwrap();
    assert_eq!(
        log[0].thread,
        Some(Thread {
            channel: "C024BE91L".into(),
            ts: "1718000000.000100".into()
        })
    );
    assert_eq!(store.silences().unwrap(), []);
    let ack = Ack {
        group_key: "{}:{}".into(),
        acked_by: "<@U024BE7LH>".into(),
        acked_at: time("2024-06-01T11:05:00Z"),
    };
    store.ack(&ack).unwrap();
    assert_eq!(store.acks().unwrap(), [ack]);
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn silences_round_trip_and_expire_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(&dir.path().join("state.db")).unwrap();
    let silence = Silence {
        id: "5b6ad8a4-0f38-4d8b-9c7e-3c0f6a1d2e4f".into(),
        matchers: Matchers::new(parse::matchers(r#"alertname="Deadlock",owner=~"ORD.*""#).unwrap()),
        starts_at: time("2024-06-01T10:00:00.5Z"),
        ends_at: time("2024-06-01T12:00:00Z"),
        created_by: "ops".into(),
        comment: "planned \"maintenance\" é".into(),
    };
    store.add_silence(&silence).unwrap();
    assert_eq!(store.silences().unwrap(), std::slice::from_ref(&silence));
    assert_eq!(
        store.active_silences(time("2024-06-01T11:00:00Z")).unwrap(),
        std::slice::from_ref(&silence)
    );
    assert_eq!(
        store.active_silences(time("2024-06-01T10:00:00Z")).unwrap(),
        []
    );

    let now = time("2024-06-01T11:00:00Z");
    let expired = store.expire_silence(&silence.id, now).unwrap().unwrap();
    assert_eq!(expired.ends_at, now);
    assert_eq!(store.active_silences(now).unwrap(), []);
    let later = time("2024-06-01T11:30:00Z");
    assert_eq!(
        store
            .expire_silence(&silence.id, later)
            .unwrap()
            .unwrap()
            .ends_at,
        now,
        "an expired silence keeps its end"
    );
    assert_eq!(store.expire_silence("no-such-id", later).unwrap(), None);
}

#[test]
fn a_pending_silence_expired_never_becomes_active() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(&dir.path().join("state.db")).unwrap();
    let silence = Silence {
        id: "pending".into(),
        matchers: Matchers::new(parse::matchers("a=b").unwrap()),
        starts_at: time("2024-06-02T00:00:00Z"),
        ends_at: time("2024-06-03T00:00:00Z"),
        created_by: "ops".into(),
        comment: "later".into(),
    };
    store.add_silence(&silence).unwrap();
    store
        .expire_silence("pending", time("2024-06-01T00:00:00Z"))
        .unwrap();
    assert_eq!(
        store.active_silences(time("2024-06-02T12:00:00Z")).unwrap(),
        []
    );
}

#[test]
fn acks_end_by_unack_or_with_the_saved_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(&dir.path().join("state.db")).unwrap();
    let ack = |key: &str| Ack {
        group_key: key.into(),
        acked_by: "ops".into(),
        acked_at: time("2024-06-01T11:05:00Z"),
    };
    store.ack(&ack("g1")).unwrap();
    store.ack(&ack("g2")).unwrap();
    assert_eq!(store.unack("g1").unwrap(), Some(ack("g1")));
    assert_eq!(store.unack("g1").unwrap(), None);
    store
        .save(&Changes {
            removed_acks: vec!["g2".into()],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(store.acks().unwrap(), []);
}

#[test]
fn the_audit_trail_keeps_rows_in_order_and_refuses_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut store = StateStore::open(&path).unwrap();
    let entry = |seq: u8, phase, outcome: &str| AuditEntry {
        at: time("2024-06-01T11:05:00Z"),
        request_id: format!("r{seq}"),
        phase,
        actor: "U024BE7LH".into(),
        channel: seq.is_multiple_of(2).then(|| "C1".to_owned()),
        what: "dbalert.ack".into(),
        target: "{}:{owner=\"ORDERS\"}".into(),
        outcome: outcome.into(),
        detail: format!("row {seq}"),
    };
    let rows = [
        entry(1, AuditPhase::Intent, "requested"),
        entry(1, AuditPhase::Outcome, "done"),
        entry(2, AuditPhase::Outcome, "denied"),
    ];
    for row in &rows {
        store.audit(row).unwrap();
    }
    assert_eq!(store.audit_trail(10).unwrap(), rows);
    assert_eq!(store.audit_trail(2).unwrap(), rows[1..]);
    drop(store);
    // Append-only, even for someone with the sqlite3 shell and no dbalert.
    let conn = rusqlite::Connection::open(&path).unwrap();
    for sql in ["UPDATE audit SET outcome = 'done'", "DELETE FROM audit"] {
        let error = conn.execute(sql, []).unwrap_err().to_string();
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
    let count: i64 = conn
        .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 3);
}

#[test]
fn migrations_run_on_an_empty_file_and_reopening_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::write(&path, b"").unwrap();
    let mut store = StateStore::open(&path).unwrap();
    store
        .save(&Changes {
            alerts: vec![alert("fp-1", "c")],
            ..Default::default()
        })
        .unwrap();
    drop(store);
    for _ in 0..2 {
        let store = StateStore::open(&path).unwrap();
        assert_eq!(store.alerts().unwrap(), [alert("fp-1", "c")]);
    }
}

#[test]
fn seen_events_keep_only_the_newest_per_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(&dir.path().join("state.db")).unwrap();
    let limit = MAX_SEEN_EVENTS_PER_CHECK as usize;
    let events = |check: &str, range: std::ops::Range<usize>| -> Vec<(String, Fingerprint)> {
        range
            .map(|i| (check.to_owned(), fp(&format!("ev-{i}"))))
            .collect()
    };
    store
        .save(&Changes {
            seen_events: [events("busy", 0..limit + 5), events("quiet", 0..3)].concat(),
            ..Default::default()
        })
        .unwrap();
    let busy = store.load("busy").unwrap().seen_events;
    assert_eq!(busy.len(), limit);
    assert!(
        !busy.contains(&fp("ev-4"))
            && busy.contains(&fp("ev-5"))
            && busy.contains(&fp(&format!("ev-{}", limit + 4)))
    );
    assert_eq!(store.load("quiet").unwrap().seen_events.len(), 3);
    // Seeing an old event again makes it new: it is kept when the next one pushes one out.
    store
        .save(&Changes {
            seen_events: [
                events("busy", 5..6),
                vec![("busy".to_owned(), fp("ev-new"))],
            ]
            .concat(),
            ..Default::default()
        })
        .unwrap();
    let busy = store.load("busy").unwrap().seen_events;
    assert_eq!(busy.len(), limit);
    assert!(
        busy.contains(&fp("ev-5")) && busy.contains(&fp("ev-new")) && !busy.contains(&fp("ev-6"))
    );
}

#[test]
fn second_lock_is_refused_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/state.db");
    let first = StateLock::acquire(&path).unwrap();
    let err = StateLock::acquire(&path).unwrap_err();
    assert!(matches!(err, StateError::Locked { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "another dbalert poll is using the state file {}; let it finish, or pass --wait-lock DURATION to wait for it",
            path.display()
        )
    );
    let started = Instant::now();
    let err = StateLock::acquire_within(&path, Duration::from_millis(300)).unwrap_err();
    assert!(matches!(err, StateError::Locked { .. }), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A waiter gets the lock once the holder lets go.
    let waiter = {
        let path = path.clone();
        std::thread::spawn(move || StateLock::acquire_within(&path, Duration::from_secs(10)))
    };
    std::thread::sleep(Duration::from_millis(200));
    drop(first);
    let second = waiter.join().unwrap().unwrap();
    drop(second);
    StateLock::acquire(&path).unwrap();
}

/// Opens `path` expecting a refusal, and checks that the file was left as it was.
fn assert_refused_untouched(path: &Path) -> StateError {
    let before = std::fs::read(path).unwrap();
    let err = StateStore::open(path).unwrap_err();
    assert_eq!(std::fs::read(path).unwrap(), before, "the file changed");
    assert!(
        !Path::new(&format!("{}-wal", path.display())).exists()
            || std::fs::metadata(format!("{}-wal", path.display()))
                .unwrap()
                .len()
                == 0,
        "a write-ahead log was written"
    );
    err
}

#[test]
fn corrupt_or_foreign_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    std::fs::write(
        &path,
        "these are not the bytes of a SQLite database\n".repeat(100),
    )
    .unwrap();
    let err = assert_refused_untouched(&path);
    assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a usable dbalert state file: it is not a SQLite database; it was left untouched: \
             move it aside to start a new one (alerts still firing will be notified again), or set state.path to another file",
            path.display()
        )
    );

    let foreign = dir.path().join("other.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE precious (a); INSERT INTO precious VALUES (1);")
        .unwrap();
    let err = assert_refused_untouched(&foreign);
    assert!(
        err.to_string()
            .contains("it is a SQLite database, but not one that dbalert wrote"),
        "{err}"
    );

    let broken = dir.path().join("broken.db");
    StateStore::open(&broken).unwrap();
    rusqlite::Connection::open(&broken)
        .unwrap()
        .execute_batch("DROP TABLE cursors; PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let err = StateStore::open(&broken).unwrap_err();
    assert!(
        err.to_string().contains("the table `cursors` is missing"),
        "{err}"
    );
}

#[test]
fn stored_labels_must_be_a_json_object_of_strings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut store = StateStore::open(&path).unwrap();
    let escaped = alert("fp-1", "c");
    store
        .save(&Changes {
            alerts: vec![escaped.clone()],
            ..Default::default()
        })
        .unwrap();
    // Labels with escapes (the quotes) are read back as they were written.
    assert_eq!(store.alerts().unwrap(), [escaped]);

    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE alerts SET labels = '{\"owner\": 7}'", [])
        .unwrap();
    let err = store.alerts().unwrap_err();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!(
            "alert {}: `{{\"owner\": 7}}` is not the JSON expected",
            fp("fp-1")
        )),
        "{err}"
    );
}

#[test]
fn file_from_a_newer_dbalert_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut store = StateStore::open(&path).unwrap();
    store
        .save(&Changes {
            alerts: vec![alert("fp-1", "c")],
            ..Default::default()
        })
        .unwrap();
    drop(store);
    let newer = SCHEMA_VERSION + 1;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&format!(
            "PRAGMA user_version = {newer}; PRAGMA wal_checkpoint(TRUNCATE);"
        ))
        .unwrap();
    let err = assert_refused_untouched(&path);
    assert!(
        matches!(err, StateError::TooNew { found, known, .. } if found == newer && known == SCHEMA_VERSION),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{} was written by a newer dbalert (state schema version {newer}; this dbalert knows up to {SCHEMA_VERSION}); \
             it was left untouched: run the newer dbalert, or set state.path to another file",
            path.display()
        )
    );
}
