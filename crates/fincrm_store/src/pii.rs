//! Personal information at rest: which customer columns are sealed, how a batch is sealed before
//! it is written, how a stored value is opened, the blind-index lookups, and the re-encryption
//! step of `fincrm keys rotate`. Shared by both adapters, so SQLite and PostgreSQL seal the same
//! columns the same way (the cryptography itself is `fincrm_crypto`).
//!
//! The C2 fields of a customer (SECURITY.md §2.1) are `id_number`, `phone`, `email` and
//! `address`. With a [`Keyring`], the store writes each of them as `<field>_enc` (a
//! `v1:<key id>:…` envelope, the field name `customer.<field>` as associated data) and leaves the
//! plaintext column NULL; `id_number` and `phone` also get a `<field>_bidx` blind index for exact
//! search and duplicate detection. Without a keyring it writes the plaintext columns and NULL
//! encrypted columns, as before issue #3. Reading accepts both forms row by row, so a database
//! written in plaintext mode keeps working after keys are configured, and `fincrm keys rotate`
//! seals the old rows.
//!
//! Not sealed: account numbers (`holding_id`), which are primary keys joined by every
//! transaction and referenced by extracts; sealing them needs a tokenisation scheme (a keyed,
//! deterministic surrogate), which comes later.

use crate::tables::{CUSTOMER, ColumnData, TableBatch};
use crate::{StoreError, StoreResult};
use fincrm_crypto::{Keyring, Sealed, blind_index, decrypt_field, encrypt_field, reencrypt};
use fincrm_domain::{MobilePhone, PassportNumber, ResidentId, UnifiedSocialCreditCode};
use std::borrow::Cow;

/// Associated data and blind-index label of the sealed ID document number.
pub const FIELD_ID_NUMBER: &str = "customer.id_number";
/// Associated data and blind-index label of the sealed mobile number.
pub const FIELD_PHONE: &str = "customer.phone";
/// Associated data of the sealed e-mail address.
pub const FIELD_EMAIL: &str = "customer.email";
/// Associated data of the sealed postal address.
pub const FIELD_ADDRESS: &str = "customer.address";

/// The sealed fields of `customer`: (plaintext column, encrypted column, blind-index column if
/// any, field label).
const SEALED: [(&str, &str, Option<&str>, &str); 4] = [
    (
        "id_number",
        "id_number_enc",
        Some("id_number_bidx"),
        FIELD_ID_NUMBER,
    ),
    ("phone", "phone_enc", Some("phone_bidx"), FIELD_PHONE),
    ("email", "email_enc", None, FIELD_EMAIL),
    ("address", "address_enc", None, FIELD_ADDRESS),
];

fn crypto_err(e: &fincrm_crypto::CryptoError) -> StoreError {
    // CryptoError never carries plaintext, envelopes or keys, so its text may be logged.
    StoreError::Corrupt(format!("personal information: {e}"))
}

fn column_index(batch: &TableBatch, name: &str) -> StoreResult<usize> {
    batch
        .spec
        .columns
        .iter()
        .position(|c| *c == name)
        .ok_or_else(|| StoreError::Other(anyhow::anyhow!("customer batch has no column {name}")))
}

fn take_text(batch: &mut TableBatch, idx: usize) -> StoreResult<Vec<Option<String>>> {
    match &mut batch.columns[idx] {
        ColumnData::Text(v) => Ok(std::mem::take(v)),
        _ => Err(StoreError::Other(anyhow::anyhow!(
            "customer column {} is not text",
            batch.spec.columns[idx]
        ))),
    }
}

/// Seals the personal information of a `customer` batch in place: each plaintext PI column
/// becomes NULL, its value goes sealed into the `_enc` column and, for ID number and phone, its
/// blind index into the `_bidx` column. Batches of other tables are left alone. Adapters call
/// this in `write` when they have a keyring, so no caller can write plaintext by mistake.
///
/// The values are the domain types' canonical text (upper-case ID, 11-digit phone), which is
/// what the blind index must be computed over.
pub fn seal_customers(batch: &mut TableBatch, keyring: &Keyring) -> StoreResult<()> {
    if batch.spec.name != CUSTOMER.name {
        return Ok(());
    }
    let rows = batch.rows();
    for (plain, enc, bidx, field) in SEALED {
        let plain_idx = column_index(batch, plain)?;
        let enc_idx = column_index(batch, enc)?;
        let values = take_text(batch, plain_idx)?;
        let mut sealed = Vec::with_capacity(rows);
        let mut index = bidx.map(|_| Vec::with_capacity(rows));
        for value in &values {
            let sealed_value = value
                .as_deref()
                .map(|v| {
                    encrypt_field(keyring, field, v)
                        .map(fincrm_crypto::Sealed::into_string)
                        .map_err(|e| StoreError::Other(anyhow::anyhow!("sealing {field}: {e}")))
                })
                .transpose()?;
            sealed.push(sealed_value);
            if let Some(ix) = index.as_mut() {
                ix.push(value.as_deref().map(|v| blind_index(keyring, field, v)));
            }
        }
        batch.columns[plain_idx] = ColumnData::Text(vec![None; rows]);
        batch.columns[enc_idx] = ColumnData::Text(sealed);
        if let (Some(bidx), Some(ix)) = (bidx, index) {
            let bidx_idx = column_index(batch, bidx)?;
            batch.columns[bidx_idx] = ColumnData::Text(ix);
        }
    }
    Ok(())
}

/// The batches to write, with every `customer` batch sealed when `keyring` is set (a copy; other
/// batches are borrowed as they are). Adapters call this at the top of `write`, before the
/// transaction starts, so the encryption work does not hold the database's writer.
pub fn seal_batches<'a>(
    keyring: Option<&Keyring>,
    batches: &'a [TableBatch],
) -> StoreResult<Vec<Cow<'a, TableBatch>>> {
    batches
        .iter()
        .map(|b| match keyring {
            Some(k) if b.spec.name == CUSTOMER.name => {
                let mut sealed = b.clone();
                seal_customers(&mut sealed, k)?;
                Ok(Cow::Owned(sealed))
            }
            _ => Ok(Cow::Borrowed(b)),
        })
        .collect()
}

/// The stored value of one PI field: the sealed column opened with `keyring` when it is set,
/// else the plaintext column. A sealed value without a keyring, or under a key the keyring does
/// not hold, is an error (never a silent NULL).
pub fn open_field(
    keyring: Option<&Keyring>,
    field: &str,
    plain: Option<String>,
    sealed: Option<String>,
) -> StoreResult<Option<String>> {
    let Some(sealed) = sealed else {
        return Ok(plain);
    };
    let Some(keyring) = keyring else {
        return Err(StoreError::Corrupt(format!(
            "{field} is encrypted but no keyring is configured (set FINCRM_KEY_FILE)"
        )));
    };
    let sealed = Sealed::parse(sealed).map_err(|e| crypto_err(&e))?;
    let clear = decrypt_field(keyring, field, &sealed).map_err(|e| crypto_err(&e))?;
    Ok(Some(clear.expose().to_owned()))
}

/// The canonical text of an ID document number typed by a user (trimmed, upper-case), if it is a
/// valid resident ID, credit code or passport number; `None` otherwise (no stored customer can
/// have it).
pub fn normalise_id_number(raw: &str) -> Option<String> {
    if let Ok(id) = ResidentId::parse(raw) {
        return Some(id.expose().to_owned());
    }
    if let Ok(code) = UnifiedSocialCreditCode::parse(raw) {
        return Some(code.as_str().to_owned());
    }
    PassportNumber::parse(raw)
        .ok()
        .map(|p| p.expose().to_owned())
}

/// The canonical 11 digits of a mobile number typed by a user, if valid.
pub fn normalise_phone(raw: &str) -> Option<String> {
    MobilePhone::parse(raw).ok().map(|p| p.expose().to_owned())
}

/// What an exact lookup compares: the column and the value. With a keyring, the blind-index
/// column and the index of the normalised term; without, the plaintext column and the term.
pub fn lookup_term(
    keyring: Option<&Keyring>,
    field: &str,
    normalised: &str,
) -> (&'static str, String) {
    let (plain, bidx) = if field == FIELD_PHONE {
        ("phone", "phone_bidx")
    } else {
        ("id_number", "id_number_bidx")
    };
    match keyring {
        Some(k) => (bidx, blind_index(k, field, normalised)),
        None => (plain, normalised.to_owned()),
    }
}

/// The column list of [`CustomerPi`], for `SELECT`s.
pub const PI_COLUMNS: &str = "customer_id, id_number, phone, email, address, id_number_enc, \
    id_number_bidx, phone_enc, phone_bidx, email_enc, address_enc";

/// The personal-information columns of one stored customer, as they are in the database (for
/// the rotation job and for tests that look at the raw columns).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
#[expect(
    missing_docs,
    reason = "fields mirror the columns documented in the migrations"
)]
pub struct CustomerPi {
    pub customer_id: String,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    pub id_number_enc: Option<String>,
    pub id_number_bidx: Option<String>,
    pub phone_enc: Option<String>,
    pub phone_bidx: Option<String>,
    pub email_enc: Option<String>,
    pub address_enc: Option<String>,
}

/// One step of sealing a field for [`reseal`]: `Some((sealed, index))` when the stored form must
/// change.
fn reseal_field(
    keyring: &Keyring,
    field: &str,
    plain: &mut Option<String>,
    sealed: &mut Option<String>,
    index: Option<&mut Option<String>>,
) -> StoreResult<bool> {
    if let Some(text) = sealed.as_ref() {
        let envelope = Sealed::parse(text.clone()).map_err(|e| crypto_err(&e))?;
        let Some(new) = reencrypt(keyring, field, &envelope).map_err(|e| crypto_err(&e))? else {
            // Already under the active key; a stray plaintext copy is still removed.
            return Ok(plain.take().is_some());
        };
        *sealed = Some(new.into_string());
        *plain = None;
        return Ok(true);
    }
    let Some(clear) = plain.take() else {
        return Ok(false);
    };
    // A row written in plaintext mode (before keys were configured): seal and index it now.
    *sealed = Some(
        encrypt_field(keyring, field, &clear)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("sealing {field}: {e}")))?
            .into_string(),
    );
    if let Some(ix) = index {
        *ix = Some(blind_index(keyring, field, &clear));
    }
    Ok(true)
}

/// The rotation step for one customer: every sealed value re-encrypted under the active key,
/// and every plaintext value left from plaintext mode sealed and indexed. `None` when nothing
/// changes (all values already under the active key), so a resumed or repeated rotation rewrites
/// nothing. Blind indexes do not depend on the data key and stay as they are.
pub fn reseal(keyring: &Keyring, row: &CustomerPi) -> StoreResult<Option<CustomerPi>> {
    let mut r = row.clone();
    let mut changed = reseal_field(
        keyring,
        FIELD_ID_NUMBER,
        &mut r.id_number,
        &mut r.id_number_enc,
        Some(&mut r.id_number_bidx),
    )?;
    changed |= reseal_field(
        keyring,
        FIELD_PHONE,
        &mut r.phone,
        &mut r.phone_enc,
        Some(&mut r.phone_bidx),
    )?;
    changed |= reseal_field(keyring, FIELD_EMAIL, &mut r.email, &mut r.email_enc, None)?;
    changed |= reseal_field(
        keyring,
        FIELD_ADDRESS,
        &mut r.address,
        &mut r.address_enc,
        None,
    )?;
    Ok(changed.then_some(r))
}

/// The outcome of one page of [`crate::Store::reencrypt_customers`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReencryptPage {
    /// Customers read in this page.
    pub scanned: u64,
    /// Customers whose PI columns were rewritten.
    pub rewritten: u64,
    /// The last customer key of the page, to pass as `after` for the next page; `None` when the
    /// page was empty (the job is done).
    pub last_key: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use crate::conformance::sample_individual;
    use crate::tables;

    #[test]
    fn sealing_a_batch_leaves_no_plaintext_and_indexes_the_canonical_value() {
        let keyring = Keyring::generate().unwrap();
        let c = sample_individual("P1", "11010519491231002x", "+86 132-7387-8287", "王五");
        let mut batch = tables::customers(std::slice::from_ref(&c));
        seal_customers(&mut batch, &keyring).unwrap();
        let col = |name: &str| {
            let i = CUSTOMER.columns.iter().position(|c| *c == name).unwrap();
            match &batch.columns[i] {
                ColumnData::Text(v) => v[0].clone(),
                _ => panic!("text"),
            }
        };
        for plain in ["id_number", "phone", "email", "address"] {
            assert_eq!(col(plain), None, "{plain}");
        }
        assert!(col("id_number_enc").unwrap().starts_with("v1:k1:"));
        assert_eq!(
            col("id_number_bidx"),
            Some(blind_index(&keyring, FIELD_ID_NUMBER, "11010519491231002X"))
        );
        assert_eq!(
            col("phone_bidx"),
            Some(blind_index(&keyring, FIELD_PHONE, "13273878287"))
        );
        assert_eq!(col("email_enc"), None, "no email, no envelope");
        let addr = col("address_enc").unwrap();
        assert_eq!(
            open_field(Some(&keyring), FIELD_ADDRESS, None, Some(addr.clone())).unwrap(),
            c.address
        );
        assert!(open_field(None, FIELD_ADDRESS, None, Some(addr.clone())).is_err());
        assert!(
            open_field(Some(&keyring), FIELD_PHONE, None, Some(addr)).is_err(),
            "an address envelope does not open as a phone"
        );
    }

    #[test]
    fn lookup_input_is_normalised_like_stored_values() {
        assert_eq!(
            normalise_id_number(" 11010519491231002x ").as_deref(),
            Some("11010519491231002X")
        );
        assert_eq!(
            normalise_id_number("9111010181ae80e49e").as_deref(),
            Some("9111010181AE80E49E")
        );
        assert_eq!(
            normalise_id_number("e12345678").as_deref(),
            Some("E12345678")
        );
        assert_eq!(normalise_id_number("not an id"), None);
        assert_eq!(
            normalise_phone("(+86)132-7387-8287").as_deref(),
            Some("13273878287")
        );
        assert_eq!(normalise_phone("12345"), None);
    }

    #[test]
    fn resealing_moves_old_keys_and_plaintext_and_is_idempotent() {
        let k1 = Keyring::generate().unwrap();
        let sealed_phone = encrypt_field(&k1, FIELD_PHONE, "13273878287")
            .unwrap()
            .into_string();
        let row = CustomerPi {
            customer_id: "P1".to_owned(),
            id_number: Some("11010519491231002X".to_owned()),
            phone: None,
            email: None,
            address: None,
            id_number_enc: None,
            id_number_bidx: None,
            phone_enc: Some(sealed_phone),
            phone_bidx: Some(blind_index(&k1, FIELD_PHONE, "13273878287")),
            email_enc: None,
            address_enc: None,
        };
        let k2 = k1
            .with_generated_key(fincrm_crypto::KeyId::new("k2").unwrap())
            .unwrap()
            .with_active(&fincrm_crypto::KeyId::new("k2").unwrap())
            .unwrap();
        let new = reseal(&k2, &row).unwrap().unwrap();
        assert_eq!(new.id_number, None);
        assert!(new.id_number_enc.as_deref().unwrap().starts_with("v1:k2:"));
        assert_eq!(
            new.id_number_bidx,
            Some(blind_index(&k2, FIELD_ID_NUMBER, "11010519491231002X"))
        );
        assert!(new.phone_enc.as_deref().unwrap().starts_with("v1:k2:"));
        assert_eq!(
            new.phone_bidx, row.phone_bidx,
            "the index key did not change"
        );
        assert_eq!(reseal(&k2, &new).unwrap(), None);
    }
}
