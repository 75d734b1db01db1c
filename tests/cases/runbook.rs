//! Runbook buttons: the config checks of `buttons: [{action: …, params: …}]`, and clicks end
//! to end without Slack: a real `poll` posts the alert message with its runbook button to the
//! fake Web API, `dbalert serve` gets the click from the local Socket Mode peer, the query
//! action runs on a real SQLite file, and its result is posted in the alert's thread.

use std::path::Path;
use std::time::{Duration, Instant};

use dbalert::config::reader::References;
use dbalert::state::StateStore;
use serde_json::{Value, json};

use crate::support::fake_slack_api::{FakeSlackApi, POST_MESSAGE};
use crate::support::socket_peer::SocketPeer;
use crate::support::{dbalert, dbalert_process, stderr_of, workdir};

const BOT: &str = "xoxb-runbook-bot-2c9d1e";
const APP: &str = "xapp-1-runbook-app-77ab";
const TEAM: &str = "T0TEAM";
const CHANNEL: &str = "C0ORDERS";
const ALLOWED: &str = "U0ALLOWED";
/// Allowed by the receiver's `allow:`, not by the action's.
const ONCALL: &str = "U0ONCALL";
const STRANGER: &str = "U0STRANGE";

const ACTIONS: &str = "actions:\n  - name: problems\n    description: Problems of an owner\n    \
                       source: app\n    kind: query\n    \
                       sql: select name from problems where owner = :owner order by name\n    \
                       params:\n      - {name: owner, type: identifier, transform: upper}\n    \
                       allow: [dba]\n";

const BUTTONS: &str =
    "    buttons: [ack, {action: problems, params: {owner: \"{{ labels.owner }}\"}}]\n";

/// A config with one state check over `problems(name, owner)`, grouped by owner, to the Slack
/// app receiver `team`, with `buttons` (its `buttons:` line) and `actions`.
fn config(api_url: &str, buttons: &str, actions: &str) -> String {
    format!(
        "state:\n  path: state.db\n\
         sources:\n  app:\n    sqlite:\n      path: app.db\n\
         slack_app:\n  bot_token: {BOT}\n  app_token: {APP}\n  team_id: {TEAM}\n  api_url: {api_url}\n\
         access:\n  dba:\n    users: [{ALLOWED}]\n  oncall:\n    users: [{ONCALL}]\n\
         receivers:\n  team:\n    slack: {{token: {BOT}, channel: {CHANNEL}, api_url: \"{api_url}\"}}\n    \
         allow: [dba, oncall]\n{buttons}\
         route:\n  receiver: team\n  group_by: [owner]\n\
         checks:\n  - name: problem\n    source: app\n    sql: select name, owner from problems\n    key: [name]\n\
         {actions}"
    )
}

/// The problems `dbalert check` finds in a config with `buttons` and `actions`.
fn problems(buttons: &str, actions: &str) -> Result<(), String> {
    let text = config("http://127.0.0.1:9/api/", buttons, actions);
    let env = Box::new(|_: &str| None);
    let file = Path::new("alerts.yaml");
    dbalert::settings::parse_with(&text, file, env, References::Required)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn a_runbook_button_is_checked_against_its_action_at_load() {
    let button = |inside: &str| format!("    buttons: [ack, {{{inside}}}]\n");
    let two = ACTIONS.replace(
        "      - {name: owner, type: identifier, transform: upper}\n",
        "      - {name: owner, type: identifier, transform: upper}\n      - {name: since, type: duration}\n",
    ).replace("where owner = :owner", "where owner = :owner and :since > 0");
    let secret = ACTIONS.replace("transform: upper}", "transform: upper, secret: true}");
    let good = "action: problems, params: {owner: \"{{ labels.owner }}\"}";
    for (buttons, actions, want) in [
        (button(good), ACTIONS.to_owned(), None),
        (
            button(&format!("{good}, label: Problems")),
            ACTIONS.to_owned(),
            None,
        ),
        (
            BUTTONS.to_owned(),
            String::new(),
            Some(
                "receivers.team.buttons[1].action: no action named `problems` under `actions:` (there: ); add it, or fix the name",
            ),
        ),
        (
            button("action: problem, params: {owner: x}"),
            ACTIONS.to_owned(),
            Some(
                "receivers.team.buttons[1].action: no action named `problem` under `actions:` (there: problems)",
            ),
        ),
        (
            button("action: problems, params: {owner: x, table: z}"),
            ACTIONS.to_owned(),
            Some(
                "receivers.team.buttons[1].params.table: action `problems` has no parameter `table` (it takes `problems OWNER`); remove it, or fix the name",
            ),
        ),
        (
            button("action: problems"),
            ACTIONS.to_owned(),
            Some(
                "receivers.team.buttons[1].params: `owner` is missing: the action takes `problems OWNER`, and a button must give every parameter, as the slash command must",
            ),
        ),
        (
            button(good),
            two,
            Some("receivers.team.buttons[1].params: `since` is missing"),
        ),
        (
            button("action: problems, params: {owner: \"{{ labels.owner \"}"),
            ACTIONS.to_owned(),
            Some("receivers.team.buttons[1].params.owner: template does not work: syntax error"),
        ),
        (
            button(good),
            secret,
            Some("receivers.team.buttons[1].params.owner: `owner` is a secret parameter"),
        ),
        (
            button(&format!("{good}, label: \"\"")),
            ACTIONS.to_owned(),
            Some("receivers.team.buttons[1].label: must be 1 to 75 characters"),
        ),
        (
            button(&format!("{good}, colour: red")),
            ACTIONS.to_owned(),
            Some(
                "receivers.team.buttons[1].colour: unknown key `colour`; expected one of `action`, `params`, `label`",
            ),
        ),
        (
            "    buttons: [ack, runbook]\n".to_owned(),
            ACTIONS.to_owned(),
            Some(
                "receivers.team.buttons[1]: unknown button `runbook`; expected `ack`, `silence` or a runbook button `{action: NAME, params: {…}}`",
            ),
        ),
    ] {
        let got = problems(&buttons, &actions);
        match want {
            None => assert_eq!(got, Ok(()), "{buttons}"),
            Some(want) => {
                let got = got.expect_err(&buttons);
                assert!(got.contains(want), "{buttons}\nwant: {want}\ngot: {got}");
                assert!(got.contains("alerts.yaml:"), "{got}");
            }
        }
    }
}

struct Setup {
    dir: tempfile::TempDir,
    api: FakeSlackApi,
    peer: SocketPeer,
    serve: std::process::Child,
}

/// A polled config whose message has the runbook button, and `serve` connected to the peer.
fn setup(owner: &str) -> Setup {
    setup_with(owner, ACTIONS)
}

fn setup_with(owner: &str, actions: &str) -> Setup {
    let api = FakeSlackApi::start(BOT, &[(CHANNEL, "orders-alerts")]);
    let dir = workdir(&[("alerts.yaml", &config(&api.api_url(), BUTTONS, actions))]);
    let db = rusqlite::Connection::open(dir.path().join("app.db")).unwrap();
    db.execute_batch(&format!(
        "create table problems (name text primary key, owner text);
         insert into problems values ('a', '{owner}'), ('b', '{owner}'), ('c', 'OTHER');"
    ))
    .unwrap();
    let out = dbalert(dir.path()).args(["-vv", "poll"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let peer = SocketPeer::start();
    api.socket_mode(APP, &peer.url(), TEAM);
    let serve = dbalert_process(dir.path())
        .args(["serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    peer.wait_connections(1);
    Setup {
        dir,
        api,
        peer,
        serve,
    }
}

impl Setup {
    /// The group's message in the channel, as Slack sends it back in a payload.
    fn alert_message(&self, owner: &str) -> Value {
        let posted = (self.api.messages(CHANNEL).into_iter())
            .find(|m| m.thread_ts.is_none() && m.text.as_deref().unwrap_or("").contains(owner))
            .expect("the group's message");
        json!({
            "type": "message", "ts": posted.ts, "text": posted.text,
            "blocks": posted.blocks, "attachments": posted.attachments,
        })
    }

    /// Clicks the runbook button of `message` as `user`, with its value as `value` makes it
    /// from the one Slack shows, through the Socket Mode peer; waits for the ack.
    fn click(&self, envelope: &str, user: &str, message: &Value, value: impl Fn(Value) -> Value) {
        let button = runbook_button(message).expect("a runbook button");
        let shown: Value = serde_json::from_str(button["value"].as_str().unwrap()).unwrap();
        let mut button = button.clone();
        button["value"] = json!(value(shown).to_string());
        self.send_click(envelope, user, message, &button);
    }

    /// Sends a click on `button` of `message` as `user` through the Socket Mode peer; waits
    /// for the ack.
    fn send_click(&self, envelope: &str, user: &str, message: &Value, button: &Value) {
        let envelope_json = json!({
            "envelope_id": envelope, "type": "interactive", "accepts_response_payload": false,
            "payload": {
                "type": "block_actions",
                "team": {"id": TEAM, "domain": "example"},
                "user": {"id": user, "username": "someone", "team_id": TEAM},
                "api_app_id": "A0DBALERT",
                "container": {"type": "message", "message_ts": message["ts"], "channel_id": CHANNEL, "is_ephemeral": false},
                "trigger_id": "1.2.3",
                "channel": {"id": CHANNEL, "name": "orders-alerts"},
                "message": message,
                "response_url": self.api.response_url_for(envelope),
                "actions": [{
                    "type": "button", "action_id": button["action_id"], "block_id": "runbook.1",
                    "text": button["text"], "value": button["value"],
                    "action_ts": "1700000000.000100",
                }],
            },
        });
        self.peer.send(0, &envelope_json.to_string());
        self.peer.wait_ack(0, envelope);
    }

    /// The audit trail of `request` as `phase what outcome` lines, once it has both rows.
    fn audit_of(&self, request: &str) -> Vec<String> {
        let store = StateStore::open(&self.dir.path().join("state.db")).unwrap();
        let rows = || -> Vec<String> {
            (store.audit_trail(100).unwrap().into_iter())
                .filter(|e| e.request_id == request)
                .map(|e| format!("{:?} {} {} {}", e.phase, e.what, e.outcome, e.detail))
                .collect()
        };
        wait_for(|| rows().len() >= 2, || format!("{:?}", rows()));
        rows()
    }

    /// Replies posted in the thread of `parent`.
    fn replies(&self, parent: &Value) -> Vec<String> {
        (self.api.messages(CHANNEL).into_iter())
            .filter(|m| m.thread_ts.as_deref() == parent["ts"].as_str())
            .map(|m| m.text.unwrap_or_default())
            .collect()
    }

    fn stop(mut self) {
        std::process::Command::new("kill")
            .args(["-TERM", &self.serve.id().to_string()])
            .status()
            .unwrap();
        assert_eq!(self.serve.wait().unwrap().code(), Some(0));
    }
}

impl Drop for Setup {
    /// A test that failed half-way leaves no `serve` behind.
    fn drop(&mut self) {
        if matches!(self.serve.try_wait(), Ok(None)) {
            let _ = self.serve.kill();
            let _ = self.serve.wait();
        }
    }
}

/// Waits (at most 30 s, far above any real answer) until `done`; `state` says what was seen.
fn wait_for(done: impl Fn() -> bool, state: impl Fn() -> String) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed().as_secs() < 30, "{}", state());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The first runbook button of a message.
fn runbook_button(message: &Value) -> Option<Value> {
    let blocks = message["attachments"][0]["blocks"].as_array()?;
    (blocks.iter())
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| {
            e["action_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("dbalert.action.run."))
        })
}

/// A poll posts the button with the group's owner; a click through Socket Mode runs the query
/// on SQLite, and the rows are posted in the alert's thread with the receiver's token.
#[test]
fn a_runbook_button_runs_its_query_and_answers_in_the_alerts_thread() {
    let s = setup("ORDERS");
    let message = s.alert_message("ORDERS");
    let button = runbook_button(&message).expect("the message has the runbook button");
    assert_eq!(button["text"]["text"], "Problems of an owner");
    let value: Value = serde_json::from_str(button["value"].as_str().unwrap()).unwrap();
    assert_eq!(value["action"], "problems");
    assert_eq!(value["params"], json!({"owner": "ORDERS"}));
    s.click("env-run", ALLOWED, &message, |value| value);
    wait_for(
        || !s.replies(&message).is_empty(),
        || format!("{:?}", s.api.calls()),
    );
    let replies = s.replies(&message);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0].starts_with("*problems* on `app`: 2 rows"),
        "{}",
        replies[0]
    );
    assert!(replies[0].contains("\na\nb\n"), "{}", replies[0]);
    assert!(
        !replies[0].contains("OTHER") && !replies[0].contains("\nc\n"),
        "{}",
        replies[0]
    );
    assert!(
        replies[0].contains(&format!("_asked by <@{ALLOWED}>_")),
        "{}",
        replies[0]
    );
    let post = (s.api.calls_to(POST_MESSAGE).into_iter())
        .find(|c| c.body["thread_ts"].is_string())
        .unwrap();
    assert_eq!(post.body["thread_ts"], message["ts"]);
    assert_eq!(post.authorization, format!("Bearer {BOT}"));
    let acks = s.api.responses_to("env-run");
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0]["response_type"], "ephemeral");
    assert!(
        acks[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Running `problems ORDERS` on app"),
        "{acks:?}"
    );
    let audit = s.audit_of("env-run");
    assert!(
        audit[0].starts_with(
            "Intent action:problems requested runbook button on an alert of receiver team"
        ),
        "{audit:?}"
    );
    assert!(
        audit[1].starts_with("Outcome action:problems done rows=2"),
        "{audit:?}"
    );
    s.stop();
}

/// An action with `confirm` asks the clicker first, as the slash command does; the result of
/// the confirmed request still goes to the alert's thread.
#[test]
fn a_runbook_button_of_an_action_with_confirm_asks_first_and_answers_in_the_thread() {
    let s = setup_with(
        "ORDERS",
        &ACTIONS.replace("allow: [dba]\n", "allow: [dba]\n    confirm: true\n"),
    );
    let message = s.alert_message("ORDERS");
    s.click("env-ask", ALLOWED, &message, |value| value);
    // The ack ("… needs your confirmation") and the question, in either order.
    wait_for(
        || s.api.responses_to("env-ask").len() >= 2,
        || format!("{:?}", s.api.responses()),
    );
    let question = (s.api.responses_to("env-ask").into_iter())
        .find(|r| r["blocks"].is_array())
        .unwrap();
    assert_eq!(question["text"], "Run `problems`?");
    let confirm = question["blocks"][1]["elements"][0].clone();
    assert_eq!(confirm["action_id"], "dbalert.action.confirm");
    assert!(
        s.replies(&message).is_empty(),
        "nothing runs before the confirmation"
    );
    let ephemeral = json!({"type": "message", "ts": "9.000001", "text": question["text"]});
    s.send_click("env-confirm", ALLOWED, &ephemeral, &confirm);
    wait_for(
        || !s.replies(&message).is_empty(),
        || format!("{:?}", s.api.calls()),
    );
    let replies = s.replies(&message);
    assert!(
        replies[0].starts_with("*problems* on `app`: 2 rows"),
        "{replies:?}"
    );
    let audit = s.audit_of("env-ask");
    assert!(audit[0].contains("awaiting confirmation"), "{audit:?}");
    s.stop();
}

/// The receiver's `allow:` and the action's must both allow the clicker: a stranger and
/// someone the action does not allow are told so, nothing runs, and both are audited.
#[test]
fn a_runbook_click_needs_both_the_receivers_and_the_actions_allow() {
    let s = setup("ORDERS");
    let message = s.alert_message("ORDERS");
    for (envelope, user, why) in [
        (
            "env-stranger",
            STRANGER,
            "You may not use this message's buttons (`problems`)",
        ),
        (
            "env-oncall",
            ONCALL,
            "You may not run this action (`problems`)",
        ),
    ] {
        s.click(envelope, user, &message, |value| value);
        let audit = s.audit_of(envelope);
        assert_eq!(
            audit[0], "Intent action:problems requested runbook button on an alert",
            "{audit:?}"
        );
        assert!(
            audit[1].starts_with("Outcome action:problems denied"),
            "{audit:?}"
        );
        wait_for(
            || !s.api.responses_to(envelope).is_empty(),
            || format!("{:?}", s.api.responses()),
        );
        let answers = s.api.responses_to(envelope);
        assert_eq!(answers.len(), 1, "{answers:?}");
        assert_eq!(answers[0]["response_type"], "ephemeral");
        let text = answers[0]["text"].as_str().unwrap();
        assert!(
            text.starts_with(why) && text.ends_with("Nothing was run."),
            "{text}"
        );
    }
    assert_eq!(s.replies(&message), Vec::<String>::new());
    s.stop();
}

/// A value changed on its way (a crafted payload) is checked as if typed: a value its type
/// refuses, a parameter the action does not have, an action the receiver does not show, an id
/// the state file never made and a value that is not a runbook button's are refused, audited
/// `invalid`, and nothing runs.
#[test]
fn a_tampered_runbook_value_is_refused() {
    let s = setup("ORDERS");
    let message = s.alert_message("ORDERS");
    type Tamper = fn(Value) -> Value;
    let cases: [(&str, Tamper, &str); 5] = [
        (
            "env-sql",
            |mut v| {
                v["params"]["owner"] = json!("ORDERS' or 1=1 --");
                v
            },
            "The button's values do not fit `problems`: `owner` must be a database name",
        ),
        (
            "env-extra",
            |mut v| {
                v["params"]["table"] = json!("x");
                v
            },
            "The button's values do not fit `problems`: there is no parameter `table`",
        ),
        (
            "env-action",
            |mut v| {
                v["action"] = json!("drop-everything");
                v
            },
            "Receiver `team` no longer shows this button.",
        ),
        (
            "env-id",
            |mut v| {
                v["id"] = json!("0000");
                v
            },
            "This button is unknown here.",
        ),
        (
            "env-broken",
            |_| json!("0a1b"),
            "This button is broken: the button's value is not a runbook button's.",
        ),
    ];
    for (envelope, tamper, why) in cases {
        s.click(envelope, ALLOWED, &message, tamper);
        let audit = s.audit_of(envelope);
        assert!(
            audit[0].ends_with(" requested runbook button on an alert"),
            "{audit:?}"
        );
        assert!(audit[1].contains(" invalid "), "{audit:?}");
        wait_for(
            || !s.api.responses_to(envelope).is_empty(),
            || format!("{:?}", s.api.responses()),
        );
        let text = s.api.responses_to(envelope)[0]["text"].clone();
        assert!(text.as_str().unwrap().starts_with(why), "{text}");
        assert!(!text.as_str().unwrap().contains("or 1=1"), "{text}");
    }
    assert_eq!(s.replies(&message), Vec::<String>::new());
    s.stop();
}

/// A group whose owner label is not a database name gets no runbook button (the message and
/// its other buttons are sent as usual).
#[test]
fn a_group_whose_labels_do_not_fit_gets_no_runbook_button() {
    let s = setup("ORDERS; drop");
    let message = s.alert_message("ORDERS; drop");
    assert_eq!(runbook_button(&message), None);
    let text = message.to_string();
    assert!(text.contains("dbalert.ack"), "{text}");
    s.stop();
}
