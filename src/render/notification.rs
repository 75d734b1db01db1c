//! The Slack message for one group notification: the alerts routed to one receiver under one
//! group key in one run, firing and resolved together.
//!
//! A storm becomes one message, never a flood and never a silent drop: the message counts every
//! alert, lists the first [`MAX_LISTED`] and says how many more there are. What it lists is cut
//! to Slack's limits ([`super::blockkit`]).

use serde_json::{Value, json};

use super::blockkit::{FALLBACK_TEXT, MAX_SECTION_TEXT};
use super::text;
use crate::alert::{AlertView, GroupMessage, Labels};

/// How many alerts one message lists; the rest are counted. With one section per alert and a
/// few headings this stays far below Slack's 50 blocks.
pub const MAX_LISTED: usize = 20;
/// The most characters each part of one listed alert takes, so that twenty alerts fit well
/// within what Slack shows (and each section within its 3000).
const TITLE_TEXT: usize = 150;
const DESCRIPTION_TEXT: usize = 500;
const LABELS_TEXT: usize = 300;

/// The Slack payload for a group notification.
pub fn payload(group: &GroupMessage) -> Value {
    let severity = group.severity();
    let counts = match (group.firing.len(), group.resolved.len()) {
        (f, 0) => format!("FIRING:{f}"),
        (0, r) => format!("RESOLVED:{r}"),
        (f, r) => format!("FIRING:{f}, RESOLVED:{r}"),
    };
    let name = group
        .group_labels
        .get("alertname")
        .or_else(|| {
            group
                .firing
                .first()
                .or(group.resolved.first())
                .and_then(|a| a.labels.get("alertname"))
        })
        .map_or("alerts", String::as_str);
    let scope: Vec<String> = group
        .group_labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut headline = format!("[{counts}] {name}");
    if !scope.is_empty() {
        headline.push_str(&format!(" ({})", scope.join(", ")));
    }
    let only = match (group.firing.as_slice(), group.resolved.as_slice()) {
        ([one], []) | ([], [one]) => Some(one.title().to_owned()),
        _ => None,
    };
    let fallback = match &only {
        Some(title) => format!("{} {headline}: {title}", severity.emoji()),
        None => format!("{} {headline}", severity.emoji()),
    };

    let mut blocks = Vec::new();
    let mut listed = 0;
    for (heading, alerts) in [("Firing", &group.firing), ("Resolved", &group.resolved)] {
        if alerts.is_empty() {
            continue;
        }
        if !group.firing.is_empty() && !group.resolved.is_empty() {
            blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("*{heading}* ({})", alerts.len())}]}));
        }
        let room = MAX_LISTED.saturating_sub(listed);
        for alert in alerts.iter().take(room) {
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": alert_text(alert, &group.group_labels)}}));
        }
        listed += alerts.len().min(room);
        if alerts.len() > room {
            blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("and {} more {}", alerts.len() - room, heading.to_lowercase())}]}));
        }
    }

    json!({
        "text": text::mrkdwn(&fallback, FALLBACK_TEXT),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": format!("{} *{}*", severity.emoji(), text::mrkdwn(&headline, MAX_SECTION_TEXT - 40))}}],
        "attachments": [{"color": severity.color(), "blocks": blocks}],
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

/// One alert: its title, description, the labels the group does not already show, and since
/// when. Each part is escaped and cut on its own budget, so a long description cannot push the
/// labels out and a hostile value cannot open a link or a mention.
fn alert_text(alert: &AlertView, group_labels: &Labels) -> String {
    let mut lines = vec![format!("*{}*", text::mrkdwn(alert.title(), TITLE_TEXT))];
    if let Some(description) = alert.annotations.get("description") {
        lines.push(text::mrkdwn(description, DESCRIPTION_TEXT));
    }
    let labels: Vec<String> = alert
        .labels
        .iter()
        .filter(|(k, _)| !group_labels.contains_key(*k) && k.as_str() != "alertname")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !labels.is_empty() {
        lines.push(text::mrkdwn(&labels.join("  "), LABELS_TEXT));
    }
    lines.push(match alert.ends_at {
        Some(end) => format!(
            "resolved {}, fired {}",
            format_time(end),
            format_time(alert.starts_at)
        ),
        None => format!("since {}", format_time(alert.starts_at)),
    });
    lines.join("\n")
}

fn format_time(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::blockkit::validate;

    fn alert(name: &str, i: usize, severity: &str) -> AlertView {
        let labels: Labels = [
            ("alertname", name.to_owned()),
            ("severity", severity.to_owned()),
            ("tablespace", format!("TS{i}")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        AlertView {
            fingerprint: crate::alert::Fingerprint(i as u64),
            labels,
            annotations: [("summary".to_owned(), format!("Tablespace TS{i} is full"))].into(),
            starts_at: "2026-11-23T10:00:00Z".parse().unwrap(),
            ends_at: None,
        }
    }

    fn group(firing: usize, resolved: usize) -> GroupMessage {
        let mut resolved_alerts: Vec<AlertView> = (0..resolved)
            .map(|i| alert("tablespace_full", 1000 + i, "warning"))
            .collect();
        for a in &mut resolved_alerts {
            a.ends_at = Some("2026-11-23T11:00:00Z".parse().unwrap());
        }
        GroupMessage {
            group_labels: [("alertname".to_owned(), "tablespace_full".to_owned())].into(),
            firing: (0..firing)
                .map(|i| {
                    alert(
                        "tablespace_full",
                        i,
                        if i == 3 { "critical" } else { "warning" },
                    )
                })
                .collect(),
            resolved: resolved_alerts,
        }
    }

    #[test]
    fn one_alert_reads_as_itself() {
        let payload = payload(&group(1, 0));
        assert_eq!(
            payload["text"],
            ":warning: [FIRING:1] tablespace_full: Tablespace TS0 is full"
        );
        assert_eq!(
            payload["attachments"][0]["blocks"][0]["text"]["text"],
            "*Tablespace TS0 is full*\nseverity=warning  tablespace=TS0\nsince 2026-11-23 10:00:00 UTC"
        );
        validate(&payload).unwrap();
    }

    #[test]
    fn a_storm_is_counted_listed_and_within_limits() {
        let payload = payload(&group(230, 5));
        validate(&payload).unwrap();
        assert_eq!(
            payload["text"],
            ":red_circle: [FIRING:230, RESOLVED:5] tablespace_full"
        );
        let blocks = payload["attachments"][0]["blocks"].as_array().unwrap();
        let texts: Vec<String> = blocks.iter().map(|b| b.to_string()).collect();
        assert!(
            texts.iter().any(|t| t.contains("and 210 more firing")),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|t| t.contains("and 5 more resolved")),
            "{texts:?}"
        );
        let listed = blocks.iter().filter(|b| b["type"] == "section").count();
        assert_eq!(listed, MAX_LISTED);
    }

    #[test]
    fn everything_resolved_is_green() {
        let payload = payload(&group(0, 2));
        assert_eq!(
            payload["attachments"][0]["color"],
            crate::alert::Severity::Ok.color()
        );
        assert_eq!(
            payload["text"],
            ":white_check_mark: [RESOLVED:2] tablespace_full"
        );
        validate(&payload).unwrap();
    }

    #[test]
    fn hostile_labels_are_escaped_and_cut() {
        let mut g = group(1, 0);
        g.firing[0]
            .labels
            .insert("owner".into(), "<!channel> & <http://evil|bank>".into());
        g.firing[0]
            .annotations
            .insert("description".into(), "x".repeat(50_000));
        let payload = payload(&g);
        let raw = payload.to_string();
        assert!(!raw.contains("<!channel>") && !raw.contains("<http://evil|bank>"));
        assert!(raw.contains("&lt;!channel&gt; &amp; &lt;http://evil|bank&gt;"));
        validate(&payload).unwrap();
    }
}
