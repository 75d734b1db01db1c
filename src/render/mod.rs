//! Turning alerts and messages into what Slack shows.
//!
//! Every piece of text that came from a database, a script or a user is untrusted: it is cleaned
//! of control characters, escaped so it cannot mention `@channel` or forge links, and cut to
//! Slack's limits with a visible marker ([`text`]). The Block Kit payload and Slack's limits live
//! in [`blockkit`]; a receiver's message templates in [`template`], and a payload as a terminal
//! shows it in [`terminal`].

pub mod blockkit;
pub mod controls;
pub mod notification;
pub mod template;
pub mod terminal;
pub mod text;

use crate::alert::Severity;

/// One message, as `dbalert send` builds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub severity: Severity,
    pub title: Option<String>,
    pub text: String,
    /// Shown as a two-column list under the text, in this order.
    pub fields: Vec<(String, String)>,
    /// An http(s) link shown under the message.
    pub link: Option<reqwest::Url>,
}
