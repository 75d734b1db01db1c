//! Actions end to end: the slash command and button entry points called with Slack-shaped
//! payloads, results arriving through `response_url` at the local Web API peer, against real
//! SQLite files and the real PostgreSQL server; injection through every parameter type; the
//! audit rows each case leaves; and `dbalert actions` from the shell.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dbalert::action::chat::{Accepted, ActionContext, button_click, slash_command};
use dbalert::action::run;
use dbalert::config::References;
use dbalert::settings::{self, Config};
use dbalert::state::{AuditEntry, AuditPhase, NotTaken, PendingRequest, Stage, StateStore};
use serde_json::{Value, json};

use crate::support::db;
use crate::support::fake_slack_api::FakeSlackApi;
use crate::support::{dbalert, stderr_of, stdout_of, workdir};

const TEAM: &str = "T0TEAM";
const DBA: &str = "U0DBA";
const LEAD: &str = "U0LEAD";
const DEV: &str = "U0DEV";

/// A config with `sources` and `actions` (YAML, indented two spaces), the Slack app and the
/// principals every test uses.
fn config_text(state: &Path, sources: &str, actions: &str) -> String {
    format!(
        "state: {{path: '{}'}}
sources:
{sources}
slack_app: {{bot_token: xoxb-test, app_token: xapp-test, team_id: {TEAM}}}
access:
  dba: {{users: [{DBA}, {LEAD}], groups: [S0DBA]}}
  orders: {{channels: [C0ORDERS]}}
actions:
{actions}",
        state.display()
    )
}

fn load(dir: &Path, text: &str) -> Config {
    let file = dir.join("alerts.yaml");
    std::fs::write(&file, text).unwrap();
    settings::load_with(&file, References::Required).unwrap_or_else(|e| panic!("{e}"))
}

fn context(config: &Config) -> Arc<ActionContext> {
    let ctx = ActionContext::new(
        config.actions.clone(),
        config.access.clone(),
        TEAM.to_owned(),
        &config.sources,
        config.state.path.clone(),
        config.action_audit.as_ref(),
    )
    .unwrap();
    Arc::new(ctx)
}

fn slash(api: &FakeSlackApi, user: &str, channel: &str, text: &str, hook: &str) -> Value {
    json!({
        "token": "ignored", "team_id": TEAM, "team_domain": "demo", "channel_id": channel,
        "channel_name": "x", "user_id": user, "user_name": "x", "command": "/dbalert",
        "text": text, "api_app_id": "A0APP", "response_url": api.response_url_for(hook),
        "trigger_id": "1.2.3",
    })
}

fn click(api: &FakeSlackApi, user: &str, action_id: &str, request: &str, hook: &str) -> Value {
    json!({
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "demo"},
        "user": {"id": user, "username": "x", "team_id": TEAM},
        "channel": {"id": "C0ORDERS", "name": "orders"},
        "api_app_id": "A0APP",
        "response_url": api.response_url_for(hook),
        "actions": [{"action_id": action_id, "block_id": "b", "value": request,
                     "type": "button", "action_ts": "1.2"}],
    })
}

async fn finish(accepted: Accepted) -> String {
    if let Some(work) = accepted.work {
        work.await.expect("the work does not panic");
    }
    accepted.ack
}

fn trail(config: &Config) -> Vec<AuditEntry> {
    StateStore::open(&config.state.path)
        .unwrap()
        .audit_trail(1000)
        .unwrap()
}

/// `(phase, actor, outcome)` of the audit rows of `request`.
fn rows_of(config: &Config, request: &str) -> Vec<(AuditPhase, String, String)> {
    trail(config)
        .into_iter()
        .filter(|e| e.request_id == request)
        .map(|e| (e.phase, e.actor, e.outcome))
        .collect()
}

fn intent_outcome(actor: &str, outcome: &str) -> Vec<(AuditPhase, String, String)> {
    vec![
        (AuditPhase::Intent, actor.to_owned(), "requested".to_owned()),
        (AuditPhase::Outcome, actor.to_owned(), outcome.to_owned()),
    ]
}

fn text(body: &Value) -> &str {
    body["text"].as_str().unwrap_or_default()
}

/// A copy of the quick-start database in `dir`.
fn demo_db(dir: &Path) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = dir.join("demo.db");
    std::fs::copy(root.join("examples/quickstart/demo.db"), &path).unwrap();
    path
}

fn sqlite_source(db: &Path) -> String {
    format!("  demo: {{sqlite: {{path: '{}'}}}}", db.display())
}

/// The database audit table of sql/*/chatops_audit.sql, in SQLite's words.
const AUDIT_TABLE: &str = "create table chatops_audit (
    audit_id integer primary key, request_id text not null, phase text not null,
    occurred_at text not null default current_timestamp, actor text not null,
    slack_channel_id text, action_name text not null, params_json text, outcome text not null,
    detail text)";

const SQLITE_ACTIONS: &str = "
  - name: tablespaces
    description: How full a schema's tablespaces are
    source: demo
    kind: query
    sql: select tablespace_name, used_percent from tablespace_usage where owner = :owner order by 1
    params: [{name: owner, type: identifier, transform: upper}]
    allow: [dba, orders]
  - name: retry-job
    source: demo
    kind: call
    sql: update job_runs set status = 'SCHEDULED' where owner = :owner and job_name = :job
    params:
      - {name: owner, type: identifier, transform: upper}
      - {name: job, type: enum, values: [NIGHTLY_INVOICES, PURGE_CARTS]}
    allow: [dba]
    confirm: 'Run {{ job }} of {{ owner }} again?'
  - name: purge-log
    source: demo
    kind: call
    sql: delete from alert_log where record_id < :before
    params: [{name: before, type: int}]
    allow: [dba, orders]
    approval: {allow: [dba], ttl: 10m}
  - name: sneaky-query
    source: demo
    kind: query
    sql: delete from alert_log
    allow: [dba]
";

#[tokio::test]
async fn a_query_action_on_sqlite_answers_at_once_and_posts_rows_to_response_url() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let audit_db = dir.path().join("audit.db");
    rusqlite::Connection::open(&audit_db)
        .unwrap()
        .execute_batch(AUDIT_TABLE)
        .unwrap();
    let sources = format!(
        "{}\n  audit: {{sqlite: {{path: '{}'}}}}",
        sqlite_source(&db),
        audit_db.display()
    );
    let yaml = config_text(&dir.path().join("state.db"), &sources, SQLITE_ACTIONS)
        + "action_audit: {source: audit, table: chatops_audit}\n";
    let config = load(dir.path(), &yaml);
    let ctx = context(&config);
    let api = FakeSlackApi::start("xoxb-test", &[]);

    let ack = finish(
        slash_command(
            &ctx,
            &slash(&api, DEV, "C0ORDERS", "tablespaces orders", "q1"),
            "req-q1",
        )
        .await,
    )
    .await;
    assert_eq!(ack, "Running `tablespaces ORDERS` on demo…");
    let posts = api.responses_to("q1");
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["response_type"], "in_channel");
    let shown = text(&posts[0]);
    assert!(
        shown.starts_with("*tablespaces* on `demo`: 2 rows ("),
        "{shown}"
    );
    assert!(
        shown.contains(
            "```\ntablespace_name  used_percent\nORDERS_DATA      97.4\nORDERS_INDEX     93.1\n```"
        ),
        "{shown}"
    );
    assert!(shown.contains("asked by <@U0DEV>"), "{shown}");
    assert_eq!(rows_of(&config, "req-q1"), intent_outcome(DEV, "done"));
    ctx.flush_audit().await;
    let copied: Vec<[String; 6]> = rusqlite::Connection::open(&audit_db)
        .unwrap()
        .prepare("select request_id, phase, actor, action_name, params_json, outcome from chatops_audit order by audit_id")
        .unwrap()
        .query_map([], |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?]))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let row = |phase: &str, outcome: &str| {
        [
            "req-q1",
            phase,
            DEV,
            "tablespaces",
            r#"{"owner":"orders"}"#,
            outcome,
        ]
        .map(str::to_owned)
    };
    assert_eq!(
        copied,
        [row("intent", "requested"), row("outcome", "done")],
        "the database audit table has a copy"
    );
    let intent = &trail(&config)[0];
    assert_eq!(
        (intent.what.as_str(), intent.target.as_str()),
        ("action:tablespaces", r#"{"owner":"orders"}"#)
    );
    assert_eq!(intent.channel.as_deref(), Some("C0ORDERS"));

    // A query runs read-only, whatever its SQL says.
    finish(
        slash_command(
            &ctx,
            &slash(&api, DBA, "C0X", "sneaky-query", "q2"),
            "req-q2",
        )
        .await,
    )
    .await;
    let shown = text(&api.responses_to("q2")[0]).to_owned();
    assert!(
        shown.contains("*sneaky-query* failed") && shown.contains("readonly"),
        "{shown}"
    );
    assert_eq!(api.responses_to("q2")[0]["response_type"], "ephemeral");
    assert_eq!(rows_of(&config, "req-q2"), intent_outcome(DBA, "failed"));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let left: i64 = conn
        .query_row("select count(*) from alert_log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 3);
}

#[tokio::test]
async fn help_usage_and_refusals_are_the_ack_and_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let config = load(
        dir.path(),
        &config_text(
            &dir.path().join("state.db"),
            &sqlite_source(&db),
            SQLITE_ACTIONS,
        ),
    );
    let ctx = context(&config);
    let api = FakeSlackApi::start("xoxb-test", &[]);
    let run = |user: &str, channel: &str, text: &str, id: &str| {
        let payload = slash(&api, user, channel, text, id);
        let ctx = ctx.clone();
        let id = id.to_owned();
        async move { finish(slash_command(&ctx, &payload, &id).await).await }
    };
    // Help lists what this user may run, by user, channel and group.
    let help = run(DBA, "C0X", "", "h1").await;
    assert!(
        help.contains("`/dbalert tablespaces OWNER`")
            && help.contains("`/dbalert retry-job OWNER NIGHTLY_INVOICES|PURGE_CARTS`"),
        "{help}"
    );
    let help = run(DEV, "C0ORDERS", "help", "h2").await;
    assert!(
        help.contains("tablespaces") && help.contains("purge-log") && !help.contains("retry-job"),
        "{help}"
    );
    assert_eq!(
        run(DEV, "C0X", "help", "h3").await,
        "There are no actions you may run here."
    );
    ctx.groups
        .write()
        .unwrap()
        .insert("S0DBA".into(), HashSet::from(["U0GRP".to_owned()]));
    assert!(
        run("U0GRP", "C0X", "help", "h4")
            .await
            .contains("retry-job")
    );

    for (user, channel, text, id, want_ack, outcome) in [
        (
            DEV,
            "C0ORDERS",
            "tablespaces",
            "u1",
            "`owner` is missing. Usage: `/dbalert tablespaces OWNER`",
            "invalid",
        ),
        (
            DEV,
            "C0ORDERS",
            "tablespaces a b",
            "u2",
            "too many arguments. Usage: `/dbalert tablespaces OWNER`",
            "invalid",
        ),
        (
            DEV,
            "C0ORDERS",
            "tablespaces schema=x",
            "u3",
            "there is no parameter `schema`. Usage: `/dbalert tablespaces OWNER`",
            "invalid",
        ),
        (
            DEV,
            "C0ORDERS",
            "tablespaces \"or ders\"",
            "u4",
            "`owner` must be a database name: a letter, then letters, digits, _, $ or #, at most 128 (no quotes, no spaces). Usage: `/dbalert tablespaces OWNER`",
            "invalid",
        ),
        (
            DEV,
            "C0X",
            "tablespaces orders",
            "d1",
            "You may not run `tablespaces`: <@U0DEV> is not in `dba`, `orders`.",
            "denied",
        ),
        (
            "U0GRP",
            "C0X",
            "tablespaces orders",
            "d2",
            "Running `tablespaces ORDERS` on demo…",
            "done",
        ),
    ] {
        let ack = run(user, channel, text, id).await;
        assert_eq!(ack, want_ack, "{text}");
        assert_eq!(
            rows_of(&config, id),
            intent_outcome(user, outcome),
            "{text}"
        );
    }
    // Another workspace, even a listed user.
    let mut foreign = slash(&api, DBA, "C0ORDERS", "tablespaces orders", "x1");
    foreign["team_id"] = json!("T0OTHER");
    let ack = finish(slash_command(&ctx, &foreign, "x1").await).await;
    assert_eq!(
        ack,
        "You may not run `tablespaces`: requests from workspace T0OTHER are not accepted here."
    );
    assert_eq!(rows_of(&config, "x1"), intent_outcome(DBA, "denied"));
    assert!(
        run(DBA, "C0X", "nope x", "n1")
            .await
            .starts_with("There is no action `nope`.")
    );
    // Nothing refused reached the database or Slack.
    assert_eq!(api.responses().len(), 1, "only the allowed request posted");
}

#[tokio::test]
async fn a_confirmed_call_runs_once_however_often_confirm_is_clicked() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let config = load(
        dir.path(),
        &config_text(
            &dir.path().join("state.db"),
            &sqlite_source(&db),
            SQLITE_ACTIONS,
        ),
    );
    let ctx = context(&config);
    let api = FakeSlackApi::start("xoxb-test", &[]);
    let ack = finish(
        slash_command(
            &ctx,
            &slash(&api, DBA, "C0X", "retry-job billing NIGHTLY_INVOICES", "c0"),
            "req-c",
        )
        .await,
    )
    .await;
    assert_eq!(
        ack,
        "`retry-job BILLING NIGHTLY_INVOICES` needs your confirmation."
    );
    let question = &api.responses_to("c0")[0];
    assert_eq!(question["response_type"], "ephemeral");
    assert_eq!(text(question), "Run NIGHTLY_INVOICES of BILLING again?");
    let buttons = &question["blocks"][1]["elements"];
    assert_eq!(buttons[0]["action_id"], "dbalert.action.confirm");
    assert_eq!(buttons[1]["action_id"], "dbalert.action.cancel");
    let request = buttons[0]["value"].as_str().unwrap().to_owned();
    assert_eq!(request, "req-c");
    let status = || -> String {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row(
            "select status from job_runs where job_name = 'NIGHTLY_INVOICES'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(status(), "FAILED", "nothing runs before the confirmation");

    // Someone else cannot confirm it.
    finish(
        button_click(
            &ctx,
            &click(&api, LEAD, "dbalert.action.confirm", &request, "c1"),
            "k1",
        )
        .await,
    )
    .await;
    assert!(text(&api.responses_to("c1")[0]).starts_with("Only <@U0DBA>, who asked, may confirm"));
    // A double click: two clicks at once, one run.
    let first = button_click(
        &ctx,
        &click(&api, DBA, "dbalert.action.confirm", &request, "c2"),
        "k2",
    )
    .await;
    let second = button_click(
        &ctx,
        &click(&api, DBA, "dbalert.action.confirm", &request, "c3"),
        "k3",
    )
    .await;
    assert_eq!((first.ack.as_str(), second.ack.as_str()), ("", ""));
    finish(first).await;
    finish(second).await;
    let mut answers: Vec<String> = [api.responses_to("c2"), api.responses_to("c3")]
        .concat()
        .iter()
        .map(|b| text(b).to_owned())
        .collect();
    answers.sort();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(
        answers[0].starts_with("*retry-job* on `demo`: done, 1 row changed"),
        "{answers:?}"
    );
    assert_eq!(answers[1], "This request was already handled.");
    assert_eq!(status(), "SCHEDULED");
    let rows = rows_of(&config, "req-c");
    assert_eq!(
        rows[0],
        (AuditPhase::Intent, DBA.to_owned(), "requested".to_owned())
    );
    assert_eq!(
        rows.iter().filter(|r| r.0 == AuditPhase::Intent).count(),
        4,
        "{rows:?}"
    );
    let mut sorted: Vec<&str> = rows
        .iter()
        .filter(|r| r.0 == AuditPhase::Outcome)
        .map(|r| r.2.as_str())
        .collect();
    sorted.sort();
    assert_eq!(sorted, ["denied", "done", "duplicate"]);

    // Cancel on a new request: nothing runs.
    finish(
        slash_command(
            &ctx,
            &slash(&api, DBA, "C0X", "retry-job orders PURGE_CARTS", "c4"),
            "req-d",
        )
        .await,
    )
    .await;
    finish(
        button_click(
            &ctx,
            &click(&api, DBA, "dbalert.action.cancel", "req-d", "c5"),
            "k5",
        )
        .await,
    )
    .await;
    assert_eq!(
        text(&api.responses_to("c5")[0]),
        "`retry-job ORDERS PURGE_CARTS` was cancelled by <@U0DBA>."
    );
    let outcomes: Vec<String> = rows_of(&config, "req-d").into_iter().map(|r| r.2).collect();
    assert_eq!(outcomes, ["requested", "requested", "cancelled"]);
}

#[tokio::test]
async fn an_approval_needs_a_second_allowed_person() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let config = load(
        dir.path(),
        &config_text(
            &dir.path().join("state.db"),
            &sqlite_source(&db),
            SQLITE_ACTIONS,
        ),
    );
    let ctx = context(&config);
    let api = FakeSlackApi::start("xoxb-test", &[]);
    let ack = finish(
        slash_command(
            &ctx,
            &slash(&api, DBA, "C0ORDERS", "purge-log 1002", "a0"),
            "req-a",
        )
        .await,
    )
    .await;
    assert!(ack.contains("needs a second person's approval"), "{ack}");
    let asked = &api.responses_to("a0")[0];
    assert_eq!(asked["response_type"], "in_channel");
    assert!(
        text(asked).starts_with("<@U0DBA> asks to run `purge-log 1002` on demo."),
        "{}",
        text(asked)
    );
    assert_eq!(
        asked["blocks"][1]["elements"][0]["action_id"],
        "dbalert.action.approve"
    );
    let count = || -> i64 {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row("select count(*) from alert_log", [], |r| r.get(0))
            .unwrap()
    };
    // The requester cannot approve; someone allowed to run it but not to approve cannot either.
    finish(
        button_click(
            &ctx,
            &click(&api, DBA, "dbalert.action.approve", "req-a", "a1"),
            "k1",
        )
        .await,
    )
    .await;
    assert_eq!(
        text(&api.responses_to("a1")[0]),
        "You cannot approve (or reject) your own request; someone else must."
    );
    finish(
        button_click(
            &ctx,
            &click(&api, DEV, "dbalert.action.approve", "req-a", "a2"),
            "k2",
        )
        .await,
    )
    .await;
    assert!(text(&api.responses_to("a2")[0]).starts_with("You may not approve `purge-log`"));
    assert_eq!(count(), 3);
    // A second DBA approves: it runs, as the requester, once.
    finish(
        button_click(
            &ctx,
            &click(&api, LEAD, "dbalert.action.approve", "req-a", "a3"),
            "k3",
        )
        .await,
    )
    .await;
    assert!(
        text(&api.responses_to("a3")[0]).starts_with("*purge-log* on `demo`: done, 1 row changed")
    );
    assert_eq!(count(), 2);
    finish(
        button_click(
            &ctx,
            &click(&api, LEAD, "dbalert.action.approve", "req-a", "a4"),
            "k4",
        )
        .await,
    )
    .await;
    assert_eq!(
        text(&api.responses_to("a4")[0]),
        "This request was already handled."
    );
    let rows: Vec<(AuditPhase, String, String)> = rows_of(&config, "req-a");
    let outcomes: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r.0 == AuditPhase::Outcome)
        .map(|r| (r.1.as_str(), r.2.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (DBA, "denied"),
            (DEV, "denied"),
            (DBA, "done"),
            (LEAD, "duplicate")
        ]
    );
    let done = trail(&config)
        .into_iter()
        .find(|e| e.request_id == "req-a" && e.outcome == "done")
        .unwrap();
    assert!(done.detail.contains("approver=U0LEAD"), "{}", done.detail);
}

#[test]
fn pending_requests_expire_and_are_taken_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::open(&dir.path().join("state.db")).unwrap();
    let now: jiff::Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
    let request = |id: &str| PendingRequest {
        id: id.to_owned(),
        action: "purge-log".into(),
        args: r#"{"before":"1"}"#.into(),
        requested_by: DBA.into(),
        team_id: TEAM.into(),
        channel_id: None,
        created_at: now,
        expires_at: now + jiff::SignedDuration::from_mins(15),
    };
    store.add_pending(&request("r1"), Stage::Approval).unwrap();
    store.add_pending(&request("r2"), Stage::Confirm).unwrap();
    let later = now + jiff::SignedDuration::from_mins(15);
    let expired = store
        .take_pending("r1", Stage::Approval, None, LEAD, later)
        .unwrap();
    assert_eq!(expired, Err(NotTaken::Expired(later)));
    assert_eq!(
        store
            .take_pending("r2", Stage::Approval, None, LEAD, now)
            .unwrap(),
        Err(NotTaken::Taken),
        "waits for its confirmation first"
    );
    assert_eq!(
        store
            .take_pending("r2", Stage::Confirm, Some(Stage::Approval), DBA, now)
            .unwrap(),
        Ok(request("r2"))
    );
    assert_eq!(
        store
            .take_pending("r2", Stage::Confirm, None, DBA, now)
            .unwrap(),
        Err(NotTaken::Taken)
    );
    assert_eq!(
        store
            .take_pending("r2", Stage::Approval, None, LEAD, now)
            .unwrap(),
        Ok(request("r2"))
    );
    assert_eq!(
        store
            .take_pending("r2", Stage::Approval, None, LEAD, now)
            .unwrap(),
        Err(NotTaken::Taken)
    );
    assert_eq!(
        store
            .take_pending("nope", Stage::Confirm, None, DBA, now)
            .unwrap(),
        Err(NotTaken::Unknown)
    );
}

/// One `call` action per parameter type, each storing what it was given in `got`.
fn injection_actions(postgres: bool) -> String {
    let (v, sid, serial) = if postgres {
        ("$1", "$1::text", "$2::text")
    } else {
        (":v", ":sid", ":serial")
    };
    let source = if postgres { "pg" } else { "demo" };
    let one = |kind: &str, param: &str| {
        format!(
            "  - {{name: inj-{kind}, source: {source}, kind: call, allow: [dba],
     sql: \"insert into got (kind, v) values ('{kind}', {v})\", params: [{param}]}}\n"
        )
    };
    [
        one("int", "{name: v, type: int}"),
        one("identifier", "{name: v, type: identifier}"),
        one("enum", "{name: v, type: enum, values: [a]}"),
        one("string", "{name: v, type: string, pattern: '(?s).+', max_length: 4096}"),
        one("duration", "{name: v, type: duration}"),
        format!(
            "  - {{name: inj-sid_serial, source: {source}, kind: call, allow: [dba],
     sql: \"insert into got (kind, v) values ('sid_serial', {sid} || ',' || {serial})\", params: [{{name: v, type: sid_serial}}]}}\n"
        ),
    ]
    .concat()
}

/// Sends every hostile value through every type: each is refused by validation or stored
/// verbatim. Returns `(kind, value)` of what was accepted, with what the database should hold.
async fn inject(config: &Config) -> Vec<(String, String)> {
    let long = "x'".repeat(2048);
    let hostile = [
        "'; drop table x; --",
        ":other_bind",
        "$1",
        long.as_str(),
        "a\0b",
        "ОRDERS",
        "a\u{202E}b",
        "1; select 1",
    ];
    let benign = [
        ("int", "7", "7"),
        ("identifier", "ORDERS", "ORDERS"),
        ("enum", "a", "a"),
        ("string", "hello", "hello"),
        ("duration", "5m", "300"),
        ("sid_serial", "12,345", "12,345"),
    ];
    let mut expected = Vec::new();
    for action in &config.actions {
        let kind = action.name.trim_start_matches("inj-").to_owned();
        let source = config.sources[&action.source]
            .build(action.source.clone())
            .unwrap();
        let good = benign.iter().find(|b| b.0 == kind).unwrap();
        for value in hostile.iter().chain([&good.1]) {
            let args = std::collections::BTreeMap::from([("v".to_owned(), (*value).to_owned())]);
            let Ok(binds) = run::validate(action, &args) else {
                continue;
            };
            let statement = run::statement(action, binds, DBA, "inj");
            let outcome = source.execute(&statement).await;
            outcome.unwrap_or_else(|e| panic!("{kind} {value:?}: {e}"));
            let stored = if *value == good.1 { good.2 } else { value };
            expected.push((kind.clone(), stored.to_owned()));
        }
    }
    expected
}

fn accepted_hostile(expected: &[(String, String)]) -> Vec<(&str, usize)> {
    expected
        .iter()
        .map(|(k, v)| (k.as_str(), v.chars().count()))
        .collect()
}

#[tokio::test]
async fn injection_through_every_type_is_refused_or_bound_verbatim_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inj.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("create table x (id integer); insert into x values (1); create table got (kind text, v text);").unwrap();
    let config = load(
        dir.path(),
        &config_text(
            &dir.path().join("state.db"),
            &sqlite_source(&db),
            &injection_actions(false),
        ),
    );
    let expected = inject(&config).await;
    let mut stmt = conn
        .prepare("select kind, v from got order by rowid")
        .unwrap();
    let got: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, expected);
    // Only `string` took hostile text, and as data: the drop, the bind, 4 kB, the look-alike.
    assert_eq!(
        accepted_hostile(&expected),
        [
            ("int", 1),
            ("identifier", 6),
            ("enum", 1),
            ("string", 19),
            ("string", 11),
            ("string", 2),
            ("string", 4096),
            ("string", 6),
            ("string", 3),
            ("string", 11),
            ("string", 5),
            ("duration", 3),
            ("sid_serial", 6)
        ]
    );
    let intact: i64 = conn
        .query_row("select count(*) from x", [], |r| r.get(0))
        .unwrap();
    assert_eq!(intact, 1);
}

#[tokio::test]
async fn injection_through_every_type_is_refused_or_bound_verbatim_on_postgres() {
    let Some(schema) = db::schema("injection_on_postgres").await else {
        return;
    };
    schema.client.batch_execute("create table x (id int); insert into x values (1); create table got (n serial, kind text, v text);").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sources = format!("  pg: {{postgres: {{url: '{}'}}}}", schema.url);
    let config = load(
        dir.path(),
        &config_text(
            &dir.path().join("state.db"),
            &sources,
            &injection_actions(true),
        ),
    );
    let expected = inject(&config).await;
    let got: Vec<(String, String)> = schema
        .client
        .query("select kind, v from got order by n", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        accepted_hostile(&expected)
            .iter()
            .filter(|(k, _)| *k == "string")
            .count(),
        8
    );
    let intact: i64 = schema
        .client
        .query_one("select count(*) from x", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(intact, 1);
}

const POSTGRES_ACTIONS: &str = "
  - name: jobs
    source: pg
    kind: query
    sql: select name, runs from jobs where name = $1
    params: [{name: job, type: identifier}]
    allow: [dba]
  - name: bump
    source: pg
    kind: call
    sql: select bump($1, $2, $3) as runs
    params: [{name: job, type: identifier}, {name: by, type: int}]
    allow: [dba]
  - name: slow
    source: pg
    kind: query
    sql: select pg_sleep($1) as slept
    params: [{name: seconds, type: int}]
    allow: [dba]
    timeout: 20s
";

#[tokio::test]
async fn postgres_actions_return_rows_commit_on_success_roll_back_on_error_and_ack_before_slow_work()
 {
    let Some(schema) = db::schema("postgres_actions").await else {
        return;
    };
    schema
        .client
        .batch_execute(
            "
        create table chatops_audit (
            audit_id bigint generated always as identity primary key, request_id text not null,
            phase text not null, occurred_at timestamptz not null default now(),
            actor text not null, slack_channel_id text, action_name text not null,
            params_json jsonb, outcome text not null, detail text);
        create table jobs (name text primary key, runs int not null, last_by text);
        insert into jobs values ('nightly', 0, null);
        create function bump(job text, by int, who text) returns int language plpgsql as $$
        begin
            update jobs set runs = runs + by, last_by = who where name = job;
            if by < 0 then raise exception 'refusing to go back % runs', -by; end if;
            return (select runs from jobs where name = job);
        end $$;",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sources = format!("  pg: {{postgres: {{url: '{}'}}}}", schema.url);
    let config = load(
        dir.path(),
        &(config_text(&dir.path().join("state.db"), &sources, POSTGRES_ACTIONS)
            + "action_audit: {source: pg, table: chatops_audit}\n"),
    );
    let ctx = context(&config);
    let api = FakeSlackApi::start("xoxb-test", &[]);

    finish(
        slash_command(
            &ctx,
            &slash(&api, DBA, "C0X", "jobs nightly", "p1"),
            "req-p1",
        )
        .await,
    )
    .await;
    let shown = text(&api.responses_to("p1")[0]).to_owned();
    assert!(
        shown.contains("```\nname     runs\nnightly  0\n```"),
        "{shown}"
    );
    assert_eq!(rows_of(&config, "req-p1"), intent_outcome(DBA, "done"));

    finish(
        slash_command(
            &ctx,
            &slash(&api, DBA, "C0X", "bump nightly 2", "p2"),
            "req-p2",
        )
        .await,
    )
    .await;
    assert!(
        text(&api.responses_to("p2")[0]).contains("runs\n2\n"),
        "{}",
        text(&api.responses_to("p2")[0])
    );
    finish(
        slash_command(
            &ctx,
            &slash(&api, DBA, "C0X", "bump nightly -5", "p3"),
            "req-p3",
        )
        .await,
    )
    .await;
    let failed = text(&api.responses_to("p3")[0]).to_owned();
    assert!(
        failed.starts_with("*bump* failed: source `pg`: refusing to go back 5 runs"),
        "{failed}"
    );
    assert_eq!(rows_of(&config, "req-p3"), intent_outcome(DBA, "failed"));
    ctx.flush_audit().await;
    let copied: Vec<(String, String, serde_json::Value)> = schema
        .client
        .query("select phase, outcome, params_json from chatops_audit where request_id = 'req-p3' order by audit_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let params = json!({"by": "-5", "job": "nightly"});
    assert_eq!(
        copied,
        [
            ("intent".to_owned(), "requested".to_owned(), params.clone()),
            ("outcome".to_owned(), "failed".to_owned(), params)
        ]
    );
    let row = schema
        .client
        .query_one("select runs, last_by from jobs", &[])
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i32>(0), row.get::<_, String>(1)),
        (2, DBA.to_owned()),
        "the failed call left nothing behind"
    );

    // A slow action: the ack comes back while the statement still runs.
    let accepted = slash_command(&ctx, &slash(&api, DBA, "C0X", "slow 4", "p4"), "req-p4").await;
    assert_eq!(accepted.ack, "Running `slow 4` on pg…");
    assert!(!accepted.work.as_ref().unwrap().is_finished());
    assert!(api.responses_to("p4").is_empty());
    assert_eq!(rows_of(&config, "req-p4"), intent_outcome(DBA, "")[..1]);
    finish(accepted).await;
    assert!(text(&api.responses_to("p4")[0]).starts_with("*slow* on `pg`: 1 row"));
    assert_eq!(rows_of(&config, "req-p4"), intent_outcome(DBA, "done"));
}

fn chatops_example(dir: &Path) -> (PathBuf, Vec<(&'static str, String)>) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let env = vec![
        ("DEMO_DB", demo_db(dir).display().to_string()),
        (
            "DBALERT_DEMO_STATE",
            dir.join("state.db").display().to_string(),
        ),
        ("USER", "tester".to_owned()),
    ];
    (root.join("examples/chatops/alerts.yaml"), env)
}

#[test]
fn actions_list_and_test_from_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let (config, env) = chatops_example(dir.path());
    let cli = |args: &[&str]| {
        let mut cmd = dbalert(dir.path());
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .arg("-c")
            .arg(&config)
            .args(args);
        cmd.output().unwrap()
    };
    let list = cli(&["actions", "list"]);
    assert!(list.status.success(), "{}", stderr_of(&list));
    let out = stdout_of(&list);
    assert!(
        out.starts_with("NAME             SOURCE  KIND   USAGE"),
        "{out}"
    );
    assert!(out.contains("retry-job        demo    call   retry-job OWNER NIGHTLY_INVOICES|PURGE_CARTS  dba         confirm"), "{out}");
    let json: Value =
        serde_json::from_str(&stdout_of(&cli(&["actions", "list", "--json"]))).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 4);
    assert_eq!(json[3]["approval"], json!({"allow": ["dba"], "ttl": "30m"}));

    let test = cli(&[
        "actions",
        "test",
        "tablespaces",
        "owner=orders",
        "--as",
        "U0ORDERSDEV",
    ]);
    assert!(test.status.success(), "{}", stderr_of(&test));
    let out = stdout_of(&test);
    assert!(
        out.contains(
            "binds:\n  :owner = \"ORDERS\" (text)\n  :requested_by = \"cli:tester\" (text)\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("access: U0ORDERSDEV may run it (through `orders`)"),
        "{out}"
    );
    let denied = stdout_of(&cli(&[
        "actions",
        "test",
        "retry-job",
        "billing",
        "PURGE_CARTS",
        "--as",
        "U0ORDERSDEV",
    ]));
    assert!(
        denied.contains("access: U0ORDERSDEV may not run it: <@U0ORDERSDEV> is not in `dba`"),
        "{denied}"
    );

    let bad = cli(&[
        "actions",
        "test",
        "retry-job",
        "billing",
        "'; drop table job_runs; --",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr_of(&bad).contains("`job` must be one of NIGHTLY_INVOICES, PURGE_CARTS; usage: retry-job OWNER NIGHTLY_INVOICES|PURGE_CARTS"), "{}", stderr_of(&bad));
    let unknown = cli(&["actions", "test", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));

    let mut cmd = dbalert(dir.path());
    cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("SLACK_BOT_TOKEN", "xoxb-x")
        .env("SLACK_APP_TOKEN", "xapp-x")
        .arg("-c")
        .arg(&config)
        .args([
            "actions",
            "test",
            "retry-job",
            "billing",
            "NIGHTLY_INVOICES",
            "--execute",
        ]);
    let run = cmd.output().unwrap();
    assert!(run.status.success(), "{}", stderr_of(&run));
    assert!(
        stdout_of(&run).contains("done: 1 row changed"),
        "{}",
        stdout_of(&run)
    );
    let trail = StateStore::open(&dir.path().join("state.db"))
        .unwrap()
        .audit_trail(10)
        .unwrap();
    let rows: Vec<(&str, &str, &str)> = trail
        .iter()
        .map(|e| (e.actor.as_str(), e.what.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("cli:tester", "action:retry-job", "requested"),
            ("cli:tester", "action:retry-job", "done")
        ]
    );
    assert_eq!(
        trail[0].target,
        r#"{"job":"NIGHTLY_INVOICES","owner":"billing"}"#
    );
}

#[test]
fn check_names_file_line_and_key_of_every_broken_action() {
    let dir = workdir(&[("demo.db", "")]);
    let text = config_text(
        &dir.path().join("state.db"),
        "  demo: {sqlite: {path: demo.db}}",
        "
  - name: Bad Name
    source: nowhere
    kind: query
    sql: select 1
    allow: [dba]
  - name: binds
    source: demo
    kind: call
    sql: select :owner, :other, :requested_by
    params:
      - {name: owner, type: identifier}
      - {name: unused, type: int}
      - {name: text, type: string, pattern: '[a-z'}
      - {name: text2, type: string}
    allow: [dba, ghosts]
    approval: {allow: [], ttl: 5m}
  - name: untyped
    source: demo
    kind: query
    sql: select :kind
    params: [{name: kind}]
    allow: [dba]
",
    );
    let text = text + "action_audit: {source: nowhere, table: 'audit; drop table x'}\n";
    std::fs::write(dir.path().join("alerts.yaml"), text).unwrap();
    let output = dbalert(dir.path()).args(["check"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = stderr_of(&output);
    for want in [
        "alerts.yaml:10:5: actions[0].name: must be lower-case letters",
        "alerts.yaml:11:5: actions[0].source: no source named `nowhere` under `sources:` (there: demo)",
        "actions[2].params[0]: missing key `type`",
        "actions[1].params[2].pattern: does not compile",
        "actions[1].params[3].pattern: a string needs a `pattern`",
        "actions[1].allow: no principal named `ghosts` under `access:`",
        "actions[1].approval.allow: names nobody",
        "actions[1].sql: :other is not a parameter of this action",
        "actions[1].sql: parameter `unused` is not used",
        "action_audit.table: must be a table name, `table` or `schema.table`",
        "action_audit.source: no source named `nowhere` under `sources:`",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

#[cfg(feature = "oracle")]
#[test]
fn an_oracle_action_without_instant_client_fails_clearly_and_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let sources = format!(
        "{}\n  prod: {{oracle: {{connect: '//127.0.0.1:1/NOPE', user: dbalert_api, password: s3cr3t-pw}}}}",
        sqlite_source(&db)
    );
    let actions = format!(
        "{SQLITE_ACTIONS}  - name: kill-session
    source: prod
    kind: call
    sql: 'begin dbalert_api.kill_session(:sid, :serial); end;'
    params: [{{name: session, type: sid_serial}}]
    allow: [dba]
"
    );
    std::fs::write(
        dir.path().join("alerts.yaml"),
        config_text(&dir.path().join("state.db"), &sources, &actions),
    )
    .unwrap();
    let run = |args: &[&str]| {
        dbalert(dir.path())
            .env("LD_LIBRARY_PATH", "")
            .env("USER", "tester")
            .args(args)
            .output()
            .unwrap()
    };
    let oracle = run(&["actions", "test", "kill-session", "123,4567", "--execute"]);
    assert_eq!(oracle.status.code(), Some(1));
    let err = stderr_of(&oracle);
    assert!(
        err.contains(
            "action `kill-session` failed: source `prod`: cannot connect: DPI Error: DPI-1047"
        ),
        "{err}"
    );
    assert!(err.contains("install Oracle Instant Client"), "{err}");
    assert!(!err.contains("s3cr3t-pw"), "{err}");
    let sqlite = run(&["actions", "test", "tablespaces", "orders", "--execute"]);
    assert!(sqlite.status.success(), "{}", stderr_of(&sqlite));
    let trail = StateStore::open(&dir.path().join("state.db"))
        .unwrap()
        .audit_trail(10)
        .unwrap();
    let outcomes: Vec<(&str, &str)> = trail
        .iter()
        .map(|e| (e.what.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("action:kill-session", "requested"),
            ("action:kill-session", "failed"),
            ("action:tablespaces", "requested"),
            ("action:tablespaces", "done")
        ]
    );
    assert!(
        trail[1].detail.starts_with("error=connect "),
        "{}",
        trail[1].detail
    );
}

#[tokio::test]
async fn the_postgres_api_scripts_load_and_grant_only_execute_and_insert() {
    let Some(schema) = db::schema("postgres_chatops_scripts").await else {
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script =
        |name: &str| std::fs::read_to_string(root.join("sql/postgres").join(name)).unwrap();
    let client = &schema.client;
    // Roles are the server's, not the test schema's: everything happens in a transaction that
    // is rolled back, so the server is left as it was.
    client.batch_execute("BEGIN").await.unwrap();
    client
        .batch_execute(&script("chatops_api.sql"))
        .await
        .unwrap();
    client
        .batch_execute(&script("chatops_api.sql"))
        .await
        .expect("re-running it is safe");
    client
        .batch_execute(&script("chatops_audit.sql"))
        .await
        .unwrap();
    client
        .batch_execute("SET ROLE dbalert_chatops")
        .await
        .unwrap();
    let refused = |sql: &'static str| async move {
        client.batch_execute("SAVEPOINT s").await.unwrap();
        let err = client.batch_execute(sql).await.expect_err(sql);
        client
            .batch_execute("ROLLBACK TO SAVEPOINT s")
            .await
            .unwrap();
        err.as_db_error()
            .map(|e| e.message().to_owned())
            .unwrap_or_default()
    };
    let own_pid: i32 = client
        .query_one("select pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let message = refused(Box::leak(
        format!("select dbalert_api.terminate_backend({own_pid}, 'U0DBA')").into_boxed_str(),
    ))
    .await;
    assert_eq!(message, "backends of postgres may not be ended from chat");
    assert!(
        refused("select dbalert_api.terminate_backend(-1, 'U0DBA')")
            .await
            .starts_with("no client backend")
    );
    for sql in [
        "select * from dbalert_api.killable_roles",
        "insert into dbalert_api.killable_roles values ('postgres')",
        "select * from dbalert_api.chatops_audit",
        "delete from dbalert_api.chatops_audit",
    ] {
        let message = refused(sql).await;
        assert!(message.starts_with("permission denied"), "{sql}: {message}");
    }
    let signals: bool = client
        .query_one(
            "select pg_has_role('dbalert_chatops', 'pg_signal_backend', 'member')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!signals, "only the functions' owner may signal backends");
    client
        .batch_execute("insert into dbalert_api.chatops_audit (request_id, phase, actor, action_name, params_json, outcome) values ('r1', 'intent', 'U0DBA', 'kill', '{\"pid\": \"1\"}', 'requested')")
        .await
        .expect("the login role may add audit rows");
    client.batch_execute("ROLLBACK").await.unwrap();
}

/// A statement still running at the action's `timeout` is cut off and reported as such.
async fn times_out(source_yaml: &str, sql: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let actions = format!(
        "  - {{name: forever, source: s, kind: query, allow: [dba], timeout: 1s, sql: \"{sql}\"}}\n"
    );
    let config = load(
        dir.path(),
        &config_text(&dir.path().join("state.db"), source_yaml, &actions),
    );
    let action = &config.actions[0];
    let source = config.sources[&action.source]
        .build(action.source.clone())
        .unwrap();
    let statement = run::statement(action, Vec::new(), DBA, "t");
    let error = source.execute(&statement).await.expect_err("cut off");
    let (code, text) = run::error_text(&error);
    assert_eq!(code, "timeout", "{text}");
    text
}

#[tokio::test]
async fn a_statement_past_its_timeout_is_cut_off_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("create table t (x int)")
        .unwrap();
    let endless =
        "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c";
    let text = times_out(
        &format!("  s: {{sqlite: {{path: '{}'}}}}", db.display()),
        endless,
    )
    .await;
    assert_eq!(
        text,
        "source `s`: the statement was cancelled after the action's timeout of 1s"
    );
    let Some(schema) = db::schema("postgres_action_timeout").await else {
        return;
    };
    let text = times_out(
        &format!("  s: {{postgres: {{url: '{}'}}}}", schema.url),
        "select pg_sleep(30)",
    )
    .await;
    assert_eq!(
        text,
        "source `s`: the statement was cancelled after the action's timeout of 1s"
    );
}
