//! Turns the located YAML tree into typed values, section by section, collecting every problem
//! with its position instead of stopping at the first.

use std::path::{Path as FsPath, PathBuf};

use serde::de::DeserializeOwned;
use serde_saphyr::Spanned;

use super::Problem;
use super::interpolate;
use super::yaml::{self, Node, Path};

/// Looks up `${env:NAME}`; tests pass their own instead of the process environment.
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String>>;

pub struct Reader {
    root: Spanned<Node>,
    base: PathBuf,
    env: EnvLookup,
    problems: Vec<Problem>,
    /// Every value that came from `${env:}` or `${file:}`, with its key: a message about that
    /// key (or a section holding it) must not quote it.
    referenced: Vec<(Path, String)>,
    /// Whether a reference that cannot be resolved is a problem (it is, unless the config is
    /// read by a command that delivers nothing).
    references: References,
    /// Where references were left unresolved ([`References::Deferred`] only).
    unresolved: Vec<Path>,
}

/// What to do with `${env:}` and `${file:}` references that cannot be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum References {
    /// Each is a problem: the config is for delivering.
    Required,
    /// Each is left as written and the checks that need its value are skipped: the config is
    /// for a command that sends nothing, such as `routes test`, which then needs no secret.
    Deferred,
}

impl Reader {
    pub fn new(root: Spanned<Node>, base: &FsPath, env: EnvLookup, references: References) -> Self {
        Self {
            root,
            base: base.to_owned(),
            env,
            problems: Vec::new(),
            referenced: Vec::new(),
            references,
            unresolved: Vec::new(),
        }
    }

    /// True when a reference at or under `path` was left unresolved, so its value is not real.
    pub fn unresolved_under(&self, path: &Path) -> bool {
        self.unresolved
            .iter()
            .any(|u| u.segments().starts_with(path.segments()))
    }

    /// The directory relative paths in the config are read from: the config file's own.
    pub fn base(&self) -> &FsPath {
        &self.base
    }

    pub fn node(&self, path: &Path) -> Option<&Node> {
        yaml::get(&self.root, path).map(|n| &n.value)
    }

    /// The keys of the map at `path`, in file order; empty when there is no map there.
    pub fn keys(&self, path: &Path) -> Vec<String> {
        match self.node(path) {
            Some(Node::Map(entries)) => entries.iter().map(|(k, _)| k.value.clone()).collect(),
            _ => Vec::new(),
        }
    }

    /// True when the string at `path` is written literally in the file rather than taken from
    /// `${env:}` or `${file:}`.
    pub fn is_literal(&self, path: &Path) -> bool {
        match self.node(path) {
            Some(Node::Str(text)) => !interpolate::has_reference(text),
            _ => false,
        }
    }

    pub fn problem(&mut self, path: &Path, message: impl Into<String>) {
        let position = yaml::locate(&self.root, path);
        let mut message = message.into();
        for (at, value) in &self.referenced {
            if at.segments().starts_with(path.segments()) {
                message = redact_quoted(&message, value);
            }
        }
        self.problems.push(Problem {
            line: position.line,
            column: position.column,
            path: path.clone(),
            message,
        });
    }

    /// Parses the node at `path` into `T`. A missing node is read as YAML `null`, so optional
    /// sections and `#[serde(default)]` work. Returns `None` after recording the problem.
    pub fn parse<T: DeserializeOwned>(&mut self, path: &Path) -> Option<T> {
        let before = self.problems.len();
        let value = match yaml::get(&self.root, path).cloned() {
            Some(node) => self.json_of(&node, path),
            None => serde_json::Value::Null,
        };
        if self.problems.len() > before {
            return None;
        }
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(parsed) => Some(parsed),
            Err(err) => {
                let at = path.join(&Path::from_serde(err.path()));
                let message = explain(&err.into_inner().to_string());
                self.problem(&at, message);
                None
            }
        }
    }

    fn json_of(&mut self, node: &Spanned<Node>, path: &Path) -> serde_json::Value {
        use serde_json::Value;
        match &node.value {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Node::Str(text) => {
                let expanded = interpolate::expand(text, &self.base, &*self.env);
                if expanded.referenced && !expanded.text.is_empty() {
                    self.referenced.push((path.clone(), expanded.text.clone()));
                }
                if !expanded.problems.is_empty() && self.references == References::Deferred {
                    self.unresolved.push(path.clone());
                    return Value::String(text.clone());
                }
                for problem in expanded.problems {
                    self.problem(path, problem);
                }
                Value::String(expanded.text)
            }
            Node::Seq(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.json_of(item, &path.index(i)))
                    .collect(),
            ),
            Node::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.value.clone(), self.json_of(v, &path.key(&k.value))))
                    .collect(),
            ),
        }
    }

    pub fn into_problems(mut self) -> Vec<Problem> {
        self.problems
            .sort_by_key(|p| (p.line, p.column, p.path.clone()));
        self.problems
    }
}

/// Replaces `value` where `message` quotes it, in backticks or double quotes: that is how
/// messages repeat a value. Text that merely contains the same characters (`u32` when the value
/// is `2`) is left alone.
fn redact_quoted(message: &str, value: &str) -> String {
    ['`', '"'].iter().fold(message.to_owned(), |text, quote| {
        text.replace(
            &format!("{quote}{value}{quote}"),
            &format!("{quote}(redacted){quote}"),
        )
    })
}

/// serde quotes the offending value (`invalid type: string "https://hooks…"`); a value written
/// inline may be a secret, so it is never repeated.
static QUOTED_STRING: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r#"string "(?:[^"\\]|\\.)*""#).expect("the pattern is valid")
});

/// Rust's names for what serde expected, and the words a config's reader knows them by.
static RUST_TYPES: std::sync::LazyLock<[(regex::Regex, &str); 6]> =
    std::sync::LazyLock::new(|| {
        let pattern = |p: &str| regex::Regex::new(p).expect("the pattern is valid");
        [
            (pattern(r"struct \w+"), "a map of settings"),
            (pattern(r"enum \w+"), "one of the kinds this key takes"),
            (
                pattern(r"map with a single key"),
                "a map with one key, the kind",
            ),
            (
                pattern(r"\bu(?:8|16|32|64|size)\b"),
                "a whole number, 0 or more",
            ),
            (pattern(r"\bi(?:8|16|32|64|size)\b"), "a whole number"),
            (pattern(r"\bf(?:32|64)\b"), "a number"),
        ]
    });

/// Rewrites serde's messages into ones that say what to do, in the config's words rather
/// than Rust's, without the values they quote.
fn explain(message: &str) -> String {
    let mut message = QUOTED_STRING.replace_all(message, "a string").into_owned();
    for (pattern, words) in RUST_TYPES.iter() {
        message = pattern.replace_all(&message, *words).into_owned();
    }
    let message = message.replace("a sequence", "a list");
    let message = message.as_str();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return format!(
            "unknown key {}; check the spelling (the annotated alerts.yaml lists every key)",
            rest.replace(", expected one of", "; expected one of")
                .replace(", expected", "; expected")
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        return format!("unknown kind {rest}");
    }
    if let Some(field) = message.strip_prefix("missing field ") {
        return format!("missing key {field}; add it");
    }
    if message.starts_with("invalid type") {
        return format!("{message}; see alerts.yaml for what this key takes");
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::{explain, redact_quoted};

    #[test]
    fn only_quoted_values_are_redacted() {
        assert_eq!(
            redact_quoted("`2` is not a duration; expected u32, \"2\"", "2"),
            "`(redacted)` is not a duration; expected u32, \"(redacted)\""
        );
    }

    #[test]
    fn values_are_never_repeated() {
        let message = explain(
            r#"invalid type: string "https://hooks.example/T/B/SECRET\"x", expected struct SlackReceiverConfig"#,
        );
        assert_eq!(
            message,
            "invalid type: a string, expected a map of settings; see alerts.yaml for what this key takes"
        );
    }

    #[test]
    fn rust_type_names_are_put_in_the_configs_words() {
        assert_eq!(
            explain("invalid type: sequence, expected u32"),
            "invalid type: sequence, expected a whole number, 0 or more; see alerts.yaml for what this key takes"
        );
        assert_eq!(
            explain("invalid value: map, expected map with a single key"),
            "invalid value: map, expected a map with one key, the kind"
        );
    }
}
