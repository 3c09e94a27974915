//! A customer's holdings, transactions, interactions and consents (issue #3): read within the
//! caller's data scope (outside it, 404 like a missing customer), contacts logged and consents
//! recorded by the roles that serve customers, each change audited in the same transaction.
//!
//! [`may_use_for`] is the consent check every marketing use must pass (PIPL art. 13/14): no
//! record means no consent.

use crate::auth::{Principal, Scope};
use crate::customers::{
    Caller, CustomerError, HoldingView, InteractionView, PAGE_DEFAULT, PAGE_MAX, TransactionView,
    decode_cursor, encode_cursor, entry, find, invalid,
};
use chrono::{DateTime, Utc};
use fincrm_domain::{
    Channel, Consent, ConsentPurpose, CustomerId, Interaction, InteractionId, StaffRole,
};
use fincrm_store::{Store, TimeWindow, tables};
use serde::{Deserialize, Serialize};

/// Roles that change customers, log contacts and record consents (within their scope).
pub const WRITE_ROLES: &[StaffRole] = &[
    StaffRole::Admin,
    StaffRole::BranchManager,
    StaffRole::RelationshipManager,
    StaffRole::ServiceAgent,
];

/// Longest contact note, in characters.
pub const MAX_CONTENT_CHARS: usize = 2000;

/// A logged contact may be dated at most this far ahead of the server's clock (clock skew).
const FUTURE_SLACK: chrono::Duration = chrono::Duration::minutes(5);

/// The caller may change data of customers they can see.
pub(crate) fn require_write(principal: &Principal) -> Result<(), CustomerError> {
    if !WRITE_ROLES.contains(&principal.role) {
        return Err(CustomerError::Forbidden(
            "this role may not change customer data",
        ));
    }
    if !principal.allows(Scope::CustomersWrite) {
        return Err(CustomerError::Forbidden(
            "the token lacks the customers:write scope",
        ));
    }
    Ok(())
}

/// A time-ordered page query (`GET …/transactions`, `GET …/interactions`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimePageParams {
    /// Not before this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Before this instant (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// From `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// A page of transactions, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TransactionPage {
    /// The transactions.
    pub items: Vec<TransactionView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A page of interactions, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InteractionPage {
    /// The interactions.
    pub items: Vec<InteractionView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn window(params: &TimePageParams) -> Result<(TimeWindow, usize), CustomerError> {
    let limit = params.limit.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 100"));
    }
    if let (Some(from), Some(to)) = (params.from, params.to)
        && from >= to
    {
        return Err(invalid("to", "must be after from"));
    }
    let before = params
        .cursor
        .as_deref()
        .map(|c| {
            let raw = decode_cursor(c)?;
            let (at, key) = raw
                .split_once('|')
                .ok_or_else(|| invalid("cursor", "is not a cursor this API returned"))?;
            let at = DateTime::parse_from_rfc3339(at)
                .map_err(|_| invalid("cursor", "is not a cursor this API returned"))?;
            Ok::<_, CustomerError>((at.with_timezone(&Utc), key.to_owned()))
        })
        .transpose()?;
    let n = usize::try_from(limit).unwrap_or(usize::MAX);
    Ok((
        TimeWindow {
            from: params.from,
            to: params.to,
            before,
            limit: limit + 1,
        },
        n,
    ))
}

/// Cuts a page fetched with one row extra to `n` rows; the cursor of the last row when there
/// is more.
fn paginate<T>(
    mut rows: Vec<T>,
    n: usize,
    key: impl Fn(&T) -> (DateTime<Utc>, String),
) -> (Vec<T>, Option<String>) {
    if rows.len() <= n {
        return (rows, None);
    }
    rows.truncate(n);
    let cursor = rows.last().map(|r| {
        let (at, id) = key(r);
        encode_cursor(&format!("{}|{id}", at.to_rfc3339()))
    });
    (rows, cursor)
}

/// The customer's holdings with balances, masked account numbers.
pub async fn holdings(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
) -> Result<Vec<HoldingView>, CustomerError> {
    let c = find(store, caller, id).await?;
    let holdings = store.holdings_of(&c.id).await?;
    Ok(holdings.iter().map(HoldingView::from).collect())
}

/// A page of the customer's transactions, newest first.
pub async fn transactions(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
    params: &TimePageParams,
) -> Result<TransactionPage, CustomerError> {
    let c = find(store, caller, id).await?;
    let (window, n) = window(params)?;
    let rows = store.transactions_page(&c.id, &window).await?;
    let (rows, next_cursor) = paginate(rows, n, |t| (t.at, t.id.as_str().to_owned()));
    Ok(TransactionPage {
        items: rows.iter().map(TransactionView::from).collect(),
        next_cursor,
    })
}

/// A page of the customer's interactions timeline, newest first.
pub async fn interactions(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
    params: &TimePageParams,
) -> Result<InteractionPage, CustomerError> {
    let c = find(store, caller, id).await?;
    let (window, n) = window(params)?;
    let rows = store.interactions_page(&c.id, &window).await?;
    let (rows, next_cursor) = paginate(rows, n, |i| (i.at, i.id.as_str().to_owned()));
    Ok(InteractionPage {
        items: rows.iter().map(InteractionView::from).collect(),
        next_cursor,
    })
}

/// A contact to log (`POST …/interactions`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInteraction {
    /// Over which channel.
    #[schema(schema_with = crate::schema::channel)]
    pub channel: String,
    /// What kind of contact (咨询, 营销, 投诉, 回访, 业务办理, …), 1–50 characters.
    #[schema(min_length = 1, max_length = 50)]
    pub kind: String,
    /// What was said or done, up to 2000 characters.
    #[schema(max_length = 2000)]
    pub content: Option<String>,
    /// When it happened (default now; not in the future).
    pub at: Option<DateTime<Utc>>,
}

fn text(
    field: &'static str,
    raw: &str,
    max: usize,
    multiline: bool,
) -> Result<String, CustomerError> {
    let t = raw.trim();
    if t.chars().count() > max {
        return Err(CustomerError::Invalid(fincrm_domain::ValidationError::new(
            field,
            format!("is longer than {max} characters"),
        )));
    }
    let bad = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\t'));
    if t.chars().any(bad) {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(t.to_owned())
}

/// Logs a contact with the customer; audited as `interaction.create` in the same transaction.
pub async fn log_interaction(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
    new: &NewInteraction,
) -> Result<InteractionView, CustomerError> {
    let c = find(store, caller, id).await?;
    require_write(caller.principal)?;
    let channel = Channel::parse(&new.channel).map_err(CustomerError::Invalid)?;
    let kind = text("kind", &new.kind, 50, false)?;
    if kind.is_empty() {
        return Err(invalid("kind", "is missing"));
    }
    let content = new
        .content
        .as_deref()
        .map(|c| text("content", c, MAX_CONTENT_CHARS, true))
        .transpose()?
        .filter(|c| !c.is_empty());
    let at = new.at.unwrap_or(caller.now);
    if at > caller.now + FUTURE_SLACK {
        return Err(invalid("at", "is in the future"));
    }
    let interaction = Interaction {
        id: InteractionId::parse(&new_key("I", caller.now)).map_err(CustomerError::Invalid)?,
        customer_id: c.id.clone(),
        at,
        channel,
        kind,
        user_id: Some(caller.principal.user_id.clone()),
        content,
    };
    let after = serde_json::json!({
        "interaction_id": interaction.id.as_str(),
        "channel": interaction.channel.as_str(),
        "kind": interaction.kind,
    })
    .to_string();
    store
        .write_audited(
            &[tables::interactions(std::slice::from_ref(&interaction))],
            &[entry(caller, "interaction.create", &c.id).after(after)],
        )
        .await?;
    Ok(InteractionView::from(&interaction))
}

/// A key for a record created through the API: `prefix`, the instant to the microsecond, and
/// random digits (two clerks saving in the same microsecond still get different keys).
pub(crate) fn new_key(prefix: &str, now: DateTime<Utc>) -> String {
    let mut bytes = [0u8; 4];
    // A failing system RNG leaves zeros: the timestamp alone still orders and mostly separates.
    let _ = getrandom::fill(&mut bytes);
    format!(
        "{prefix}{}{:08x}",
        now.format("%Y%m%d%H%M%S%6f"),
        u32::from_le_bytes(bytes)
    )
}

/// One consent record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsentView {
    /// The purpose.
    #[schema(schema_with = crate::schema::consent_purpose)]
    pub purpose: ConsentPurpose,
    /// The channel it covers; absent for every channel.
    #[schema(schema_with = crate::schema::channel_nullable)]
    pub channel: Option<Channel>,
    /// Granted or withdrawn.
    pub granted: bool,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

impl From<&Consent> for ConsentView {
    fn from(c: &Consent) -> Self {
        Self {
            purpose: c.purpose,
            channel: c.channel,
            granted: c.granted,
            at: c.at,
        }
    }
}

/// A customer's consents: the records in force and the whole history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Consents {
    /// The latest record per purpose and channel.
    pub current: Vec<ConsentView>,
    /// Every record, newest first.
    pub history: Vec<ConsentView>,
}

/// The latest record per purpose and channel of `records` (newest first).
pub(crate) fn in_force(records: &[Consent]) -> Vec<&Consent> {
    let mut seen = std::collections::HashSet::new();
    records
        .iter()
        .filter(|c| seen.insert((c.purpose, c.channel)))
        .collect()
}

/// The customer's consents.
pub async fn consents(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
) -> Result<Consents, CustomerError> {
    let c = find(store, caller, id).await?;
    let records = store.consents_of(&c.id).await?;
    Ok(Consents {
        current: in_force(&records)
            .into_iter()
            .map(ConsentView::from)
            .collect(),
        history: records.iter().map(ConsentView::from).collect(),
    })
}

/// A consent to record (`POST …/consents`): granted or withdrawn.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsent {
    /// The purpose.
    #[schema(schema_with = crate::schema::consent_purpose)]
    pub purpose: String,
    /// The channel it covers; absent for every channel.
    #[schema(schema_with = crate::schema::channel_nullable)]
    pub channel: Option<String>,
    /// `true` to grant, `false` to withdraw.
    pub granted: bool,
}

/// Records a consent given or withdrawn; audited as `consent.grant` or `consent.withdraw` in
/// the same transaction.
pub async fn record_consent(
    store: &dyn Store,
    caller: &Caller<'_>,
    id: &str,
    new: &NewConsent,
) -> Result<ConsentView, CustomerError> {
    let c = find(store, caller, id).await?;
    require_write(caller.principal)?;
    let consent = Consent {
        customer_id: c.id.clone(),
        purpose: ConsentPurpose::parse(&new.purpose).map_err(CustomerError::Invalid)?,
        channel: new
            .channel
            .as_deref()
            .map(Channel::parse)
            .transpose()
            .map_err(CustomerError::Invalid)?,
        granted: new.granted,
        at: caller.now,
    };
    let action = if consent.granted {
        "consent.grant"
    } else {
        "consent.withdraw"
    };
    let after = serde_json::json!({
        "purpose": consent.purpose.as_str(),
        "channel": consent.channel.map(Channel::as_str),
        "granted": consent.granted,
    })
    .to_string();
    store
        .write_audited(
            &[tables::consents(std::slice::from_ref(&consent))],
            &[entry(caller, action, &c.id).after(after)],
        )
        .await?;
    Ok(ConsentView::from(&consent))
}

/// Whether `customer` may be contacted for `purpose` over `channel` now: the newest record for
/// that purpose covering the channel (its own, or every channel) must be a grant. No record is
/// no consent. Marketing, campaigns and profiling call this before any use.
pub async fn may_use_for(
    store: &dyn Store,
    customer: &CustomerId,
    purpose: ConsentPurpose,
    channel: Channel,
) -> Result<bool, fincrm_store::StoreError> {
    let records = store.consents_of(customer).await?;
    Ok(records
        .iter()
        .find(|c| c.purpose == purpose && c.channel.is_none_or(|ch| ch == channel))
        .is_some_and(|c| c.granted))
}
