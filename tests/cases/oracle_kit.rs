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
            "99_uninstall.sql",
            "chatops_api.sql",
            "chatops_audit.sql"
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
    let failed = python(PARSE, &serde_json::json!(items));
    serde_json::from_value(failed).expect("the script prints a JSON list")
}

/// Runs a Python `script` with `input` as JSON on stdin; returns the JSON it prints.
fn python(script: &str, input: &serde_json::Value) -> serde_json::Value {
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "sqlglot script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}

/// Whether the sqlglot tests can run; under CI they must.
fn require_sqlglot(test: &str) -> bool {
    if sqlglot_available() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "python3 cannot import sqlglot: .ci/run must install it \
             (python3 -m pip install 'sqlglot>=25')"
        );
    }
    eprintln!("SKIPPED {test}: python3 -m pip install 'sqlglot>=25'");
    false
}

#[test]
fn every_shipped_oracle_statement_parses() {
    if !require_sqlglot("every_shipped_oracle_statement_parses") {
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
        read.contains("SYS.GV_$DIAG_ALERT_EXT")
            && read.contains("SYS.GV_$SESSION")
            && read.contains("SYS.GV_$DIAG_TRACE_FILE_CONTENTS"),
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

/// ALERT_QUE's object payloads are dequeued by a PL/SQL block calling DBMS_AQ.DEQUEUE, and
/// PL/SQL (unlike OCI) checks EXECUTE on DBMS_AQ: 03 grants it to DBALERT, and 04 takes it back.
#[cfg(feature = "oracle")]
#[test]
fn alert_que_scripts_grant_the_package_the_dequeue_block_calls() {
    let block = dbalert::source::oracle::aq::ObjectDequeue::new("SYS", "ALERT_TYPE", &[]);
    assert!(block.plsql.contains("dbms_aq.dequeue("));
    let grant =
        regex::Regex::new(r"(?im)^\s*GRANT\s+EXECUTE\s+ON\s+SYS\.DBMS_AQ\s+TO\s+dbalert\s*;")
            .unwrap();
    assert!(grant.is_match(&read("sql/oracle/03_alert_que.sql")));
    assert!(
        read("sql/oracle/04_remove_alert_que.sql")
            .contains("REVOKE EXECUTE ON SYS.DBMS_AQ FROM dbalert")
    );
}

#[test]
fn check_pack_loads() {
    let dir = workdir(&[]);
    let output = dbalert(dir.path())
        .env("PROD_ORACLE_CONNECT", "//db1.example.com:1521/PRODPDB1")
        .env("PROD_DBALERT_PASSWORD", "secret")
        .env("PROD_CHATOPS_PASSWORD", "secret")
        .arg("-c")
        .arg(root().join("examples/oracle/alerts.yaml"))
        .arg("check")
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = stdout_of(&output);
    assert!(
        stdout.ends_with("(2 sources, 3 receivers, 10 checks)\n"),
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

/// What sqlglot reads in one Oracle statement (`{"sql", "messages", "values"}` on stdin):
/// the tables, the select-list names, each WHERE conjunct that is an OR of LIKEs (as
/// `[column, pattern]` pairs), the pattern of each REGEXP_SUBSTR column and what it extracts
/// from `messages`, and each text conversion (TO_DSINTERVAL, TO_DATE) with the REGEXP_LIKE
/// patterns of the CASE WHEN that guards it (null: unguarded) and whether they accept
/// `values`. Python's `re` reads these patterns as Oracle does (bracket classes, `\s`, `\S`,
/// lazy `+?`, `{n}`).
const FACTS: &str = r#"
import json, re, sys, sqlglot
from sqlglot import exp
req = json.load(sys.stdin)
tree = sqlglot.parse_one(req["sql"], read="oracle")
def conj(e):
    if e is None:
        return []
    e = e.unnest()
    return conj(e.left) + conj(e.right) if isinstance(e, exp.And) else [e]
def disj(e):
    e = e.unnest()
    return disj(e.left) + disj(e.right) if isinstance(e, exp.Or) else [e]
where = tree.args.get("where")
likes = []
for c in conj(where.this if where else None):
    ds = disj(c)
    if all(isinstance(d, exp.Like) for d in ds):
        likes.append([[d.this.sql().lower(), d.expression.this] for d in ds])
regexp_substr = {}
for s in tree.selects:
    f = s.this if isinstance(s, exp.Alias) else s
    if isinstance(f, exp.RegexpSubstr):
        regexp_substr[s.alias_or_name.lower()] = f.expression.this
def guards(node):
    child, parent = node, node.parent
    while parent is not None:
        if isinstance(parent, exp.If) and parent.args.get("true") is child:
            found = [r.expression.this for r in parent.this.find_all(exp.RegexpLike)]
            if found:
                return found
        child, parent = parent, parent.parent
    return None
conversions = []
for n in tree.walk():
    anonymous = n.name.upper() if isinstance(n, exp.Anonymous) else ""
    if isinstance(n, (exp.StrToDate, exp.StrToTime)) or anonymous == "TO_DSINTERVAL":
        g = guards(n)
        conversions.append({
            "call": n.sql("oracle"),
            "guards": g,
            "accepts": [any(re.search(p, v) for p in g) for v in req.get("values", [])] if g else None,
        })
def extract(pattern, text):
    m = re.search(pattern, text, re.M)
    return (m.group(1) if m.re.groups else m.group(0)) if m else None
print(json.dumps({
    "tables": sorted({t.name.lower() for t in tree.find_all(exp.Table)}),
    "columns": [s.alias_or_name.lower() for s in tree.selects],
    "likes": likes,
    "extracted": {a: [extract(p, t) for t in req.get("messages", [])] for a, p in regexp_substr.items()},
    "conversions": conversions,
}))
"#;

fn facts(sql: &str, messages: &[&str], values: &[&str]) -> serde_json::Value {
    python(
        FACTS,
        &serde_json::json!({"sql": sql, "messages": messages, "values": values}),
    )
}

fn pack_check(name: &str) -> serde_json::Value {
    pack_checks()
        .into_iter()
        .find(|check| check["name"] == name)
        .unwrap_or_else(|| panic!("the pack has no check {name}"))
}

/// On RAC the alert log says "Global Enqueue Services Deadlock detected" and no ORA-00060, and
/// each instance writes its own: the pack's deadlock check selects both message forms from
/// GV$DIAG_ALERT_EXT, keys on the instance, finds the trace in both forms, and reads only
/// views 01_user.sql grants.
#[test]
fn the_deadlock_check_reads_both_message_forms_on_every_instance() {
    if !require_sqlglot("the_deadlock_check_reads_both_message_forms_on_every_instance") {
        return;
    }
    let check = pack_check("oracle_deadlock");
    assert_eq!(check["deadlock_trace"], true);
    let key: Vec<&str> = check["key"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(
        key.contains(&"inst_id") && key.contains(&"adr_home") && key.contains(&"record_id"),
        "{key:?}"
    );
    let path = "/u01/diag/rdbms/rac/RAC1/trace/RAC1_ora_3457040.trc";
    let messages = [
        format!(
            "ORA-00060: Deadlock detected. See Note 60.1 at My Oracle Support for Troubleshooting ORA-60 Errors. More info in file {path}."
        ),
        format!("PDB1(3):ORA-00060: Deadlock detected. More info in file {path}."),
        format!("Global Enqueue Services Deadlock detected. More info in file\n{path}."),
        "Global Enqueue Services Deadlock detected. More info in file\n/u01/diag/rdbms/rac/RAC1/trace/RAC1_lmd0_30429.trc.".to_owned(),
    ];
    let messages: Vec<&str> = messages.iter().map(String::as_str).collect();
    let sql = check["sql"].as_str().unwrap();
    let found = facts(sql, &messages, &[]);

    assert_eq!(found["tables"], serde_json::json!(["gv$diag_alert_ext"]));
    let columns = found["columns"].as_array().unwrap();
    for column in ["inst_id", "adr_home", "trace_file", "record_id"] {
        assert!(columns.contains(&column.into()), "{column}: {columns:?}");
    }
    // Some WHERE conjunct ORs LIKEs on message_text; every message form passes it.
    let alternatives: Vec<Vec<(String, String)>> =
        serde_json::from_value(found["likes"].clone()).unwrap();
    let on_message: Vec<&Vec<(String, String)>> = alternatives
        .iter()
        .filter(|alt| alt.iter().all(|(column, _)| column == "message_text"))
        .collect();
    assert_eq!(on_message.len(), 1, "{alternatives:?}");
    let patterns: Vec<&str> = on_message[0].iter().map(|(_, p)| p.as_str()).collect();
    assert!(
        patterns.contains(&"%ORA-00060%")
            && patterns.contains(&"%Global Enqueue Services Deadlock detected%"),
        "{patterns:?}"
    );
    for message in &messages {
        assert!(
            patterns.iter().any(|p| {
                let inner = p.trim_matches('%');
                !inner.contains(['%', '_']) && message.contains(inner)
            }),
            "{message:?} is not selected by {patterns:?}"
        );
    }
    // The trace_file column finds the path of either form, as trace_file() does.
    let extracted = found["extracted"]["trace_file"].as_array().unwrap();
    for (message, got) in messages.iter().zip(extracted) {
        let want = dbalert::source::oracle::trace::trace_file(message);
        assert_eq!(got.as_str(), want, "{message:?}");
        assert!(want.is_some(), "{message:?}");
    }

    // The trace read goes to the instance that wrote the trace, and both views are granted.
    let trace = facts(dbalert::source::oracle::trace::TRACE_SQL, &[], &[]);
    assert_eq!(
        trace["tables"],
        serde_json::json!(["gv$diag_trace_file_contents"])
    );
    let granted = granted_in("01_user.sql");
    for view in ["SYS.GV_$DIAG_ALERT_EXT", "SYS.GV_$DIAG_TRACE_FILE_CONTENTS"] {
        assert!(granted.contains(view), "01_user.sql does not grant {view}");
    }
}

/// VALUE of V$DATAGUARD_STATS is an interval only on the lag rows: no conversion of the Data
/// Guard check may run on a row before the row's form was checked (ORA-01867).
#[test]
fn the_data_guard_check_converts_only_text_of_the_right_form() {
    if !require_sqlglot("the_data_guard_check_converts_only_text_of_the_right_form") {
        return;
    }
    let sql = pack_check("oracle_dataguard_lag")["sql"]
        .as_str()
        .unwrap()
        .to_owned();
    // Values V$DATAGUARD_STATS shows: lag intervals, then what the other rows hold.
    let values = ["+00 00:00:03", "+00 01:12:09", "+01 00:00:00.5"];
    let found = facts(&sql, &[], &values);
    let conversions = found["conversions"].as_array().unwrap();
    let dsinterval = conversions
        .iter()
        .filter(|c| c["call"].as_str().unwrap().starts_with("TO_DSINTERVAL"))
        .count();
    assert_eq!(dsinterval, 4, "{conversions:#?}");
    for conversion in conversions {
        assert!(
            conversion["guards"].is_array(),
            "not inside CASE WHEN regexp_like(...) THEN: {}",
            conversion["call"]
        );
    }
    for conversion in conversions
        .iter()
        .filter(|c| c["call"].as_str().unwrap().starts_with("TO_DSINTERVAL"))
    {
        assert_eq!(
            conversion["accepts"],
            serde_json::json!([true, true, true]),
            "lag values pass the guard: {conversion}"
        );
        let refused = facts(&sql, &[], &["16", "0", "", "+00 00:00", "1 day"]);
        let refused = &refused["conversions"][0]["accepts"];
        assert_eq!(
            refused,
            &serde_json::json!([false, false, false, false, false]),
            "other text does not pass"
        );
    }
    let dates = facts(
        &sql,
        &[],
        &["11/23/2026 08:14:02", "2026-11-23 08:14:02", "N/A"],
    );
    let to_date = dates["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["call"].as_str().unwrap().starts_with("TO_DATE"))
        .expect("datum_time is converted")
        .clone();
    assert_eq!(to_date["accepts"], serde_json::json!([true, false, false]));
}

/// The reason lookup of ALERT_QUE messages, run on SQLite (sqlglot transpiles it) against
/// tables shaped like the two views: a stateful alert raised and cleared before dbalert took
/// the raise reads its `cleared` history row, not an `N/A` one.
#[cfg(feature = "oracle")]
#[test]
fn the_reason_lookup_prefers_the_cleared_history_row() {
    if !require_sqlglot("the_reason_lookup_prefers_the_cleared_history_row") {
        return;
    }
    const RUN: &str = r#"
import json, sqlite3, sys, sqlglot
req = json.load(sys.stdin)
sql = sqlglot.transpile(req["sql"], read="oracle", write="sqlite")[0]
db = sqlite3.connect(":memory:")
cols = "sequence_id, reason_id, owner, object_type, object_name, subobject_name, reason, suggested_action"
db.execute(f"create table dba_outstanding_alerts ({cols})")
db.execute(f"create table dba_alert_history ({cols}, resolution)")
for row in req["outstanding"]:
    db.execute("insert into dba_outstanding_alerts values (?, ?, ?, ?, ?, ?, ?, ?)", row)
for row in req["history"]:
    db.execute("insert into dba_alert_history values (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
out = []
for binds in req["lookups"]:
    out.append(db.execute(sql, binds).fetchall())
print(json.dumps(out))
"#;
    let alert = |seq: i64, reason: &str| {
        serde_json::json!([
            seq,
            9,
            null,
            "TABLESPACE",
            "USERS",
            null,
            reason,
            "Add space"
        ])
    };
    let history = |seq: i64, reason: &str, resolution: &str| {
        let mut row = alert(seq, reason);
        row.as_array_mut().unwrap().push(resolution.into());
        row
    };
    let lookup = |seq: i64| {
        serde_json::json!({"sequence_id": seq, "reason_id": 9, "owner": "SYS",
            "object_type": "TABLESPACE", "object_name": "USERS", "subobject_name": null})
    };
    let input = serde_json::json!({
        "sql": dbalert::source::oracle::aq::REASON_SQL,
        "outstanding": [alert(1201, "USERS is 91% full")],
        "history": [
            history(1202, "USERS was 91% full", "N/A"),
            history(1202, "USERS was 91% full", "cleared"),
            history(1203, "Snapshot too old", "N/A"),
        ],
        "lookups": [lookup(1201), lookup(1202), lookup(1203), lookup(1299)],
    });
    let rows: Vec<Vec<(String, String, String)>> =
        serde_json::from_value(python(RUN, &input)).unwrap();
    let resolutions: Vec<&str> = rows.iter().map(|r| r[0].2.as_str()).collect();
    assert_eq!(
        resolutions,
        ["outstanding", "cleared", "N/A", "outstanding"],
        "{rows:?}"
    );
}

/// One source per PDB is the supported multitenant set-up: no script or pack comment promises
/// a CDB$ROOT common user (there is no `C##` kit), and docs/oracle.md says so plainly.
#[test]
fn nothing_promises_a_cdb_root_set_up() {
    let mut files = scripts();
    files.push((
        "examples/oracle/alerts.yaml".to_owned(),
        read("examples/oracle/alerts.yaml"),
    ));
    for (name, text) in &files {
        let upper = text.to_uppercase();
        for promise in ["C##", "CONTAINER_DATA", "CONTAINER=ALL", "CONTAINER = ALL"] {
            assert!(!upper.contains(promise), "{name} mentions {promise}");
        }
    }
    for (name, text) in [
        ("sql/oracle/01_user.sql", read("sql/oracle/01_user.sql")),
        (
            "examples/oracle/alerts.yaml",
            read("examples/oracle/alerts.yaml"),
        ),
    ] {
        assert!(
            text.contains("one source per PDB") || text.contains("one dbalert source per PDB"),
            "{name}"
        );
    }
    let docs = read("docs/oracle.md");
    assert!(docs.contains("**One source per PDB is the supported set-up.**"));
}
