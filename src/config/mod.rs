//! The toolbox every config section uses, whatever its domain: the YAML tree that keeps
//! positions ([`yaml`]), typed reading that collects every problem ([`reader`]), `${env:}` and
//! `${file:}` references, durations, secrets, and reading files safely ([`mod@file`]). It knows no
//! domain; [`crate::settings`] reads the whole file and resolves each section through its own.

pub mod duration;
pub mod file;
mod interpolate;
pub mod reader;
pub mod secret;
pub mod yaml;

pub use reader::{EnvLookup, References};
use yaml::Path;

/// One thing wrong in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub line: u64,
    pub column: u64,
    pub path: Path,
    pub message: String,
}
