//! The keyring: data keys by id (one active) and the blind-index key. Pure: parsing a key
//! configuration from text lives here, reading it from a file or the environment in `load.rs`.

use crate::key_id::printable_name;
use crate::{KeyId, KeyringError};
use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Length of every key: AES-256 and HMAC-SHA256 both take 32 bytes.
pub const KEY_LEN: usize = 32;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Key bytes on the heap, zeroed on drop; moving the box never copies them.
type KeyBytes = Box<Zeroizing<[u8; KEY_LEN]>>;

/// One data-encryption key with its cipher, built once (the AES key schedule is not recomputed
/// per value).
struct DataKey {
    id: KeyId,
    bytes: KeyBytes,
    cipher: Aes256Gcm,
}

/// The keys of one fincrm installation: data-encryption keys (AES-256-GCM) by [`KeyId`], one of
/// them *active* for new encryptions, and the blind-index key (HMAC-SHA256).
///
/// Build it once at start-up and share it (`Arc<Keyring>`); every cipher and the HMAC state are
/// prepared here so sealing a value does no key setup. `Debug` shows key ids only, and the key
/// bytes are zeroed when the keyring is dropped. Changing keys makes a new keyring
/// ([`Keyring::with_generated_key`], [`Keyring::with_active`], [`Keyring::without_key`]).
pub struct Keyring {
    keys: Vec<DataKey>,
    active: usize,
    index_key: KeyBytes,
    /// HMAC state after absorbing the index key; cloned per blind index. (hmac 0.12 cannot zero
    /// it on drop; see the crate docs.)
    index_mac: HmacSha256,
}

impl Keyring {
    /// A new keyring with one random data key `k1` (active) and a random index key, for
    /// `fincrm keys init`.
    pub fn generate() -> Result<Self, KeyringError> {
        Self::generate_with_id(KeyId::from_checked("k1"))
    }

    /// A new keyring with one random data key under `id` (active) and a random index key.
    pub fn generate_with_id(id: KeyId) -> Result<Self, KeyringError> {
        Self::from_parts(id.clone(), vec![(id, random_key()?)], random_key()?)
    }

    /// Parses a key configuration (the key file format):
    ///
    /// ```toml
    /// active = "k2"
    /// index_key = "<base64 of 32 bytes>"
    ///
    /// [keys]
    /// k1 = "<base64 of 32 bytes>"
    /// k2 = "<base64 of 32 bytes>"
    /// ```
    ///
    /// Refuses keys that are not 32 bytes of standard padded base64, that do not look random,
    /// that repeat another key, a missing or unknown active key, a missing index key, duplicate
    /// ids and unknown entries. Errors never contain key material.
    pub fn from_toml_str(text: &str) -> Result<Self, KeyringError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
        let built = from_table(&table);
        zeroize_table(&mut table);
        built
    }

    /// The key configuration as TOML, for writing a key file: the inverse of
    /// [`Keyring::from_toml_str`]. Zeroed on drop; write it to a file with mode 600
    /// ([`crate::write_new_key_file`] does).
    pub fn to_toml(&self) -> Zeroizing<String> {
        // Reserve everything up front: a reallocation would leave a copy of the keys behind.
        let mut out = Zeroizing::new(String::with_capacity(400 + 100 * self.keys.len()));
        out.push_str(
            "# fincrm field-encryption keys. Keep this file mode 600, owned by the fincrm service\n\
             # user, and back it up apart from the database: without it the encrypted fields are\n\
             # lost. `active` seals new values; the other data keys only open old ones until\n\
             # `fincrm keys rotate` has re-encrypted them. `index_key` keys the blind indexes.\n",
        );
        out.push_str("active = \"");
        out.push_str(self.active_key_id().as_str());
        out.push_str("\"\nindex_key = \"");
        STANDARD.encode_string(&self.index_key[..], &mut out);
        out.push_str("\"\n\n[keys]\n");
        for key in &self.keys {
            out.push('"');
            out.push_str(key.id.as_str());
            out.push_str("\" = \"");
            STANDARD.encode_string(&key.bytes[..], &mut out);
            out.push_str("\"\n");
        }
        out
    }

    /// The id of the key that seals new values.
    pub fn active_key_id(&self) -> &KeyId {
        &self.keys[self.active].id
    }

    /// All data key ids, in configuration order.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.iter().map(|k| &k.id)
    }

    /// Whether a data key with this id is present.
    pub fn contains(&self, id: &str) -> bool {
        self.keys.iter().any(|k| k.id == *id)
    }

    /// This keyring plus a new random data key `id`, *not* active. Rotation is two steps so that
    /// every running instance can read the new key before any instance writes with it: deploy
    /// the keyring with the new key, then [`Keyring::with_active`], then `fincrm keys rotate`.
    pub fn with_generated_key(&self, id: KeyId) -> Result<Self, KeyringError> {
        let mut keys = self.copy_keys();
        keys.push((id, random_key()?));
        Self::from_parts(
            self.active_key_id().clone(),
            keys,
            copy_key(&self.index_key),
        )
    }

    /// This keyring with `id` as the active key.
    pub fn with_active(&self, id: &KeyId) -> Result<Self, KeyringError> {
        if !self.contains(id.as_str()) {
            return Err(KeyringError::UnknownKeyId(id.clone()));
        }
        Self::from_parts(id.clone(), self.copy_keys(), copy_key(&self.index_key))
    }

    /// This keyring without data key `id`: after `fincrm keys rotate` has re-encrypted every
    /// value sealed under it. Values still under `id` become unreadable.
    pub fn without_key(&self, id: &KeyId) -> Result<Self, KeyringError> {
        if !self.contains(id.as_str()) {
            return Err(KeyringError::UnknownKeyId(id.clone()));
        }
        if self.active_key_id() == id {
            return Err(KeyringError::RemoveActive(id.clone()));
        }
        let keys = self
            .copy_keys()
            .into_iter()
            .filter(|(k, _)| k != id)
            .collect();
        Self::from_parts(
            self.active_key_id().clone(),
            keys,
            copy_key(&self.index_key),
        )
    }

    /// This keyring with a new random index key. Every blind index must then be rebuilt
    /// (see the crate docs, "Rotating the index key").
    pub fn with_new_index_key(&self) -> Result<Self, KeyringError> {
        Self::from_parts(
            self.active_key_id().clone(),
            self.copy_keys(),
            random_key()?,
        )
    }

    /// The cipher of the active key, with its id.
    pub(crate) fn active(&self) -> (&KeyId, &Aes256Gcm) {
        let k = &self.keys[self.active];
        (&k.id, &k.cipher)
    }

    /// The cipher of key `id`, if present. Linear: a keyring holds a handful of keys.
    pub(crate) fn cipher(&self, id: &str) -> Option<&Aes256Gcm> {
        self.keys.iter().find(|k| k.id == *id).map(|k| &k.cipher)
    }

    /// The keyed HMAC state for blind indexes.
    pub(crate) fn index_mac(&self) -> &HmacSha256 {
        &self.index_mac
    }

    fn copy_keys(&self) -> Vec<(KeyId, KeyBytes)> {
        self.keys
            .iter()
            .map(|k| (k.id.clone(), copy_key(&k.bytes)))
            .collect()
    }

    /// Validates and builds: ids unique, active present, every key random-looking and distinct.
    fn from_parts(
        active: KeyId,
        keys: Vec<(KeyId, KeyBytes)>,
        index_key: KeyBytes,
    ) -> Result<Self, KeyringError> {
        if keys.is_empty() {
            return Err(KeyringError::NoDataKeys);
        }
        check_random("index_key", &index_key)?;
        for (i, (id, bytes)) in keys.iter().enumerate() {
            check_random(id.as_str(), bytes)?;
            if bytes[..] == index_key[..] {
                return Err(KeyringError::ReusedKey {
                    first: id.to_string(),
                    second: "index_key".to_owned(),
                });
            }
            for (other, other_bytes) in &keys[..i] {
                if other == id {
                    return Err(KeyringError::DuplicateKeyId(id.clone()));
                }
                if other_bytes[..] == bytes[..] {
                    return Err(KeyringError::ReusedKey {
                        first: other.to_string(),
                        second: id.to_string(),
                    });
                }
            }
        }
        let active = keys
            .iter()
            .position(|(id, _)| *id == active)
            .ok_or(KeyringError::ActiveKeyNotFound(active))?;
        let keys = keys
            .into_iter()
            .map(|(id, bytes)| {
                let cipher = Aes256Gcm::new_from_slice(&bytes[..]).map_err(|_| {
                    KeyringError::WrongLength {
                        name: id.to_string(),
                        len: bytes.len(),
                    }
                })?;
                Ok(DataKey { id, bytes, cipher })
            })
            .collect::<Result<Vec<_>, KeyringError>>()?;
        let index_mac = <HmacSha256 as Mac>::new_from_slice(&index_key[..]).map_err(|_| {
            KeyringError::WrongLength {
                name: "index_key".to_owned(),
                len: index_key.len(),
            }
        })?;
        Ok(Self {
            keys,
            active,
            index_key,
            index_mac,
        })
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", self.active_key_id())
            .field("keys", &self.key_ids().collect::<Vec<_>>())
            .field("index_key", &format_args!("<redacted>"))
            .finish()
    }
}

#[expect(
    clippy::unnecessary_box_returns,
    reason = "key bytes live in a box so that moving them never leaves a copy on the stack"
)]
fn copy_key(bytes: &KeyBytes) -> KeyBytes {
    let mut out = KeyBytes::default();
    out.copy_from_slice(&bytes[..]);
    out
}

/// 32 bytes from the operating system's generator, drawn again in the (2^-40-likely) case that
/// they fail [`check_random`].
fn random_key() -> Result<KeyBytes, KeyringError> {
    let mut key = KeyBytes::default();
    loop {
        getrandom::fill(&mut key[..]).map_err(KeyringError::Rng)?;
        if weakness(&key).is_none() {
            return Ok(key);
        }
    }
}

fn check_random(name: &str, key: &[u8; KEY_LEN]) -> Result<(), KeyringError> {
    match weakness(key) {
        None => Ok(()),
        Some(why) => Err(KeyringError::WeakKey {
            name: name.to_owned(),
            why,
        }),
    }
}

/// Catches placeholders (all zeros, a repeated pattern) and passphrases typed as keys. A random
/// key trips either test with probability below 2^-40.
fn weakness(key: &[u8; KEY_LEN]) -> Option<&'static str> {
    let mut seen = [false; 256];
    for &b in key {
        seen[usize::from(b)] = true;
    }
    if seen.iter().filter(|&&s| s).count() < 8 {
        return Some("it has fewer than 8 distinct byte values");
    }
    if key.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Some("every byte is printable ASCII, like a passphrase");
    }
    None
}

/// The TOML parser's message and line; never its `Display`, which quotes the source line.
fn syntax_error(text: &str, e: &toml::de::Error) -> KeyringError {
    let line = e.span().map_or(0, |s| {
        text[..s.start.min(text.len())].matches('\n').count() + 1
    });
    KeyringError::Syntax {
        line,
        message: e.message().to_owned(),
    }
}

fn from_table(table: &toml::Table) -> Result<Keyring, KeyringError> {
    let mut active = None;
    let mut index_key = None;
    let mut keys = Vec::new();
    for (entry, value) in table {
        match entry.as_str() {
            "active" => {
                let id = value
                    .as_str()
                    .ok_or_else(|| wrong_type("active", "a string"))?;
                active = Some(KeyId::new(id)?);
            }
            "index_key" => index_key = Some(decode_key("index_key", value)?),
            "keys" => {
                let table = value
                    .as_table()
                    .ok_or_else(|| wrong_type("keys", "a table ([keys])"))?;
                for (id, value) in table {
                    if id == "active" || id == "index_key" {
                        return Err(KeyringError::Misplaced(if id == "active" {
                            "active"
                        } else {
                            "index_key"
                        }));
                    }
                    let id = KeyId::new(id.as_str())?;
                    let bytes = decode_key(id.as_str(), value)?;
                    keys.push((id, bytes));
                }
            }
            other => return Err(KeyringError::UnknownEntry(printable_name(other))),
        }
    }
    let index_key = index_key.ok_or(KeyringError::MissingIndexKey)?;
    if keys.is_empty() {
        return Err(KeyringError::NoDataKeys);
    }
    let active = active.ok_or(KeyringError::MissingActive)?;
    Keyring::from_parts(active, keys, index_key)
}

fn wrong_type(entry: &str, expected: &'static str) -> KeyringError {
    KeyringError::WrongType {
        entry: entry.to_owned(),
        expected,
    }
}

fn decode_key(name: &str, value: &toml::Value) -> Result<KeyBytes, KeyringError> {
    let text = value
        .as_str()
        .ok_or_else(|| wrong_type(name, "a base64 string"))?
        .trim();
    // Large enough for any text that is nearly a key; longer input is reported by length.
    let mut buf = Zeroizing::new([0u8; 64]);
    let len = match STANDARD.decode_slice(text, &mut buf[..]) {
        Ok(len) => len,
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            return Err(KeyringError::WrongLength {
                name: name.to_owned(),
                len: text.trim_end_matches('=').len() * 3 / 4,
            });
        }
        Err(base64::DecodeSliceError::DecodeError(_)) => {
            return Err(KeyringError::BadBase64 {
                name: name.to_owned(),
            });
        }
    };
    if len != KEY_LEN {
        return Err(KeyringError::WrongLength {
            name: name.to_owned(),
            len,
        });
    }
    let mut key = KeyBytes::default();
    key.copy_from_slice(&buf[..KEY_LEN]);
    Ok(key)
}

/// Zeroes every string the TOML parser copied out of the configuration.
fn zeroize_table(table: &mut toml::Table) {
    for (_, value) in table.iter_mut() {
        zeroize_value(value);
    }
}

fn zeroize_value(value: &mut toml::Value) {
    match value {
        toml::Value::String(s) => s.zeroize(),
        toml::Value::Table(t) => zeroize_table(t),
        toml::Value::Array(a) => a.iter_mut().for_each(zeroize_value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    /// Deterministic, random-looking test keys (never used outside tests).
    pub(crate) fn test_key(seed: u8) -> String {
        let bytes: Vec<u8> = (0u8..32)
            .map(|i| {
                i.wrapping_mul(37)
                    .wrapping_add(seed.wrapping_mul(101))
                    .wrapping_add(0x80)
            })
            .collect();
        STANDARD.encode(bytes)
    }

    fn config(active: &str, keys: &[(&str, String)], index: &str) -> String {
        let mut s = format!("active = \"{active}\"\nindex_key = \"{index}\"\n[keys]\n");
        for (id, k) in keys {
            writeln!(s, "\"{id}\" = \"{k}\"").unwrap();
        }
        s
    }

    /// The key material of a configuration, to grep errors and `Debug` output for.
    fn secrets(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split_once(" = \""))
            .map(|(_, v)| v.trim_end_matches('"').to_owned())
            .filter(|v| v.len() > 16)
            .collect()
    }

    fn assert_leaks_nothing(text: &str, out: &str) {
        for s in secrets(text) {
            assert!(!out.contains(&s), "{out}");
            assert!(!out.contains(&s[..12]), "{out}");
        }
    }

    #[test]
    fn loads_a_valid_configuration() {
        let text = config(
            "k2",
            &[("k1", test_key(1)), ("k2", test_key(2))],
            &test_key(9),
        );
        let kr = Keyring::from_toml_str(&text).unwrap();
        assert_eq!(kr.active_key_id().as_str(), "k2");
        assert_eq!(
            kr.key_ids().map(KeyId::as_str).collect::<Vec<_>>(),
            ["k1", "k2"]
        );
        assert!(kr.contains("k1") && !kr.contains("k3"));
        // Round trip through the writer.
        let again = Keyring::from_toml_str(&kr.to_toml()).unwrap();
        assert_eq!(again.to_toml(), kr.to_toml());
    }

    #[test]
    fn debug_shows_ids_and_no_key_material() {
        let text = config("k1", &[("k1", test_key(1))], &test_key(9));
        let kr = Keyring::from_toml_str(&text).unwrap();
        let dbg = format!("{kr:?} {kr:#?}");
        assert!(
            dbg.contains("\"k1\"") && dbg.contains("<redacted>"),
            "{dbg}"
        );
        assert_leaks_nothing(&text, &dbg);
        // Nor the raw bytes, in any formatting Debug of a byte array would use.
        let generated = Keyring::generate().unwrap();
        let dbg = format!("{generated:?}");
        let toml = generated.to_toml();
        assert_leaks_nothing(&toml, &dbg);
        assert!(
            !dbg.chars().any(|c| c.is_ascii_digit() && c != '1'),
            "{dbg}"
        );
    }

    #[test]
    fn refuses_bad_key_material() {
        let short = STANDARD.encode([7u8; 16]);
        let long = STANDARD.encode((0u8..48).collect::<Vec<_>>());
        let zeros = STANDARD.encode([0u8; 32]);
        let passphrase = STANDARD.encode(b"correct horse battery staple!!!!");
        let cases: Vec<(String, &str)> = vec![
            (
                config("k1", &[("k1", "not base64!".to_owned())], &test_key(9)),
                "not valid base64",
            ),
            (config("k1", &[("k1", short)], &test_key(9)), "is 16 bytes"),
            (config("k1", &[("k1", long)], &test_key(9)), "is 48 bytes"),
            (
                config("k1", &[("k1", zeros)], &test_key(9)),
                "fewer than 8 distinct",
            ),
            (
                config("k1", &[("k1", passphrase)], &test_key(9)),
                "passphrase",
            ),
            (
                config("k1", &[("k1", test_key(1))], &test_key(1)),
                "same bytes",
            ),
            (
                config(
                    "k1",
                    &[("k1", test_key(1)), ("k2", test_key(1))],
                    &test_key(9),
                ),
                "same bytes",
            ),
        ];
        for (text, want) in cases {
            let err = Keyring::from_toml_str(&text).unwrap_err().to_string();
            assert!(err.contains(want), "want {want:?}: {err}");
            assert_leaks_nothing(&text, &err);
        }
    }

    #[test]
    fn refuses_bad_structure() {
        let k1 = test_key(1);
        let idx = test_key(9);
        let cases: Vec<(String, &str)> = vec![
            (
                format!("index_key = \"{idx}\"\n[keys]\nk1 = \"{k1}\"\n"),
                "no `active",
            ),
            (
                config("k3", &[("k1", k1.clone())], &idx),
                "active key `k3` is not among",
            ),
            (
                format!("active = \"k1\"\n[keys]\nk1 = \"{k1}\"\n"),
                "no `index_key`",
            ),
            (
                format!("active = \"k1\"\n[keys]\nk1 = \"{k1}\"\nindex_key = \"{idx}\"\n"),
                "before the [keys] header",
            ),
            (
                format!("active = \"k1\"\nindex_key = \"{idx}\"\n"),
                "no [keys]",
            ),
            (
                format!("active = \"k1\"\nindex_key = \"{idx}\"\n[keys]\n"),
                "no [keys]",
            ),
            (
                format!(
                    "active = \"k1\"\nindex_key = \"{idx}\"\n[keys]\nk1 = \"{k1}\"\nk1 = \"{idx}\"\n"
                ),
                "duplicate key",
            ),
            (
                format!(
                    "active = \"k1\"\nactve = \"k1\"\nindex_key = \"{idx}\"\n[keys]\nk1 = \"{k1}\"\n"
                ),
                "unknown entry `actve`",
            ),
            (
                format!("active = 1\nindex_key = \"{idx}\"\n[keys]\nk1 = \"{k1}\"\n"),
                "must be a string",
            ),
            (
                format!("active = \"k1\"\nindex_key = \"{idx}\"\n[keys]\n\"k:1\" = \"{k1}\"\n"),
                "invalid key id",
            ),
            (
                format!("active = \"k1\"\nindex_key = \"{idx}\n[keys]\nk1 = \"{k1}\"\n"),
                "line 2",
            ),
            (
                format!("active = \"k1\"\n\"{k1}\" = \"{idx}\"\n"),
                "not shown",
            ),
        ];
        for (text, want) in cases {
            let err = Keyring::from_toml_str(&text).unwrap_err().to_string();
            assert!(err.contains(want), "want {want:?}: {err}\n---\n{text}");
            assert_leaks_nothing(&text, &err);
        }
    }

    #[test]
    fn rotation_steps_keep_old_keys_and_refuse_mistakes() {
        let kr = Keyring::generate().unwrap();
        let k1 = KeyId::new("k1").unwrap();
        let k2 = KeyId::new("2026-11").unwrap();
        let added = kr.with_generated_key(k2.clone()).unwrap();
        assert_eq!(
            added.active_key_id(),
            &k1,
            "a new key is not active until activated"
        );
        let rotated = added.with_active(&k2).unwrap();
        assert_eq!(rotated.active_key_id(), &k2);
        assert!(matches!(
            rotated.without_key(&k2),
            Err(KeyringError::RemoveActive(_))
        ));
        let retired = rotated.without_key(&k1).unwrap();
        assert_eq!(retired.key_ids().collect::<Vec<_>>(), [&k2]);
        assert!(matches!(
            retired.with_active(&k1),
            Err(KeyringError::UnknownKeyId(_))
        ));
        assert!(matches!(
            rotated.with_generated_key(k1),
            Err(KeyringError::DuplicateKeyId(_))
        ));
    }

    #[test]
    fn keyring_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Keyring>();
    }
}
