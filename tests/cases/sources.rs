//! Sources against real databases: SQLite files in a temp dir, and the PostgreSQL server named
//! by `DBALERT_TEST_POSTGRES_URL` (see `support::db`).

use std::time::{Duration, Instant};

use dbalert::source::{
    MAX_TEXT_CHARS, Queue, QueueWait, Rows, Source, SourceConfig, SourceError, SourceName, Value,
};
use serde_json::json;

use crate::support::db::{self, TestSchema};

// ---------------------------------------------------------------------------------------------
// Config

fn source(config: serde_json::Value, name: &str) -> Result<Source, SourceError> {
    let config: SourceConfig = serde_json::from_value(config).expect("a valid source config");
    config.build(SourceName(name.to_owned()))
}

#[test]
fn source_configs_deserialize_and_reject_unknown_keys() {
    let sqlite = source(json!({"sqlite": {"path": "demo.db"}}), "demo").unwrap();
    assert_eq!(sqlite.name(), &SourceName("demo".into()));
    let postgres = source(
        json!({"postgres": {"url": "postgres://u:hunter22@db.example.com/x", "statement_timeout": "200ms"}}),
        "billing",
    )
    .unwrap();
    assert!(matches!(postgres, Source::Postgres(_)));
    assert!(!format!("{postgres:?}").contains("hunter22"));

    for bad in [
        json!({"sqlite": {"path": "demo.db", "paht": "typo"}}),
        json!({"postgres": {"url": "postgres://h/x", "timeout": "1s"}}),
        json!({"mysql": {"url": "mysql://h/x"}}),
        json!({"postgres": {"url": "postgres://h/x", "statement_timeout": "200"}}),
    ] {
        assert!(
            serde_json::from_value::<SourceConfig>(bad.clone()).is_err(),
            "{bad} should be refused"
        );
    }
    let queue: dbalert::source::QueueConfig =
        serde_json::from_value(json!({"table": "app.dbalert_queue"})).unwrap();
    assert_eq!(queue.table.to_string(), "app.dbalert_queue");
    assert!(
        serde_json::from_value::<dbalert::source::QueueConfig>(json!({"table": "q; drop table x"}))
            .is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// SQLite

/// A SQLite file in a temp dir, made by `setup`, and a source named `demo` on it.
fn sqlite(setup: &str) -> (tempfile::TempDir, Source) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(setup)
        .unwrap();
    let source = source(json!({"sqlite": {"path": path}}), "demo").unwrap();
    (dir, source)
}

fn column<'a>(rows: &'a Rows, name: &str) -> Vec<&'a Value> {
    let i = rows
        .column(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    rows.rows.iter().map(|row| &row[i]).collect()
}

#[tokio::test]
async fn sqlite_storage_classes_map_to_values() {
    let (_dir, source) = sqlite("CREATE TABLE t (a);");
    let rows = source
        .fetch(
            "SELECT NULL AS Empty, 42 AS Answer, -2.5 AS ratio, 'héllo' AS greeting,
                    x'00ff10' AS raw, 9223372036854775807 AS big,
                    '2024-06-01 10:00:00' AS ts, replace(hex(zeroblob(3000)), '00', 'ab') AS long",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        rows.columns,
        [
            "empty", "answer", "ratio", "greeting", "raw", "big", "ts", "long"
        ]
    );
    let row = &rows.rows[0];
    assert_eq!(row[0], Value::Null);
    assert_eq!(row[1], Value::Int(42));
    assert_eq!(row[2], Value::Float(-2.5));
    assert_eq!(row[3], Value::Text("héllo".into()));
    assert_eq!(row[4], Value::Bytes(vec![0, 0xff, 0x10]));
    assert_eq!(row[4].to_label(), "00ff10");
    assert_eq!(row[5], Value::Int(i64::MAX));
    assert_eq!(row[6], Value::Text("2024-06-01 10:00:00".into()));
    let Value::Text(long) = &row[7] else {
        panic!("long text is text: {:?}", row[7]);
    };
    assert!(long.starts_with(&"ab".repeat(MAX_TEXT_CHARS / 2)));
    assert!(long.ends_with("… [cut: 6000 characters in all]"), "{long}");
    assert_eq!(row[0].to_label(), "");
}

#[tokio::test]
async fn sqlite_cursors_keep_their_type_across_runs() {
    let (dir, source) = sqlite(
        "CREATE TABLE events (id INTEGER, at TEXT, name TEXT);
         INSERT INTO events VALUES (1, '2024-06-01 10:00:00', 'a'), (2, '2024-06-01 10:00:01', 'b');",
    );
    let insert_more = || {
        rusqlite::Connection::open(dir.path().join("demo.db"))
            .unwrap()
            .execute_batch(
                "INSERT INTO events VALUES (3, '2024-06-01 10:00:02', 'c'), (4, '2024-06-01 10:00:03', 'd');",
            )
            .unwrap();
    };
    let queries = [
        (
            "id",
            "SELECT id, at, name FROM events WHERE id > coalesce(:cursor, 0) ORDER BY id",
        ),
        (
            "at",
            "SELECT id, at, name FROM events WHERE at > coalesce(:cursor, '') ORDER BY id",
        ),
        (
            "name",
            "SELECT id, at, name FROM events WHERE name > coalesce(:cursor, '') ORDER BY id",
        ),
    ];
    let first = source.fetch(queries[0].1, None).await.unwrap();
    assert_eq!(first.rows.len(), 2);
    // The largest cursor value of the first run, per cursor column: an integer and two texts.
    let cursors: Vec<Value> = queries
        .iter()
        .map(|(col, _)| {
            column(&first, col)
                .into_iter()
                .max_by(|a, b| a.compare(b).unwrap())
                .unwrap()
                .clone()
        })
        .collect();
    assert_eq!(
        cursors,
        [
            Value::Int(2),
            Value::Text("2024-06-01 10:00:01".into()),
            Value::Text("b".into())
        ]
    );
    insert_more();
    for ((col, sql), cursor) in queries.iter().zip(&cursors) {
        let next = source.fetch(sql, Some(cursor)).await.unwrap();
        assert_eq!(
            column(&next, "id"),
            [&Value::Int(3), &Value::Int(4)],
            "cursor on {col}"
        );
    }
    // A timestamp cursor (as another source would give) binds as SQLite's datetime() text.
    let since: jiff::Timestamp = "2024-06-01T12:00:02+02:00".parse().unwrap();
    let rows = source
        .fetch(
            "SELECT id FROM events WHERE at > :cursor ORDER BY id",
            Some(&Value::Timestamp(since)),
        )
        .await
        .unwrap();
    assert_eq!(column(&rows, "id"), [&Value::Int(4)]);
    // A query without :cursor ignores the cursor.
    let rows = source
        .fetch("SELECT count(*) AS n FROM events", Some(&Value::Int(99)))
        .await
        .unwrap();
    assert_eq!(rows.rows, [[Value::Int(4)]]);
}

#[tokio::test]
async fn sqlite_sql_error_names_the_source() {
    let (_dir, source) = sqlite("CREATE TABLE t (a);");
    let err = source
        .fetch("SELECT * FROM no_such_table", None)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Query { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "source `demo`: the query failed: no such table: no_such_table; fix the check's sql"
    );
    let err = source
        .fetch("SELECT * FROM t WHERE a = :other", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("other than :cursor"), "{err}");
    // Read-only: a check cannot change the database.
    let err = source.fetch("DELETE FROM t", None).await.unwrap_err();
    assert!(err.to_string().contains("readonly"), "{err}");
}

#[tokio::test]
async fn sqlite_missing_or_foreign_file_fails_check() {
    let (dir, source) = sqlite("CREATE TABLE t (a);");
    source.check().await.unwrap();

    let missing = dir.path().join("missing.db");
    let err = self::source(json!({"sqlite": {"path": missing}}), "demo")
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("source `demo`: cannot connect: "),
        "{err}"
    );
    assert!(err.to_string().contains("missing.db"), "{err}");
    assert!(!missing.exists(), "check must not create the file");

    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "not a database, just text that is long enough to be read ".repeat(20),
    )
    .unwrap();
    let err = self::source(json!({"sqlite": {"path": text}}), "demo")
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("file is not a database"), "{err}");

    let err = source
        .dequeue(&queue("q"), 10, QueueWait::NoWait)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Unsupported { .. }), "{err:?}");
}

// Issue 11 (item 12): a locked or damaged file is the file's fault, not the query's.
#[tokio::test]
async fn sqlite_locked_or_damaged_file_is_not_blamed_on_the_sql() {
    let (dir, source) = sqlite(
        "CREATE TABLE t (a);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
         INSERT INTO t SELECT i FROM n;",
    );
    let path = dir.path().join("demo.db");
    let writer = rusqlite::Connection::open(&path).unwrap();
    writer.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = source.fetch("SELECT a FROM t", None).await.unwrap_err();
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("demo.db is locked"), "{err}");
    assert!(!err.to_string().contains("fix the check's sql"), "{err}");
    drop(writer);

    // The table's root page (the second) overwritten, as a damaged disk would.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4096..8192].fill(0xff);
    std::fs::write(&path, bytes).unwrap();
    let err = source.fetch("SELECT a FROM t", None).await.unwrap_err();
    assert!(err.to_string().contains("demo.db is damaged"), "{err}");
    assert!(!err.to_string().contains("fix the check's sql"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

fn postgres_source(schema: &TestSchema, extra: serde_json::Value) -> Source {
    let mut config = json!({"url": schema.url});
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    source(json!({ "postgres": config }), "billing").unwrap()
}

#[tokio::test]
async fn postgres_types_map_to_values() {
    let Some(schema) = db::schema("postgres_types_map_to_values").await else {
        return;
    };
    schema
        .client
        .batch_execute("CREATE TYPE mood AS ENUM ('sad', 'happy')")
        .await
        .unwrap();
    let source = postgres_source(&schema, json!({}));
    let rows = source
        .fetch(
            r#"SELECT 1::int2 AS small, 2::int4 AS "Int", 9007199254740993::int8 AS big,
                 123456789012345678901234567890.123456789::numeric AS num,
                 -0.00012::numeric AS tiny, 'NaN'::numeric AS nan,
                 0.1::float4 AS real, 2.5::float8 AS dbl, true AS flag,
                 'text'::text AS t, 'v'::varchar AS vc, 'c'::char(3) AS ch,
                 '2024-06-01 10:00:00.123456+02'::timestamptz AS tstz,
                 '2024-06-01 10:00:00'::timestamp AS ts, '2024-02-29'::date AS d,
                 '\xdeadbeef'::bytea AS b, '{"a": [1, "x", null]}'::jsonb AS j,
                 '{"b":2}'::json AS js, 'happy'::mood AS m, NULL::int AS nothing,
                 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, ARRAY[1, 2] AS arr,
                 '1 day 02:00'::interval AS iv, repeat('x', 5000) AS long,
                 'infinity'::timestamptz AS forever, '-infinity'::date AS never;"#,
            None,
        )
        .await
        .unwrap();
    let expected = [
        ("small", Value::Int(1)),
        ("int", Value::Int(2)),
        ("big", Value::Int(9_007_199_254_740_993)),
        (
            "num",
            Value::Numeric("123456789012345678901234567890.123456789".into()),
        ),
        ("tiny", Value::Numeric("-0.00012".into())),
        ("nan", Value::Numeric("NaN".into())),
        ("real", Value::Float(0.1)),
        ("dbl", Value::Float(2.5)),
        ("flag", Value::Bool(true)),
        ("t", Value::Text("text".into())),
        ("vc", Value::Text("v".into())),
        ("ch", Value::Text("c  ".into())),
        (
            "tstz",
            Value::Timestamp("2024-06-01T08:00:00.123456Z".parse().unwrap()),
        ),
        (
            "ts",
            Value::DateTime("2024-06-01T10:00:00".parse().unwrap()),
        ),
        ("d", Value::Date("2024-02-29".parse().unwrap())),
        ("b", Value::Bytes(vec![0xde, 0xad, 0xbe, 0xef])),
        ("j", Value::Json(json!({"a": [1, "x", null]}))),
        ("js", Value::Json(json!({"b": 2}))),
        ("m", Value::Text("happy".into())),
        ("nothing", Value::Null),
        (
            "u",
            Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
        ),
        ("arr", Value::Text("{1,2}".into())),
        ("iv", Value::Text("1 day 02:00:00".into())),
        ("forever", Value::Text("infinity".into())),
        ("never", Value::Text("-infinity".into())),
    ];
    assert_eq!(rows.rows.len(), 1);
    for (name, value) in expected {
        assert_eq!(column(&rows, name), [&value], "column {name}");
    }
    let long = column(&rows, "long")[0].to_string();
    assert!(long.ends_with("… [cut: 5000 characters in all]"), "{long}");
    assert_eq!(
        column(&rows, "tstz")[0].to_label(),
        "2024-06-01T08:00:00.123456Z"
    );
    assert_eq!(column(&rows, "b")[0].to_label(), "deadbeef");
}

#[tokio::test]
async fn postgres_unknown_type_that_cannot_be_read_as_text_asks_for_a_cast() {
    let Some(schema) = db::schema("postgres_unknown_type_asks_for_a_cast").await else {
        return;
    };
    schema
        .client
        .batch_execute("CREATE TABLE things (id uuid)")
        .await
        .unwrap();
    let source = postgres_source(&schema, json!({}));
    // `uuid` is read through the text form, which needs the query as a subquery; an INSERT
    // cannot be one, so the error must name the column and say what to do.
    let err = source
        .fetch(
            "INSERT INTO things VALUES (gen_random_uuid()) RETURNING id AS Thing",
            None,
        )
        .await
        .unwrap_err();
    let SourceError::Decode {
        column, message, ..
    } = &err
    else {
        panic!("not a decode error: {err:?}");
    };
    assert_eq!(column, "thing");
    assert!(message.contains("cannot read type uuid"), "{message}");
    assert!(message.contains("`thing::text`"), "{message}");
    assert!(
        err.to_string()
            .starts_with("source `billing`: column `thing`: "),
        "{err}"
    );
}

#[tokio::test]
async fn postgres_cursor_binds_as_dollar_one_with_its_type() {
    let Some(schema) = db::schema("postgres_cursor_binds_as_dollar_one").await else {
        return;
    };
    schema
        .client
        .batch_execute(
            "CREATE TABLE events (id bigint, at timestamptz, name text, amount numeric, day date);
             INSERT INTO events VALUES
               (1, '2024-06-01 10:00:00.000001+00', 'a', 10.25, '2024-06-01'),
               (2, '2024-06-01 10:00:00.000002+00', 'b', 10.5, '2024-06-02');",
        )
        .await
        .unwrap();
    let source = postgres_source(&schema, json!({}));
    let queries = [
        (
            "id",
            "SELECT * FROM events WHERE $1::bigint IS NULL OR id > $1 ORDER BY id",
        ),
        (
            "at",
            "SELECT * FROM events WHERE $1::timestamptz IS NULL OR at > $1 ORDER BY id",
        ),
        (
            "name",
            "SELECT * FROM events WHERE $1::text IS NULL OR name > $1 ORDER BY id",
        ),
        (
            "amount",
            "SELECT * FROM events WHERE $1::numeric IS NULL OR amount > $1 ORDER BY id",
        ),
        (
            "day",
            "SELECT * FROM events WHERE $1::date IS NULL OR day > $1 ORDER BY id",
        ),
    ];
    let mut cursors = Vec::new();
    for (col, sql) in queries {
        let first = source.fetch(sql, None).await.unwrap();
        assert_eq!(first.rows.len(), 2, "first run on {col}");
        let largest = column(&first, col)
            .into_iter()
            .max_by(|a, b| a.compare(b).unwrap())
            .unwrap()
            .clone();
        cursors.push(largest);
    }
    assert_eq!(
        cursors,
        [
            Value::Int(2),
            Value::Timestamp("2024-06-01T10:00:00.000002Z".parse().unwrap()),
            Value::Text("b".into()),
            Value::Numeric("10.5".into()),
            Value::Date("2024-06-02".parse().unwrap()),
        ]
    );
    schema
        .client
        .batch_execute(
            "INSERT INTO events VALUES
               (3, '2024-06-01 10:00:00.000003+00', 'c', 10.75, '2024-06-03');",
        )
        .await
        .unwrap();
    for ((col, sql), cursor) in queries.iter().zip(&cursors) {
        let next = source.fetch(sql, Some(cursor)).await.unwrap();
        assert_eq!(column(&next, "id"), [&Value::Int(3)], "cursor on {col}");
    }
    let err = source
        .fetch("SELECT * FROM events WHERE id > $1 AND id < $2", None)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("$1 (the cursor) is the only one"),
        "{err}"
    );
}

#[tokio::test]
async fn postgres_missing_database_or_role_is_a_clear_error_without_the_url() {
    let Some(schema) = db::schema("postgres_missing_database_or_role").await else {
        return;
    };
    let cases = [
        (
            schema.url_with(|url| {
                url.set_password(Some("hunter22-secret")).unwrap();
                url.set_path("/dbalert_no_such_database");
            }),
            "database \"dbalert_no_such_database\" does not exist",
        ),
        (
            schema.url_with(|url| {
                url.set_username("dbalert_no_such_role").unwrap();
                url.set_password(Some("hunter22-secret")).unwrap();
            }),
            "role \"dbalert_no_such_role\" does not exist",
        ),
    ];
    for (url, reason) in cases {
        let source = source(json!({"postgres": {"url": url}}), "billing").unwrap();
        let err = source.fetch("SELECT 1", None).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
        assert!(
            text.starts_with("source `billing`: cannot connect: "),
            "{text}"
        );
        assert!(text.contains(reason), "{text}");
        assert!(!text.contains("hunter22"), "{text}");
        assert!(!text.contains(&url), "{text}");
        assert!(!format!("{err:?}").contains("hunter22"), "{err:?}");
        assert!(source.check().await.is_err());
    }
}

#[tokio::test]
async fn postgres_sql_error_names_the_source_and_queries_are_read_only() {
    let Some(schema) = db::schema("postgres_sql_error_names_the_source").await else {
        return;
    };
    let source = postgres_source(&schema, json!({}));
    source.check().await.unwrap();
    let err = source
        .fetch("SELECT * FROM no_such_table", None)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Query { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "source `billing`: the query failed: relation \"no_such_table\" does not exist \
         (SQLSTATE 42P01); fix the check's sql"
    );
    let err = source
        .fetch("CREATE TABLE sneaky (a int)", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("read-only transaction"), "{err}");
    // The connection survives query errors.
    let rows = source.fetch("SELECT 2 AS two", None).await.unwrap();
    assert_eq!(rows.rows, [[Value::Int(2)]]);
}

#[tokio::test]
async fn postgres_statement_timeout_cancels_a_slow_query() {
    let Some(schema) = db::schema("postgres_statement_timeout").await else {
        return;
    };
    let source = postgres_source(&schema, json!({"statement_timeout": "200ms"}));
    let started = Instant::now();
    let err = source.fetch("SELECT pg_sleep(2)", None).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, SourceError::Timeout { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "source `billing`: the query was cancelled after the statement_timeout of 200ms; \
         make it faster or raise statement_timeout"
    );
    let rows = source.fetch("SELECT 1 AS one", None).await.unwrap();
    assert_eq!(rows.rows, [[Value::Int(1)]]);
}

#[tokio::test]
async fn postgres_dropped_connection_is_reported_then_reopened() {
    let Some(schema) = db::schema("postgres_dropped_connection").await else {
        return;
    };
    let source = postgres_source(&schema, json!({}));
    let terminate = async {
        // Wait for the source's session to show up, then end it from the server side.
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let ended = schema
                .client
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE application_name = $1 AND state = 'active'",
                    &[&schema.name],
                )
                .await
                .unwrap();
            if !ended.is_empty() {
                return;
            }
        }
        panic!("the source's session never showed up");
    };
    let (fetched, ()) = tokio::join!(source.fetch("SELECT pg_sleep(10)", None), terminate);
    let err = fetched.unwrap_err();
    assert!(matches!(err, SourceError::ConnectionLost { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("source `billing`: lost the connection: "),
        "{err}"
    );
    let rows = source.fetch("SELECT 3 AS three", None).await.unwrap();
    assert_eq!(rows.rows, [[Value::Int(3)]]);
}

#[tokio::test]
async fn postgres_tls_asked_by_the_url_is_never_dropped() {
    let Some(schema) = db::schema("postgres_tls_asked_by_the_url").await else {
        return;
    };
    // The local server either has no TLS or a self-signed certificate that no trusted CA
    // signed: both must fail rather than fall back to plain text.
    let url = schema.url_with(|url| {
        url.query_pairs_mut().append_pair("sslmode", "verify-full");
    });
    let source = source(json!({"postgres": {"url": url}}), "billing").unwrap();
    let err = source.check().await.unwrap_err();
    assert!(matches!(err, SourceError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("TLS"), "{err}");
}

async fn queue_count(schema: &TestSchema, table: &str) -> i64 {
    schema
        .client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

fn queue(table: &str) -> Queue {
    Queue::Table(serde_json::from_value(json!({ "table": table })).unwrap())
}

#[tokio::test]
async fn postgres_queue_rows_stay_until_commit() {
    let Some(schema) = db::schema("postgres_queue_rows_stay_until_commit").await else {
        return;
    };
    schema
        .client
        .batch_execute(include_str!("../../sql/postgres/queue.sql"))
        .await
        .unwrap();
    schema
        .client
        .batch_execute(
            r#"SELECT dbalert_enqueue('{"severity": "critical", "summary": "disk full"}');
               SELECT dbalert_enqueue('{"summary": "second"}');
               SELECT dbalert_enqueue('"just text"');"#,
        )
        .await
        .unwrap();
    let source = postgres_source(&schema, json!({}));
    let queue = queue("dbalert_queue");

    let batch = source.dequeue(&queue, 10, QueueWait::NoWait).await.unwrap();
    let payloads: Vec<&Value> = batch.messages.iter().map(|m| &m.payload).collect();
    assert_eq!(
        payloads,
        [
            &Value::Json(json!({"severity": "critical", "summary": "disk full"})),
            &Value::Json(json!({"summary": "second"})),
            &Value::Json(json!("just text")),
        ]
    );
    let ids: Vec<i64> = batch
        .messages
        .iter()
        .map(|m| m.id.parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in id order: {ids:?}");
    batch.rollback().await.unwrap();
    assert_eq!(queue_count(&schema, "dbalert_queue").await, 3);

    // A batch dropped without commit (a crash) leaves the rows too, once its session is gone.
    let batch = source.dequeue(&queue, 2, QueueWait::NoWait).await.unwrap();
    assert_eq!(batch.messages.len(), 2);
    drop(batch);
    let mut again = source.dequeue(&queue, 10, QueueWait::NoWait).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // The server notices the closed session a moment later; until then the rows stay locked.
    while again.messages.len() < 3 && Instant::now() < deadline {
        again.rollback().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        again = source.dequeue(&queue, 10, QueueWait::NoWait).await.unwrap();
    }
    assert_eq!(again.messages.len(), 3, "{again:?}");
    again.commit().await.unwrap();
    assert_eq!(queue_count(&schema, "dbalert_queue").await, 0);

    let empty = source.dequeue(&queue, 10, QueueWait::NoWait).await.unwrap();
    assert!(empty.messages.is_empty());
    empty.commit().await.unwrap();

    // A text payload column gives text messages.
    schema
        .client
        .batch_execute(
            "CREATE TABLE text_queue (id bigint PRIMARY KEY, payload text NOT NULL);
             INSERT INTO text_queue VALUES (7, 'plain words');",
        )
        .await
        .unwrap();
    let batch = source
        .dequeue(&self::queue("text_queue"), 10, QueueWait::NoWait)
        .await
        .unwrap();
    assert_eq!(batch.messages[0].id, "7");
    assert_eq!(batch.messages[0].payload, Value::Text("plain words".into()));
    batch.commit().await.unwrap();
    assert_eq!(queue_count(&schema, "text_queue").await, 0);

    let err = source
        .dequeue(&self::queue("no_such_queue"), 10, QueueWait::NoWait)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("\"no_such_queue\" does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn postgres_concurrent_dequeues_get_disjoint_rows() {
    let Some(schema) = db::schema("postgres_concurrent_dequeues").await else {
        return;
    };
    schema
        .client
        .batch_execute(include_str!("../../sql/postgres/queue.sql"))
        .await
        .unwrap();
    schema
        .client
        .batch_execute(
            "SELECT dbalert_enqueue(jsonb_build_object('n', n)) FROM generate_series(1, 6) n",
        )
        .await
        .unwrap();
    let source = postgres_source(&schema, json!({}));
    let other = postgres_source(&schema, json!({}));
    let queue = queue("dbalert_queue");
    let (a, b) = tokio::join!(
        source.dequeue(&queue, 4, QueueWait::NoWait),
        other.dequeue(&queue, 4, QueueWait::NoWait)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let ids = |batch: &dbalert::source::QueueBatch| -> Vec<String> {
        batch.messages.iter().map(|m| m.id.clone()).collect()
    };
    let (a_ids, b_ids) = (ids(&a), ids(&b));
    assert!(
        a_ids.iter().all(|id| !b_ids.contains(id)),
        "{a_ids:?} and {b_ids:?} overlap"
    );
    assert_eq!(a_ids.len() + b_ids.len(), 6, "{a_ids:?} {b_ids:?}");
    // While both hold their rows, a third poller gets nothing rather than waiting.
    let third = source.dequeue(&queue, 4, QueueWait::NoWait).await.unwrap();
    assert!(third.messages.is_empty());
    third.rollback().await.unwrap();
    a.commit().await.unwrap();
    b.rollback().await.unwrap();
    assert_eq!(
        queue_count(&schema, "dbalert_queue").await,
        b_ids.len() as i64
    );
}
