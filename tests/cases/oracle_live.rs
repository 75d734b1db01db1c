#![cfg(feature = "oracle")]
//! The opt-in live Oracle suite: set `DBALERT_TEST_ORACLE_DSN=user/password@connect` (with
//! Instant Client installed) to run dbalert against a real Oracle database. It was not run on
//! the project's machines, which have neither; without the variable each test says it skipped.
//!
//! The same scenarios as on PostgreSQL: a state check that fires and resolves, an event check
//! whose cursor is bound back, the views of the check pack, and queue messages committed after
//! delivery and rolled back when it fails. The views and queue scenarios need the kit
//! installed (`sql/oracle/01_user.sql`, `02_app_queue.sql`, `03_alert_que.sql`) with the DSN's
//! user being the kit's `DBALERT`, and `DBALERT_TEST_ORACLE_ADMIN_DSN=sys/password@connect` (a
//! SYS login, connected AS SYSDBA) to enqueue test messages and inspect the queues.
//!
//! Also written for a real database and never run here: the lines of a trace file read through
//! `GV$DIAG_TRACE_FILE_CONTENTS` compared with the file itself (needs
//! `DBALERT_TEST_ORACLE_TRACE_DIR`, the server's trace directory as seen from the test), and a
//! soak of 1,000 `SYS.ALERT_QUE` dequeues in one `dbalert run` whose resident memory must stay
//! flat; and the actions: a `query` action's binds, a `call` action's commit and rollback.
//! `the_alert_type_constructor_passes_42_attributes` needs no database and always runs.

use std::path::Path;

use crate::support::fake_slack::{FakeSlack, Reply};
use crate::support::{dbalert, stderr_of, stdout_of, workdir};

/// `(user, password, connect)` from `DBALERT_TEST_ORACLE_DSN`, or `None` (and a note) to skip.
fn dsn() -> Option<(String, String, String)> {
    parse_dsn("DBALERT_TEST_ORACLE_DSN")
}

fn parse_dsn(variable: &str) -> Option<(String, String, String)> {
    let Ok(dsn) = std::env::var(variable) else {
        eprintln!("SKIPPED: set {variable}=user/password@connect to run this Oracle test");
        return None;
    };
    let (credentials, connect) = dsn
        .rsplit_once('@')
        .unwrap_or_else(|| panic!("{variable} is user/password@connect"));
    let (user, password) = credentials
        .split_once('/')
        .unwrap_or_else(|| panic!("{variable} is user/password@connect"));
    Some((user.to_owned(), password.to_owned(), connect.to_owned()))
}

/// Both DSNs, for the scenarios that set up messages as SYS.
fn dsn_and_admin() -> Option<((String, String, String), oracle::Connection)> {
    let dsn = dsn()?;
    let (user, password, connect) = parse_dsn("DBALERT_TEST_ORACLE_ADMIN_DSN")?;
    let admin = oracle::Connector::new(user, password, connect)
        .privilege(oracle::Privilege::Sysdba)
        .connect()
        .expect("DBALERT_TEST_ORACLE_ADMIN_DSN connects AS SYSDBA");
    Some((dsn, admin))
}

/// A config with source `ora` on the DSN, a Slack receiver on `${env:HOOK}` and `checks`.
fn live_config((user, _, connect): &(String, String, String), checks: &str) -> String {
    format!(
        "state: {{path: state.db}}\n\
         sources:\n  ora:\n    oracle: {{connect: '{connect}', user: '{user}', password: '${{env:ORACLE_PASSWORD}}', call_timeout: 30s}}\n\
         receivers:\n  team:\n    slack: {{webhook_url: '${{env:HOOK}}', max_retries: 0}}\n\
         route: {{receiver: team, group_by: ['...']}}\n\
         checks:\n{checks}"
    )
}

fn live_poll(dir: &Path, password: &str, hook: &str) -> std::process::Output {
    dbalert(dir)
        .env("HOOK", hook)
        .env("ORACLE_PASSWORD", password)
        .arg("poll")
        .output()
        .unwrap()
}

fn texts(slack: &FakeSlack, hook: &str) -> Vec<String> {
    slack
        .requests_to(hook)
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Runs PL/SQL as the admin and commits.
fn admin_run(admin: &oracle::Connection, plsql: &str) {
    admin
        .execute(plsql, &[])
        .unwrap_or_else(|e| panic!("{plsql}: {e}"));
    admin.commit().unwrap();
}

/// `(messages waiting for DBALERT, highest retry count)` on the application queue.
fn app_queue_state(admin: &oracle::Connection) -> (i64, i64) {
    admin
        .query_row_as::<(i64, i64)>(
            "select count(*), nvl(max(retry_count), 0) from dbalert_owner.aq$alert_qt \
             where consumer_name = 'DBALERT' and msg_state in ('READY', 'WAITING')",
            &[],
        )
        .unwrap()
}

#[test]
fn oracle_state_check_fires_and_resolves() {
    let Some((user, password, connect)) = dsn() else {
        return;
    };
    let slack = FakeSlack::start();
    let hook = slack.webhook("oracle-live");
    let config = |sql: &str| {
        format!(
            "state: {{path: state.db}}\n\
             sources:\n  ora:\n    oracle: {{connect: '{connect}', user: '{user}', password: '${{env:ORACLE_PASSWORD}}'}}\n\
             receivers:\n  team:\n    slack: {{webhook_url: '${{env:HOOK}}'}}\n\
             route: {{receiver: team, group_by: [alertname]}}\n\
             checks:\n  - {{name: live, source: ora, key: [owner], sql: \"{sql}\"}}\n"
        )
    };
    let dir = workdir(&[(
        "alerts.yaml",
        &config("select 'ORDERS' as owner, 42 as n, systimestamp as ts from dual"),
    )]);
    let poll = || {
        dbalert(dir.path())
            .env("HOOK", &hook)
            .env("ORACLE_PASSWORD", &password)
            .arg("poll")
            .output()
            .unwrap()
    };
    let first = poll();
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    std::fs::write(
        dir.path().join("alerts.yaml"),
        config("select 'ORDERS' as owner from dual where 1 = 0"),
    )
    .unwrap();
    let second = poll();
    assert_eq!(second.status.code(), Some(0), "{}", stderr_of(&second));
    let texts: Vec<String> = slack
        .requests_to(&hook)
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        texts,
        [
            ":warning: [FIRING:1] live",
            ":white_check_mark: [RESOLVED:1] live"
        ]
    );
}

#[test]
fn oracle_event_check_binds_its_cursor_back() {
    let Some(dsn) = dsn() else {
        return;
    };
    let slack = FakeSlack::start();
    let hook = slack.webhook("oracle-live-events");
    let events = "  - name: live_events\n    source: ora\n    events: {cursor: id, start: all}\n    sql: \"select id, 'event ' || id as msg from (select level as id from dual connect by level <= 3) where :cursor is null or id > :cursor\"\n";
    let dir = workdir(&[("alerts.yaml", &live_config(&dsn, events))]);
    let first = live_poll(dir.path(), &dsn.1, &hook);
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    let second = live_poll(dir.path(), &dsn.1, &hook);
    assert_eq!(second.status.code(), Some(0), "{}", stderr_of(&second));
    let sent = texts(&slack, &hook);
    assert_eq!(sent.len(), 3, "three events, each once: {sent:?}");
}

/// Every query of the check pack runs with the kit's grants (`check --connect` runs each
/// query once and takes nothing off the queue).
#[test]
fn oracle_check_pack_views_are_readable_with_the_kit_grants() {
    let Some((_, password, connect)) = dsn() else {
        return;
    };
    let dir = workdir(&[]);
    let pack =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/oracle/alerts.yaml");
    let output = dbalert(dir.path())
        .env("PROD_ORACLE_CONNECT", &connect)
        .env("PROD_DBALERT_PASSWORD", &password)
        .env("PROD_CHATOPS_PASSWORD", &password)
        .arg("-c")
        .arg(pack)
        .args(["check", "--connect"])
        .output()
        .unwrap();
    let stdout = stdout_of(&output);
    // Data Guard statistics exist only on a standby; the view is still readable elsewhere.
    assert!(
        !stdout.contains("error "),
        "{stdout}\n{}",
        stderr_of(&output)
    );
    assert_eq!(output.status.code(), Some(0), "{stdout}");
}

/// A message raised with dbalert_api.raise_alert stays queued while Slack fails (AQ counts
/// the rollback) and is gone once Slack accepted it.
#[test]
fn oracle_aq_message_is_committed_only_after_delivery() {
    let Some((dsn, admin)) = dsn_and_admin() else {
        return;
    };
    // Make a rolled-back message visible again at once, so the test need not wait.
    admin_run(
        &admin,
        "begin dbms_aqadm.alter_queue(queue_name => 'DBALERT_OWNER.ALERT_Q', retry_delay => 0); end;",
    );
    let slack = FakeSlack::start();
    let hook = slack.webhook("oracle-live-aq");
    let check = "  - {name: live_app_alert, source: ora, queue: {name: DBALERT_OWNER.ALERT_Q, consumer: DBALERT}}\n";
    let dir = workdir(&[("alerts.yaml", &live_config(&dsn, check))]);
    let (before, _) = app_queue_state(&admin);
    admin_run(
        &admin,
        "begin dbalert_owner.dbalert_api.raise_alert(p_severity => 'critical', p_summary => 'live test: orders batch failed', p_labels_json => '{\"team\":\"orders\"}'); end;",
    );
    assert_eq!(app_queue_state(&admin).0, before + 1);

    slack.script(&hook, [Reply::Status(500, "rollup_error")]);
    let failed = live_poll(dir.path(), &dsn.1, &hook);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr_of(&failed));
    let (waiting, retries) = app_queue_state(&admin);
    assert_eq!(waiting, before + 1, "rolled back: still queued");
    assert!(retries >= 1, "AQ counted the failed attempt");

    let delivered = live_poll(dir.path(), &dsn.1, &hook);
    assert_eq!(
        delivered.status.code(),
        Some(0),
        "{}",
        stderr_of(&delivered)
    );
    assert_eq!(
        app_queue_state(&admin).0,
        before,
        "committed: gone for DBALERT"
    );
    let sent = texts(&slack, &hook);
    assert!(
        sent.last().is_some_and(|t| t.contains("live_app_alert")),
        "{sent:?}"
    );
}

/// PL/SQL enqueueing one `SYS.ALERT_TYPE` message on `SYS.ALERT_QUE`: a tablespace alert on
/// `object_name` at `level` (5 warning, 32 clear), built with the constructor in catalrt.sql's
/// attribute order, 42 attributes since 12.1 (the last is `PDB_NAME`).
fn enqueue_alert(level: u32, object_name: &str) -> String {
    format!(
        "declare
           eo dbms_aq.enqueue_options_t;
           mp dbms_aq.message_properties_t;
           id raw(16);
           msg sys.alert_type;
         begin
           msg := {};
           dbms_aq.enqueue('SYS.ALERT_QUE', eo, mp, msg, id);
         end;",
        alert_type_constructor(level, object_name)
    )
}

/// `sys.alert_type(...)` with its 42 arguments.
fn alert_type_constructor(level: u32, object_name: &str) -> String {
    format!(
        "sys.alert_type(
           systimestamp, 'oracle.com', 'SMG', 1, null, 'Warning', 'Space', {level},
           'dbalert-live', null, null, null, 'SYS', null, null, 'dbalert-live', null,
           2, '{object_name}', '91', null, null, null,
           0, 9, 'SYS', '{object_name}', null, 'TABLESPACE',
           sys_context('USERENV', 'INSTANCE_NAME'), 1, 'DATABASE', null, 91,
           null, 0, null, null, null, null, null,
           sys_context('USERENV', 'CON_NAME'))"
    )
}

/// The arguments of the outermost call in `call`, split at its top-level commas.
fn arguments(call: &str) -> Vec<String> {
    let open = call.find('(').expect("a call");
    let mut depth = 0;
    let mut quoted = false;
    let mut current = String::new();
    let mut arguments = Vec::new();
    for c in call[open + 1..].chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth == 0 => break,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                arguments.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    arguments.push(current.trim().to_owned());
    arguments
}

/// Runs without a database: `SYS.ALERT_TYPE` has 42 attributes since 12.1 (41 before, without
/// `PDB_NAME`), so the constructor the live tests use must pass 42.
#[test]
fn the_alert_type_constructor_passes_42_attributes() {
    let arguments = arguments(&alert_type_constructor(5, "DBALERT_LIVE"));
    assert_eq!(arguments.len(), 42, "{arguments:#?}");
    assert_eq!(arguments[7], "5", "MESSAGE_LEVEL is the 8th");
    assert_eq!(arguments[24], "9", "REASON_ID is the 25th");
    assert_eq!(
        arguments[41], "sys_context('USERENV', 'CON_NAME')",
        "PDB_NAME is the 42nd"
    );
}

/// A server alert enqueued on SYS.ALERT_QUE fires, and its LEVEL_CLEAR message resolves it;
/// the alert carries the PDB the message names.
#[test]
fn oracle_alert_que_clear_resolves_the_alert() {
    let Some((dsn, admin)) = dsn_and_admin() else {
        return;
    };
    let slack = FakeSlack::start();
    let hook = slack.webhook("oracle-live-alert-que");
    let check = "  - {name: live_server_alert, source: ora, queue: {name: SYS.ALERT_QUE, consumer: DBALERT}}\n";
    let dir = workdir(&[("alerts.yaml", &live_config(&dsn, check))]);
    admin_run(&admin, &enqueue_alert(5, "DBALERT_LIVE"));
    let fired = live_poll(dir.path(), &dsn.1, &hook);
    assert_eq!(fired.status.code(), Some(0), "{}", stderr_of(&fired));
    admin_run(&admin, &enqueue_alert(32, "DBALERT_LIVE"));
    let cleared = live_poll(dir.path(), &dsn.1, &hook);
    assert_eq!(cleared.status.code(), Some(0), "{}", stderr_of(&cleared));
    let sent = texts(&slack, &hook);
    assert!(
        sent.iter()
            .any(|t| t.contains("[FIRING:1] live_server_alert")),
        "{sent:?}"
    );
    assert!(
        sent.last()
            .is_some_and(|t| t.contains("[RESOLVED:1] live_server_alert")),
        "{sent:?}"
    );
}

/// `GV$DIAG_TRACE_FILE_CONTENTS`, read with the statement `deadlock_trace` runs
/// (`trace::TRACE_SQL`, as the kit's DBALERT user), gives the lines of the trace file, all of
/// them, in file order. That order is what the parser relies on and was never seen here.
/// Needs the server's trace directory readable on this machine:
/// `DBALERT_TEST_ORACLE_TRACE_DIR=/path/to/diag/rdbms/<db>/<instance>/trace` (for a container,
/// a bind mount of it).
#[test]
fn oracle_trace_view_lines_match_the_trace_file() {
    let Some(((user, password, connect), admin)) = dsn_and_admin() else {
        return;
    };
    let Ok(trace_dir) = std::env::var("DBALERT_TEST_ORACLE_TRACE_DIR") else {
        eprintln!(
            "SKIPPED: set DBALERT_TEST_ORACLE_TRACE_DIR to the server's trace directory as seen here"
        );
        return;
    };
    // A trace file of our own, long and unevenly indented, some records on two lines.
    let tag = format!("DBALERT_LIVE_{}", std::process::id());
    admin
        .execute(
            &format!("alter session set tracefile_identifier = '{tag}'"),
            &[],
        )
        .unwrap();
    admin_run(
        &admin,
        "begin
           for i in 1 .. 3000 loop
             sys.dbms_system.ksdwrt(1, lpad(' ', mod(i, 7)) || 'dbalert live line ' || i
               || case when mod(i, 50) = 0 then chr(10) || '  continued ' || i end);
           end loop;
         end;",
    );
    let path: String = admin
        .query_row_as(
            "select value from v$diag_info where name = 'Default Trace File'",
            &[],
        )
        .unwrap();
    let name = Path::new(&path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.contains(&tag), "{path}");
    let file = std::fs::read_to_string(Path::new(&trace_dir).join(&name))
        .unwrap_or_else(|e| panic!("{trace_dir}/{name}: {e}"));

    let conn = oracle::Connection::connect(&user, &password, &connect).unwrap();
    let rows = conn
        .query_named(
            dbalert::source::oracle::trace::TRACE_SQL,
            &[
                ("trace_filename", &name),
                ("adr_home", &None::<String>),
                ("inst_id", &None::<i64>),
            ],
        )
        .unwrap();
    let mut payloads = Vec::new();
    for row in rows {
        let payload: Option<String> = row.unwrap().get(0).unwrap();
        payloads.push(payload.unwrap_or_default());
    }
    let from_view: Vec<&str> = payloads
        .iter()
        .flat_map(|p| p.strip_suffix('\n').unwrap_or(p).split('\n'))
        .collect();
    let from_file: Vec<&str> = file.lines().collect();
    assert_eq!(
        from_view.len(),
        from_file.len(),
        "every line of the file comes back"
    );
    for (at, (view, file)) in from_view.iter().zip(&from_file).enumerate() {
        assert_eq!(view, file, "line {} differs", at + 1);
    }
}

/// Resident memory of process `pid`, in KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Messages of SYS.ALERT_QUE still waiting for DBALERT.
fn alert_que_waiting(admin: &oracle::Connection) -> i64 {
    admin
        .query_row_as::<i64>(
            "select count(*) from sys.aq$alert_qt \
             where consumer_name = 'DBALERT' and msg_state in ('READY', 'WAITING')",
            &[],
        )
        .unwrap()
}

/// 1,000 object-payload dequeues (`SYS.ALERT_TYPE`, through the PL/SQL block) in one `dbalert
/// run`: the client's resident memory after the last 500 stays within 8 MiB of what it was
/// after the first 500. The crate's array dequeue leaked on every call, and its object payload
/// was released twice. Messages alternate raise and clear of one alert, so dbalert's own state
/// does not grow.
#[test]
fn oracle_object_queue_soak_keeps_client_memory_flat() {
    let Some(((user, password, connect), admin)) = dsn_and_admin() else {
        return;
    };
    let config = format!(
        "state: {{path: state.db}}\n\
         sources:\n  ora:\n    oracle: {{connect: '{connect}', user: '{user}', password: '${{env:ORACLE_PASSWORD}}', call_timeout: 30s}}\n\
         receivers:\n  team:\n    stdout: {{format: text}}\n\
         route: {{receiver: team, group_by: ['...'], group_wait: 0s, group_interval: 1s}}\n\
         checks:\n  - {{name: soak, source: ora, interval: 1s, queue: {{name: SYS.ALERT_QUE, consumer: DBALERT, wait: 1s}}}}\n"
    );
    let dir = workdir(&[("alerts.yaml", &config)]);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dbalert"))
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("ORACLE_PASSWORD", &password)
        .env_remove("RUST_LOG")
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Enqueue 100 at a time (50 raises, 50 clears) and wait until dbalert took them.
    let mut rss = Vec::new();
    for round in 1..=10 {
        // Nested blocks: each enqueue is its own declare ... end;
        admin_run(
            &admin,
            &format!(
                "begin for i in 1 .. 50 loop {} {} end loop; end;",
                enqueue_alert(5, "DBALERT_SOAK"),
                enqueue_alert(32, "DBALERT_SOAK")
            ),
        );
        let started = std::time::Instant::now();
        while alert_que_waiting(&admin) > 0 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(120),
                "round {round}: dbalert does not drain the queue"
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        rss.push(rss_kib(pid));
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let growth = rss[9].saturating_sub(rss[4]);
    assert!(
        growth < 8 * 1024,
        "resident memory grew by {growth} KiB over the last 500 dequeues: {rss:?} KiB"
    );
}

/// A config with source `ora` on the DSN, one principal and `actions`, for `actions test`.
fn action_config((user, _, connect): &(String, String, String), actions: &str) -> String {
    format!(
        "state: {{path: state.db}}\n\
         sources:\n  ora:\n    oracle: {{connect: '{connect}', user: '{user}', password: '${{env:ORACLE_PASSWORD}}', call_timeout: 30s}}\n\
         access:\n  dba: {{users: [U0DBA]}}\n\
         actions:\n{actions}"
    )
}

fn action_test(dir: &Path, password: &str, args: &[&str]) -> std::process::Output {
    dbalert(dir)
        .env("ORACLE_PASSWORD", password)
        .env("USER", "tester")
        .args(["actions", "test"])
        .args(args)
        .arg("--execute")
        .output()
        .unwrap()
}

/// A `query` action runs through the Oracle driver with its parameters bound (`:n`, and the
/// reserved `:requested_by`), and prints the rows.
#[test]
fn oracle_query_action_binds_its_parameters() {
    let Some(dsn) = dsn() else {
        return;
    };
    let actions = "  - name: double\n    source: ora\n    kind: query\n    \
        sql: select :n * 2 as doubled, :requested_by as who from dual\n    \
        params: [{name: n, type: int}]\n    allow: [dba]\n";
    let dir = workdir(&[("alerts.yaml", &action_config(&dsn, actions))]);
    let out = action_test(dir.path(), &dsn.1, &["double", "21"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(text.contains("42"), "{text}");
    assert!(text.contains("cli:tester"), "{text}");
    assert!(text.contains("(1 row;"), "{text}");
}

/// A `call` action commits on success and rolls back on error: the row inserted before the
/// PL/SQL block raises is gone afterwards. The table is made by the admin in the DSN user's
/// schema and dropped at the end.
#[test]
fn oracle_call_action_commits_on_success_and_rolls_back_on_error() {
    let Some((dsn, admin)) = dsn_and_admin() else {
        return;
    };
    let table = format!("{}.dbalert_live_actions", dsn.0);
    let _ = admin.execute(&format!("drop table {table}"), &[]);
    admin_run(&admin, &format!("create table {table} (n number)"));
    admin_run(
        &admin,
        &format!("grant insert, select on {table} to {}", dsn.0),
    );
    let actions = format!(
        "  - name: record\n    source: ora\n    kind: call\n    \
         sql: \"begin insert into {table} (n) values (:n); \
         if :n < 0 then raise_application_error(-20001, 'negative'); end if; end;\"\n    \
         params: [{{name: n, type: int}}]\n    allow: [dba]\n"
    );
    let dir = workdir(&[("alerts.yaml", &action_config(&dsn, &actions))]);
    let done = action_test(dir.path(), &dsn.1, &["record", "7"]);
    assert!(done.status.success(), "{}", stderr_of(&done));
    assert!(stdout_of(&done).contains("done:"), "{}", stdout_of(&done));
    let failed = action_test(dir.path(), &dsn.1, &["record", "n=-1"]);
    assert!(!failed.status.success());
    assert!(
        stderr_of(&failed).contains("ORA-20001"),
        "{}",
        stderr_of(&failed)
    );
    let rows: Vec<i64> = admin
        .query_as::<i64>(&format!("select n from {table} order by n"), &[])
        .unwrap()
        .map(Result::unwrap)
        .collect();
    admin_run(&admin, &format!("drop table {table}"));
    assert_eq!(rows, [7], "the failed call's insert was rolled back");
}
