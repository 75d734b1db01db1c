//! The small commands and global flags: version, completions, man page, log format.

use crate::support::fake_slack::{FakeSlack, Reply};
use crate::support::{dbalert, stderr_of, stdout_of, workdir};

#[test]
fn completions_and_man_page_are_printed() {
    let dir = workdir(&[]);
    let bash = dbalert(dir.path())
        .args(["completions", "bash"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(
        stdout_of(&bash).contains("_dbalert()"),
        "a bash completion function"
    );
    let zsh = dbalert(dir.path())
        .args(["completions", "zsh"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(stdout_of(&zsh).starts_with("#compdef dbalert"));
    let man = dbalert(dir.path())
        .arg("man")
        .assert()
        .success()
        .get_output()
        .clone();
    let man = stdout_of(&man);
    assert!(man.contains(".TH dbalert 1"), "{man}");
    assert!(man.contains("send"), "subcommands are listed");
}

#[test]
fn version_names_commit_date_features_and_with_v_the_compiler() {
    let dir = workdir(&[]);
    let short = dbalert(dir.path())
        .arg("--version")
        .assert()
        .success()
        .get_output()
        .clone();
    let short = stdout_of(&short);
    let lines: Vec<&str> = short.lines().collect();
    assert_eq!(
        lines[0],
        concat!("dbalert ", env!("CARGO_PKG_VERSION")),
        "{short}"
    );
    assert!(
        lines[1].starts_with("commit: ") && lines[1].len() > "commit: ".len(),
        "{short}"
    );
    let date = lines[2].strip_prefix("built: ").expect(&short);
    assert!(
        date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-',
        "a YYYY-MM-DD date: {short}"
    );
    let features = if cfg!(feature = "oracle") {
        "oracle"
    } else {
        "none"
    };
    assert_eq!(lines[3], format!("features: {features}"), "{short}");
    assert_eq!(lines.len(), 4, "{short}");

    let long = dbalert(dir.path())
        .args(["-v", "-V"])
        .assert()
        .success()
        .get_output()
        .clone();
    let long = stdout_of(&long);
    assert!(long.starts_with(&short), "{long}");
    assert!(long.contains("\nrustc: 1."), "{long}");
    assert!(
        long.contains("\ntarget: x86_64-") || long.contains("\ntarget: aarch64-"),
        "{long}"
    );

    // --version wins over a command (nothing else runs); no command at all prints the help.
    let with_command = dbalert(dir.path())
        .args(["-c", "missing.yaml", "--version", "check"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(stdout_of(&with_command), short);
    dbalert(dir.path()).assert().code(2);
    // Global options before a command still work.
    dbalert(dir.path())
        .args(["-c", "missing.yaml", "check"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("missing.yaml"));
}

#[test]
fn json_logs_are_one_object_per_line_on_stderr() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("jsonlogs");
    slack.script(&hook, [Reply::Status(500, "rollup_error")]);
    let dir = workdir(&[]);
    let output = dbalert(dir.path())
        .args(["--log-format", "json", "send", "--webhook", &hook, "hi"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(stdout_of(&output).is_empty(), "logs never go to stdout");
    let stderr = stderr_of(&output);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert_eq!(lines[0]["level"], "WARN");
    assert_eq!(lines[0]["fields"]["receiver"], "webhook");
    assert_eq!(lines[0]["fields"]["message"], "Delivery failed; retrying.");
}

#[test]
fn quiet_hides_warnings_and_verbose_shows_more() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("verbosity");
    let dir = workdir(&[]);
    slack.script(&hook, [Reply::Status(500, "rollup_error")]);
    let quiet = dbalert(dir.path())
        .args(["-q", "send", "--webhook", &hook, "hi"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(stderr_of(&quiet).is_empty(), "{}", stderr_of(&quiet));
    let verbose = dbalert(dir.path())
        .args(["-vv", "send", "--webhook", &hook, "hi"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(
        stderr_of(&verbose).contains("Delivered."),
        "{}",
        stderr_of(&verbose)
    );
}

/// `dbalert … 2>&1 | head` closes stderr early: the error is lost, the exit code is not (no
/// panic, which would exit 101).
#[test]
fn an_error_to_a_closed_stderr_keeps_its_exit_code() {
    let dir = workdir(&[]);
    let mut child = crate::support::dbalert_process(dir.path())
        .args(["-c", "missing.yaml", "check"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    assert_eq!(child.wait().unwrap().code(), Some(2));
}

/// `dbalert … | head -1` closes stdout early: the command ends quietly with exit code 0, as
/// other Unix tools do, instead of panicking (101) with "failed printing to stdout".
#[test]
fn output_to_a_closed_stdout_ends_quietly() {
    let dir = workdir(&[]);
    let quickstart = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/quickstart/alerts.yaml"
    );
    let chatops = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/chatops/alerts.yaml");
    let commands: [&[&str]; 4] = [
        &["completions", "bash"],
        &["man"],
        &["-c", quickstart, "routes"],
        &["-c", chatops, "actions", "list"],
    ];
    for args in commands {
        let mut child = crate::support::dbalert_process(dir.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr_of(&output)
        );
        assert_eq!(stderr_of(&output), "", "{args:?}");
    }
}
