//! Acting on alerts from Slack: the `slack_app:` and `access:` sections, who may click what,
//! and (from `dbalert serve`) the Socket Mode and HTTP transports that receive the clicks and
//! hand each one, acknowledged, to the code that acts on it.
//!
//! Chat is an attack surface: every request is verified (Socket Mode by its authenticated
//! socket, HTTP mode by its signature), payloads from another workspace are refused, and access
//! is checked on every click, denied unless a rule allows it.

pub mod access;
mod act;
pub mod click;
pub mod config;
pub mod http;
pub mod incoming;
pub mod manifest;
pub mod payload;
pub mod serve;
pub mod signature;
pub mod silences;
pub mod socket;
pub mod usergroups;
pub mod wss;

pub use crate::sink::config::{Button, Interactive};
pub use click::{Clicks, ClicksError, Handled, Outcome};
pub use config::{Access, Principal, SlackAppConfig, SlackMode};
pub use incoming::{Incoming, Kind};
