//! The layout of every table fincrm writes in bulk, shared by both engines.
//!
//! A slice of domain records becomes a [`TableBatch`]: one typed column per table column, in the
//! order of [`TableSpec::columns`]. Each adapter turns a batch into its own SQL (multi-row
//! `VALUES` on SQLite, `UNNEST` of arrays on PostgreSQL), so the mapping from domain to columns
//! is written once and both engines store the same values.

use chrono::{DateTime, NaiveDate, Utc};
use fincrm_domain::{
    Branch, Consent, CorporateValue, Coverage, Customer, Holding, Interaction, Product,
    Relationship, Transaction, User,
};

/// What a write does when a row with the same key exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Keep the stored row (immutable facts: transactions, interactions).
    Ignore,
    /// Overwrite the non-key columns (facts that a newer extract corrects: customers, balances).
    Update,
}

/// Which rows a write may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// New rows, and stored ones as the table's [`OnConflict`] says (imports, updates).
    AsSpecified,
    /// New rows only: a stored key refuses the whole write ([`crate::Store::create_audited`]).
    New,
}

/// A table's name, columns, key and conflict rule.
#[derive(Debug, PartialEq, Eq)]
pub struct TableSpec {
    /// Table name.
    pub name: &'static str,
    /// Columns written, in order.
    pub columns: &'static [&'static str],
    /// The key columns (a prefix or subset of `columns`) that identify a row.
    pub key: &'static [&'static str],
    /// What happens when the key exists.
    pub on_conflict: OnConflict,
}

/// One column's values.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// Text.
    Text(Vec<Option<String>>),
    /// 64-bit integers (money in minor units, levels, flags).
    Int(Vec<Option<i64>>),
    /// Floating-point model outputs (probabilities, expectations); never money.
    Float(Vec<Option<f64>>),
    /// Calendar dates.
    Date(Vec<Option<NaiveDate>>),
    /// Instants, stored in UTC.
    Timestamp(Vec<Option<DateTime<Utc>>>),
}

/// `date` as the database stores it, `YYYY-MM-DD` (chrono's `%F`), written without parsing a
/// format string: chrono's `format("%F")`, which sqlx uses to bind a date, parses its format on
/// every call, and a load binds millions of dates (a score run: three a customer).
pub fn iso_date(date: NaiveDate) -> String {
    match iso_date_ascii(date) {
        Some(text) => text.iter().map(|&b| char::from(b)).collect(),
        // chrono signs years outside 0..=9999; rare enough to take the slow road.
        None => date.format("%F").to_string(),
    }
}

/// [`iso_date`] as ten ASCII bytes on the stack, for a caller that binds millions of dates and
/// need not allocate each; `None` for a year outside 0..=9999 (which [`iso_date`] writes
/// signed).
pub fn iso_date_ascii(date: NaiveDate) -> Option<[u8; 10]> {
    use chrono::Datelike as _;
    let (year, month, day) = (date.year(), date.month(), date.day());
    let year = u32::try_from(year).ok().filter(|y| *y <= 9999)?;
    let mut out = *b"0000-00-00";
    for (mut value, digits) in [(year, 0..4), (month, 5..7), (day, 8..10)] {
        for digit in out[digits].iter_mut().rev() {
            *digit += u8::try_from(value % 10).unwrap_or(0);
            value /= 10;
        }
    }
    Some(out)
}

/// The date of `YYYY-MM-DD` text (what [`iso_date`] writes), read without parsing a format
/// string; `None` for anything else, including a day that does not exist. chrono's
/// `parse_from_str(text, "%Y-%m-%d")` was most of the time of the analytics run's reader
/// threads (20M purchase instants).
pub fn parse_iso_date(text: &str) -> Option<NaiveDate> {
    let b: &[u8; 10] = text.as_bytes().try_into().ok()?;
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0_u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(number(&b[..4])?).ok()?;
    NaiveDate::from_ymd_opt(year, number(&b[5..7])?, number(&b[8..])?)
}

impl ColumnData {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(v) => v.len(),
            Self::Int(v) => v.len(),
            Self::Float(v) => v.len(),
            Self::Date(v) => v.len(),
            Self::Timestamp(v) => v.len(),
        }
    }

    fn key_text(&self, row: usize) -> String {
        match self {
            Self::Text(v) => v[row].clone().unwrap_or_default(),
            Self::Int(v) => v[row].map(|x| x.to_string()).unwrap_or_default(),
            Self::Float(v) => v[row].map(|x| x.to_string()).unwrap_or_default(),
            Self::Date(v) => v[row].map(|x| x.to_string()).unwrap_or_default(),
            Self::Timestamp(v) => v[row].map(|x| x.to_rfc3339()).unwrap_or_default(),
        }
    }

    fn retain_rows(&mut self, keep: &[bool]) {
        fn retain<T>(v: &mut Vec<T>, keep: &[bool]) {
            let mut i = 0;
            v.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        match self {
            Self::Text(v) => retain(v, keep),
            Self::Int(v) => retain(v, keep),
            Self::Float(v) => retain(v, keep),
            Self::Date(v) => retain(v, keep),
            Self::Timestamp(v) => retain(v, keep),
        }
    }

    /// Whether the column is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Rows of one table in columnar form.
#[derive(Debug, Clone, PartialEq)]
pub struct TableBatch {
    /// The table.
    pub spec: &'static TableSpec,
    /// One entry per column of `spec.columns`.
    pub columns: Vec<ColumnData>,
}

impl TableBatch {
    /// Drops earlier rows whose key repeats later in the batch, so the last version of a row
    /// wins on every engine (PostgreSQL refuses to update one row twice in one statement).
    pub fn keep_last_per_key(&mut self) {
        let key_idx = self.key_columns();
        let rows = self.rows();
        let mut seen = std::collections::HashSet::with_capacity(rows);
        let mut keep = vec![false; rows];
        for r in (0..rows).rev() {
            let key: Vec<String> = key_idx
                .iter()
                .map(|&c| self.columns[c].key_text(r))
                .collect();
            keep[r] = seen.insert(key);
        }
        if keep.iter().all(|k| *k) {
            return;
        }
        for col in &mut self.columns {
            col.retain_rows(&keep);
        }
    }

    /// Whether two rows may share a key, so [`Self::keep_last_per_key`] has work to do. Hashes
    /// the keys without copying them; a hash met twice answers yes (the exact pass then
    /// decides). A score run's or an import's batch, keys all distinct, skips the copy of the
    /// batch and a string per key that the exact pass makes.
    pub fn repeats_a_key(&self) -> bool {
        use std::hash::{BuildHasher, Hash, Hasher};
        let key_columns: Vec<&ColumnData> = self
            .key_columns()
            .into_iter()
            .map(|c| &self.columns[c])
            .collect();
        let hasher = std::hash::RandomState::new();
        let mut seen = std::collections::HashSet::with_capacity(self.rows());
        (0..self.rows()).any(|r| {
            let mut h = hasher.build_hasher();
            for column in &key_columns {
                // Equal exactly when `key_text` is: an empty text is the same key as none.
                match column {
                    ColumnData::Text(v) => v[r].as_deref().unwrap_or("").hash(&mut h),
                    ColumnData::Int(v) => v[r].hash(&mut h),
                    ColumnData::Float(v) => v[r].map(f64::to_bits).hash(&mut h),
                    ColumnData::Date(v) => v[r].hash(&mut h),
                    ColumnData::Timestamp(v) => v[r].hash(&mut h),
                }
            }
            !seen.insert(h.finish())
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, ColumnData::len)
    }

    /// The column called `name`, if the table has one.
    pub fn column(&self, name: &str) -> Option<&ColumnData> {
        let idx = self.spec.columns.iter().position(|c| *c == name)?;
        self.columns.get(idx)
    }

    /// Where the key columns are among the columns.
    fn key_columns(&self) -> Vec<usize> {
        self.spec
            .key
            .iter()
            .filter_map(|k| self.spec.columns.iter().position(|c| c == k))
            .collect()
    }
}

fn text<T>(items: &[T], f: impl Fn(&T) -> Option<String>) -> ColumnData {
    ColumnData::Text(items.iter().map(f).collect())
}
fn none_text(rows: usize) -> ColumnData {
    ColumnData::Text(vec![None; rows])
}
fn int<T>(items: &[T], f: impl Fn(&T) -> Option<i64>) -> ColumnData {
    ColumnData::Int(items.iter().map(f).collect())
}
fn float<T>(items: &[T], f: impl Fn(&T) -> Option<f64>) -> ColumnData {
    ColumnData::Float(
        items
            .iter()
            .map(|x| f(x).filter(|v| v.is_finite()))
            .collect(),
    )
}
fn date<T>(items: &[T], f: impl Fn(&T) -> Option<NaiveDate>) -> ColumnData {
    ColumnData::Date(items.iter().map(f).collect())
}
fn ts<T>(items: &[T], f: impl Fn(&T) -> Option<DateTime<Utc>>) -> ColumnData {
    ColumnData::Timestamp(items.iter().map(f).collect())
}
#[expect(
    clippy::unnecessary_wraps,
    reason = "column closures return Option for every column"
)]
fn s(v: &impl ToString) -> Option<String> {
    Some(v.to_string())
}

/// `branch`: the organisation tree.
pub static BRANCH: TableSpec = TableSpec {
    name: "branch",
    columns: &["branch_id", "name", "parent_id", "level"],
    key: &["branch_id"],
    on_conflict: OnConflict::Update,
};

/// Branches as a batch.
pub fn branches(items: &[Branch]) -> TableBatch {
    TableBatch {
        spec: &BRANCH,
        columns: vec![
            text(items, |b| s(&b.id)),
            text(items, |b| Some(b.name.clone())),
            text(items, |b| b.parent.as_ref().map(ToString::to_string)),
            text(items, |b| s(&b.level)),
        ],
    }
}

/// `staff`: members of staff.
pub static STAFF: TableSpec = TableSpec {
    name: "staff",
    columns: &["user_id", "name", "branch_id", "role"],
    key: &["user_id"],
    on_conflict: OnConflict::Update,
};

/// Staff as a batch.
pub fn staff(items: &[User]) -> TableBatch {
    TableBatch {
        spec: &STAFF,
        columns: vec![
            text(items, |u| s(&u.id)),
            text(items, |u| Some(u.name.clone())),
            text(items, |u| s(&u.branch_id)),
            text(items, |u| s(&u.role)),
        ],
    }
}

/// `product`: the catalogue.
pub static PRODUCT: TableSpec = TableSpec {
    name: "product",
    columns: &["product_code", "name", "product_type", "risk_level"],
    key: &["product_code"],
    on_conflict: OnConflict::Update,
};

/// Products as a batch.
pub fn products(items: &[Product]) -> TableBatch {
    TableBatch {
        spec: &PRODUCT,
        columns: vec![
            text(items, |p| s(&p.code)),
            text(items, |p| Some(p.name.clone())),
            text(items, |p| s(&p.product_type)),
            int(items, |p| Some(i64::from(p.risk_level.level()))),
        ],
    }
}

/// `customer`: individuals and corporates in one table (the columns that apply to one kind are
/// null for the other), so search, scope and the 360 view read one row.
pub static CUSTOMER: TableSpec = TableSpec {
    name: "customer",
    columns: &[
        "customer_id",
        "kind",
        "name",
        "name_latin",
        "id_type",
        "id_number",
        "phone",
        "email",
        "address",
        "branch_id",
        "primary_rm_id",
        "risk_tolerance",
        "opened_on",
        "status",
        "gender",
        "birth_date",
        "occupation",
        "ownership",
        "industry_code",
        "registered_capital_minor",
        "registered_capital_currency",
        "founded_on",
        "group_parent_id",
        "tags",
        // Sealed personal information (issue #3, `crate::pii`): written by the store when it has
        // a keyring, NULL otherwise.
        "id_number_enc",
        "id_number_bidx",
        "phone_enc",
        "phone_bidx",
        "email_enc",
        "address_enc",
    ],
    key: &["customer_id"],
    on_conflict: OnConflict::Update,
};

fn ind(c: &Customer) -> Option<&fincrm_domain::IndividualProfile> {
    c.individual.as_ref()
}
fn corp(c: &Customer) -> Option<&fincrm_domain::CorporateProfile> {
    c.corporate.as_ref()
}

/// Customers as a batch, personal information in plaintext: the store seals it on write when
/// it has a keyring ([`crate::pii::seal_customers`]).
pub fn customers(items: &[Customer]) -> TableBatch {
    TableBatch {
        spec: &CUSTOMER,
        columns: vec![
            text(items, |c| s(&c.id)),
            text(items, |c| s(&c.kind)),
            text(items, |c| Some(c.name.clone())),
            text(items, |c| c.name_latin.clone()),
            text(items, |c| c.document.as_ref().map(|d| d.kind().to_owned())),
            text(items, |c| {
                c.document.as_ref().map(|d| d.expose().to_owned())
            }),
            text(items, |c| c.phone.as_ref().map(|p| p.expose().to_owned())),
            text(items, |c| c.email.clone()),
            text(items, |c| c.address.clone()),
            text(items, |c| c.branch_id.as_ref().map(ToString::to_string)),
            text(items, |c| c.primary_rm.as_ref().map(ToString::to_string)),
            int(items, |c| c.risk_tolerance.map(|r| i64::from(r.level()))),
            date(items, |c| c.opened_on),
            text(items, |c| s(&c.status)),
            text(items, |c| {
                ind(c).and_then(|i| i.gender).map(|g| g.to_string())
            }),
            date(items, |c| ind(c).and_then(|i| i.birth_date)),
            text(items, |c| ind(c).and_then(|i| i.occupation.clone())),
            text(items, |c| {
                corp(c).and_then(|k| k.ownership).map(|o| o.to_string())
            }),
            text(items, |c| corp(c).and_then(|k| k.industry_code.clone())),
            int(items, |c| {
                corp(c).and_then(|k| k.registered_capital).map(|m| m.minor)
            }),
            text(items, |c| {
                corp(c)
                    .and_then(|k| k.registered_capital)
                    .map(|m| m.currency.to_string())
            }),
            date(items, |c| corp(c).and_then(|k| k.founded_on)),
            text(items, |c| {
                corp(c)
                    .and_then(|k| k.group_parent.as_ref())
                    .map(ToString::to_string)
            }),
            text(items, |c| {
                (!c.tags.is_empty()).then(|| serde_json::to_string(&c.tags).unwrap_or_default())
            }),
            // The store seals the PI columns above into these when it has a keyring
            // (`crate::pii::seal_customers`); callers always pass plaintext.
            none_text(items.len()),
            none_text(items.len()),
            none_text(items.len()),
            none_text(items.len()),
            none_text(items.len()),
            none_text(items.len()),
        ],
    }
}

/// `coverage`: which staff cover which customer, in which role.
pub static COVERAGE: TableSpec = TableSpec {
    name: "coverage",
    columns: &["customer_id", "user_id", "role"],
    key: &["customer_id", "user_id", "role"],
    on_conflict: OnConflict::Ignore,
};

/// Coverage lines as a batch.
pub fn coverage(items: &[Coverage]) -> TableBatch {
    TableBatch {
        spec: &COVERAGE,
        columns: vec![
            text(items, |c| s(&c.customer_id)),
            text(items, |c| s(&c.user_id)),
            text(items, |c| s(&c.role)),
        ],
    }
}

/// `holding`: accounts and contracts. Balances change with every extract, so a re-import updates.
pub static HOLDING: TableSpec = TableSpec {
    name: "holding",
    columns: &[
        "holding_id",
        "customer_id",
        "product_code",
        "product_type",
        "balance_minor",
        "currency",
        "limit_minor",
        "opened_on",
        "matures_on",
        "status",
    ],
    key: &["holding_id"],
    on_conflict: OnConflict::Update,
};

/// Holdings as a batch.
pub fn holdings(items: &[Holding]) -> TableBatch {
    TableBatch {
        spec: &HOLDING,
        columns: vec![
            text(items, |h| s(&h.id)),
            text(items, |h| s(&h.customer_id)),
            text(items, |h| s(&h.product_code)),
            text(items, |h| s(&h.product_type)),
            int(items, |h| Some(h.balance.minor)),
            text(items, |h| s(&h.balance.currency)),
            int(items, |h| h.limit.map(|m| m.minor)),
            date(items, |h| h.opened_on),
            date(items, |h| h.matures_on),
            text(items, |h| s(&h.status)),
        ],
    }
}

/// `bank_transaction`: posted transactions, immutable once loaded.
pub static TRANSACTION: TableSpec = TableSpec {
    name: "bank_transaction",
    columns: &[
        "transaction_id",
        "customer_id",
        "holding_id",
        "posted_at",
        "amount_minor",
        "currency",
        "direction",
        "channel",
        "counterparty",
        "kind",
        "memo",
    ],
    key: &["transaction_id"],
    on_conflict: OnConflict::Ignore,
};

/// Transactions as a batch.
pub fn transactions(items: &[Transaction]) -> TableBatch {
    TableBatch {
        spec: &TRANSACTION,
        columns: vec![
            text(items, |t| s(&t.id)),
            text(items, |t| s(&t.customer_id)),
            text(items, |t| s(&t.holding_id)),
            ts(items, |t| Some(t.at)),
            int(items, |t| Some(t.amount.minor)),
            text(items, |t| s(&t.amount.currency)),
            text(items, |t| s(&t.direction)),
            text(items, |t| t.channel.clone()),
            text(items, |t| t.counterparty.clone()),
            text(items, |t| t.kind.clone()),
            text(items, |t| t.memo.clone()),
        ],
    }
}

/// `interaction`: the contact timeline, immutable once loaded.
pub static INTERACTION: TableSpec = TableSpec {
    name: "interaction",
    columns: &[
        "interaction_id",
        "customer_id",
        "occurred_at",
        "channel",
        "kind",
        "user_id",
        "content",
    ],
    key: &["interaction_id"],
    on_conflict: OnConflict::Ignore,
};

/// Interactions as a batch.
pub fn interactions(items: &[Interaction]) -> TableBatch {
    TableBatch {
        spec: &INTERACTION,
        columns: vec![
            text(items, |i| s(&i.id)),
            text(items, |i| s(&i.customer_id)),
            ts(items, |i| Some(i.at)),
            text(items, |i| s(&i.channel)),
            text(items, |i| Some(i.kind.clone())),
            text(items, |i| i.user_id.as_ref().map(ToString::to_string)),
            text(items, |i| i.content.clone()),
        ],
    }
}

/// `relationship`: household, group, guarantee and ownership links.
pub static RELATIONSHIP: TableSpec = TableSpec {
    name: "relationship",
    columns: &["from_customer_id", "to_customer_id", "kind", "role"],
    key: &["from_customer_id", "to_customer_id", "kind"],
    on_conflict: OnConflict::Update,
};

/// Relationships as a batch.
pub fn relationships(items: &[Relationship]) -> TableBatch {
    TableBatch {
        spec: &RELATIONSHIP,
        columns: vec![
            text(items, |r| s(&r.from)),
            text(items, |r| s(&r.to)),
            text(items, |r| s(&r.kind)),
            text(items, |r| r.role.clone()),
        ],
    }
}

/// `consent`: an append-only history; the latest record per purpose and channel is in force.
pub static CONSENT: TableSpec = TableSpec {
    name: "consent",
    columns: &[
        "customer_id",
        "purpose",
        "channel",
        "recorded_at",
        "granted",
    ],
    key: &["customer_id", "purpose", "channel", "recorded_at"],
    on_conflict: OnConflict::Ignore,
};

/// Consents as a batch; a consent for all channels is stored with channel `all`.
pub fn consents(items: &[Consent]) -> TableBatch {
    TableBatch {
        spec: &CONSENT,
        columns: vec![
            text(items, |c| s(&c.customer_id)),
            text(items, |c| s(&c.purpose)),
            text(items, |c| {
                Some(
                    c.channel
                        .map_or_else(|| "all".to_owned(), |ch| ch.to_string()),
                )
            }),
            ts(items, |c| Some(c.at)),
            int(items, |c| Some(i64::from(c.granted))),
        ],
    }
}

/// `corporate_value`: the latest figures of a corporate customer's value to the bank.
pub static CORPORATE_VALUE: TableSpec = TableSpec {
    name: "corporate_value",
    columns: &[
        "customer_id",
        "avg_yearly_contribution_minor",
        "contribution_growth_bp",
        "departments_used",
        "special_background",
    ],
    key: &["customer_id"],
    on_conflict: OnConflict::Update,
};

/// Corporate values as a batch.
pub fn corporate_values(items: &[CorporateValue]) -> TableBatch {
    TableBatch {
        spec: &CORPORATE_VALUE,
        columns: vec![
            text(items, |v| s(&v.customer_id)),
            int(items, |v| Some(v.avg_yearly_contribution.minor)),
            int(items, |v| Some(i64::from(v.contribution_growth_bp))),
            int(items, |v| Some(i64::from(v.departments_used))),
            int(items, |v| Some(i64::from(v.special_background))),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_read_as_chrono_writes_them() {
        let mut date = NaiveDate::from_ymd_opt(-2, 12, 25).unwrap();
        let last = NaiveDate::from_ymd_opt(10_001, 1, 3).unwrap();
        let mut checked = 0;
        while date <= last {
            let text = iso_date(date);
            assert_eq!(text, date.format("%F").to_string());
            let in_range = (0..=9999).contains(&chrono::Datelike::year(&date));
            assert_eq!(
                iso_date_ascii(date).map(|b| String::from_utf8(b.to_vec()).unwrap()),
                in_range.then(|| text.clone())
            );
            if in_range {
                assert_eq!(parse_iso_date(&text), Some(date), "{text}");
            }
            // Every day near the ends and near 1900–2100, a sample in between.
            let step = if (1890..2110).contains(&chrono::Datelike::year(&date))
                || !(2..9998).contains(&chrono::Datelike::year(&date))
            {
                1
            } else {
                97
            };
            date += chrono::Duration::days(step);
            checked += 1;
        }
        assert!(checked > 80_000, "{checked}");
    }

    #[test]
    fn text_that_is_not_an_iso_date_reads_as_none() {
        for bad in [
            "",
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-01-00",
            "2026-1-05",
            "2026/01/05",
            "2026-01-05T",
            "20260105",
            "+026-01-05",
            "2026-0a-05",
            "２０２６-01-05",
        ] {
            assert_eq!(parse_iso_date(bad), None, "{bad}");
        }
        // The fast reader agrees with chrono on what is a date at all, for the text it takes.
        for good in ["2024-02-29", "0000-01-01", "9999-12-31", "1970-01-01"] {
            assert_eq!(
                parse_iso_date(good),
                NaiveDate::parse_from_str(good, "%Y-%m-%d").ok(),
                "{good}"
            );
        }
    }

    /// A two-column key, a value column: the cases of `repeats_a_key` against the exact pass.
    #[test]
    fn a_repeated_key_is_found_and_distinct_keys_skip_the_dedup() {
        static SPEC: TableSpec = TableSpec {
            name: "t",
            columns: &["a", "b", "v"],
            key: &["a", "b"],
            on_conflict: OnConflict::Update,
        };
        let batch = |a: &[Option<&str>], b: &[Option<i64>]| TableBatch {
            spec: &SPEC,
            columns: vec![
                ColumnData::Text(a.iter().map(|x| x.map(str::to_owned)).collect()),
                ColumnData::Int(b.to_vec()),
                ColumnData::Int((0..).take(a.len()).map(Some).collect()),
            ],
        };
        let cases = [
            (
                batch(
                    &[Some("x"), Some("x"), Some("y")],
                    &[Some(1), Some(2), Some(1)],
                ),
                false,
            ),
            (
                batch(
                    &[Some("x"), Some("y"), Some("x")],
                    &[Some(1), Some(1), Some(1)],
                ),
                true,
            ),
            // An empty text and none are one key to the exact pass.
            (batch(&[None, Some("")], &[Some(1), Some(1)]), true),
            (batch(&[Some("x"), Some("x")], &[None, Some(0)]), false),
            (batch(&[], &[]), false),
        ];
        for (b, repeats) in cases {
            assert_eq!(b.repeats_a_key(), repeats, "{b:?}");
            let mut deduped = b.clone();
            deduped.keep_last_per_key();
            assert_eq!(deduped.rows() < b.rows(), repeats, "{b:?}");
        }
    }

    #[test]
    fn every_batch_has_one_column_per_spec_column() {
        for batch in [
            corporate_values(&[]),
            branches(&[]),
            staff(&[]),
            products(&[]),
            customers(&[]),
            coverage(&[]),
            holdings(&[]),
            transactions(&[]),
            interactions(&[]),
            relationships(&[]),
            consents(&[]),
            customer_scores(&[]),
        ] {
            assert_eq!(
                batch.columns.len(),
                batch.spec.columns.len(),
                "{}",
                batch.spec.name
            );
            for k in batch.spec.key {
                assert!(
                    batch.spec.columns.contains(k),
                    "{}: key {k}",
                    batch.spec.name
                );
            }
        }
    }
}

/// One customer's scores from one analytics run.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerScore {
    /// The customer.
    pub customer_id: String,
    /// The run that computed it.
    pub run_id: String,
    /// The day the scores describe.
    pub as_of: NaiveDate,
    /// Models and rules version.
    pub model_version: String,
    /// Repeat purchase days in the calibration window.
    pub frequency: Option<i64>,
    /// Weeks from first to last purchase.
    pub recency_weeks: Option<f64>,
    /// Weeks from first purchase to `as_of`.
    pub age_weeks: Option<f64>,
    /// Mean value of repeat purchase days, minor units.
    pub monetary_minor: Option<f64>,
    /// RFM quintile scores 1–5.
    pub rfm: Option<(i64, i64, i64)>,
    /// RFM segment name.
    pub rfm_segment: Option<String>,
    /// BG/NBD probability that the customer is still active.
    pub p_alive: Option<f64>,
    /// Expected purchase days in the next 90 days.
    pub expected_purchases_90d: Option<f64>,
    /// 12-month discounted CLV, minor units.
    pub clv_minor: Option<i64>,
    /// Assets under management, minor units.
    pub aum_minor: i64,
    /// Value tier.
    pub tier: String,
    /// Day the tier was assigned.
    pub tier_since: NaiveDate,
    /// Day the customer first qualified for a lower tier (grace period running), if any.
    pub tier_below_since: Option<NaiveDate>,
    /// Lifecycle stage.
    pub stage: String,
    /// Behavioural segment (k-means cluster), for customers with activity.
    pub segment: Option<String>,
}

/// `customer_score`: one row per analytics run and customer, so every score has its history;
/// keyed by run first, so a run's scores are appended, not spread through every earlier run's.
pub static CUSTOMER_SCORE: TableSpec = TableSpec {
    name: "customer_score",
    columns: &[
        "customer_id",
        "run_id",
        "as_of",
        "model_version",
        "frequency",
        "recency_weeks",
        "age_weeks",
        "monetary_minor",
        "rfm_r",
        "rfm_f",
        "rfm_m",
        "rfm_segment",
        "p_alive",
        "expected_purchases_90d",
        "clv_minor",
        "aum_minor",
        "tier",
        "tier_since",
        "tier_below_since",
        "stage",
        "segment",
    ],
    key: &["run_id", "customer_id"],
    on_conflict: OnConflict::Update,
};

/// Scores as a batch.
pub fn customer_scores(items: &[CustomerScore]) -> TableBatch {
    TableBatch {
        spec: &CUSTOMER_SCORE,
        columns: vec![
            text(items, |c| Some(c.customer_id.clone())),
            text(items, |c| Some(c.run_id.clone())),
            date(items, |c| Some(c.as_of)),
            text(items, |c| Some(c.model_version.clone())),
            int(items, |c| c.frequency),
            float(items, |c| c.recency_weeks),
            float(items, |c| c.age_weeks),
            float(items, |c| c.monetary_minor),
            int(items, |c| c.rfm.map(|r| r.0)),
            int(items, |c| c.rfm.map(|r| r.1)),
            int(items, |c| c.rfm.map(|r| r.2)),
            text(items, |c| c.rfm_segment.clone()),
            float(items, |c| c.p_alive),
            float(items, |c| c.expected_purchases_90d),
            int(items, |c| c.clv_minor),
            int(items, |c| Some(c.aum_minor)),
            text(items, |c| Some(c.tier.clone())),
            date(items, |c| Some(c.tier_since)),
            date(items, |c| c.tier_below_since),
            text(items, |c| Some(c.stage.clone())),
            text(items, |c| c.segment.clone()),
        ],
    }
}
