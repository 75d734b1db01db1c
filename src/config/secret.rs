//! A value that must never be printed: webhook URLs (the path is the credential), tokens,
//! passwords and connection URLs.

use std::fmt;

use serde::{Deserialize, de};

/// Holds a secret string. `Debug` and `Display` print `(redacted)`; the only way to the value is
/// [`Secret::expose`], which is called where the value is handed to a client library.
///
/// A value with a line break or another control character is refused when it is read: no URL,
/// token or password holds one, and in an HTTP header it would fail every request.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        if value.chars().any(char::is_control) {
            return Err(de::Error::custom(
                "holds a line break or another control character, which no URL, token or password has; remove it (a `${file:}` file may end with one line break)",
            ));
        }
        Ok(Self(value))
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// Describes a URL without its secret parts: the host and the last four characters at most,
/// e.g. `hooks.slack.com/…Xy3Q`.
pub fn redact_url(url: &str) -> String {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return "(an unparsable URL)".to_owned();
    };
    let host = parsed.host_str().unwrap_or("(no host)");
    let host = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let path = parsed.path().trim_end_matches('/');
    let tail: String = {
        let chars: Vec<char> = path.chars().collect();
        // Short paths would give away too large a share of themselves.
        if chars.len() < 12 {
            String::new()
        } else {
            chars[chars.len() - 4..].iter().collect()
        }
    };
    if tail.is_empty() {
        host
    } else {
        format!("{host}/…{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let secret = Secret::new("https://hooks.slack.com/services/T0/B0/SECRETPATH");
        assert_eq!(format!("{secret} {secret:?}"), "(redacted) (redacted)");
    }

    #[test]
    fn control_characters_are_refused() {
        let read = |v: &str| serde_json::from_value::<Secret>(serde_json::json!(v));
        assert!(read("xoxb-1-2-abc").is_ok());
        for bad in ["xoxb-1\nabc", "Bearer a\r", "tab\there", "nul\0"] {
            let error = read(bad).unwrap_err().to_string();
            assert!(
                error.contains("line break or another control character"),
                "{error}"
            );
            assert!(!error.contains("xoxb"), "{error}");
        }
    }

    #[test]
    fn redacted_url_keeps_host_and_last_four() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T0/B0/abcdefXy3Q"),
            "hooks.slack.com/…Xy3Q"
        );
        assert_eq!(redact_url("http://127.0.0.1:9/x"), "127.0.0.1:9");
        assert_eq!(redact_url("not a url"), "(an unparsable URL)");
    }
}
