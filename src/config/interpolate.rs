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
            Some(("file", path)) => {
                let full = base.join(path);
                match std::fs::read_to_string(&full) {
                    Ok(contents) => out.text.push_str(contents.trim()),
                    Err(err) => out.problems.push(format!(
                        "cannot read `{}` for `${{file:{path}}}`: {err}; check the path and that dbalert's user may read it",
                        full.display()
                    )),
                }
            }
            _ => out.problems.push(format!(
                "`${{{inner}}}` is not a reference dbalert knows; write `${{env:NAME}}` or `${{file:PATH}}` (or `$${{` for a literal `${{`)"
            )),
        }
    }
    out.text.push_str(&input[last..]);
    out
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
