//! The `stdout` receiver: prints each payload as one JSON document per line. `--dry-run` uses
//! the same printing for every receiver.

use std::io::Write;

use serde::Deserialize;

use super::SendError;

/// `stdout: {}`: no settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutReceiverConfig {}

#[derive(Debug)]
pub struct StdoutSink;

impl StdoutSink {
    pub fn send(&self, payload: &serde_json::Value) -> Result<(), SendError> {
        print_payload(payload)
    }
}

/// Writes `payload` as one line of JSON.
pub fn print_payload(payload: &serde_json::Value) -> Result<(), SendError> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, payload).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}
