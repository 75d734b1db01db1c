//! dbalert reads alerts out of databases and routes each one to the Slack channel of the team
//! that owns it.
//!
//! The binary (`src/main.rs`) only parses arguments and hands over to [`cli::run`]; everything
//! else lives here so that tests and benchmarks can drive the same code.

pub mod action;
pub mod alert;
pub mod check;
pub mod cli;
pub mod config;
pub mod interact;
pub mod metrics;
pub mod poll;
pub mod render;
pub mod route;
pub mod settings;
pub mod sink;
pub mod source;
pub mod state;
