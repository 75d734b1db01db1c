//! The opt-in live Oracle suite: set `DBALERT_TEST_ORACLE_DSN=user/password@connect` (with
//! Instant Client installed) to run dbalert against a real Oracle database. It was not run on
//! the project's machines, which have neither; without the variable each test says it skipped.

use crate::support::fake_slack::FakeSlack;
use crate::support::{dbalert, stderr_of, workdir};

/// `(user, password, connect)` from `DBALERT_TEST_ORACLE_DSN`, or `None` (and a note) to skip.
fn dsn() -> Option<(String, String, String)> {
    let Ok(dsn) = std::env::var("DBALERT_TEST_ORACLE_DSN") else {
        eprintln!(
            "SKIPPED: set DBALERT_TEST_ORACLE_DSN=user/password@connect to run the Oracle tests"
        );
        return None;
    };
    let (credentials, connect) = dsn
        .rsplit_once('@')
        .expect("DBALERT_TEST_ORACLE_DSN is user/password@connect");
    let (user, password) = credentials
        .split_once('/')
        .expect("DBALERT_TEST_ORACLE_DSN is user/password@connect");
    Some((user.to_owned(), password.to_owned(), connect.to_owned()))
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
