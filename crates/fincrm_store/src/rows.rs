//! Row types both adapters read into, and their conversion back into domain types.
//!
//! Every conversion re-parses the stored values through the domain constructors: a row changed
//! by hand into something invalid surfaces as [`StoreError::Corrupt`], never as a bad value.

use crate::StoreError;
use crate::pii::{FIELD_ADDRESS, FIELD_EMAIL, FIELD_ID_NUMBER, FIELD_PHONE, open_field};
use chrono::{DateTime, NaiveDate, Utc};
use fincrm_crypto::Keyring;
use fincrm_domain::{
    Channel, CorporateProfile, Currency, Customer, CustomerId, CustomerKind, CustomerStatus,
    Direction, Gender, Holding, HoldingId, HoldingStatus, IdentityDocument, IndividualProfile,
    Interaction, InteractionId, MobilePhone, Money, OwnershipType, ProductCode, ProductType,
    RiskTolerance, Transaction, TransactionId, UserId,
};

/// The column list of [`CustomerRow`], for `SELECT`s.
pub const CUSTOMER_COLUMNS: &str = "customer_id, kind, name, name_latin, id_type, id_number, \
    phone, email, address, branch_id, primary_rm_id, risk_tolerance, opened_on, status, gender, \
    birth_date, occupation, ownership, industry_code, registered_capital_minor, \
    registered_capital_currency, founded_on, group_parent_id, tags, id_number_enc, phone_enc, \
    email_enc, address_enc, merged_into";

/// A stored customer.
#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
#[expect(
    missing_docs,
    reason = "fields mirror the columns documented in the migrations"
)]
pub struct CustomerRow {
    pub customer_id: String,
    pub kind: String,
    pub name: String,
    pub name_latin: Option<String>,
    pub id_type: Option<String>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    pub branch_id: Option<String>,
    pub primary_rm_id: Option<String>,
    pub risk_tolerance: Option<i64>,
    pub opened_on: Option<NaiveDate>,
    pub status: String,
    pub gender: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub occupation: Option<String>,
    pub ownership: Option<String>,
    pub industry_code: Option<String>,
    pub registered_capital_minor: Option<i64>,
    pub registered_capital_currency: Option<String>,
    pub founded_on: Option<NaiveDate>,
    pub group_parent_id: Option<String>,
    pub tags: Option<String>,
    pub id_number_enc: Option<String>,
    pub phone_enc: Option<String>,
    pub email_enc: Option<String>,
    pub address_enc: Option<String>,
    pub merged_into: Option<String>,
}

fn opt<T, E: Into<StoreError>>(
    v: Option<&str>,
    f: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, StoreError> {
    v.map(f).transpose().map_err(Into::into)
}

fn level(v: Option<i64>) -> Result<Option<RiskTolerance>, StoreError> {
    v.map(|n| RiskTolerance::new(u8::try_from(n).unwrap_or(0)))
        .transpose()
        .map_err(Into::into)
}

/// Without a keyring: a row with sealed values is [`StoreError::Corrupt`]; use
/// [`CustomerRow::into_customer`] with the store's keyring.
impl TryFrom<CustomerRow> for Customer {
    type Error = StoreError;

    fn try_from(r: CustomerRow) -> Result<Self, StoreError> {
        r.into_customer(None)
    }
}

impl CustomerRow {
    /// The customer, its sealed personal information opened with `keyring` (see
    /// [`crate::pii`]); plaintext columns are read as they are, so rows written before keys were
    /// configured still read.
    pub fn into_customer(self, keyring: Option<&Keyring>) -> Result<Customer, StoreError> {
        let mut r = self;
        r.id_number = open_field(
            keyring,
            FIELD_ID_NUMBER,
            r.id_number.take(),
            r.id_number_enc.take(),
        )?;
        r.phone = open_field(keyring, FIELD_PHONE, r.phone.take(), r.phone_enc.take())?;
        r.email = open_field(keyring, FIELD_EMAIL, r.email.take(), r.email_enc.take())?;
        r.address = open_field(
            keyring,
            FIELD_ADDRESS,
            r.address.take(),
            r.address_enc.take(),
        )?;
        r.into_customer_plain()
    }

    fn into_customer_plain(self) -> Result<Customer, StoreError> {
        let r = self;
        let kind = CustomerKind::parse(&r.kind)?;
        let document = match (r.id_type.as_deref(), r.id_number.as_deref()) {
            (Some(t), Some(n)) => Some(IdentityDocument::from_parts(t, n)?),
            _ => None,
        };
        let individual = (kind == CustomerKind::Individual)
            .then(|| -> Result<_, StoreError> {
                Ok(IndividualProfile {
                    gender: opt(r.gender.as_deref(), Gender::parse)?,
                    birth_date: r.birth_date,
                    occupation: r.occupation.clone(),
                })
            })
            .transpose()?;
        let corporate = (kind == CustomerKind::Corporate)
            .then(|| -> Result<_, StoreError> {
                let capital = match (
                    r.registered_capital_minor,
                    r.registered_capital_currency.as_deref(),
                ) {
                    (Some(m), Some(c)) => Some(Money::new(m, Currency::parse(c)?)),
                    _ => None,
                };
                Ok(CorporateProfile {
                    uscc: match &document {
                        Some(IdentityDocument::Uscc(c)) => Some(c.clone()),
                        _ => None,
                    },
                    ownership: opt(r.ownership.as_deref(), OwnershipType::parse)?,
                    industry_code: r.industry_code.clone(),
                    registered_capital: capital,
                    founded_on: r.founded_on,
                    group_parent: opt(r.group_parent_id.as_deref(), CustomerId::parse)?,
                })
            })
            .transpose()?;
        Ok(Customer {
            id: CustomerId::parse(&r.customer_id)?,
            kind,
            name: r.name,
            name_latin: r.name_latin,
            document,
            phone: opt(r.phone.as_deref(), MobilePhone::parse)?,
            email: r.email,
            address: r.address,
            branch_id: opt(r.branch_id.as_deref(), fincrm_domain::BranchId::parse)?,
            primary_rm: opt(r.primary_rm_id.as_deref(), UserId::parse)?,
            risk_tolerance: level(r.risk_tolerance)?,
            opened_on: r.opened_on,
            // A merged record reads as merged whatever a later extract wrote into `status`.
            status: if r.merged_into.is_some() {
                CustomerStatus::Merged
            } else {
                CustomerStatus::parse(&r.status)?
            },
            individual,
            corporate,
            tags: match r.tags.as_deref() {
                Some(t) => {
                    serde_json::from_str(t).map_err(|e| StoreError::Corrupt(e.to_string()))?
                }
                None => Vec::new(),
            },
            merged_into: opt(r.merged_into.as_deref(), CustomerId::parse)?,
        })
    }
}

/// The column list of [`HoldingRow`].
pub const HOLDING_COLUMNS: &str = "holding_id, customer_id, product_code, product_type, \
    balance_minor, currency, limit_minor, opened_on, matures_on, status";

/// A stored holding.
#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
#[expect(
    missing_docs,
    reason = "fields mirror the columns documented in the migrations"
)]
pub struct HoldingRow {
    pub holding_id: String,
    pub customer_id: String,
    pub product_code: String,
    pub product_type: String,
    pub balance_minor: i64,
    pub currency: String,
    pub limit_minor: Option<i64>,
    pub opened_on: Option<NaiveDate>,
    pub matures_on: Option<NaiveDate>,
    pub status: String,
}

impl TryFrom<HoldingRow> for Holding {
    type Error = StoreError;

    fn try_from(r: HoldingRow) -> Result<Self, StoreError> {
        let currency = Currency::parse(&r.currency)?;
        Ok(Holding {
            id: HoldingId::parse(&r.holding_id)?,
            customer_id: CustomerId::parse(&r.customer_id)?,
            product_code: ProductCode::parse(&r.product_code)?,
            product_type: ProductType::parse(&r.product_type)?,
            balance: Money::new(r.balance_minor, currency),
            limit: r.limit_minor.map(|m| Money::new(m, currency)),
            opened_on: r.opened_on,
            matures_on: r.matures_on,
            status: HoldingStatus::parse(&r.status)?,
        })
    }
}

/// The column list of [`TransactionRow`].
pub const TRANSACTION_COLUMNS: &str = "transaction_id, customer_id, holding_id, posted_at, \
    amount_minor, currency, direction, channel, counterparty, kind, memo";

/// A stored transaction.
#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
#[expect(
    missing_docs,
    reason = "fields mirror the columns documented in the migrations"
)]
pub struct TransactionRow {
    pub transaction_id: String,
    pub customer_id: String,
    pub holding_id: String,
    pub posted_at: DateTime<Utc>,
    pub amount_minor: i64,
    pub currency: String,
    pub direction: String,
    pub channel: Option<String>,
    pub counterparty: Option<String>,
    pub kind: Option<String>,
    pub memo: Option<String>,
}

impl TryFrom<TransactionRow> for Transaction {
    type Error = StoreError;

    fn try_from(r: TransactionRow) -> Result<Self, StoreError> {
        Ok(Transaction {
            id: TransactionId::parse(&r.transaction_id)?,
            customer_id: CustomerId::parse(&r.customer_id)?,
            holding_id: HoldingId::parse(&r.holding_id)?,
            at: r.posted_at,
            amount: Money::new(r.amount_minor, Currency::parse(&r.currency)?),
            direction: Direction::parse(&r.direction)?,
            channel: r.channel,
            counterparty: r.counterparty,
            kind: r.kind,
            memo: r.memo,
        })
    }
}

/// The column list of [`InteractionRow`].
pub const INTERACTION_COLUMNS: &str =
    "interaction_id, customer_id, occurred_at, channel, kind, user_id, content";

/// A stored interaction.
#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
#[expect(
    missing_docs,
    reason = "fields mirror the columns documented in the migrations"
)]
pub struct InteractionRow {
    pub interaction_id: String,
    pub customer_id: String,
    pub occurred_at: DateTime<Utc>,
    pub channel: String,
    pub kind: String,
    pub user_id: Option<String>,
    pub content: Option<String>,
}

impl TryFrom<InteractionRow> for Interaction {
    type Error = StoreError;

    fn try_from(r: InteractionRow) -> Result<Self, StoreError> {
        Ok(Interaction {
            id: InteractionId::parse(&r.interaction_id)?,
            customer_id: CustomerId::parse(&r.customer_id)?,
            at: r.occurred_at,
            channel: Channel::parse(&r.channel)?,
            kind: r.kind,
            user_id: opt(r.user_id.as_deref(), UserId::parse)?,
            content: r.content,
        })
    }
}

/// The column list of [`ConsentRow`].
pub const CONSENT_COLUMNS: &str = "customer_id, purpose, channel, recorded_at, granted";

/// A stored consent record.
#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
#[expect(
    missing_docs,
    reason = "fields mirror the columns documented in the migrations"
)]
pub struct ConsentRow {
    pub customer_id: String,
    pub purpose: String,
    pub channel: String,
    pub recorded_at: DateTime<Utc>,
    pub granted: i64,
}

impl TryFrom<ConsentRow> for fincrm_domain::Consent {
    type Error = StoreError;

    fn try_from(r: ConsentRow) -> Result<Self, StoreError> {
        Ok(fincrm_domain::Consent {
            customer_id: CustomerId::parse(&r.customer_id)?,
            purpose: fincrm_domain::ConsentPurpose::parse(&r.purpose)?,
            channel: if r.channel == "all" {
                None
            } else {
                Some(Channel::parse(&r.channel)?)
            },
            granted: r.granted != 0,
            at: r.recorded_at,
        })
    }
}

/// The column list of [`BranchRow`].
pub const BRANCH_COLUMNS: &str = "branch_id, name, parent_id, level";

/// A stored branch.
#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
#[expect(
    missing_docs,
    reason = "fields mirror the columns documented in the migrations"
)]
pub struct BranchRow {
    pub branch_id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub level: String,
}

impl TryFrom<BranchRow> for fincrm_domain::Branch {
    type Error = StoreError;

    fn try_from(r: BranchRow) -> Result<Self, StoreError> {
        Ok(fincrm_domain::Branch {
            id: fincrm_domain::BranchId::parse(&r.branch_id)?,
            name: r.name,
            parent: opt(r.parent_id.as_deref(), fincrm_domain::BranchId::parse)?,
            level: fincrm_domain::BranchLevel::parse(&r.level)?,
        })
    }
}

/// A stored relationship.
#[derive(Debug, sqlx::FromRow, serde::Deserialize)]
#[expect(
    missing_docs,
    reason = "fields mirror the columns documented in the migrations"
)]
pub struct RelationshipRow {
    pub from_customer_id: String,
    pub to_customer_id: String,
    pub kind: String,
    pub role: Option<String>,
}

impl TryFrom<RelationshipRow> for fincrm_domain::Relationship {
    type Error = StoreError;

    fn try_from(r: RelationshipRow) -> Result<Self, StoreError> {
        Ok(fincrm_domain::Relationship {
            from: CustomerId::parse(&r.from_customer_id)?,
            to: CustomerId::parse(&r.to_customer_id)?,
            kind: fincrm_domain::RelationshipKind::parse(&r.kind)?,
            role: r.role,
        })
    }
}
