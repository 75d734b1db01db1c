//! Request headers from a receiver's `headers:` map. Values may be secrets (`Authorization`),
//! so they are marked sensitive for the HTTP library and never repeated in messages.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::BuildError;
use super::delivery::ConfigProblem;
use super::delivery::ReceiverName;
use crate::config::secret::Secret;

/// Checks every name and value; the message names the header, never its value.
pub fn check(headers: &BTreeMap<String, Secret>) -> Result<(), ConfigProblem> {
    parse(headers)
        .map(drop)
        .map_err(|message| ConfigProblem::new("headers", message))
}

pub fn build(
    receiver: &ReceiverName,
    headers: &BTreeMap<String, Secret>,
) -> Result<HeaderMap, BuildError> {
    parse(headers).map_err(|message| BuildError::Client {
        receiver: receiver.clone(),
        message,
    })
}

fn parse(headers: &BTreeMap<String, Secret>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a header name; use letters, digits and -"))?;
        if matches!(header.as_str(), "content-type" | "content-length" | "host") {
            return Err(format!(
                "`{name}` is set by dbalert itself; remove it from headers"
            ));
        }
        let mut value = HeaderValue::from_str(value.expose()).map_err(|_| {
            format!("the value of `{name}` has characters a header cannot hold (a line break?)")
        })?;
        value.set_sensitive(true);
        map.insert(header, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> BTreeMap<String, Secret> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(*v)))
            .collect()
    }

    #[test]
    fn good_headers_pass_and_bad_ones_are_named_without_their_value() {
        assert!(
            check(&headers(&[
                ("Authorization", "Bearer abc"),
                ("X-Team", "dba")
            ]))
            .is_ok()
        );
        let bad = check(&headers(&[("Authorization", "Bearer s3cret\nX: y")])).unwrap_err();
        assert!(bad.message.contains("Authorization"));
        assert!(!bad.message.contains("s3cret"));
        assert!(check(&headers(&[("bad header", "x")])).is_err());
        assert!(check(&headers(&[("Content-Type", "text/plain")])).is_err());
    }
}
