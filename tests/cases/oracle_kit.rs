//! The Oracle kit: `sql/oracle/*.sql` and the check pack `examples/oracle/alerts.yaml`.
//! No Oracle server runs here, so the SQL is checked with an offline Oracle-dialect parser
//! (sqlglot, installed by `.ci/run`), the grant script against the views the checks read,
//! and the pack by loading it with the real binary.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::support::fake_slack::FakeSlack;
use crate::support::{dbalert, stdout_of, workdir};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The checks of the pack, read with the YAML parser dbalert uses.
fn pack_checks() -> Vec<serde_json::Value> {
    let pack: serde_json::Value =
        serde_saphyr::from_str(&read("examples/oracle/alerts.yaml")).expect("pack is YAML");
    let checks = pack["checks"].as_array().expect("pack has checks").clone();
    assert_eq!(checks.len(), 10, "the pack ships ten checks");
    checks
}

/// `(check name, sql)` of every check of the pack that runs a query (all but queue checks).
fn pack_statements() -> Vec<(String, String)> {
    let statements: Vec<(String, String)> = pack_checks()
        .iter()
        .filter(|check| check.get("queue").is_none())
        .map(|check| {
            let name = check["name"].as_str().expect("check has a name").to_owned();
            let sql = check["sql"]
                .as_str()
                .unwrap_or_else(|| panic!("check {name} has sql"))
                .to_owned();
            (name, sql)
        })
        .collect();
    assert_eq!(statements.len(), 9, "the pack ships nine query checks");
    statements
}

/// `(what, sql)` of the statements dbalert itself runs on Oracle for the pack: the trace read
/// of `deadlock_trace`, and the reason text of `SYS.ALERT_QUE` messages.
fn builtin_statements() -> Vec<(String, String)> {
    let trace = (
        "oracle::trace::TRACE_SQL",
        dbalert::source::oracle::trace::TRACE_SQL,
    );
    #[cfg(feature = "oracle")]
    let all = [
        trace,
        (
            "oracle::aq::REASON_SQL",
            dbalert::source::oracle::aq::REASON_SQL,
        ),
    ];
    #[cfg(not(feature = "oracle"))]
    let all = [trace];
    all.iter()
        .map(|(name, sql)| ((*name).to_owned(), (*sql).to_owned()))
        .collect()
}

/// The scripts of `sql/oracle/`, in the order they are run.
fn scripts() -> Vec<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("sql/oracle"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "01_user.sql",
            "02_app_queue.sql",
            "03_alert_que.sql",
            "04_remove_alert_que.sql",
            "99_uninstall.sql"
        ]
    );
    names
        .into_iter()
        .map(|name| {
            let text = read(&format!("sql/oracle/{name}"));
            (name, text)
        })
        .collect()
}

/// A SQL*Plus script split into plain SQL statements (ending with `;`) and PL/SQL units
/// (anonymous blocks, packages: ended by a line that is just `/`). SQL*Plus commands and
/// comment lines between statements are dropped.
struct Script {
    statements: Vec<String>,
    plsql: Vec<String>,
}

/// `line` without a trailing `--` comment (one outside a quoted string).
fn code_part(line: &str) -> &str {
    let mut quoted = false;
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\'' => quoted = !quoted,
            b'-' if !quoted && bytes.get(i + 1) == Some(&b'-') => return &line[..i],
            _ => {}
        }
    }
    line
}

fn split(name: &str, text: &str) -> Script {
    const SQLPLUS: [&str; 8] = [
        "WHENEVER", "SET", "ACCEPT", "PROMPT", "DEFINE", "SPOOL", "EXIT", "@",
    ];
    const PLSQL: [&str; 3] = ["BEGIN", "DECLARE", "CREATE OR REPLACE PACKAGE"];
    let mut script = Script {
        statements: Vec::new(),
        plsql: Vec::new(),
    };
    let mut current = String::new();
    let mut in_plsql = false;
    for line in text.lines() {
        let trimmed = line.trim();
        let upper = trimmed.to_uppercase();
        if current.is_empty() && !in_plsql {
            if trimmed.is_empty()
                || trimmed.starts_with("--")
                || SQLPLUS.iter().any(|c| upper.starts_with(c))
            {
                continue;
            }
            in_plsql = PLSQL.iter().any(|p| upper.starts_with(p));
        }
        if in_plsql {
            if trimmed == "/" {
                script.plsql.push(std::mem::take(&mut current));
                in_plsql = false;
            } else {
                current.push_str(line);
                current.push('\n');
            }
        } else if trimmed == "/" {
            panic!("{name}: a `/` line after a plain SQL statement would run it twice");
        } else {
            let code = code_part(line).trim_end();
            current.push_str(code);
            current.push('\n');
            if code.ends_with(';') {
                let statement = current.trim_end().trim_end_matches(';').to_owned();
                script.statements.push(statement);
                current.clear();
            }
        }
    }
    assert!(
        current.trim().is_empty(),
        "{name}: unterminated statement or block at the end:\n{current}"
    );
    script
}

fn sqlglot_available() -> bool {
    Command::new("python3")
        .args(["-c", "import sqlglot"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Parses each `(label, sql, strict)` with sqlglot's Oracle dialect; `strict` also refuses
/// sqlglot's fallback to an opaque `Command` (which means it did not understand the syntax).
/// Returns the labels that failed, with sqlglot's message.
const PARSE: &str = r#"
import json, sys, sqlglot
from sqlglot import exp
failed = []
for label, sql, strict in json.load(sys.stdin):
    try:
        trees = [t for t in sqlglot.parse(sql, read="oracle") if t is not None]
        if len(trees) != 1:
            raise ValueError(f"{len(trees)} statements, expected 1")
        if strict and isinstance(trees[0], exp.Command):
            raise ValueError("not understood (parsed as an opaque Command)")
    except Exception as e:
        failed.append(f"{label}: {type(e).__name__}: {e}")
print(json.dumps(failed))
"#;

fn parse_all(items: &[(String, String, bool)]) -> Vec<String> {
    let mut child = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(items).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "sqlglot script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints a JSON list")
}

#[test]
fn every_shipped_oracle_statement_parses() {
    if !sqlglot_available() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "python3 cannot import sqlglot: .ci/run must install it \
                 (python3 -m pip install 'sqlglot>=25')"
            );
        }
        eprintln!(
            "SKIPPED every_shipped_oracle_statement_parses: python3 -m pip install 'sqlglot>=25'"
        );
        return;
    }
    let mut items: Vec<(String, String, bool)> = pack_statements()
        .into_iter()
        .map(|(name, sql)| {
            (
                format!("examples/oracle/alerts.yaml check {name}"),
                sql,
                true,
            )
        })
        .collect();
    items.extend(
        builtin_statements()
            .into_iter()
            .map(|(name, sql)| (format!("dbalert's {name}"), sql, true)),
    );
    for (name, text) in scripts() {
        let script = split(&name, &text);
        assert!(
            !script.statements.is_empty(),
            "{name}: no plain SQL statement found"
        );
        assert!(!script.plsql.is_empty(), "{name}: no PL/SQL block found");
        // sqlglot does not parse PL/SQL, so blocks are only checked to be closed by END.
        for block in &script.plsql {
            let last = block
                .trim_end()
                .lines()
                .last()
                .unwrap()
                .trim()
                .to_uppercase();
            assert!(
                last.starts_with("END") && last.ends_with(';'),
                "{name}: PL/SQL block does not end with END ...;:\n{block}"
            );
        }
        // Plain SQL: SELECT and object GRANT/REVOKE (`... ON ...`) must be understood;
        // sqlglot has no grammar for system-privilege and role grants (GRANT CREATE
        // SESSION TO x, GRANT role TO x), which must still parse without error.
        for (i, statement) in script.statements.into_iter().enumerate() {
            let upper = statement.to_uppercase();
            let strict = upper.starts_with("SELECT") || upper.contains(" ON ");
            items.push((format!("{name} statement {}", i + 1), statement, strict));
        }
    }
    let failed = parse_all(&items);
    assert!(
        failed.is_empty(),
        "not valid Oracle SQL:\n{}",
        failed.join("\n")
    );
}

/// `v$x`, `gv$x` and `dba_x` read by `sql`, as the objects they are granted on.
fn objects_in(sql: &str) -> BTreeSet<String> {
    let name = regex::Regex::new(r"\b(gv\$|v\$|dba_)([a-z0-9_$#]+)").unwrap();
    let mut objects = BTreeSet::new();
    for m in name.captures_iter(&sql.to_lowercase()) {
        let prefix = match &m[1] {
            "v$" => "V_$",
            "gv$" => "GV_$",
            _ => "DBA_",
        };
        objects.insert(format!("SYS.{prefix}{}", m[2].to_uppercase()));
    }
    objects
}

/// The objects the pack's queries read, and the trace view when a check sets
/// `deadlock_trace`.
fn objects_read() -> BTreeSet<String> {
    let mut objects: BTreeSet<String> = pack_statements()
        .iter()
        .flat_map(|(_, sql)| objects_in(sql))
        .collect();
    if pack_checks()
        .iter()
        .any(|check| check["deadlock_trace"] == serde_json::Value::Bool(true))
    {
        objects.extend(objects_in(dbalert::source::oracle::trace::TRACE_SQL));
    }
    objects
}

/// The objects `script` grants SELECT on to the reader role.
fn granted_in(script: &str) -> BTreeSet<String> {
    let grant =
        regex::Regex::new(r"(?im)^\s*GRANT\s+SELECT\s+ON\s+(\S+)\s+TO\s+dbalert_reader\s*;")
            .unwrap();
    grant
        .captures_iter(&read(&format!("sql/oracle/{script}")))
        .map(|c| c[1].to_uppercase())
        .collect()
}

#[test]
fn grant_script_covers_every_view_the_checks_read() {
    let read = objects_read();
    assert!(
        read.contains("SYS.V_$DIAG_ALERT_EXT")
            && read.contains("SYS.GV_$SESSION")
            && read.contains("SYS.V_$DIAG_TRACE_FILE_CONTENTS"),
        "extraction found {read:?}"
    );
    let granted = granted_in("01_user.sql");
    let missing: Vec<_> = read.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "01_user.sql grants no SELECT on {missing:?}"
    );
    // Least privilege: nothing the checks do not read.
    let extra: Vec<_> = granted.difference(&read).collect();
    assert!(
        extra.is_empty(),
        "01_user.sql grants more than needed: {extra:?}"
    );
    assert!(
        !self::read("sql/oracle/01_user.sql")
            .lines()
            .any(|l| !l.trim_start().starts_with("--") && l.to_uppercase().contains(" ANY ")),
        "01_user.sql must not grant an ANY privilege"
    );
}

/// The reason text of ALERT_QUE messages is read with the grants of 01 and 03.
#[cfg(feature = "oracle")]
#[test]
fn alert_que_scripts_grant_what_the_reason_lookup_reads() {
    let read = objects_in(dbalert::source::oracle::aq::REASON_SQL);
    assert_eq!(
        read,
        BTreeSet::from([
            "SYS.DBA_ALERT_HISTORY".to_owned(),
            "SYS.DBA_OUTSTANDING_ALERTS".to_owned()
        ])
    );
    let granted: BTreeSet<String> = granted_in("01_user.sql")
        .into_iter()
        .chain(granted_in("03_alert_que.sql"))
        .collect();
    let missing: Vec<_> = read.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "01 and 03 grant no SELECT on {missing:?}"
    );
}

#[test]
fn check_pack_loads() {
    let dir = workdir(&[]);
    let output = dbalert(dir.path())
        .env("PROD_ORACLE_CONNECT", "//db1.example.com:1521/PRODPDB1")
        .env("PROD_DBALERT_PASSWORD", "secret")
        .arg("-c")
        .arg(root().join("examples/oracle/alerts.yaml"))
        .arg("check")
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = stdout_of(&output);
    assert!(
        stdout.ends_with("(1 source, 3 receivers, 10 checks)\n"),
        "{stdout}"
    );
}

/// A config with an Oracle source `prod` (external authentication: nothing to resolve), a
/// PostgreSQL source `pg`, a SQLite source `app` and `checks` (indented list items).
fn queue_config(checks: &str) -> String {
    format!(
        "state: {{path: state.db}}\n\
         sources:\n  prod:\n    oracle: {{connect: '//127.0.0.1:1/PROD'}}\n  pg:\n    postgres: {{url: 'postgres://dbalert@127.0.0.1:1/app'}}\n  app:\n    sqlite: {{path: app.db}}\n\
         receivers:\n  dba:\n    stdout: {{format: text}}\n\
         route: {{receiver: dba, group_by: [alertname]}}\n\
         checks:\n{checks}"
    )
}

/// `dbalert check` on `config`: (exit code, stderr).
fn check_config(config: &str) -> (Option<i32>, String) {
    let dir = workdir(&[("alerts.yaml", config)]);
    let output = dbalert(dir.path()).arg("check").output().unwrap();
    (output.status.code(), crate::support::stderr_of(&output))
}

#[test]
fn queue_checks_take_the_form_of_their_source_kind() {
    let good = "  - {name: app_alerts, source: prod, queue: {name: DBALERT_OWNER.ALERT_Q, consumer: DBALERT}}\n\
                \x20 - {name: server_alerts, source: prod, queue: {name: SYS.ALERT_QUE, consumer: DBALERT, wait: 10s}}\n\
                \x20 - {name: typed, source: prod, queue: {name: APP.ALERT_Q, payload: {object: APP.ALERT_T}}}\n\
                \x20 - {name: pg_queue, source: pg, queue: {table: dbalert_queue}}\n";
    let (code, stderr) = check_config(&queue_config(good));
    assert_eq!(code, Some(0), "{stderr}");

    // (check, where, what the error says)
    for (check, location, words) in [
        (
            "  - {name: q, source: prod, queue: {table: dbalert_queue}}\n",
            ":14:37: checks[0].queue.table:",
            "`table` is for PostgreSQL queue tables; an oracle source reads an AQ queue: `queue: {name: DBALERT_OWNER.ALERT_Q, consumer: DBALERT}`",
        ),
        (
            "  - {name: q, source: pg, queue: {name: DBALERT_OWNER.ALERT_Q}}\n",
            ":14:35: checks[0].queue.name:",
            "`name` is for Oracle AQ queues; a postgres source reads a queue table",
        ),
        (
            "  - {name: q, source: app, queue: {table: dbalert_queue}}\n",
            ":14:28: checks[0].queue:",
            "source `app` cannot hold a queue; queue checks need a postgres source",
        ),
        (
            "  - {name: q, source: prod, queue: {name: SYS.ALERT_QUE}}\n",
            ":14:29: checks[0].queue:",
            "SYS.ALERT_QUE is a multi-consumer queue: add `consumer:`",
        ),
        (
            "  - {name: q, source: prod, queue: {name: A.Q, wait: 5m}}\n",
            ":14:48: checks[0].queue.wait:",
            "AQ waits in whole seconds, at most 60s",
        ),
        (
            "  - {name: q, source: prod, queue: {name: 'A.Q; drop'}}\n",
            "checks[0].queue.name",
            "is not an Oracle name",
        ),
        (
            "  - {name: q, source: prod, queue: {name: A.Q, payload: json}}\n",
            "checks[0].queue.payload",
            "unknown kind `json`, expected one of `raw`, `object`, `server_alert`",
        ),
    ] {
        let (code, stderr) = check_config(&queue_config(check));
        assert_eq!(code, Some(2), "{check}: {stderr}");
        assert!(stderr.contains(location), "{check}: {stderr}");
        assert!(stderr.contains(words), "{check}: {stderr}");
    }
}

#[test]
fn deadlock_trace_needs_an_oracle_source_a_key_and_sql() {
    let good = "  - {name: d, source: prod, deadlock_trace: true, key: [record_id], sql: 'select 1 as record_id from dual'}\n";
    let (code, stderr) = check_config(&queue_config(good));
    assert_eq!(code, Some(0), "{stderr}");
    for (check, words) in [
        (
            "  - {name: d, source: app, deadlock_trace: true, key: [x], sql: 'select 1 as x'}\n",
            "checks[0].deadlock_trace: `deadlock_trace` reads Oracle trace files; it needs an oracle source",
        ),
        (
            "  - {name: d, source: prod, deadlock_trace: true, sql: 'select 1 as x from dual'}\n",
            "checks[0].deadlock_trace: `deadlock_trace` needs `key:`",
        ),
        (
            "  - {name: d, source: prod, deadlock_trace: true, key: [x], queue: {name: A.Q}}\n",
            "`deadlock_trace` applies to checks with `sql:`, not to queue checks",
        ),
    ] {
        let (code, stderr) = check_config(&queue_config(check));
        assert_eq!(code, Some(2), "{check}: {stderr}");
        assert!(stderr.contains(words), "{check}: {stderr}");
    }
}

#[test]
fn an_aq_queue_check_without_instant_client_fails_alone() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("oracle-aq-missing");
    let text = queue_config(
        "  - {name: app_alerts, source: prod, queue: {name: DBALERT_OWNER.ALERT_Q, consumer: DBALERT}}\n\
         \x20 - {name: server_alerts, source: prod, queue: {name: SYS.ALERT_QUE, consumer: DBALERT}}\n\
         \x20 - {name: deadlocks, source: prod, deadlock_trace: true, key: [record_id], sql: 'select 1 as record_id, null as trace_file from dual'}\n\
         \x20 - {name: problem, source: app, sql: 'select 1 as num', key: [num]}\n",
    )
    .replace(
        "    stdout: {format: text}",
        "    slack: {webhook_url: '${env:HOOK}'}",
    );
    let dir = workdir(&[("alerts.yaml", &text)]);
    rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    let output = dbalert(dir.path())
        .env("HOOK", &hook)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("ORACLE_HOME")
        .arg("poll")
        .output()
        .unwrap();
    let stderr = crate::support::stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "not a panic: {stderr}");
    for check in ["app_alerts", "server_alerts", "deadlocks"] {
        assert!(
            stderr.contains(&format!("check={check} source=prod")),
            "{stderr}"
        );
    }
    assert!(stderr.contains("DPI-1047"), "{stderr}");
    assert!(stderr.contains("install Oracle Instant Client"), "{stderr}");
    let texts: Vec<String> = slack
        .requests_to(&hook)
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("[FIRING:1] problem")),
        "the SQLite check is still delivered: {texts:?}"
    );
}

/// The pack routes a deadlock to every team whose schema took part, as `deadlock_trace`
/// labels it, and by PDB when the trace could not be read.
#[test]
fn pack_routes_deadlocks_by_the_users_in_their_trace() {
    for (labels, receivers) in [
        (
            &["deadlock_users=TEST,ORDERS,BILLING_APP"][..],
            "orders-team,billing-team,dba\n",
        ),
        (&["deadlock_users=ORDERS_EU"][..], "orders-team,dba\n"),
        (&["deadlock_users=REORDERS"][..], "dba\n"),
        (&["pdb=ORDERSPDB"][..], "orders-team,dba\n"),
        (&["deadlock_users=TEST", "pdb=ORDERSPDB"][..], "dba\n"),
    ] {
        let dir = workdir(&[]);
        let output = dbalert(dir.path())
            .env("PROD_ORACLE_CONNECT", "//db1.example.com:1521/PRODPDB1")
            .env("PROD_DBALERT_PASSWORD", "secret")
            .arg("-c")
            .arg(root().join("examples/oracle/alerts.yaml"))
            .args([
                "routes",
                "test",
                "alertname=oracle_deadlock",
                "severity=critical",
            ])
            .args(labels)
            .assert()
            .success()
            .get_output()
            .clone();
        assert_eq!(stdout_of(&output), receivers, "{labels:?}");
    }
}
