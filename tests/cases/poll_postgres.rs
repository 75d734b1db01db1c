//! `dbalert poll` through the real binary against the real PostgreSQL server that
//! `DBALERT_TEST_POSTGRES_URL` names (each test in a schema of its own, dropped afterwards), a
//! SQLite source beside it, the fake Slack and a real state file.
//!
//! Every source URL carries [`PASSWORD`] (the test server's trust auth accepts any), so that
//! each failing run can also check that it never reaches stderr or Slack.

use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::clock;
use crate::support::db::{self, TestSchema};
use crate::support::fake_slack::{FakeSlack, Reply};
use crate::support::{dbalert, stderr_of, stdout_of, workdir};

/// The password in every PostgreSQL URL the tests hand to dbalert.
const PASSWORD: &str = "pw-Zq7-never-print-me";

/// A state check on PostgreSQL, keyed by `name`.
const PG_PROBLEMS: &str = "select name, owner from problems";

/// `problems(name, owner)` in the test's schema.
const PG_TABLES: &str = "create table problems (name text primary key, owner text)";

/// A working directory with a config for one PostgreSQL source (`pg`) and one SQLite source
/// (`lite`, `app.db` with `problems(name)`), one Slack receiver, and the fake Slack behind it.
struct Poller {
    dir: tempfile::TempDir,
    slack: FakeSlack,
    hook: String,
    /// The test schema's URL with [`PASSWORD`] in it.
    url: String,
}

impl Poller {
    fn new(schema: &TestSchema) -> Self {
        let slack = FakeSlack::start();
        let hook = slack.webhook(&schema.name);
        let dir = workdir(&[]);
        rusqlite::Connection::open(dir.path().join("app.db"))
            .unwrap()
            .execute_batch("create table problems (name text primary key)")
            .unwrap();
        let mut url = reqwest::Url::parse(&schema.url).unwrap();
        url.set_password(Some(PASSWORD)).unwrap();
        Self {
            dir,
            slack,
            hook,
            url: url.to_string(),
        }
    }

    /// Writes `alerts.yaml`: `pg_extra` are more keys of the postgres source (indented six),
    /// `route` more keys of the route (indented two), `checks` the list items.
    fn configure(&self, pg_extra: &str, route: &str, checks: &str) {
        // `\x20`: a line continuation drops the next line's leading spaces, which YAML needs.
        let text = format!(
            "state:\n  path: state.db\n\
             sources:\n  pg:\n    postgres:\n      url: ${{env:PG_URL}}\n{pg_extra}\
             \x20 lite:\n    sqlite:\n      path: app.db\n\
             receivers:\n  team:\n    slack:\n      webhook_url: ${{env:HOOK}}\n    max_retries: 1\n\
             route:\n  receiver: team\n{route}\
             checks:\n{checks}"
        );
        std::fs::write(self.dir.path().join("alerts.yaml"), text).unwrap();
    }

    /// `dbalert poll ARGS` with the good URL.
    fn poll(&self, args: &[&str]) -> Output {
        self.run(&self.url, &[&["poll"], args].concat())
    }

    /// `dbalert ARGS` with the source URL `url`.
    fn run(&self, url: &str, args: &[&str]) -> Output {
        dbalert(self.dir.path())
            .env("HOOK", &self.hook)
            .env("PG_URL", url)
            .args(args)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    }

    /// A `poll` that must exit 0.
    fn poll_ok(&self) {
        let output = self.poll(&[]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    }

    /// `dbalert poll` as a child process, to run beside another.
    fn spawn_poll(&self) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("dbalert"))
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join(".config"))
            .env("XDG_STATE_HOME", self.dir.path().join(".state"))
            .env("HOOK", &self.hook)
            .env("PG_URL", &self.url)
            .env_remove("DBALERT_CONFIG")
            .env_remove("RUST_LOG")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .arg("poll")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The `text` of every message Slack accepted, in order.
    fn texts(&self) -> Vec<String> {
        self.accepted()
            .iter()
            .map(|body| body["text"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The title (first line) of every alert listed in the accepted messages, in order.
    fn titles(&self) -> Vec<String> {
        self.accepted()
            .iter()
            .flat_map(|body| body["attachments"][0]["blocks"].as_array().unwrap().clone())
            .filter(|block| block["type"] == "section")
            .map(|block| {
                let text = block["text"]["text"].as_str().unwrap();
                text.lines().next().unwrap().trim_matches('*').to_owned()
            })
            .collect()
    }

    /// Every piece of text in the accepted messages, one a line.
    fn shown(&self) -> String {
        fn strings(value: &serde_json::Value, out: &mut String) {
            match value {
                serde_json::Value::String(text) => {
                    out.push_str(text);
                    out.push('\n');
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
                serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
                _ => {}
            }
        }
        let mut out = String::new();
        self.accepted()
            .iter()
            .for_each(|body| strings(body, &mut out));
        out
    }

    /// Every accepted message's JSON body.
    fn accepted(&self) -> Vec<serde_json::Value> {
        self.slack
            .requests_to(&self.hook)
            .iter()
            .filter(|r| r.status == 200)
            .map(|r| r.json())
            .collect()
    }

    fn lite(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("app.db")).unwrap()
    }
}

async fn sql(schema: &TestSchema, statements: &str) {
    schema
        .client
        .batch_execute(statements)
        .await
        .unwrap_or_else(|err| panic!("{statements}: {err:?}"));
}

async fn count(schema: &TestSchema, table: &str) -> i64 {
    schema
        .client
        .query_one(&format!("select count(*) from {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// A state check `pg_problem` on the PostgreSQL source running `query`.
fn pg_problem(query: &str) -> String {
    format!(
        "  - name: pg_problem\n    source: pg\n    sql: {query}\n    key: [name]\n    \
         annotations: {{summary: 'Problem {{{{ row.name }}}}'}}\n"
    )
}

/// A state check `lite_problem` on the SQLite source.
const LITE_PROBLEM: &str = "  - name: lite_problem\n    source: lite\n    sql: select name from problems\n    annotations: {summary: 'Lite {{ row.name }}'}\n";

#[tokio::test]
async fn postgres_state_alerts_fire_repeat_after_the_interval_resolve_and_fire_again() {
    let Some(schema) = db::schema("postgres_state_alerts_fire_repeat_resolve").await else {
        return;
    };
    sql(
        &schema,
        &format!("{PG_TABLES}; insert into problems values ('a', 'ORDERS'), ('b', 'BILLING')"),
    )
    .await;
    let poller = Poller::new(&schema);
    let checks = pg_problem(PG_PROBLEMS);
    // An interval no run of this test can outlast, so that "no repeat yet" does not depend on
    // how fast the machine is; the state file is then moved an hour back instead of waiting.
    poller.configure(
        "",
        "  group_by: [alertname]\n  repeat_interval: 1h\n",
        &checks,
    );

    let first = poller.poll(&[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    assert!(
        stdout_of(&first).is_empty() && stderr_of(&first).is_empty(),
        "silent on success: {}",
        stderr_of(&first)
    );
    assert_eq!(poller.texts(), [":warning: [FIRING:2] pg_problem"]);
    let mut titles = poller.titles();
    titles.sort();
    assert_eq!(titles, ["Problem a", "Problem b"]);

    poller.poll_ok();
    assert_eq!(poller.texts().len(), 1, "no repeat before repeat_interval");

    clock::advance(
        &poller.dir.path().join("state.db"),
        Duration::from_secs(3601),
    );
    poller.poll_ok();
    assert_eq!(
        poller.texts(),
        [
            ":warning: [FIRING:2] pg_problem",
            ":warning: [FIRING:2] pg_problem"
        ],
        "repeated once repeat_interval has passed"
    );

    sql(&schema, "delete from problems where name = 'b'").await;
    poller.poll_ok();
    assert_eq!(
        poller.texts()[2],
        ":warning: [FIRING:1, RESOLVED:1] pg_problem"
    );

    sql(&schema, "delete from problems").await;
    poller.poll_ok();
    assert_eq!(
        poller.texts()[3],
        ":white_check_mark: [RESOLVED:1] pg_problem: Problem a"
    );

    sql(&schema, "insert into problems values ('b', 'BILLING')").await;
    poller.poll_ok();
    assert_eq!(
        poller.texts()[4],
        ":warning: [FIRING:1] pg_problem: Problem b",
        "fires again"
    );
    assert_eq!(poller.texts().len(), 5, "{:#?}", poller.texts());
}

/// An event check `pg_event` on the PostgreSQL source with cursor `cursor`.
fn pg_event(cursor: &str, query: &str) -> String {
    format!(
        "  - name: pg_event\n    source: pg\n    events: {{cursor: {cursor}}}\n    sql: \"{query}\"\n    \
         annotations: {{summary: 'Event {{{{ row.msg }}}}'}}\n"
    )
}

#[tokio::test]
async fn postgres_bigint_cursor_sends_each_event_once_with_no_gaps_and_skips_history() {
    let Some(schema) = db::schema("postgres_bigint_cursor").await else {
        return;
    };
    sql(
        &schema,
        "create table events (id bigint primary key, msg text);
         insert into events values (1, 'h1'), (2, 'h2');",
    )
    .await;
    let poller = Poller::new(&schema);
    poller.configure(
        "",
        "  group_by: [alertname]\n",
        &pg_event(
            "id",
            "select id, msg from events where ($1::bigint is null or id > $1)",
        ),
    );

    poller.poll_ok();
    assert!(
        poller.slack.requests_to(&poller.hook).is_empty(),
        "start: now skips history"
    );

    sql(&schema, "insert into events values (3, 'e3'), (4, 'e4')").await;
    poller.poll_ok();
    assert_eq!(poller.texts(), [":warning: [FIRING:2] pg_event"]);
    poller.poll_ok();
    assert_eq!(poller.texts().len(), 1, "nothing new, nothing sent");

    // A failed delivery leaves the cursor where it was: the next run sends those rows too.
    sql(&schema, "insert into events values (5, 'e5'), (6, 'e6')").await;
    poller
        .slack
        .script(&poller.hook, vec![Reply::Status(500, "rollup_error"); 2]);
    let failed = poller.poll(&[]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr_of(&failed));
    sql(&schema, "insert into events values (7, 'e7')").await;
    poller.poll_ok();
    poller.poll_ok();

    assert_eq!(
        poller.titles(),
        ["Event e3", "Event e4", "Event e5", "Event e6", "Event e7"],
        "each event once, none missing, no history"
    );
}

// Issue 11: `id > $1` and `ts > $1` work from the first run on PostgreSQL, with no
// `initial`: the first run binds the zero of the type the server inferred for `$1`.
#[tokio::test]
async fn issue_11_the_natural_event_query_works_from_the_first_run_on_postgres() {
    let Some(schema) = db::schema("postgres_natural_cursor").await else {
        return;
    };
    sql(
        &schema,
        "create table events (id bigint primary key, at timestamptz not null, msg text);
         insert into events values (1, now(), 'h1');",
    )
    .await;
    for (cursor, query) in [
        ("id", "select id, msg from events where id > $1"),
        ("at", "select at, msg from events where at > $1"),
    ] {
        let poller = Poller::new(&schema);
        poller.configure("", "  group_by: ['...']\n", &pg_event(cursor, query));
        poller.poll_ok();
        assert!(
            poller.texts().is_empty(),
            "{cursor}: start: now skips history"
        );
        let id = 10 + poller.texts().len() as i64 + if cursor == "at" { 100 } else { 0 };
        sql(
            &schema,
            &format!(
                "insert into events values ({id}, now() + interval '1 second', 'new {cursor}')"
            ),
        )
        .await;
        poller.poll_ok();
        assert_eq!(poller.titles(), [format!("Event new {cursor}")], "{cursor}");
        poller.poll_ok();
        assert_eq!(poller.titles().len(), 1, "{cursor}: sent once");
    }
}

#[tokio::test]
async fn postgres_timestamptz_cursor_keeps_microseconds_across_runs() {
    let Some(schema) = db::schema("postgres_timestamptz_cursor").await else {
        return;
    };
    sql(
        &schema,
        "create table events (ts timestamptz primary key, msg text);
         insert into events values ('2020-01-01 00:00:00+00', 'h1');",
    )
    .await;
    let poller = Poller::new(&schema);
    poller.configure(
        "",
        "  group_by: [alertname]\n",
        &pg_event(
            "ts",
            "select ts, msg from events where ($1::timestamptz is null or ts > $1)",
        ),
    );

    poller.poll_ok();
    // A microsecond apart, and in another time zone: a cursor cut to milliseconds (or read
    // in the wrong zone) would send the first again or skip the next.
    sql(
        &schema,
        "insert into events values
           ('2030-01-01 00:00:00.000001+00', 'e1'),
           ('2030-01-01 02:00:00.000002+02', 'e2');",
    )
    .await;
    poller.poll_ok();
    sql(
        &schema,
        "insert into events values ('2030-01-01 00:00:00.000003+00', 'e3')",
    )
    .await;
    poller.poll_ok();
    poller.poll_ok();

    assert_eq!(poller.titles(), ["Event e1", "Event e2", "Event e3"]);
    assert_eq!(
        poller.texts(),
        [
            ":warning: [FIRING:2] pg_event",
            ":warning: [FIRING:1] pg_event: Event e3"
        ]
    );
}

/// A queue check `pg_queue` on `table`.
fn pg_queue(table: &str) -> String {
    format!("  - name: pg_queue\n    source: pg\n    queue: {{table: {table}}}\n")
}

/// The queue table and enqueue function of `sql/postgres/queue.sql`, in the test's schema.
async fn queue_ddl(schema: &TestSchema) {
    sql(schema, include_str!("../../sql/postgres/queue.sql")).await;
}

#[tokio::test]
async fn postgres_queue_rows_stay_while_slack_fails_and_are_gone_once_it_accepts() {
    let Some(schema) = db::schema("postgres_queue_rows_stay").await else {
        return;
    };
    queue_ddl(&schema).await;
    sql(
        &schema,
        r#"select dbalert_enqueue('{"severity": "critical", "team": "orders", "summary": "payment backlog"}');
           select dbalert_enqueue('{"severity": "info", "team": "billing", "summary": "invoice run late"}');"#,
    )
    .await;
    let poller = Poller::new(&schema);
    poller.configure(
        "",
        "  group_by: [alertname, team]\n",
        &pg_queue("dbalert_queue"),
    );

    let dry = poller.poll(&["--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", stderr_of(&dry));
    assert!(
        stdout_of(&dry).contains("payment backlog") && stdout_of(&dry).contains("invoice run late"),
        "{}",
        stdout_of(&dry)
    );
    assert_eq!(
        count(&schema, "dbalert_queue").await,
        2,
        "a dry run leaves the queue alone"
    );

    // Two messages (one per team), each tried twice (max_retries: 1).
    poller
        .slack
        .script(&poller.hook, vec![Reply::Status(500, "rollup_error"); 4]);
    let failed = poller.poll(&[]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr_of(&failed));
    assert!(
        stderr_of(&failed).contains("retried next run"),
        "{}",
        stderr_of(&failed)
    );
    assert!(poller.texts().is_empty());
    assert_eq!(
        count(&schema, "dbalert_queue").await,
        2,
        "rows stay while Slack fails"
    );

    poller.poll_ok();
    assert_eq!(
        count(&schema, "dbalert_queue").await,
        0,
        "gone once accepted"
    );
    let mut texts = poller.texts();
    texts.sort();
    assert_eq!(
        texts,
        [
            ":information_source: [FIRING:1] pg_queue (team=billing): invoice run late",
            ":red_circle: [FIRING:1] pg_queue (team=orders): payment backlog",
        ],
        "team is a label (it groups), severity too (it colours), summary the title"
    );
    let shown = poller.shown();
    assert!(shown.contains("*severity*\ncritical"), "{shown}");

    poller.poll_ok();
    assert_eq!(poller.texts().len(), 2, "and never sent again");
}

#[tokio::test]
async fn postgres_queue_text_payload_becomes_the_summary() {
    let Some(schema) = db::schema("postgres_queue_text_payload").await else {
        return;
    };
    sql(
        &schema,
        "create table text_queue (id bigint generated always as identity primary key, payload text not null);
         insert into text_queue (payload) values ('replication lag above 5 min');",
    )
    .await;
    let poller = Poller::new(&schema);
    poller.configure("", "  group_by: [alertname]\n", &pg_queue("text_queue"));
    poller.poll_ok();
    assert_eq!(
        poller.texts(),
        [":warning: [FIRING:1] pg_queue: replication lag above 5 min"]
    );
    assert_eq!(count(&schema, "text_queue").await, 0);
}

// Issue 11, item 1: one message whose JSON nests deeper than the parser allows used to fail
// the queue check on every run, and no message behind it was ever delivered.
#[tokio::test]
async fn issue_11_a_message_that_cannot_be_read_as_json_is_sent_as_text_and_blocks_nothing() {
    let Some(schema) = db::schema("postgres_queue_poison").await else {
        return;
    };
    queue_ddl(&schema).await;
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    sql(
        &schema,
        &format!(
            r#"select dbalert_enqueue('{deep}');
               select dbalert_enqueue('{{"summary": "behind the bad one", "team": "orders"}}');"#
        ),
    )
    .await;
    let poller = Poller::new(&schema);
    poller.configure("", "  group_by: ['...']\n", &pg_queue("dbalert_queue"));
    let run = poller.poll(&[]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr_of(&run));
    assert!(
        stderr_of(&run).contains("sent as text"),
        "the unreadable payload is named in a warning: {}",
        stderr_of(&run)
    );
    let texts = poller.texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("behind the bad one")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("[[[[")), "{texts:?}");
    assert_eq!(count(&schema, "dbalert_queue").await, 0, "both committed");
}

// Issue 11, item 5: a crash near the end of a queue batch used to repeat every message of
// it; a message already accepted is now known by its id when the batch comes back.
#[tokio::test]
async fn issue_11_a_crash_in_a_queue_batch_repeats_at_most_the_message_in_flight() {
    let Some(schema) = db::schema("postgres_queue_crash").await else {
        return;
    };
    queue_ddl(&schema).await;
    let enqueue: String = (1..=8)
        .map(|i| format!("select dbalert_enqueue('{{\"summary\": \"m{i}\"}}');"))
        .collect();
    sql(&schema, &enqueue).await;
    let poller = Poller::new(&schema);
    // One message per queue message, paced at one a second.
    poller.configure("", "  group_by: ['...']\n", &pg_queue("dbalert_queue"));
    let mut child = poller.spawn_poll();
    let started = std::time::Instant::now();
    while poller.texts().len() < 3 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL, mid-batch
    child.wait().unwrap();
    let before = poller.texts().len();
    assert!((3..8).contains(&before), "{before}");
    assert_eq!(
        count(&schema, "dbalert_queue").await,
        8,
        "the batch was not committed"
    );

    poller.poll_ok();
    let texts = poller.texts();
    for i in 1..=8 {
        let summary = format!("m{i}");
        assert!(
            texts.iter().any(|t| t.ends_with(&summary)),
            "{summary} lost: {texts:#?}"
        );
    }
    assert!(
        texts.len() <= 8 + 1,
        "{} messages for 8: more than the one in flight repeated",
        texts.len()
    );
    assert_eq!(count(&schema, "dbalert_queue").await, 0);
}

#[tokio::test]
async fn postgres_queue_json_string_payload_becomes_the_summary_without_quotes() {
    let Some(schema) = db::schema("postgres_queue_json_string_payload").await else {
        return;
    };
    queue_ddl(&schema).await;
    sql(
        &schema,
        "select dbalert_enqueue(to_jsonb('replication lag above 5 min'::text))",
    )
    .await;
    let poller = Poller::new(&schema);
    poller.configure("", "  group_by: [alertname]\n", &pg_queue("dbalert_queue"));
    poller.poll_ok();
    assert_eq!(
        poller.texts(),
        [":warning: [FIRING:1] pg_queue: replication lag above 5 min"]
    );
}

/// How a test breaks the `pg_problem` check after a good run.
struct Breakage {
    /// More keys of the postgres source, in every run.
    pg_extra: &'static str,
    /// The check's query in the broken run.
    query: &'static str,
    /// The source URL in the broken run.
    url: Option<String>,
    /// What stderr and the failure alert must say.
    reason: &'static str,
}

/// Fires `pg_problem` (and nothing on SQLite) on a good run, then breaks it as `breakage` says
/// while `lite_problem` gets a new row, then repairs it. The broken run: exit 1, an error
/// naming the check and source, no password, `lite_problem` still delivered, a
/// `dbalert_check_failed` alert, nothing resolved. The repaired run: the failure alert
/// resolves, and `pg_problem`, still firing, is not announced again.
async fn assert_source_failure_is_contained(schema: &TestSchema, breakage: Breakage) {
    sql(
        schema,
        &format!("{PG_TABLES}; insert into problems values ('a', 'ORDERS')"),
    )
    .await;
    let poller = Poller::new(schema);
    let route = "  group_by: [alertname, check]\n";
    let good = format!("{}{LITE_PROBLEM}", pg_problem(PG_PROBLEMS));
    let broken = format!("{}{LITE_PROBLEM}", pg_problem(breakage.query));

    poller.configure(breakage.pg_extra, route, &good);
    poller.poll_ok();
    assert_eq!(
        poller.texts(),
        [":warning: [FIRING:1] pg_problem: Problem a"]
    );

    poller.configure(breakage.pg_extra, route, &broken);
    poller
        .lite()
        .execute("insert into problems values ('z')", [])
        .unwrap();
    // Verbose, so that a password in any debug line would show too.
    let url = breakage.url.as_deref().unwrap_or(&poller.url);
    let output = poller.run(url, &["-vv", "poll"]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("check=pg_problem") && stderr.contains("source `pg`"),
        "names the check and the source: {stderr}"
    );
    assert!(stderr.contains(breakage.reason), "says why: {stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert!(!stderr.contains(url), "{stderr}");

    let texts = poller.texts();
    assert_eq!(texts.len(), 3, "{texts:#?}");
    assert!(
        texts[1..].contains(&":warning: [FIRING:1] lite_problem: Lite z".to_owned()),
        "the other source's check is still delivered: {texts:#?}"
    );
    assert!(
        texts[1..].contains(
            &":red_circle: [FIRING:1] dbalert_check_failed (check=pg_problem): \
              Check pg_problem on source pg failed"
                .to_owned()
        ),
        "{texts:#?}"
    );
    assert!(
        texts.iter().all(|t| !t.contains("RESOLVED")),
        "a failed run resolves nothing: {texts:#?}"
    );
    let shown = poller.shown();
    assert!(
        shown.contains(breakage.reason),
        "the failure alert says why: {shown}"
    );
    assert!(!shown.contains(PASSWORD), "{shown}");

    poller.configure(breakage.pg_extra, route, &good);
    poller.poll_ok();
    let texts = poller.texts();
    assert_eq!(texts.len(), 4, "{texts:#?}");
    assert!(
        texts[3]
            .starts_with(":white_check_mark: [RESOLVED:1] dbalert_check_failed (check=pg_problem)"),
        "{texts:#?}"
    );
}

#[tokio::test]
async fn postgres_missing_database_fails_the_check_without_printing_the_password() {
    let Some(schema) = db::schema("postgres_missing_database_fails_the_check").await else {
        return;
    };
    let url = schema.url_with(|url| {
        url.set_password(Some(PASSWORD)).unwrap();
        url.set_path("/dbalert_no_such_database");
    });
    let breakage = Breakage {
        pg_extra: "",
        query: PG_PROBLEMS,
        url: Some(url.clone()),
        reason: "database \"dbalert_no_such_database\" does not exist",
    };
    assert_source_failure_is_contained(&schema, breakage).await;
}

#[test]
fn unparsable_postgres_url_is_a_config_error_that_hides_the_password() {
    // Caught when the config is loaded, so `dbalert check` reports it before any poll runs.
    let url = format!("postgres://postgres:{PASSWORD}@127.0.0.1:notaport/test");
    let dir = workdir(&[(
        "alerts.yaml",
        "sources:\n  pg:\n    postgres:\n      url: ${env:PG_URL}\n\
         receivers:\n  team: {stdout: {}}\nroute: {receiver: team}\n\
         checks:\n  - {name: problems, source: pg, sql: select 1}\n",
    )]);
    for command in ["check", "poll"] {
        let output = dbalert(dir.path())
            .env("PG_URL", &url)
            .arg(command)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{command}: {}",
            stderr_of(&output)
        );
        let stderr = stderr_of(&output);
        assert!(stderr.contains("has 1 problem:"), "{command}: {stderr}");
        assert!(stderr.contains(":2:3: sources.pg: "), "{command}: {stderr}");
        assert!(
            stderr.contains("is not a PostgreSQL connection URL"),
            "{command}: {stderr}"
        );
        assert!(
            !stderr.contains(PASSWORD),
            "{command} printed the password: {stderr}"
        );
    }
}

#[tokio::test]
async fn postgres_sql_error_fails_the_check_and_resolves_none_of_its_alerts() {
    let Some(schema) = db::schema("postgres_sql_error_fails_the_check").await else {
        return;
    };
    let breakage = Breakage {
        pg_extra: "",
        query: "select name, owner from no_such_table",
        url: None,
        reason: "relation \"no_such_table\" does not exist",
    };
    assert_source_failure_is_contained(&schema, breakage).await;
}

#[tokio::test]
async fn postgres_statement_timeout_fails_the_check_and_resolves_none_of_its_alerts() {
    let Some(schema) = db::schema("postgres_statement_timeout_fails_the_check").await else {
        return;
    };
    let breakage = Breakage {
        pg_extra: "      statement_timeout: 200ms\n",
        query: "select pg_sleep(2)",
        url: None,
        reason: "cancelled after the statement_timeout of 200ms",
    };
    assert_source_failure_is_contained(&schema, breakage).await;
}

#[tokio::test]
async fn postgres_connection_dropped_mid_query_fails_the_check_and_resolves_none_of_its_alerts() {
    let Some(schema) = db::schema("postgres_connection_dropped_fails_the_check").await else {
        return;
    };
    // The query ends its own session, as an administrator's pg_terminate_backend would.
    let breakage = Breakage {
        pg_extra: "",
        query: "select name, owner from problems where pg_terminate_backend(pg_backend_pid())",
        url: None,
        reason: "lost the connection",
    };
    assert_source_failure_is_contained(&schema, breakage).await;
}

/// Runs a second `poll` while `first` holds the state file: it must exit 75 and say why.
fn assert_second_poll_exits_75(poller: &Poller) {
    let second = poller.poll(&[]);
    assert_eq!(second.status.code(), Some(75), "{}", stderr_of(&second));
    assert!(
        stderr_of(&second).contains("another dbalert poll is using the state file"),
        "{}",
        stderr_of(&second)
    );
}

fn finished(first: std::process::Child) {
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
}

#[tokio::test]
async fn two_concurrent_polls_on_one_state_file_the_second_exits_75() {
    let Some(schema) = db::schema("two_concurrent_polls").await else {
        return;
    };
    sql(
        &schema,
        &format!("{PG_TABLES}; insert into problems values ('a', 'ORDERS')"),
    )
    .await;
    let poller = Poller::new(&schema);
    poller.configure("", "  group_by: [alertname]\n", &pg_problem(PG_PROBLEMS));

    // While the first poll's query waits on a lock the test holds (no clock involved).
    let (locker, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    locker
        .batch_execute("begin; lock table problems in access exclusive mode")
        .await
        .unwrap();
    let first = poller.spawn_poll();
    let started = Instant::now();
    loop {
        let waiting: i64 = schema
            .client
            .query_one(
                "select count(*) from pg_stat_activity
                  where application_name = $1 and wait_event_type = 'Lock'",
                &[&schema.name],
            )
            .await
            .unwrap()
            .get(0);
        if waiting == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first poll's query never reached the database"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_second_poll_exits_75(&poller);
    locker.batch_execute("commit").await.unwrap();
    finished(first);
    assert_eq!(
        poller.texts(),
        [":warning: [FIRING:1] pg_problem: Problem a"]
    );

    // While the first poll waits for Slack's answer to its message (the state not yet saved).
    sql(&schema, "insert into problems values ('b', 'BILLING')").await;
    poller
        .slack
        .script(&poller.hook, [Reply::Slow(Duration::from_secs(6))]);
    let first = poller.spawn_poll();
    let started = Instant::now();
    while poller.slack.requests_to(&poller.hook).len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first poll never reached Slack"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_second_poll_exits_75(&poller);
    finished(first);
    assert_eq!(poller.texts()[1..], [":warning: [FIRING:2] pg_problem"]);

    poller.poll_ok();
    assert_eq!(poller.texts().len(), 2, "the first poll saved what it sent");
}
