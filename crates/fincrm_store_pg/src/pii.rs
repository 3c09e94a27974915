//! Personal information at rest on PostgreSQL: exact lookups and the rotation page. The sealing
//! itself is shared with SQLite in `fincrm_store::pii`.

use fincrm_crypto::Keyring;
use fincrm_domain::CustomerId;
use fincrm_store::pii::{CustomerPi, PI_COLUMNS, ReencryptPage, lookup_term, reseal};
use fincrm_store::{StoreError, StoreResult};
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPool;

/// Customers whose `field` equals the normalised term (blind index with a keyring).
pub(crate) async fn customers_where(
    pool: &PgPool,
    keyring: Option<&Keyring>,
    field: &str,
    normalised: Option<String>,
) -> StoreResult<Vec<CustomerId>> {
    let Some(term) = normalised else {
        return Ok(Vec::new());
    };
    let (column, value) = lookup_term(keyring, field, &term);
    // `column` is one of two constants from `lookup_term`, never input.
    let sql = format!(
        "SELECT customer_id FROM customer WHERE {column} = $1 ORDER BY customer_id COLLATE \"C\""
    );
    let ids: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(value)
        .fetch_all(pool)
        .await?;
    ids.iter()
        .map(|id| CustomerId::parse(id).map_err(Into::into))
        .collect()
}

/// One page of the rotation job, in one transaction. The rows are locked as they are read
/// (`FOR UPDATE`), so an import writing the same customers waits instead of being overwritten by
/// the re-sealed old values. Paging follows the primary key's own order (no `COLLATE "C"`), so
/// each page is an index range scan.
pub(crate) async fn reencrypt_page(
    pool: &PgPool,
    keyring: Option<&Keyring>,
    after: Option<&str>,
    limit: i64,
) -> StoreResult<ReencryptPage> {
    let keyring = keyring.ok_or_else(|| {
        StoreError::Other(anyhow::anyhow!(
            "re-encryption needs a keyring: set FINCRM_KEY_FILE"
        ))
    })?;
    let mut tx = pool.begin().await?;
    let (where_after, bind_after) = match after {
        Some(a) => ("WHERE customer_id > $2", Some(a)),
        None => ("", None),
    };
    let sql = format!(
        "SELECT {PI_COLUMNS} FROM customer {where_after} ORDER BY customer_id LIMIT $1 FOR UPDATE"
    );
    let mut query = sqlx::query_as::<_, CustomerPi>(AssertSqlSafe(sql)).bind(limit);
    if let Some(a) = bind_after {
        query = query.bind(a);
    }
    let rows = query.fetch_all(&mut *tx).await?;
    let mut page = ReencryptPage {
        scanned: rows.len() as u64,
        rewritten: 0,
        last_key: rows.last().map(|r| r.customer_id.clone()),
    };
    let mut cols: [Vec<Option<String>>; 11] = Default::default();
    for row in &rows {
        let Some(new) = reseal(keyring, row)? else {
            continue;
        };
        for (col, value) in cols.iter_mut().zip([
            Some(new.customer_id),
            new.id_number,
            new.phone,
            new.email,
            new.address,
            new.id_number_enc,
            new.id_number_bidx,
            new.phone_enc,
            new.phone_bidx,
            new.email_enc,
            new.address_enc,
        ]) {
            col.push(value);
        }
        page.rewritten += 1;
    }
    if page.rewritten > 0 {
        let [
            ids,
            id_number,
            phone,
            email,
            address,
            id_enc,
            id_bidx,
            phone_enc,
            phone_bidx,
            email_enc,
            address_enc,
        ] = cols;
        sqlx::query(
            "UPDATE customer c SET id_number = u.id_number, phone = u.phone, email = u.email, \
             address = u.address, id_number_enc = u.id_number_enc, \
             id_number_bidx = u.id_number_bidx, phone_enc = u.phone_enc, \
             phone_bidx = u.phone_bidx, email_enc = u.email_enc, address_enc = u.address_enc \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                         $7::text[], $8::text[], $9::text[], $10::text[], $11::text[]) \
                  AS u(customer_id, id_number, phone, email, address, id_number_enc, \
                       id_number_bidx, phone_enc, phone_bidx, email_enc, address_enc) \
             WHERE c.customer_id = u.customer_id",
        )
        .bind(ids)
        .bind(id_number)
        .bind(phone)
        .bind(email)
        .bind(address)
        .bind(id_enc)
        .bind(id_bidx)
        .bind(phone_enc)
        .bind(phone_bidx)
        .bind(email_enc)
        .bind(address_enc)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(page)
}
