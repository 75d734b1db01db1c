//! What every receiver kind shares, below them all: its name (defined with the config, since
//! routes and the state file name receivers too), its delivery settings, and the shape of a
//! problem found in its block of the config.

pub use crate::config::ReceiverName;
use crate::config::duration::Duration;

/// How a receiver delivers; the same for every kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub max_retries: u32,
    pub timeout: Duration,
    pub deadline: Duration,
    pub send_resolved: bool,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            max_retries: 5,
            timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(120),
            send_resolved: true,
        }
    }
}

/// A problem with a receiver's block, found when the config is checked.
pub struct ConfigProblem {
    pub key: &'static str,
    pub message: String,
}

impl ConfigProblem {
    pub fn new(key: &'static str, message: impl Into<String>) -> Self {
        Self {
            key,
            message: message.into(),
        }
    }
}
