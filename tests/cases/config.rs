//! Config errors: one fixture per mistake, each named by file, line, column and key.

use std::path::PathBuf;

use crate::support::{dbalert, stderr_of, workdir};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

/// Runs `dbalert check` on a fixture and returns stderr, asserting exit code 2.
fn check_fails(name: &str) -> String {
    let dir = workdir(&[]);
    let output = dbalert(dir.path())
        .arg("-c")
        .arg(fixture(name))
        .arg("check")
        .assert()
        .code(2)
        .get_output()
        .clone();
    stderr_of(&output)
}

#[test]
fn each_mistake_is_named_by_line_and_key() {
    for (file, location, key, words) in [
        (
            "unknown-key.yaml",
            ":5:7:",
            "receivers.dba.slack.webhok_url",
            "unknown key `webhok_url`",
        ),
        (
            "missing-env.yaml",
            ":5:7:",
            "receivers.dba.slack.webhook_url",
            "`DBALERT_TEST_UNSET_VARIABLE` is not set",
        ),
        (
            "bad-duration.yaml",
            ":6:5:",
            "receivers.dba.timeout",
            "`minutes` is not a unit",
        ),
        (
            "wrong-type.yaml",
            ":6:5:",
            "receivers.dba.max_retries",
            "invalid type: sequence",
        ),
        (
            "receiver-two-kinds.yaml",
            ":3:3:",
            "receivers.dba",
            "more than one kind",
        ),
        (
            "slack-token-no-channel.yaml",
            ":4:5:",
            "receivers.orders.slack.channel",
            "a bot token needs `channel`",
        ),
        (
            "slack-webhook-and-token.yaml",
            ":6:7:",
            "receivers.orders.slack.token",
            "not both",
        ),
        (
            "alertmanager-no-urls.yaml",
            ":5:7:",
            "receivers.cluster.alertmanager.urls",
            "at least one Alertmanager URL",
        ),
        // Caught as it is read since issue 11, at the header itself rather than at `headers`.
        (
            "webhook-bad-header.yaml",
            ":7:9:",
            "receivers.tickets.webhook.headers.Authorization",
            "holds a line break or another control character",
        ),
        (
            "unknown-section.yaml",
            ":2:1:",
            "recievers",
            "unknown section `recievers`",
        ),
        // Issue 11 (item 8).
        (
            "interval-zero.yaml",
            ":12:5:",
            "checks[0].interval",
            "0s is too short; this key takes at least 1s",
        ),
        (
            "timeout-zero.yaml",
            ":6:5:",
            "receivers.dba.timeout",
            "0s is too short; this key takes at least 1s",
        ),
        (
            "duration-repeated-unit.yaml",
            ":6:5:",
            "receivers.dba.deadline",
            "`1h1h1h` repeats a unit",
        ),
        // Issue 11 (item 6).
        (
            "file-reference-device.yaml",
            ":5:7:",
            "receivers.dba.slack.webhook_url",
            "it is a device, not a regular file",
        ),
        (
            "ca-file-device.yaml",
            ":6:7:",
            "receivers.dba.slack.ca_file",
            "it is a device, not a regular file",
        ),
        // Issue 13: the Slack app, access rules, `allow` and `buttons`.
        (
            "slack-app-wrong-prefix.yaml",
            ":5:3:",
            "slack_app.app_token",
            "they start with `xapp-`",
        ),
        (
            "slack-app-http-no-secret.yaml",
            ":2:1:",
            "slack_app.signing_secret",
            "Signing Secret",
        ),
        (
            "slack-app-connections.yaml",
            ":6:3:",
            "slack_app.connections",
            "from 1 to 10",
        ),
        (
            "slack-app-command.yaml",
            ":6:3:",
            "slack_app.command",
            "must be a slash and up to 31 lower-case letters",
        ),
        (
            "access-bad-user.yaml",
            ":4:24:",
            "access.dba.users[1]",
            "`alice` is not a user ID",
        ),
        (
            "allow-unknown-principal.yaml",
            ":7:18:",
            "receivers.orders.allow[1]",
            "no principal named `orders`",
        ),
        (
            "buttons-on-webhook.yaml",
            ":5:5:",
            "receivers.orders.buttons",
            "buttons go on a Slack app receiver",
        ),
        // Issue 11 (item 11).
        (
            "sql-empty.yaml",
            ":12:5:",
            "checks[0].sql",
            "`sql` is empty",
        ),
        // Issue 11 (item 12).
        (
            "secret-line-break.yaml",
            ":5:7:",
            "receivers.bot.slack.token",
            "holds a line break or another control character",
        ),
        // Issue 11 (item 7).
        (
            "template-runaway.yaml",
            ":14:7:",
            "checks[0].annotations.summary",
            "the template cannot be used: it does too much work",
        ),
    ] {
        let stderr = check_fails(file);
        let want = format!("{file}{location} {key}: ");
        assert!(
            stderr.contains(&want),
            "{file}: expected `{want}` in:\n{stderr}"
        );
        assert!(
            stderr.contains(words),
            "{file}: expected `{words}` in:\n{stderr}"
        );
    }
}

// Issue 11 (item 11): FILE:L:C first, as for every other problem, and the parser's own
// snippet heading and option names never shown.
#[test]
fn syntax_errors_are_named_by_line_and_column() {
    for (file, want) in [
        ("yaml-syntax.yaml", ":6:3: not valid YAML: "),
        (
            "yaml-duplicate-key.yaml",
            ":5:3: `console` is written twice in the same map; keep one of them",
        ),
        ("invalid-utf8.yaml", ":5:6: not valid UTF-8 (byte 0xe9"),
    ] {
        let stderr = check_fails(file);
        assert!(
            stderr.contains(&format!("{file}{want}")),
            "{file}: expected `{want}` in:\n{stderr}"
        );
        for jargon in ["<input>", "DuplicateKeyPolicy", "error: line", "Options"] {
            assert!(!stderr.contains(jargon), "{file}: `{jargon}` in:\n{stderr}");
        }
    }
}

// Issue 11 (item 6): a device or a FIFO would be read forever or wait for a writer.
#[test]
fn config_and_file_references_must_be_regular_files() {
    let dir = workdir(&[(
        "alerts.yaml",
        "receivers:\n  dba:\n    slack:\n      webhook_url: ${file:hook}\n",
    )]);
    let fifo = dir.path().join("hook");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let run = |config: &std::path::Path| {
        let output = dbalert(dir.path())
            .arg("-c")
            .arg(config)
            .arg("check")
            .timeout(std::time::Duration::from_secs(20))
            .assert()
            .code(2)
            .get_output()
            .clone();
        stderr_of(&output)
    };
    let stderr = run(&dir.path().join("alerts.yaml"));
    assert!(
        stderr.contains("alerts.yaml:4:7: receivers.dba.slack.webhook_url: cannot read"),
        "{stderr}"
    );
    assert!(
        stderr.contains("it is a FIFO, not a regular file"),
        "{stderr}"
    );
    for (config, words) in [
        (fifo.as_path(), "it is a FIFO, not a regular file"),
        (
            std::path::Path::new("/dev/zero"),
            "it is a device, not a regular file",
        ),
        (dir.path(), "it is a directory, not a regular file"),
    ] {
        let stderr = run(config);
        assert!(stderr.contains("cannot read config file"), "{stderr}");
        assert!(stderr.contains(words), "{stderr}");
    }
    // The io error is printed once, not again as its own cause.
    let stderr = run(&dir.path().join("missing.yaml"));
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn every_problem_in_a_file_is_reported_at_once() {
    let stderr = check_fails("several-problems.yaml");
    assert!(stderr.contains("has 3 problems"), "{stderr}");
    assert!(stderr.contains(":3:3: state.pat: unknown key"), "{stderr}");
    assert!(
        stderr.contains(":7:7: receivers.a.slack.webhook_url: not a URL"),
        "{stderr}"
    );
    assert!(
        stderr.contains(":10:5: receivers.b.send_resolved: invalid type"),
        "{stderr}"
    );
}

#[test]
fn secrets_from_the_environment_never_appear_in_errors() {
    let dir = workdir(&[(
        "alerts.yaml",
        "receivers:\n  dba:\n    slack:\n      webhook_url: https://hooks.example/x\n    max_retries: ${env:RETRIES}\n",
    )]);
    let output = dbalert(dir.path())
        .env("RETRIES", "hunter2-secret")
        .arg("check")
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = stderr_of(&output);
    assert!(stderr.contains("receivers.dba.max_retries"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

// Issue 11 (item 12): a value from the environment is kept out of messages where they quote
// it, and nothing else in them is rewritten (`u32` became `u3(redacted)` when the value was
// `2`; here the value is a word of the message).
#[test]
fn referenced_values_are_redacted_where_quoted_and_nowhere_else() {
    let dir = workdir(&[(
        "alerts.yaml",
        "receivers:\n  dba:\n    slack:\n      webhook_url: https://hooks.example/x\n    max_retries: ${env:RETRIES}\n  ops:\n    stdout: {}\n    timeout: ${env:TIMEOUT}\n",
    )]);
    let output = dbalert(dir.path())
        .env("RETRIES", "whole")
        .env("TIMEOUT", "hunter2secret")
        .arg("check")
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(
            "receivers.dba.max_retries: invalid type: a string, expected a whole number, 0 or more"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("receivers.ops.timeout: `(redacted)` is not a duration"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn inline_secret_in_a_readable_file_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let config =
        "receivers:\n  dba:\n    slack:\n      webhook_url: https://hooks.example/services/T/B/x\n";
    let dir = workdir(&[("alerts.yaml", config)]);
    let file = dir.path().join("alerts.yaml");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = dbalert(dir.path())
        .arg("check")
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = stderr_of(&output);
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(
        stderr.contains("receivers.dba.slack.webhook_url"),
        "{stderr}"
    );
    assert!(!stderr.contains("hooks.example/services"), "{stderr}");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = dbalert(dir.path())
        .arg("check")
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(
        !stderr_of(&output).contains("chmod"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn config_is_found_on_the_search_path() {
    let dir = workdir(&[(
        ".config/dbalert/alerts.yaml",
        "receivers:\n  console:\n    stdout: {}\n",
    )]);
    let output = dbalert(dir.path())
        .arg("check")
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&output.stdout).contains(".config/dbalert/alerts.yaml"));

    let empty = workdir(&[]);
    let output = dbalert(empty.path())
        .arg("check")
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(
        stderr_of(&output).contains("no config file found"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn reference_config_is_valid() {
    let dir = workdir(&[]);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // Copied so that its relative ${file:orders.webhook} reads a file the test provides.
    std::fs::copy(root.join("alerts.yaml"), dir.path().join("alerts.yaml")).unwrap();
    std::fs::write(
        dir.path().join("orders.webhook"),
        "https://hooks.slack.com/services/T0/B0/file\n",
    )
    .unwrap();
    let output = dbalert(dir.path())
        .env(
            "SLACK_DBA_WEBHOOK",
            "https://hooks.slack.com/services/T0/B0/dba",
        )
        .env("BILLING_PG_URL", "postgres://dbalert@db.example/billing")
        .env("PROD_DBALERT_PASSWORD", "secret")
        .env("SLACK_BOT_TOKEN", "xoxb-1-2-abc")
        .env("TICKETS_AUTH", "Bearer abc")
        .arg("check")
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        stdout.ends_with("(3 sources, 6 receivers, 3 checks)\n"),
        "{stdout}"
    );
}

#[test]
fn slack_app_secrets_come_from_references_and_never_appear() {
    let config = "slack_app:\n  team_id: T0123ABCD\n  bot_token: ${env:BOT}\n  app_token: ${file:app.token}\n\
        access:\n  dba: {users: [U024BE7LH], groups: [S0614TZR7], channels: [C024BE91L]}\n\
        receivers:\n  orders:\n    slack: {token: \"${env:BOT}\", channel: C024BE91L}\n    allow: [dba]\n  \
        billing:\n    slack: {token: \"${env:BOT}\", channel: C024BE92L}\n  \
        quiet:\n    slack: {token: \"${env:BOT}\", channel: C024BE93L}\n    buttons: []\n";
    let bot = "xoxb-17-secret-bot-token";
    let dir = workdir(&[
        ("alerts.yaml", config),
        ("app.token", "xapp-1-A0-1-secret-app-token\n"),
    ]);
    let ok = dbalert(dir.path())
        .env("BOT", bot)
        .args(["-vv", "check"])
        .output()
        .unwrap();
    let stderr = stderr_of(&ok);
    assert_eq!(ok.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("receivers.billing: it has no `allow:`, so nobody may use its buttons"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("receivers.quiet"),
        "no buttons, no warning: {stderr}"
    );
    assert!(!stderr.contains("receivers.orders"), "{stderr}");

    // The bot token where the app token belongs: refused, and neither token is printed.
    let swapped = dbalert(dir.path())
        .env("BOT", "xapp-1-A0-1-secret-app-token")
        .args(["-vv", "check"])
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        stderr_of(&swapped),
        crate::support::stdout_of(&swapped)
    );
    assert_eq!(swapped.status.code(), Some(2), "{all}");
    assert!(
        all.contains("slack_app.bot_token: not a token of this kind"),
        "{all}"
    );
    for secret in ["secret-app-token", "secret-bot-token"] {
        assert!(!all.contains(secret), "{all}");
    }
}
