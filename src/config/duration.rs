//! Humane durations in the config file: `30s`, `5m`, `4h`, `1d`, `1h30m`, `250ms`.

use std::fmt;
use std::time::Duration as StdDuration;

use serde::Deserialize;
use serde::de::{self, Visitor};

/// A length of time read from the config; deref to [`std::time::Duration`] with `.get()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(StdDuration);

const HINT: &str = "write a duration such as 30s, 5m, 4h, 1d or 1h30m";

impl Duration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(StdDuration::from_secs(secs))
    }

    pub fn get(self) -> StdDuration {
        self.0
    }

    /// Parses `1h30m`-style text: one or more numbers, each followed by a unit
    /// (`ms`, `s`, `m`, `h`, `d`, `w`), each unit once and the largest first.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(format!("empty duration; {HINT}"));
        }
        let mut total = StdDuration::ZERO;
        let mut previous_unit = StdDuration::MAX;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if digits == 0 {
                return Err(format!("`{text}` is not a duration; {HINT}"));
            }
            let number: u64 = rest[..digits]
                .parse()
                .map_err(|_| format!("`{text}` is too large a duration"))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = match rest[..unit_len].trim() {
                "ms" => StdDuration::from_millis(1),
                "s" => StdDuration::from_secs(1),
                "m" => StdDuration::from_secs(60),
                "h" => StdDuration::from_secs(3600),
                "d" => StdDuration::from_secs(86_400),
                "w" => StdDuration::from_secs(7 * 86_400),
                "" => return Err(format!("`{text}` has a number without a unit; {HINT}")),
                other => return Err(format!("`{other}` is not a unit in `{text}`; {HINT}")),
            };
            // `1h1h1h` or `30m1h` is more likely a slip than a sum.
            if unit >= previous_unit {
                return Err(format!(
                    "`{text}` repeats a unit or puts a smaller one first; write each unit once, largest first, as in 1h30m"
                ));
            }
            previous_unit = unit;
            rest = &rest[unit_len..];
            let part = u32::try_from(number)
                .ok()
                .and_then(|n| unit.checked_mul(n))
                .ok_or_else(|| format!("`{text}` is too large a duration"))?;
            total = total
                .checked_add(part)
                .ok_or_else(|| format!("`{text}` is too large a duration"))?;
        }
        Ok(Self(total))
    }
}

/// For `#[serde(default, deserialize_with = "…")]` on an optional duration that must be at
/// least a second: a check's `interval` (shorter would query the database in a loop) and a
/// receiver's `timeout` and `deadline` (shorter would fail every delivery).
pub fn at_least_1s<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    at_least(d, StdDuration::from_secs(1))
}

/// For `#[serde(default, deserialize_with = "…")]` on a database timeout, where 0 would turn
/// the timeout off rather than make it short.
pub fn non_zero<'de, D: de::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    at_least(d, StdDuration::from_millis(1))
}

fn at_least<'de, D: de::Deserializer<'de>>(
    d: D,
    min: StdDuration,
) -> Result<Option<Duration>, D::Error> {
    let value = Option::<Duration>::deserialize(d)?;
    match value {
        Some(duration) if duration.0 < min => Err(de::Error::custom(format!(
            "{duration} is too short; this key takes at least {}",
            Duration(min)
        ))),
        _ => Ok(value),
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut secs = self.0.as_secs();
        let millis = self.0.subsec_millis();
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        if secs == 0 {
            return write!(f, "{millis}ms");
        }
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        if millis > 0 {
            write!(f, "{millis}ms")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 5m, 4h or 1d")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "`{v}` has no unit; write {v}s, {v}m or {v}h"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!("`{v}` is not a duration; {HINT}")))
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_humane_durations() {
        for (text, secs) in [
            ("30s", 30),
            ("5m", 300),
            ("4h", 14_400),
            ("1d", 86_400),
            ("1h30m", 5400),
            ("2w", 1_209_600),
        ] {
            assert_eq!(
                Duration::parse(text).unwrap().get().as_secs(),
                secs,
                "{text}"
            );
        }
        assert_eq!(Duration::parse("250ms").unwrap().get().as_millis(), 250);
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for text in [
            "",
            "5",
            "m5",
            "5 minutes",
            "5x",
            "-5s",
            "99999999999999999999s",
            "1h1h1h",
            "30m1h",
            "1s1s",
        ] {
            assert!(Duration::parse(text).is_err(), "{text} should fail");
        }
    }

    #[test]
    fn minimums_are_enforced() {
        #[derive(Debug, Deserialize)]
        struct Keys {
            #[serde(default, deserialize_with = "at_least_1s")]
            interval: Option<Duration>,
            #[serde(default, deserialize_with = "non_zero")]
            timeout: Option<Duration>,
        }
        let parse = |json| serde_json::from_value::<Keys>(json).map_err(|e| e.to_string());
        let error = parse(serde_json::json!({"interval": "0s"})).unwrap_err();
        assert!(
            error.contains("0s is too short; this key takes at least 1s"),
            "{error}"
        );
        assert!(parse(serde_json::json!({"interval": "999ms"})).is_err());
        assert!(parse(serde_json::json!({"timeout": "0s"})).is_err());
        let keys = parse(serde_json::json!({"interval": "1s", "timeout": "1ms"})).unwrap();
        assert_eq!(keys.interval, Some(Duration::from_secs(1)));
        assert_eq!(keys.timeout, Some(Duration(StdDuration::from_millis(1))));
        assert!(parse(serde_json::json!({})).unwrap().interval.is_none());
    }

    #[test]
    fn displays_compactly() {
        assert_eq!(Duration::parse("1h30m").unwrap().to_string(), "1h30m");
        assert_eq!(Duration::parse("250ms").unwrap().to_string(), "250ms");
        assert_eq!(Duration::parse("1d").unwrap().to_string(), "1d");
    }
}
