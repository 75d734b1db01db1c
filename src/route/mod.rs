//! Routing: which receivers an alert goes to, how alerts are grouped into notifications, when a
//! group is notified again, and what mutes it. Everything here means what it means in
//! Prometheus Alertmanager, so that a routing tree written for Alertmanager works unchanged.
//!
//! - [`matcher`] and [`parse`]: label matchers and their text syntax;
//! - [`tree`]: the routing tree, its inheritance and its matching;
//! - [`group`]: group keys and the pure decision to notify a group;
//! - [`inhibit`]: inhibition rules;
//! - [`silence`]: silences, made by hand or from Slack, that mute what they match for a while;
//! - [`time_interval`]: named time intervals that mute routes;
//! - `config`: reading the three sections from the config file.
//!
//! Nothing here does I/O or reads the clock: time is always passed in.

pub(crate) mod config;
pub mod group;
pub mod inhibit;
pub mod matcher;
pub mod parse;
pub mod silence;
pub mod time_interval;
pub mod tree;

pub use config::TimeIntervals;
pub use group::{AlertSets, Decision, LastNotified, decide, group_key, group_labels};
pub use inhibit::{InhibitRule, Inhibitor};
pub use matcher::{MatchOp, Matcher, MatcherError, Matchers};
pub use silence::{Silence, SilenceState};
pub use time_interval::{TimeInterval, TimeSpec};
pub use tree::{GroupBy, Route, RouteNode, RouteOpts, RouteSpec};

/// Helpers for the tests of this module's files.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;

    use super::Route;
    use crate::alert::Labels;
    use crate::config::Problem;
    use crate::settings::{self as config, Config, ConfigError};

    pub fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// `text` with a `receivers:` section defining every receiver its routes name.
    fn with_receivers(text: &str) -> String {
        let mut names: Vec<&str> = text
            .lines()
            .filter_map(|line| {
                line.trim()
                    .trim_start_matches("- ")
                    .strip_prefix("receiver:")
            })
            .map(|name| name.trim().trim_matches(['\'', '"']))
            .filter(|name| !name.is_empty())
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut full = format!("{text}\nreceivers:\n");
        for name in names {
            full.push_str(&format!("  {name}: {{stdout: {{}}}}\n"));
        }
        full
    }

    /// Checks a config (receivers added), expecting it to be valid.
    pub fn config(text: &str) -> Config {
        match config::parse(
            &with_receivers(text),
            Path::new("alerts.yaml"),
            Box::new(|_| None),
        ) {
            Ok(config) => config,
            Err(err) => panic!("{err}"),
        }
    }

    /// The routing tree of a config (receivers added).
    pub fn route(text: &str) -> Route {
        config(text).route.expect("the config has a route")
    }

    /// The problems of an invalid config, as written (receivers not added).
    pub fn problems(text: &str) -> Vec<Problem> {
        match config::parse(text, Path::new("alerts.yaml"), Box::new(|_| None)) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }
}
