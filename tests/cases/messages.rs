//! Messages through the real binary: `dbalert preview` from rows and from a live query, a
//! receiver's `message:` templates on what Slack and a webhook receive, and template mistakes
//! reported at their place in the config.

use std::path::Path;

use crate::support::fake_slack::FakeSlack;
use crate::support::{dbalert, stderr_of, stdout_of, workdir};

/// A config with one SQLite check of tablespaces and two receivers: `dba` (stdout, default
/// layout) and `orders` (`receiver`, given), routed by owner.
fn config(orders_receiver: &str) -> String {
    let head = "state:\n  path: state.db\nsources:\n  app:\n    sqlite:\n      path: app.db\n";
    let route = [
        "route:",
        "  receiver: dba",
        "  group_by: [alertname, owner]",
        "  routes:",
        "    - matchers: ['owner=\"ORDERS\"']",
        "      receiver: orders",
    ];
    let checks = [
        "checks:",
        "  - name: tablespace_full",
        "    source: app",
        "    sql: select tablespace_name, owner, pct, starts_at from ts",
        "    key: [tablespace_name]",
        "    labels: {severity: warning}",
        "    annotations:",
        "      summary: 'Tablespace {{ row.tablespace_name }} is {{ row.pct }}% full'",
        "      runbook_url: https://wiki.example/tablespace",
    ];
    format!(
        "{head}receivers:\n  dba:\n    stdout: {{format: text}}\n  orders:\n{orders_receiver}{}\n{}\n",
        route.join("\n"),
        checks.join("\n")
    )
}

/// The orders receiver with templates: a title, a text listing every alert, a field, and a
/// label hidden.
const TEMPLATED: &str = r#"    slack:
      webhook_url: ${env:HOOK}
    max_retries: 1
    message:
      title: '{{ common_labels.owner }}: {{ firing | length }} tablespace(s) <!here>'
      text: |
        {% for a in firing %}• *{{ a.labels.tablespace_name }}* {{ a.labels.pct }}% since {{ a.starts_at | slack_date }}
        {% endfor %}
      fields:
        - {title: Receiver, value: '{{ receiver }}'}
      hide_labels: [pct]
"#;

const ROWS: &str = r#"[
  {"tablespace_name": "USERS", "owner": "ORDERS", "pct": 97, "starts_at": "2026-11-23T08:14:02Z"},
  {"TABLESPACE_NAME": "DATA", "OWNER": "ORDERS", "PCT": 93.5, "STARTS_AT": "2026-11-23 09:00:00"},
  {"tablespace_name": "<!channel>", "owner": "BILLING", "pct": 91, "starts_at": null}
]"#;

fn database(dir: &Path) {
    let db = rusqlite::Connection::open(dir.join("app.db")).unwrap();
    db.execute_batch(
        "create table ts (tablespace_name text, owner text, pct integer, starts_at text);
         insert into ts values ('USERS', 'ORDERS', 97, '2026-11-23T08:14:02Z');",
    )
    .unwrap();
}

#[test]
fn preview_from_rows_reads_as_slack_shows_it() {
    let orders = "    stdout: {format: text}\n";
    let dir = workdir(&[("alerts.yaml", &config(orders)), ("rows.json", ROWS)]);
    let output = dbalert(dir.path())
        .args([
            "preview",
            "--check",
            "tablespace_full",
            "--rows",
            "rows.json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let shown = stdout_of(&output);
    let billing = "── to dba\n\
:warning: *[FIRING:1] tablespace_full (owner=BILLING)*\n\
*Tablespace <!channel> is 91% full*\n\
*owner*                                 *tablespace_name*\n\
BILLING                                 <!channel>\n\
*pct*                                   *severity*\n\
91                                      warning\n";
    assert!(shown.starts_with(billing), "{shown}");
    for expected in [
        "── to orders\n:warning: *[FIRING:2] tablespace_full (owner=ORDERS)*\n*Tablespace USERS is 97% full*\n",
        "source *app* · check *tablespace_full* · started 2026-11-23 08:14 UTC\n───\n*Tablespace DATA is 93.5% full*\n",
        "started 2026-11-23 09:00 UTC\n[ Runbook ] https://wiki.example/tablespace\n",
    ] {
        assert!(
            shown.contains(expected),
            "`{expected}` missing from:\n{shown}"
        );
    }
    assert!(
        !shown.contains("*starts_at*"),
        "the time is in the context line:\n{shown}"
    );
}

#[test]
fn preview_json_is_the_payload_each_receiver_would_get() {
    let dir = workdir(&[("alerts.yaml", &config(TEMPLATED)), ("rows.json", ROWS)]);
    let output = dbalert(dir.path())
        .args([
            "preview",
            "--check",
            "tablespace_full",
            "--rows",
            "rows.json",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let lines: Vec<serde_json::Value> = stdout_of(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let receivers: Vec<&str> = lines
        .iter()
        .map(|l| l["receiver"].as_str().unwrap())
        .collect();
    assert_eq!(receivers, ["dba", "orders"]);
    let orders = &lines[1]["payload"];
    assert_eq!(orders["text"], ":warning: ORDERS: 2 tablespace(s) <!here>");
    assert_eq!(
        orders["attachments"][0]["blocks"][0]["text"]["text"],
        "• *USERS* 97% since <!date^1795421642^{date_short_pretty} {time}|2026-11-23 08:14 UTC>\n\
         • *DATA* 93.5% since <!date^1795424400^{date_short_pretty} {time}|2026-11-23 09:00 UTC>"
    );
    assert_eq!(
        orders["attachments"][0]["blocks"][1]["fields"][0]["text"],
        "*Receiver*\norders"
    );
    let dba = lines[0]["payload"].to_string();
    assert!(
        dba.contains("&lt;!channel&gt;") && !dba.contains("<!channel>"),
        "{dba}"
    );
}

#[test]
fn preview_runs_the_live_query() {
    let dir = workdir(&[("alerts.yaml", &config("    stdout: {}\n"))]);
    database(dir.path());
    let output = dbalert(dir.path())
        .args(["preview", "--check", "tablespace_full"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(
        stdout_of(&output).lines().take(3).collect::<Vec<_>>(),
        [
            "── to orders",
            ":warning: *[FIRING:1] tablespace_full (owner=ORDERS)*",
            "*Tablespace USERS is 97% full*",
        ]
    );
    assert!(
        !dir.path().join("state.db").exists(),
        "a preview keeps no state"
    );

    let unknown = dbalert(dir.path())
        .args(["preview", "--check", "nope"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr_of(&unknown)
            .contains("no check `nope` in alerts.yaml; checks there: tablespace_full"),
        "{}",
        stderr_of(&unknown)
    );
}

#[test]
fn preview_rows_that_are_not_rows_are_refused_with_their_place() {
    for (rows, expected) in [
        ("[{\"a\": 1},\n  {\"b\": ]", "rows.json:2:9: not valid JSON"),
        (
            "{\"a\": 1}",
            "rows.json: expected a list of objects, one per row",
        ),
        (
            "[1, 2]",
            "rows.json: expected a list of objects, one per row",
        ),
    ] {
        let dir = workdir(&[
            ("alerts.yaml", &config("    stdout: {}\n")),
            ("rows.json", rows),
        ]);
        let output = dbalert(dir.path())
            .args([
                "preview",
                "--check",
                "tablespace_full",
                "--rows",
                "rows.json",
            ])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{rows}");
        assert!(
            stderr_of(&output).contains(expected),
            "{rows}: {}",
            stderr_of(&output)
        );
    }
}

#[test]
fn templates_shape_what_slack_and_a_webhook_receive() {
    let slack = FakeSlack::start();
    let hook = slack.webhook("templated");
    let tickets = slack.plain_webhook("tickets");
    let receivers = format!(
        "{TEMPLATED}  tickets:\n    webhook: {{url: '{tickets}'}}\n    message:\n      title: 'Ticket for {{{{ group_labels.owner }}}}'\n      text: '{{{{ alerts | length }}}} alert(s) from {{{{ receiver }}}}'\n"
    );
    let config = config(&receivers).replace(
        "      receiver: orders\n",
        "      receiver: orders\n      continue: true\n    - matchers: ['owner=\"ORDERS\"']\n      receiver: tickets\n",
    );
    let dir = workdir(&[("alerts.yaml", &config)]);
    database(dir.path());
    let output = dbalert(dir.path())
        .env("HOOK", &hook)
        .arg("poll")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));

    let sent = slack.requests_to(&hook);
    assert_eq!(sent.len(), 1);
    let payload = sent[0].json();
    assert_eq!(payload["text"], ":warning: ORDERS: 1 tablespace(s) <!here>");
    let ticket = slack.requests_to(&tickets)[0].json();
    assert_eq!(
        ticket["text"],
        ":warning: Ticket for ORDERS\n1 alert(s) from tickets"
    );
}

#[test]
fn template_mistakes_are_config_errors_at_their_place() {
    let broken = r#"    stdout: {}
    message:
      title: '{{ status | uper }}'
      text: |
        fine
        {{ alerts | length }
      fields:
        - {title: X, value: '{{ nope() }}'}
"#;
    let dir = workdir(&[("alerts.yaml", &config(broken))]);
    let output = dbalert(dir.path()).arg("check").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    for expected in [
        "alerts.yaml:13:7: receivers.orders.message.title: template does not work: unknown filter: filter uper is unknown (line 1 of the template)",
        "alerts.yaml:14:7: receivers.orders.message.text: template does not work: syntax error: unexpected `}`, expected end of variable block (line 2 of the template)",
        "alerts.yaml:18:22: receivers.orders.message.fields[0].value: template does not work: unknown function: nope is unknown (line 1 of the template)",
    ] {
        assert!(
            stderr.contains(expected),
            "`{expected}` missing from:\n{stderr}"
        );
    }

    let on_alertmanager =
        "    alertmanager: {urls: ['http://127.0.0.1:9']}\n    message: {title: x}\n";
    let dir = workdir(&[("alerts.yaml", &config(on_alertmanager))]);
    let output = dbalert(dir.path()).arg("check").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains(
            "receivers.orders.message: an alertmanager receiver takes alerts, not messages"
        ),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn check_links_are_buttons_and_must_be_web_urls() {
    let links = "    links:\n      - {title: OEM, url: 'https://oem.example/ts/{{ row.tablespace_name }}'}\n";
    let config = config("    stdout: {format: text}\n") + links;
    let dir = workdir(&[("alerts.yaml", &config), ("rows.json", ROWS)]);
    let output = dbalert(dir.path())
        .args([
            "preview",
            "--check",
            "tablespace_full",
            "--rows",
            "rows.json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let shown = stdout_of(&output);
    assert!(
        shown.contains(
            "[ Runbook ] https://wiki.example/tablespace\n[ OEM ] https://oem.example/ts/USERS\n[ OEM ] https://oem.example/ts/DATA\n"
        ),
        "{shown}"
    );

    let bad = "    links:\n      - {title: Files, url: 'ftp://files.example/x'}\n      - {title: ' ', url: 'https://x.example'}\n";
    let dir = workdir(&[("alerts.yaml", &(config_without_links() + bad))]);
    let output = dbalert(dir.path()).arg("check").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    for expected in [
        "checks[0].links[0].url: `ftp://files.example/x` is not an http or https URL; a button can only open those",
        "checks[0].links[1].title: each link needs a title of its own; it is the button's text",
    ] {
        assert!(
            stderr.contains(expected),
            "`{expected}` missing from:\n{stderr}"
        );
    }
}

fn config_without_links() -> String {
    config("    stdout: {}\n")
}
