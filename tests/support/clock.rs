//! Time travel for a state file. Instead of sleeping until a repeat interval or a silence's
//! end has passed, a test moves every time the state file holds back, as if that much time had
//! passed since it was written. The run under test still reads the real clock.

use std::path::Path;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// Every time column of the state file, by table.
const TIMES: &[(&str, &[&str])] = &[
    (
        "alerts",
        &[
            "starts_at",
            "last_seen_at",
            "last_notified_at",
            "resolved_at",
        ],
    ),
    ("notifications", &["notified_at"]),
    ("silences", &["starts_at", "ends_at"]),
    ("acks", &["acked_at"]),
];

/// Moves every time in the state file at `state` back by `by`.
pub fn advance(state: &Path, by: Duration) {
    let by = SignedDuration::try_from(by).expect("a test duration");
    let conn = rusqlite::Connection::open(state).expect("the state file opens");
    for (table, columns) in TIMES {
        for column in *columns {
            let rows: Vec<(i64, String)> = conn
                .prepare(&format!(
                    "SELECT rowid, {column} FROM {table} WHERE {column} IS NOT NULL"
                ))
                .unwrap()
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            for (rowid, text) in rows {
                let earlier = text.parse::<Timestamp>().expect("a stored time") - by;
                conn.execute(
                    &format!("UPDATE {table} SET {column} = ?1 WHERE rowid = ?2"),
                    rusqlite::params![earlier.to_string(), rowid],
                )
                .unwrap();
            }
        }
    }
}
