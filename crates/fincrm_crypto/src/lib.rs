//! Field-level protection of personal information (issue #3; SECURITY.md §0.4, §2.1, §3.5 P1/P2/S2).
//!
//! The C2 identifiers (ID document numbers, mobile numbers, account and card numbers, addresses)
//! are stored encrypted, one value per column, and found again by exact match through a keyed
//! blind index. This crate is the cryptography only: no database, and no IO except reading and
//! writing the key file (module `load`, [`load_from_env`], [`load_key_file`],
//! [`write_new_key_file`]). The store decides which columns are sealed and runs the rotation job;
//! the service decides who may reveal and audits it.
//!
//! ```
//! use fincrm_crypto::{Keyring, blind_index, decrypt_field, encrypt_field};
//!
//! let keyring = Keyring::generate()?;
//! let sealed = encrypt_field(&keyring, "customer.phone", "13812345678")?;
//! assert!(sealed.as_str().starts_with("v1:k1:"));
//! let clear = decrypt_field(&keyring, "customer.phone", &sealed)?;
//! assert_eq!(clear.expose(), "13812345678");
//! assert_eq!(format!("{clear:?}"), "Revealed(****)");
//! // Exact-match lookup: the index of the search term equals the stored index.
//! let index = blind_index(&keyring, "customer.phone", "13812345678");
//! assert_eq!(index.len(), 32);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What it protects against, and what not
//! A copy of the database (file, WAL, backup, `pg_dump`, a read-only SQL injection) shows no
//! plaintext of a sealed column: the SECURITY.md P1 test greps for canaries. Someone who can run
//! code in the fincrm process, or read the key file, can decrypt everything; that is what the key
//! file permissions and a separate backup of the key file are for. A ciphertext moved to another
//! column fails to decrypt (the field name is authenticated). A ciphertext copied to another *row*
//! of the same column still decrypts: binding rows would need the row key in the associated data,
//! which the store can add later with a `v2` envelope if row swapping by a database writer is in
//! scope.
//!
//! # Encryption: AES-256-GCM with a random 96-bit nonce, the field name as associated data
//! - AES-GCM is the standard AEAD (NIST SP 800-38D), hardware-accelerated (AES-NI, PCLMULQDQ) on
//!   the servers banks run, and the `aes-gcm` crate has had a public audit (NCC Group, no
//!   significant findings).
//!   Authentication matters as much as secrecy: a flipped bit is an error, never a wrong ID number.
//! - A fresh random 96-bit nonce per value from the operating system ([`getrandom`]): no counter
//!   state to persist or to coordinate between processes, which a counter would need. The price is
//!   the birthday bound: NIST limits a key to 2^32 random-nonce encryptions (collision chance
//!   below 2^-32). A bank with 10 million customers and five sealed fields seals 5 × 10^7 values
//!   per full import, about 1 % of the limit; rotating to a new key resets the count, and
//!   `fincrm keys rotate` is the answer long before the limit matters.
//! - The field name (`"customer.id_number"`) is the associated data, so a value only opens as the
//!   column it was sealed for.
//! - Plaintext is UTF-8 text (the domain types' canonical form), so [`decrypt_field`] returns text.
//! - Hot path: each key's `Aes256Gcm` (key schedule) and the keyed HMAC state are built once in
//!   the [`Keyring`]; sealing a value is one nonce draw, one buffer, one base64 string.
//!
//! # Envelope
//! A [`Sealed`] value is text, `v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`, standard base64
//! with padding: readable in a text column of both SQLite and PostgreSQL, self-describing (the
//! version names the scheme, so a later `v2`, say SM4 for a Chinese-cryptography build, can be
//! read alongside), and carrying the key id, so rows sealed under different keys coexist during a
//! rotation. An 18-character resident ID becomes 3 + id + 1 + 64 characters.
//!
//! # Keys and rotation
//! A [`Keyring`] holds 256-bit data keys by [`KeyId`] (`k1`, `2026-11`), one *active* for new
//! values, and older ones for reading until rotation has re-encrypted everything. Rotating a data
//! key:
//! 1. add a new key (not active) and deploy the keyring to every instance
//!    ([`Keyring::with_generated_key`]); all instances can now read it;
//! 2. make it active ([`Keyring::with_active`]) and deploy again; new values use it;
//! 3. `fincrm keys rotate` pages through every sealed column calling [`reencrypt`], which returns
//!    the value re-sealed under the active key, or `None` for values already under it (so the
//!    job can be interrupted and resumed);
//! 4. when no row carries the old key id, remove it ([`Keyring::without_key`]). A value whose key
//!    was removed fails with [`CryptoError::UnknownKeyId`], never with garbage.
//!
//! # Blind index
//! [`blind_index`] = lowercase hex of the first 16 bytes of HMAC-SHA256(index key,
//! field ‖ 0x1F ‖ normalised value). The store keeps it in an indexed column next to the sealed
//! value, and an exact lookup ("find the customer with this phone number") computes the index of
//! the search term and compares.
//! - Keyed, not a plain hash: the value spaces are small (about 10^9 mobile numbers, fewer resident
//!   IDs per birth date), so an unkeyed SHA-256 column would be reversed by enumeration in
//!   minutes. Without the index key the column reveals nothing about the values.
//! - What it does leak, by design: equality. Rows with the same value in the same field have the
//!   same index, so someone with the database sees how many customers share a phone number, though
//!   not which number. That is the cost of exact search; nothing else (prefix, range, fuzzy) can be
//!   searched.
//! - The field name is part of the input: the same number has unrelated indexes in different
//!   fields, so indexes cannot be joined across columns. To make two columns joinable, index them
//!   under one field label on purpose.
//! - 16 bytes (128 bits): the chance that any two of 10^9 distinct values collide is about 2^-69,
//!   while the column stays half the size of a full HMAC. A lookup may still compare the
//!   decrypted value when it matters.
//! - The value must be normalised the same way when indexing and when searching: use the domain
//!   parsers' canonical text (`MobilePhone`'s 11 digits, `ResidentId`'s upper-case form).
//!
//! # Rotating the index key
//! The index key is separate from the data keys and stays put when data keys rotate: every index
//! depends on it, and changing it invalidates all of them at once. Change it only when it may have
//! leaked: make a keyring with [`Keyring::with_new_index_key`], then rebuild every index column
//! with [`rebuild_index`] (decrypt the sealed value, index it under the new key), in a maintenance
//! window or with lookups falling back to a scan, because rows not yet rebuilt are not found by
//! the new key until the job has passed them. The data keys and sealed values do not change.
//!
//! # Key configuration
//! TOML, in a key file named by `FINCRM_KEY_FILE` or inline in `FINCRM_KEYS`:
//! ```toml
//! active = "k2"
//! index_key = "<base64 of 32 random bytes>"
//!
//! [keys]
//! k1 = "<base64 of 32 random bytes>"
//! k2 = "<base64 of 32 random bytes>"
//! ```
//! `active` and `index_key` come before `[keys]` (TOML puts every later line in that table).
//! Loading refuses keys that are not exactly 32 bytes, keys that do not look random (fewer than 8
//! distinct byte values, or all printable ASCII: a passphrase), the same bytes under two names, a
//! missing or unknown active key, duplicate ids, unknown entries, and on Unix a key file that
//! group or others can access ([`check_key_file_mode`]: `chmod 600`). [`Keyring::generate`] and
//! [`write_new_key_file`] are for `fincrm keys init`.
//!
//! # Keeping secrets out of logs and memory
//! Errors and `Debug` output never contain key material, plaintext or envelopes: [`Keyring`]
//! shows its key ids, [`Revealed`] shows `****`, [`Sealed`] shows key id and length, and names
//! from a key file are echoed only if they look like key ids. Key bytes, decrypted values and
//! intermediate buffers are zeroed when dropped ([`zeroize`]); so are the parsed TOML and, through
//! `aes-gcm`'s `zeroize` feature, each cipher's AES key schedule and GHASH key. Not covered: the
//! keyed HMAC state (hmac 0.12 has no zeroize support), the process environment that held
//! `FINCRM_KEYS`, and the TOML parser's copy of the input inside a syntax error.

mod error;
mod field;
mod key_id;
mod keyring;
mod load;
mod revealed;
mod sealed;

pub use error::{CryptoError, KeyringError};
pub use field::{
    BLIND_INDEX_BYTES, blind_index, decrypt_field, encrypt_field, rebuild_index, reencrypt,
};
pub use key_id::{KeyId, MAX_KEY_ID_LEN};
pub use keyring::{KEY_LEN, Keyring};
pub use load::{
    KEY_FILE_ENV, KEYS_ENV, check_key_file_mode, load_from_env, load_key_file, write_new_key_file,
};
pub use revealed::Revealed;
pub use sealed::Sealed;
