//! An action's parameters: their types, and the validation every value passes before anything
//! reaches the database. A value that passes is bound, never put into SQL text; a value that
//! does not is refused with a message naming the parameter and what it takes, without echoing
//! the value back.
//!
//! Every type refuses control characters (NUL included) and anything longer than
//! [`MAX_VALUE_CHARS`], whatever else it allows.

use regex::Regex;
use serde::Deserialize;

use crate::config::duration::Duration;
use crate::source::Bind;

/// The longest value any parameter takes, in characters.
pub const MAX_VALUE_CHARS: usize = 4096;
/// A `string` parameter's length limit when it sets no `max_length`.
pub const DEFAULT_STRING_CHARS: usize = 256;
/// Oracle's (12.2+) and PostgreSQL's longest identifier, in bytes.
const MAX_IDENTIFIER: usize = 128;

/// A parameter's `type:` as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeName {
    Int,
    Identifier,
    Enum,
    String,
    SidSerial,
    Duration,
}

/// A parameter's type, checked.
#[derive(Debug, Clone)]
pub enum ParamType {
    /// A whole number (64-bit, optional sign).
    Int,
    /// A database identifier: ASCII, a letter then letters, digits, `_`, `$`, `#`, at most 128;
    /// upper-cased first when `upper`, then matched against `pattern` if given.
    Identifier { upper: bool, pattern: Option<Regex> },
    /// One of these values, exactly.
    Enum(Vec<String>),
    /// Text matching `pattern` whole, at most `max_chars` characters.
    String { pattern: Regex, max_chars: usize },
    /// `SID,SERIAL`, two whole numbers from 1, bound as `:sid` and `:serial`.
    SidSerial,
    /// A duration (`30s`, `5m`, `1h30m`), bound as whole seconds.
    Duration,
}

/// One parameter of an action.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub kind: ParamType,
    /// Kept out of the audit trail and the log (written `(redacted)` there).
    pub secret: bool,
}

/// Anchors `pattern` so that it must match a value whole.
pub fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

impl Param {
    /// The names this parameter binds: its own, or `sid` and `serial`.
    pub fn bind_names(&self) -> Vec<String> {
        match self.kind {
            ParamType::SidSerial => vec!["sid".to_owned(), "serial".to_owned()],
            _ => vec![self.name.clone()],
        }
    }

    /// How the value is written, for usage messages.
    pub fn usage(&self) -> String {
        let upper = self.name.to_uppercase();
        match &self.kind {
            ParamType::Enum(values) => values.join("|"),
            ParamType::SidSerial => "SID,SERIAL".to_owned(),
            ParamType::Duration => format!("{upper}(e.g. 15m)"),
            _ => upper,
        }
    }

    /// What this parameter takes, in words.
    fn expects(&self) -> String {
        match &self.kind {
            ParamType::Int => "a whole number".to_owned(),
            ParamType::Identifier { .. } => "a database name: a letter, then letters, digits, _, $ or #, at most 128 (no quotes, no spaces)".to_owned(),
            ParamType::Enum(values) => format!("one of {}", values.join(", ")),
            ParamType::String { max_chars, .. } => {
                format!("text in the form the action allows, at most {max_chars} characters")
            }
            ParamType::SidSerial => "SID,SERIAL: two whole numbers from 1, such as 123,4567".to_owned(),
            ParamType::Duration => "a duration such as 30s, 15m or 1h30m".to_owned(),
        }
    }

    /// Checks `value` and returns what to bind, or why it was refused.
    pub fn validate(&self, value: &str) -> Result<Vec<(String, Bind)>, String> {
        let refuse = || format!("`{}` must be {}", self.name, self.expects());
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(format!("`{}` is too long; {}", self.name, refuse()));
        }
        if value.chars().any(char::is_control) {
            return Err(format!(
                "`{}` holds a control character; {}",
                self.name,
                refuse()
            ));
        }
        let one = |bind: Bind| Ok(vec![(self.name.clone(), bind)]);
        match &self.kind {
            ParamType::Int => int(value).map_or_else(|| Err(refuse()), |v| one(Bind::Int(v))),
            ParamType::Identifier { upper, pattern } => {
                let value = if *upper {
                    value.to_ascii_uppercase()
                } else {
                    value.to_owned()
                };
                let fits = pattern.as_ref().is_none_or(|p| p.is_match(&value));
                if is_identifier(&value) && fits {
                    one(Bind::Text(value))
                } else {
                    Err(refuse())
                }
            }
            ParamType::Enum(values) if values.iter().any(|v| v == value) => {
                one(Bind::Text(value.to_owned()))
            }
            ParamType::String { pattern, max_chars }
                if value.chars().count() <= *max_chars && pattern.is_match(value) =>
            {
                one(Bind::Text(value.to_owned()))
            }
            ParamType::SidSerial => {
                let (sid, serial) = value.split_once(',').ok_or_else(refuse)?;
                match (int(sid), int(serial)) {
                    (Some(sid), Some(serial)) if sid >= 1 && serial >= 1 => Ok(vec![
                        ("sid".to_owned(), Bind::Int(sid)),
                        ("serial".to_owned(), Bind::Int(serial)),
                    ]),
                    _ => Err(refuse()),
                }
            }
            ParamType::Duration => {
                let duration = Duration::parse(value).map_err(|_| refuse())?;
                let secs = i64::try_from(duration.get().as_secs()).map_err(|_| refuse())?;
                one(Bind::Int(secs))
            }
            ParamType::Enum(_) | ParamType::String { .. } => Err(refuse()),
        }
    }
}

/// Digits with an optional minus, as an `i64`; no `+`, spaces or underscores.
fn int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let plain =
        !digits.is_empty() && digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| text.parse().ok()).flatten()
}

/// Oracle's and PostgreSQL's rules for an unquoted identifier, ASCII only (so no look-alike
/// letters from other scripts).
fn is_identifier(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && text.len() <= MAX_IDENTIFIER
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(kind: ParamType) -> Param {
        Param {
            name: "p".to_owned(),
            kind,
            secret: false,
        }
    }

    fn accepts(kind: ParamType, value: &str) -> Option<Vec<(String, Bind)>> {
        param(kind).validate(value).ok()
    }

    fn text(name: &str, value: &str) -> Option<Vec<(String, Bind)>> {
        Some(vec![(name.to_owned(), Bind::Text(value.to_owned()))])
    }

    #[test]
    fn each_type_accepts_and_refuses() {
        let identifier = || ParamType::Identifier {
            upper: true,
            pattern: None,
        };
        let string = || ParamType::String {
            pattern: anchored("[a-z ]+").unwrap(),
            max_chars: 10,
        };
        let long_name = "A".repeat(129);
        for (kind, value, want) in [
            (
                ParamType::Int,
                "42",
                Some(vec![("p".to_owned(), Bind::Int(42))]),
            ),
            (
                ParamType::Int,
                "-7",
                Some(vec![("p".to_owned(), Bind::Int(-7))]),
            ),
            (ParamType::Int, "+7", None),
            (ParamType::Int, "4 2", None),
            (ParamType::Int, "99999999999999999999", None),
            (ParamType::Int, "1; drop table x", None),
            (identifier(), "orders", text("p", "ORDERS")),
            (identifier(), "app$user#1", text("p", "APP$USER#1")),
            (identifier(), "1abc", None),
            (identifier(), "a b", None),
            (identifier(), "\"ORDERS\"", None),
            (identifier(), "ОRDERS", None), // a Cyrillic O
            (identifier(), &long_name, None),
            (identifier(), "'; drop table x; --", None),
            (
                ParamType::Enum(vec!["NIGHTLY".into()]),
                "NIGHTLY",
                text("p", "NIGHTLY"),
            ),
            (ParamType::Enum(vec!["NIGHTLY".into()]), "nightly", None),
            (string(), "hello you", text("p", "hello you")),
            (string(), "hello you all", None),
            (string(), "x\ny", None),
            (string(), "hello1", None),
            (string(), "a\0b", None),
            (
                ParamType::Duration,
                "1h30m",
                Some(vec![("p".to_owned(), Bind::Int(5400))]),
            ),
            (ParamType::Duration, "soon", None),
            (
                ParamType::SidSerial,
                "123,4567",
                Some(vec![
                    ("sid".into(), Bind::Int(123)),
                    ("serial".into(), Bind::Int(4567)),
                ]),
            ),
            (ParamType::SidSerial, "0,1", None),
            (ParamType::SidSerial, "123", None),
            (ParamType::SidSerial, "123, 4", None),
            (ParamType::SidSerial, ":sid,:serial", None),
        ] {
            assert_eq!(accepts(kind.clone(), value), want, "{kind:?} {value:?}");
        }
    }

    #[test]
    fn an_identifier_pattern_applies_after_upper_casing() {
        let kind = ParamType::Identifier {
            upper: true,
            pattern: Some(anchored("APP_[A-Z]+").unwrap()),
        };
        assert_eq!(accepts(kind.clone(), "app_orders"), text("p", "APP_ORDERS"));
        assert_eq!(accepts(kind, "SYS"), None);
    }

    #[test]
    fn refusals_name_the_parameter_and_never_echo_the_value() {
        let err = param(ParamType::Int)
            .validate("'; drop table x; --")
            .unwrap_err();
        assert!(err.starts_with("`p` must be a whole number"), "{err}");
        assert!(!err.contains("drop"), "{err}");
    }
}
