//! Button clicks, end to end without Slack: real `poll` runs (the binary) post alert messages
//! with buttons to the fake Web API, then `interact::click::Clicks::handle` is given
//! `block_actions` payloads shaped like Slack's, made from the message the fake received, and
//! the state file, the `chat.update` calls, the `response_url` replies, the audit trail and the
//! next polls show what the click did.

use std::path::Path;

use dbalert::interact::{Clicks, Handled, Outcome};
use dbalert::state::{AuditPhase, StateStore};
use serde_json::{Value, json};

use crate::support::alertmanager::Alertmanager;
use crate::support::clock;
use crate::support::fake_slack::FakeSlack;
use crate::support::fake_slack_api::{FakeSlackApi, UPDATE, USERGROUP_MEMBERS};
use crate::support::socket_peer::SocketPeer;
use crate::support::{dbalert, dbalert_process, stderr_of, stdout_of, workdir};

const BOT: &str = "xoxb-clicks-bot-7f3a9c";
const APP: &str = "xapp-1-clicks-app-51e0";
const TEAM: &str = "T0TEAM";
const CHANNEL: &str = "C0ORDERS";
const ALLOWED: &str = "U0ALLOWED";
const IN_GROUP: &str = "U0GROUPY";
const STRANGER: &str = "U0STRANGE";

/// A config with one state check over `problems(name, owner)`, grouped by owner, repeated
/// every second, to the Slack app receiver `team` (`receiver` extra keys), plus `extra`
/// top-level YAML.
fn config(api_url: &str, receiver: &str, extra: &str) -> String {
    format!(
        "state:\n  path: state.db\n\
         sources:\n  app:\n    sqlite:\n      path: app.db\n\
         slack_app:\n  bot_token: {BOT}\n  app_token: {APP}\n  team_id: {TEAM}\n  api_url: {api_url}\n\
         access:\n  dba:\n    users: [{ALLOWED}]\n    groups: [S0ORACLE]\n\
         receivers:\n  team:\n    slack: {{token: {BOT}, channel: {CHANNEL}, api_url: \"{api_url}\"}}\n{receiver}\
         {extra}\
         route:\n  receiver: team\n  group_by: [owner]\n  repeat_interval: 1s\n\
         checks:\n  - name: problem\n    source: app\n    sql: select name, owner from problems\n    key: [name]\n"
    )
}

const ALLOW_DBA: &str = "    allow: [dba]\n";

struct Setup {
    dir: tempfile::TempDir,
    db: rusqlite::Connection,
    api: FakeSlackApi,
}

fn setup_with(receiver: &str, extra: &str) -> Setup {
    let api = FakeSlackApi::start(BOT, &[(CHANNEL, "orders-alerts")]);
    api.set_usergroup("S0ORACLE", &[IN_GROUP]);
    let dir = workdir(&[("alerts.yaml", &config(&api.api_url(), receiver, extra))]);
    let db = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    db.execute_batch(
        "create table problems (name text primary key, owner text);
         insert into problems values ('a', 'ORDERS');",
    )
    .unwrap();
    Setup { dir, db, api }
}

fn setup() -> Setup {
    setup_with(ALLOW_DBA, "")
}

impl Setup {
    fn run(&self, args: &[&str]) -> std::process::Output {
        dbalert(self.dir.path()).args(args).output().unwrap()
    }

    fn poll(&self) -> std::process::Output {
        let out = self.run(&["-vv", "poll"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        assert!(!stderr_of(&out).contains("xoxb-"), "{}", stderr_of(&out));
        out
    }

    fn clicks(&self) -> Clicks {
        let config = dbalert::settings::load(&self.dir.path().join("alerts.yaml")).unwrap();
        Clicks::new(
            config.slack_app.as_ref(),
            &config.access,
            &config.receivers,
            &config.state.path,
        )
        .unwrap()
    }

    /// Clicks `action_id` (with a Silence choice for the menu) on the channel's first message
    /// as `user` of `team`, as Slack would send it.
    fn click(&self, user: &str, team: &str, action_id: &str, choice: Option<&str>) -> Handled {
        let message = self.first_message();
        let value = button_value(&message).expect("the message has buttons");
        let payload = payload(&self.api, &message, user, team, action_id, &value, choice);
        self.handle(&payload)
    }

    fn handle(&self, payload: &Value) -> Handled {
        let clicks = self.clicks();
        let request = format!("req-{}", self.api.calls().len());
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let handled = runtime.block_on(clicks.handle(payload, &request));
        assert!(!handled.detail.contains(BOT), "{handled:?}");
        handled
    }

    /// The channel's first message as Slack would send it back in a payload.
    fn first_message(&self) -> Value {
        let posted = self.api.messages(CHANNEL).into_iter().next().unwrap();
        json!({
            "type": "message", "ts": posted.ts, "text": posted.text,
            "blocks": posted.blocks, "attachments": posted.attachments,
        })
    }

    fn store(&self) -> StateStore {
        StateStore::open(&self.dir.path().join("state.db")).unwrap()
    }

    /// (phase, outcome) of the audit trail's rows, oldest first.
    fn audit(&self) -> Vec<(AuditPhase, String, String)> {
        (self.store().audit_trail(100).unwrap().into_iter())
            .map(|e| (e.phase, e.outcome, e.actor))
            .collect()
    }

    /// The texts of the last `chat.update` body, all blocks joined.
    fn last_update(&self) -> String {
        let updates = self.api.calls_to(UPDATE);
        updates
            .last()
            .map(|c| c.body.to_string())
            .unwrap_or_default()
    }
}

fn assert_send<T: Send>(_: &T) {}

/// The transports of `serve` spawn each click on its own task.
#[test]
fn handling_a_click_can_run_on_any_thread() {
    let s = setup();
    s.poll();
    let clicks = s.clicks();
    let payload = json!({});
    assert_send(&clicks.handle(&payload, "r1"));
}

/// The `value` the buttons of a message carry (the Acknowledge or Unsilence button's, or the
/// Silence menu's after its choice), or `None` when it has no dbalert buttons.
fn button_value(message: &Value) -> Option<String> {
    let blocks = message["attachments"][0]["blocks"].as_array()?;
    let actions = blocks.iter().find(|b| b["type"] == "actions")?;
    let elements = actions["elements"].as_array()?;
    elements.iter().find_map(|e| match e["value"].as_str() {
        Some(value) => Some(value.to_owned()),
        None => e["options"][0]["value"]
            .as_str()
            .and_then(|v| v.split_once(' '))
            .map(|(_, id)| id.to_owned()),
    })
}

/// The action ids of a message's dbalert buttons.
fn action_ids(message: &Value) -> Vec<String> {
    let blocks = message["attachments"][0]["blocks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    (blocks.iter().filter(|b| b["type"] == "actions"))
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["action_id"].as_str().map(str::to_owned))
        .collect()
}

/// A `block_actions` payload as Slack sends it for a click on `message`.
fn payload(
    api: &FakeSlackApi,
    message: &Value,
    user: &str,
    team: &str,
    action_id: &str,
    value: &str,
    choice: Option<&str>,
) -> Value {
    let action = match choice {
        Some(choice) => json!({
            "type": "static_select", "action_id": action_id, "block_id": "dbalert.actions.1",
            "selected_option": {"text": {"type": "plain_text", "text": format!("Silence {choice}")}, "value": format!("{choice} {value}")},
            "action_ts": "1700000000.000100",
        }),
        None => json!({
            "type": "button", "action_id": action_id, "block_id": "dbalert.actions.1",
            "text": {"type": "plain_text", "text": "Acknowledge"}, "value": value,
            "action_ts": "1700000000.000100",
        }),
    };
    json!({
        "type": "block_actions",
        "team": {"id": team, "domain": "example"},
        "user": {"id": user, "username": "someone", "team_id": team},
        "api_app_id": "A0DBALERT",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": CHANNEL, "is_ephemeral": false},
        "trigger_id": "1.2.3",
        "channel": {"id": CHANNEL, "name": "orders-alerts"},
        "message": message,
        "response_url": api.response_url(),
        "actions": [action],
    })
}

/// Lets the repeat interval pass for the state file (moved back, not waited for).
fn pass_repeat_interval(dir: &Path) {
    clock::advance(&dir.join("state.db"), std::time::Duration::from_secs(2));
}

fn ack_rows(dir: &Path) -> Value {
    let out = dbalert(dir).args(["ack", "ls", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    serde_json::from_str(&stdout_of(&out)).unwrap()
}

fn silences(dir: &Path) -> Value {
    let out = dbalert(dir)
        .args(["silence", "ls", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    serde_json::from_str(&stdout_of(&out)).unwrap()
}

#[test]
fn ack_stops_repeats_shows_who_and_unack_brings_the_button_back() {
    let s = setup();
    s.poll();
    let message = s.first_message();
    assert_eq!(action_ids(&message), ["dbalert.ack", "dbalert.silence"]);

    let handled = s.click(ALLOWED, TEAM, "dbalert.ack", None);
    assert_eq!(handled.outcome, Outcome::Done, "{handled:?}");
    let acks = ack_rows(s.dir.path());
    assert_eq!(acks.as_array().unwrap().len(), 1, "{acks}");
    assert_eq!(acks[0]["acked_by"], format!("<@{ALLOWED}>"));
    assert!(acks[0]["group_key"].as_str().unwrap().contains("ORDERS"));
    let update = s.last_update();
    assert!(
        update.contains(&format!("Acknowledged by <@{ALLOWED}> at <!date^")),
        "{update}"
    );
    assert!(
        update.contains("dbalert.unack") && !update.contains("\"dbalert.ack\""),
        "{update}"
    );
    assert_eq!(
        action_ids(&s.first_message()),
        ["dbalert.unack", "dbalert.silence"]
    );
    assert_eq!(
        s.audit(),
        [
            (AuditPhase::Intent, "requested".into(), ALLOWED.into()),
            (AuditPhase::Outcome, "done".into(), ALLOWED.into()),
        ]
    );
    assert!(
        s.api.responses().is_empty(),
        "a done click gets no ephemeral reply"
    );

    // Past repeat_interval, the acknowledged group is not repeated.
    let posted = s.api.calls_to("chat.postMessage").len();
    pass_repeat_interval(s.dir.path());
    s.poll();
    assert_eq!(s.api.calls_to("chat.postMessage").len(), posted);

    // Unacknowledge: the row goes, the message offers Acknowledge again, and repeats resume.
    let handled = s.click(ALLOWED, TEAM, "dbalert.unack", None);
    assert_eq!(handled.outcome, Outcome::Done, "{handled:?}");
    assert_eq!(ack_rows(s.dir.path()), json!([]));
    assert_eq!(
        action_ids(&s.first_message()),
        ["dbalert.ack", "dbalert.silence"]
    );
    assert!(!s.last_update().contains("Acknowledged by"));
    pass_repeat_interval(s.dir.path());
    s.poll();
    assert!(
        s.api.calls_to("chat.postMessage").len() > posted,
        "repeated again"
    );
}

#[test]
fn a_later_poll_that_edits_the_parent_keeps_showing_the_ack() {
    let s = setup();
    s.poll();
    assert_eq!(
        s.click(ALLOWED, TEAM, "dbalert.ack", None).outcome,
        Outcome::Done
    );
    // A new alert joins the acknowledged group: it notifies, and the parent is edited.
    s.db.execute("insert into problems values ('b', 'ORDERS')", [])
        .unwrap();
    s.poll();
    let parent = s.first_message();
    assert!(parent.to_string().contains("Acknowledged by"), "{parent}");
    assert_eq!(action_ids(&parent), ["dbalert.unack", "dbalert.silence"]);
}

#[test]
fn silence_mutes_the_group_until_unsilenced() {
    let s = setup();
    s.poll();
    let handled = s.click(ALLOWED, TEAM, "dbalert.silence", Some("1h"));
    assert_eq!(handled.outcome, Outcome::Done, "{handled:?}");
    let list = silences(s.dir.path());
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let silence = &list[0];
    assert_eq!(silence["createdBy"], format!("<@{ALLOWED}>"));
    assert_eq!(silence["comment"], "from Slack");
    assert_eq!(silence["status"]["state"], "active");
    assert_eq!(
        silence["matchers"],
        json!([{"name": "owner", "value": "ORDERS", "isRegex": false, "isEqual": true}])
    );
    let ends = silence["endsAt"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap();
    let starts = silence["startsAt"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap();
    assert_eq!(starts.duration_until(ends).as_secs(), 3600);
    let update = s.last_update();
    assert!(
        update.contains(&format!("Silenced by <@{ALLOWED}> until <!date^")),
        "{update}"
    );
    assert_eq!(
        action_ids(&s.first_message()),
        ["dbalert.ack", "dbalert.unsilence"]
    );

    // A new alert of the silenced group is muted.
    let posted = s.api.calls_to("chat.postMessage").len();
    s.db.execute("insert into problems values ('b', 'ORDERS')", [])
        .unwrap();
    s.poll();
    assert_eq!(s.api.calls_to("chat.postMessage").len(), posted, "muted");

    let handled = s.click(ALLOWED, TEAM, "dbalert.unsilence", None);
    assert_eq!(handled.outcome, Outcome::Done, "{handled:?}");
    assert_eq!(silences(s.dir.path()), json!([]), "expired, so not listed");
    assert_eq!(
        action_ids(&s.first_message()),
        ["dbalert.ack", "dbalert.silence"]
    );
    s.poll();
    assert!(s.api.calls_to("chat.postMessage").len() > posted, "unmuted");
}

#[test]
fn a_user_outside_access_changes_nothing_and_is_told_why() {
    let s = setup();
    s.poll();
    let updates = s.api.calls_to(UPDATE).len();
    for (action, choice) in [("dbalert.ack", None), ("dbalert.silence", Some("24h"))] {
        let handled = s.click(STRANGER, TEAM, action, choice);
        assert_eq!(handled.outcome, Outcome::Denied, "{handled:?}");
    }
    assert_eq!(ack_rows(s.dir.path()), json!([]));
    assert_eq!(silences(s.dir.path()), json!([]));
    assert_eq!(
        s.api.calls_to(UPDATE).len(),
        updates,
        "the message is not touched"
    );
    let replies = s.api.responses();
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert_eq!(replies[0]["response_type"], "ephemeral");
    assert_eq!(replies[0]["replace_original"], false);
    let text = replies[0]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("<@{STRANGER}> is not in `dba`")),
        "{text}"
    );
    let outcomes: Vec<String> = s.audit().into_iter().map(|(_, o, _)| o).collect();
    assert_eq!(outcomes, ["requested", "denied", "requested", "denied"]);
    // The group was looked up (the user could have been in it) and said no.
    assert!(!s.api.calls_to(USERGROUP_MEMBERS).is_empty());
}

#[test]
fn a_member_of_an_allowed_user_group_may_click() {
    let s = setup();
    s.poll();
    let handled = s.click(IN_GROUP, TEAM, "dbalert.ack", None);
    assert_eq!(handled.outcome, Outcome::Done, "{handled:?}");
    assert!(handled.detail.contains("allowed as `dba`"), "{handled:?}");
    let lookups = s.api.calls_to(USERGROUP_MEMBERS);
    assert_eq!(lookups.len(), 1);
    assert_eq!(lookups[0].authorization, format!("Bearer {BOT}"));
    assert_eq!(
        ack_rows(s.dir.path())[0]["acked_by"],
        format!("<@{IN_GROUP}>")
    );
}

#[test]
fn a_user_group_that_cannot_be_looked_up_allows_nobody() {
    let s = setup();
    s.poll();
    s.api.script(
        USERGROUP_MEMBERS,
        [crate::support::fake_slack_api::ApiReply::Error(
            "missing_scope",
        )],
    );
    let handled = s.click(IN_GROUP, TEAM, "dbalert.ack", None);
    assert_eq!(handled.outcome, Outcome::Denied, "{handled:?}");
    assert_eq!(ack_rows(s.dir.path()), json!([]));
}

#[test]
fn a_click_from_another_workspace_is_refused() {
    let s = setup();
    s.poll();
    let updates = s.api.calls_to(UPDATE).len();
    let handled = s.click(ALLOWED, "T0OTHER", "dbalert.ack", None);
    assert_eq!(handled.outcome, Outcome::Denied, "{handled:?}");
    assert!(handled.detail.contains("T0OTHER"), "{handled:?}");
    assert_eq!(ack_rows(s.dir.path()), json!([]));
    assert_eq!(s.api.calls_to(UPDATE).len(), updates);
    let outcomes: Vec<String> = s.audit().into_iter().map(|(_, o, _)| o).collect();
    assert_eq!(outcomes, ["requested", "denied"]);
}

#[test]
fn forged_values_unknown_actions_and_broken_payloads_are_invalid() {
    let s = setup();
    s.poll();
    let message = s.first_message();
    let forged = payload(
        &s.api,
        &message,
        ALLOWED,
        TEAM,
        "dbalert.ack",
        "owner=ORDERS",
        None,
    );
    let unknown = payload(&s.api, &message, ALLOWED, TEAM, "dbalert.run", "x", None);
    let value = button_value(&message).unwrap();
    let bad_choice = payload(
        &s.api,
        &message,
        ALLOWED,
        TEAM,
        "dbalert.silence",
        &value,
        Some("9y"),
    );
    for p in [
        forged,
        unknown,
        bad_choice,
        json!({"type": "block_actions"}),
        json!("x"),
    ] {
        let handled = s.handle(&p);
        assert_eq!(handled.outcome, Outcome::Invalid, "{p}: {handled:?}");
    }
    assert_eq!(ack_rows(s.dir.path()), json!([]));
    assert_eq!(silences(s.dir.path()), json!([]));
    assert!(s.api.calls_to(UPDATE).is_empty());
    let outcomes: Vec<String> = s.audit().into_iter().map(|(_, o, _)| o).collect();
    assert_eq!(outcomes, ["requested", "invalid"].repeat(5));
}

#[test]
fn no_buttons_without_allow_with_buttons_off_or_on_a_webhook() {
    let s = setup_with("", "");
    s.poll();
    assert!(action_ids(&s.first_message()).is_empty());
    let off = setup_with("    allow: [dba]\n    buttons: []\n", "");
    off.poll();
    assert!(action_ids(&off.first_message()).is_empty());
    let ack_only = setup_with("    allow: [dba]\n    buttons: [ack]\n", "");
    ack_only.poll();
    assert_eq!(action_ids(&ack_only.first_message()), ["dbalert.ack"]);

    // A webhook receiver cannot receive clicks: even with `allow:`, its messages carry none.
    let slack = FakeSlack::start();
    let hook = slack.webhook("clicks");
    let unused_api = "http://127.0.0.1:9/api/";
    let text = config(unused_api, ALLOW_DBA, "").replace(
        &format!("slack: {{token: {BOT}, channel: {CHANNEL}, api_url: \"{unused_api}\"}}"),
        &format!("slack: {{webhook_url: \"{hook}\"}}"),
    );
    let dir = workdir(&[("alerts.yaml", &text)]);
    rusqlite::Connection::open(dir.path().join("app.db"))
        .unwrap()
        .execute_batch("create table problems (name text, owner text); insert into problems values ('a', 'ORDERS');")
        .unwrap();
    let out = dbalert(dir.path()).arg("poll").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let sent = slack.requests_to(&hook);
    assert_eq!(sent.len(), 1);
    let body = sent[0].json();
    assert!(!body.to_string().contains("dbalert."), "{body}");
    assert!(!body.to_string().contains("\"actions\""), "{body}");
}

/// An Alertmanager receiver beside the Slack app: the silence goes to the cluster too.
fn with_cluster(url: &str) -> String {
    format!("  am:\n    alertmanager: {{urls: [\"{url}\"]}}\n")
}

#[test]
fn the_alertmanager_cluster_gets_the_silence_and_loses_it_on_unsilence() {
    // No alert reaches this Alertmanager, so its webhook is never called.
    let Some(am) = Alertmanager::start("http://127.0.0.1:9/unused") else {
        return;
    };
    let s = setup_with(ALLOW_DBA, &with_cluster(&am.url()));
    s.poll();
    let handled = s.click(ALLOWED, TEAM, "dbalert.silence", Some("4h"));
    assert_eq!(handled.outcome, Outcome::Done, "{handled:?}");
    assert!(s.api.responses().is_empty(), "{:?}", s.api.responses());
    let in_cluster = am.silences();
    assert_eq!(in_cluster.as_array().unwrap().len(), 1, "{in_cluster}");
    let silence = &in_cluster[0];
    assert_eq!(silence["status"]["state"], "active");
    assert_eq!(silence["createdBy"], format!("<@{ALLOWED}>"));
    assert_eq!(silence["comment"], "from Slack");
    assert_eq!(silence["matchers"][0]["name"], "owner");
    assert_eq!(silence["matchers"][0]["value"], "ORDERS");
    let local = s.store().silences().unwrap();
    assert_eq!(
        s.store().cluster_silences(&local[0].id).unwrap(),
        [(
            dbalert::sink::ReceiverName("am".into()),
            silence["id"].as_str().unwrap().to_owned()
        )]
    );

    let handled = s.click(ALLOWED, TEAM, "dbalert.unsilence", None);
    assert_eq!(handled.outcome, Outcome::Done, "{handled:?}");
    assert_eq!(am.silences()[0]["status"]["state"], "expired");
}

#[test]
fn a_refusing_cluster_is_reported_and_the_local_silence_holds() {
    // Nothing listens on a port just released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let s = setup_with(ALLOW_DBA, &with_cluster(&format!("http://{closed}")));
    s.poll();
    let handled = s.click(ALLOWED, TEAM, "dbalert.silence", Some("1h"));
    assert_eq!(handled.outcome, Outcome::Done, "{handled:?}");
    assert!(
        handled.detail.contains("did not take the silence"),
        "{handled:?}"
    );
    assert_eq!(silences(s.dir.path())[0]["status"]["state"], "active");
    let replies = s.api.responses();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0]["text"]
            .as_str()
            .unwrap()
            .contains("`am` did not take the silence")
    );
}

#[test]
fn silence_add_and_expire_from_the_shell_reach_the_cluster() {
    // No alert reaches this Alertmanager, so its webhook is never called.
    let Some(am) = Alertmanager::start("http://127.0.0.1:9/unused") else {
        return;
    };
    let s = setup_with(ALLOW_DBA, &with_cluster(&am.url()));
    s.poll();
    let out = s.run(&[
        "silence",
        "add",
        "owner=ORDERS",
        "--duration",
        "2h",
        "--comment",
        "maintenance",
        "--author",
        "ops",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let id = stdout_of(&out).trim().to_owned();
    let in_cluster = am.silences();
    assert_eq!(in_cluster[0]["createdBy"], "ops");
    assert_eq!(in_cluster[0]["status"]["state"], "active");
    let out = s.run(&["silence", "expire", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(am.silences()[0]["status"]["state"], "expired");

    // A cluster that cannot be reached: reported, exit 1, and the silence holds here.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let t = setup_with(ALLOW_DBA, &with_cluster(&format!("http://{closed}")));
    t.poll();
    let out = t.run(&[
        "silence",
        "add",
        "owner=ORDERS",
        "--duration",
        "2h",
        "--comment",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("`am` did not take the silence"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(silences(t.dir.path())[0]["status"]["state"], "active");
}

/// A log that a test can read back.
/// `dbalert -vv serve` over the local Socket Mode peer, sent one click envelope per `clicks`
/// (user, envelope id) on the channel's first message, each waited for until its outcome is
/// audited; returns serve's stderr after SIGTERM.
fn serve_clicks(s: &Setup, clicks: &[(&str, &str)]) -> String {
    let peer = SocketPeer::start();
    s.api.socket_mode(APP, &peer.url(), TEAM);
    let message = s.first_message();
    let value = button_value(&message).expect("the message has buttons");
    let log = s.dir.path().join("serve.log");
    let serve = dbalert_process(s.dir.path())
        .args(["-vv", "serve"])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    peer.wait_connections(1);
    let started = std::time::Instant::now();
    for (user, id) in clicks {
        let click = payload(&s.api, &message, user, TEAM, "dbalert.ack", &value, None);
        let envelope = json!({
            "envelope_id": id, "type": "interactive",
            "accepts_response_payload": false, "payload": click,
        });
        peer.send(0, &envelope.to_string());
        peer.wait_ack(0, id);
        let done = || {
            (s.store().audit_trail(100).unwrap().iter())
                .any(|e| e.request_id == *id && e.phase == AuditPhase::Outcome)
        };
        while !done() {
            assert!(started.elapsed().as_secs() < 30, "no outcome for {id}");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    std::process::Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    let status = serve.wait_with_output().unwrap().status;
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    stderr
}

#[test]
fn each_click_is_one_log_line_without_tokens_or_the_response_url() {
    let s = setup();
    s.poll();
    s.api.script(
        USERGROUP_MEMBERS,
        [crate::support::fake_slack_api::ApiReply::Error(
            "invalid_auth",
        )],
    );
    let text = serve_clicks(&s, &[(IN_GROUP, "env-denied"), (ALLOWED, "env-done")]);
    let handled: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Click handled."))
        .collect();
    assert_eq!(handled.len(), 2, "{text}");
    assert!(
        handled[0].contains("outcome=\"denied\"") || handled[0].contains("outcome=denied"),
        "{text}"
    );
    assert!(
        handled[1].contains("outcome=\"done\"") || handled[1].contains("outcome=done"),
        "{text}"
    );
    assert!(
        text.contains("Cannot look up the members of a user group"),
        "{text}"
    );
    for secret in [BOT, APP, "/actions/T0TEAM/"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[test]
fn resolving_ends_the_ack_and_the_resolved_message_has_no_buttons() {
    let s = setup();
    s.poll();
    assert_eq!(
        s.click(ALLOWED, TEAM, "dbalert.ack", None).outcome,
        Outcome::Done
    );
    s.db.execute("delete from problems", []).unwrap();
    s.poll();
    assert_eq!(
        ack_rows(s.dir.path()),
        json!([]),
        "the ack ended with the group"
    );
    let parent = s.first_message();
    assert!(parent.to_string().contains("RESOLVED"), "{parent}");
    assert!(action_ids(&parent).is_empty(), "{parent}");
}

#[test]
fn a_message_that_cannot_be_updated_still_acks_and_says_so() {
    let s = setup();
    s.poll();
    s.api.script(
        UPDATE,
        [crate::support::fake_slack_api::ApiReply::Error(
            "message_not_found",
        )],
    );
    let handled = s.click(ALLOWED, TEAM, "dbalert.ack", None);
    assert_eq!(handled.outcome, Outcome::Done, "{handled:?}");
    assert!(handled.detail.contains("message_not_found"), "{handled:?}");
    assert_eq!(ack_rows(s.dir.path()).as_array().unwrap().len(), 1);
    let replies = s.api.responses();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Done, but the message could not be updated")
    );
}

#[test]
fn a_group_without_labels_cannot_be_silenced_and_nothing_changes() {
    let api = FakeSlackApi::start(BOT, &[(CHANNEL, "orders-alerts")]);
    let text = config(&api.api_url(), ALLOW_DBA, "").replace("group_by: [owner]", "group_by: []");
    let dir = workdir(&[("alerts.yaml", &text)]);
    rusqlite::Connection::open(dir.path().join("app.db"))
        .unwrap()
        .execute_batch("create table problems (name text, owner text); insert into problems values ('a', 'ORDERS');")
        .unwrap();
    let s = Setup {
        db: rusqlite::Connection::open(dir.path().join("app.db")).unwrap(),
        dir,
        api,
    };
    s.poll();
    let handled = s.click(ALLOWED, TEAM, "dbalert.silence", Some("1h"));
    assert_eq!(handled.outcome, Outcome::Failed, "{handled:?}");
    assert!(handled.detail.contains("no labels"), "{handled:?}");
    assert_eq!(silences(s.dir.path()), json!([]));
    assert!(s.api.calls_to(UPDATE).is_empty());
    let replies = s.api.responses();
    assert!(
        replies[0]["text"]
            .as_str()
            .unwrap()
            .contains("Nothing was changed"),
        "{replies:?}"
    );
    let outcomes: Vec<String> = s.audit().into_iter().map(|(_, o, _)| o).collect();
    assert_eq!(outcomes, ["requested", "failed"]);
}

#[test]
fn a_second_silence_click_from_a_stale_message_does_not_stack_silences() {
    let s = setup();
    s.poll();
    let stale = s.first_message();
    assert_eq!(
        s.click(ALLOWED, TEAM, "dbalert.silence", Some("1h"))
            .outcome,
        Outcome::Done
    );
    let value = button_value(&stale).unwrap();
    let again = payload(
        &s.api,
        &stale,
        IN_GROUP,
        TEAM,
        "dbalert.silence",
        &value,
        Some("24h"),
    );
    let handled = s.handle(&again);
    assert_eq!(handled.outcome, Outcome::Done, "{handled:?}");
    assert!(handled.detail.contains("already silenced"), "{handled:?}");
    assert_eq!(silences(s.dir.path()).as_array().unwrap().len(), 1);
    assert_eq!(
        s.click(ALLOWED, TEAM, "dbalert.unsilence", None).outcome,
        Outcome::Done
    );
    assert_eq!(
        silences(s.dir.path()),
        json!([]),
        "Unsilence ended the only one"
    );
}

#[test]
fn a_dry_run_shows_the_buttons_and_a_click_on_buttons_since_removed_is_invalid() {
    let s = setup();
    s.poll();
    let value = button_value(&s.first_message()).unwrap();
    s.db.execute("insert into problems values ('b', 'ORDERS')", [])
        .unwrap();
    let out = s.run(&["poll", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let printed = stdout_of(&out);
    assert!(
        printed.contains("dbalert.ack") && printed.contains(&value),
        "{printed}"
    );

    // The receiver's buttons are turned off: an old message's click no longer acts.
    let file = s.dir.path().join("alerts.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace(ALLOW_DBA, "    allow: [dba]\n    buttons: []\n"),
    )
    .unwrap();
    let handled = s.click(ALLOWED, TEAM, "dbalert.ack", None);
    assert_eq!(handled.outcome, Outcome::Invalid, "{handled:?}");
    assert!(
        handled.detail.contains("no longer shows this button"),
        "{handled:?}"
    );
    assert_eq!(ack_rows(s.dir.path()), json!([]));
}

/// The whole loop through `dbalert serve`: a poll posts the message with its buttons, Slack
/// (the local Socket Mode peer) sends the click as an envelope, `serve` acks the envelope, then
/// acknowledges the group and updates the message.
#[test]
fn a_click_through_socket_mode_is_acked_then_acts_and_updates_the_message() {
    let s = setup();
    s.poll();
    serve_clicks(&s, &[(ALLOWED, "env-click")]);
    assert!(
        s.last_update().contains("Acknowledged by"),
        "{}",
        s.last_update()
    );
    assert!(
        s.last_update().contains("dbalert.unack"),
        "{}",
        s.last_update()
    );
    let acks = s.store().acks().unwrap();
    assert_eq!(acks.len(), 1);
    assert!(acks[0].acked_by.contains(ALLOWED), "{acks:?}");
    let outcomes: Vec<_> = (s.audit().into_iter())
        .filter(|(phase, _, _)| *phase == AuditPhase::Outcome)
        .collect();
    assert_eq!(
        outcomes,
        [(AuditPhase::Outcome, "done".to_owned(), ALLOWED.to_owned())]
    );
}

/// A slash command through `dbalert serve` and the local Socket Mode peer: the envelope is
/// acked, then the ack ("Running …") and the query's rows arrive through `response_url`, in
/// that order, and the request is audited twice.
#[test]
fn a_slash_command_through_socket_mode_runs_a_query_action_on_sqlite() {
    let action = "actions:\n  - name: problems\n    description: Problems of an owner\n    \
                  source: app\n    kind: query\n    \
                  sql: select name from problems where owner = :owner order by name\n    \
                  params:\n      - {name: owner, type: identifier, transform: upper}\n    \
                  allow: [dba]\n";
    let s = setup_with(ALLOW_DBA, action);
    let peer = SocketPeer::start();
    s.api.socket_mode(APP, &peer.url(), TEAM);
    let serve = dbalert_process(s.dir.path())
        .args(["serve"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    peer.wait_connections(1);
    let envelope = json!({
        "envelope_id": "env-slash", "type": "slash_commands", "accepts_response_payload": true,
        "payload": {
            "team_id": TEAM, "user_id": ALLOWED, "channel_id": CHANNEL, "command": "/dbalert",
            "text": "problems orders", "response_url": s.api.response_url_for("slash"),
            "trigger_id": "1.2.3",
        },
    });
    peer.send(0, &envelope.to_string());
    peer.wait_ack(0, "env-slash");
    let started = std::time::Instant::now();
    while s.api.responses_to("slash").len() < 2 {
        assert!(
            started.elapsed().as_secs() < 30,
            "{:?}",
            s.api.responses_to("slash")
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let answers = s.api.responses_to("slash");
    assert!(
        answers[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Running `problems"),
        "{answers:?}"
    );
    assert_eq!(answers[0]["response_type"], "ephemeral");
    let result = answers[1]["text"].as_str().unwrap();
    assert!(result.contains('a'), "{result}");
    // The outcome row follows the result's post.
    let rows = || -> Vec<String> {
        (s.store().audit_trail(10).unwrap().into_iter())
            .filter(|e| e.request_id == "env-slash")
            .map(|e| format!("{:?} {} {}", e.phase, e.what, e.outcome))
            .collect()
    };
    while rows().len() < 2 {
        assert!(started.elapsed().as_secs() < 30, "{:?}", rows());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::process::Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(serve.wait_with_output().unwrap().status.code(), Some(0));
    assert_eq!(
        rows(),
        [
            "Intent action:problems requested",
            "Outcome action:problems done"
        ]
    );
}
