//! Actions: named, vetted SQL or PL/SQL that people run from Slack (`/dbalert NAME ARG…`) or
//! the shell (`dbalert actions test`), with typed parameters that are always bound, never put
//! into SQL text.
//!
//! The path of one request: the arguments are split ([`grammar`]) and validated by type
//! ([`params`]) before anything reaches a database; the person is authorized against the
//! action's `allow:` (`interact::access::decide`, deny by default); an intent row goes to the
//! audit trail; an action that needs a confirmation or an approval waits in the state file
//! until someone clicks; then the statement runs ([`run`]) and the outcome is posted and
//! audited ([`chat`]). The transports (`dbalert serve`) verify and acknowledge Slack's requests
//! and hand the payloads to [`chat::slash_command`] and [`chat::button_click`].

pub mod audit;
mod binds;
pub mod chat;
pub mod config;
pub mod grammar;
pub mod params;
pub mod run;
pub mod runbook;

pub use config::{Action, ActionKind, Response};
