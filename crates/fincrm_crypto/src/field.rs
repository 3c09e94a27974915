//! Sealing, opening, re-encrypting and indexing one field value.

use crate::sealed::{NONCE_LEN, TAG_LEN, V1_PREFIX};
use crate::{CryptoError, KeyId, Keyring, Revealed, Sealed};
use aes_gcm::{AeadInOut, Nonce, Tag};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use zeroize::{Zeroize, Zeroizing};

/// Bytes of HMAC-SHA256 output kept in a blind index.
pub const BLIND_INDEX_BYTES: usize = 16;
/// Separator between field name and value in the blind-index input (ASCII unit separator).
const INDEX_SEPARATOR: u8 = 0x1f;
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Encrypts `plaintext` for `field` under the keyring's active key.
///
/// `field` names the column, such as `"customer.id_number"`; it is the AES-GCM associated data,
/// so the sealed value only opens as that field and a ciphertext copied into another column is
/// refused. Use one constant per column. Each call draws a fresh 96-bit nonce from the operating
/// system, so sealing the same value twice gives different envelopes.
///
/// Fails only if the OS random generator fails or the value exceeds AES-GCM's 64 GiB limit.
pub fn encrypt_field(
    keyring: &Keyring,
    field: &str,
    plaintext: &str,
) -> Result<Sealed, CryptoError> {
    let (key_id, cipher) = keyring.active();
    let clear = plaintext.as_bytes();
    // nonce ‖ plaintext → nonce ‖ ciphertext, then ‖ tag. Zeroing on drop covers the error path,
    // where the buffer still holds the plaintext.
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(CryptoError::Rng)?;
    let mut buf = Zeroizing::new(Vec::with_capacity(NONCE_LEN + clear.len() + TAG_LEN));
    buf.extend_from_slice(&nonce);
    buf.extend_from_slice(clear);
    let tag: Tag = cipher
        .encrypt_inout_detached(
            <&Nonce<_>>::from(&nonce),
            field.as_bytes(),
            (&mut buf[NONCE_LEN..]).into(),
        )
        .map_err(|_| CryptoError::TooLong)?;
    buf.extend_from_slice(&tag);

    let mut out = String::with_capacity(
        V1_PREFIX.len() + key_id.as_str().len() + 1 + buf.len().div_ceil(3) * 4,
    );
    out.push_str(V1_PREFIX);
    out.push_str(key_id.as_str());
    out.push(':');
    STANDARD.encode_string(&buf[..], &mut out);
    Ok(Sealed::from_parts_unchecked(out))
}

/// Decrypts a value sealed for `field`.
///
/// Errors: [`CryptoError::UnknownKeyId`] when the envelope's key is not in the keyring,
/// [`CryptoError::Malformed`] when the payload is not base64 of at least a nonce and a tag,
/// [`CryptoError::NotAuthentic`] when the value was sealed for another field, altered, or sealed
/// under different key bytes with the same id. Never panics on any input.
pub fn decrypt_field(
    keyring: &Keyring,
    field: &str,
    sealed: &Sealed,
) -> Result<Revealed, CryptoError> {
    let key_id = sealed.key_id();
    let cipher = keyring
        .cipher(key_id)
        .ok_or_else(|| CryptoError::UnknownKeyId(KeyId::from_checked(key_id)))?;
    let payload = sealed.payload();
    // Reserve before decoding so the buffer never reallocates once it holds plaintext.
    let mut buf = Zeroizing::new(Vec::with_capacity(payload.len() / 4 * 3));
    STANDARD
        .decode_vec(payload, &mut buf)
        .map_err(|_| CryptoError::Malformed("payload is not base64"))?;
    let too_short = CryptoError::Malformed("payload is shorter than a nonce and a tag");
    let Some((nonce, rest)) = buf.split_first_chunk_mut::<NONCE_LEN>() else {
        return Err(too_short);
    };
    let Some((body, tag)) = rest.split_last_chunk_mut::<TAG_LEN>() else {
        return Err(too_short);
    };
    let clear_len = body.len();
    cipher
        .decrypt_inout_detached(
            <&Nonce<_>>::from(&*nonce),
            field.as_bytes(),
            body.into(),
            <&Tag>::from(&*tag),
        )
        .map_err(|_| CryptoError::NotAuthentic {
            field: field.to_owned(),
            key_id: KeyId::from_checked(key_id),
        })?;
    // Turn the buffer into the plaintext in place: no copy outside this allocation, whose whole
    // capacity the `Zeroizing<String>` in `Revealed` zeroes on drop.
    let mut clear = std::mem::take(&mut *buf);
    clear.copy_within(NONCE_LEN..NONCE_LEN + clear_len, 0);
    clear.truncate(clear_len);
    match String::from_utf8(clear) {
        Ok(text) => Ok(Revealed::new(text)),
        Err(e) => {
            e.into_bytes().zeroize();
            Err(CryptoError::NotUtf8)
        }
    }
}

/// Re-encrypts a value under the active key: `Some(new envelope)` when it is sealed under another
/// key, `None` when it already is under the active key (without decrypting it, so a resumed
/// rotation skips finished rows cheaply).
///
/// The store's `fincrm keys rotate` job pages through each encrypted column calling this and
/// writes back the `Some` values; once no column holds an old key id, the old key can be removed
/// ([`Keyring::without_key`]).
pub fn reencrypt(
    keyring: &Keyring,
    field: &str,
    sealed: &Sealed,
) -> Result<Option<Sealed>, CryptoError> {
    if keyring.active_key_id() == sealed.key_id() {
        return Ok(None);
    }
    let clear = decrypt_field(keyring, field, sealed)?;
    encrypt_field(keyring, field, clear.expose()).map(Some)
}

/// The blind index of a value: lowercase hex of the first 16 bytes of
/// HMAC-SHA256(index key, `field` ‖ 0x1F ‖ `normalised_value`), 32 characters.
///
/// Deterministic, so an exact-match lookup computes the index of the search term and compares
/// it with the indexed column. The value must be normalised exactly as it was when indexed (the
/// canonical form the domain parsers give: 11-digit phone, upper-case resident ID, …). The field
/// name separates the indexes of different columns: the same phone number has unrelated indexes
/// in `customer.phone` and `contact.phone`. `field` must not contain 0x1F (field names are
/// constants such as `"customer.phone"`).
pub fn blind_index(keyring: &Keyring, field: &str, normalised_value: &str) -> String {
    debug_assert!(
        !field.as_bytes().contains(&INDEX_SEPARATOR),
        "field names must not contain 0x1F"
    );
    let mut mac = keyring.index_mac().clone();
    mac.update(field.as_bytes());
    mac.update(&[INDEX_SEPARATOR]);
    mac.update(normalised_value.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(BLIND_INDEX_BYTES * 2);
    for &b in &digest[..BLIND_INDEX_BYTES] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// The blind index of a stored value, recomputed from its ciphertext: for rebuilding an index
/// column after the index key changed (crate docs, "Rotating the index key"). The stored
/// plaintext must already be in normalised form, which it is when the store writes the domain
/// types' canonical text.
pub fn rebuild_index(
    keyring: &Keyring,
    field: &str,
    sealed: &Sealed,
) -> Result<String, CryptoError> {
    let clear = decrypt_field(keyring, field, sealed)?;
    Ok(blind_index(keyring, field, clear.expose()))
}
