//! The config file read as a tree that remembers where every node stands, so that any problem
//! found later (a wrong type, an unknown receiver, a bad duration) can be reported at its line
//! and column, and so that each section can be checked on its own and every problem reported at
//! once rather than one per run.
//!
//! serde-saphyr does the YAML parsing (anchors, merge keys, duplicate keys); this module only
//! keeps its positions.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// One YAML node. Scalars keep the type YAML gave them; typed parsing happens later.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

/// A key path into the document such as `receivers.dba.slack.webhook_url` or `checks[2].sql`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

impl Path {
    pub fn root() -> Self {
        Self::default()
    }

    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.into()));
        next
    }

    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    pub fn join(&self, other: &Path) -> Self {
        let mut next = self.clone();
        next.0.extend(other.0.iter().cloned());
        next
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// Converts the path serde_path_to_error reports into ours.
    pub fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        let segments = path
            .iter()
            .filter_map(|segment| match segment {
                S::Seq { index } => Some(Segment::Index(*index)),
                S::Map { key } => Some(Segment::Key(key.clone())),
                S::Enum { variant } => Some(Segment::Key(variant.clone())),
                S::Unknown => None,
            })
            .collect();
        Self(segments)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// Line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

/// Where `node` is written; a node with no known place (the root of an empty file) is at the
/// start of the file, so that every problem has a position.
pub fn position<T>(node: &Spanned<T>) -> Position {
    Position {
        line: node.referenced.line().max(1),
        column: node.referenced.column().max(1),
    }
}

/// The position just after `valid`, a prefix of the file that is valid UTF-8 (columns count
/// characters, as the YAML parser's do).
pub fn position_of_offset(valid: &[u8]) -> Position {
    let text = std::str::from_utf8(valid).unwrap_or_default();
    let line_start = text.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line: text.matches('\n').count() as u64 + 1,
        column: text[line_start..].chars().count() as u64 + 1,
    }
}

/// Finds the position of `path`. When the path reaches into something that is not in the
/// document (a key that is missing, say), the position of the deepest node that exists is
/// returned, which is where the user has to add or fix something.
pub fn locate(root: &Spanned<Node>, path: &Path) -> Position {
    let mut here = position(root);
    let mut node = root;
    for segment in path.segments() {
        let next = match (&node.value, segment) {
            (Node::Map(entries), Segment::Key(key)) => {
                entries.iter().find(|(k, _)| &k.value == key).map(|(k, v)| {
                    here = position(k);
                    v
                })
            }
            (Node::Seq(items), Segment::Index(index)) => items.get(*index),
            _ => None,
        };
        match next {
            Some(child) => {
                if matches!(segment, Segment::Index(_)) {
                    here = position(child);
                }
                node = child;
            }
            None => break,
        }
    }
    here
}

/// Returns the node at `path`, if the document has one.
pub fn get<'a>(root: &'a Spanned<Node>, path: &Path) -> Option<&'a Spanned<Node>> {
    let mut node = root;
    for segment in path.segments() {
        node = match (&node.value, segment) {
            (Node::Map(entries), Segment::Key(key)) => entries
                .iter()
                .find(|(k, _)| &k.value == key)
                .map(|(_, v)| v)?,
            (Node::Seq(items), Segment::Index(index)) => items.get(*index)?,
            _ => return None,
        };
    }
    Some(node)
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        // Past i64 the value is kept as written rather than rounded through a float.
        Ok(i64::try_from(v).map_or_else(|_| Node::Str(v.to_string()), Node::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// A document that is not valid YAML: where, and what is wrong in words a user can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub position: Position,
    pub message: String,
}

/// Parses a whole document. An empty file is an empty map: every section is optional.
pub fn parse(text: &str) -> Result<Spanned<Node>, SyntaxError> {
    if text.trim().is_empty() {
        return Ok(Spanned::new(
            Node::Map(Vec::new()),
            serde_saphyr::Location::UNKNOWN,
            serde_saphyr::Location::UNKNOWN,
        ));
    }
    // The position goes in front of the message, as for every other config problem, so the
    // parser's own snippet (headed `<input>`) is not wanted.
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options).map_err(|err| {
        let location = err.location().unwrap_or(serde_saphyr::Location::UNKNOWN);
        SyntaxError {
            // An error without a known place is reported at the start of the file.
            position: Position {
                line: location.line().max(1),
                column: location.column().max(1),
            },
            message: describe(&err),
        }
    })
}

/// The parser's message for `err`, with the advice dbalert can give, and without the names of
/// the parser's settings or internals (`DuplicateKeyPolicy`, budget counters).
fn describe(err: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error;
    use serde_saphyr::MessageFormatter;
    // The parser wraps the error it found in the places it passed through (aliases, snippets).
    let mut err = err;
    while let Error::AliasError { error, .. } | Error::WithSnippet { error, .. } = err {
        err = error;
    }
    match err {
        Error::DuplicateMappingKey { key: Some(key), .. } => {
            format!("`{key}` is written twice in the same map; keep one of them")
        }
        Error::DuplicateMappingKey { key: None, .. } => {
            "a key is written twice in the same map; keep one of them".to_owned()
        }
        Error::Budget { .. }
        | Error::AliasReplayCounterOverflow { .. }
        | Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. } => {
            "the document is too large or too deeply nested (or its aliases expand too far) to be a config file; simplify it".to_owned()
        }
        Error::NullIntoString { .. } => {
            "a key is empty (null); write a name before the `:`".to_owned()
        }
        other => format!(
            "not valid YAML: {}; fix the YAML at this line and column",
            serde_saphyr::UserMessageFormatter.format_message(other)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_kept_for_keys_and_items() {
        let doc = parse("a:\n  b: 1\n  c:\n    - x\n    - y\n").unwrap();
        assert_eq!(
            locate(&doc, &Path::root().key("a").key("c").index(1)),
            Position { line: 5, column: 7 }
        );
        assert_eq!(
            locate(&doc, &Path::root().key("a").key("b")),
            Position { line: 2, column: 3 }
        );
        // a missing key points at its nearest existing parent
        assert_eq!(
            locate(&doc, &Path::root().key("a").key("zzz")),
            Position { line: 1, column: 1 }
        );
    }

    #[test]
    fn path_display_reads_like_the_yaml() {
        let path = Path::root().key("checks").index(2).key("sql");
        assert_eq!(path.to_string(), "checks[2].sql");
    }

    #[test]
    fn anchors_and_aliases_resolve() {
        let doc = parse("x: &a {k: v}\ny: *a\n").unwrap();
        let y = get(&doc, &Path::root().key("y").key("k")).unwrap();
        assert_eq!(y.value, Node::Str("v".into()));
    }
}
