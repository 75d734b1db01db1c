//! The toolbox every config section uses, whatever its domain: the YAML tree that keeps
//! positions ([`yaml`]), typed reading that collects every problem ([`reader`]), `${env:}` and
//! `${file:}` references, durations, secrets, reading files safely ([`mod@file`]) and TLS client settings ([`tls`]). It knows no
//! domain; [`crate::settings`] reads the whole file and resolves each section through its own.

pub mod duration;
pub mod file;
mod interpolate;
pub mod reader;
pub mod secret;
pub mod tls;
pub mod yaml;

use std::fmt;

pub use reader::{EnvLookup, References};
use yaml::Path;

/// A receiver's name as written under `receivers:`; routes, the state file and `send --to`
/// refer to it. Kept here, below every domain, because routes and the state file name receivers
/// without knowing what they are.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReceiverName(pub String);

impl fmt::Display for ReceiverName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One thing wrong in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub line: u64,
    pub column: u64,
    pub path: Path,
    pub message: String,
}
