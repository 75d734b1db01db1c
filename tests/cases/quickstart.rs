//! The README's quick start: the demo databases and config in `examples/quickstart/`.

use std::path::{Path, PathBuf};

use crate::support::{dbalert, stderr_of, stdout_of, workdir};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every row of every table, in a stable order, as text.
fn dump(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("select name from sqlite_master where type = 'table' order by name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let mut statement = conn
            .prepare(&format!("select * from {table} order by 1, 2"))
            .unwrap();
        let columns = statement.column_count();
        let rows = statement
            .query_map([], |row| {
                (0..columns)
                    .map(|i| {
                        row.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap();
        for row in rows {
            out.push(format!("{table}: {}", row.unwrap().join(" | ")));
        }
    }
    out
}

fn build(scripts: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    for script in scripts {
        conn.execute_batch(&std::fs::read_to_string(root().join(script)).unwrap())
            .unwrap();
    }
    drop(conn);
    dump(&path)
}

#[test]
fn demo_databases_match_the_scripts_they_are_built_from() {
    assert_eq!(
        dump(&root().join("examples/quickstart/demo.db")),
        build(&["sql/sqlite/quickstart.sql"]),
        "rebuild examples/quickstart/demo.db from sql/sqlite/quickstart.sql"
    );
    assert_eq!(
        dump(&root().join("examples/quickstart/demo-later.db")),
        build(&[
            "sql/sqlite/quickstart.sql",
            "sql/sqlite/quickstart-later.sql"
        ]),
        "rebuild examples/quickstart/demo-later.db from both scripts"
    );
}

#[test]
fn quick_start_fires_routes_and_resolves() {
    let state = workdir(&[]);
    let quickstart = root().join("examples/quickstart");
    let poll = |db: &str| {
        let output = dbalert(state.path())
            .arg("-c")
            .arg(quickstart.join("alerts.yaml"))
            .env("DEMO_DB", quickstart.join(db))
            .env("DBALERT_DEMO_STATE", state.path().join("state.db"))
            .arg("poll")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
        stdout_of(&output)
    };

    let first = poll("demo.db");
    for expected in [
        "── to orders-team\n:warning: *[FIRING:2] tablespace_full (owner=ORDERS)*",
        "── to billing-team\n:warning: *[FIRING:1] tablespace_full (owner=BILLING)*",
        "── to billing-team\n:red_circle: *[FIRING:1] job_failed (owner=BILLING)*",
        "*Scheduler job BILLING.NIGHTLY_INVOICES failed (ORA-20001)*",
        "── to orders-team\n:red_circle: *[FIRING:1] deadlock (owner=ORDERS)*",
        "── to billing-team\n:red_circle: *[FIRING:1] deadlock (owner=BILLING)*",
    ] {
        assert!(
            first.contains(expected),
            "`{expected}` missing from:\n{first}"
        );
    }

    let second = poll("demo-later.db");
    for expected in [
        ":warning: *[FIRING:1, RESOLVED:1] tablespace_full (owner=ORDERS)*",
        ":white_check_mark: *[RESOLVED:1] job_failed (owner=BILLING)*",
        "*Deadlock in ORDERS at 2026-11-23T09:31:45Z*",
    ] {
        assert!(
            second.contains(expected),
            "`{expected}` missing from:\n{second}"
        );
    }
    assert!(
        !second.contains("08:14:02"),
        "an old deadlock was sent again:\n{second}"
    );
    assert_eq!(poll("demo-later.db"), "", "nothing changed, nothing sent");
}
