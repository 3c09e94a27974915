//! The two error types: [`KeyringError`] for building or loading a keyring, [`CryptoError`] for
//! sealing and opening one value.
//!
//! Neither ever carries key material, plaintext or the text of a sealed value: errors end up in
//! logs (SECURITY.md §3.5, S2/S3). Names that come from a key file (key ids, entry names) are only
//! echoed when they look like key ids, so a key pasted into the wrong place is not printed.

use crate::KeyId;
use std::io;
use std::path::PathBuf;

/// Why a keyring could not be built, loaded or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// Neither `FINCRM_KEY_FILE` nor `FINCRM_KEYS` is set.
    #[error(
        "no encryption keys configured: set FINCRM_KEY_FILE to the path of a key file (mode 600) \
         or FINCRM_KEYS to its contents; `fincrm keys init` creates a key file"
    )]
    NotConfigured,
    /// Both `FINCRM_KEY_FILE` and `FINCRM_KEYS` are set.
    #[error("both FINCRM_KEYS and FINCRM_KEY_FILE are set; set only one of them")]
    AmbiguousSource,
    /// The key file could not be opened, read or written.
    #[error("key file {}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The key file path names a directory or device, not a file.
    #[error("key file {} is not a regular file", path.display())]
    NotAFile {
        /// The key file.
        path: PathBuf,
    },
    /// The key file is far larger than any key file.
    #[error("key file {} is {len} bytes; a key file is a few hundred bytes", path.display())]
    TooLarge {
        /// The key file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// The key file can be read (or written) by group or others.
    #[error(
        "key file {} is accessible to group or others (mode {mode:03o}); run `chmod 600 {}` \
         and make sure only the fincrm service user owns it",
        path.display(),
        path.display()
    )]
    Permissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits (`mode & 0o777`).
        mode: u32,
    },
    /// The key configuration is not valid TOML. `message` is the parser's description without
    /// the quoted source line, which could contain a key.
    #[error("key configuration is not valid TOML (line {line}): {message}")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// What the TOML parser expected or found.
        message: String,
    },
    /// No `active = "<key id>"` entry.
    #[error("key configuration has no `active = \"<key id>\"` entry")]
    MissingActive,
    /// No `index_key` entry.
    #[error("key configuration has no `index_key` entry (the blind-index key)")]
    MissingIndexKey,
    /// No data keys.
    #[error("key configuration has no [keys] table with at least one data key")]
    NoDataKeys,
    /// The active key id names no data key.
    #[error("active key `{0}` is not among the data keys in [keys]")]
    ActiveKeyNotFound(KeyId),
    /// An entry has the wrong TOML type.
    #[error("`{entry}` must be {expected}")]
    WrongType {
        /// The entry.
        entry: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A top-level entry other than `active`, `index_key` and `keys`.
    #[error("unknown entry `{0}` in key configuration (expected `active`, `index_key`, [keys])")]
    UnknownEntry(String),
    /// `active` or `index_key` written after the `[keys]` header, which makes it a data key.
    #[error(
        "`{0}` appears inside [keys]; TOML puts every line after `[keys]` in that table, so write \
         `active` and `index_key` before the [keys] header"
    )]
    Misplaced(&'static str),
    /// A key id that breaks the key id rules. The id itself is not echoed.
    #[error("invalid key id ({len} characters): {reason}")]
    InvalidKeyId {
        /// Its length in characters.
        len: usize,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// Two data keys with the same id.
    #[error("duplicate key id `{0}`")]
    DuplicateKeyId(KeyId),
    /// A key that is not base64.
    #[error("key `{name}` is not valid base64 (standard alphabet with `=` padding)")]
    BadBase64 {
        /// The key id, or `index_key`.
        name: String,
    },
    /// A key that does not decode to 32 bytes.
    #[error(
        "key `{name}` is {len} bytes; keys are exactly 32 random bytes, base64-encoded \
         (`fincrm keys init`, or `openssl rand -base64 32`)"
    )]
    WrongLength {
        /// The key id, or `index_key`.
        name: String,
        /// Its decoded length.
        len: usize,
    },
    /// A key that is evidently not random: a placeholder or a passphrase.
    #[error(
        "key `{name}` does not look random ({why}); generate keys with `fincrm keys init` or \
         `openssl rand -base64 32`"
    )]
    WeakKey {
        /// The key id, or `index_key`.
        name: String,
        /// What gave it away.
        why: &'static str,
    },
    /// The same 32 bytes under two names (two data keys, or a data key and the index key).
    #[error("keys `{first}` and `{second}` have the same bytes; every key must be distinct")]
    ReusedKey {
        /// The first name.
        first: String,
        /// The second name.
        second: String,
    },
    /// A key id that the keyring does not hold.
    #[error("key `{0}` is not in the keyring")]
    UnknownKeyId(KeyId),
    /// Removing the active key.
    #[error("key `{0}` is the active key and cannot be removed; activate another key first")]
    RemoveActive(KeyId),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Rng(getrandom::Error),
}

/// Why a value could not be sealed or opened. Each case has its own variant so the store can
/// report "corrupt row" and "missing key" differently; none prints the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The text is not a `v1:<key id>:<base64>` envelope.
    #[error("not a sealed value: {0}")]
    Malformed(&'static str),
    /// The text starts with another envelope version (`v2:`…), which this build cannot read.
    #[error("sealed value has an envelope version this build does not read (it reads v1)")]
    UnsupportedVersion,
    /// The value was sealed under a key id that is not in the keyring.
    #[error(
        "sealed value is under key `{0}`, which is not in the keyring (was the key removed \
         before `fincrm keys rotate` finished?)"
    )]
    UnknownKeyId(KeyId),
    /// AES-GCM authentication failed. GCM gives one verdict for all of these causes, by design:
    /// the value was sealed for another field (it was moved between columns), the ciphertext was
    /// altered, or the key bytes under this id differ from those that sealed it.
    #[error(
        "sealed value does not authenticate as field `{field}` under key `{key_id}`: it was sealed \
         for another field, altered, or key `{key_id}` has different bytes than when it was sealed"
    )]
    NotAuthentic {
        /// The field the caller asked for.
        field: String,
        /// The key id in the envelope.
        key_id: KeyId,
    },
    /// The decrypted bytes are not UTF-8 (only possible if something that holds the key sealed
    /// non-text bytes).
    #[error("sealed value decrypts to bytes that are not UTF-8")]
    NotUtf8,
    /// The plaintext is longer than AES-GCM allows (2^36 − 32 bytes).
    #[error("value is too long for AES-GCM")]
    TooLong,
    /// The operating system's random number generator failed while drawing a nonce.
    #[error("the operating system's random number generator failed: {0}")]
    Rng(getrandom::Error),
}
