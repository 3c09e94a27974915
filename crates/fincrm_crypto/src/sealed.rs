//! The text envelope of an encrypted field: `v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`.

use crate::CryptoError;
use crate::key_id;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Envelope version prefix, including its separator.
pub(crate) const V1_PREFIX: &str = "v1:";
/// AES-GCM nonce length (96 bits).
pub(crate) const NONCE_LEN: usize = 12;
/// AES-GCM tag length (128 bits).
pub(crate) const TAG_LEN: usize = 16;

/// An encrypted field value as stored in a text column:
/// `v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`.
///
/// - `v1` names the scheme (AES-256-GCM, 96-bit random nonce, the field name as associated data);
///   a later scheme (an SM4 mode for a Chinese-cryptography build, say) gets `v2` and both can be
///   read during a migration.
/// - the key id says which data key sealed it, so keys can rotate while old rows stay readable.
/// - base64 is the standard alphabet with `=` padding (RFC 4648 §4); the decoded payload is the
///   12-byte nonce, the ciphertext (as long as the UTF-8 plaintext) and the 16-byte tag.
///
/// A `Sealed` is structurally valid (version, key id, base64 alphabet, minimum length); whether it
/// decrypts is only known to [`crate::decrypt_field`]. It is not secret, but it is not useful to
/// print either, so `Debug` shows only the key id and length.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sealed(String);

/// Smallest payload: nonce and tag around an empty plaintext, 28 bytes = 40 base64 characters.
const MIN_PAYLOAD_CHARS: usize = (NONCE_LEN + TAG_LEN).div_ceil(3) * 4;

impl Sealed {
    /// Checks the envelope structure of a stored value. Errors never quote the text (a column
    /// that should hold envelopes might hold plaintext).
    pub fn parse(text: impl Into<String>) -> Result<Self, CryptoError> {
        let text = text.into();
        check(&text)?;
        Ok(Self(text))
    }

    /// Builds an envelope from its parts (the encryption path; parts already valid).
    pub(crate) fn from_parts_unchecked(text: String) -> Self {
        debug_assert!(check(&text).is_ok());
        Self(text)
    }

    /// The envelope text, for the store.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The envelope text, for the store.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The id of the key that sealed this value.
    pub fn key_id(&self) -> &str {
        self.split().0
    }

    /// The base64 payload.
    pub(crate) fn payload(&self) -> &str {
        self.split().1
    }

    fn split(&self) -> (&str, &str) {
        // Checked on construction: the prefix and a second ':' are present.
        let rest = &self.0[V1_PREFIX.len()..];
        rest.split_once(':').unwrap_or((rest, ""))
    }
}

fn check(text: &str) -> Result<(), CryptoError> {
    let Some(rest) = text.strip_prefix(V1_PREFIX) else {
        return Err(if looks_like_other_version(text) {
            CryptoError::UnsupportedVersion
        } else {
            CryptoError::Malformed("does not start with `v1:`")
        });
    };
    let Some((key_id, payload)) = rest.split_once(':') else {
        return Err(CryptoError::Malformed(
            "has no `:` between key id and payload",
        ));
    };
    key_id::validate(key_id).map_err(|_| CryptoError::Malformed("key id is not valid"))?;
    if payload.len() < MIN_PAYLOAD_CHARS {
        return Err(CryptoError::Malformed(
            "payload is shorter than a nonce and a tag",
        ));
    }
    if payload.len() % 4 != 0
        || !payload
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return Err(CryptoError::Malformed("payload is not base64"));
    }
    Ok(())
}

/// `v<digits>:` other than `v1:`.
fn looks_like_other_version(text: &str) -> bool {
    text.strip_prefix('v')
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl TryFrom<String> for Sealed {
    type Error = CryptoError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl std::str::FromStr for Sealed {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<Sealed> for String {
    fn from(s: Sealed) -> Self {
        s.0
    }
}

impl fmt::Display for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Sealed(v1:{}:<{} chars>)",
            self.key_id(),
            self.payload().len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn parses_the_parts() {
        let s = Sealed::parse(format!("v1:2026-11:{PAYLOAD}")).unwrap();
        assert_eq!(s.key_id(), "2026-11");
        assert_eq!(s.payload(), PAYLOAD);
        assert_eq!(format!("{s:?}"), "Sealed(v1:2026-11:<40 chars>)");
    }

    #[test]
    fn rejects_malformed_envelopes_without_quoting_them() {
        let cases = [
            ("110105199801139234", "does not start"),
            ("", "does not start"),
            ("v1:k1", "no `:`"),
            (&format!("v1::{PAYLOAD}"), "key id"),
            (&format!("v1:k 1:{PAYLOAD}"), "key id"),
            ("v1:k1:AAAA", "shorter"),
            (&format!("v1:k1:{PAYLOAD}!"), "not base64"),
            (&format!("v1:k1:{PAYLOAD}A"), "not base64"),
        ];
        for (text, want) in cases {
            let err = Sealed::parse(text).unwrap_err();
            assert!(matches!(err, CryptoError::Malformed(_)), "{text}: {err:?}");
            let msg = err.to_string();
            assert!(msg.contains(want), "{text}: {msg}");
            if !text.is_empty() {
                assert!(!msg.contains(text), "{msg}");
            }
        }
        assert_eq!(
            Sealed::parse(format!("v2:k1:{PAYLOAD}")),
            Err(CryptoError::UnsupportedVersion)
        );
    }

    #[test]
    fn serde_checks_the_structure() {
        let ok: Sealed = serde_json_like(&format!("v1:k1:{PAYLOAD}")).unwrap();
        assert_eq!(ok.key_id(), "k1");
        assert!(serde_json_like("plain").is_err());
    }

    /// Deserializes through serde's `String` path without a JSON dependency.
    fn serde_json_like(s: &str) -> Result<Sealed, CryptoError> {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StringDeserializer};
        let de: StringDeserializer<Error> = s.to_owned().into_deserializer();
        Sealed::deserialize(de).map_err(|_| CryptoError::Malformed("serde"))
    }
}
