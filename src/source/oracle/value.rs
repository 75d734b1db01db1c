//! Oracle column values as [`Value`]s: pure, so that the mapping of every Oracle type is
//! tested without a database. The driver reads each column as text with its type; this turns
//! the pair into a value.

use jiff::civil::{Date, DateTime};
use oracle::sql_type::OracleType;

use crate::source::Value;
use crate::source::from_hex;

/// The [`Value`] of a column of `oracle_type` read as `text` (the crate's text form).
///
/// NUMBER stays exact: an integer when it has no fraction and fits in 64 bits, else exact
/// decimal text. DATE and TIMESTAMP are a date-time without a zone; TIMESTAMP WITH (LOCAL) TIME
/// ZONE a point in time. RAW and BLOB arrive as hex. A native JSON column cannot be read by the
/// driver: select `JSON_SERIALIZE(col RETURNING CLOB)` instead.
pub fn value_of(oracle_type: &OracleType, text: Option<String>) -> Result<Value, String> {
    let Some(text) = text else {
        return Ok(Value::Null);
    };
    Ok(match oracle_type {
        OracleType::Number(_, _)
        | OracleType::Float(_)
        | OracleType::Int64
        | OracleType::UInt64 => match text.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Numeric(text),
        },
        OracleType::BinaryFloat | OracleType::BinaryDouble => text
            .parse::<f64>()
            .map(Value::Float)
            .unwrap_or(Value::Numeric(text)),
        OracleType::Date | OracleType::Timestamp(_) => {
            parse_datetime(&text)
                .map(Value::DateTime)
                .ok_or_else(|| format!("cannot read `{text}` as a date and time"))?
        }
        OracleType::TimestampTZ(_) | OracleType::TimestampLTZ(_) => parse_timestamp(&text)
            .map(Value::Timestamp)
            .ok_or_else(|| format!("cannot read `{text}` as a timestamp with a time zone"))?,
        OracleType::Raw(_) | OracleType::BLOB | OracleType::LongRaw => match from_hex(&text) {
            Some(bytes) => Value::Bytes(bytes),
            None => Value::text(text),
        },
        OracleType::Boolean => Value::Bool(text.eq_ignore_ascii_case("true")),
        OracleType::Json => {
            return Err("a JSON column cannot be read directly; select JSON_SERIALIZE(col RETURNING CLOB) instead".to_owned());
        }
        // VARCHAR2, CHAR, CLOB, ROWID, INTERVAL, objects and whatever a newer server adds:
        // text (cut to the label limit).
        _ => Value::text(text),
    })
}

/// `YYYY-MM-DD HH24:MI:SS[.fraction]`, as the crate writes DATE and TIMESTAMP.
fn parse_datetime(text: &str) -> Option<DateTime> {
    let (date, time) = text.trim().split_once(' ')?;
    let date: Date = date.parse().ok()?;
    let time: jiff::civil::Time = time.parse().ok()?;
    Some(date.to_datetime(time))
}

/// `YYYY-MM-DD HH24:MI:SS[.fraction] ±hh:mm`, as the crate writes TIMESTAMP WITH TIME ZONE.
fn parse_timestamp(text: &str) -> Option<jiff::Timestamp> {
    let (local, offset) = text.trim().rsplit_once(' ')?;
    let datetime = parse_datetime(local)?;
    let (sign, digits) = match offset.as_bytes().first()? {
        b'+' => (1, &offset[1..]),
        b'-' => (-1, &offset[1..]),
        _ => return None,
    };
    let (hours, minutes) = digits.split_once(':')?;
    let seconds = sign * (hours.parse::<i32>().ok()? * 3600 + minutes.parse::<i32>().ok()? * 60);
    jiff::tz::Offset::from_seconds(seconds)
        .ok()?
        .to_timestamp(datetime)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_exact() {
        let number = OracleType::Number(38, 0);
        assert_eq!(value_of(&number, Some("42".into())), Ok(Value::Int(42)));
        assert_eq!(
            value_of(&number, Some("-9223372036854775808".into())),
            Ok(Value::Int(i64::MIN))
        );
        assert_eq!(
            value_of(&number, Some("123456789012345678901234567890".into())),
            Ok(Value::Numeric("123456789012345678901234567890".into()))
        );
        assert_eq!(
            value_of(&OracleType::Number(10, 2), Some("97.45".into())),
            Ok(Value::Numeric("97.45".into()))
        );
        assert_eq!(value_of(&number, None), Ok(Value::Null));
    }

    #[test]
    fn dates_and_timestamps_keep_their_kind() {
        assert_eq!(
            value_of(&OracleType::Date, Some("2026-11-23 08:14:02".into())),
            Ok(Value::DateTime("2026-11-23T08:14:02".parse().unwrap()))
        );
        assert_eq!(
            value_of(
                &OracleType::Timestamp(6),
                Some("2026-11-23 08:14:02.123456".into())
            ),
            Ok(Value::DateTime(
                "2026-11-23T08:14:02.123456".parse().unwrap()
            ))
        );
        assert_eq!(
            value_of(
                &OracleType::TimestampTZ(9),
                Some("2023-06-06 05:37:54.830624000 +02:00".into())
            ),
            Ok(Value::Timestamp(
                "2023-06-06T03:37:54.830624Z".parse().unwrap()
            ))
        );
        assert!(value_of(&OracleType::TimestampTZ(9), Some("yesterday".into())).is_err());
    }

    #[test]
    fn raw_is_bytes_clob_is_cut_text_and_json_asks_for_json_serialize() {
        assert_eq!(
            value_of(&OracleType::Raw(16), Some("00FF10".into())),
            Ok(Value::Bytes(vec![0, 255, 16]))
        );
        let long = "x".repeat(crate::source::MAX_TEXT_CHARS + 10);
        let Ok(Value::Text(cut)) = value_of(&OracleType::CLOB, Some(long)) else {
            panic!()
        };
        assert!(cut.chars().count() < crate::source::MAX_TEXT_CHARS + 100 && cut.contains("cut"));
        let error = value_of(&OracleType::Json, Some("{}".into())).unwrap_err();
        assert!(error.contains("JSON_SERIALIZE"), "{error}");
        assert_eq!(
            value_of(&OracleType::Varchar2(30), Some("ORDERS".into())),
            Ok(Value::text("ORDERS"))
        );
    }
}
