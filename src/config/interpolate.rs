//! `${env:NAME}` and `${file:PATH}` in any string of the config file.
//!
//! Interpolation happens on parsed string values, never on the raw file text: a secret that
//! holds a newline or `: ` cannot change the structure of the YAML.

use std::path::Path as FsPath;
use std::sync::LazyLock;

use regex::Regex;

/// `${kind:arg}`; `$${` is a literal `${`.
static REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\$\{|\$\{([^}]*)\}").expect("the reference pattern is valid"));

/// The largest file `${file:}` reads: it holds one secret, a URL or a token.
pub const MAX_FILE_BYTES: u64 = 64 << 10;

/// The outcome of expanding one string.
#[derive(Debug, Default, PartialEq)]
pub struct Expanded {
    pub text: String,
    /// True when anything came from the environment or a file: such values are secrets as far
    /// as error messages are concerned.
    pub referenced: bool,
    pub problems: Vec<String>,
}

/// Expands every reference in `input`. `base` is the directory that relative `${file:}` paths
/// are read from (the config file's own directory).
pub fn expand(input: &str, base: &FsPath, env: &dyn Fn(&str) -> Option<String>) -> Expanded {
    let mut out = Expanded::default();
    if !input.contains('$') {
        out.text = input.to_owned();
        return out;
    }
    let mut last = 0;
    for caps in REFERENCE.captures_iter(input) {
        let whole = caps.get(0).expect("group 0 always matches");
        out.text.push_str(&input[last..whole.start()]);
        last = whole.end();
        let Some(inner) = caps.get(1).map(|m| m.as_str()) else {
            out.text.push_str("${");
            continue;
        };
        out.referenced = true;
        match inner.split_once(':') {
            Some(("env", name)) => match env(name) {
                Some(value) => out.text.push_str(&value),
                None => out.problems.push(format!(
                    "environment variable `{name}` is not set; export it before running dbalert, or use `${{file:PATH}}`"
                )),
            },
            Some(("file", path)) => match read(&base.join(path)) {
                Ok(contents) => out.text.push_str(contents.trim()),
                Err(reason) => out.problems.push(format!(
                    "cannot read `{}` for `${{file:{path}}}`: {reason}; point it at a regular file of at most {} KiB that dbalert's user may read",
                    base.join(path).display(),
                    MAX_FILE_BYTES / 1024
                )),
            },
            _ => out.problems.push(format!(
                "`${{{inner}}}` is not a reference dbalert knows; write `${{env:NAME}}` or `${{file:PATH}}` (or `$${{` for a literal `${{`)"
            )),
        }
    }
    out.text.push_str(&input[last..]);
    out
}

/// Reads the file a `${file:}` names, once: a regular file, capped, UTF-8.
fn read(path: &FsPath) -> Result<String, String> {
    let bytes = super::file::read_file(path, MAX_FILE_BYTES).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())
}

/// Whether `input` holds a `${kind:arg}` reference, without resolving it (reading no file).
pub fn has_reference(input: &str) -> bool {
    REFERENCE
        .captures_iter(input)
        .any(|caps| caps.get(1).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "HOOK").then(|| "https://hooks.example/T/B/x".to_owned())
    }

    #[test]
    fn expands_env_and_keeps_literals() {
        let out = expand("url=${env:HOOK} cost=$${x}", FsPath::new("."), &env);
        assert_eq!(out.text, "url=https://hooks.example/T/B/x cost=${x}");
        assert!(out.referenced);
        assert!(out.problems.is_empty());
    }

    #[test]
    fn plain_text_is_not_a_reference() {
        let out = expand("costs $5", FsPath::new("."), &env);
        assert_eq!(out.text, "costs $5");
        assert!(!out.referenced);
    }

    #[test]
    fn missing_variable_and_unknown_kind_are_problems() {
        let out = expand("${env:NOPE}${vault:x}${HOOK}", FsPath::new("."), &env);
        assert_eq!(out.problems.len(), 3, "{:?}", out.problems);
        assert!(out.problems[0].contains("`NOPE` is not set"));
        assert!(out.problems[1].contains("`${vault:x}` is not a reference"));
    }

    #[test]
    fn file_contents_are_trimmed_and_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hook"), "secret-value\n").unwrap();
        let out = expand("${file:hook}", dir.path(), &env);
        assert_eq!(out.text, "secret-value");
        let missing = expand("${file:nope}", dir.path(), &env);
        assert!(
            missing.problems[0].contains("cannot read"),
            "{:?}",
            missing.problems
        );
    }
}
