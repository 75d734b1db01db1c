//! Verifying a request Slack sent to `dbalert serve` in HTTP mode: the `X-Slack-Signature`
//! header is `v0=` and the hex HMAC-SHA256, keyed with the app's signing secret, of
//! `v0:{X-Slack-Request-Timestamp}:{raw body}`. A request is refused (the server answers 401)
//! when a header is missing, the signature is wrong, the timestamp is more than five minutes
//! away from now (an old request replayed), or the same signature was already accepted within
//! that window (a recent one replayed).

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::secret::Secret;

/// How far a request's timestamp may be from now, in seconds (Slack's advice).
pub const WINDOW_SECS: i64 = 300;

/// Why a request was refused. Every reason gets the same 401; the reason is only logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the X-Slack-Request-Timestamp or X-Slack-Signature header is missing")]
    MissingHeader,
    #[error("the timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("the signature does not match the body and the signing secret")]
    BadSignature,
    #[error("the timestamp is more than 5 minutes away from now")]
    Stale,
    #[error("the same signed request was already accepted")]
    Replayed,
}

/// Checks requests against one signing secret, remembering the signatures it accepted within
/// the window.
#[derive(Debug)]
pub struct Verifier {
    secret: Secret,
    /// Accepted signatures, with their timestamps, for the replay check.
    seen: Mutex<HashMap<String, i64>>,
}

impl Verifier {
    pub fn new(secret: Secret) -> Self {
        Self {
            secret,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Checks one request, given its two headers (`None` when absent), its raw body, and the
    /// time now in Unix seconds.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), Refused> {
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(Refused::MissingHeader);
        };
        let at: i64 = timestamp.parse().map_err(|_| Refused::BadTimestamp)?;
        let tag = signature
            .strip_prefix("v0=")
            .and_then(crate::source::from_hex)
            .ok_or(Refused::BadSignature)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(b"v0:");
        mac.update(timestamp.as_bytes());
        mac.update(b":");
        mac.update(body);
        // Constant time, so that the time taken tells nothing about a guessed signature.
        mac.verify_slice(&tag).map_err(|_| Refused::BadSignature)?;
        if now.abs_diff(at) > WINDOW_SECS.unsigned_abs() {
            return Err(Refused::Stale);
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, t| now.abs_diff(*t) <= WINDOW_SECS.unsigned_abs());
        match seen.insert(signature.to_owned(), at) {
            Some(_) => Err(Refused::Replayed),
            None => Ok(()),
        }
    }
}

/// The JSON of an interaction request: Slack posts it form-encoded, as the `payload` field.
pub fn interaction_payload(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(name, _)| name == "payload")
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example ("Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const AT: i64 = 1_531_420_618;

    fn verifier() -> Verifier {
        Verifier::new(Secret::new(SECRET))
    }

    fn check(
        verifier: &Verifier,
        ts: Option<&str>,
        sig: Option<&str>,
        body: &str,
        now: i64,
    ) -> Result<(), Refused> {
        verifier.verify(ts, sig, body.as_bytes(), now)
    }

    #[test]
    fn slacks_documented_example_verifies_once() {
        let v = verifier();
        assert_eq!(
            check(&v, Some(TIMESTAMP), Some(SIGNATURE), BODY, AT + 10),
            Ok(())
        );
        assert_eq!(
            check(&v, Some(TIMESTAMP), Some(SIGNATURE), BODY, AT + 20),
            Err(Refused::Replayed)
        );
    }

    #[test]
    fn anything_else_is_refused() {
        let v = verifier();
        let tampered = BODY.replace("roadrunner", "coyote");
        let upper = format!("v0={}", SIGNATURE[3..].to_uppercase());
        for (ts, sig, body, now, why) in [
            (
                Some(TIMESTAMP),
                Some(SIGNATURE),
                tampered.as_str(),
                AT,
                Refused::BadSignature,
            ),
            (
                Some("1531420619"),
                Some(SIGNATURE),
                BODY,
                AT,
                Refused::BadSignature,
            ),
            (
                Some(TIMESTAMP),
                Some(&SIGNATURE.replace("v0=", "v1=")),
                BODY,
                AT,
                Refused::BadSignature,
            ),
            (
                Some(TIMESTAMP),
                Some("v0=zz"),
                BODY,
                AT,
                Refused::BadSignature,
            ),
            (
                Some(TIMESTAMP),
                Some(&SIGNATURE[..40]),
                BODY,
                AT,
                Refused::BadSignature,
            ),
            (None, Some(SIGNATURE), BODY, AT, Refused::MissingHeader),
            (Some(TIMESTAMP), None, BODY, AT, Refused::MissingHeader),
            (
                Some("soon"),
                Some(SIGNATURE),
                BODY,
                AT,
                Refused::BadTimestamp,
            ),
            (
                Some(TIMESTAMP),
                Some(SIGNATURE),
                BODY,
                AT + 301,
                Refused::Stale,
            ),
            (
                Some(TIMESTAMP),
                Some(SIGNATURE),
                BODY,
                AT - 301,
                Refused::Stale,
            ),
        ] {
            assert_eq!(
                check(&v, ts, sig, body, now),
                Err(why),
                "{ts:?} {sig:?} {now}"
            );
        }
        // At the edge of the window, and with the hex in upper case, it still verifies.
        assert_eq!(
            check(&v, Some(TIMESTAMP), Some(&upper), BODY, AT + 300),
            Ok(())
        );
    }

    /// A signature made as Slack makes one.
    fn sign(ts: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("v0:{ts}:{body}").as_bytes());
        let tag = mac.finalize().into_bytes();
        format!(
            "v0={}",
            tag.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    }

    #[test]
    fn accepted_signatures_are_forgotten_once_outside_the_window() {
        let v = verifier();
        assert_eq!(
            check(&v, Some(TIMESTAMP), Some(SIGNATURE), BODY, AT),
            Ok(())
        );
        let later = AT + 400;
        let signature = sign(later, "payload=%7B%7D");
        let ts = later.to_string();
        assert_eq!(
            check(&v, Some(&ts), Some(&signature), "payload=%7B%7D", later),
            Ok(())
        );
        let seen = v.seen.lock().unwrap();
        assert_eq!(
            seen.keys().collect::<Vec<_>>(),
            [&signature],
            "the first is dropped"
        );
    }

    #[test]
    fn the_payload_field_of_a_form_body_is_decoded() {
        let body =
            b"payload=%7B%22type%22%3A%22block_actions%22%2C%22text%22%3A%22a+b%26c%22%7D&other=1";
        assert_eq!(
            interaction_payload(body).as_deref(),
            Some(r#"{"type":"block_actions","text":"a b&c"}"#)
        );
        assert_eq!(interaction_payload(b"token=x"), None);
    }
}
