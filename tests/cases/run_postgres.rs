//! `dbalert run` against the real PostgreSQL server that `DBALERT_TEST_POSTGRES_URL` names:
//! queue wake-ups (LISTEN/NOTIFY), a LISTEN connection killed and restored, and two `run`
//! processes sharing one queue. Each test has a schema of its own and the fake Slack.
//!
//! Every queue check here has an interval of an hour, which no test outlasts: a message
//! delivered after the first poll was taken because a notification woke the check.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::db::{self, TestSchema};
use crate::support::fake_slack::FakeSlack;
use crate::support::workdir;

/// How long a test waits for something that takes milliseconds when it works; only a broken
/// build ever waits this long.
const PATIENCE: Duration = Duration::from_secs(60);

/// One `dbalert run` on the test schema's `dbalert_queue`, in a directory (and state file) of
/// its own, delivering to `hook`; its stderr goes to `run.log` there.
struct Runner {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Runner {
    fn start(schema: &TestSchema, hook: &str) -> Self {
        let queue = "  - name: pg_queue\n    source: pg\n    interval: 1h\n    queue: {table: dbalert_queue}\n";
        Self::with_checks(schema, hook, queue, &[])
    }

    /// A `run` of the list items `checks`, with more arguments of `run`.
    fn with_checks(schema: &TestSchema, hook: &str, checks: &str, args: &[&str]) -> Self {
        let config = format!(
            "state:\n  path: state.db\n\
             sources:\n  pg:\n    postgres:\n      url: ${{env:PG_URL}}\n\
             receivers:\n  team:\n    slack:\n      webhook_url: ${{env:HOOK}}\n\
             route:\n  receiver: team\n  group_by: ['...']\n  group_wait: 0s\n\
             checks:\n{checks}"
        );
        let dir = workdir(&[("alerts.yaml", &config)]);
        let log = std::fs::File::create(dir.path().join("run.log")).unwrap();
        let child = Command::new(assert_cmd::cargo::cargo_bin("dbalert"))
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("HOOK", hook)
            .env("PG_URL", &schema.url)
            .env_remove("DBALERT_CONFIG")
            .env_remove("RUST_LOG")
            .args([&["-v", "run"], args].concat())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            dir,
            child: Some(child),
        }
    }

    /// The metrics file (`--metrics-file run.prom`), empty before the first write.
    fn metrics(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("run.prom")).unwrap_or_default()
    }

    /// Waits until at least `count` more batches were handled: the metrics file is rewritten,
    /// with a new `dbalert_last_run_timestamp_seconds`, only when a batch ended since the last
    /// write.
    async fn batches(&self, count: usize) {
        let last_run = || {
            let text = self.metrics();
            let line = text
                .lines()
                .find(|l| l.starts_with("dbalert_last_run_timestamp_seconds "));
            line.map(str::to_owned)
        };
        let mut seen = std::collections::BTreeSet::from([last_run()]);
        let done = eventually(async || {
            seen.insert(last_run());
            seen.len() > count
        })
        .await;
        assert!(done, "{}\n{}", self.metrics(), self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("run.log")).unwrap()
    }

    /// SIGTERM, and the exit.
    fn stop(mut self) -> Output {
        let child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        child.wait_with_output().unwrap()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The text of every message Slack accepted on `hook`.
fn texts(slack: &FakeSlack, hook: &str) -> Vec<String> {
    slack
        .requests_to(hook)
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.json()["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until `done` holds or [`PATIENCE`] runs out; says which.
async fn eventually(mut done: impl AsyncFnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The backends of the schema's sessions that are listening (their last statement a LISTEN).
async fn listeners(schema: &TestSchema) -> Vec<i32> {
    schema
        .client
        .query(
            "select pid from pg_stat_activity where application_name = $1 and query like 'LISTEN %' order by pid",
            &[&schema.name],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

async fn enqueue(schema: &TestSchema, summary: &str) {
    schema
        .client
        .execute(
            "select dbalert_enqueue(jsonb_build_object('summary', $1::text))",
            &[&summary],
        )
        .await
        .unwrap();
}

async fn queued(schema: &TestSchema) -> i64 {
    schema
        .client
        .query_one("select count(*) from dbalert_queue", &[])
        .await
        .unwrap()
        .get(0)
}

/// A schema with the queue of `sql/postgres/queue.sql`.
async fn queue_schema(test: &str) -> Option<TestSchema> {
    let schema = db::schema(test).await?;
    schema
        .client
        .batch_execute(include_str!("../../sql/postgres/queue.sql"))
        .await
        .unwrap();
    Some(schema)
}

/// Starts a `run` and waits until its first poll delivered `first` and its listener is up.
async fn running(schema: &TestSchema, slack: &FakeSlack, hook: &str) -> Runner {
    enqueue(schema, "first").await;
    let runner = Runner::start(schema, hook);
    let first = eventually(async || texts(slack, hook).len() == 1).await;
    assert!(first, "the first poll delivered nothing: {}", runner.log());
    let listening = eventually(async || listeners(schema).await.len() == 1).await;
    assert!(listening, "no LISTEN session: {}", runner.log());
    runner
}

#[tokio::test]
async fn run_takes_a_queue_message_when_it_is_committed_not_at_the_interval() {
    let Some(schema) = queue_schema("run_listen_wakes").await else {
        return;
    };
    let slack = FakeSlack::start();
    let hook = slack.webhook("run-listen");
    let runner = running(&schema, &slack, &hook).await;

    enqueue(&schema, "second").await;
    let woken = eventually(async || texts(&slack, &hook).len() == 2).await;
    assert!(
        woken,
        "not delivered before the 1h interval: {}",
        runner.log()
    );
    assert_eq!(
        texts(&slack, &hook),
        [
            ":warning: [FIRING:1] pg_queue (source=pg, summary=first): first",
            ":warning: [FIRING:1] pg_queue (source=pg, summary=second): second"
        ]
    );
    let empty = eventually(async || queued(&schema).await == 0).await;
    assert!(empty, "the batch was not committed: {}", runner.log());

    let output = runner.stop();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[tokio::test]
async fn run_notices_a_killed_listen_connection_and_listens_again() {
    let Some(schema) = queue_schema("run_listen_killed").await else {
        return;
    };
    let slack = FakeSlack::start();
    let hook = slack.webhook("run-listen-killed");
    let runner = running(&schema, &slack, &hook).await;
    let killed = listeners(&schema).await[0];

    schema
        .client
        .execute("select pg_terminate_backend($1)", &[&killed])
        .await
        .unwrap();
    let relistening = eventually(async || {
        let now = listeners(&schema).await;
        now.len() == 1 && now[0] != killed
    })
    .await;
    assert!(relistening, "no new LISTEN session: {}", runner.log());
    assert!(
        runner.log().contains("The LISTEN connection was lost"),
        "{}",
        runner.log()
    );

    enqueue(&schema, "after the kill").await;
    let woken = eventually(async || {
        texts(&slack, &hook)
            .iter()
            .any(|t| t.ends_with("after the kill"))
    })
    .await;
    assert!(
        woken,
        "not delivered before the 1h interval: {}",
        runner.log()
    );

    // The connection the queue batches keep between them, killed while idle, is replaced
    // without failing the check.
    let killed: i64 = schema
        .client
        .query_one(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity \
             where application_name = $1 and query not like 'LISTEN %'",
            &[&schema.name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1, "one kept batch connection");
    enqueue(&schema, "after the batch connection was killed").await;
    let taken = eventually(async || {
        texts(&slack, &hook)
            .iter()
            .any(|t| t.ends_with("after the batch connection was killed"))
    })
    .await;
    assert!(taken, "{}", runner.log());
    assert!(!runner.log().contains("Check failed"), "{}", runner.log());
    let output = runner.stop();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[tokio::test]
async fn two_runs_on_one_queue_deliver_each_message_of_a_burst_exactly_once() {
    let Some(schema) = queue_schema("run_two_share_a_queue").await else {
        return;
    };
    let slack = FakeSlack::start();
    // One webhook each: Slack's 1 message/s limit is per webhook, and the two runs are two
    // deliverers.
    let (hook_a, hook_b) = (slack.webhook("run-a"), slack.webhook("run-b"));
    let runners = [
        Runner::start(&schema, &hook_a),
        Runner::start(&schema, &hook_b),
    ];
    let listening = eventually(async || listeners(&schema).await.len() == 2).await;
    assert!(listening, "{}\n{}", runners[0].log(), runners[1].log());

    // Each in a transaction of its own: one notification each, both runs woken each time.
    const BURST: usize = 12;
    for i in 1..=BURST {
        enqueue(&schema, &format!("m{i}")).await;
    }
    let all = || {
        let mut all = texts(&slack, &hook_a);
        all.extend(texts(&slack, &hook_b));
        all
    };
    let delivered = eventually(async || all().len() >= BURST && queued(&schema).await == 0).await;
    assert!(
        delivered,
        "{:?}\n{}\n{}",
        all(),
        runners[0].log(),
        runners[1].log()
    );
    for runner in runners {
        let output = runner.stop();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    }
    let mut summaries: Vec<String> = all()
        .iter()
        .map(|t| t.rsplit(": ").next().unwrap().to_owned())
        .collect();
    summaries.sort_by_key(|s| s[1..].parse::<usize>().unwrap());
    let expected: Vec<String> = (1..=BURST).map(|i| format!("m{i}")).collect();
    assert_eq!(summaries, expected, "each message once, none twice");
}

#[tokio::test]
async fn run_keeps_one_connection_per_source_and_writes_each_checks_lateness() {
    let Some(schema) = db::schema("run_one_connection").await else {
        return;
    };
    let slack = FakeSlack::start();
    let hook = slack.webhook("run-one-connection");
    let checks: String = [
        "select 'x' as name",
        "select 1 as n where false",
        "select now() as t where false",
    ]
    .iter()
    .enumerate()
    .map(|(i, sql)| {
        format!("  - name: c{i}\n    source: pg\n    interval: 1s\n    sql: \"{sql}\"\n")
    })
    .collect();
    let runner = Runner::with_checks(&schema, &hook, &checks, &["--metrics-file", "run.prom"]);
    // Several rounds of the three checks.
    runner.batches(6).await;
    let text = runner.metrics();
    for i in 0..3 {
        let lateness = format!("dbalert_check_lateness_seconds{{check=\"c{i}\",source=\"pg\"}} ");
        assert!(text.contains(&lateness), "{text}");
    }
    let sessions: i64 = schema
        .client
        .query_one(
            "select count(*) from pg_stat_activity where application_name = $1",
            &[&schema.name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        sessions, 1,
        "three checks on one source share one connection"
    );
    assert!(texts(&slack, &hook).iter().any(|t| t.contains("c0")));
    let output = runner.stop();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[tokio::test]
async fn run_an_event_check_that_finds_nothing_writes_nothing_to_the_state_file() {
    let Some(schema) = db::schema("run_quiet_event_check").await else {
        return;
    };
    schema
        .client
        .batch_execute("create table events (id bigint primary key, msg text)")
        .await
        .unwrap();
    let slack = FakeSlack::start();
    let hook = slack.webhook("run-quiet");
    let check = "  - name: pg_event\n    source: pg\n    interval: 1s\n    events: {cursor: id}\n    \
                 sql: \"select id, msg from events where ($1::bigint is null or id > $1)\"\n";
    let runner = Runner::with_checks(&schema, &hook, check, &["--metrics-file", "run.prom"]);
    runner.batches(2).await;
    schema
        .client
        .batch_execute("insert into events values (1, 'e1')")
        .await
        .unwrap();
    let sent = eventually(async || texts(&slack, &hook).len() == 1).await;
    assert!(sent, "{}", runner.log());
    runner.batches(2).await;

    // The state file and its write-ahead log, byte for byte (the -shm file is only the
    // readers' shared memory).
    let state = || {
        ["state.db", "state.db-wal"].map(|name| std::fs::read(runner.dir.path().join(name)).ok())
    };
    let before = state();
    assert!(before[0].is_some());
    // Nor does it take the state file's write lock: runs go on while another connection
    // holds it.
    let holder = rusqlite::Connection::open(runner.dir.path().join("state.db")).unwrap();
    holder.execute_batch("begin immediate").unwrap();
    runner.batches(5).await;
    holder.execute_batch("rollback").unwrap();
    assert!(
        before == state(),
        "a run that found nothing wrote to the state file"
    );
    assert!(
        runner
            .metrics()
            .contains("dbalert_check_up{check=\"pg_event\",source=\"pg\"} 1")
    );
    let output = runner.stop();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[tokio::test]
async fn run_prepares_a_query_again_when_its_table_changes_shape() {
    let Some(schema) = db::schema("run_table_changes_shape").await else {
        return;
    };
    let sql = |statements: &'static str| schema.client.batch_execute(statements);
    sql("create table problems (name text primary key); insert into problems values ('a')")
        .await
        .unwrap();
    let slack = FakeSlack::start();
    let hook = slack.webhook("run-reprepare");
    // `select *`: a new column changes the result's type, which the statement prepared on the
    // kept connection no longer matches.
    let check = "  - name: problem\n    source: pg\n    interval: 1s\n    sql: select * from problems\n    key: [name]\n";
    let runner = Runner::with_checks(&schema, &hook, check, &["--metrics-file", "run.prom"]);
    let fired = eventually(async || texts(&slack, &hook).len() == 1).await;
    assert!(fired, "{}", runner.log());

    sql("alter table problems add column owner text; insert into problems values ('b', 'X')")
        .await
        .unwrap();
    let fired = eventually(async || texts(&slack, &hook).len() == 2).await;
    assert!(fired, "{:?}\n{}", texts(&slack, &hook), runner.log());
    runner.batches(2).await;
    assert!(
        runner
            .metrics()
            .contains("dbalert_check_up{check=\"problem\",source=\"pg\"} 1"),
        "{}",
        runner.metrics()
    );
    let log = runner.log();
    assert!(!log.contains("Check failed"), "{log}");
    assert!(
        !texts(&slack, &hook)
            .iter()
            .any(|t| t.contains("dbalert_check_failed"))
    );
    let output = runner.stop();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}
