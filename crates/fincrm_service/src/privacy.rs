//! A customer's rights over their personal information (PIPL art. 45 and 47; JR/T 0171-2020):
//! a copy of it on request, and erasure where the law does not require the bank to keep it.
//!
//! The copy is the one place clear values leave in bulk, so it is audited (`customer.export`,
//! with the stated reason) before anything is returned, exactly like a reveal. Erasure
//! anonymises: the record, its accounts and transactions stay (anti-money-laundering law keeps
//! them for five years after the relationship ends), the identifying fields and the free text
//! of contacts go, and the audit trail keeps who erased what and why.

use crate::activity::ConsentView;
use crate::customers::{Caller, CustomerError, InteractionView, check_reason, entry, find};
use chrono::{DateTime, NaiveDate, Utc};
use fincrm_domain::{CustomerStatus, HoldingStatus, StaffRole};
use fincrm_store::{Store, TimeWindow};
use serde::{Deserialize, Serialize};

/// Roles that hand a customer a copy of their data (at the counter or by a formal request).
pub const EXPORT_ROLES: &[StaffRole] = &[
    StaffRole::Admin,
    StaffRole::BranchManager,
    StaffRole::RelationshipManager,
    StaffRole::ServiceAgent,
];

/// Roles that erase: a formal process, so administrators only.
pub const ERASE_ROLES: &[StaffRole] = &[StaffRole::Admin];

/// Transactions and contacts included in a copy, newest first.
pub const EXPORT_ROWS: i64 = 10_000;

/// The name an erased record keeps.
pub const ERASED_NAME: &str = "已注销客户";

/// Why the copy or the erasure is made (`POST …/export`, `POST …/erase`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivacyRequest {
    /// The customer's request and how it was verified, 5–500 characters (audited).
    #[schema(min_length = 5, max_length = 500)]
    pub reason: String,
}

/// One account in the copy, number in clear.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportedHolding {
    /// Account number.
    pub account: String,
    /// Product code.
    pub product_code: String,
    /// Balance, minor units.
    pub balance_minor: i64,
    /// Currency.
    pub currency: String,
    /// Status.
    pub status: String,
}

/// One transaction in the copy.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportedTransaction {
    /// Serial number.
    pub id: String,
    /// Account number.
    pub account: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Amount, minor units (positive).
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// `debit` or `credit`.
    pub direction: String,
    /// Channel.
    pub channel: Option<String>,
    /// Counterparty.
    pub counterparty: Option<String>,
    /// Memo.
    pub memo: Option<String>,
}

/// The personal-information copy: everything the bank holds on the person, in clear.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonalDataCopy {
    /// When the copy was made.
    pub generated_at: DateTime<Utc>,
    /// Customer number.
    pub id: String,
    /// Name.
    pub name: String,
    /// Name in Latin script.
    pub name_latin: Option<String>,
    /// Document type and number.
    pub id_type: Option<String>,
    /// Document number, in clear.
    pub id_number: Option<String>,
    /// Mobile, in clear.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// Date of birth.
    pub birth_date: Option<NaiveDate>,
    /// Occupation.
    pub occupation: Option<String>,
    /// Risk tolerance.
    pub risk_tolerance: Option<String>,
    /// Start of the relationship.
    pub opened_on: Option<NaiveDate>,
    /// Tags the bank keeps on the customer.
    pub tags: Vec<String>,
    /// Accounts.
    pub holdings: Vec<ExportedHolding>,
    /// Transactions, newest first (up to 10,000).
    pub transactions: Vec<ExportedTransaction>,
    /// Contacts, newest first (up to 10,000).
    pub interactions: Vec<InteractionView>,
    /// Consent records, newest first.
    pub consents: Vec<ConsentView>,
}

/// The customer's personal-information copy, audited as `customer.export` (with the reason)
/// before it is returned.
pub async fn export(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
    request: &PrivacyRequest,
) -> Result<PersonalDataCopy, CustomerError> {
    let c = find(store, caller, id).await?;
    if !EXPORT_ROLES.contains(&caller.principal.role) {
        return Err(CustomerError::Forbidden(
            "this role may not export personal information",
        ));
    }
    let reason = check_reason(&request.reason)?;
    let window = TimeWindow {
        limit: EXPORT_ROWS,
        ..TimeWindow::default()
    };
    let holdings = store.holdings_of(&c.id).await?;
    let transactions = store.transactions_page(&c.id, &window).await?;
    let interactions = store.interactions_page(&c.id, &window).await?;
    let consents = store.consents_of(&c.id).await?;
    let after = serde_json::json!({
        "holdings": holdings.len(),
        "transactions": transactions.len(),
        "interactions": interactions.len(),
    })
    .to_string();
    store
        .write_audited(
            &[],
            &[entry(caller, "customer.export", &c.id)
                .after(after)
                .reason(reason)],
        )
        .await?;
    let individual = c.individual.clone().unwrap_or_default();
    Ok(PersonalDataCopy {
        generated_at: caller.now,
        id: c.id.as_str().to_owned(),
        name: c.name.clone(),
        name_latin: c.name_latin.clone(),
        id_type: c.document.as_ref().map(|d| d.kind().to_owned()),
        id_number: c.document.as_ref().map(|d| d.expose().to_owned()),
        phone: c.phone.as_ref().map(|p| p.expose().to_owned()),
        email: c.email.clone(),
        address: c.address.clone(),
        birth_date: individual.birth_date,
        occupation: individual.occupation,
        risk_tolerance: c.risk_tolerance.map(|r| r.to_string()),
        opened_on: c.opened_on,
        tags: c.tags.clone(),
        holdings: holdings
            .iter()
            .map(|h| ExportedHolding {
                account: h.id.as_str().to_owned(),
                product_code: h.product_code.as_str().to_owned(),
                balance_minor: h.balance.minor,
                currency: h.balance.currency.to_string(),
                status: h.status.as_str().to_owned(),
            })
            .collect(),
        transactions: transactions
            .iter()
            .map(|t| ExportedTransaction {
                id: t.id.as_str().to_owned(),
                account: t.holding_id.as_str().to_owned(),
                at: t.at,
                amount_minor: t.amount.minor,
                currency: t.amount.currency.to_string(),
                direction: t.direction.as_str().to_owned(),
                channel: t.channel.clone(),
                counterparty: t.counterparty.clone(),
                memo: t.memo.clone(),
            })
            .collect(),
        interactions: interactions.iter().map(InteractionView::from).collect(),
        consents: consents.iter().map(ConsentView::from).collect(),
    })
}

/// Erases the customer's personal information (administrators, with the request as reason):
/// refused while an account is open with money on it (close the accounts first). Audited as
/// `customer.erase` with the masked record before; the record is `closed` afterwards.
pub async fn erase(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
    request: &PrivacyRequest,
) -> Result<crate::customers::CustomerView, CustomerError> {
    let before = find(store, caller, id).await?;
    if !ERASE_ROLES.contains(&caller.principal.role) {
        return Err(CustomerError::Forbidden(
            "only an administrator may erase personal information",
        ));
    }
    if !caller
        .principal
        .allows(fincrm_domain::auth::Scope::CustomersWrite)
    {
        return Err(CustomerError::Forbidden(
            "the token lacks the customers:write scope",
        ));
    }
    let reason = check_reason(&request.reason)?;
    let holdings = store.holdings_of(&before.id).await?;
    if holdings
        .iter()
        .any(|h| h.status == HoldingStatus::Active && h.balance.minor != 0)
    {
        return Err(CustomerError::Conflict(
            "the customer has open accounts with a balance; close them before erasure",
        ));
    }
    let mut after = before.clone();
    ERASED_NAME.clone_into(&mut after.name);
    after.name_latin = None;
    after.document = None;
    after.phone = None;
    after.email = None;
    after.address = None;
    after.tags = Vec::new();
    after.status = CustomerStatus::Closed;
    if let Some(profile) = after.individual.as_mut() {
        *profile = fincrm_domain::IndividualProfile::default();
    }
    let masked =
        |c| serde_json::to_string(&crate::customers::CustomerView::masked(c)).unwrap_or_default();
    store
        .erase_customer(
            &after,
            &[entry(caller, "customer.erase", &after.id)
                .before(masked(&before))
                .after(masked(&after))
                .reason(reason)],
        )
        .await?;
    Ok(crate::customers::CustomerView::masked(&after))
}
