//! Key ids: the short names under which data keys are kept and which every sealed value carries.

use crate::KeyringError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest key id, in bytes (ids are ASCII).
pub const MAX_KEY_ID_LEN: usize = 32;

/// The name of a data key: 1–32 ASCII letters, digits, `-`, `_` or `.`, such as `k1` or `2026-11`.
///
/// The id is written into every sealed value (`v1:<key id>:…`), so it must not contain `:`, and
/// it is kept short because millions of rows repeat it. It is not secret.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    /// Checks the key id rules.
    pub fn new(id: impl Into<String>) -> Result<Self, KeyringError> {
        let id = id.into();
        validate(&id).map_err(|reason| KeyringError::InvalidKeyId {
            len: id.chars().count(),
            reason,
        })?;
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An id already checked by [`validate`] (the envelope parser).
    pub(crate) fn from_checked(id: &str) -> Self {
        Self(id.to_owned())
    }
}

/// The key id rules, without allocating: `Err` says which rule `id` breaks.
pub(crate) fn validate(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("a key id cannot be empty");
    }
    if id.len() > MAX_KEY_ID_LEN {
        return Err("a key id has at most 32 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("a key id may contain only ASCII letters, digits, `-`, `_` and `.`");
    }
    Ok(())
}

/// A name from a key file, shown in an error only if it looks like a key id, so that a key pasted
/// where a name belongs is never printed.
pub(crate) fn printable_name(name: &str) -> String {
    if validate(name).is_ok() {
        name.to_owned()
    } else {
        format!("<{} characters, not shown>", name.chars().count())
    }
}

impl TryFrom<String> for KeyId {
    type Error = KeyringError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> Self {
        id.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl PartialEq<str> for KeyId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_short_names_and_rejects_the_rest() {
        for ok in ["k1", "2026-11", "a.b_c-D", &"x".repeat(32)] {
            assert!(KeyId::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "k:1", "k 1", "k1/", "ключ", &"x".repeat(33)] {
            assert!(
                matches!(KeyId::new(bad), Err(KeyringError::InvalidKeyId { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_invalid_id_is_not_echoed() {
        let pasted_key = "q83vEjRWeJASNFZ4kBI0VniQEjRWeJASNFZ4kBI0Vng=";
        let err = KeyId::new(pasted_key).unwrap_err().to_string();
        assert!(!err.contains(pasted_key), "{err}");
        assert!(!printable_name(pasted_key).contains(pasted_key));
        assert_eq!(printable_name("k1"), "k1");
    }
}
