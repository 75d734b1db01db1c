//! Column values as dbalert sees them, whatever the database: the typed [`Value`] that templates
//! and cursors use, its text form for labels, and [`Rows`], the result of one check query.
//!
//! This module owns the mapping's common ground: the value types, their text form, the limit on
//! large text and the typed text encoding the state store keeps cursors in. Reading a driver's
//! column types into a [`Value`] lives in each driver (`sqlite.rs`, `postgres.rs`).

use std::cmp::Ordering;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};

/// Longest text kept from one column, in characters. Longer text (a CLOB holding a whole trace
/// file, say) is cut with a visible marker, so one row cannot blow up a label, a message or the
/// memory of a run.
pub const MAX_TEXT_CHARS: usize = 4000;

/// One column value, typed. Integers, timestamps and the rest keep their type so that templates
/// can compare and format them and an event cursor is bound back with the type it was read with.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// An exact decimal (`numeric`, Oracle `NUMBER`) as its text, so that no digit is lost.
    Numeric(String),
    Text(String),
    /// A point in time (`timestamptz`, Oracle `TIMESTAMP WITH TIME ZONE`).
    Timestamp(Timestamp),
    /// A date and time without a time zone (`timestamp`, Oracle `DATE`), kept as written.
    DateTime(DateTime),
    Date(Date),
    Bytes(Vec<u8>),
    Json(serde_json::Value),
}

/// The type of a [`Value`], as stored beside a saved cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Null,
    Bool,
    Int,
    Float,
    Numeric,
    Text,
    Timestamp,
    DateTime,
    Date,
    Bytes,
    Json,
}

impl Value {
    /// Text read from a database, cut to [`MAX_TEXT_CHARS`].
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(cut(text.into()))
    }

    /// The label form: the text form cut to [`MAX_TEXT_CHARS`]; NULL is the empty string, which
    /// is also what a missing label reads as in matchers.
    pub fn to_label(&self) -> String {
        cut(self.to_string())
    }

    pub fn kind(&self) -> ValueKind {
        match self {
            Self::Null => ValueKind::Null,
            Self::Bool(_) => ValueKind::Bool,
            Self::Int(_) => ValueKind::Int,
            Self::Float(_) => ValueKind::Float,
            Self::Numeric(_) => ValueKind::Numeric,
            Self::Text(_) => ValueKind::Text,
            Self::Timestamp(_) => ValueKind::Timestamp,
            Self::DateTime(_) => ValueKind::DateTime,
            Self::Date(_) => ValueKind::Date,
            Self::Bytes(_) => ValueKind::Bytes,
            Self::Json(_) => ValueKind::Json,
        }
    }

    /// Reads back a value from its kind and its text form (`Display`), the way the state store
    /// keeps cursors: `from_text(v.kind(), &v.to_string()) == v` for every value.
    pub fn from_text(kind: ValueKind, text: &str) -> Result<Self, String> {
        let bad = |err: &dyn fmt::Display| format!("`{text}` is not a {} value: {err}", kind);
        Ok(match kind {
            ValueKind::Null => Self::Null,
            ValueKind::Bool => Self::Bool(text.parse().map_err(|e| bad(&e))?),
            ValueKind::Int => Self::Int(text.parse().map_err(|e| bad(&e))?),
            ValueKind::Float => Self::Float(text.parse().map_err(|e| bad(&e))?),
            ValueKind::Numeric => Self::Numeric(text.to_owned()),
            ValueKind::Text => Self::Text(text.to_owned()),
            ValueKind::Timestamp => Self::Timestamp(text.parse().map_err(|e| bad(&e))?),
            ValueKind::DateTime => Self::DateTime(text.parse().map_err(|e| bad(&e))?),
            ValueKind::Date => Self::Date(text.parse().map_err(|e| bad(&e))?),
            ValueKind::Bytes => Self::Bytes(from_hex(text).ok_or_else(|| bad(&"odd hex"))?),
            ValueKind::Json => Self::Json(serde_json::from_str(text).map_err(|e| bad(&e))?),
        })
    }
}

impl Value {
    /// Orders values of the same kind, which is what an event cursor needs to find the largest
    /// value delivered. Values of different kinds, JSON and NaN do not compare. Numeric text
    /// compares as a number (`0.10` equals `0.1`), which is why this is not `PartialOrd`: that
    /// would have to agree with `==`, which compares the text.
    pub fn compare(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Self::Null, Self::Null) => Some(Ordering::Equal),
            (Self::Bool(a), Self::Bool(b)) => a.partial_cmp(b),
            (Self::Int(a), Self::Int(b)) => a.partial_cmp(b),
            (Self::Float(a), Self::Float(b)) => a.partial_cmp(b),
            (Self::Numeric(a), Self::Numeric(b)) => compare_decimal(a, b),
            (Self::Text(a), Self::Text(b)) => a.partial_cmp(b),
            (Self::Timestamp(a), Self::Timestamp(b)) => a.partial_cmp(b),
            (Self::DateTime(a), Self::DateTime(b)) => a.partial_cmp(b),
            (Self::Date(a), Self::Date(b)) => a.partial_cmp(b),
            (Self::Bytes(a), Self::Bytes(b)) => a.partial_cmp(b),
            _ => None,
        }
    }
}

/// The full text form: numbers as digits, timestamps in RFC 3339 (UTC), bytes in lower-case hex,
/// JSON compact, NULL empty.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => Ok(()),
            Self::Bool(v) => write!(f, "{v}"),
            Self::Int(v) => write!(f, "{v}"),
            Self::Float(v) => write!(f, "{v}"),
            Self::Numeric(v) | Self::Text(v) => f.write_str(v),
            Self::Timestamp(v) => write!(f, "{v}"),
            Self::DateTime(v) => write!(f, "{v}"),
            Self::Date(v) => write!(f, "{v}"),
            Self::Bytes(v) => v.iter().try_for_each(|b| write!(f, "{b:02x}")),
            Self::Json(v) => write!(f, "{v}"),
        }
    }
}

impl ValueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool => "bool",
            Self::Int => "int",
            Self::Float => "float",
            Self::Numeric => "numeric",
            Self::Text => "text",
            Self::Timestamp => "timestamp",
            Self::DateTime => "datetime",
            Self::Date => "date",
            Self::Bytes => "bytes",
            Self::Json => "json",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Null,
            Self::Bool,
            Self::Int,
            Self::Float,
            Self::Numeric,
            Self::Text,
            Self::Timestamp,
            Self::DateTime,
            Self::Date,
            Self::Bytes,
            Self::Json,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }
}

impl fmt::Display for ValueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one check query returned: lower-case column names and the rows, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    /// An empty result with these columns; names are lower-cased, since labels and templates
    /// use lower case whatever the database returns (Oracle returns upper case).
    pub fn new(columns: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        Self {
            columns: columns
                .into_iter()
                .map(|name| name.as_ref().to_lowercase())
                .collect(),
            rows: Vec::new(),
        }
    }

    /// The position of a column (`key`, `cursor`) by its lower-case name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

/// Cuts text longer than [`MAX_TEXT_CHARS`] and says so at the end.
fn cut(text: String) -> String {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        None => text,
        Some((end, _)) => {
            let total = text.chars().count();
            format!("{}… [cut: {total} characters in all]", &text[..end])
        }
    }
}

/// Bytes written as hex digits, either case (`00FF10`), as Oracle and SQLite print RAW and BLOB
/// values and Slack writes its signatures.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Compares two decimal numbers written as text (`-12.50`, `3`), without parsing them into a
/// float that would lose digits. Anything else (`NaN`, `Infinity`) does not compare.
fn compare_decimal(a: &str, b: &str) -> Option<Ordering> {
    let (a_neg, a_int, a_frac) = split_decimal(a)?;
    let (b_neg, b_int, b_frac) = split_decimal(b)?;
    let a_zero = a_int.is_empty() && a_frac.is_empty();
    let b_zero = b_int.is_empty() && b_frac.is_empty();
    let a_neg = a_neg && !a_zero;
    let b_neg = b_neg && !b_zero;
    let magnitude = a_int
        .len()
        .cmp(&b_int.len())
        .then_with(|| a_int.cmp(b_int))
        .then_with(|| a_frac.cmp(b_frac));
    Some(match (a_neg, b_neg) {
        (false, false) => magnitude,
        (true, true) => magnitude.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    })
}

/// Splits `-0012.3400` into (negative, "12", "34"): leading zeros of the integer part and
/// trailing zeros of the fraction removed, so that plain string comparison orders them.
fn split_decimal(text: &str) -> Option<(bool, &str, &str)> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    Some((
        negative,
        int.trim_start_matches('0'),
        frac.trim_end_matches('0'),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_a_marker() {
        let Value::Text(text) = Value::text("é".repeat(MAX_TEXT_CHARS + 10)) else {
            panic!("not text");
        };
        assert!(text.starts_with(&"é".repeat(MAX_TEXT_CHARS)));
        assert!(text.ends_with("… [cut: 4010 characters in all]"), "{text}");
        let short = "x".repeat(MAX_TEXT_CHARS);
        assert_eq!(Value::text(short.clone()), Value::Text(short));
    }

    #[test]
    fn text_form_round_trips_through_kind() {
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Int(-42),
            Value::Float(0.1),
            Value::Float(1e300),
            Value::Numeric("123456789012345678901234567890.000001".into()),
            Value::Text("it's 100%".into()),
            Value::Timestamp("2024-06-01T10:00:00.123456789Z".parse().unwrap()),
            Value::DateTime("2024-06-01T10:00:00.5".parse().unwrap()),
            Value::Date("2024-02-29".parse().unwrap()),
            Value::Bytes(vec![0, 1, 0xab, 0xff]),
            Value::Json(serde_json::json!({"a": [1, "b", null]})),
        ];
        for value in values {
            let kind = ValueKind::parse(value.kind().as_str()).unwrap();
            assert_eq!(
                Value::from_text(kind, &value.to_string()),
                Ok(value.clone())
            );
        }
        assert!(Value::from_text(ValueKind::Int, "x").is_err());
        assert!(Value::from_text(ValueKind::Bytes, "abc").is_err());
        assert_eq!(ValueKind::parse("integer"), None);
    }

    #[test]
    fn labels_are_plain_text() {
        assert_eq!(Value::Null.to_label(), "");
        assert_eq!(Value::Float(2.0).to_label(), "2");
        assert_eq!(Value::Bytes(vec![0xde, 0xad]).to_label(), "dead");
        assert_eq!(
            Value::Timestamp("2024-06-01T10:00:00+02:00".parse().unwrap()).to_label(),
            "2024-06-01T08:00:00Z"
        );
    }

    #[test]
    fn values_of_one_kind_compare() {
        use Ordering::*;
        let num = |s: &str| Value::Numeric(s.into());
        let cases = [
            (num("10"), num("9.99"), Some(Greater)),
            (num("-10"), num("-9.5"), Some(Less)),
            (num("-1"), num("0.5"), Some(Less)),
            (num("0.10"), num("0.1"), Some(Equal)),
            (num("007"), num("7.0"), Some(Equal)),
            (num("-0"), num("0"), Some(Equal)),
            (num("NaN"), num("1"), None),
            (Value::Int(3), Value::Int(-3), Some(Greater)),
            (
                Value::Text("b".into()),
                Value::Text("a".into()),
                Some(Greater),
            ),
            (Value::Int(1), Value::Float(1.0), None),
            (Value::Json(1.into()), Value::Json(1.into()), None),
        ];
        for (a, b, expected) in cases {
            assert_eq!(a.compare(&b), expected, "{a:?} vs {b:?}");
        }
    }
}
