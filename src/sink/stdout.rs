//! The `stdout` receiver: prints each payload instead of sending it. `poll --dry-run` prints
//! the same way for every receiver, with the receiver's name.

use std::io::Write;

use serde::Deserialize;
use serde_json::{Value, json};

use jiff::Timestamp;

use super::delivery::ReceiverName;
use super::{Notice, SendError, alertmanager, webhook};
use crate::config::duration::Duration;
use crate::render::notification::Layout;
use crate::render::terminal;

/// `stdout:` in a receiver.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutReceiverConfig {
    /// `json` (default): each Slack payload as one line of JSON, for scripts and tests.
    /// `text`: the message as a person would read it in Slack, for trying dbalert out.
    #[serde(default)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Json,
    Text,
}

#[derive(Debug)]
pub struct StdoutSink {
    /// Named in the output when set (dry runs, where every receiver prints).
    pub receiver: Option<ReceiverName>,
    pub format: Format,
    /// What a notification prints as.
    pub body: Body,
    /// How the message it stands for is laid out.
    pub layout: Layout,
}

/// The body a notification prints as: what the receiver it stands for would be sent.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// The Slack message.
    Slack,
    /// Alertmanager's alerts, with the receiver's resend interval.
    Alertmanager(Duration),
    /// The webhook document, with the receiver's `max_alerts`.
    Webhook(usize),
}

impl StdoutSink {
    pub fn notify(&self, notice: &Notice, now: Timestamp) -> Result<(), SendError> {
        let body = match self.body {
            Body::Slack => self.layout.payload(&notice.message),
            Body::Alertmanager(resend) => {
                alertmanager::alerts_body(&[&notice.message], now, resend)
            }
            Body::Webhook(max_alerts) => webhook::document(
                self.receiver
                    .as_ref()
                    .unwrap_or(&ReceiverName("stdout".to_owned())),
                &notice.group_key,
                &notice.message,
                max_alerts,
                &self.layout,
            ),
        };
        self.print(&body)
    }

    pub fn print(&self, payload: &Value) -> Result<(), SendError> {
        match (self.format, &self.receiver) {
            (Format::Json, None) => print_payload(payload),
            (Format::Json, Some(receiver)) => {
                print_payload(&json!({"receiver": receiver.0, "payload": payload}))
            }
            (Format::Text, receiver) => {
                let mut out = std::io::stdout().lock();
                if let Some(receiver) = receiver {
                    writeln!(out, "── to {receiver}")?;
                }
                out.write_all(terminal::as_text(payload).as_bytes())?;
                out.flush()?;
                Ok(())
            }
        }
    }
}

/// Writes `payload` as one line of JSON.
pub fn print_payload(payload: &Value) -> Result<(), SendError> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, payload).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_reads_like_slack() {
        let payload = crate::render::blockkit::message_payload(&crate::render::Message {
            severity: crate::alert::Severity::Warning,
            title: Some("Disk & co".into()),
            text: "97% full".into(),
            fields: vec![("db".into(), "PROD".into())],
            link: None,
        });
        assert_eq!(
            terminal::as_text(&payload),
            ":warning: *Disk & co*\n97% full\n*db*\nPROD\n\n"
        );
    }
}
