//! The `receivers:` section: where notifications go, and how hard dbalert tries.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use super::alertmanager::AlertmanagerReceiverConfig;
pub use super::delivery::{Delivery, ReceiverName};
use super::slack::SlackReceiverConfig;
use super::stdout::StdoutReceiverConfig;
use super::webhook::WebhookReceiverConfig;
use crate::config::duration::Duration;
use crate::config::reader::Reader;
use crate::config::yaml::{Node, Path};
use crate::render::blockkit::MAX_FIELDS;
use crate::render::notification::Layout;
use crate::render::template::{MessageConfig, MessageTemplate};

/// One entry under `receivers:` as written: exactly one kind, plus the keys common to every kind.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiverConfig {
    /// Slack: an Incoming Webhook, or a Slack app's bot token and channel.
    slack: Option<SlackReceiverConfig>,
    /// Alertmanager's v2 API, one or more URLs (an HA cluster).
    alertmanager: Option<AlertmanagerReceiverConfig>,
    /// A JSON document per group notification, POSTed to any URL.
    webhook: Option<WebhookReceiverConfig>,
    /// Prints each payload on standard output (what `--dry-run` does for every receiver).
    stdout: Option<StdoutReceiverConfig>,
    /// Retries after a 429, a 5xx or a network error before the notification counts as failed
    /// (it is retried again on the next run). Default 5.
    max_retries: Option<u32>,
    /// Time allowed for one HTTP request, connecting included. Default 10s, at least 1s.
    #[serde(default, deserialize_with = "crate::config::duration::at_least_1s")]
    timeout: Option<Duration>,
    /// Time allowed for one notification, every retry and `Retry-After` wait included.
    /// Default 2m, at least 1s.
    #[serde(default, deserialize_with = "crate::config::duration::at_least_1s")]
    deadline: Option<Duration>,
    /// Whether resolved alerts are announced. Default true.
    send_resolved: Option<bool>,
    /// The message's templates (`title`, `text`, `fields`) and `hide_labels`, for every kind
    /// that renders a message (all but `alertmanager`); docs/messages.md.
    message: Option<MessageConfig>,
    /// The `access:` principals whose members may use this receiver's buttons.
    allow: Option<Vec<String>>,
    /// The buttons on this receiver's messages when `slack_app` is configured (Slack app
    /// receivers only): `[ack, silence]` by default, `[]` for none.
    buttons: Option<Vec<Button>>,
}

#[derive(Debug, Clone)]
pub enum ReceiverKind {
    Slack(SlackReceiverConfig),
    Alertmanager(AlertmanagerReceiverConfig),
    Webhook(WebhookReceiverConfig),
    Stdout(StdoutReceiverConfig),
}

impl ReceiverKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Slack(_) => "slack",
            Self::Alertmanager(_) => "alertmanager",
            Self::Webhook(_) => "webhook",
            Self::Stdout(_) => "stdout",
        }
    }

    /// For kinds that must hear about a firing alert again and again (Alertmanager), how often.
    pub fn resend_interval(&self) -> Option<Duration> {
        match self {
            Self::Alertmanager(config) => Some(config.resend_interval()),
            _ => None,
        }
    }
}

/// A button on a receiver's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Button {
    /// Acknowledge (and Unacknowledge).
    Ack,
    /// Silence for 1h, 4h or 24h (and Unsilence).
    Silence,
    /// A runbook button: runs an action with values taken from the group's labels.
    Run(RunButton),
}

/// `{action: NAME, params: {PARAM: TEMPLATE}, label: TEXT}` in `buttons:`, as written. Each
/// parameter's template sees the group's labels as `labels`; `settings` checks the action, the
/// parameters and the templates against `actions:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunButton {
    /// The action's name under `actions:`.
    pub action: String,
    /// A template for each of the action's parameters.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The button's text; default the action's description, else its name.
    pub label: Option<String>,
}

// By hand rather than `#[serde(untagged)]`, whose error ("did not match any variant") would not
// say what a button may be.
impl<'de> Deserialize<'de> for Button {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ButtonVisitor;
        impl<'de> serde::de::Visitor<'de> for ButtonVisitor {
            type Value = Button;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`ack`, `silence` or a runbook button `{action: NAME, params: {…}}`")
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Button, E> {
                match name {
                    "ack" => Ok(Button::Ack),
                    "silence" => Ok(Button::Silence),
                    other => Err(E::custom(format!(
                        "unknown button `{other}`; expected `ack`, `silence` or a runbook button `{{action: NAME, params: {{…}}}}`"
                    ))),
                }
            }

            fn visit_map<M: serde::de::MapAccess<'de>>(self, map: M) -> Result<Button, M::Error> {
                let deserializer = serde::de::value::MapAccessDeserializer::new(map);
                RunButton::deserialize(deserializer).map(Button::Run)
            }
        }
        deserializer.deserialize_any(ButtonVisitor)
    }
}

/// What a receiver lets people do from its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interactive {
    /// `allow:`, the principals whose members may use its buttons; `None` when not given.
    pub allow: Option<Vec<String>>,
    /// `buttons:`, the buttons its messages carry when `slack_app` is configured.
    pub buttons: Vec<Button>,
}

impl Default for Interactive {
    fn default() -> Self {
        Self {
            allow: None,
            buttons: vec![Button::Ack, Button::Silence],
        }
    }
}

/// A checked receiver.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub name: ReceiverName,
    pub kind: ReceiverKind,
    pub delivery: Delivery,
    /// How its messages are laid out: the default layout, or its `message:` templates.
    pub layout: Layout,
    /// Who may use its buttons, and which it shows.
    pub interactive: Interactive,
}

impl Receiver {
    /// The buttons its messages carry: none unless `slack_app` is configured (`app`), it is a
    /// Slack app receiver (a webhook's messages cannot receive clicks) and its `allow:` names
    /// someone (deny by default: nobody could use them).
    pub fn buttons(&self, app: bool) -> &[Button] {
        let is_slack_app = matches!(&self.kind, ReceiverKind::Slack(s) if s.token.is_some());
        let allows = self
            .interactive
            .allow
            .as_ref()
            .is_some_and(|a| !a.is_empty());
        match app && is_slack_app && allows {
            true => &self.interactive.buttons,
            false => &[],
        }
    }

    /// The runbook buttons among [`Self::buttons`].
    pub fn run_buttons(&self, app: bool) -> impl Iterator<Item = &RunButton> {
        self.buttons(app).iter().filter_map(|button| match button {
            Button::Run(run) => Some(run),
            _ => None,
        })
    }
}

const KINDS: &str = "`slack`, `alertmanager`, `webhook` or `stdout`";

/// Reads `receivers:`, one receiver at a time so that every broken one is reported.
pub(crate) fn resolve(reader: &mut Reader) -> BTreeMap<ReceiverName, Receiver> {
    let section = Path::root().key("receivers");
    let mut receivers = BTreeMap::new();
    if reader.node(&section).is_some()
        && !matches!(reader.node(&section), Some(Node::Map(_)) | Some(Node::Null))
    {
        reader.problem(&section, "expected a map of receiver names to receivers");
        return receivers;
    }
    for name in reader.keys(&section) {
        let path = section.key(&name);
        let Some(raw) = reader.parse::<ReceiverConfig>(&path) else {
            continue;
        };
        if let Some(receiver) = resolve_one(reader, &path, name, raw) {
            receivers.insert(receiver.name.clone(), receiver);
        }
    }
    receivers
}

/// One receiver, or `None` once its problems are reported.
fn resolve_one(
    reader: &mut Reader,
    path: &Path,
    name: String,
    raw: ReceiverConfig,
) -> Option<Receiver> {
    let defaults = Delivery::default();
    let delivery = Delivery {
        max_retries: raw.max_retries.unwrap_or(defaults.max_retries),
        timeout: raw.timeout.unwrap_or(defaults.timeout),
        deadline: raw.deadline.unwrap_or(defaults.deadline),
        send_resolved: raw.send_resolved.unwrap_or(defaults.send_resolved),
    };
    let kind = kind_of(
        reader,
        path,
        &name,
        raw.slack,
        raw.alertmanager,
        raw.webhook,
        raw.stdout,
    )?;
    // A value left unresolved cannot be checked; nothing will be sent with it.
    if !reader.unresolved_under(path) {
        let checked = match &kind {
            ReceiverKind::Slack(config) => config.check(),
            ReceiverKind::Alertmanager(config) => config.check(),
            ReceiverKind::Webhook(config) => config.check(),
            ReceiverKind::Stdout(_) => Ok(()),
        };
        if let Err(problem) = checked {
            reader.problem(&path.key(kind.name()).key(problem.key), problem.message);
            return None;
        }
    }
    let is_slack_app = matches!(&kind, ReceiverKind::Slack(s) if s.token.is_some());
    if raw.buttons.is_some() && !is_slack_app {
        reader.problem(
            &path.key("buttons"),
            "buttons go on a Slack app receiver (`slack: {token: …, channel: …}`); remove `buttons` here",
        );
        return None;
    }
    let interactive = Interactive {
        allow: raw.allow,
        buttons: raw
            .buttons
            .unwrap_or_else(|| Interactive::default().buttons),
    };
    let template = message_template(reader, path, &kind, raw.message).ok()?;
    let layout = Layout {
        receiver: name.clone(),
        template,
        ..Layout::default()
    };
    Some(Receiver {
        name: ReceiverName(name),
        kind,
        delivery,
        layout,
        interactive,
    })
}

/// The one kind a receiver is, with its files read beside the config.
fn kind_of(
    reader: &mut Reader,
    path: &Path,
    name: &str,
    slack: Option<SlackReceiverConfig>,
    alertmanager: Option<AlertmanagerReceiverConfig>,
    webhook: Option<WebhookReceiverConfig>,
    stdout: Option<StdoutReceiverConfig>,
) -> Option<ReceiverKind> {
    let base = reader.base().to_path_buf();
    let beside_config = |file: Option<std::path::PathBuf>| file.map(|f| base.join(f));
    let mut kinds = Vec::new();
    if let Some(mut slack) = slack {
        slack.ca_file = beside_config(slack.ca_file);
        kinds.push(ReceiverKind::Slack(slack));
    }
    if let Some(mut alertmanager) = alertmanager {
        alertmanager.ca_file = beside_config(alertmanager.ca_file);
        kinds.push(ReceiverKind::Alertmanager(alertmanager));
    }
    if let Some(mut webhook) = webhook {
        webhook.ca_file = beside_config(webhook.ca_file);
        kinds.push(ReceiverKind::Webhook(webhook));
    }
    kinds.extend(stdout.map(ReceiverKind::Stdout));
    match kinds.len() {
        0 => reader.problem(path, format!("receiver `{name}` has no kind; add one of {KINDS}")),
        1 => return kinds.pop(),
        _ => reader.problem(path, format!("receiver `{name}` has more than one kind; keep one of {KINDS} and make another receiver for the other")),
    }
    None
}

/// Compiles a receiver's `message:`, reporting each problem at its key.
fn message_template(
    reader: &mut Reader,
    path: &Path,
    kind: &ReceiverKind,
    message: Option<MessageConfig>,
) -> Result<Option<Arc<MessageTemplate>>, ()> {
    let Some(message) = message else {
        return Ok(None);
    };
    let at = path.key("message");
    if matches!(kind, ReceiverKind::Alertmanager(_)) {
        reader.problem(
            &at,
            "an alertmanager receiver takes alerts, not messages; remove `message` (Alertmanager's own templates shape what it sends)",
        );
        return Err(());
    }
    if message.fields.len() > MAX_FIELDS {
        reader.problem(
            &at.key("fields"),
            format!(
                "{} fields; a Slack message shows at most {MAX_FIELDS} side by side, so keep {MAX_FIELDS} or fewer",
                message.fields.len()
            ),
        );
        return Err(());
    }
    MessageTemplate::compile(message)
        .map(|template| Some(Arc::new(template)))
        .map_err(|problems| {
            for problem in problems {
                let key = at.key(problem.key);
                let key = match problem.index {
                    Some(i) => key.index(i).key("value"),
                    None => key,
                };
                reader.problem(&key, problem.message);
            }
        })
}
