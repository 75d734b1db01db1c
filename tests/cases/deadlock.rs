//! `dbalert deadlock [--json] FILE…` through the binary: the JSON lines, the exit codes,
//! standard input, and that the labels are exactly those `deadlock_trace` adds. No config and
//! no database are needed, with or without the `oracle` feature.

use std::path::PathBuf;

use dbalert::source::oracle::trace::{self, TraceRef};
use dbalert::source::{Rows, Value};
use serde_json::Value as Json;

use crate::support::{dbalert, stderr_of, stdout_of, workdir};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/oracle")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const LOCAL: &str = "19c_tx_tm_two_users_synthetic.trc";
const RAC: &str = "rac_11_2_wfg_tm_three_instances.trc";

/// The columns `add_labels` (what `deadlock_trace` runs) adds to a row naming `text`'s file.
fn check_labels(text: &str) -> serde_json::Map<String, Json> {
    let mut rows = Rows::new(["trace_file"]);
    rows.rows
        .push(vec![Value::text("/u01/diag/trace/X_ora_1.trc")]);
    let warnings = trace::add_labels(&mut rows, |_: TraceRef<'_>| Ok(text.to_owned()));
    assert!(warnings.is_empty(), "{warnings:?}");
    rows.columns
        .iter()
        .zip(&rows.rows[0])
        .skip(1)
        .map(|(name, value)| match value {
            Value::Text(text) => (name.clone(), Json::String(text.clone())),
            other => panic!("{name}: {other:?}"),
        })
        .collect()
}

fn json_lines(stdout: &str) -> Vec<Json> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

#[test]
fn json_is_one_object_per_file_with_the_check_labels() {
    let none = "*** 2026-11-23 08:14:02.000\nnothing to see here\n";
    let dir = workdir(&[
        ("local.trc", &fixture(LOCAL)),
        ("traces/rac.trc", &fixture(RAC)),
        ("none.trc", none),
    ]);
    let output = dbalert(dir.path())
        .args([
            "deadlock",
            "--json",
            "local.trc",
            "traces/rac.trc",
            "none.trc",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr_of(&output));
    let stdout = stdout_of(&output);
    for line in stdout.lines() {
        assert!(line.starts_with(r#"{"file":"#), "keys in order: {line}");
    }
    let lines = json_lines(&stdout);
    assert_eq!(lines.len(), 3, "{stdout}");
    for (line, (file, deadlock, text)) in lines.iter().zip([
        ("local.trc", true, fixture(LOCAL)),
        ("traces/rac.trc", true, fixture(RAC)),
        ("none.trc", false, none.to_owned()),
    ]) {
        let object = line.as_object().unwrap();
        assert_eq!(
            object.keys().collect::<Vec<_>>(),
            ["deadlock", "file", "labels"],
            "{line}"
        );
        assert_eq!(line["file"], file, "the path as given");
        assert_eq!(line["deadlock"], deadlock, "{file}");
        let expected = if deadlock {
            check_labels(&text)
        } else {
            serde_json::Map::new()
        };
        assert_eq!(line["labels"], Json::Object(expected), "{file}");
    }
    assert_eq!(lines[0]["labels"]["deadlock_users"], "TEST,ORDERS");
    assert_eq!(lines[1]["labels"]["deadlock_instances"], "4,6,5");
}

#[test]
fn exit_codes_say_whether_every_file_held_a_deadlock() {
    let dir = workdir(&[
        ("a.trc", &fixture(LOCAL)),
        ("b.trc", &fixture("rac_12c_user_session_only.trc")),
        ("empty.trc", ""),
    ]);
    let code = |args: &[&str]| {
        let output = dbalert(dir.path())
            .arg("deadlock")
            .args(args)
            .output()
            .unwrap();
        (output.status.code(), stdout_of(&output), stderr_of(&output))
    };
    let (status, stdout, _) = code(&["a.trc", "b.trc"]);
    assert_eq!(status, Some(0), "every file held a deadlock");
    assert!(
        stdout.contains("a.trc: deadlock (ORA-00060), 2 sessions"),
        "{stdout}"
    );
    assert!(
        stdout.contains("session 85 (ORDERS) waits for X on TX-00090004-00000A12-00000003-00000000 held by session 27 (TEST) in X"),
        "who waited on whom: {stdout}"
    );
    assert!(
        stdout.contains("b.trc: RAC global deadlock, 1 session"),
        "{stdout}"
    );
    assert!(stdout.contains("    deadlock_users=SYS\n"), "{stdout}");

    let (status, stdout, _) = code(&["a.trc", "empty.trc"]);
    assert_eq!(status, Some(1), "one file held none");
    assert!(stdout.contains("empty.trc: no deadlock"), "{stdout}");

    let (status, stdout, stderr) = code(&["--json", "missing.trc", "a.trc", "empty.trc"]);
    assert_eq!(status, Some(2), "a file cannot be read");
    assert!(
        stderr.contains("missing.trc: cannot read the file"),
        "{stderr}"
    );
    assert_eq!(
        json_lines(&stdout).len(),
        2,
        "the other files are still read: {stdout}"
    );

    let (status, _, stderr) = code(&["."]);
    assert_eq!(status, Some(2), "a directory: {stderr}");

    let (status, _, stderr) = code(&[]);
    assert_eq!(status, Some(2), "no FILE is a usage error: {stderr}");
}

#[test]
fn a_dash_reads_standard_input() {
    let dir = workdir(&[]);
    let output = dbalert(dir.path())
        .args(["deadlock", "--json", "-"])
        .write_stdin(fixture("rac_10_2_user_session_only.trc"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let lines = json_lines(&stdout_of(&output));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["file"], "-");
    assert_eq!(lines[0]["deadlock"], true);
    assert_eq!(lines[0]["labels"]["deadlock_users"], "TBS_ZXY");

    // Not UTF-8 (a Latin-1 statement) is read, not refused.
    let mut bytes = fixture("9i_tm_sql_before_graph.trc").into_bytes();
    bytes.extend_from_slice(b"\nupdate t set name = 'M\xfcller'\n");
    let output = dbalert(dir.path())
        .args(["deadlock", "-"])
        .write_stdin(bytes)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(stdout_of(&output).starts_with("-: deadlock (ORA-00060), 2 sessions"));
}
