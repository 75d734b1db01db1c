//! The `stdout` receiver: prints each payload instead of sending it. `poll --dry-run` and
//! `dbalert preview` print every receiver's encoded bodies the same way, with its name.

use std::io::Write;

use serde::Deserialize;
use serde_json::{Value, json};

use super::SendError;
use super::delivery::ReceiverName;
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

/// Prints payloads to standard output.
#[derive(Debug)]
pub struct StdoutSink {
    /// Named in the output when set (dry runs, where every receiver prints).
    pub receiver: Option<ReceiverName>,
    pub format: Format,
}

impl StdoutSink {
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
