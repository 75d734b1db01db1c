//! The identity of an alert, stable across releases: changing it re-fires every open alert.
//!
//! It is FNV-1a (64-bit) over `alertname`, `source` and the key columns sorted by name, each
//! name and value followed by a 0xFF byte (which UTF-8 text never contains, so no two different
//! inputs run together). Tests pin it to literal values.

use std::fmt;

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    pub fn of<'a>(
        alertname: &str,
        source: &str,
        key: impl Iterator<Item = (&'a str, String)>,
    ) -> Self {
        let mut key: Vec<(&str, String)> = key.collect();
        key.sort();
        let mut hash = Fnv::new();
        hash.field("alertname", alertname);
        hash.field("source", source);
        for (name, value) in &key {
            hash.field(name, value);
        }
        Self(hash.finish())
    }

    /// The 16 hex digits the state store and logs use.
    pub fn parse(text: &str) -> Option<Self> {
        u64::from_str_radix(text, 16).ok().map(Self)
    }
}

/// Written as its 16 hex digits, as the state file and the receivers' payloads show it.
impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// FNV-1a, 64 bits: the fingerprint's hash, and the digest of what a row's alert was made from
/// (`check::alerts`). Simple and stable across releases, which a stored hash must be.
#[derive(Clone, Copy)]
pub struct Fnv(u64);

impl Fnv {
    pub fn new() -> Self {
        Self(OFFSET)
    }

    pub fn finish(&self) -> u64 {
        self.0
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(PRIME);
        }
    }

    /// A name and its value, each closed by a 0xFF byte.
    pub fn field(&mut self, name: &str, value: &str) {
        self.bytes(name.as_bytes());
        self.bytes(&[0xff]);
        self.bytes(value.as_bytes());
        self.bytes(&[0xff]);
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Self::new()
    }
}

/// Text written with `write!` is hashed as it is formatted, without a string in between.
impl fmt::Write for Fnv {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.bytes(text.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        // FNV-1a 64 test vectors from the reference page (isthe.com/chongo/tech/comp/fnv).
        let mut h = Fnv::new();
        h.bytes(b"a");
        assert_eq!(h.finish(), 0xaf63dc4c8601ec8c);
        let mut h = Fnv::new();
        h.bytes(b"foobar");
        assert_eq!(h.finish(), 0x85944171f73967e8);
    }

    #[test]
    fn fingerprint_is_pinned() {
        // Changing this value re-fires every open alert of every user: do not. Computed
        // independently with a few lines of Python over the bytes the module doc describes.
        let fp = Fingerprint::of(
            "tablespace_full",
            "prod",
            [("tablespace_name", "USERS".to_owned())].into_iter(),
        );
        assert_eq!(fp.to_string(), "e6552a7fda19e6f8");
        assert_eq!(Fingerprint::parse(&fp.to_string()), Some(fp));
    }

    #[test]
    fn key_order_does_not_matter_and_values_do() {
        let a = Fingerprint::of(
            "x",
            "s",
            [("a", "1".to_owned()), ("b", "2".to_owned())].into_iter(),
        );
        let b = Fingerprint::of(
            "x",
            "s",
            [("b", "2".to_owned()), ("a", "1".to_owned())].into_iter(),
        );
        let c = Fingerprint::of(
            "x",
            "s",
            [("a", "12".to_owned()), ("b", "".to_owned())].into_iter(),
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
