//! Customer reads for the API (issue #3): data scope, default masking, audited views and
//! reveals.
//!
//! # Data scope
//! Every read goes through [`Store::customer_in_scope`] with the scope of the caller's role
//! ([`ROLE_SCOPES`], documented in `docs/PERMISSIONS.md`): the store applies it in the query,
//! and a customer outside the scope is reported as [`CustomerError::NotFound`], exactly like
//! one that does not exist (never "forbidden", which would tell that it exists).
//!
//! # Masking and reveal
//! Views carry personal information masked (`fincrm_domain::masking`, SECURITY.md §2.2); the
//! clear value of one field is returned only by [`reveal`], to roles in [`REVEAL_ROLES`], with
//! a stated purpose, after the `customer.reveal` audit record is stored. Every view is audited
//! as `customer.view` before the data is returned.

use crate::auth::{Principal, Scope};
use chrono::{DateTime, Utc};
use fincrm_domain::masking::{mask_account, mask_address, mask_email, mask_id_number, mask_phone};
use fincrm_domain::{Customer, CustomerId, Holding, Interaction, StaffRole, Transaction};
use fincrm_store::analytics::ScoreRow;
use fincrm_store::{
    AuditStore, Customer360, CustomerScope, KeyMatch, NewAuditEntry, PiKey, Store, StoreError,
    View360Limits,
};
use serde::{Deserialize, Serialize};

/// Latest transactions and interactions in the 360 view.
pub const VIEW_360_LATEST: i64 = 20;

/// Score runs shown in the 360 view.
pub const VIEW_360_SCORES: i64 = 20;

/// How far a role sees customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLevel {
    /// Every customer.
    Global,
    /// Customers of the user's branch and every branch below it.
    BranchTree,
    /// The user's book: primary RM or on the coverage team.
    Book,
}

/// The data scope of each role: the one table the code and `docs/PERMISSIONS.md` share.
pub const ROLE_SCOPES: &[(StaffRole, AccessLevel)] = &[
    (StaffRole::Admin, AccessLevel::Global),
    (StaffRole::HeadOfficeAnalyst, AccessLevel::Global),
    (StaffRole::RiskOfficer, AccessLevel::Global),
    (StaffRole::Auditor, AccessLevel::Global),
    (StaffRole::Marketing, AccessLevel::Global),
    (StaffRole::BranchManager, AccessLevel::BranchTree),
    (StaffRole::RelationshipManager, AccessLevel::Book),
    (StaffRole::ServiceAgent, AccessLevel::Book),
];

/// Roles that may reveal a masked field (within their scope, with a stated purpose).
pub const REVEAL_ROLES: &[StaffRole] = &[
    StaffRole::Admin,
    StaffRole::Auditor,
    StaffRole::RelationshipManager,
    StaffRole::BranchManager,
    StaffRole::ServiceAgent,
];

/// Length bounds of a stated purpose (reveal, copy, erasure, merge), in characters: the text as
/// sent must fit (what the OpenAPI document states), and so must the text without its
/// surrounding blanks (five spaces are no reason).
pub const REASON_CHARS: std::ops::RangeInclusive<usize> = 5..=500;

/// `r`'s error under the request's own field name (`rm`, not the domain type's `user_id`).
pub(crate) fn as_field<T>(
    field: &'static str,
    r: Result<T, fincrm_domain::ValidationError>,
) -> Result<T, CustomerError> {
    r.map_err(|mut e| {
        e.field = field.into();
        CustomerError::Invalid(e)
    })
}

/// The stated purpose `raw`, trimmed, if it is one ([`REASON_CHARS`], no control characters).
pub(crate) fn check_reason(raw: &str) -> Result<&str, CustomerError> {
    let trimmed = raw.trim();
    let fits = |s: &str| REASON_CHARS.contains(&s.chars().count());
    if !fits(raw) || !fits(trimmed) || raw.chars().any(char::is_control) {
        return Err(invalid(
            "reason",
            "state the purpose in 5–500 characters without control characters",
        ));
    }
    Ok(trimmed)
}

/// Why a customer call failed.
#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    /// No such customer, or outside the caller's scope (deliberately indistinguishable).
    #[error("customer not found")]
    NotFound,
    /// The role (or the token's scopes) does not allow the action.
    #[error("{0}")]
    Forbidden(&'static str),
    /// An invalid input, naming the field.
    #[error("{0}")]
    Invalid(fincrm_domain::ValidationError),
    /// The change conflicts with what is stored (a number or document already in use).
    #[error("{0}")]
    Conflict(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outcome of a [`Store::create_audited`]: a key stored meanwhile (a create racing this
/// one) is the same `conflict` the check beforehand reports.
pub(crate) fn created(
    written: Result<u64, StoreError>,
    conflict: &'static str,
) -> Result<(), CustomerError> {
    match written {
        Ok(_) => Ok(()),
        Err(StoreError::Conflict { .. }) => Err(CustomerError::Conflict(conflict)),
        Err(e) => Err(e.into()),
    }
}

/// Who asks, from where, and when.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The authenticated principal.
    pub principal: &'a Principal,
    /// The client's address, for the audit trail.
    pub client_addr: Option<&'a str>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// The scope of `principal`'s role (`None` for a role missing from [`ROLE_SCOPES`]: sees
/// nothing).
pub fn scope_of(principal: &Principal) -> Option<CustomerScope> {
    let level = ROLE_SCOPES
        .iter()
        .find(|(role, _)| *role == principal.role)
        .map(|(_, level)| *level)?;
    Some(match level {
        AccessLevel::Global => CustomerScope::All,
        AccessLevel::BranchTree => CustomerScope::Branches(principal.branch_id.as_str().to_owned()),
        AccessLevel::Book => CustomerScope::Book(principal.user_id.as_str().to_owned()),
    })
}

/// A customer with personal information masked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerView {
    /// Customer number.
    pub id: String,
    /// `individual` or `corporate`.
    pub kind: String,
    /// Name (shown on the record).
    pub name: String,
    /// Name in Latin script.
    pub name_latin: Option<String>,
    /// Document type (`resident_id`, `passport`, `uscc`).
    pub id_type: Option<&'static str>,
    /// Document number, last 4 only.
    pub id_number: Option<String>,
    /// Mobile, first 3 and last 4.
    pub phone: Option<String>,
    /// E-mail, first character and domain.
    pub email: Option<String>,
    /// Address, first 6 characters.
    pub address: Option<String>,
    /// Home branch.
    pub branch_id: Option<String>,
    /// Primary RM.
    pub primary_rm: Option<String>,
    /// Risk tolerance C1–C5.
    #[schema(schema_with = crate::schema::risk_tolerance_nullable)]
    pub risk_tolerance: Option<fincrm_domain::RiskTolerance>,
    /// Start of the relationship.
    pub opened_on: Option<chrono::NaiveDate>,
    /// Status.
    #[schema(schema_with = crate::schema::customer_status)]
    pub status: fincrm_domain::CustomerStatus,
    /// Tags.
    pub tags: Vec<String>,
    /// The record this one was merged into, if it was.
    pub merged_into: Option<String>,
}

impl CustomerView {
    /// The masked view of `c`.
    pub fn masked(c: &Customer) -> Self {
        Self {
            id: c.id.as_str().to_owned(),
            kind: c.kind.as_str().to_owned(),
            name: c.name.clone(),
            name_latin: c.name_latin.clone(),
            id_type: c
                .document
                .as_ref()
                .map(fincrm_domain::IdentityDocument::kind),
            id_number: c.document.as_ref().map(|d| mask_id_number(d.expose())),
            phone: c.phone.as_ref().map(|p| mask_phone(p.expose())),
            email: c.email.as_deref().map(mask_email),
            address: c.address.as_deref().map(mask_address),
            branch_id: c.branch_id.as_ref().map(|b| b.as_str().to_owned()),
            primary_rm: c.primary_rm.as_ref().map(|u| u.as_str().to_owned()),
            risk_tolerance: c.risk_tolerance,
            opened_on: c.opened_on,
            status: c.status,
            tags: c.tags.clone(),
            merged_into: c.merged_into.as_ref().map(|m| m.as_str().to_owned()),
        }
    }
}

/// A holding with its account number masked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HoldingView {
    /// Account number, last 4 only.
    pub account: String,
    /// Product code.
    pub product_code: String,
    /// Product type.
    #[schema(schema_with = crate::schema::product_type)]
    pub product_type: fincrm_domain::ProductType,
    /// Balance.
    #[schema(schema_with = crate::schema::money)]
    pub balance: fincrm_domain::Money,
    /// Credit limit.
    #[schema(schema_with = crate::schema::money_nullable)]
    pub limit: Option<fincrm_domain::Money>,
    /// Opened.
    pub opened_on: Option<chrono::NaiveDate>,
    /// Matures.
    pub matures_on: Option<chrono::NaiveDate>,
    /// Status.
    #[schema(schema_with = crate::schema::holding_status)]
    pub status: fincrm_domain::HoldingStatus,
}

impl From<&Holding> for HoldingView {
    fn from(h: &Holding) -> Self {
        Self {
            account: mask_account(h.id.as_str()),
            product_code: h.product_code.as_str().to_owned(),
            product_type: h.product_type,
            balance: h.balance,
            limit: h.limit,
            opened_on: h.opened_on,
            matures_on: h.matures_on,
            status: h.status,
        }
    }
}

/// A transaction with its account number masked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransactionView {
    /// Serial number.
    pub id: String,
    /// Account number, last 4 only.
    pub account: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Amount (positive).
    #[schema(schema_with = crate::schema::money)]
    pub amount: fincrm_domain::Money,
    /// Debit or credit.
    #[schema(schema_with = crate::schema::direction)]
    pub direction: fincrm_domain::Direction,
    /// Channel.
    pub channel: Option<String>,
    /// Type.
    pub kind: Option<String>,
    /// Memo.
    pub memo: Option<String>,
}

impl From<&Transaction> for TransactionView {
    fn from(t: &Transaction) -> Self {
        Self {
            id: t.id.as_str().to_owned(),
            account: mask_account(t.holding_id.as_str()),
            at: t.at,
            amount: t.amount,
            direction: t.direction,
            channel: t.channel.clone(),
            kind: t.kind.clone(),
            memo: t.memo.clone(),
        }
    }
}

/// One score run of the customer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScoreView {
    /// The day scored.
    pub as_of: chrono::NaiveDate,
    /// Value tier.
    pub tier: String,
    /// Lifecycle stage.
    pub stage: String,
    /// RFM recency, frequency and monetary quintiles.
    pub rfm_r: Option<i64>,
    /// See `rfm_r`.
    pub rfm_f: Option<i64>,
    /// See `rfm_r`.
    pub rfm_m: Option<i64>,
    /// RFM segment.
    pub rfm_segment: Option<String>,
    /// Customer lifetime value, minor units.
    pub clv_minor: Option<i64>,
    /// Probability the customer is still active.
    pub p_alive: Option<f64>,
}

impl From<&ScoreRow> for ScoreView {
    fn from(s: &ScoreRow) -> Self {
        Self {
            as_of: s.as_of,
            tier: s.tier.clone(),
            stage: s.stage.clone(),
            rfm_r: s.rfm_r,
            rfm_f: s.rfm_f,
            rfm_m: s.rfm_m,
            rfm_segment: s.rfm_segment.clone(),
            clv_minor: s.clv_minor,
            p_alive: s.p_alive,
        }
    }
}

/// One contact with the customer (the same fields as [`Interaction`]).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InteractionView {
    /// Key.
    pub id: String,
    /// The customer.
    pub customer_id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Over which channel.
    #[schema(schema_with = crate::schema::channel)]
    pub channel: fincrm_domain::Channel,
    /// What kind of contact.
    pub kind: String,
    /// The member of staff involved, if any.
    pub user_id: Option<String>,
    /// What was said or done.
    pub content: Option<String>,
}

impl From<&Interaction> for InteractionView {
    fn from(i: &Interaction) -> Self {
        Self {
            id: i.id.as_str().to_owned(),
            customer_id: i.customer_id.as_str().to_owned(),
            at: i.at,
            channel: i.channel,
            kind: i.kind.clone(),
            user_id: i.user_id.as_ref().map(|u| u.as_str().to_owned()),
            content: i.content.clone(),
        }
    }
}

/// The customer 360: masked profile, holdings, latest activity and score history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct View360 {
    /// The masked profile.
    pub customer: CustomerView,
    /// Holdings, by account number.
    pub holdings: Vec<HoldingView>,
    /// Latest transactions, newest first.
    pub transactions: Vec<TransactionView>,
    /// Latest interactions, newest first.
    pub interactions: Vec<InteractionView>,
    /// Score history, newest first: tier, lifecycle stage, RFM, CLV, P(alive) of each run.
    pub scores: Vec<ScoreView>,
    /// Relationships, either side (household, group, guarantor, …).
    pub relationships: Vec<RelationshipView>,
    /// Consents in force (latest per purpose and channel).
    pub consents: Vec<crate::activity::ConsentView>,
    /// Open service requests, tasks and risk alerts: empty until the service, marketing and
    /// risk modules (later issues) raise them; the field is part of the contract now so
    /// clients need not change.
    pub open_items: Vec<OpenItem>,
}

/// A relationship of the customer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RelationshipView {
    /// The other party's customer number.
    pub other: String,
    /// `household`, `group`, `guarantor`, … .
    pub kind: String,
    /// Role detail, e.g. 配偶.
    pub role: Option<String>,
    /// Whether this customer is the relationship's first party.
    pub outgoing: bool,
}

/// An open task, service request or alert on the customer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OpenItem {
    /// `task`, `service_request` or `alert`.
    pub kind: String,
    /// What it is.
    pub title: String,
    /// When it is due, if it has a deadline.
    pub due_at: Option<DateTime<Utc>>,
}

/// A field [`reveal`] can unmask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevealField {
    /// The identity document number.
    IdNumber,
    /// The mobile number.
    Phone,
    /// The address.
    Address,
    /// The e-mail address.
    Email,
}

impl RevealField {
    /// The field's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdNumber => "id_number",
            Self::Phone => "phone",
            Self::Address => "address",
            Self::Email => "email",
        }
    }
}

/// A revealed value (`None` when the customer has none).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Revealed {
    /// Which field.
    pub field: RevealField,
    /// The clear value.
    pub value: Option<String>,
}

pub(crate) fn require_read(principal: &Principal) -> Result<CustomerScope, CustomerError> {
    if principal.password_pending() {
        return Err(CustomerError::Forbidden(
            "the password must be changed before anything else",
        ));
    }
    if !principal.allows(Scope::CustomersRead) {
        return Err(CustomerError::Forbidden(
            "the token lacks the customers:read scope",
        ));
    }
    scope_of(principal).ok_or(CustomerError::NotFound)
}

/// The caller's read scope and the customer id asked for; an id that cannot exist reads like a
/// missing customer.
fn scope_and_id(
    caller: &Caller<'_>,
    id: &str,
) -> Result<(CustomerScope, CustomerId), CustomerError> {
    let scope = require_read(caller.principal)?;
    let id = CustomerId::parse(id).map_err(|_| CustomerError::NotFound)?;
    Ok((scope, id))
}

pub(crate) async fn find(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
) -> Result<Customer, CustomerError> {
    let (scope, id) = scope_and_id(caller, id)?;
    store
        .customer_in_scope(&scope, &id)
        .await?
        .ok_or(CustomerError::NotFound)
}

pub(crate) fn entry(caller: &Caller<'_>, action: &str, customer: &CustomerId) -> NewAuditEntry {
    audit_entry(caller, action, "customer", customer.as_str()).customer(customer.as_str())
}

/// An audit entry of `caller`'s `action` on `entity` `key`, with the caller's address when it
/// is fit for the trail.
pub(crate) fn audit_entry(
    caller: &Caller<'_>,
    action: &str,
    entity: &str,
    key: &str,
) -> NewAuditEntry {
    let e = NewAuditEntry::new(
        caller.now,
        caller.principal.user_id.as_str(),
        action,
        entity,
        key,
    );
    match clean_addr(caller.client_addr) {
        Some(addr) => e.client_addr(addr),
        None => e,
    }
}

/// The client address if it is fit for the audit trail.
pub(crate) fn clean_addr(addr: Option<&str>) -> Option<&str> {
    addr.filter(|a| !a.is_empty() && a.len() <= 100 && !a.chars().any(char::is_control))
}

/// One customer, masked; audited as `customer.view`.
pub async fn get(
    store: &dyn Store,
    audit: &dyn AuditStore,
    caller: &Caller<'_>,
    id: &str,
) -> Result<CustomerView, CustomerError> {
    let c = find(store, caller, id).await?;
    audit
        .append(&[entry(caller, "customer.view", &c.id)])
        .await?;
    Ok(CustomerView::masked(&c))
}

/// The customer 360, masked; audited as `customer.view`.
pub async fn view_360(
    store: &dyn Store,
    audit: &dyn AuditStore,
    caller: &Caller<'_>,
    id: &str,
) -> Result<View360, CustomerError> {
    let (scope, id) = scope_and_id(caller, id)?;
    let limits = View360Limits {
        latest: VIEW_360_LATEST,
        scores: VIEW_360_SCORES,
    };
    let Customer360 {
        customer: c,
        holdings,
        transactions,
        interactions,
        scores,
        relationships,
        consents,
    } = store
        .customer_360(&scope, &id, limits)
        .await?
        .ok_or(CustomerError::NotFound)?;
    audit
        .append(&[entry(caller, "customer.view", &c.id).after(r#"{"view":"360"}"#)])
        .await?;
    Ok(View360 {
        customer: CustomerView::masked(&c),
        holdings: holdings.iter().map(HoldingView::from).collect(),
        transactions: transactions.iter().map(TransactionView::from).collect(),
        interactions: interactions.iter().map(InteractionView::from).collect(),
        scores: scores.iter().map(ScoreView::from).collect(),
        relationships: relationships
            .iter()
            .map(|r| {
                let outgoing = r.from == c.id;
                RelationshipView {
                    other: if outgoing { &r.to } else { &r.from }.as_str().to_owned(),
                    kind: r.kind.as_str().to_owned(),
                    role: r.role.clone(),
                    outgoing,
                }
            })
            .collect(),
        consents: crate::activity::in_force(&consents)
            .into_iter()
            .map(crate::activity::ConsentView::from)
            .collect(),
        open_items: Vec::new(),
    })
}

/// The clear value of one field, for a role in [`REVEAL_ROLES`] within its scope, with a
/// stated purpose of 5–500 characters. The `customer.reveal` audit record (with the reason) is
/// stored before the value is returned; if it cannot be stored, nothing is revealed.
pub async fn reveal(
    store: &dyn Store,
    audit: &dyn AuditStore,
    caller: &Caller<'_>,
    id: &str,
    field: RevealField,
    reason: &str,
) -> Result<Revealed, CustomerError> {
    let c = find(store, caller, id).await?;
    if !REVEAL_ROLES.contains(&caller.principal.role) {
        return Err(CustomerError::Forbidden(
            "this role may not reveal personal information",
        ));
    }
    let reason = check_reason(reason)?;
    let value = match field {
        RevealField::IdNumber => c.document.as_ref().map(|d| d.expose().to_owned()),
        RevealField::Phone => c.phone.as_ref().map(|p| p.expose().to_owned()),
        RevealField::Address => c.address.clone(),
        RevealField::Email => c.email.clone(),
    };
    let after = serde_json::json!({ "field": field.as_str() }).to_string();
    audit
        .append(&[entry(caller, "customer.reveal", &c.id)
            .after(after)
            .reason(reason)])
        .await?;
    Ok(Revealed { field, value })
}

/// Default and largest page of [`search`].
pub const PAGE_DEFAULT: i64 = 20;
/// See [`PAGE_DEFAULT`].
pub const PAGE_MAX: i64 = 100;

/// What a customer search or list asks (`GET /api/v1/customers`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// A customer number, an ID document number, a mobile number, or a name: Chinese
    /// characters (any run of the name), full pinyin (`wangxiaoming`), initials (`wxm`),
    /// surname or given-name pinyin, or Latin words. Without it, the customers in scope are
    /// listed.
    #[param(max_length = 100)]
    pub q: Option<String>,
    /// Only this home branch.
    pub branch_id: Option<String>,
    /// Only customers of this primary relationship manager.
    pub rm: Option<String>,
    /// `individual` or `corporate`.
    #[param(schema_with = crate::schema::customer_kind)]
    pub kind: Option<String>,
    /// Only this status.
    #[param(schema_with = crate::schema::customer_status)]
    pub status: Option<String>,
    /// Only this value tier (as named by the tier rules, e.g. `白金`) in the latest analytics
    /// run.
    #[param(max_length = 50)]
    pub tier: Option<String>,
    /// Only this lifecycle stage in the latest analytics run.
    #[param(schema_with = crate::schema::lifecycle_stage)]
    pub stage: Option<String>,
    /// From `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// One page of customers, masked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomerPage {
    /// The customers, in customer-number order.
    pub items: Vec<CustomerView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

pub(crate) fn invalid(field: &'static str, message: &'static str) -> CustomerError {
    CustomerError::Invalid(fincrm_domain::ValidationError::new(field, message))
}

pub(crate) fn encode_cursor(after: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(after)
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<String, CustomerError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| !s.is_empty() && !s.chars().any(char::is_control))
        .ok_or_else(|| invalid("cursor", "is not a cursor this API returned"))
}

/// Which personal-information field a query is an exact lookup on: a mobile number, a resident
/// ID or credit code, or a passport number — which needs letters and digits both, so that a
/// name in pinyin (`guodonglan`) or a number of another kind is not taken for one.
fn pi_lookup(q: &str) -> Option<PiKey<'_>> {
    use fincrm_domain::{ResidentId, UnifiedSocialCreditCode};
    let passport_like = q.bytes().any(|b| b.is_ascii_digit())
        && q.bytes().any(|b| b.is_ascii_alphabetic())
        && fincrm_domain::PassportNumber::parse(q).is_ok();
    if fincrm_store::pii::normalise_phone(q).is_some() {
        Some(PiKey::Phone(q))
    } else if ResidentId::parse(q).is_ok()
        || UnifiedSocialCreditCode::parse(q).is_ok()
        || passport_like
    {
        Some(PiKey::IdNumber(q))
    } else {
        None
    }
}

/// Customers in the caller's scope matching `params`, masked, a page at a time.
///
/// `q` is tried first as an exact key — customer number, ID document number, mobile number
/// (through the blind index when personal information is encrypted) — and then as a name
/// ([`fincrm_store::search`]). A lookup by ID number or phone is audited as `customer.search`
/// (the kind of key and the customers found, never the value typed), found or not: fishing
/// for whether someone banks here is itself worth a record.
pub async fn search(
    store: &dyn Store,
    audit: &dyn AuditStore,
    caller: &Caller<'_>,
    params: &SearchParams,
) -> Result<CustomerPage, CustomerError> {
    let scope = require_read(caller.principal)?;
    let limit = params.limit.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 100"));
    }
    let mut query = fincrm_store::CustomerQuery {
        limit: limit + 1,
        ..fincrm_store::CustomerQuery::default()
    };
    if let Some(kind) = &params.kind {
        query.kind = Some(
            fincrm_domain::CustomerKind::parse(kind)
                .map_err(CustomerError::Invalid)?
                .as_str()
                .to_owned(),
        );
    }
    if let Some(status) = &params.status {
        query.status = Some(
            fincrm_domain::CustomerStatus::parse(status)
                .map_err(CustomerError::Invalid)?
                .as_str()
                .to_owned(),
        );
    }
    if let Some(branch) = &params.branch_id {
        let branch = as_field("branch_id", fincrm_domain::BranchId::parse(branch))?;
        query.branch_id = Some(branch.as_str().to_owned());
    }
    if let Some(rm) = &params.rm {
        let rm = as_field("rm", fincrm_domain::UserId::parse(rm))?;
        query.primary_rm = Some(rm.as_str().to_owned());
    }
    if let Some(tier) = &params.tier {
        let tier = tier.trim();
        if tier.is_empty() || tier.chars().count() > 50 || tier.chars().any(char::is_control) {
            return Err(invalid("tier", "is not a tier name"));
        }
        query.tier = Some(tier.to_owned());
    }
    if let Some(stage) = &params.stage {
        if !crate::schema::LIFECYCLE_STAGES.contains(&stage.as_str()) {
            return Err(invalid("stage", "is not a lifecycle stage"));
        }
        query.stage = Some(stage.clone());
    }
    if let Some(cursor) = &params.cursor {
        query.after = Some(decode_cursor(cursor)?);
    }
    let q = params.q.as_deref().map(str::trim).unwrap_or_default();
    if q.chars().count() > fincrm_store::search::MAX_QUERY_CHARS {
        return Err(invalid("q", "is longer than 100 characters"));
    }
    if q.chars().any(char::is_control) {
        return Err(invalid("q", "contains control characters"));
    }
    if !q.is_empty() {
        if let Some(exact) = exact_matches(store, audit, caller, &scope, q).await? {
            return Ok(CustomerPage {
                items: exact.iter().map(CustomerView::masked).collect(),
                next_cursor: None,
            });
        }
        query.terms = fincrm_store::search::query_terms(q);
        if query.terms.is_empty() {
            return Err(invalid(
                "q",
                "has nothing to search for: give a name, a customer number, an ID number or a phone",
            ));
        }
    }
    let mut found = store.find_customers(&scope, &query).await?;
    let next_cursor = if found.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        found.last().map(|c| encode_cursor(c.id.as_str()))
    } else {
        None
    };
    Ok(CustomerPage {
        items: found.iter().map(CustomerView::masked).collect(),
        next_cursor,
    })
}

/// The customers `q` names exactly (customer number, ID number, phone) within `scope`, or
/// `None` when `q` is no such key and should be searched as a name.
async fn exact_matches(
    store: &dyn Store,
    audit: &dyn AuditStore,
    caller: &Caller<'_>,
    scope: &CustomerScope,
    q: &str,
) -> Result<Option<Vec<Customer>>, CustomerError> {
    let number = CustomerId::parse(q).ok();
    let pi = pi_lookup(q);
    let (by, mut found) = match (
        store.customers_by_key(scope, number.as_ref(), pi).await?,
        pi,
    ) {
        (KeyMatch::Number(c), _) => return Ok(Some(vec![*c])),
        (KeyMatch::Pi(found), Some(PiKey::Phone(_))) => ("phone", found),
        (KeyMatch::Pi(found), Some(PiKey::IdNumber(_))) => ("id_number", found),
        (KeyMatch::Pi(_) | KeyMatch::Neither, None) | (KeyMatch::Neither, Some(_)) => {
            return Ok(None);
        }
    };
    found.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let after = serde_json::json!({ "by": by, "found": found.len() }).to_string();
    let entries: Vec<NewAuditEntry> = if found.is_empty() {
        let mut e = NewAuditEntry::new(
            caller.now,
            caller.principal.user_id.as_str(),
            "customer.search",
            "customer",
            "-",
        )
        .after(after);
        if let Some(addr) = clean_addr(caller.client_addr) {
            e = e.client_addr(addr);
        }
        vec![e]
    } else {
        found
            .iter()
            .map(|c| entry(caller, "customer.search", &c.id).after(after.clone()))
            .collect()
    };
    audit.append(&entries).await?;
    Ok(Some(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_exactly_one_scope() {
        for role in StaffRole::ALL {
            let n = ROLE_SCOPES.iter().filter(|(r, _)| r == role).count();
            assert_eq!(n, 1, "{role:?}");
        }
        assert_eq!(ROLE_SCOPES.len(), StaffRole::ALL.len());
    }
}
