//! The Slack message for one group notification: the alerts routed to one receiver under one
//! group key in one run, firing and resolved together.
//!
//! The default layout, top to bottom (docs/messages.md shows it):
//! - the headline: severity emoji, `[FIRING:n]`, the alertname and the group's labels;
//! - per alert, when the group has at most [`DETAILED`] alerts: the summary in bold and the
//!   description, its labels as two-column fields (the group's and the check's key labels
//!   first, at most ten), long values (SQL, say) as quotes cut with a marker, and a context line
//!   with the source, the check and the times in Slack's date syntax (each reader's zone);
//! - per alert in a larger group: one section each (title, the labels that differ, the time),
//!   under one line of the labels they share; the first [`MAX_LISTED`] are listed, the rest
//!   counted, so a storm is one message, never a flood and never a silent drop;
//! - link buttons from the `runbook_url` and `dashboard_url` annotations and the check's
//!   `links:`.
//!
//! A receiver's `message:` templates ([`super::template`]) replace the headline and the list of
//! alerts, and add fields. Everything is cut to Slack's limits ([`super::blockkit`]).
//!
//! [`Layout::message`] returns the blocks before they become a payload, so that a receiver can
//! append its own (buttons that act on the alert) within [`SPARE_BLOCKS`].

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use super::blockkit::{
    FALLBACK_TEXT, MAX_BLOCKS, MAX_BUTTON_TEXT, MAX_BUTTON_URL, MAX_FIELD_TEXT, MAX_FIELDS,
    MAX_SECTION_TEXT,
};
use super::template::{MessageTemplate, RenderedMessage, common};
use super::text::{self, CUT_MARKER};
use crate::alert::view::{LINK_ANNOTATION, STARTS_AT, reported_start};
use crate::alert::{AlertView, GroupMessage, Labels};

/// How many alerts one message lists; the rest are counted.
pub const MAX_LISTED: usize = 20;
/// Groups of up to this many alerts show each alert in full; larger ones list one section each.
pub const DETAILED: usize = 3;
/// Attachment blocks the layout leaves free for a receiver's own (an actions block).
pub const SPARE_BLOCKS: usize = 4;
/// The most characters each part of an alert takes, so that a message stays readable and each
/// section within Slack's 3000.
const TITLE_TEXT: usize = 150;
const DESCRIPTION_TEXT: usize = 1000;
const COMPACT_LABELS: usize = 300;
const SHARED_LABELS: usize = 1000;
const NAME_TEXT: usize = 100;
/// A label value longer than this, or on several lines, is quoted under the text instead of
/// squeezed into a field.
const FIELD_VALUE: usize = 100;
/// Long values quoted per alert; more are counted.
const MAX_QUOTED: usize = 3;
/// Link buttons per message.
const MAX_BUTTONS: usize = 5;
/// Sections a template's `text` may fill; past them it is cut with a marker.
const TEXT_SECTIONS: usize = 5;

/// How one receiver lays out its messages.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The receiver's name, which templates see as `receiver`.
    pub receiver: String,
    /// The receiver's `message:` templates.
    pub template: Option<Arc<MessageTemplate>>,
    /// Each check's `key:` columns by alertname: shown first among an alert's labels.
    pub key_labels: Arc<BTreeMap<String, Vec<String>>>,
}

/// A Slack message before it becomes a payload.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackMessage {
    /// The top-level `text`: notifications and screen readers show it.
    pub fallback: String,
    /// The top-level blocks: the headline.
    pub headline: Vec<Value>,
    /// The attachment's blocks, beside the severity colour bar. At most
    /// `MAX_BLOCKS - SPARE_BLOCKS` as laid out; a receiver may append up to [`SPARE_BLOCKS`].
    pub details: Vec<Value>,
    pub color: &'static str,
}

impl SlackMessage {
    pub fn into_payload(self) -> Value {
        let mut attachment = json!({"color": self.color});
        if self.details.is_empty() {
            // An attachment with only a colour shows nothing; give it the bar beside the headline.
            attachment["fallback"] = json!(self.fallback);
        } else {
            attachment["blocks"] = Value::Array(self.details);
        }
        json!({
            "text": self.fallback,
            "blocks": self.headline,
            "attachments": [attachment],
            "unfurl_links": false,
            "unfurl_media": false,
        })
    }
}

impl Layout {
    /// The Slack payload for `group`.
    pub fn payload(&self, group: &GroupMessage) -> Value {
        self.message(group).into_payload()
    }

    /// The message for `group`, as blocks a receiver may add to.
    pub fn message(&self, group: &GroupMessage) -> SlackMessage {
        let rendered = self.render(group);
        let severity = group.severity();
        let emoji = severity.emoji();
        let (headline, fallback) = match &rendered.title {
            Some(title) => {
                let title = text::cut_markup(title.trim(), MAX_SECTION_TEXT - 40);
                let fallback = text::cut_markup(&format!("{emoji} {title}"), FALLBACK_TEXT);
                (title, fallback)
            }
            None => {
                let headline = default_headline(group);
                let fallback = match only_title(group) {
                    Some(title) => format!("{emoji} {headline}: {title}"),
                    None => format!("{emoji} {headline}"),
                };
                (
                    text::mrkdwn(&headline, MAX_SECTION_TEXT - 40),
                    text::mrkdwn(&fallback, FALLBACK_TEXT),
                )
            }
        };
        let mut details = match &rendered.text {
            Some(body) => text_sections(body),
            None => self.alert_blocks(group),
        };
        if !rendered.fields.is_empty() {
            details.push(fields_section(&rendered.fields));
        }
        details.extend(link_buttons(group));
        SlackMessage {
            fallback,
            headline: vec![section(format!("{emoji} *{headline}*"))],
            details,
            color: severity.color(),
        }
    }

    /// The message as one piece of Slack mrkdwn, for the webhook document's `text`: the
    /// headline, then the template's `text` when the receiver has one.
    pub fn text(&self, group: &GroupMessage) -> String {
        let message = self.message(group);
        match self.render(group).text {
            Some(body) => text::cut_markup(
                &format!("{}\n{}", message.fallback, body.trim()),
                FALLBACK_TEXT,
            ),
            None => message.fallback,
        }
    }

    fn render(&self, group: &GroupMessage) -> RenderedMessage {
        self.template
            .as_ref()
            .map(|t| t.render(group, &self.receiver))
            .unwrap_or_default()
    }

    fn hidden(&self, name: &str) -> bool {
        self.template
            .as_ref()
            .is_some_and(|t| t.hide_labels.iter().any(|h| h == name))
    }

    /// The default list of alerts: each in full in a small group, one section each otherwise.
    fn alert_blocks(&self, group: &GroupMessage) -> Vec<Value> {
        let total = group.firing.len() + group.resolved.len();
        let mixed = !group.firing.is_empty() && !group.resolved.is_empty();
        let compact = total > DETAILED;
        let mut blocks = Vec::new();
        let shared = match compact {
            true => common(
                group
                    .firing
                    .iter()
                    .chain(&group.resolved)
                    .map(|a| &a.labels),
            ),
            false => Labels::new(),
        };
        if compact {
            let line = self.shown_labels(&shared, None, &group.group_labels);
            if !line.is_empty() {
                let pairs: Vec<String> = line.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                let line = text::mrkdwn(&pairs.join(" · "), SHARED_LABELS);
                blocks.push(context(format!("All share: {line}")));
            }
        }
        let mut listed = 0;
        for (heading, alerts) in [("Firing", &group.firing), ("Resolved", &group.resolved)] {
            if alerts.is_empty() {
                continue;
            }
            if mixed {
                blocks.push(context(format!("*{heading}* ({})", alerts.len())));
            }
            let room = MAX_LISTED.saturating_sub(listed);
            for alert in alerts.iter().take(room) {
                if compact {
                    blocks.push(self.compact_alert(alert, &shared));
                } else {
                    if listed > 0 {
                        blocks.push(json!({"type": "divider"}));
                    }
                    blocks.extend(self.detailed_alert(alert, &group.group_labels));
                }
                listed += 1;
            }
            if alerts.len() > room {
                let more = alerts.len() - room;
                blocks.push(context(format!(
                    "and {more} more {}",
                    heading.to_lowercase()
                )));
            }
        }
        blocks
    }

    /// One alert in full: a section with its text and label fields, and a context line.
    fn detailed_alert(&self, alert: &AlertView, group_labels: &Labels) -> [Value; 2] {
        let labels = self.shown_labels(&alert.labels, alert_name(alert), group_labels);
        let (short, long): (Vec<_>, Vec<_>) = labels
            .into_iter()
            .partition(|(_, v)| v.chars().count() <= FIELD_VALUE && !v.contains('\n'));
        let mut body = vec![format!("*{}*", text::mrkdwn(alert.title(), TITLE_TEXT))];
        if let Some(description) = alert.annotations.get("description") {
            body.push(text::mrkdwn(description, DESCRIPTION_TEXT));
        }
        let mut body = body.join("\n");
        let quoted = long.len().min(MAX_QUOTED);
        if quoted > 0 {
            let room = MAX_SECTION_TEXT.saturating_sub(body.chars().count() + quoted * 2);
            for (name, value) in &long[..quoted] {
                body.push('\n');
                body.push_str(&quote(name, value, room / quoted));
            }
        }
        let mut block = section(body);
        let fields = short.len().min(MAX_FIELDS);
        if fields > 0 {
            block["fields"] = fields_of(&short[..fields]);
        }
        let unshown = short.len() - fields + long.len() - quoted;
        [block, context(context_line(alert, unshown))]
    }

    /// One alert of a larger group in one section: its title, the labels it does not share
    /// with the others, and its times.
    fn compact_alert(&self, alert: &AlertView, shared: &Labels) -> Value {
        let own: Labels = alert
            .labels
            .iter()
            .filter(|(k, _)| !shared.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let labels = self.shown_labels(&own, alert_name(alert), &Labels::new());
        let mut lines = vec![format!("*{}*", text::mrkdwn(alert.title(), TITLE_TEXT))];
        if !labels.is_empty() {
            let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            lines.push(text::mrkdwn(&pairs.join(" · "), COMPACT_LABELS));
        }
        lines.push(times(alert));
        section(lines.join("\n"))
    }

    /// The labels worth showing, in order: the group's, then the check's key labels, then the
    /// rest by name. The alertname and source (in the headline and context line), a `starts_at`
    /// that gives the time, and hidden labels are left out. Not yet escaped.
    fn shown_labels<'a>(
        &self,
        labels: &'a Labels,
        check: Option<&str>,
        group_labels: &Labels,
    ) -> Vec<(&'a str, &'a str)> {
        let keys = check.and_then(|c| self.key_labels.get(c));
        let rank = |name: &str| {
            if group_labels.contains_key(name) {
                0
            } else if keys.is_some_and(|k| k.iter().any(|k| k == name)) {
                1
            } else {
                2
            }
        };
        let time_label = reported_start(labels).is_some();
        let mut shown: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .filter(|(k, _)| !matches!(*k, "alertname" | "source") && !self.hidden(k))
            .filter(|(k, _)| !(time_label && *k == STARTS_AT))
            .collect();
        shown.sort_by_key(|(k, _)| rank(k));
        shown
    }
}

/// `[FIRING:n] alertname (group labels)`, not yet escaped.
fn default_headline(group: &GroupMessage) -> String {
    let counts = match (group.firing.len(), group.resolved.len()) {
        (f, 0) => format!("FIRING:{f}"),
        (0, r) => format!("RESOLVED:{r}"),
        (f, r) => format!("FIRING:{f}, RESOLVED:{r}"),
    };
    let name = group
        .group_labels
        .get("alertname")
        .map(String::as_str)
        .or_else(|| {
            group
                .firing
                .first()
                .or(group.resolved.first())
                .and_then(alert_name)
        })
        .unwrap_or("alerts");
    let scope: Vec<String> = group
        .group_labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    match scope.is_empty() {
        true => format!("[{counts}] {name}"),
        false => format!("[{counts}] {name} ({})", scope.join(", ")),
    }
}

/// The title of the group's only alert, if it has one alert.
fn only_title(group: &GroupMessage) -> Option<&str> {
    match (group.firing.as_slice(), group.resolved.as_slice()) {
        ([one], []) | ([], [one]) => Some(one.title()),
        _ => None,
    }
}

fn alert_name(alert: &AlertView) -> Option<&str> {
    alert.labels.get("alertname").map(String::as_str)
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

fn context(text: String) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
}

/// Label fields, escaped and cut: `*name*` over the value.
fn fields_of(labels: &[(&str, &str)]) -> Value {
    labels
        .iter()
        .map(|(name, value)| {
            let name = text::mrkdwn(name.trim(), NAME_TEXT);
            let value = text::mrkdwn(value.trim(), MAX_FIELD_TEXT - NAME_TEXT - 3);
            json!({"type": "mrkdwn", "text": format!("*{name}*\n{value}")})
        })
        .collect()
}

/// A template's fields, already safe markup: the first ten, each cut.
fn fields_section(fields: &[(String, String)]) -> Value {
    let items: Vec<Value> = fields
        .iter()
        .take(MAX_FIELDS)
        .map(|(name, value)| {
            let name = text::cut_markup(name, NAME_TEXT);
            let value = text::cut_markup(value.trim(), MAX_FIELD_TEXT - NAME_TEXT - 3);
            json!({"type": "mrkdwn", "text": format!("*{name}*\n{value}")})
        })
        .collect();
    json!({"type": "section", "fields": items})
}

/// A long value as a quote under its name, in at most `budget` characters. Every line of a
/// quote starts with `>`, which the budget counts.
fn quote(name: &str, value: &str, budget: usize) -> String {
    let head = format!(">*{}*\n", text::mrkdwn(name, NAME_TEXT));
    let room = budget.saturating_sub(head.chars().count());
    let mut body = text::mrkdwn(value.trim(), room);
    let lines = body.lines().count();
    if body.chars().count() + lines > room {
        body = text::mrkdwn(value.trim(), room.saturating_sub(lines));
    }
    let quoted: Vec<String> = body.lines().map(|line| format!(">{line}")).collect();
    head + &quoted.join("\n")
}

/// The context line of one alert: where it came from and when.
fn context_line(alert: &AlertView, unshown: usize) -> String {
    let mut parts = Vec::new();
    if let Some(source) = alert.labels.get("source") {
        parts.push(format!(
            "source *{}*",
            text::mrkdwn(source.trim(), NAME_TEXT)
        ));
    }
    if let Some(check) = alert_name(alert) {
        parts.push(format!("check *{}*", text::mrkdwn(check.trim(), NAME_TEXT)));
    }
    parts.push(times(alert));
    if unshown > 0 {
        let s = if unshown == 1 { "" } else { "s" };
        parts.push(format!("{unshown} more label{s} not shown"));
    }
    parts.join(" · ")
}

fn times(alert: &AlertView) -> String {
    let started = format!("started {}", text::slack_date(alert.starts_at));
    match alert.ends_at {
        Some(end) => format!("{started} · resolved {}", text::slack_date(end)),
        None => started,
    }
}

/// A template's text as sections of at most Slack's 3000 characters, split between lines;
/// past [`TEXT_SECTIONS`] it is cut with a marker.
fn text_sections(body: &str) -> Vec<Value> {
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut cut = false;
    for line in body.trim().lines() {
        let line = text::cut_markup(line, MAX_SECTION_TEXT);
        if !current.is_empty()
            && current.chars().count() + 1 + line.chars().count() > MAX_SECTION_TEXT
        {
            chunks.push(std::mem::take(&mut current));
            if chunks.len() == TEXT_SECTIONS {
                cut = true;
                break;
            }
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !cut && !current.trim().is_empty() {
        chunks.push(current);
    }
    if cut && let Some(last) = chunks.last_mut() {
        let room = MAX_SECTION_TEXT - CUT_MARKER.chars().count() - 1;
        *last = match last.chars().count() > room {
            true => text::end_cut_markup(last, MAX_SECTION_TEXT),
            false => format!("{last}\n{CUT_MARKER}"),
        };
    }
    chunks
        .into_iter()
        .filter(|c| !c.trim().is_empty())
        .map(section)
        .collect()
}

/// Link buttons from the alerts' `runbook_url` and `dashboard_url` annotations and their
/// check's `links:`, each URL once, at most [`MAX_BUTTONS`]; `None` when there is none.
fn link_buttons(group: &GroupMessage) -> Option<Value> {
    let mut seen = HashSet::new();
    let mut buttons = Vec::new();
    for alert in group.firing.iter().chain(&group.resolved) {
        for (title, url) in links(alert) {
            if buttons.len() == MAX_BUTTONS {
                break;
            }
            if seen.insert(url.clone()) {
                buttons.push(json!({
                    "type": "button",
                    "text": {"type": "plain_text", "text": text::plain(title, MAX_BUTTON_TEXT)},
                    "url": url,
                }));
            }
        }
    }
    (!buttons.is_empty()).then(|| json!({"type": "actions", "elements": buttons}))
}

/// An alert's links as (button text, URL): the runbook, the dashboard, then the check's links;
/// http and https only, and short enough for a button (a cut link would lead nowhere, so a
/// longer one is left out).
fn links(alert: &AlertView) -> Vec<(&str, String)> {
    let mut links: Vec<(usize, &str, String)> = alert
        .annotations
        .iter()
        .filter_map(|(name, value)| {
            let (rank, title) = match name.as_str() {
                "runbook_url" => (0, "Runbook"),
                "dashboard_url" => (1, "Dashboard"),
                other => (2, other.strip_prefix(LINK_ANNOTATION)?),
            };
            let url = reqwest::Url::parse(value.trim()).ok()?;
            let usable =
                matches!(url.scheme(), "http" | "https") && url.as_str().len() <= MAX_BUTTON_URL;
            usable.then(|| (rank, title, url.to_string()))
        })
        .collect();
    links.sort_by_key(|(rank, _, _)| *rank);
    links
        .into_iter()
        .map(|(_, title, url)| (title, url))
        .collect()
}

// The most attachment blocks the layout makes (a storm: the shared labels, two headings, the
// listed alerts, two "and more", the fields and the buttons) leave SPARE_BLOCKS free.
const _: () = assert!(1 + 2 + MAX_LISTED + 2 + 2 + SPARE_BLOCKS <= MAX_BLOCKS);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::blockkit::validate;
    use crate::render::template::{MessageConfig, MessageTemplate};

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn tablespace(i: usize, severity: &str) -> AlertView {
        AlertView {
            fingerprint: crate::alert::Fingerprint(i as u64),
            labels: labels(&[
                ("alertname", "tablespace_full"),
                ("owner", "ORDERS"),
                ("pct", &format!("{}", 91 + i % 9)),
                ("severity", severity),
                ("source", "prod"),
                ("tablespace_name", &format!("TS{i}")),
            ]),
            annotations: [
                ("summary".to_owned(), format!("Tablespace TS{i} is full")),
                (
                    "runbook_url".to_owned(),
                    "https://wiki.example/runbooks/tablespace".to_owned(),
                ),
            ]
            .into(),
            starts_at: at("2026-11-23T10:00:00Z"),
            ends_at: None,
        }
    }

    fn group(firing: usize, resolved: usize) -> GroupMessage {
        let mut resolved_alerts: Vec<AlertView> = (0..resolved)
            .map(|i| tablespace(1000 + i, "warning"))
            .collect();
        for a in &mut resolved_alerts {
            a.ends_at = Some(at("2026-11-23T11:00:00Z"));
        }
        GroupMessage {
            group_labels: labels(&[("alertname", "tablespace_full"), ("owner", "ORDERS")]),
            firing: (0..firing)
                .map(|i| tablespace(i, if i == 3 { "critical" } else { "warning" }))
                .collect(),
            resolved: resolved_alerts,
        }
    }

    fn layout() -> Layout {
        Layout {
            receiver: "orders-team".into(),
            template: None,
            key_labels: Arc::new(
                [(
                    "tablespace_full".to_owned(),
                    vec!["tablespace_name".to_owned()],
                )]
                .into(),
            ),
        }
    }

    /// The payload, checked against Slack's limits with room for a receiver's own blocks.
    fn checked(layout: &Layout, group: &GroupMessage) -> Value {
        let message = layout.message(group);
        assert!(message.details.len() + SPARE_BLOCKS <= MAX_BLOCKS);
        // With every control a receiver may add, it is still within the limits.
        let at = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let mut with_controls = message.clone();
        with_controls.details.extend(
            crate::render::controls::Controls {
                id: "0".repeat(32),
                ack: true,
                silence: true,
                acked: Some(("<@U024BE7LH>".into(), at)),
                silenced: Some(("<@U024BE7LH>".into(), at)),
                runs: vec![
                    crate::render::controls::RunControl {
                        text: "x".repeat(200),
                        value: "v".repeat(crate::render::blockkit::MAX_BUTTON_VALUE),
                    };
                    crate::render::blockkit::MAX_ACTIONS
                ],
            }
            .blocks(at),
        );
        let with_controls = with_controls.into_payload();
        validate(&with_controls).unwrap_or_else(|e| panic!("{e:?}\n{with_controls:#}"));
        let payload = message.into_payload();
        validate(&payload).unwrap_or_else(|e| panic!("{e:?}\n{payload:#}"));
        payload
    }

    fn deadlock() -> AlertView {
        let sql = "UPDATE orders SET status = 'SHIPPED'\n WHERE order_id = :1\n   AND status <> 'CANCELLED'";
        AlertView {
            fingerprint: crate::alert::Fingerprint(7),
            labels: labels(&[
                ("alertname", "oracle_deadlock"),
                ("deadlock_objects", "ORDERS.ORDERS,ORDERS.ORDER_LINES"),
                ("deadlock_programs", "JDBC Thin Client,sqlplus@batch01"),
                ("deadlock_sessions", "123,456"),
                ("deadlock_sql", sql),
                ("deadlock_users", "ORDERS_APP,BATCH"),
                (
                    "message_text",
                    "ORA-00060: deadlock detected while waiting for resource",
                ),
                ("pdb", "ORDERSPDB"),
                ("record_id", "1001"),
                ("severity", "critical"),
                ("source", "prod"),
                ("starts_at", "2026-11-23T08:14:02Z"),
                (
                    "trace_file",
                    "/u01/app/oracle/diag/rdbms/prod/PROD1/trace/PROD1_ora_4242.trc",
                ),
            ]),
            annotations: [
                ("summary".to_owned(), "Deadlock in ORDERSPDB".to_owned()),
                (
                    "description".to_owned(),
                    "Sessions 123 and 456 waited on each other; Oracle rolled back one statement."
                        .to_owned(),
                ),
                (
                    "link:Trace viewer".to_owned(),
                    "https://oem.example/trace?f=PROD1_ora_4242.trc".to_owned(),
                ),
            ]
            .into(),
            starts_at: at("2026-11-23T08:14:02Z"),
            ends_at: None,
        }
    }

    #[test]
    fn one_alert() {
        let payload = checked(&layout(), &group(1, 0));
        assert_eq!(
            payload["text"],
            ":warning: [FIRING:1] tablespace_full (owner=ORDERS): Tablespace TS0 is full"
        );
        insta::assert_json_snapshot!(payload);
    }

    #[test]
    fn group_of_three() {
        insta::assert_json_snapshot!(checked(&layout(), &group(3, 0)));
    }

    #[test]
    fn storm_of_500_is_one_summary() {
        let payload = checked(&layout(), &group(500, 0));
        assert_eq!(
            payload["text"],
            ":red_circle: [FIRING:500] tablespace_full (owner=ORDERS)"
        );
        let blocks = payload["attachments"][0]["blocks"].as_array().unwrap();
        let listed = blocks.iter().filter(|b| b["type"] == "section").count();
        assert_eq!(listed, MAX_LISTED);
        insta::assert_json_snapshot!(payload);
    }

    #[test]
    fn resolved() {
        let payload = checked(&layout(), &group(0, 1));
        assert_eq!(payload["attachments"][0]["color"], "#2EB67D");
        insta::assert_json_snapshot!(payload);
    }

    #[test]
    fn mixed() {
        insta::assert_json_snapshot!(checked(&layout(), &group(2, 1)));
    }

    #[test]
    fn event_with_trace_labels() {
        let g = GroupMessage {
            group_labels: labels(&[("alertname", "oracle_deadlock"), ("pdb", "ORDERSPDB")]),
            firing: vec![deadlock()],
            resolved: Vec::new(),
        };
        let payload = checked(&layout(), &g);
        let shown = payload.to_string();
        assert!(shown.contains(">UPDATE orders SET status = 'SHIPPED'\\n> WHERE order_id"));
        assert!(
            !shown.contains("*starts_at*"),
            "the time is in the context line"
        );
        insta::assert_json_snapshot!(payload);
    }

    #[test]
    fn hostile_text_in_every_field() {
        let evil = "<!channel> <@U123> & <https://evil.example|https://bank.example> \u{202E}\u{0}";
        let mut alert = deadlock();
        alert.labels = alert
            .labels
            .keys()
            .map(|k| {
                (
                    k.clone(),
                    format!(
                        "{evil}{}",
                        "x".repeat(if k == "deadlock_sql" { 50_000 } else { 0 })
                    ),
                )
            })
            .chain([(evil.to_owned(), evil.to_owned())])
            .collect();
        alert.annotations = [
            ("summary", evil.repeat(100)),
            ("description", evil.repeat(1000)),
            ("runbook_url", format!("javascript:alert(1)//{evil}")),
            (
                "dashboard_url",
                format!("https://d.example/{}", "a".repeat(5000)),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let g = GroupMessage {
            group_labels: labels(&[(evil, evil)]),
            firing: vec![alert; 2],
            resolved: Vec::new(),
        };
        let payload = checked(&layout(), &g);
        let raw = payload.to_string();
        for forbidden in [
            "<!channel>",
            "<@U123>",
            "<https://evil",
            "\u{202E}",
            "javascript:",
        ] {
            assert!(!raw.contains(forbidden), "{forbidden} in {raw}");
        }
        assert!(
            payload["attachments"][0]["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["type"] != "actions"),
            "neither link is usable"
        );
        insta::assert_json_snapshot!(payload);
    }

    #[test]
    fn link_buttons_come_once_each_and_only_for_web_urls() {
        let mut g = group(2, 0);
        g.firing[1]
            .annotations
            .insert("dashboard_url".into(), "ftp://files.example/x".into());
        g.firing[1].annotations.insert(
            "link:Grafana".into(),
            "https://grafana.example/d/ts?var-ts=TS1".into(),
        );
        let payload = checked(&layout(), &g);
        let blocks = payload["attachments"][0]["blocks"].as_array().unwrap();
        assert_eq!(
            blocks.last().unwrap()["elements"],
            json!([
                {"type": "button", "text": {"type": "plain_text", "text": "Runbook"}, "url": "https://wiki.example/runbooks/tablespace"},
                {"type": "button", "text": {"type": "plain_text", "text": "Grafana"}, "url": "https://grafana.example/d/ts?var-ts=TS1"},
            ])
        );
    }

    #[test]
    fn hidden_labels_and_a_template_title_and_fields() {
        let template = MessageTemplate::compile(MessageConfig {
            title: Some(
                "{{ common_labels.owner }}: {{ firing | length }} tablespaces <!here>".into(),
            ),
            fields: vec![crate::render::template::FieldConfig {
                title: "Worst".into(),
                value: "{{ firing | map(attribute='labels.pct') | max }}%".into(),
            }],
            hide_labels: vec!["pct".into()],
            ..MessageConfig::default()
        })
        .unwrap();
        let layout = Layout {
            template: Some(Arc::new(template)),
            ..layout()
        };
        let payload = checked(&layout, &group(2, 0));
        assert_eq!(payload["text"], ":warning: ORDERS: 2 tablespaces <!here>");
        assert_eq!(
            payload["blocks"][0]["text"]["text"],
            ":warning: *ORDERS: 2 tablespaces <!here>*"
        );
        let blocks = payload["attachments"][0]["blocks"].as_array().unwrap();
        assert!(!payload.to_string().contains("*pct*"));
        assert_eq!(
            blocks[blocks.len() - 2]["fields"][0]["text"],
            "*Worst*\n92%"
        );
    }

    #[test]
    fn a_template_text_too_long_for_slack_is_cut_with_a_marker() {
        let template = MessageTemplate::compile(MessageConfig {
            text: Some(
                "{% for a in alerts %}{% for i in range(10) %}{{ a.title }}: line {{ i }} of its report\n{% endfor %}{% endfor %}"
                    .into(),
            ),
            ..MessageConfig::default()
        })
        .unwrap();
        let layout = Layout {
            template: Some(Arc::new(template)),
            ..layout()
        };
        let payload = checked(&layout, &group(60, 0));
        let blocks = payload["attachments"][0]["blocks"].as_array().unwrap();
        let sections: Vec<&Value> = blocks.iter().filter(|b| b["type"] == "section").collect();
        assert_eq!(sections.len(), TEXT_SECTIONS);
        let last = sections.last().unwrap()["text"]["text"].as_str().unwrap();
        assert!(last.ends_with(CUT_MARKER), "{last}");
    }
}
