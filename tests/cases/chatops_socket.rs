//! ChatOps through the real transport: the `dbalert serve` binary connected to the local Socket
//! Mode peer, sent slash command and `block_actions` envelopes shaped like Slack's, answering
//! through `response_url` at the local Web API peer, against real SQLite files and the real
//! PostgreSQL server. Each case checks the tables afterwards through a connection of its own and
//! the audit rows it leaves (intent and outcome). Also `dbalert actions test --as`, which looks
//! up user groups through the same Web API peer.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use dbalert::state::AuditPhase::{Intent, Outcome};
use dbalert::state::{AuditEntry, AuditPhase, StateStore};
use serde_json::{Value, json};

use crate::support::db;
use crate::support::fake_slack_api::{ApiReply, FakeSlackApi, USERGROUP_MEMBERS};
use crate::support::socket_peer::SocketPeer;
use crate::support::{dbalert, dbalert_process, stderr_of, stdout_of, workdir};

const BOT: &str = "xoxb-chatops-bot-3c1d9e";
const APP: &str = "xapp-1-chatops-app-9b2e";
const TEAM: &str = "T0TEAM";
const CHANNEL: &str = "C0OPS";
/// In `dba` by user ID.
const DBA: &str = "U0DBA";
/// In `dba` through the user group [`GROUP`].
const LEAD: &str = "U0LEAD";
/// In no principal.
const STRANGER: &str = "U0STRANGER";
const GROUP: &str = "S0DBA";
/// How long a wait may take before the test fails: far above anything on loopback.
const PATIENCE: Duration = Duration::from_secs(30);

const CONFIRM: &str = "dbalert.action.confirm";
const CANCEL: &str = "dbalert.action.cancel";
const APPROVE: &str = "dbalert.action.approve";

/// The config: `sources` and `actions` as YAML indented two spaces, the Slack app at `api_url`.
fn config(api_url: &str, sources: &str, actions: &str) -> String {
    format!(
        "state: {{path: state.db}}
sources:
{sources}
slack_app: {{bot_token: {BOT}, app_token: {APP}, team_id: {TEAM}, api_url: '{api_url}'}}
access:
  dba: {{users: [{DBA}], groups: [{GROUP}]}}
actions:
{actions}"
    )
}

/// `dbalert -v serve`, connected to the local Socket Mode peer; its log goes to a file.
struct Serve {
    dir: tempfile::TempDir,
    api: FakeSlackApi,
    peer: SocketPeer,
    child: Option<Child>,
    log: PathBuf,
}

impl Serve {
    /// Serves `actions` over `sources`, after `prepare` has set up the working directory.
    fn start(sources: &str, actions: &str, prepare: impl FnOnce(&Path)) -> Self {
        let api = FakeSlackApi::start(BOT, &[(CHANNEL, "ops")]);
        api.set_usergroup(GROUP, &[LEAD]);
        let peer = SocketPeer::start();
        api.socket_mode(APP, &peer.url(), TEAM);
        let dir = workdir(&[("alerts.yaml", &config(&api.api_url(), sources, actions))]);
        prepare(dir.path());
        let log = dir.path().join("serve.log");
        let child = dbalert_process(dir.path())
            .args(["-v", "serve"])
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        peer.wait_connections(1);
        Self {
            dir,
            api,
            peer,
            child: Some(child),
            log,
        }
    }

    /// Sends `/dbalert {text}` by `user` in the channel as envelope `id`, answered at `hook`,
    /// and waits for its ack.
    fn slash(&self, id: &str, user: &str, text: &str, hook: &str) {
        let envelope = json!({
            "envelope_id": id, "type": "slash_commands", "accepts_response_payload": true,
            "payload": {
                "token": "ignored", "team_id": TEAM, "team_domain": "fake", "channel_id": CHANNEL,
                "channel_name": "ops", "user_id": user, "user_name": "someone",
                "command": "/dbalert", "text": text, "api_app_id": "A0FAKEAPP",
                "response_url": self.api.response_url_for(hook), "trigger_id": "1.2.3",
            },
        });
        self.peer.send(0, &envelope.to_string());
        self.peer.wait_ack(0, id);
    }

    /// Clicks the button `action_id` whose value is `request` as `user`, as envelope `id`,
    /// answered at `hook`, and waits for its ack.
    fn click(&self, id: &str, user: &str, action_id: &str, request: &str, hook: &str) {
        let envelope = json!({
            "envelope_id": id, "type": "interactive", "accepts_response_payload": false,
            "payload": {
                "type": "block_actions",
                "team": {"id": TEAM, "domain": "fake"},
                "user": {"id": user, "username": "someone", "team_id": TEAM},
                "api_app_id": "A0FAKEAPP",
                "container": {"type": "message", "message_ts": "1.000001", "channel_id": CHANNEL},
                "channel": {"id": CHANNEL, "name": "ops"},
                "trigger_id": "1.2.abc",
                "response_url": self.api.response_url_for(hook),
                "actions": [{"action_id": action_id, "block_id": "b", "value": request,
                             "type": "button", "action_ts": "1.5"}],
            },
        });
        self.peer.send(0, &envelope.to_string());
        self.peer.wait_ack(0, id);
    }

    /// The bodies posted to `hook`'s `response_url`, once there are at least `n`.
    fn answers(&self, hook: &str, n: usize) -> Vec<Value> {
        wait_for(&format!("{n} answers at {hook}"), || {
            let answers = self.api.responses_to(hook);
            (answers.len() >= n).then_some(answers)
        })
    }

    /// `(phase, actor, outcome)` of the audit rows of `request`, once there are at least `n`.
    fn audit(&self, request: &str, n: usize) -> Vec<(AuditPhase, String, String)> {
        let rows = self.audit_rows(request, n);
        rows.into_iter()
            .map(|e| (e.phase, e.actor, e.outcome))
            .collect()
    }

    fn audit_rows(&self, request: &str, n: usize) -> Vec<AuditEntry> {
        wait_for(&format!("{n} audit rows of {request}"), || {
            let rows: Vec<AuditEntry> = (self.store().audit_trail(1000).unwrap().into_iter())
                .filter(|e| e.request_id == request)
                .collect();
            (rows.len() >= n).then_some(rows)
        })
    }

    fn store(&self) -> StateStore {
        StateStore::open(&self.dir.path().join("state.db")).unwrap()
    }

    /// Stops `serve` with SIGTERM; it exits 0. Returns its log, which names no token and no
    /// `response_url`.
    fn stop(&mut self) -> String {
        let child = self.child.take().unwrap();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = child.wait_with_output().unwrap().status;
        let log = std::fs::read_to_string(&self.log).unwrap();
        assert_eq!(status.code(), Some(0), "{log}");
        for secret in [BOT, APP, "/actions/T0TEAM/"] {
            assert!(!log.contains(secret), "{secret} in {log}");
        }
        log
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // A failed test must not leave its server running.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `ready` gives a value.
fn wait_for<T>(what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn text(body: &Value) -> &str {
    body["text"].as_str().unwrap_or_default()
}

/// The value of the button `action_id` in a message from `response_url`.
fn button_value(body: &Value, action_id: &str) -> String {
    (body["blocks"].as_array().into_iter().flatten())
        .flat_map(|block| block["elements"].as_array().into_iter().flatten())
        .find(|element| element["action_id"] == action_id)
        .and_then(|button| button["value"].as_str())
        .unwrap_or_else(|| panic!("no {action_id} button in {body}"))
        .to_owned()
}

/// The lines of `log` that say `message` (e.g. `Action ended.`) about `request`.
fn log_lines<'a>(log: &'a str, request: &str, message: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains(message) && l.contains(&format!("request_id={request} ")))
        .collect()
}

fn row(phase: AuditPhase, actor: &str, outcome: &str) -> (AuditPhase, String, String) {
    (phase, actor.to_owned(), outcome.to_owned())
}

/// A SQLite source `db` over `app.db`.
const SQLITE: &str = "  db: {sqlite: {path: app.db}}";

/// `jobs(name, runs)`, where `runs` may not go below zero, in the SQLite file of [`SQLITE`].
fn sqlite_jobs(dir: &Path) {
    let conn = rusqlite::Connection::open(dir.join("app.db")).unwrap();
    conn.execute_batch(
        "create table jobs (name text primary key, runs int not null check (runs >= 0));
         insert into jobs values ('hourly', 10);
         insert into jobs values ('nightly', 3);",
    )
    .unwrap();
}

/// `jobs` as a connection of the test's own reads it, in name order.
fn sqlite_jobs_now(dir: &Path) -> Vec<(String, i64)> {
    let conn = rusqlite::Connection::open(dir.join("app.db")).unwrap();
    let mut stmt = conn
        .prepare("select name, runs from jobs order by name")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn jobs(hourly: i64, nightly: i64) -> Vec<(String, i64)> {
    vec![
        ("hourly".to_owned(), hourly),
        ("nightly".to_owned(), nightly),
    ]
}

/// `shift BY`: adds BY to every job's runs, as one `call`.
fn shift_action(sql: &str, extra: &str) -> String {
    format!(
        "  - name: shift
    source: db
    kind: call
    sql: {sql}
    params: [{{name: by, type: int}}]
    allow: [dba]
{extra}"
    )
}

/// A `call` that succeeds is committed and one that fails leaves nothing behind, as a
/// connection of the test's own sees the table (`jobs_now`).
fn shift_commits_or_rolls_back(serve: &Serve, jobs_now: &dyn Fn() -> Vec<(String, i64)>) {
    serve.slash("env-up", DBA, "shift 2", "up");
    let answers = serve.answers("up", 2);
    assert_eq!(text(&answers[0]), "Running `shift 2` on db…", "{answers:?}");
    assert_eq!(answers[0]["response_type"], "ephemeral");
    assert!(
        text(&answers[1]).starts_with("*shift* on `db`: done, 2 rows changed"),
        "{answers:?}"
    );
    assert_eq!(answers[1]["response_type"], "in_channel");
    assert_eq!(
        serve.audit("env-up", 2),
        [row(Intent, DBA, "requested"), row(Outcome, DBA, "done")]
    );
    assert_eq!(jobs_now(), jobs(12, 5), "committed");

    // hourly may go to 6, nightly not to -1: the statement fails, and hourly keeps its 12.
    serve.slash("env-down", DBA, "shift -6", "down");
    let answers = serve.answers("down", 2);
    let failed = text(&answers[1]);
    assert!(
        failed.starts_with("*shift* failed: source `db`: "),
        "{failed}"
    );
    assert!(failed.to_lowercase().contains("check"), "{failed}");
    assert_eq!(answers[1]["response_type"], "ephemeral");
    let rows = serve.audit_rows("env-down", 2);
    assert_eq!(rows[1].outcome, "failed");
    assert!(rows[1].detail.starts_with("error=statement "), "{rows:?}");
    assert_eq!(jobs_now(), jobs(12, 5), "rolled back");
}

#[test]
fn a_call_on_sqlite_commits_on_success_and_rolls_back_on_error() {
    let mut serve = Serve::start(
        SQLITE,
        &shift_action("update jobs set runs = runs + :by", ""),
        sqlite_jobs,
    );
    shift_commits_or_rolls_back(&serve, &|| sqlite_jobs_now(serve.dir.path()));
    let log = serve.stop();
    let ended = log_lines(&log, "env-down", "Action ended.");
    assert_eq!(ended.len(), 1, "{log}");
    assert!(ended[0].contains("outcome=failed"), "{log}");
}

/// `jobs` on PostgreSQL, as the test's own connection reads it.
fn postgres_jobs_now(schema: &db::TestSchema) -> Vec<(String, i64)> {
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async {
            let rows = schema
                .client
                .query("select name, runs::bigint from jobs order by name", &[])
                .await
                .unwrap();
            rows.iter().map(|r| (r.get(0), r.get(1))).collect()
        })
    })
}

/// A source `db` on the test's schema.
fn postgres_source(schema: &db::TestSchema) -> String {
    format!("  db: {{postgres: {{url: '{}'}}}}", schema.url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_on_postgres_commits_on_success_and_rolls_back_on_error() {
    let Some(schema) = db::schema("chatops_socket_call").await else {
        return;
    };
    schema
        .client
        .batch_execute(
            "create table jobs (name text primary key, runs int not null check (runs >= 0));
             insert into jobs values ('hourly', 10), ('nightly', 3);",
        )
        .await
        .unwrap();
    let mut serve = Serve::start(
        &postgres_source(&schema),
        &shift_action("update jobs set runs = runs + $1", ""),
        |_| {},
    );
    shift_commits_or_rolls_back(&serve, &|| postgres_jobs_now(&schema));
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_on_postgres_posts_its_rows_through_response_url() {
    let Some(schema) = db::schema("chatops_socket_query").await else {
        return;
    };
    schema
        .client
        .batch_execute(
            "create table orders (id int primary key, owner text not null, status text not null);
             insert into orders values (1, 'SHOP', 'stuck'), (2, 'SHOP', 'paid'),
                                       (3, 'BILLING', 'stuck');",
        )
        .await
        .unwrap();
    let action = "  - name: orders
    description: Orders of an owner
    source: db
    kind: query
    sql: select id, status from orders where owner = $1 order by id
    params: [{name: owner, type: identifier, transform: upper}]
    allow: [dba]
";
    let mut serve = Serve::start(&postgres_source(&schema), action, |_| {});
    serve.slash("env-orders", DBA, "orders shop", "orders");
    let answers = serve.answers("orders", 2);
    assert_eq!(text(&answers[0]), "Running `orders SHOP` on db…");
    let result = text(&answers[1]);
    assert!(result.starts_with("*orders* on `db`: 2 rows ("), "{result}");
    assert!(
        result.contains("```\nid  status\n1   stuck\n2   paid\n```"),
        "{result}"
    );
    assert!(result.ends_with("_asked by <@U0DBA>_"), "{result}");
    let rows = serve.audit_rows("env-orders", 2);
    assert_eq!(
        rows.iter()
            .map(|e| (e.phase, e.actor.as_str(), e.outcome.as_str()))
            .collect::<Vec<_>>(),
        [(Intent, DBA, "requested"), (Outcome, DBA, "done")]
    );
    assert_eq!(rows[0].what, "action:orders");
    assert_eq!(rows[0].channel.as_deref(), Some(CHANNEL));
    assert_eq!(rows[0].target, r#"{"owner":"shop"}"#);
    assert!(rows[1].detail.starts_with("rows=2 elapsed_ms="), "{rows:?}");
    let log = serve.stop();
    assert_eq!(log_lines(&log, "env-orders", "Action requested.").len(), 1);
    let ended = log_lines(&log, "env-orders", "Action ended.");
    assert!(
        ended.len() == 1 && ended[0].contains("outcome=done"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_action_is_acked_at_once_and_its_result_follows() {
    let Some(schema) = db::schema("chatops_socket_slow").await else {
        return;
    };
    schema
        .client
        .batch_execute("create table gate (id int)")
        .await
        .unwrap();
    // Locks are taken when the statement is parsed: it waits for the gate, then sleeps 3.5 s,
    // past Slack's 3 seconds.
    let action = "  - name: slow
    source: db
    kind: query
    sql: select pg_sleep(3.5) as slept, (select count(*) from gate) as waited
    allow: [dba]
    timeout: 30s
";
    let mut serve = Serve::start(&postgres_source(&schema), action, |_| {});
    schema
        .client
        .batch_execute("begin; lock table gate in access exclusive mode")
        .await
        .unwrap();
    serve.slash("env-slow", DBA, "slow", "slow");
    // Acked while the statement cannot have finished: the gate is still closed.
    let answers = serve.answers("slow", 1);
    assert_eq!(text(&answers[0]), "Running `slow` on db…");
    assert_eq!(serve.audit("env-slow", 1), [row(Intent, DBA, "requested")]);
    // Another request is acked and answered meanwhile.
    serve.slash("env-help", DBA, "help", "help");
    let help = serve.answers("help", 1);
    assert!(text(&help[0]).starts_with("Actions you may run here:\n• `/dbalert slow`"));
    assert_eq!(serve.api.responses_to("slow").len(), 1, "no result yet");
    assert_eq!(serve.audit("env-slow", 1).len(), 1, "no outcome yet");

    schema.client.batch_execute("commit").await.unwrap();
    let answers = serve.answers("slow", 2);
    assert!(
        text(&answers[1]).starts_with("*slow* on `db`: 1 row ("),
        "{answers:?}"
    );
    assert_eq!(
        serve.audit("env-slow", 2),
        [row(Intent, DBA, "requested"), row(Outcome, DBA, "done")]
    );
    serve.stop();
}

/// `bump JOB BY` on SQLite: adds BY to one job's runs.
fn bump_action(extra: &str) -> String {
    format!(
        "  - name: bump
    source: db
    kind: call
    sql: update jobs set runs = runs + :by where name = :job
    params: [{{name: job, type: enum, values: [hourly, nightly]}}, {{name: by, type: int}}]
    allow: [dba]
{extra}"
    )
}

#[test]
fn a_confirmed_call_runs_once_and_a_cancelled_one_not_at_all() {
    let mut serve = Serve::start(
        SQLITE,
        &bump_action("    confirm: \"Add {{ by }} runs to {{ job }}?\"\n"),
        sqlite_jobs,
    );
    let dir = serve.dir.path().to_owned();
    serve.slash("env-ask", DBA, "bump nightly 1", "ask");
    let asked = serve.answers("ask", 2);
    assert_eq!(text(&asked[0]), "`bump nightly 1` needs your confirmation.");
    assert_eq!(asked[1]["response_type"], "ephemeral");
    assert_eq!(text(&asked[1]), "Add 1 runs to nightly?");
    let request = button_value(&asked[1], CONFIRM);
    assert_eq!(request, "env-ask");
    assert_eq!(button_value(&asked[1], CANCEL), "env-ask");
    assert_eq!(serve.audit("env-ask", 1), [row(Intent, DBA, "requested")]);
    assert_eq!(sqlite_jobs_now(&dir), jobs(10, 3), "nothing runs yet");

    serve.click("env-confirm", DBA, CONFIRM, &request, "confirm");
    let ran = serve.answers("confirm", 1);
    assert!(
        text(&ran[0]).starts_with("*bump* on `db`: done, 1 row changed"),
        "{ran:?}"
    );
    // The click's rows carry the request's id: one trail per request.
    assert_eq!(
        serve.audit("env-ask", 3),
        [
            row(Intent, DBA, "requested"),
            row(Intent, DBA, "requested"),
            row(Outcome, DBA, "done"),
        ]
    );
    assert_eq!(sqlite_jobs_now(&dir), jobs(10, 4));

    // The same Confirm again (a double click, a repeat from another device): nothing runs.
    serve.click("env-again", DBA, CONFIRM, &request, "again");
    let again = serve.answers("again", 1);
    assert_eq!(text(&again[0]), "This request was already handled.");
    let rows = serve.audit("env-ask", 5);
    assert_eq!(
        rows[3..],
        [
            row(Intent, DBA, "requested"),
            row(Outcome, DBA, "duplicate")
        ]
    );
    assert_eq!(sqlite_jobs_now(&dir), jobs(10, 4), "ran once");
    assert_eq!(serve.api.responses_to("confirm").len(), 1);

    serve.slash("env-ask2", DBA, "bump hourly 5", "ask2");
    let asked = serve.answers("ask2", 2);
    serve.click(
        "env-cancel",
        DBA,
        CANCEL,
        &button_value(&asked[1], CANCEL),
        "cancel",
    );
    let cancelled = serve.answers("cancel", 1);
    assert_eq!(
        text(&cancelled[0]),
        "`bump hourly 5` was cancelled by <@U0DBA>."
    );
    assert_eq!(
        serve.audit("env-ask2", 3),
        [
            row(Intent, DBA, "requested"),
            row(Intent, DBA, "requested"),
            row(Outcome, DBA, "cancelled"),
        ]
    );
    assert_eq!(sqlite_jobs_now(&dir), jobs(10, 4), "nothing ran");
    let log = serve.stop();
    let ended = log_lines(&log, "env-ask", "Action ended.");
    assert_eq!(ended.len(), 2, "{log}");
    assert!(ended[0].contains("outcome=done"), "{log}");
    assert!(ended[1].contains("outcome=duplicate"), "{log}");
}

#[test]
fn an_approval_is_refused_to_the_requester_and_given_by_a_second_allowed_user() {
    let mut serve = Serve::start(
        SQLITE,
        &bump_action("    approval: {allow: [dba], ttl: 15m}\n"),
        sqlite_jobs,
    );
    let dir = serve.dir.path().to_owned();
    serve.slash("env-req", DBA, "bump nightly 2", "req");
    let asked = serve.answers("req", 2);
    assert_eq!(
        text(&asked[0]),
        "`bump nightly 2` needs a second person's approval; the request is posted in the channel."
    );
    assert_eq!(asked[1]["response_type"], "in_channel");
    assert!(
        text(&asked[1]).starts_with("<@U0DBA> asks to run `bump nightly 2` on db."),
        "{asked:?}"
    );
    let request = button_value(&asked[1], APPROVE);

    serve.click("env-self", DBA, APPROVE, &request, "self");
    let refused = serve.answers("self", 1);
    assert_eq!(
        text(&refused[0]),
        "You cannot approve (or reject) your own request; someone else must."
    );
    serve.click("env-stranger", STRANGER, APPROVE, &request, "stranger");
    let refused = serve.answers("stranger", 1);
    assert_eq!(
        text(&refused[0]),
        "You may not approve `bump`: <@U0STRANGER> is not in `dba`."
    );
    assert_eq!(sqlite_jobs_now(&dir), jobs(10, 3), "nothing runs yet");

    // LEAD is in `dba` through the user group, which `serve` looks up.
    serve.click("env-lead", LEAD, APPROVE, &request, "lead");
    let ran = serve.answers("lead", 1);
    assert!(
        text(&ran[0]).starts_with("*bump* on `db`: done, 1 row changed"),
        "{ran:?}"
    );
    assert!(text(&ran[0]).ends_with("_asked by <@U0DBA>_"), "{ran:?}");
    assert_eq!(sqlite_jobs_now(&dir), jobs(10, 5));
    let rows = serve.audit_rows("env-req", 7);
    assert_eq!(
        rows.iter()
            .map(|e| (e.phase, e.actor.as_str(), e.outcome.as_str()))
            .collect::<Vec<_>>(),
        [
            (Intent, DBA, "requested"),
            (Intent, DBA, "requested"),
            (Outcome, DBA, "denied"),
            (Intent, STRANGER, "requested"),
            (Outcome, STRANGER, "denied"),
            (Intent, LEAD, "requested"),
            (Outcome, DBA, "done"),
        ]
    );
    assert!(rows[6].detail.ends_with(" approver=U0LEAD"), "{rows:?}");
    let lookups = serve.api.calls_to(USERGROUP_MEMBERS);
    assert!(!lookups.is_empty());
    serve.stop();
}

#[test]
fn a_user_outside_allow_is_refused_and_nothing_runs() {
    let mut serve = Serve::start(
        SQLITE,
        &shift_action("update jobs set runs = runs + :by", ""),
        sqlite_jobs,
    );
    serve.slash("env-denied", STRANGER, "shift 1", "denied");
    let answers = serve.answers("denied", 1);
    assert_eq!(
        text(&answers[0]),
        "You may not run `shift`: <@U0STRANGER> is not in `dba`."
    );
    assert_eq!(answers[0]["response_type"], "ephemeral");
    assert_eq!(
        serve.audit("env-denied", 2),
        [
            row(Intent, STRANGER, "requested"),
            row(Outcome, STRANGER, "denied")
        ]
    );
    assert_eq!(sqlite_jobs_now(serve.dir.path()), jobs(10, 3));
    let log = serve.stop();
    let ended = log_lines(&log, "env-denied", "Action ended.");
    assert!(
        ended.len() == 1 && ended[0].contains("outcome=denied"),
        "{log}"
    );
    assert_eq!(
        serve.api.responses_to("denied").len(),
        1,
        "only the refusal"
    );
}

#[test]
fn actions_test_as_looks_up_user_groups_or_says_it_could_not() {
    let api = FakeSlackApi::start(BOT, &[]);
    api.set_usergroup(GROUP, &[LEAD]);
    let action = shift_action("update jobs set runs = runs + :by", "");
    let text = config(&api.api_url(), SQLITE, &action);
    let dir = workdir(&[("alerts.yaml", &text)]);
    let test_as = |user: &str| {
        let out = dbalert(dir.path())
            .args(["actions", "test", "shift", "1", "--as", user])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        (stdout_of(&out), stderr_of(&out))
    };

    let (out, _) = test_as(LEAD);
    assert!(out.contains("\ngroups: looked up S0DBA\n"), "{out}");
    assert!(
        out.contains("access: U0LEAD may run it (through `dba`)"),
        "{out}"
    );
    let lookups = api.calls_to(USERGROUP_MEMBERS);
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].authorization, format!("Bearer {BOT}"));
    assert_eq!(lookups[0].response["users"], json!([LEAD]));
    let (out, _) = test_as(STRANGER);
    assert!(
        out.contains("access: U0STRANGER may not run it: <@U0STRANGER> is not in `dba`"),
        "{out}"
    );

    api.script(USERGROUP_MEMBERS, [ApiReply::Error("missing_scope")]);
    let (out, err) = test_as(LEAD);
    assert!(
        out.contains(
            "groups: NOT looked up (the lookup failed; see the warning above); \
             S0DBA treated as not containing U0LEAD\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("access: U0LEAD may not run it: <@U0LEAD> is not in `dba`"),
        "{out}"
    );
    assert!(
        err.contains("Cannot look up the members of a user group") && err.contains("missing_scope"),
        "{err}"
    );
    assert!(!err.contains(BOT), "{err}");

    // A bot token from the environment, which this shell does not have.
    let unset = text.replace(BOT, "'${env:DBALERT_TEST_BOT_TOKEN}'");
    std::fs::write(dir.path().join("alerts.yaml"), unset).unwrap();
    let calls = api.calls_to(USERGROUP_MEMBERS).len();
    let (out, _) = test_as(LEAD);
    assert!(
        out.contains(
            "groups: NOT looked up (no `slack_app.bot_token` here); \
             S0DBA treated as not containing U0LEAD\n"
        ),
        "{out}"
    );
    assert!(out.contains("access: U0LEAD may not run it"), "{out}");
    assert_eq!(api.calls_to(USERGROUP_MEMBERS).len(), calls, "no lookup");
}
