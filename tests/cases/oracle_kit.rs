//! The Oracle kit: `sql/oracle/*.sql` and the check pack `examples/oracle/alerts.yaml`.
//! No Oracle server runs here, so the SQL is checked with an offline Oracle-dialect parser
//! (sqlglot, installed by `.ci/run`), the grant script against the views the checks read,
//! and the pack by loading it with the real binary.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::support::{dbalert, stdout_of, workdir};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `(check name, sql)` of every check of the pack, read with the YAML parser dbalert uses.
fn pack_statements() -> Vec<(String, String)> {
    let pack: serde_json::Value =
        serde_saphyr::from_str(&read("examples/oracle/alerts.yaml")).expect("pack is YAML");
    let checks = pack["checks"].as_array().expect("pack has checks");
    let statements: Vec<(String, String)> = checks
        .iter()
        .map(|check| {
            let name = check["name"].as_str().expect("check has a name").to_owned();
            let sql = check["sql"]
                .as_str()
                .unwrap_or_else(|| panic!("check {name} has sql"))
                .to_owned();
            (name, sql)
        })
        .collect();
    assert_eq!(statements.len(), 9, "the pack ships nine checks");
    statements
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

/// `v$x`, `gv$x` and `dba_x` read by the pack, as the objects they are granted on.
fn objects_read() -> BTreeSet<String> {
    let name = regex::Regex::new(r"\b(gv\$|v\$|dba_)([a-z0-9_$#]+)").unwrap();
    let mut objects = BTreeSet::new();
    for (_, sql) in pack_statements() {
        for m in name.captures_iter(&sql.to_lowercase()) {
            let prefix = match &m[1] {
                "v$" => "V_$",
                "gv$" => "GV_$",
                _ => "DBA_",
            };
            objects.insert(format!("SYS.{prefix}{}", m[2].to_uppercase()));
        }
    }
    objects
}

#[test]
fn grant_script_covers_every_view_the_checks_read() {
    let read = objects_read();
    assert!(
        read.contains("SYS.V_$DIAG_ALERT_EXT") && read.contains("SYS.GV_$SESSION"),
        "extraction found {read:?}"
    );
    let grant =
        regex::Regex::new(r"(?im)^\s*GRANT\s+SELECT\s+ON\s+(\S+)\s+TO\s+dbalert_reader\s*;")
            .unwrap();
    let granted: BTreeSet<String> = grant
        .captures_iter(&self::read("sql/oracle/01_user.sql"))
        .map(|c| c[1].to_uppercase())
        .collect();
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
        stdout.ends_with("(1 source, 3 receivers, 9 checks)\n"),
        "{stdout}"
    );
}
