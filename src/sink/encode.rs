//! Encoding: the request bodies a receiver is sent for a run's notifications. Each receiver
//! kind encodes in one place, here; delivering sends the bodies, and a dry run prints the very
//! same bodies instead, so what `poll --dry-run` shows is what would be sent.

use std::ops::Range;

use jiff::Timestamp;
use serde_json::Value;

use super::config::{Receiver, ReceiverKind};
use super::delivery::ReceiverName;
use super::{Notice, alertmanager, webhook};
use crate::alert::GroupMessage;
use crate::config::duration::Duration;
use crate::render::notification::Layout;

/// How one receiver turns notifications into request bodies.
#[derive(Debug, Clone)]
pub enum Encoder {
    /// One Slack message per notification (Slack webhooks and apps, `stdout`).
    Slack(Layout),
    /// Every notification's alerts in one body for Alertmanager's `/api/v2/alerts`, with the
    /// receiver's resend interval (a firing alert ends four of them ahead).
    Alertmanager(Duration),
    /// One webhook document per notification.
    Webhook {
        receiver: ReceiverName,
        layout: Layout,
        max_alerts: usize,
    },
}

/// One request: its body and the notifications it carries (their indexes in the run's list).
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub notices: Range<usize>,
    pub body: Value,
}

impl Encoder {
    /// The encoder of `receiver`'s kind, laid out as its config says.
    pub fn of(receiver: &Receiver) -> Self {
        match &receiver.kind {
            ReceiverKind::Slack(_) | ReceiverKind::Stdout(_) => {
                Self::Slack(receiver.layout.clone())
            }
            ReceiverKind::Alertmanager(config) => Self::Alertmanager(config.resend_interval()),
            ReceiverKind::Webhook(config) => Self::Webhook {
                receiver: receiver.name.clone(),
                layout: receiver.layout.clone(),
                max_alerts: config.max_alerts,
            },
        }
    }

    /// The requests for `notices`, in order. Alertmanager takes all of them in one request;
    /// the other kinds get one request each.
    pub fn encode(&self, notices: &[Notice], now: Timestamp) -> Vec<Encoded> {
        let one_each = |body: &dyn Fn(&Notice) -> Value| -> Vec<Encoded> {
            (notices.iter().enumerate())
                .map(|(i, notice)| Encoded {
                    notices: i..i + 1,
                    body: body(notice),
                })
                .collect()
        };
        match self {
            Self::Slack(layout) => one_each(&|notice| slack_message(layout, notice, now)),
            Self::Webhook {
                receiver,
                layout,
                max_alerts,
            } => one_each(&|notice| {
                webhook::document(
                    receiver,
                    &notice.group_key,
                    &notice.message,
                    *max_alerts,
                    layout,
                )
            }),
            Self::Alertmanager(_) if notices.is_empty() => Vec::new(),
            Self::Alertmanager(resend) => {
                let messages: Vec<&GroupMessage> = notices.iter().map(|n| &n.message).collect();
                vec![Encoded {
                    notices: 0..notices.len(),
                    body: alertmanager::alerts_body(&messages, now, *resend),
                }]
            }
        }
    }

    /// Whether its bodies are Slack messages, which `dbalert send` can post.
    pub fn takes_messages(&self) -> bool {
        matches!(self, Self::Slack(_))
    }
}

/// A group notification's Slack message, with its buttons when it has them (Slack app
/// receivers with `allow:`; `poll::controls` gives them).
fn slack_message(layout: &Layout, notice: &Notice, now: Timestamp) -> Value {
    let mut message = layout.message(&notice.message);
    if let Some(controls) = &notice.controls {
        message.details.extend(controls.blocks(now));
    }
    message.into_payload()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertView, Fingerprint, Labels};

    fn notice(name: &str) -> Notice {
        let labels = Labels::from([("alertname".to_owned(), name.to_owned())]);
        Notice {
            group_key: format!("{{}}:{{alertname=\"{name}\"}}"),
            message: GroupMessage {
                firing: vec![AlertView {
                    fingerprint: Fingerprint::of(name, "test", std::iter::empty()),
                    labels: labels.clone(),
                    annotations: Labels::new(),
                    starts_at: "2024-06-01T10:00:00Z".parse().unwrap(),
                    ends_at: None,
                }],
                group_labels: labels,
                ..GroupMessage::default()
            },
            thread: None,
            controls: None,
        }
    }

    #[test]
    fn each_kind_encodes_its_requests() {
        let now: Timestamp = "2024-06-01T11:00:00Z".parse().unwrap();
        let notices = [notice("a"), notice("b")];
        let webhook = Encoder::Webhook {
            receiver: ReceiverName("tickets".into()),
            layout: Layout::default(),
            max_alerts: 0,
        };
        let am = Encoder::Alertmanager(Duration::parse("1m").unwrap());
        // Each request's notices, as (start, end).
        for (encoder, ranges) in [
            (Encoder::Slack(Layout::default()), vec![(0, 1), (1, 2)]),
            (webhook, vec![(0, 1), (1, 2)]),
            (am.clone(), vec![(0, 2)]),
        ] {
            let requests = encoder.encode(&notices, now);
            let got: Vec<(usize, usize)> = (requests.iter())
                .map(|r| (r.notices.start, r.notices.end))
                .collect();
            assert_eq!(got, ranges, "{encoder:?}");
            assert!(requests.iter().all(|r| !r.body.is_null()));
        }
        let alerts = &am.encode(&notices, now)[0].body;
        assert_eq!(alerts.as_array().map(Vec::len), Some(2));
        assert!(am.encode(&[], now).is_empty(), "no empty request");
    }
}
